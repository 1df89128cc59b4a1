//! Shared story builders for the simulation tests.
#![allow(dead_code)]

use chatsim::{AgentStatusKind, ContextPhase, EventKind, Fault, Record, RunOutcome, Transport};
use chatsim::{Call, Dur, RunConfig, Story, Turn, WorldSpec};
use std::cell::{Cell, RefCell};

pub use chatsim::story::*;

pub const CHAT: &str = "main";
pub const WS: &str = "ws1";

/// One user `alice` (quota `quota`), one template `dev` with agent `main`
/// costing `cost`, one chat `main`.
pub fn one_user(seed: u64, cost: i64, quota: i64) -> Story {
    Story::new(seed)
        .user(user("alice").with_quota(quota))
        .template(template("dev").titled("Dev", "A dev box").cost(cost))
        .chat(CHAT)
}

/// The world of [`one_user`].
pub fn world(cost: i64, quota: i64) -> WorldSpec {
    one_user(0, cost, quota).build().world
}

/// Create `ws1` from `dev`, wait for the build, bind the chat to it.
pub fn create_and_bind() -> Turn {
    Turn::new(CHAT, chatsim::story::create_and_bind("dev", WS))
}

/// A run of `world`: `turns` in order, each fault at its second.
pub fn config(
    seed: u64,
    world: WorldSpec,
    turns: Vec<Turn>,
    faults: Vec<(u64, Fault)>,
) -> RunConfig {
    let story = turns
        .into_iter()
        .fold(Story::new(seed).world(world), Story::push);
    faults
        .into_iter()
        .fold(story, |story, (at, fault)| story.fault_at(secs(at), fault))
        .build()
}

pub fn at(turn: Turn, secs: u64) -> Turn {
    turn.at(Dur::secs(secs))
}

pub fn wait_until(secs: u64) -> Turn {
    Turn::wait_until(CHAT, Dur::secs(secs))
}

/// Records of one kind.
pub fn kind(outcome: &RunOutcome, kind: EventKind) -> Vec<Record> {
    outcome.trace.of_kind(kind).cloned().collect()
}

/// A change of an agent's status.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatusChange {
    /// Seconds into the run.
    pub at: f64,
    pub to: AgentStatusKind,
}

/// The status changes of agent `name`, in order.
pub fn statuses(outcome: &RunOutcome, name: &str) -> Vec<StatusChange> {
    outcome
        .trace
        .of_kind(EventKind::AgentStatus)
        .filter_map(|r| match &r.event {
            chatsim::Event::AgentStatus { name: n, to, .. } if n == name => Some(StatusChange {
                at: r.at.as_secs_f64(),
                to: *to,
            }),
            _ => None,
        })
        .collect()
}

pub fn print_trace(outcome: &RunOutcome) {
    for line in outcome.trace.lines() {
        println!("{line}");
    }
}

/// The result of one call, as the model or the user read it.
#[derive(Clone, Debug, PartialEq)]
pub struct CallResult {
    /// Seconds into the run.
    pub at: f64,
    pub is_error: bool,
    pub content: String,
}

