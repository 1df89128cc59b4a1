//! A workspace agent process: one per slot (workspace × agent name). It
//! reads its assignment from the slot on every start, waits its seeded
//! connect delay, connects to coderd, reports its lifecycle (starting →
//! ready / start_error / start_timeout after its seeded script duration),
//! heartbeats on an interval, reconnects when coderd goes silent, and serves
//! dials: commands, file reads, context files and skills from the slot's
//! disk.
//!
//! A wedged agent (a stalled process) sends nothing and answers nothing: it
//! still accepts dial connections (the kernel does) but never replies.

use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::model::LifecycleState;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{connect_retrying, within, CODERD};
use crate::bounds::{bound_exceeded, panic_exceeded, Bounds};
use crate::control::{AgentAssignment, SlotState};
use crate::hosts::proto::{
    AgentDown, AgentUp, DialRequest, DialResponse, FrameConn, WireContextFile, WireSkill,
    AGENT_API_PORT, AGENT_DIAL_PORT,
};
use crate::rng::duration_between;
use crate::transport::time::{Instant, Interval, Sleep};
use crate::transport::{HostFactory, Listener, Net};

pub use crate::plan::HOME;
/// Context files larger than this are truncated (the chat runtime's 64 KiB).
pub const CONTEXT_FILE_LIMIT: usize = 64 * 1024;
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const WEDGE_POLL: Duration = Duration::from_secs(1);
/// Bounds on loops that run for the life of the process.
/// The longest `sleep N` command honoured.
const MAX_SLEEP_SECS: u64 = 3600;

/// What an agent host is built from.
#[derive(Clone)]
pub struct AgentCtx<N: Net> {
    /// The agent's network handle.
    pub net: N,
    /// Its slot: assignment, disk, stall switch.
    pub slot: Rc<SlotState>,
    /// How often it heartbeats.
    pub heartbeat_interval: Duration,
    /// The run's loop bounds.
    pub bounds: Bounds,
}

/// The agent's software: each start (a bounce) reads the slot afresh.
pub fn host<N: Net>(ctx: AgentCtx<N>) -> HostFactory {
    Box::new(move || Box::pin(run(ctx.clone())))
}

/// The lifecycle a start walks, on the process's own clock.
struct Lifecycle {
    scripts_end: Instant,
    outcome: LifecycleState,
}

impl Lifecycle {
    fn new(origin: Instant, a: &AgentAssignment, rng: &mut ChaCha8Rng) -> Lifecycle {
        let b = &a.behaviour;
        let script = duration_between(rng, b.startup_script.min.0, b.startup_script.max.0);
        let (end, outcome) = match b.startup_timeout {
            Some(limit) if script > limit.0 => (limit.0, LifecycleState::StartTimeout),
            _ if b.startup_fails => (script, LifecycleState::StartError),
            _ => (script, LifecycleState::Ready),
        };
        Lifecycle {
            scripts_end: origin + end,
            outcome,
        }
    }

    /// The state now, and when it changes next.
    fn at(&self, now: Instant) -> (LifecycleState, Option<Instant>) {
        if now < self.scripts_end {
            (LifecycleState::Starting, Some(self.scripts_end))
        } else {
            (self.outcome, None)
        }
    }
}

async fn run<N: Net>(ctx: AgentCtx<N>) -> crate::transport::HostResult {
    tokio::task::yield_now().await;
    let Some(assignment) = ctx.slot.assignment.borrow().clone() else {
        return Ok(());
    };
    let start = ctx.slot.starts.get() + 1;
    ctx.slot.starts.set(start);
    let mut rng = ChaCha8Rng::seed_from_u64(assignment.seed ^ (u64::from(start) << 32));
    let b = &assignment.behaviour;
    let connect_delay = duration_between(&mut rng, b.connect_delay.min.0, b.connect_delay.max.0);
    let life = Lifecycle::new(ctx.net.now(), &assignment, &mut rng);
    if b.never_connects {
        // The process runs but never reaches coderd or the tailnet.
        std::future::pending::<()>().await;
    }
    ctx.net.spawn(serve_dials(ctx.clone(), assignment.clone()));
    ctx.net.sleep(connect_delay).await;
    let bounds = &ctx.bounds;
    for _ in 0..bounds.agent_sessions {
        wait_unwedged(&ctx.net, &ctx.slot, bounds.agent_wedge_polls).await;
        let stream = connect_retrying(
            &ctx.net,
            CODERD,
            AGENT_API_PORT,
            RECONNECT_DELAY,
            bounds.connect_attempts,
        )
        .await?;
        if session(&ctx, &assignment, &life, FrameConn::new(stream)).await == End::Rejected {
            return Ok(());
        }
        ctx.net.sleep(RECONNECT_DELAY).await;
    }
    Err(bound_exceeded("agent sessions", bounds.agent_sessions).into())
}

