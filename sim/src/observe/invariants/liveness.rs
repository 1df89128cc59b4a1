//! Liveness (`recovers_after_faults`), as TigerBeetle's VOPR checks it
//! after its safety phase. A run that ends with a turn named
//! [`LIVENESS_TURN`] — the fuzzer appends one once every fault has ended
//! and cut links are repaired — promises that the world has healed: the
//! reference model asked to run a command must end `done`, or tell the
//! user a reason the trace confirms. Vacuous in a run without that turn.

use std::ops::RangeInclusive;
use std::time::Duration;

use chatsim_engine::model::{JobStatus, LifecycleState};

use super::{violation, Input, Violation};
use crate::observe::trace::{AgentStatusKind, DialOutcome, Event, ModelOutcome, Trace};

/// The invariant's name.
pub const RECOVERS_AFTER_FAULTS: &str = "recovers_after_faults";
/// The name of the turn the promise is about.
pub const LIVENESS_TURN: &str = "recovers_after_faults";

/// The check.
pub(super) fn recovers_after_faults(input: &Input<'_>) -> Vec<Violation> {
    let Some(turn) = input
        .view
        .turns
        .iter()
        .find(|t| t.name.as_deref() == Some(LIVENESS_TURN))
    else {
        return vec![];
    };
    let fail = |at: Duration, message: String| vec![violation(RECOVERS_AFTER_FAULTS, at, message)];
    match &turn.model_outcome {
        None if input.run_error.is_some() => vec![], // run_completes reports it
        None => fail(
            turn.started,
            "the reference model never ended the liveness turn".into(),
        ),
        Some((ModelOutcome::Done, ..)) => vec![],
        Some((ModelOutcome::ToldUser, Some(reason), _)) => {
            let end = turn.ended.as_ref().map_or(Duration::MAX, |(at, _)| *at);
            let threshold = input.settings.recovery_threshold.0;
            if confirmed(reason, &input.view.trace, turn.started..=end, threshold) {
                vec![]
            } else {
                let at = turn.ended.as_ref().map_or(turn.started, |(at, _)| *at);
                fail(at, format!(
                    "after every fault had ended, the model told the user `{reason}`, which the trace does not confirm"
                ))
            }
        }
        Some((outcome, ..)) => fail(
            turn.started,
            format!("after every fault had ended, the liveness turn ended `{outcome}`"),
        ),
    }
}

/// What the trace shows about the world, for the reasons a model gives.
#[derive(Default)]
struct Evidence {
    quota_failed: bool,
    build_failed: bool,
    build_failed_in_turn: bool,
    created_in_turn: bool,
    /// A template gained a required parameter nobody gave a value.
    parameters_missing: bool,
    startup_failed: bool,
    broken_image: bool,
    /// A build of a template version with an external agent: an agent
    /// that runs only when someone starts it by hand.
    external_agent: bool,
    /// Dials that did not connect during the liveness turn.
    failed_dials_in_turn: usize,
    /// A chat agent read `disconnected` for the recovery threshold before
    /// the turn ended: the tools owed the model stop/start advice.
    recovery_due: bool,
}

fn evidence(trace: &Trace, turn: &RangeInclusive<Duration>, threshold: Duration) -> Evidence {
    let mut seen = Evidence::default();
    for record in trace.records() {
        match &record.event {
            Event::AgentStatus {
                to: AgentStatusKind::Disconnected,
                chat_agent: true,
                since,
                ..
            } => {
                let since = since.unwrap_or(record.at);
                seen.recovery_due |= since + threshold <= *turn.end();
            }
            Event::Dial { outcome, .. }
                if *outcome != DialOutcome::Ok && turn.contains(&record.at) =>
            {
                seen.failed_dials_in_turn += 1
            }
            Event::ToolCall { name, .. }
                if name == "create_workspace" && turn.contains(&record.at) =>
            {
                seen.created_in_turn = true
            }
            Event::QuotaCommit { ok: false, .. } => seen.quota_failed = true,
            Event::Enqueue {
                external_agent: true,
                ..
            } => seen.external_agent = true,
            Event::Job { status, .. } if *status == JobStatus::Failed => {
                seen.build_failed = true;
                seen.build_failed_in_turn |= turn.contains(&record.at);
            }
            Event::AgentLifecycle {
                state: LifecycleState::StartError | LifecycleState::StartTimeout,
                ..
            } => seen.startup_failed = true,
            Event::Fault { name, params } => match name.as_str() {
                "agent_never_connects" => seen.broken_image = true,
                "new_template_version" => {
                    let required = params.get("required_parameters").and_then(|r| r.as_array());
                    seen.parameters_missing |= required.is_some_and(|r| !r.is_empty());
                }
                _ => {}
            },
            _ => {}
        }
    }
    seen
}

/// Whether the trace confirms what the model told the user.
fn confirmed(
    reason: &str,
    trace: &Trace,
    turn: RangeInclusive<Duration>,
    threshold: Duration,
) -> bool {
    let seen = evidence(trace, &turn, threshold);
    match reason {
        // The dials did time out, again and again, in this turn, and no
        // chat agent had read disconnected for the recovery threshold, so
        // the tools rightly gave no stop/start advice (e.g. an agent killed
        // before it ever connected reads `connecting` until its connection
        // timeout, and the gate spares it): the model had nothing to follow.
        "dial_timeout_repeated" if seen.failed_dials_in_turn >= 2 && !seen.recovery_due => true,
        "quota" => seen.quota_failed,
        "manual_update" => seen.parameters_missing,
        "external_agent" => seen.external_agent,
        // A failed build, a missing parameter, a broken image or failing
        // startup scripts: the workspace cannot come up, whatever the
        // model does.
        // A build the turn saw fail fails during it (the faults are over),
        // and a missing parameter fails a create (start asks for it:
        // `manual_update`). A refused start enqueues nothing and confirms
        // nothing.
        "build_failed" => {
            seen.build_failed_in_turn
                || (seen.parameters_missing && seen.created_in_turn)
                || seen.startup_failed
                || seen.broken_image
        }
        "dial_timeout_repeated" | "recovery_failed" => {
            seen.build_failed || seen.parameters_missing || seen.startup_failed || seen.broken_image
        }
        _ => false,
    }
}
