//! The always-on invariants (ARCHITECTURE.md, "Invariants, precisely"):
//! named checks over a run's trace, each read from what the world recorded
//! — never from what the engine says about itself.
//!
//! | name | holds when |
//! |---|---|
//! | `recovery_advice_gated` | stop/start advice follows a dial timeout (an abandoned dial of the chat's workspace ≥ the dial timeout into the call) while the latest chat agent read disconnected ≥ the recovery threshold (or, with `never_connected_recovery`, `timeout`) |
//! | `no_create_build_for_external_agent` | no chat's create hook enqueues a build of a template version with an external agent |
//! | `stopped_only_after_successful_stop` | a `"stopped": true` result names a workspace whose latest build is a stop whose job succeeded |
//! | `insufficient_quota_only_from_commit` | every `INSUFFICIENT_QUOTA` job follows a failed quota commit of that build, and every result carrying the code names such a build |
//! | `one_build_in_flight_per_chat` | a chat's tools never enqueue a build while another build they enqueued is pending or running (`canceling` counts as ended) |
//! | `retry_no_second_workspace` | a chat's create enqueues a workspace only when its bound workspace is gone, failed, canceled, or its chat agent unreachable |
//! | `retry_no_second_charge` | a chat's start never enqueues a start build on top of a start that is in flight or succeeded |
//! | `tool_calls_end_within_bound` | every call gets a result within its bound (see [`call_bound`]), unless the driver lost the turn's connection (a cut link) |
//! | `model_within_call_cap` | no model turn ends by exceeding its call cap |
//! | `run_completes` | the run ended `ok`: no host panic, no run error |
//! | `recovers_after_faults` | in a run ending with the liveness turn (the fuzzer's), the reference model ends it `done` or tells the user a reason the trace confirms ([`liveness`]) |
//!
//! coderd's status watcher polls once a second, so agent-status records
//! may lag the database by up to [`STATUS_SLACK`]; checks that compare a
//! decision with an agent's status accept a record within that slack.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chatsim_engine::chat::{AGENT_DISCONNECTED, AGENT_NEVER_CONNECTED, LAZY_VALIDATION_PREFIX};
use chatsim_engine::model::{JobStatus, Transition, INSUFFICIENT_QUOTA};
use chatsim_engine::{AGENT_CONNECT_TIMEOUT, BUILD_TIMEOUT, STARTUP_SCRIPT_TIMEOUT};
use serde_json::Value;

use crate::observe::trace::{
    format_time, AgentStatusKind, Event, Hook, ModelOutcome, RunEnding, Trace, TurnEnding,
};
use crate::observe::view::{BuildView, CallView, TraceView};
use crate::plan::Settings;

/// How late coderd's status watcher may record a change.
pub const STATUS_SLACK: Duration = Duration::from_secs(1);

/// The phrase every stop/start recovery text carries.
pub const RECOVERY_PHRASE: &str = "call stop_workspace to stop the workspace, then start_workspace";

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    /// Virtual time of the offending event.
    pub at: Duration,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} violated at {}s: {}",
            self.invariant,
            format_time(self.at),
            self.message
        )
    }
}

/// What a check reads.
pub struct Input<'a> {
    pub view: &'a TraceView,
    pub settings: &'a Settings,
    /// The run's error, if it failed.
    pub run_error: Option<&'a str>,
}