/// Waits until the slot is not wedged. Called from tasks that return
/// nothing, so the bound's hit is a panic (which fails the run).
async fn wait_unwedged<N: Net>(net: &N, slot: &SlotState, polls: u32) {
    for _ in 0..polls {
        if !slot.wedged.get() {
            return;
        }
        net.sleep(WEDGE_POLL).await;
    }
    panic_exceeded("agent wedge polls", polls);
}

#[derive(PartialEq, Eq)]
enum End {
    Reconnect,
    Rejected,
}

async fn session<N: Net>(
    ctx: &AgentCtx<N>,
    a: &AgentAssignment,
    life: &Lifecycle,
    mut conn: FrameConn<N::Stream>,
) -> End {
    if conn
        .send(&AgentUp::Hello { agent: a.agent_id })
        .await
        .is_err()
    {
        return End::Reconnect;
    }
    match within(&ctx.net, HELLO_TIMEOUT, conn.recv::<AgentDown>()).await {
        Ok(Some(AgentDown::Welcome)) => {}
        Ok(Some(AgentDown::Reject { .. })) => return End::Rejected,
        _ => return End::Reconnect,
    }
    let period = ctx.heartbeat_interval;
    let stale_after = period * 3;
    let net = &ctx.net;
    let mut heartbeat = net.interval_at(net.now() + period, period);
    let mut last_rx = net.now();
    let mut reported: Option<LifecycleState> = None;
    // Two long-lived timers: the silence deadline (re-armed lazily: when it
    // fires early because frames came since, it moves to the new deadline
    // instead of being re-created on every frame) and the scripts' end.
    let mut silence = net.sleep_until(last_rx + stale_after);
    let mut scripts_end = net.sleep_until(life.scripts_end);
    loop {
        if ctx.slot.wedged.get() {
            wait_unwedged(net, &ctx.slot, ctx.bounds.agent_wedge_polls).await;
            last_rx = net.now();
            continue;
        }
        let (state, next_change) = life.at(net.now());
        if reported != Some(state) {
            let frame = AgentUp::Lifecycle {
                state: state.as_str().to_string(),
            };
            if conn.send(&frame).await.is_err() {
                return End::Reconnect;
            }
            reported = Some(state);
            continue;
        }
        tokio::select! {
            biased;
            _ = &mut silence => {
                let deadline = last_rx + stale_after;
                if net.now() >= deadline {
                    return End::Reconnect;
                }
                silence.reset(deadline);
            }
            frame = conn.recv::<AgentDown>() => match frame {
                Ok(Some(AgentDown::Reject { .. })) => return End::Rejected,
                Ok(Some(_)) => last_rx = net.now(),
                Ok(None) | Err(_) => return End::Reconnect,
            },
            _ = heartbeat.tick() => {
                if !ctx.slot.wedged.get() && conn.send(&AgentUp::Heartbeat).await.is_err() {
                    return End::Reconnect;
                }
            }
            _ = &mut scripts_end, if next_change.is_some() => {}
        }
    }
}

async fn serve_dials<N: Net>(ctx: AgentCtx<N>, a: AgentAssignment) {
    let Ok(listener) = ctx.net.bind(AGENT_DIAL_PORT).await else {
        return;
    };
    loop {
        let Ok(stream) = listener.accept().await else {
            return;
        };
        ctx.net.spawn(serve_dial(
            ctx.net.clone(),
            ctx.slot.clone(),
            a.clone(),
            ctx.bounds,
            stream,
        ));
    }
}

