//! The chat driver: the run's client (on either transport) that plays the
//! model. It runs the configured turns in order (each not before its `at`),
//! and between them any turn a fault handed it (a user action, injected
//! parallel calls). Each turn is one connection to coderd's chat API; a
//! [`TurnPolicy`] decides the calls — the turn's script, the reference
//! model or a persona ([`crate::players`]) — and every call and response
//! goes into the trace. A model whose own side gives up waiting on a call
//! (its patience) never reads that result; the driver traces the
//! abandonment, keeps the connection until the call's late result arrives,
//! and traces that too.
//!
//! The driver finishes once its turns are played and the harness says no
//! fault can hand it more. A served run (`chatsim serve`) adds a
//! [`TurnSource`]: asked for the next turn whenever none is queued.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;

use super::proto::{unexpected, ChatRequest, ChatResponse, FrameConn, CHAT_PORT};
use super::{connect_retrying, within, CODERD, DRIVER};
use crate::bounds::{bound_exceeded, BoundExceeded, Bounds};
use crate::control::CallCount;
use crate::observe::trace::{Event, Tracer, TurnEnding};
use crate::plan::{Call, Turn};
use crate::players::{policy_for, CallResult, Memory, TurnPolicy};
use crate::transport::{HostFuture, Net};

/// With no turn scheduled, how long the driver waits before looking again
/// (the inbox wakes it sooner).
const IDLE_WAIT: Duration = Duration::from_secs(3600);
const CONNECT_RETRY: Duration = Duration::from_secs(1);
/// A turn connection silent this long (no result, no keepalive) is lost.
const SILENCE_LIMIT: Duration = Duration::from_secs(30);

/// Turns handed to the driver while it runs (user actions, injected calls).
/// Pushing (or [`Inbox::wake`]) wakes a waiting driver, so it never polls.
#[derive(Clone, Default)]
pub struct Inbox(Rc<RefCell<VecDeque<Turn>>>, Rc<Notify>);

impl Inbox {
    /// Hands the driver `turn` (and wakes it).
    pub fn push(&self, turn: Turn) {
        self.0.borrow_mut().push_back(turn);
        self.wake();
    }

    /// Wakes the driver to look again (e.g. no fault can add turns now).
    pub fn wake(&self) {
        self.1.notify_waiters();
    }

    fn pop(&self) -> Option<Turn> {
        self.0.borrow_mut().pop_front()
    }

    /// Waits until woken or for `limit`, whichever is first.
    async fn wait<N: Net>(&self, net: &N, limit: Duration) {
        tokio::select! {
            biased;
            _ = self.1.notified() => {}
            _ = net.sleep(limit) => {}
        }
    }
}

/// Where turns come from once the configured ones are played (an MCP
/// client, in `chatsim serve`). The driver asks, when neither its inbox nor
/// its schedule holds a turn, and may block the simulation thread while the
/// source decides: virtual time stands still meanwhile.
pub trait TurnSource {
    /// The next turn at virtual time `now` (the trace so far in `tracer`),
    /// or `None`: no more, ever.
    fn next_turn(&mut self, now: Duration, tracer: &Tracer) -> Option<Turn>;
}

/// What the driver is built from.
pub struct DriverCtx<N: Net> {
    /// The driver's network handle.
    pub net: N,
    /// Where calls and responses are traced.
    pub tracer: Tracer,
    /// The configured turns, in order.
    pub turns: Vec<Turn>,
    /// Turns faults hand it while it runs.
    pub inbox: Inbox,
    /// Set by the harness once no fault remains that could add turns.
    pub faults_done: Rc<Cell<bool>>,
    /// How long one turn may take.
    pub turn_timeout: Duration,
    /// The run's loop bounds.
    pub bounds: Bounds,
    /// Counts every call result received (`after_call` faults wait on it).
    pub calls: CallCount,
    /// Asked for more turns when none is queued (a served run only).
    pub source: Option<Box<dyn TurnSource>>,
    /// The run's seed (the model's memory seeds persona choices from it).
    pub seed: u64,
}

