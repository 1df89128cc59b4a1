//! Reachability goals ("sometimes" assertions): named conditions a fuzz run
//! should reach at least once. An invariant must hold in every run; a goal
//! only has to happen in some run, and one never reached says the fuzzer
//! cannot get there (the schedule never draws its premise), so the
//! invariants guarding that path were never exercised.
//!
//! Each goal is a predicate over one run's trace, read through a
//! [`TraceView`], and matches the engine's own texts (its constants), never
//! a copy. [`GOALS`] lists them; [`reached`] says which one run reached.

use std::time::Duration;

use chatsim_engine::chat::{
    AGENT_DISCONNECTED, AGENT_NEVER_CONNECTED, CONTEXT_PULL_FAILED_LOG,
    DEFAULT_DIAL_VALIDATION_DELAY, DIAL_TIMEOUT, EXECUTE, NO_WORKSPACE, NO_WORKSPACE_AGENT,
    READ_FILE,
};
use chatsim_engine::memory::MANUAL_UPDATE_MESSAGE;
use chatsim_engine::model::INSUFFICIENT_QUOTA;
use chatsim_engine::tools::create_workspace::{
    self, CREATE_BUILD_FAILED, EXISTING_BUILD_FAILED, EXTERNAL_AGENT_REFUSAL, NAME_TAKEN_RETRY_LOG,
};
use chatsim_engine::tools::start_workspace::{
    self, IN_PROGRESS_PREFIX, START_FAILED_PREFIX, UPDATE_REASON,
};
use chatsim_engine::{EXTERNAL_AGENT_NOT_CONNECTED, EXTERNAL_AGENT_OFFLINE};
use serde_json::{Map, Value};

use crate::observe::invariants::STATUS_SLACK;
use crate::observe::trace::{EngineEventKind, Event};
use crate::observe::view::{CallView, TraceView};
use crate::plan::FaultKind;

/// A connection tool's result carries the stopped-workspace text
/// (`errChatHasNoWorkspaceAgent`).
pub const RECOVERY_NO_AGENT: &str = "recovery_text.no_agent";
/// A connection tool's result carries the disconnected stop/start advice.
pub const RECOVERY_DISCONNECTED: &str = "recovery_text.disconnected";
/// A connection tool's result carries the never-connected stop/start advice.
pub const RECOVERY_NEVER_CONNECTED: &str = "recovery_text.never_connected";
/// A connection tool's result carries the softer dial-timeout text.
pub const RECOVERY_DIAL_TIMEOUT: &str = "recovery_text.dial_timeout";
/// A connection tool's result says the chat has no workspace.
pub const RECOVERY_NO_WORKSPACE: &str = "recovery_text.no_workspace";
/// A tool result carries the offline external agent's message.
pub const EXTERNAL_OFFLINE: &str = "external_agent.offline";
/// A tool result carries the not-yet-connected external agent's message.
pub const EXTERNAL_NOT_CONNECTED: &str = "external_agent.not_connected";
/// `create_workspace` refused a template with an external agent.
pub const EXTERNAL_CREATE_REFUSED: &str = "external_agent.create_refused";
/// `create_workspace` returned the quota result of the build it enqueued
/// (its `error` begins `workspace build failed: `).
pub const QUOTA_AFTER_CREATION: &str = "quota.after_creation";
/// A tool returned the quota result of an in-progress build it waited for:
/// `create_workspace`'s existing build (`existing workspace build failed: `)
/// or a start/stop's (`waiting for in-progress build: `).
pub const QUOTA_IN_PROGRESS_BUILD: &str = "quota.in_progress_build";
/// `start_workspace` returned the quota result of its own start build
/// (its `error` begins `workspace start build failed: `).
pub const QUOTA_ON_START: &str = "quota.on_start";
/// `start_workspace` moved the workspace to the active version itself
/// (`update_reason` is the engine's).
pub const UPDATE_AUTO: &str = "update.auto";
/// A start was refused until the active version's parameters are given
/// (the manual-update-required message reached a tool result).
pub const UPDATE_MANUAL_REQUIRED: &str = "update.manual_required";
/// `create_workspace` hit a name conflict and retried under a generated
/// name (the engine's retry log line).
pub const CREATE_NAME_CONFLICT_RETRY: &str = "create.name_conflict_retry";
/// Lazy validation replaced a dial: during one connection tool call the
/// engine started a dial of one agent and, within the validation delay
/// (plus the watcher's slack), a dial of a different agent.
pub const LAZY_VALIDATION_REBIND: &str = "lazy_validation.rebind";
/// A turn's context pull failed and its prompt was rebuilt from the
/// persisted parts: the engine logged the failed pull and the next
/// `turn_context` record carries a non-empty prompt.
pub const CONTEXT_FALLBACK: &str = "context.fallback";
/// The user canceled a turn while one of its tool calls was in flight (a
/// `user_cancels_turn` fault between a call and its result).
pub const TURN_CANCELED: &str = "turn.canceled";

