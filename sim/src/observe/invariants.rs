//! The always-on invariants: named checks over a run's trace, each read
//! from what the world recorded — never from what the engine says about
//! itself. One file per family under `invariants/`; each invariant's name
//! is a `pub const` there, used by [`INVARIANTS`] and by the tests. Their
//! precise forms are in `docs/INVARIANTS.md`.
//!
//! | name | family | holds when |
//! |---|---|---|
//! | `recovery_advice_gated` | recovery | stop/start advice follows a dial timeout (an abandoned dial of the chat's workspace ≥ the dial timeout into the call) while the latest chat agent read disconnected ≥ the recovery threshold (or, with `never_connected_recovery`, `timeout`) |
//! | `preflight_spares_connecting_agents` | recovery | an external-agent-unavailable text error that no dial timeout preceded (the preflight) names a latest chat agent that read unreachable, never only `connecting`/`connected` |
//! | `no_create_build_for_external_agent` | builds | no chat's create hook enqueues a build of a template version with an external agent |
//! | `stopped_only_after_successful_stop` | builds | a `"stopped": true` result names a workspace whose latest build is a stop whose job succeeded |
//! | `one_build_in_flight_per_chat` | builds | a chat's tools never enqueue a build while another build they enqueued is pending or running (`canceling` counts as ended) |
//! | `chat_update_after_agent_wait` | builds | the second `OnChatUpdated` of a create/start call fires only after its agent wait ended, and never for a failed build |
//! | `insufficient_quota_only_from_commit` | quota | every `INSUFFICIENT_QUOTA` job follows a failed quota commit of that build, and every result carrying the code names such a build |
//! | `quota_decided_at_commit` | quota | a failed quota commit comes before its job ended, no apply-stage log follows it, and the job never succeeds after it |
//! | `quota_charged_once_per_build` | quota | no build has more than one successful quota commit |
//! | `retry_no_second_workspace` | retries | a chat's create enqueues a workspace only when its bound workspace is gone, failed, canceled, or its chat agent unreachable |
//! | `retry_no_second_charge` | retries | a chat's start never enqueues a start build on top of a start that is in flight or succeeded |
//! | `parallel_creates_one_workspace` | retries | overlapping `create_workspace` calls of one turn enqueue one workspace, unless the first's build failed or its agent became unreachable before the next |
//! | `tool_calls_end_within_bound` | bounds | every call gets a result within its bound (see [`call_bound`]), unless the driver lost the turn's connection (a cut link) |
//! | `model_within_call_cap` | bounds | no model turn ends by exceeding its call cap |
//! | `run_completes` | bounds | the run ended `ok`: no host panic, no run error |
//! | `context_refresh_every_turn` | context | under `every_turn`, an edited context file of a connected chat agent whose fetch provably succeeded is in the next turn's prompt; a turn whose fetch provably failed shows it only if an earlier prompt did |
//! | `model_facing_text_is_clean` | text | no Rust `Debug` form, panic or backtrace text, and no error prefix outside the spec's chains reaches a tool result or a prompt |
//! | `recovers_after_faults` | liveness | in a run ending with the liveness turn (the fuzzer's), the reference model ends it `done` or tells the user a reason the trace confirms |
//! | `truthful_build_state` | truth | `started` / `created` / `stopped` / create's `status` name a build (or the latest) in the state they say, when coderd built the response |
//! | `truthful_build_failure` | truth | a build-failure result names a build that failed with that error (and code), was canceled, or was still running at a timeout |
//! | `truthful_agent` | truth | `no_agent`, a ready agent, `startup_scripts_failed` + `lifecycle_state`, `startup_scripts_timeout` match the build's chat agent |
//! | `truthful_quota` | truth | a quota result's `credits_consumed` and `budget` are the owner's |
//! | `truthful_template` | truth | read_template's active version and parameters are the template's |
//!
//! The `truth` family (the truthfulness oracle) also returns known
//! upstream findings ([`Finding`], [`findings`]): contradictions upstream
//! makes by design, reported beside the violations, never failing a run.
//!
//! coderd's status watcher polls once a second, so agent-status records
//! may lag the database by up to [`STATUS_SLACK`]; checks that compare a
//! decision with an agent's status accept a record within that slack.

use std::fmt;
use std::time::Duration;

use chatsim_engine::chat::LAZY_VALIDATION_PREFIX;
use serde_json::Value;

use crate::observe::trace::{format_time, Event, Trace};
use crate::observe::view::TraceView;
use crate::plan::Settings;

mod bounds;
mod builds;
mod context;
mod liveness;
mod quota;
mod recovery;
mod retries;
mod text;
mod truth;

pub use bounds::{call_bound, MODEL_WITHIN_CALL_CAP, RUN_COMPLETES, TOOL_CALLS_END_WITHIN_BOUND};
pub use builds::{
    CHAT_UPDATE_AFTER_AGENT_WAIT, NO_CREATE_BUILD_FOR_EXTERNAL_AGENT, ONE_BUILD_IN_FLIGHT_PER_CHAT,
    STOPPED_ONLY_AFTER_SUCCESSFUL_STOP,
};
pub use context::CONTEXT_REFRESH_EVERY_TURN;
pub use liveness::{LIVENESS_TURN, RECOVERS_AFTER_FAULTS};
pub use quota::{
    INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT, QUOTA_CHARGED_ONCE_PER_BUILD, QUOTA_DECIDED_AT_COMMIT,
};
pub use recovery::{
    is_recovery_advice, PREFLIGHT_SPARES_CONNECTING_AGENTS, RECOVERY_ADVICE_GATED, RECOVERY_PHRASE,
};
pub use retries::{
    PARALLEL_CREATES_ONE_WORKSPACE, RETRY_NO_SECOND_CHARGE, RETRY_NO_SECOND_WORKSPACE,
};
pub use text::{MODEL_FACING_TEXT_IS_CLEAN, SPEC_ERROR_PREFIXES};
pub use truth::{
    findings, Finding, CLAIM_READ_BEFORE_WAIT, CREATE_JOINS_STOP_BUILD, FINDINGS,
    START_JOINS_STOP_BUILD, TRUTHFUL_AGENT, TRUTHFUL_BUILD_FAILURE, TRUTHFUL_BUILD_STATE,
    TRUTHFUL_QUOTA, TRUTHFUL_TEMPLATE,
};