type Check = fn(&Input<'_>) -> Vec<Violation>;

mod liveness;

pub use liveness::{LIVENESS_TURN, RECOVERS_AFTER_FAULTS};

/// Every invariant, by name.
pub const INVARIANTS: [(&str, Check); 11] = [
    ("recovery_advice_gated", recovery_advice_gated),
    (
        "no_create_build_for_external_agent",
        no_create_build_for_external_agent,
    ),
    (
        "stopped_only_after_successful_stop",
        stopped_only_after_successful_stop,
    ),
    (
        "insufficient_quota_only_from_commit",
        insufficient_quota_only_from_commit,
    ),
    ("one_build_in_flight_per_chat", one_build_in_flight_per_chat),
    ("retry_no_second_workspace", retry_no_second_workspace),
    ("retry_no_second_charge", retry_no_second_charge),
    ("tool_calls_end_within_bound", tool_calls_end_within_bound),
    ("model_within_call_cap", model_within_call_cap),
    ("run_completes", run_completes),
    (RECOVERS_AFTER_FAULTS, liveness::recovers_after_faults),
];

/// Checks every invariant on a trace.
pub fn check_trace(trace: &Trace, settings: &Settings, run_error: Option<&str>) -> Vec<Violation> {
    let view = TraceView::new(trace);
    let input = Input {
        view: &view,
        settings,
        run_error,
    };
    INVARIANTS
        .iter()
        .flat_map(|(_, check)| check(&input))
        .collect()
}

fn violation(invariant: &'static str, at: Duration, message: String) -> Violation {
    Violation {
        invariant,
        at,
        message,
    }
}

/// A text with every `dial with lazy validation: ` prefix removed.
fn unwrap_lazy(mut text: &str) -> &str {
    while let Some(inner) = text.strip_prefix(LAZY_VALIDATION_PREFIX) {
        text = inner;
    }
    text
}

/// Whether a result tells the model to stop and then start the workspace.
pub fn is_recovery_advice(content: &str) -> bool {
    let text = unwrap_lazy(content);
    text == AGENT_DISCONNECTED || text == AGENT_NEVER_CONNECTED || text.contains(RECOVERY_PHRASE)
}

/// A call's result as a JSON object, if it is one.
fn json_object(content: &str) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

// ---- recovery_advice_gated -------------------------------------------------

fn recovery_advice_gated(input: &Input<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    for call in &input.view.calls {
        let Some(result) = &call.result else { continue };
        if !call.is_tool() || !is_recovery_advice(&result.content) {
            continue;
        }
        if let Err(why) = advice_allowed(input, call) {
            let message = format!(
                "{} (turn {}, call {}) told the model to stop and start the workspace, but {why}",
                call.name, call.turn, call.call
            );
            out.push(violation("recovery_advice_gated", result.at, message));
        }
    }
    out
}

/// Why the advice in `call`'s result was not allowed, if it was not.
fn advice_allowed(input: &Input<'_>, call: &CallView) -> Result<(), String> {
    let view = input.view;
    let s = input.settings;
    let result_at = call.result.as_ref().map_or(call.sent, |r| r.at);
    let chat = view.chat_of(call).ok_or("the call's turn is unknown")?;
    let ws_id = view
        .binding_at(chat, result_at)
        .ok_or_else(|| format!("chat {chat} had no workspace"))?;
    let workspace = view
        .workspace_names
        .get(ws_id)
        .ok_or_else(|| format!("workspace {ws_id} was never built"))?;
    let earliest_timeout = call.sent + s.dial_timeout.0.saturating_sub(s.tick.0);
    let timed_out = view.abandoned_dials.iter().any(|(at, agent)| {
        *at >= earliest_timeout
            && *at <= result_at
            && view.agent(agent).is_none_or(|a| &a.workspace == workspace)
    });
    if !timed_out {
        return Err(format!(
            "no dial of {workspace}'s agents timed out during the call"
        ));
    }
    let build = view
        .latest_build(workspace, result_at)
        .ok_or_else(|| format!("{workspace} had no build"))?;
    let agent = view
        .chat_agent_of(&build.id)
        .ok_or_else(|| format!("the latest build {} had no chat agent", build.label()))?;
    let window_end = result_at + STATUS_SLACK;
    let gate_passed = agent
        .statuses_during(call.sent, window_end)
        .into_iter()
        .any(|st| match (st.status, st.since) {
            (AgentStatusKind::Disconnected, Some(since)) => {
                let until = agent.end_of(st).map_or(window_end, |e| e.min(window_end));
                until.saturating_sub(since) >= s.recovery_threshold.0
            }
            (AgentStatusKind::Timeout, _) => s.never_connected_recovery,
            _ => false,
        });
    if gate_passed {
        return Ok(());
    }
    let seen: Vec<String> = agent
        .statuses_during(call.sent, window_end)
        .iter()
        .map(|st| match st.since {
            Some(since) => format!("{} since {}s", st.status, format_time(since)),
            None => st.status.to_string(),
        })
        .collect();
    Err(format!(
        "the latest chat agent {} of {} read [{}], not disconnected for {} (the recovery threshold)",
        agent.name,
        build.label(),
        seen.join(", "),
        s.recovery_threshold
    ))
}

// ---- no_create_build_for_external_agent -----------------------------------

fn no_create_build_for_external_agent(input: &Input<'_>) -> Vec<Violation> {
    input
        .view
        .builds
        .iter()
        .filter(|b| b.hook == Hook::Create && b.by.chat().is_some() && b.external_agent)
        .map(|b| {
            let message = format!(
                "{} enqueued build {} from template {}, whose active version has an external agent",
                b.by,
                b.label(),
                b.template
            );
            violation("no_create_build_for_external_agent", b.enqueued, message)
        })
        .collect()
}

// ---- stopped_only_after_successful_stop -----------------------------------

fn stopped_only_after_successful_stop(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for call in view.calls.iter().filter(|c| c.is_tool()) {
        let Some(result) = &call.result else { continue };
        let Some(obj) = json_object(&result.content) else {
            continue;
        };
        if obj.get("stopped") != Some(&Value::Bool(true)) {
            continue;
        }
        let workspace = obj
            .get("workspace_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let latest = view.latest_build(workspace, result.at);
        let ok = latest.is_some_and(|b| {
            b.transition == Transition::Stop
                && b.status_at(result.at) == JobStatus::Succeeded
                && obj
                    .get("build_id")
                    .and_then(Value::as_str)
                    .is_none_or(|id| id == b.id)
        });
        if !ok {
            let state = latest.map_or("no build".to_string(), |b| {
                format!(
                    "latest build {} is a {} whose job is {}",
                    b.label(),
                    b.transition.as_str(),
                    b.status_at(result.at).as_str()
                )
            });
            let message = format!(
                "{} (turn {}, call {}) said stopped: true for {workspace:?}, but its {state}",
                call.name, call.turn, call.call
            );
            out.push(violation(
                "stopped_only_after_successful_stop",
                result.at,
                message,
            ));
        }
    }
    out
}

// ---- insufficient_quota_only_from_commit ----------------------------------

fn insufficient_quota_only_from_commit(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    let mut failed_commits: BTreeSet<&str> = BTreeSet::new();
    let mut quota_failed_builds: BTreeMap<&str, Duration> = BTreeMap::new();
    for record in view.records() {
        match &record.event {
            Event::QuotaCommit {
                build, ok: false, ..
            } => {
                failed_commits.insert(build);
            }
            Event::Job {
                workspace,
                build,
                number,
                error_code: Some(code),
                ..
            } if code == INSUFFICIENT_QUOTA => {
                quota_failed_builds.insert(build, record.at);
                if !failed_commits.contains(build.as_str()) {
                    let message = format!(
                        "build {workspace}#{number} failed with {INSUFFICIENT_QUOTA} without a failed quota commit"
                    );
                    out.push(violation(
                        "insufficient_quota_only_from_commit",
                        record.at,
                        message,
                    ));
                }
            }
            _ => {}
        }
    }
    for call in view.calls.iter().filter(|c| c.is_tool()) {
        let Some(result) = &call.result else { continue };
        let Some(obj) = json_object(&result.content) else {
            continue;
        };
        if obj.get("error_code").and_then(Value::as_str) != Some(INSUFFICIENT_QUOTA) {
            continue;
        }
        let build = obj.get("build_id").and_then(Value::as_str);
        let from_commit =
            build.is_some_and(|b| quota_failed_builds.get(b).is_some_and(|t| *t <= result.at));
        if !from_commit {
            let message = format!(
                "{} (turn {}, call {}) reported {INSUFFICIENT_QUOTA} for build {:?}, which did not fail at the quota commit",
                call.name,
                call.turn,
                call.call,
                build.unwrap_or("<none>")
            );
            out.push(violation(
                "insufficient_quota_only_from_commit",
                result.at,
                message,
            ));
        }
    }
    out
}

// ---- one_build_in_flight_per_chat -----------------------------------------

fn one_build_in_flight_per_chat(input: &Input<'_>) -> Vec<Violation> {
    let builds = &input.view.builds;
    let mut out = Vec::new();
    for (i, b) in builds.iter().enumerate() {
        if b.by.chat().is_none() {
            continue;
        }
        let in_flight: Vec<String> = builds[..i]
            .iter()
            .filter(|o| o.by == b.by && o.in_flight_at(b.enqueued))
            .map(|o| o.label())
            .collect();
        if !in_flight.is_empty() {
            let message = format!(
                "{} enqueued {} ({}) while its build(s) {} were still in flight",
                b.by,
                b.label(),
                b.transition.as_str(),
                in_flight.join(", ")
            );
            out.push(violation(
                "one_build_in_flight_per_chat",
                b.enqueued,
                message,
            ));
        }
    }
    out
}

// ---- retry_no_second_workspace / retry_no_second_charge --------------------

fn retry_no_second_workspace(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for b in view.builds.iter().filter(|b| b.hook == Hook::Create) {
        let Some(chat) = b.by.chat() else { continue };
        // The binding the create replaced: the last one before its own.
        let before = b.enqueued.saturating_sub(Duration::from_millis(1));
        let Some(ws_id) = view.binding_at(chat, before) else {
            continue;
        };
        let Some(workspace) = view.workspace_names.get(ws_id) else {
            continue;
        };
        if workspace == &b.workspace {
            continue;
        }
        let Some(prev) = view.latest_build(workspace, before) else {
            continue;
        };
        // Spec 1 §3.4 steps 5, 6, 7c: a failed read of the latest build,
        // its job or its agents proceeds to create.
        if queries_failing(view, &EXISTING_WORKSPACE_READS, b.enqueued) {
            continue;
        }
        if let Some(why) = still_usable(view, prev, b.enqueued) {
            let message = format!(
                "chat {chat} created {} while its workspace {workspace} {why}",
                b.label()
            );
            out.push(violation("retry_no_second_workspace", b.enqueued, message));
        }
    }
    out
}

/// The reads of `checkExistingWorkspace` whose failure lets create proceed.
const EXISTING_WORKSPACE_READS: [&str; 3] = [
    "get_latest_workspace_build_by_workspace_id",
    "get_provisioner_job_by_id",
    "get_workspace_agents_in_latest_build_by_workspace_id",
];

/// Whether a `db_query_fails` fault on one of `queries` was in effect at
/// `at` (from the fault's start until its duration ran out; for good
/// without one).
fn queries_failing(view: &TraceView, queries: &[&str], at: Duration) -> bool {
    view.trace.records().iter().any(|r| match &r.event {
        Event::Fault { name, params } if name == "db_query_fails" && r.at <= at => {
            let query = params.get("query").and_then(Value::as_str);
            let lasts = params
                .get("duration")
                .and_then(Value::as_str)
                .and_then(|d| crate::plan::parse_duration(d).ok());
            query.is_some_and(|q| queries.contains(&q)) && lasts.is_none_or(|d| at <= r.at + d)
        }
        _ => false,
    })
}

/// Why a workspace whose latest build is `prev` still served the chat at
/// `at`, if it did: its build in flight or stopped, or a running start
/// whose chat agent was reachable.
fn still_usable(view: &TraceView, prev: &BuildView, at: Duration) -> Option<String> {
    let status = prev.status_at(at);
    if prev.in_flight_at(at) {
        return Some(format!("had build {} in flight", prev.label()));
    }
    if status != JobStatus::Succeeded {
        return None;
    }
    if prev.transition == Transition::Stop {
        return Some(format!("was stopped by {}", prev.label()));
    }
    let agent = view.chat_agent_of(&prev.id)?;
    let statuses = agent.statuses_during(at, at + STATUS_SLACK);
    let unreachable = statuses.iter().any(|s| s.status.is_unreachable());
    (!unreachable && !statuses.is_empty()).then(|| {
        format!(
            "was running {} with its chat agent {} {}",
            prev.label(),
            agent.name,
            statuses[0].status
        )
    })
}

fn retry_no_second_charge(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for b in view
        .builds
        .iter()
        .filter(|b| b.hook == Hook::Start && b.by.chat().is_some())
    {
        let before = view
            .builds
            .iter()
            .filter(|o| o.workspace == b.workspace && o.number < b.number)
            .max_by_key(|o| o.number);
        let Some(prev) = before else { continue };
        let status = prev.status_at(b.enqueued);
        let running = prev.transition == Transition::Start
            && matches!(
                status,
                JobStatus::Pending | JobStatus::Running | JobStatus::Succeeded
            );
        if running {
            let message = format!(
                "{} enqueued start build {} (a second charge) while start build {} was {}",
                b.by,
                b.label(),
                prev.label(),
                status.as_str()
            );
            out.push(violation("retry_no_second_charge", b.enqueued, message));
        }
    }
    out
}

// ---- tool_calls_end_within_bound -------------------------------------------

/// The longest a call may take on its own: lifecycle tools may wait for an
/// in-progress build and then their own (build, agent, startup scripts);
/// connection tools a dial and a request; user calls their own limits.
pub fn call_bound(name: &str, settings: &Settings) -> Duration {
    let lifecycle = BUILD_TIMEOUT + AGENT_CONNECT_TIMEOUT + STARTUP_SCRIPT_TIMEOUT;
    let request = Duration::from_secs(10 * 60);
    match name {
        "create_workspace" | "start_workspace" | "stop_workspace" => lifecycle * 2,
        "execute" | "read_file" | "api.exec" => settings.dial_timeout.0 * 2 + request,
        "api.wait_build" => BUILD_TIMEOUT + Duration::from_secs(60),
        _ => Duration::from_secs(60),
    }
}

fn tool_calls_end_within_bound(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for call in &view.calls {
        // Calls of the turn in flight when this one was sent share the
        // chat's lock: this one may wait for all of them.
        let bound: Duration = view
            .calls
            .iter()
            .filter(|o| o.turn == call.turn && o.sent <= call.sent)
            .filter(|o| o.result.as_ref().is_none_or(|r| r.at > call.sent) || o == &call)
            .map(|o| call_bound(&o.name, input.settings))
            .sum();
        match &call.result {
            Some(r) if r.at.saturating_sub(call.sent) > bound => {
                let message = format!(
                    "{} (turn {}, call {}) took {}s, over its bound of {}s",
                    call.name,
                    call.turn,
                    call.call,
                    format_time(r.at - call.sent),
                    format_time(bound)
                );
                out.push(violation("tool_calls_end_within_bound", r.at, message));
            }
            // The driver lost its connection (a cut link): the call ran on
            // in coderd, unseen; the turn's end says so.
            None if turn_lost(view, call.turn) => {}
            None if input.run_error.is_none() => {
                let message = format!(
                    "{} (turn {}, call {}) never returned",
                    call.name, call.turn, call.call
                );
                out.push(violation("tool_calls_end_within_bound", call.sent, message));
            }
            _ => {}
        }
    }
    out
}

/// Whether the driver lost the turn's connection.
fn turn_lost(view: &TraceView, turn: usize) -> bool {
    view.turn(turn)
        .and_then(|t| t.ended.as_ref())
        .is_some_and(|(_, outcome)| matches!(outcome, TurnEnding::Lost(_)))
}

// ---- model_within_call_cap / run_completes ---------------------------------

fn model_within_call_cap(input: &Input<'_>) -> Vec<Violation> {
    input
        .view
        .turns
        .iter()
        .filter_map(|t| {
            let (outcome, _, calls) = t.model_outcome.as_ref()?;
            (*outcome == ModelOutcome::CapExceeded).then(|| {
                let at = t.ended.as_ref().map_or(t.started, |(at, _)| *at);
                let message = format!(
                    "the {} model of turn {} ran out of calls after {calls} without reaching its goal",
                    t.model.map_or("?", |m| m.as_str()),
                    t.turn
                );
                violation("model_within_call_cap", at, message)
            })
        })
        .collect()
}

fn run_completes(input: &Input<'_>) -> Vec<Violation> {
    let end = input.view.run_end.as_ref();
    let error = input.run_error.map(str::to_string).or_else(|| match end {
        Some(RunEnding::Ok) => None,
        Some(other) => Some(other.to_string()),
        None => Some("the trace has no run_end".to_string()),
    });
    let at = input.view.records().last().map_or(Duration::ZERO, |r| r.at);
    error
        .map(|e| violation("run_completes", at, format!("the run failed: {e}")))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests;
