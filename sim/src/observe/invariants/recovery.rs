//! Recovery texts: stop/start advice only under the recovery gate, and the
//! external-agent preflight only for unreachable agents.

use std::time::Duration;

use chatsim_engine::chat::{AGENT_DISCONNECTED, AGENT_NEVER_CONNECTED};
use chatsim_engine::external_agent_unavailable_message;
use chatsim_engine::model::WorkspaceAgent;
use chatsim_engine::Time;

use super::{unwrap_lazy, violation, Input, Violation, STATUS_SLACK};
use crate::observe::trace::{format_time, AgentStatusKind};
use crate::observe::view::{AgentView, CallView, TraceView};

/// Stop/start advice only under the configured recovery gate.
pub const RECOVERY_ADVICE_GATED: &str = "recovery_advice_gated";
/// The external-agent preflight never fails a `connecting` agent.
pub const PREFLIGHT_SPARES_CONNECTING_AGENTS: &str = "preflight_spares_connecting_agents";

/// The phrase every stop/start recovery text carries.
pub const RECOVERY_PHRASE: &str = "call stop_workspace to stop the workspace, then start_workspace";

/// Whether a result tells the model to stop and then start the workspace.
pub fn is_recovery_advice(content: &str) -> bool {
    let text = unwrap_lazy(content);
    text == AGENT_DISCONNECTED || text == AGENT_NEVER_CONNECTED || text.contains(RECOVERY_PHRASE)
}

// ---- recovery_advice_gated -------------------------------------------------

pub(super) fn recovery_advice_gated(input: &Input<'_>) -> Vec<Violation> {
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
            out.push(violation(RECOVERY_ADVICE_GATED, result.at, message));
        }
    }
    out
}

/// Why the advice in `call`'s result was not allowed, if it was not.
fn advice_allowed(input: &Input<'_>, call: &CallView) -> Result<(), String> {
    let view = input.view;
    let s = input.settings;
    let result_at = call.result.as_ref().map_or(call.sent, |r| r.at);
    let workspace = bound_workspace(view, call, result_at)?;
    let earliest_timeout = call.sent + s.dial_timeout.0.saturating_sub(s.tick.0);
    if !dial_timed_out(view, workspace, earliest_timeout, result_at) {
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
    Err(format!(
        "the latest chat agent {} of {} read [{}], not disconnected for {} (the recovery threshold)",
        agent.name,
        build.label(),
        statuses_seen(agent, call.sent, window_end),
        s.recovery_threshold
    ))
}

/// The name of the workspace `call`'s chat was bound to at `at`.
fn bound_workspace<'v>(
    view: &'v TraceView,
    call: &CallView,
    at: Duration,
) -> Result<&'v String, String> {
    let chat = view.chat_of(call).ok_or("the call's turn is unknown")?;
    let ws_id = view
        .binding_at(chat, at)
        .ok_or_else(|| format!("chat {chat} had no workspace"))?;
    view.workspace_names
        .get(ws_id)
        .ok_or_else(|| format!("workspace {ws_id} was never built"))
}

/// Whether a dial of one of `workspace`'s agents was abandoned (the
/// engine's dial timeout) within `[from, to]`.
fn dial_timed_out(view: &TraceView, workspace: &str, from: Duration, to: Duration) -> bool {
    view.abandoned_dials.iter().any(|(at, agent)| {
        *at >= from && *at <= to && view.agent(agent).is_none_or(|a| a.workspace == workspace)
    })
}

/// The statuses an agent read during `[from, to]`, for messages.
fn statuses_seen(agent: &AgentView, from: Duration, to: Duration) -> String {
    agent
        .statuses_during(from, to)
        .iter()
        .map(|st| match st.since {
            Some(since) => format!("{} since {}s", st.status, format_time(since)),
            None => st.status.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- preflight_spares_connecting_agents -------------------------------------

/// The two texts of `ExternalAgentUnavailableMessage` (spec 1 §3.8): not
/// yet connected, and offline after having connected.
pub fn external_agent_unavailable_texts() -> [&'static str; 2] {
    let never = WorkspaceAgent::default();
    let once = WorkspaceAgent {
        first_connected_at: Some(Time::ZERO),
        ..WorkspaceAgent::default()
    };
    [
        external_agent_unavailable_message(&never),
        external_agent_unavailable_message(&once),
    ]
}

/// Spec 3 §2.2 step 5, §3.4: the preflight fails only an external agent
/// that reads disconnected or timeout and is still the latest chat agent;
/// `connecting` passes. A connection tool's plain-text external-unavailable
/// error with no dial timeout of the workspace during the call came from
/// the preflight (after a dial timeout the same text is the classification's
/// external override, §3.2 step 4, which covers any status). Such a result
/// needs the latest chat agent to have read unreachable during the call
/// (within the watcher's slack); vacuous when its status was never seen.
pub(super) fn preflight_spares_connecting_agents(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let texts = external_agent_unavailable_texts();
    let mut out = Vec::new();
    for call in view.calls.iter().filter(|c| c.is_tool()) {
        let Some(result) = &call.result else { continue };
        if !result.is_error || !texts.contains(&result.content.as_str()) {
            continue;
        }
        let Ok(workspace) = bound_workspace(view, call, result.at) else {
            continue;
        };
        if dial_timed_out(view, workspace, call.sent, result.at) {
            continue;
        }
        let Some(build) = view.latest_build(workspace, result.at) else {
            continue;
        };
        let Some(agent) = view.chat_agent_of(&build.id) else {
            continue;
        };
        let from = call.sent.saturating_sub(STATUS_SLACK);
        let to = result.at + STATUS_SLACK;
        let statuses = agent.statuses_during(from, to);
        if statuses.is_empty() || statuses.iter().any(|s| s.status.is_unreachable()) {
            continue;
        }
        let message = format!(
            "{} (turn {}, call {}) failed the external-agent preflight with {:?}, but the latest chat agent {} of {} read [{}]",
            call.name,
            call.turn,
            call.call,
            result.content,
            agent.name,
            build.label(),
            statuses_seen(agent, from, to)
        );
        out.push(violation(
            PREFLIGHT_SPARES_CONNECTING_AGENTS,
            result.at,
            message,
        ));
    }
    out
}
