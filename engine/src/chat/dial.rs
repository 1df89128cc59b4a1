//! `dialWithLazyValidation` (spec 3 §2.2 step 7): dial the bound agent and,
//! if it is slow or fails fast, check whether a newer build replaced it.
//! Runs under the dial context (the caller arms the 30 s dial timeout).
//! A dial that loses a race is dropped, which cancels it and releases any
//! connection it got.

use futures::future::{self, Either};
use futures::FutureExt;
use uuid::Uuid;

use super::env::ChatEnv;
use super::errors::ConnError;
use super::recovery::latest_workspace_agent;
use crate::ctx::{Ctx, CtxError};
use crate::ports::{AgentConn, AgentDialer, DialError, LocalBoxFuture};

type DialFuture = LocalBoxFuture<'static, Result<Box<dyn AgentConn>, DialError>>;

/// `DialResult`: the connection, the agent it reaches, and whether that is
/// not the agent the caller asked for.
pub(crate) struct DialResult {
    pub conn: Box<dyn AgentConn>,
    pub agent_id: Uuid,
    pub was_switched: bool,
}

/// What the first 5 s of the original dial produced.
enum Early {
    Done(Result<Box<dyn AgentConn>, DialError>),
    ValidationDue,
}

/// Dials `agent_id`; validates against the latest chat agent after a fast
/// failure or once the validation delay passes with the dial pending.
pub(crate) async fn dial_with_lazy_validation(
    env: &ChatEnv,
    dialer: &dyn AgentDialer,
    ctx: &Ctx,
    agent_id: Uuid,
    workspace_id: Uuid,
) -> Result<DialResult, ConnError> {
    let clock = env.clock();
    let mut original = start_dial(env, dialer, ctx, agent_id)?;
    let delay = clock.sleep(env.settings.dial_validation_delay);
    let early = ctx
        .race(clock, async {
            match future::select(&mut original, delay).await {
                Either::Left((result, _)) => Early::Done(result),
                Either::Right(_) => Early::ValidationDue,
            }
        })
        .await;
    match early {
        Err(err) => finished_or(original, agent_id, false, err),
        Ok(Early::Done(Ok(conn))) => Ok(connected(conn, agent_id, false)),
        Ok(Early::Done(Err(_))) => {
            after_fast_failure(env, dialer, ctx, agent_id, workspace_id).await
        }
        Ok(Early::ValidationDue) => {
            after_validation_delay(env, dialer, ctx, original, agent_id, workspace_id).await
        }
    }
}

/// Starts a dial unless the context already ended.
fn start_dial(
    env: &ChatEnv,
    dialer: &dyn AgentDialer,
    ctx: &Ctx,
    agent_id: Uuid,
) -> Result<DialFuture, ConnError> {
    match ctx.err(env.clock()) {
        Some(err) => Err(ConnError::Ctx(err)),
        None => Ok(env.dial(dialer, agent_id)),
    }
}

fn connected(conn: Box<dyn AgentConn>, agent_id: Uuid, was_switched: bool) -> DialResult {
    DialResult {
        conn,
        agent_id,
        was_switched,
    }
}

/// The context ended: a dial that already finished successfully is used
/// anyway; otherwise it is dropped (canceled) and the context error returned.
fn finished_or(
    dial: DialFuture,
    agent_id: Uuid,
    was_switched: bool,
    err: CtxError,
) -> Result<DialResult, ConnError> {
    match dial.now_or_never() {
        Some(Ok(conn)) => Ok(connected(conn, agent_id, was_switched)),
        _ => Err(ConnError::Ctx(err)),
    }
}

/// A fast failure: validate once, then dial the latest agent once (the same
/// one again, or its replacement). Errors keep their text under the
/// `dial with lazy validation: ` prefix.
async fn after_fast_failure(
    env: &ChatEnv,
    dialer: &dyn AgentDialer,
    ctx: &Ctx,
    agent_id: Uuid,
    workspace_id: Uuid,
) -> Result<DialResult, ConnError> {
    let latest = latest_workspace_agent(env, workspace_id).map_err(ConnError::lazy)?;
    dial_once(env, dialer, ctx, latest.id, latest.id != agent_id).await
}

/// The dial is still pending after the delay: validate. A different latest
/// agent replaces it; otherwise (same agent, or the lookup failed) keep
/// waiting on the original dial.
async fn after_validation_delay(
    env: &ChatEnv,
    dialer: &dyn AgentDialer,
    ctx: &Ctx,
    mut original: DialFuture,
    agent_id: Uuid,
    workspace_id: Uuid,
) -> Result<DialResult, ConnError> {
    match latest_workspace_agent(env, workspace_id) {
        Ok(latest) if latest.id != agent_id => {
            // Cancel the original; a success that raced in is released.
            drop(original.now_or_never());
            return dial_once(env, dialer, ctx, latest.id, true).await;
        }
        Ok(_) => {}
        Err(err) => env.log(
            "debug",
            format!("dial validation failed, waiting on the original dial: {err}"),
        ),
    }
    match ctx.race(env.clock(), &mut original).await {
        Ok(Ok(conn)) => Ok(connected(conn, agent_id, false)),
        Ok(Err(err)) => Err(ConnError::Dial(err.0).lazy()),
        Err(err) => finished_or(original, agent_id, false, err),
    }
}

/// One dial raced against the context.
async fn dial_once(
    env: &ChatEnv,
    dialer: &dyn AgentDialer,
    ctx: &Ctx,
    agent_id: Uuid,
    was_switched: bool,
) -> Result<DialResult, ConnError> {
    let mut dial = start_dial(env, dialer, ctx, agent_id)?;
    match ctx.race(env.clock(), &mut dial).await {
        Ok(Ok(conn)) => Ok(connected(conn, agent_id, was_switched)),
        Ok(Err(err)) => Err(ConnError::Dial(err.0).lazy()),
        Err(err) => finished_or(dial, agent_id, was_switched, err),
    }
}