/// Results of calls named `name` (`api.exec`, a tool name …), in order.
pub fn results(outcome: &RunOutcome, name: &str) -> Vec<CallResult> {
    outcome
        .trace
        .of_kind(EventKind::ToolResult)
        .filter_map(|r| match &r.event {
            chatsim::Event::ToolResult {
                name: n,
                is_error,
                content,
                ..
            } if n == name => Some(CallResult {
                at: r.at.as_secs_f64(),
                is_error: *is_error,
                content: content.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The last result of calls named `name` (panics if there is none).
pub fn last_result(outcome: &RunOutcome, name: &str) -> CallResult {
    results(outcome, name)
        .pop()
        .unwrap_or_else(|| panic!("no result of {name}"))
}

/// The workspace's summary at the end of the run.
pub fn ws_summary<'a>(
    outcome: &'a RunOutcome,
    name: &str,
) -> &'a chatsim::harness::WorkspaceSummary {
    outcome
        .summary
        .workspaces
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no workspace {name}"))
}

/// Times of the first record matching `pred`.
pub fn first_at(outcome: &RunOutcome, pred: impl Fn(&chatsim::Event) -> bool) -> Option<f64> {
    outcome
        .trace
        .records()
        .iter()
        .find(|r| pred(&r.event))
        .map(|r| r.at.as_secs_f64())
}

/// How long agent `name` read `disconnected` in one stretch, the longest.
pub fn longest_disconnect(outcome: &RunOutcome, name: &str, end: f64) -> f64 {
    let mut longest = 0.0f64;
    let mut since: Option<f64> = None;
    for StatusChange { at, to } in statuses(outcome, name) {
        match (to, since) {
            (AgentStatusKind::Disconnected, None) => since = Some(at),
            (AgentStatusKind::Disconnected, Some(_)) => {}
            (_, Some(start)) => {
                longest = longest.max(at - start);
                since = None;
            }
            (_, None) => {}
        }
    }
    if let Some(start) = since {
        longest = longest.max(end - start);
    }
    longest
}

thread_local! {
    /// The transport `run_ok` uses (turmoil unless `on_both_transports` says).
    static TRANSPORT: Cell<Transport> = const { Cell::new(Transport::Turmoil) };
    /// The stories `run_ok` told on this transport, in order.
    static STORIES: RefCell<Vec<Vec<String>>> = const { RefCell::new(Vec::new()) };
}

/// Names the transport of a failing run in the test output.
struct Announce(Transport);

impl Drop for Announce {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(this failure is on the {} transport)", self.0);
        }
    }
}

/// Runs a test's body once per transport, then checks that each run told
/// the same story on both (`Trace::story`: the responses the model and the
/// user saw, times masked).
pub fn on_both_transports(body: impl Fn()) {
    let mut told = Vec::new();
    for transport in Transport::ALL {
        TRANSPORT.with(|t| t.set(transport));
        STORIES.with(|s| s.borrow_mut().clear());
        let announce = Announce(transport);
        body();
        drop(announce);
        told.push(STORIES.with(|s| s.take()));
    }
    TRANSPORT.with(|t| t.set(Transport::Turmoil));
    assert_same_stories(&told[0], &told[1]);
}

/// Panics at the first line where two lists of stories differ.
pub fn assert_same_stories(turmoil: &[Vec<String>], fast: &[Vec<String>]) {
    assert_eq!(turmoil.len(), fast.len(), "as many runs on both transports");
    for (run, (a, b)) in turmoil.iter().zip(fast).enumerate() {
        let longest = a.len().max(b.len());
        if let Some(i) = (0..longest).find(|&i| a.get(i) != b.get(i)) {
            panic!(
                "run {run} tells another story on the fast transport at line {}:\n  turmoil: {:?}\n  fast:    {:?}",
                i + 1,
                a.get(i),
                b.get(i)
            );
        }
    }
}

/// Runs (on the current transport) and fails the test (printing the trace)
/// if the run errored or broke an invariant. With `CHATSIM_TRACE` set,
/// prints the trace anyway.
pub fn run_ok(config: &RunConfig) -> RunOutcome {
    let outcome = chatsim::run_with(config, TRANSPORT.with(Cell::get));
    STORIES.with(|s| s.borrow_mut().push(outcome.trace.story()));
    if std::env::var_os("CHATSIM_TRACE").is_some() {
        print_trace(&outcome);
    }
    if !outcome.is_ok() {
        print_trace(&outcome);
        panic!("run failed: {:?}", outcome.error);
    }
    let violations = outcome.violations(&config.settings);
    if !violations.is_empty() {
        print_trace(&outcome);
        let all: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        panic!("{}", all.join("\n"));
    }
    outcome
}

/// A prompt the chat runtime built for a turn.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// The turn's index.
    pub turn: usize,
    pub phase: ContextPhase,
    pub text: String,
}

/// Prompts the chat runtime built, in order.
pub fn prompts(outcome: &RunOutcome) -> Vec<Prompt> {
    kind(outcome, EventKind::TurnContext)
        .into_iter()
        .filter_map(|r| match r.event {
            chatsim::Event::TurnContext {
                turn,
                phase,
                prompt,
                ..
            } => Some(Prompt {
                turn,
                phase,
                text: prompt,
            }),
            _ => None,
        })
        .collect()
}

pub fn stop_and_wait() -> Vec<Call> {
    vec![
        Call::StopWorkspace {
            workspace: WS.into(),
        },
        Call::WaitBuild {
            workspace: WS.into(),
        },
    ]
}

pub fn start_and_wait(parameters: &[(&str, &str)]) -> Vec<Call> {
    vec![
        Call::StartWorkspace {
            workspace: WS.into(),
            parameters: parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        Call::WaitBuild {
            workspace: WS.into(),
        },
    ]
}

pub fn ws_fault_target() -> (String, String) {
    (WS.to_string(), "main".to_string())
}
