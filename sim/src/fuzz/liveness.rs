//! Liveness (`recovers_after_faults`), as TigerBeetle's VOPR checks it
//! after its safety phase: once the schedule's last fault has ended and
//! cut links are repaired, the reference model asked to run a command must
//! end `done`, or tell the user a reason the world confirms — never run
//! out of calls, lose its turn, or give up on a world that had healed.

use std::time::Duration;

use super::schedule::LIVENESS_TURN;
use crate::harness::RunOutcome;
use crate::observe::invariants::Violation;
use crate::observe::trace::Event;
use crate::plan::{Fault, RunConfig};

/// The invariant's name.
pub const RECOVERS_AFTER_FAULTS: &str = "recovers_after_faults";

/// Checks the liveness turn of a fuzz run (vacuous when the run has none).
pub fn check(outcome: &RunOutcome, config: &RunConfig) -> Vec<Violation> {
    let records = outcome.trace.records();
    let liveness_turn = records.iter().find_map(|r| match &r.event {
        Event::TurnStart {
            turn,
            name: Some(name),
            ..
        } if name == LIVENESS_TURN => Some((*turn, r.at())),
        _ => None,
    });
    let has_liveness = config
        .turns
        .iter()
        .any(|t| t.name.as_deref() == Some(LIVENESS_TURN));
    let violation = |at: Duration, message: String| Violation {
        invariant: RECOVERS_AFTER_FAULTS,
        at,
        message,
    };
    let Some((turn_no, started)) = liveness_turn else {
        if has_liveness && outcome.error.is_none() {
            return vec![violation(
                outcome.elapsed,
                "the liveness turn never started".into(),
            )];
        }
        return vec![];
    };
    let ended = records.iter().find_map(|r| match &r.event {
        Event::ModelOutcome {
            turn,
            outcome,
            reason,
            ..
        } if *turn == turn_no => Some((r.at(), outcome.clone(), reason.clone())),
        _ => None,
    });
    match ended {
        None => vec![violation(
            started,
            "the reference model never ended the liveness turn".into(),
        )],
        Some((_, outcome, _)) if outcome == "done" => vec![],
        Some((at, outcome, Some(reason))) if outcome == "told_user" => {
            match confirmed(&reason, outcome_evidence(&records), config) {
                true => vec![],
                false => vec![violation(
                    at,
                    format!(
                        "after every fault had ended, the model told the user `{reason}`, which the world does not confirm"
                    ),
                )],
            }
        }
        Some((at, outcome, _)) => vec![violation(
            at,
            format!("after every fault had ended, the liveness turn ended `{outcome}`"),
        )],
    }
}

/// What the trace shows happened to builds.
struct Evidence {
    quota_failed: bool,
    build_failed: bool,
}

fn outcome_evidence(records: &[crate::observe::trace::Record]) -> Evidence {
    let mut evidence = Evidence {
        quota_failed: false,
        build_failed: false,
    };
    for record in records {
        match &record.event {
            Event::QuotaCommit { ok: false, .. } => evidence.quota_failed = true,
            Event::Job { status, .. } if status == "failed" => evidence.build_failed = true,
            _ => {}
        }
    }
    evidence
}

/// Whether the world confirms what the model told the user.
fn confirmed(reason: &str, evidence: Evidence, config: &RunConfig) -> bool {
    let any_fault = |pred: &dyn Fn(&Fault) -> bool| config.faults.iter().any(|f| pred(&f.fault));
    let startup_fails = config
        .world
        .templates
        .iter()
        .flat_map(|t| &t.versions)
        .flat_map(|v| &v.agents)
        .any(|a| a.behaviour.startup_fails);
    // A new required parameter nobody gave a value: create and start
    // cannot pass validation until the user answers.
    let parameters_missing = any_fault(
        &|f| matches!(f, Fault::NewTemplateVersion { required_parameters, .. } if !required_parameters.is_empty()),
    );
    match reason {
        "quota" => evidence.quota_failed,
        "manual_update" => parameters_missing,
        // A failed stop or start build, a broken image or failing startup
        // scripts: the workspace cannot come up, whatever the model does.
        "build_failed" | "dial_timeout_repeated" | "recovery_failed" => {
            evidence.build_failed
                || parameters_missing
                || startup_fails
                || any_fault(&|f| matches!(f, Fault::AgentNeverConnects { .. }))
        }
        _ => false,
    }
}
