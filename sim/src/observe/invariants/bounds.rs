//! Bounds: every call returns within its bound, the model within its call
//! cap, and the run completes.

use std::time::Duration;

use chatsim_engine::{AGENT_CONNECT_TIMEOUT, BUILD_TIMEOUT, STARTUP_SCRIPT_TIMEOUT};

use super::{violation, Input, Violation};
use crate::observe::trace::{format_time, ModelOutcome, RunEnding, TurnEnding};
use crate::observe::view::TraceView;
use crate::plan::Settings;

/// Every tool call ends within its bound.
pub const TOOL_CALLS_END_WITHIN_BOUND: &str = "tool_calls_end_within_bound";
/// The model stays within its call cap.
pub const MODEL_WITHIN_CALL_CAP: &str = "model_within_call_cap";
/// The run ends `ok`.
pub const RUN_COMPLETES: &str = "run_completes";

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

pub(super) fn tool_calls_end_within_bound(input: &Input<'_>) -> Vec<Violation> {
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
                out.push(violation(TOOL_CALLS_END_WITHIN_BOUND, r.at, message));
            }
            // The driver lost its connection (a cut link): the call ran on
            // in coderd, unseen; the turn's end says so.
            None if turn_lost(view, call.turn) => {}
            None if input.run_error.is_none() => {
                let message = format!(
                    "{} (turn {}, call {}) never returned",
                    call.name, call.turn, call.call
                );
                out.push(violation(TOOL_CALLS_END_WITHIN_BOUND, call.sent, message));
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

pub(super) fn model_within_call_cap(input: &Input<'_>) -> Vec<Violation> {
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
                violation(MODEL_WITHIN_CALL_CAP, at, message)
            })
        })
        .collect()
}

pub(super) fn run_completes(input: &Input<'_>) -> Vec<Violation> {
    let end = input.view.run_end.as_ref();
    let error = input.run_error.map(str::to_string).or_else(|| match end {
        Some(RunEnding::Ok) => None,
        Some(other) => Some(other.to_string()),
        None => Some("the trace has no run_end".to_string()),
    });
    let at = input.view.records().last().map_or(Duration::ZERO, |r| r.at);
    error
        .map(|e| violation(RUN_COMPLETES, at, format!("the run failed: {e}")))
        .into_iter()
        .collect()
}