/// A named condition over one run's trace.
pub struct Goal {
    /// Its name (`family.case`).
    pub name: &'static str,
    /// Whether the run reached it.
    pub reached: fn(&TraceView) -> bool,
}

/// Every goal, in report order.
pub const GOALS: &[Goal] = &[
    goal(RECOVERY_NO_AGENT, |v| {
        connection_text(v, NO_WORKSPACE_AGENT)
    }),
    goal(RECOVERY_DISCONNECTED, |v| {
        connection_text(v, AGENT_DISCONNECTED)
    }),
    goal(RECOVERY_NEVER_CONNECTED, |v| {
        connection_text(v, AGENT_NEVER_CONNECTED)
    }),
    goal(RECOVERY_DIAL_TIMEOUT, |v| connection_text(v, DIAL_TIMEOUT)),
    goal(RECOVERY_NO_WORKSPACE, |v| connection_text(v, NO_WORKSPACE)),
    goal(EXTERNAL_OFFLINE, |v| any_text(v, EXTERNAL_AGENT_OFFLINE)),
    goal(EXTERNAL_NOT_CONNECTED, |v| {
        any_text(v, EXTERNAL_AGENT_NOT_CONNECTED)
    }),
    goal(EXTERNAL_CREATE_REFUSED, |v| {
        tool_results(v).any(|(call, content)| {
            call.name == create_workspace::NAME && content.contains(EXTERNAL_AGENT_REFUSAL)
        })
    }),
    goal(QUOTA_AFTER_CREATION, |v| {
        quota_result(v, |call, error| {
            call.name == create_workspace::NAME && error.starts_with(CREATE_BUILD_FAILED)
        })
    }),
    goal(QUOTA_IN_PROGRESS_BUILD, |v| {
        quota_result(v, |_, error| {
            error.starts_with(EXISTING_BUILD_FAILED) || error.starts_with(IN_PROGRESS_PREFIX)
        })
    }),
    goal(QUOTA_ON_START, |v| {
        quota_result(v, |call, error| {
            call.name == start_workspace::NAME && error.starts_with(START_FAILED_PREFIX)
        })
    }),
    goal(UPDATE_AUTO, auto_update),
    goal(UPDATE_MANUAL_REQUIRED, |v| {
        any_text(v, MANUAL_UPDATE_MESSAGE)
    }),
    goal(CREATE_NAME_CONFLICT_RETRY, |v| {
        engine_log(v).any(|line| line.contains(NAME_TAKEN_RETRY_LOG))
    }),
    goal(LAZY_VALIDATION_REBIND, lazy_validation_rebind),
    goal(CONTEXT_FALLBACK, context_fallback),
    goal(TURN_CANCELED, turn_canceled),
];

const fn goal(name: &'static str, reached: fn(&TraceView) -> bool) -> Goal {
    Goal { name, reached }
}

/// The names of the goals `view`'s run reached, in [`GOALS`] order.
pub fn reached(view: &TraceView) -> Vec<&'static str> {
    GOALS
        .iter()
        .filter(|g| (g.reached)(view))
        .map(|g| g.name)
        .collect()
}

/// The results of the model's tool calls.
fn tool_results(view: &TraceView) -> impl Iterator<Item = (&CallView, &str)> {
    view.calls
        .iter()
        .filter(|c| c.is_tool())
        .filter_map(|c| c.result.as_ref().map(|r| (c, r.content.as_str())))
}