/// The driver's software.
pub fn client<N: Net>(ctx: DriverCtx<N>) -> HostFuture {
    Box::pin(async move {
        let mut ctx = ctx;
        let mut source = ctx.source.take();
        tokio::task::yield_now().await;
        let mut scheduled: VecDeque<Turn> = std::mem::take(&mut ctx.turns).into();
        let mut turn_no = 0;
        let mut memory = Memory::new(ctx.seed);
        for _ in 0..ctx.bounds.driver_loops {
            if let Some(turn) = ctx.inbox.pop() {
                run_turn(&ctx, turn_no, &turn, &mut memory).await?;
                turn_no += 1;
                continue;
            }
            let now = ctx.net.elapsed();
            if scheduled.is_empty() {
                if let Some(from) = source.as_mut() {
                    match from.next_turn(now, &ctx.tracer) {
                        Some(turn) => scheduled.push_back(turn),
                        None => source = None,
                    }
                }
            }
            match scheduled.front() {
                Some(turn) if turn.at.is_none_or(|at| at.0 <= now) => {
                    let turn = scheduled.pop_front().expect("front exists");
                    run_turn(&ctx, turn_no, &turn, &mut memory).await?;
                    turn_no += 1;
                }
                Some(turn) => {
                    let due = turn.at.map_or(now, |at| at.0);
                    ctx.inbox.wait(&ctx.net, due - now).await;
                }
                None if ctx.faults_done.get() => return Ok(()),
                None => ctx.inbox.wait(&ctx.net, IDLE_WAIT).await,
            }
        }
        Err(bound_exceeded("driver loops", ctx.bounds.driver_loops).into())
    })
}

fn emit<N: Net>(ctx: &DriverCtx<N>, event: Event) {
    ctx.tracer.emit(ctx.net.elapsed(), DRIVER, event);
}

/// Plays one turn; `Err` only when a loop bound was hit (it fails the run).
async fn run_turn<N: Net>(
    ctx: &DriverCtx<N>,
    turn_no: usize,
    turn: &Turn,
    memory: &mut Memory,
) -> Result<(), String> {
    if turn.is_wait() {
        // A pure wait: it only marks time.
        return Ok(());
    }
    emit(
        ctx,
        Event::TurnStart {
            chat: turn.chat.clone(),
            turn: turn_no,
            name: turn.name.clone(),
            model: turn.model,
        },
    );
    let mut policy = policy_for(turn, memory);
    let played = play(ctx, turn_no, turn, policy.as_mut(), memory);
    let outcome = match within(&ctx.net, ctx.turn_timeout, played).await {
        Ok(()) => TurnEnding::Done,
        Err(err) if err.kind() == io::ErrorKind::TimedOut => TurnEnding::Timeout,
        Err(err) => match BoundExceeded::within(&err) {
            Some(hit) => return Err(hit.to_string()),
            None => TurnEnding::Lost(err.to_string()),
        },
    };
    if let Some(report) = policy.report() {
        emit(
            ctx,
            Event::ModelOutcome {
                turn: turn_no,
                outcome: report.outcome,
                reason: report.reason,
                calls: report.calls,
            },
        );
    }
    emit(
        ctx,
        Event::TurnEnd {
            turn: turn_no,
            outcome,
        },
    );
    Ok(())
}

/// The next frame; a connection silent for [`SILENCE_LIMIT`] is lost.
async fn recv_live<N: Net>(
    net: &N,
    conn: &mut FrameConn<N::Stream>,
) -> io::Result<Option<ChatResponse>> {
    within(net, SILENCE_LIMIT, conn.recv::<ChatResponse>())
        .await
        .map_err(|err| match err.kind() {
            io::ErrorKind::TimedOut => io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "turn connection went silent",
            ),
            _ => err,
        })
}

