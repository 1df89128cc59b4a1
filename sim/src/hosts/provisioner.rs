//! The provisioner daemon: asks coderd for jobs (a long poll: coderd answers
//! as soon as a job is posted, or "none" after a while), runs init → plan → quota
//! commit → apply with durations drawn from the seed, streams a log line per
//! stage, and completes the job. A quota commit over budget fails the job
//! with `INSUFFICIENT_QUOTA`; a provider error armed in the cloud fails it
//! with that text and no code (even when the text mentions quota).
//!
//! When a start build succeeds it pushes a start command for each agent slot
//! (external agents are only assigned: a user starts them); when a stop
//! build succeeds it pushes a crash of each slot.

use std::io;
use std::time::Duration;

use chatsim_engine::memory::INSUFFICIENT_QUOTA_MESSAGE;
use chatsim_engine::model::INSUFFICIENT_QUOTA;

use super::{connect_retrying, within, CODERD};
use crate::bounds::bound_exceeded;
use crate::control::{AgentAssignment, Cloud, ControlQueue, InfraCmd, SlotKey};
use crate::hosts::proto::{
    unexpected, FrameConn, ProvRequest, ProvResponse, WireAgent, WireJob, WireOutcome,
    PROVISIONER_PORT,
};
use crate::plan::Settings;
use crate::rng::SharedRng;
use crate::transport::time::Interval;
use crate::transport::{HostFactory, Net};

/// The least spacing of two acquires (each one waits on coderd until a job
/// is posted or its long poll ends).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Deadline of one request to coderd; past it the connection is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What the provisioner host is built from.
#[derive(Clone)]
pub struct ProvisionerCtx<N: Net> {
    /// The provisioner's network handle.
    pub net: N,
    /// Where it pushes agent-slot commands.
    pub control: ControlQueue,
    /// The cloud it provisions into (images, armed failures).
    pub cloud: Cloud,
    /// The stream its stage durations are drawn from.
    pub rng: SharedRng,
    /// The run's settings (stage durations).
    pub settings: Settings,
}

/// The provisioner's software (restartable: a bounce starts it afresh; the
/// job it was running is left for coderd's hang detector).
pub fn host<N: Net>(ctx: ProvisionerCtx<N>) -> HostFactory {
    Box::new(move || {
        let ctx = ctx.clone();
        Box::pin(async move {
            tokio::task::yield_now().await;
            let bounds = &ctx.settings.bounds;
            for _ in 0..bounds.provisioner_sessions {
                let stream = connect_retrying(
                    &ctx.net,
                    CODERD,
                    PROVISIONER_PORT,
                    RECONNECT_DELAY,
                    bounds.connect_attempts,
                )
                .await?;
                // A session ends on any I/O error or deadline; reconnect.
                let _ = session(&ctx, FrameConn::new(stream)).await;
                ctx.net.sleep(RECONNECT_DELAY).await;
            }
            Err(bound_exceeded("provisioner sessions", bounds.provisioner_sessions).into())
        })
    })
}

type Conn<N> = FrameConn<<N as Net>::Stream>;

async fn request<N: Net>(
    net: &N,
    conn: &mut Conn<N>,
    req: &ProvRequest,
) -> io::Result<ProvResponse> {
    within(net, REQUEST_TIMEOUT, async {
        conn.send(req).await?;
        conn.recv::<ProvResponse>()
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "coderd closed"))
    })
    .await
}

async fn session<N: Net>(ctx: &ProvisionerCtx<N>, mut conn: Conn<N>) -> io::Result<()> {
    let mut poll = ctx.net.interval(POLL_INTERVAL);
    loop {
        poll.tick().await;
        match request(&ctx.net, &mut conn, &ProvRequest::Acquire).await? {
            ProvResponse::Job(None) => {}
            ProvResponse::Job(Some(job)) => run_job(ctx, &mut conn, job).await?,
            other => return Err(unexpected(format!("{other:?}"))),
        }
    }
}

async fn log<N: Net>(
    net: &N,
    conn: &mut Conn<N>,
    job: &WireJob,
    stage: &str,
    line: &str,
) -> io::Result<()> {
    let req = ProvRequest::Log {
        job: job.job,
        stage: stage.to_string(),
        line: line.to_string(),
    };
    request(net, conn, &req).await.map(|_| ())
}

