//! Builds the chat's tools ask for: no create of an external-agent
//! template, `stopped: true` only after a successful stop, one build in
//! flight per chat, and the second `OnChatUpdated` only after the agent wait.

use std::time::Duration;

use chatsim_engine::model::{JobStatus, LifecycleState, Transition};
use chatsim_engine::AGENT_CONNECT_TIMEOUT;
use serde_json::Value;

use super::{violation, Input, Violation};
use crate::observe::trace::{format_time, Event, Hook};
use crate::observe::view::{BuildView, CallView, TraceView};

/// create_workspace never builds a template whose active version has an
/// external agent.
pub const NO_CREATE_BUILD_FOR_EXTERNAL_AGENT: &str = "no_create_build_for_external_agent";
/// `stopped: true` only when the latest stop build succeeded.
pub const STOPPED_ONLY_AFTER_SUCCESSFUL_STOP: &str = "stopped_only_after_successful_stop";
/// At most one build in flight per chat among the builds its tools enqueued.
pub const ONE_BUILD_IN_FLIGHT_PER_CHAT: &str = "one_build_in_flight_per_chat";
/// The second `OnChatUpdated` of create/start waits for the agent.
pub const CHAT_UPDATE_AFTER_AGENT_WAIT: &str = "chat_update_after_agent_wait";

// ---- no_create_build_for_external_agent -----------------------------------

pub(super) fn no_create_build_for_external_agent(input: &Input<'_>) -> Vec<Violation> {
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
            violation(NO_CREATE_BUILD_FOR_EXTERNAL_AGENT, b.enqueued, message)
        })
        .collect()
}

// ---- stopped_only_after_successful_stop -----------------------------------

pub(super) fn stopped_only_after_successful_stop(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for call in view.calls.iter().filter(|c| c.is_tool()) {
        let Some(result) = &call.result else { continue };
        let Some(obj) = &result.json else {
            continue;
        };
        if obj.get("stopped") != Some(&Value::Bool(true)) {
            continue;
        }
        let workspace = obj
            .get("workspace_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // The tool read the build somewhere between the call and its
        // result: the claim holds if the latest build was a succeeded stop
        // (the one it names) at the result, or at any job change within.
        let stopped_at = |at: Duration| {
            view.latest_build(workspace, at).is_some_and(|b| {
                b.transition == Transition::Stop
                    && b.status_at(at) == JobStatus::Succeeded
                    && obj
                        .get("build_id")
                        .and_then(Value::as_str)
                        .is_none_or(|id| id == b.id)
            })
        };
        let changes = view
            .builds
            .iter()
            .filter(|b| b.workspace == workspace)
            .flat_map(|b| b.statuses.iter().map(|(at, ..)| *at))
            .filter(|at| (call.sent..=result.at).contains(at));
        let ok = stopped_at(result.at) || changes.into_iter().any(stopped_at);
        let latest = view.latest_build(workspace, result.at);
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
                STOPPED_ONLY_AFTER_SUCCESSFUL_STOP,
                result.at,
                message,
            ));
        }
    }
    out
}

// ---- one_build_in_flight_per_chat -----------------------------------------

pub(super) fn one_build_in_flight_per_chat(input: &Input<'_>) -> Vec<Violation> {
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
            out.push(violation(ONE_BUILD_IN_FLIGHT_PER_CHAT, b.enqueued, message));
        }
    }
    out
}

// ---- chat_update_after_agent_wait ------------------------------------------

/// The read that selects the agent to wait on (spec 1 §3.3 step 21).
const AGENTS_READ: &str = "get_workspace_agents_in_latest_build_by_workspace_id";

/// The tools whose call fires `OnChatUpdated` (create and start fire a
/// second one after the agent wait; stop's are not about an agent).
const LIFECYCLE_TOOLS: [&str; 3] = ["create_workspace", "start_workspace", "stop_workspace"];

/// Agent-wait outcomes that end the wait without a ready lifecycle: no
/// agent, a selection error, a canceled context, or a failed agents read
/// (spec 1 §3.3 step 21: no agent keys at all, no wait). A result without
/// agent keys is also what a wait that ended ready gives, so it counts as
/// a skipped wait only while the agents read was failing (`agents_read_failing`).
fn wait_skipped_or_canceled(
    obj: &serde_json::Map<String, Value>,
    agents_read_failing: bool,
) -> bool {
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
    (!obj.contains_key("agent_status") && agents_read_failing)
        || matches!(text("agent_status"), "no_agent" | "selection_error")
        || text("startup_scripts") == "startup_scripts_unknown"
        || text("agent_error").contains("context canceled")
}