/// The trace's rendering of a call's input.
fn input_text(call: &Call) -> String {
    match call {
        Call::Tool { input, .. } => input.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

async fn play<N: Net>(
    ctx: &DriverCtx<N>,
    turn_no: usize,
    turn: &Turn,
    policy: &mut dyn TurnPolicy,
    memory: &mut Memory,
) -> io::Result<()> {
    let attempts = ctx.bounds.connect_attempts;
    let stream = connect_retrying(&ctx.net, CODERD, CHAT_PORT, CONNECT_RETRY, attempts).await?;
    let mut conn = FrameConn::new(stream);
    let begin = ChatRequest::BeginTurn {
        chat: turn.chat.clone(),
        turn: turn_no,
    };
    conn.send(&begin).await?;
    // The model's first step needs its prompt.
    await_frame(
        &ctx.net,
        &mut conn,
        &ChatResponse::TurnBegun,
        ctx.bounds.driver_keepalives,
    )
    .await?;
    // Calls whose result the model awaits (with the virtual time it gives
    // up at, if it does), and calls it gave up on whose result is due.
    let mut outstanding: BTreeMap<usize, (Call, Option<Duration>)> = BTreeMap::new();
    let mut abandoned: BTreeMap<usize, Call> = BTreeMap::new();
    let mut next_id = 0;
    let mut batch = policy.next(None);
    loop {
        for call in batch.drain(..) {
            emit(
                ctx,
                Event::ToolCall {
                    turn: turn_no,
                    call: next_id,
                    name: call.trace_name(),
                    input: input_text(&call),
                },
            );
            conn.send(&ChatRequest::Call {
                id: next_id,
                call: call.clone(),
            })
            .await?;
            let give_up_at = policy.patience(&call).map(|p| ctx.net.elapsed() + p);
            outstanding.insert(next_id, (call, give_up_at));
            next_id += 1;
        }
        if outstanding.is_empty() && abandoned.is_empty() {
            break;
        }
        let frame = match first_give_up(&outstanding) {
            Some((id, at)) => {
                let wait = at.saturating_sub(ctx.net.elapsed());
                tokio::select! {
                    biased;
                    frame = recv_live(&ctx.net, &mut conn) => frame?,
                    _ = ctx.net.sleep(wait) => {
                        let (call, _) = outstanding.remove(&id).expect("a waited-on call");
                        emit(
                            ctx,
                            Event::CallAbandoned {
                                turn: turn_no,
                                call: id,
                                name: call.trace_name(),
                            },
                        );
                        batch = policy.gave_up(&call);
                        abandoned.insert(id, call);
                        continue;
                    }
                }
            }
            None => recv_live(&ctx.net, &mut conn).await?,
        };
        let (id, result) = match frame {
            Some(ChatResponse::KeepAlive) => continue,
            Some(ChatResponse::Result {
                id,
                content,
                is_error,
            }) => (id, CallResult { content, is_error }),
            Some(other) => return Err(unexpected(format!("{other:?}"))),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "coderd closed",
                ))
            }
        };
        let late = abandoned.remove(&id);
        let call = match late.clone() {
            Some(call) => call,
            None => outstanding
                .remove(&id)
                .map(|(call, _)| call)
                .ok_or_else(|| unexpected(format!("result for unknown call {id}")))?,
        };
        ctx.calls.bump();
        emit(
            ctx,
            Event::ToolResult {
                turn: turn_no,
                call: id,
                name: call.trace_name(),
                is_error: result.is_error,
                content: result.content.clone(),
            },
        );
        memory.read(&result.content);
        if late.is_none() {
            batch = policy.next(Some((&call, &result)));
        }
    }
    conn.send(&ChatRequest::EndTurn).await?;
    await_frame(
        &ctx.net,
        &mut conn,
        &ChatResponse::TurnEnded,
        ctx.bounds.driver_keepalives,
    )
    .await
}

/// The awaited call the model gives up on first, and when.
fn first_give_up(
    outstanding: &BTreeMap<usize, (Call, Option<Duration>)>,
) -> Option<(usize, Duration)> {
    outstanding
        .iter()
        .filter_map(|(id, (_, at))| at.map(|at| (*id, at)))
        .min_by_key(|(id, at)| (*at, *id))
}

/// Waits for `want`, past coderd's keepalives (boundedly).
async fn await_frame<N: Net>(
    net: &N,
    conn: &mut FrameConn<N::Stream>,
    want: &ChatResponse,
    keepalives: u32,
) -> io::Result<()> {
    for _ in 0..keepalives {
        match recv_live(net, conn).await? {
            Some(ChatResponse::KeepAlive) => {}
            Some(frame) if &frame == want => return Ok(()),
            other => return Err(unexpected(format!("{other:?}"))),
        }
    }
    Err(BoundExceeded::io("driver keepalives", keepalives))
}