async fn run_job<N: Net>(
    ctx: &ProvisionerCtx<N>,
    conn: &mut Conn<N>,
    job: WireJob,
) -> io::Result<()> {
    let s = &ctx.settings;
    let (plan, apply) = if job.claimed_prebuild {
        let d = ctx
            .rng
            .duration(s.claim_duration.min.0, s.claim_duration.max.0);
        (d / 2, d / 2)
    } else {
        let plan = ctx
            .rng
            .duration(s.plan_duration.min.0, s.plan_duration.max.0);
        let apply = ctx
            .rng
            .duration(s.apply_duration.min.0, s.apply_duration.max.0);
        (plan, apply)
    };
    let init = if job.claimed_prebuild {
        "Claiming a prebuilt workspace: its resources exist."
    } else {
        "Initializing the backend..."
    };
    log(&ctx.net, conn, &job, "init", init).await?;
    ctx.net.sleep(plan).await;
    let plan_line = format!("Plan: {} to {}.", job.agents.len(), job.transition);
    log(&ctx.net, conn, &job, "plan", &plan_line).await?;
    if let Some(outcome) = commit_quota(&ctx.net, conn, &job).await? {
        return complete(ctx, conn, &job, outcome).await;
    }
    ctx.net.sleep(apply).await;
    if let Some(failure) = ctx.cloud.take_failure(job.workspace) {
        log(
            &ctx.net,
            conn,
            &job,
            "apply",
            &format!("Error: {}", failure.error),
        )
        .await?;
        let code = None;
        #[cfg(feature = "bugs")]
        let code = quota_from_text(&ctx.settings, &failure.error).or(code);
        let outcome = WireOutcome::Failed {
            error: failure.error,
            code,
        };
        return complete(ctx, conn, &job, outcome).await;
    }
    log(&ctx.net, conn, &job, "apply", "Apply complete!").await?;
    complete(ctx, conn, &job, WireOutcome::Succeeded).await
}

/// The bug zoo's `quota-from-text` (spec 1 §3.7: the code comes only from
/// the quota commit): a provider error whose text mentions quota is
/// classified `INSUFFICIENT_QUOTA` by substring.
#[cfg(feature = "bugs")]
fn quota_from_text(settings: &Settings, error: &str) -> Option<String> {
    let on = chatsim_engine::bugs::Bug::QuotaFromText.on(settings.bug);
    (on && error.to_lowercase().contains("quota")).then(|| INSUFFICIENT_QUOTA.to_string())
}

/// Commits a start build's cost; `Some(failure)` when over budget.
async fn commit_quota<N: Net>(
    net: &N,
    conn: &mut Conn<N>,
    job: &WireJob,
) -> io::Result<Option<WireOutcome>> {
    if job.transition != "start" {
        return Ok(None);
    }
    let req = ProvRequest::CommitQuota {
        job: job.job,
        daily_cost: job.daily_cost,
    };
    match request(net, conn, &req).await? {
        ProvResponse::Quota { ok: true } => Ok(None),
        ProvResponse::Quota { ok: false } => {
            let line = format!("Error: {INSUFFICIENT_QUOTA_MESSAGE}");
            log(net, conn, job, "plan", &line).await?;
            Ok(Some(WireOutcome::Failed {
                error: INSUFFICIENT_QUOTA_MESSAGE.to_string(),
                code: Some(INSUFFICIENT_QUOTA.to_string()),
            }))
        }
        // The job ended meanwhile (e.g. failed as hung): nothing to apply.
        ProvResponse::Error { .. } => Err(io::Error::other("job gone")),
        other => Err(unexpected(format!("{other:?}"))),
    }
}

async fn complete<N: Net>(
    ctx: &ProvisionerCtx<N>,
    conn: &mut Conn<N>,
    job: &WireJob,
    outcome: WireOutcome,
) -> io::Result<()> {
    let succeeded = outcome == WireOutcome::Succeeded;
    let req = ProvRequest::Complete {
        job: job.job,
        outcome,
    };
    let agents = match request(&ctx.net, conn, &req).await? {
        ProvResponse::Completed { agents } => agents,
        ProvResponse::Error { .. } => return Ok(()),
        other => return Err(unexpected(format!("{other:?}"))),
    };
    if succeeded {
        push_slot_commands(ctx, job, &agents);
    }
    Ok(())
}

/// After a successful build: start (or assign) each created agent's slot,
/// or crash every slot of a stopped workspace.
fn push_slot_commands<N: Net>(ctx: &ProvisionerCtx<N>, job: &WireJob, agents: &[WireAgent]) {
    if job.transition != "start" {
        for spec in &job.agents {
            let slot = SlotKey::new(job.workspace, &spec.name);
            ctx.control.push(InfraCmd::CrashAgent { slot });
        }
        return;
    }
    for agent in agents {
        let Some(spec) = job.agents.iter().find(|a| a.name == agent.name) else {
            continue;
        };
        let slot = SlotKey::new(job.workspace, &agent.name);
        let assignment = AgentAssignment {
            agent_id: agent.id,
            build_id: job.build,
            directory: spec.directory.clone(),
            behaviour: ctx.cloud.image(job.version, &agent.name),
            seed: ctx.rng.u64(),
        };
        ctx.control.push(if spec.external {
            InfraCmd::AssignAgent {
                slot,
                agent: assignment,
            }
        } else {
            InfraCmd::StartAgent {
                slot,
                agent: assignment,
            }
        });
    }
}