/// Spec 1 §3.12 and §3.3 steps 18–23, spec 2 §1.2 steps 6c, 9–13: create
/// and start fire `OnChatUpdated` once when they bind the build and a
/// second time only after the build succeeded and the agent wait ended
/// (ready, failed, or its bound passed); a failed build fires only the
/// first. Read per create/start call that no other lifecycle call of its
/// chat overlapped (the per-chat lock serialises them; with overlap the
/// updates cannot be told apart — vacuous): when its window `(sent,
/// result]` holds two or more `chat_updated` records of its chat, the
/// last one (the second fire) must come after the bound build (the first
/// record's) succeeded, and after its chat agent reached a lifecycle state
/// past `starting` or `AGENT_CONNECT_TIMEOUT` passed since the build
/// succeeded (a dial phase that gave up), unless the result shows no wait
/// (no agent, a selection error) or a canceled one, or the user canceled
/// the turn during the call (spec 1 §3.8: a canceled wait of an external
/// agent reports the external-agent guidance, not `context canceled`).
pub(super) fn chat_update_after_agent_wait(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for call in view.calls.iter().filter(|c| {
        c.is_tool() && matches!(c.name.as_str(), "create_workspace" | "start_workspace")
    }) {
        let Some(result) = &call.result else { continue };
        let Some(chat) = view.chat_of(call) else {
            continue;
        };
        if overlapped(view, call, chat) {
            continue;
        }
        let updates = chat_updates(view, chat, call.sent, result.at);
        let [first, .., last] = updates.as_slice() else {
            continue; // fewer than two updates: no second fire
        };
        let second_at = last.0;
        let Some(build) = first.1.as_deref().and_then(|id| view.build(id)) else {
            continue;
        };
        if turn_canceled_before(view, call.sent, second_at) {
            continue;
        }
        let obj = result.json.clone().unwrap_or_default();
        if let Err(why) = second_update_allowed(view, build, second_at, &obj) {
            let message = format!(
                "{} (turn {}, call {}) fired its second OnChatUpdated at {}s, but {why}",
                call.name,
                call.turn,
                call.call,
                format_time(second_at)
            );
            out.push(violation(CHAT_UPDATE_AFTER_AGENT_WAIT, second_at, message));
        }
    }
    out
}

/// Whether a `user_cancels_turn` fault took effect in `[from, to]`.
fn turn_canceled_before(view: &TraceView, from: Duration, to: Duration) -> bool {
    view.trace.records().iter().any(|r| {
        (from..=to).contains(&r.at)
            && matches!(&r.event, Event::Fault { name, .. } if name == "user_cancels_turn")
    })
}

/// Why a second update of `build`'s call at `at` was too early, if it was.
fn second_update_allowed(
    view: &TraceView,
    build: &BuildView,
    at: Duration,
    result: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    let succeeded = build
        .statuses
        .iter()
        .find(|(_, s, _)| *s == JobStatus::Succeeded)
        .map(|(t, _, _)| *t);
    let status = build.status_at(at);
    let Some(succeeded) = succeeded.filter(|t| *t <= at) else {
        return Err(format!(
            "its build {} was {} then (a second update needs a succeeded build)",
            build.label(),
            status.as_str()
        ));
    };
    let agents_read_failing = super::queries_failing_during(view, &[AGENTS_READ], succeeded, at);
    if wait_skipped_or_canceled(result, agents_read_failing)
        || at >= succeeded + AGENT_CONNECT_TIMEOUT
    {
        return Ok(());
    }
    let Some(agent) = view.chat_agent_of(&build.id) else {
        return Ok(()); // the watcher never saw its chat agent: vacuous
    };
    let ended = lifecycle_wait_ended(view, &agent.id, at);
    if ended {
        return Ok(());
    }
    Err(format!(
        "the chat agent {} of {} had not reached ready or a failed lifecycle, and the dial phase's {}s had not passed since the build succeeded at {}s",
        agent.name,
        build.label(),
        AGENT_CONNECT_TIMEOUT.as_secs(),
        format_time(succeeded)
    ))
}

/// Whether the agent reported a lifecycle state past `created`/`starting`
/// by `at` (ready, or one that ends the startup-script wait).
fn lifecycle_wait_ended(view: &TraceView, agent: &str, at: Duration) -> bool {
    view.records().iter().any(|r| {
        r.at <= at
            && matches!(&r.event, Event::AgentLifecycle { agent: a, state }
                if a == agent && !matches!(state, LifecycleState::Created | LifecycleState::Starting))
    })
}

/// Whether another lifecycle call of the chat ran during `call`.
fn overlapped(view: &TraceView, call: &CallView, chat: &str) -> bool {
    let end = call.result.as_ref().map_or(Duration::MAX, |r| r.at);
    view.calls.iter().any(|o| {
        o != call
            && LIFECYCLE_TOOLS.contains(&o.name.as_str())
            && view.chat_of(o) == Some(chat)
            // Strictly: a call sent at the instant the other answered
            // (one after another in a turn) does not overlap it, and the
            // windows `(sent, result]` do not share an update.
            && o.sent < end
            && o.result.as_ref().is_none_or(|r| r.at > call.sent)
    })
}

/// The `chat_updated` records of a chat (by name) in `(from, to]`: time
/// and bound build.
fn chat_updates(
    view: &TraceView,
    chat: &str,
    from: Duration,
    to: Duration,
) -> Vec<(Duration, Option<String>)> {
    view.records()
        .iter()
        .filter(|r| r.at > from && r.at <= to)
        .filter_map(|r| match &r.event {
            Event::ChatUpdated {
                chat: id, build, ..
            } if view.chat_names.get(id).map_or(id.as_str(), |n| n.as_str()) == chat => {
                Some((r.at, build.clone()))
            }
            _ => None,
        })
        .collect()
}