async fn serve_dial<N: Net>(
    net: N,
    slot: Rc<SlotState>,
    a: AgentAssignment,
    bounds: Bounds,
    stream: N::Stream,
) {
    let mut conn = FrameConn::new(stream);
    wait_unwedged(&net, &slot, bounds.agent_wedge_polls).await;
    match within(&net, HELLO_TIMEOUT, conn.recv::<DialRequest>()).await {
        Ok(Some(DialRequest::Hello { agent })) if agent == a.agent_id => {}
        Ok(Some(DialRequest::Hello { .. })) => {
            let _ = conn.send(&DialResponse::UnknownAgent).await;
            return;
        }
        _ => return,
    }
    if conn.send(&DialResponse::Welcome).await.is_err() {
        return;
    }
    for _ in 0..bounds.agent_requests_per_dial {
        let Ok(Some(request)) = conn.recv::<DialRequest>().await else {
            return;
        };
        wait_unwedged(&net, &slot, bounds.agent_wedge_polls).await;
        let response = respond(&net, &slot, &a, request).await;
        if conn.send(&response).await.is_err() {
            return;
        }
    }
    // A spawned task returns nothing: a panic fails the run.
    panic_exceeded("agent requests per dial", bounds.agent_requests_per_dial);
}

/// An absolute path on the slot's disk: `~/x` is under [`HOME`], a relative
/// path under the agent's directory.
pub fn resolve_path(directory: &str, path: &str) -> String {
    if let Some(rest) = path.strip_prefix("~/") {
        format!("{HOME}/{rest}")
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", directory.trim_end_matches('/'))
    }
}

async fn respond<N: Net>(
    net: &N,
    slot: &SlotState,
    a: &AgentAssignment,
    request: DialRequest,
) -> DialResponse {
    match request {
        DialRequest::Hello { .. } => DialResponse::Welcome,
        DialRequest::Exec { command } => exec(net, slot, a, &command).await,
        DialRequest::ReadFile { path } => {
            let full = resolve_path(&a.directory, &path);
            match slot.disk.borrow().get(&full) {
                Some(content) => DialResponse::File {
                    content: content.clone(),
                },
                None => DialResponse::Error {
                    message: format!("open {path}: no such file or directory"),
                },
            }
        }
        DialRequest::Context => context(slot, a),
    }
}

/// A tiny shell: `echo`, `cat`, `pwd`, `sleep N`, `exit N`, `true`,
/// `false`; anything else succeeds with `ran: <command>`.
async fn exec<N: Net>(
    net: &N,
    slot: &SlotState,
    a: &AgentAssignment,
    command: &str,
) -> DialResponse {
    let words: Vec<&str> = command.split_whitespace().collect();
    let (output, exit_code) = match words.as_slice() {
        [] | ["true"] => (String::new(), 0),
        ["false"] => (String::new(), 1),
        ["pwd"] => (format!("{}\n", a.directory), 0),
        ["echo", rest @ ..] => (format!("{}\n", rest.join(" ")), 0),
        ["cat", path] => match slot.disk.borrow().get(&resolve_path(&a.directory, path)) {
            Some(content) => (content.clone(), 0),
            None => (format!("cat: {path}: No such file or directory\n"), 1),
        },
        ["exit", code] => (String::new(), code.parse().unwrap_or(2)),
        ["sleep", secs] => {
            let secs = secs.parse::<u64>().unwrap_or(0).min(MAX_SLEEP_SECS);
            net.sleep(Duration::from_secs(secs)).await;
            (String::new(), 0)
        }
        _ => (format!("ran: {command}\n"), 0),
    };
    DialResponse::Exec { output, exit_code }
}

/// The instruction files (`~/.coder/AGENTS.md`, `<dir>/AGENTS.md`) and the
/// skills (`<dir>/.agents/skills/<name>/SKILL.md`) on the disk.
fn context(slot: &SlotState, a: &AgentAssignment) -> DialResponse {
    let disk = slot.disk.borrow();
    let mut candidates = vec![
        format!("{HOME}/.coder/AGENTS.md"),
        resolve_path(&a.directory, "AGENTS.md"),
    ];
    candidates.dedup();
    let files = candidates
        .into_iter()
        .filter_map(|path| {
            let content = disk.get(&path)?;
            let truncated = content.len() > CONTEXT_FILE_LIMIT;
            let mut end = content.len().min(CONTEXT_FILE_LIMIT);
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            Some(WireContextFile {
                content: content[..end].to_string(),
                path,
                truncated,
            })
        })
        .collect();
    let skills_root = resolve_path(&a.directory, ".agents/skills/");
    let skills = disk
        .iter()
        .filter_map(|(path, content)| {
            let rest = path.strip_prefix(&skills_root)?;
            let name = rest.strip_suffix("/SKILL.md")?;
            (!name.contains('/')).then(|| WireSkill {
                name: name.to_string(),
                description: content
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or_default()
                    .to_string(),
                dir: format!("{skills_root}{name}"),
            })
        })
        .collect();
    DialResponse::Context { files, skills }
}