/// How late coderd's status watcher may record a change.
pub const STATUS_SLACK: Duration = Duration::from_secs(1);

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: &'static str,
    /// Virtual time of the offending event.
    pub at: Duration,
    /// What happened, in words.
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
    /// The trace read as calls, builds and agents.
    pub view: &'a TraceView,
    /// The run's settings.
    pub settings: &'a Settings,
    /// The run's error, if it failed.
    pub run_error: Option<&'a str>,
    /// The truthfulness oracle's violations, judged once per run and
    /// shared by its five named invariants.
    pub truth: &'a [Violation],
}

type Check = fn(&Input<'_>) -> Vec<Violation>;

/// Every invariant, by name.
pub const INVARIANTS: [(&str, Check); 23] = [
    (RECOVERY_ADVICE_GATED, recovery::recovery_advice_gated),
    (
        PREFLIGHT_SPARES_CONNECTING_AGENTS,
        recovery::preflight_spares_connecting_agents,
    ),
    (
        NO_CREATE_BUILD_FOR_EXTERNAL_AGENT,
        builds::no_create_build_for_external_agent,
    ),
    (
        STOPPED_ONLY_AFTER_SUCCESSFUL_STOP,
        builds::stopped_only_after_successful_stop,
    ),
    (
        ONE_BUILD_IN_FLIGHT_PER_CHAT,
        builds::one_build_in_flight_per_chat,
    ),
    (
        CHAT_UPDATE_AFTER_AGENT_WAIT,
        builds::chat_update_after_agent_wait,
    ),
    (
        INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT,
        quota::insufficient_quota_only_from_commit,
    ),
    (QUOTA_DECIDED_AT_COMMIT, quota::quota_decided_at_commit),
    (
        QUOTA_CHARGED_ONCE_PER_BUILD,
        quota::quota_charged_once_per_build,
    ),
    (
        RETRY_NO_SECOND_WORKSPACE,
        retries::retry_no_second_workspace,
    ),
    (RETRY_NO_SECOND_CHARGE, retries::retry_no_second_charge),
    (
        PARALLEL_CREATES_ONE_WORKSPACE,
        retries::parallel_creates_one_workspace,
    ),
    (
        TOOL_CALLS_END_WITHIN_BOUND,
        bounds::tool_calls_end_within_bound,
    ),
    (MODEL_WITHIN_CALL_CAP, bounds::model_within_call_cap),
    (RUN_COMPLETES, bounds::run_completes),
    (
        CONTEXT_REFRESH_EVERY_TURN,
        context::context_refresh_every_turn,
    ),
    (MODEL_FACING_TEXT_IS_CLEAN, text::model_facing_text_is_clean),
    (RECOVERS_AFTER_FAULTS, liveness::recovers_after_faults),
    (TRUTHFUL_BUILD_STATE, truth::build_state),
    (TRUTHFUL_BUILD_FAILURE, truth::build_failure),
    (TRUTHFUL_AGENT, truth::agent),
    (TRUTHFUL_QUOTA, truth::quota),
    (TRUTHFUL_TEMPLATE, truth::template),
];

/// What checking a run found: every violation, in check order, and the
/// oracle's known upstream findings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checks {
    /// Every invariant violated, in [`INVARIANTS`] order.
    pub violations: Vec<Violation>,
    /// The known upstream findings, in call order.
    pub findings: Vec<Finding>,
}

/// Checks every invariant on a trace.
pub fn check_trace(trace: &Trace, settings: &Settings, run_error: Option<&str>) -> Vec<Violation> {
    check_view(&TraceView::new(trace), settings, run_error).violations
}

/// Checks every invariant on a trace already read back, judging the
/// truthfulness oracle once for its invariants and its findings.
pub fn check_view(view: &TraceView, settings: &Settings, run_error: Option<&str>) -> Checks {
    let (truth, findings) = truth::judge(view);
    let input = Input {
        view,
        settings,
        run_error,
        truth: &truth,
    };
    let violations = INVARIANTS
        .iter()
        .flat_map(|(_, check)| check(&input))
        .collect();
    Checks {
        violations,
        findings,
    }
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

/// Whether a `db_query_fails` fault on one of `queries` (any query when
/// `queries` is empty) was in effect at `at` (from the fault's start until
/// its duration ran out; for good without one).
fn queries_failing(view: &TraceView, queries: &[&str], at: Duration) -> bool {
    queries_failing_during(view, queries, at, at)
}

/// Whether such a fault was in effect at some instant of `[from, to]`.
fn queries_failing_during(
    view: &TraceView,
    queries: &[&str],
    from: Duration,
    to: Duration,
) -> bool {
    view.trace.records().iter().any(|r| match &r.event {
        Event::Fault { name, params } if name == "db_query_fails" && r.at <= to => {
            let query = params.get("query").and_then(Value::as_str);
            let lasts = params
                .get("duration")
                .and_then(Value::as_str)
                .and_then(|d| crate::plan::parse_duration(d).ok());
            let named = queries.is_empty() || query.is_some_and(|q| queries.contains(&q));
            named && lasts.is_none_or(|d| from <= r.at + d)
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests;