/// Some tool result contains `text`.
fn any_text(view: &TraceView, text: &str) -> bool {
    tool_results(view).any(|(_, content)| content.contains(text))
}

/// Some connection tool's (`execute`, `read_file`) result contains `text`.
fn connection_text(view: &TraceView, text: &str) -> bool {
    tool_results(view).any(|(call, content)| is_connection_tool(call) && content.contains(text))
}

fn is_connection_tool(call: &CallView) -> bool {
    call.name == EXECUTE || call.name == READ_FILE
}

/// A tool's JSON result object.
fn json_results(view: &TraceView) -> impl Iterator<Item = (&CallView, &Map<String, Value>)> {
    view.calls
        .iter()
        .filter(|c| c.is_tool())
        .filter_map(|c| c.result.as_ref()?.json.as_ref().map(|json| (c, json)))
}

/// Some result is the quota result (`error_code` `INSUFFICIENT_QUOTA`)
/// of a call and `error` text `which` accepts.
fn quota_result(view: &TraceView, which: fn(&CallView, &str) -> bool) -> bool {
    json_results(view).any(|(call, result)| {
        let error = result
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default();
        result
            .get("error_code")
            .is_some_and(|c| c == INSUFFICIENT_QUOTA)
            && which(call, error)
    })
}

fn auto_update(view: &TraceView) -> bool {
    json_results(view).any(|(call, result)| {
        call.name == start_workspace::NAME
            && result
                .get("update_reason")
                .is_some_and(|r| r == UPDATE_REASON)
    })
}

/// The engine's log lines (`<level>: <message>`).
fn engine_log(view: &TraceView) -> impl Iterator<Item = &str> {
    view.records().iter().filter_map(|r| match &r.event {
        Event::Engine {
            kind: EngineEventKind::Log,
            detail,
        } => Some(detail.as_str()),
        _ => None,
    })
}

/// The engine's dial starts: (time, agent ID).
fn dial_starts(view: &TraceView) -> Vec<(Duration, &str)> {
    view.records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::Engine {
                kind: EngineEventKind::DialStart,
                detail,
            } => Some((r.at, detail.strip_prefix("agent=").unwrap_or(detail))),
            _ => None,
        })
        .collect()
}

fn lazy_validation_rebind(view: &TraceView) -> bool {
    let dials = dial_starts(view);
    let window = DEFAULT_DIAL_VALIDATION_DELAY + STATUS_SLACK;
    view.calls
        .iter()
        .filter(|c| is_connection_tool(c))
        .any(|call| {
            let end = call.result.as_ref().map_or(Duration::MAX, |r| r.at);
            let during: Vec<&(Duration, &str)> = dials
                .iter()
                .filter(|(at, _)| *at >= call.sent && *at <= end)
                .collect();
            during.windows(2).any(|pair| {
                let ((first_at, first), (next_at, next)) = (pair[0], pair[1]);
                first != next && next_at.saturating_sub(*first_at) <= window
            })
        })
}

fn context_fallback(view: &TraceView) -> bool {
    let mut pull_failed = false;
    for record in view.records() {
        match &record.event {
            Event::Engine {
                kind: EngineEventKind::Log,
                detail,
            } if detail.contains(CONTEXT_PULL_FAILED_LOG) => pull_failed = true,
            Event::TurnContext { prompt, .. } if pull_failed => {
                if !prompt.is_empty() {
                    return true;
                }
                pull_failed = false;
            }
            _ => {}
        }
    }
    false
}

fn turn_canceled(view: &TraceView) -> bool {
    let cancels: Vec<Duration> = view
        .records()
        .iter()
        .filter(|r| matches!(&r.event, Event::Fault { name, .. } if name == FaultKind::UserCancelsTurn.name()))
        .map(|r| r.at)
        .collect();
    view.calls.iter().filter(|c| c.is_tool()).any(|call| {
        let end = call.result.as_ref().map_or(Duration::MAX, |r| r.at);
        cancels.iter().any(|at| *at >= call.sent && *at <= end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_names_are_unique_and_dotted() {
        let mut names: Vec<&str> = GOALS.iter().map(|g| g.name).collect();
        assert!(names.iter().all(|n| n.split('.').count() == 2), "{names:?}");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), GOALS.len());
    }
}
