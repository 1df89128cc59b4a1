//! Model personas: LLM behaviours the tools must hold up under. Each wraps
//! the reference model — it pursues the same goal with the same reading of
//! the tools' texts — and misbehaves in one named way. Whatever a persona
//! does, the always-on invariants must hold: no second workspace, no double
//! quota charge, no call past its bound, no endless loop.
//!
//! The misbehaviour adds a bounded number of calls per turn (each
//! persona's `*_LIMIT`), so a persona never loops: its turn ends when the
//! reference model's would, or at the reference model's call cap.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::{CallResult, ModelReport, ReferencePolicy, TurnPolicy};
use crate::plan::Call;

/// The workspace lifecycle tools (the ones that take the chat's lock and
/// may enqueue a build).
const LIFECYCLE_TOOLS: [&str; 3] = ["create_workspace", "start_workspace", "stop_workspace"];

/// Whether a result reads as an error to a model: a text error, or a JSON
/// result with an `error` key (a failed build, a refused start).
pub fn is_failure(result: &CallResult) -> bool {
    result.is_error
        || serde_json::from_str::<Value>(&result.content)
            .is_ok_and(|v| v.get("error").is_some_and(|e| !e.is_null()))
}

fn tool_name(call: &Call) -> Option<&str> {
    match call {
        Call::Tool { name, .. } => Some(name),
        _ => None,
    }
}

fn report_with_extra(inner: &ReferencePolicy, extra: usize) -> Option<ModelReport> {
    inner.report().map(|mut report| {
        report.calls += extra;
        report
    })
}

// ---- impatient_retrier ------------------------------------------------------

/// Repeats at once, once, a call that answered an error (without reading
/// it), up to [`ImpatientRetrier::RETRY_LIMIT`] times a turn; the reference
/// model reads the repeat's result.
pub struct ImpatientRetrier {
    inner: ReferencePolicy,
    retries: usize,
    /// The call in flight is a repeat (a repeat is not repeated).
    repeating: bool,
}

impl ImpatientRetrier {
    /// Repeats per turn.
    pub const RETRY_LIMIT: usize = 3;

    /// The persona around `inner`.
    pub fn new(inner: ReferencePolicy) -> Self {
        ImpatientRetrier {
            inner,
            retries: 0,
            repeating: false,
        }
    }
}

impl TurnPolicy for ImpatientRetrier {
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call> {
        if let Some((call, result)) = finished {
            if is_failure(result) && !self.repeating && self.retries < Self::RETRY_LIMIT {
                self.retries += 1;
                self.repeating = true;
                return vec![call.clone()];
            }
        }
        self.repeating = false;
        self.inner.next(finished)
    }

    fn report(&self) -> Option<ModelReport> {
        report_with_extra(&self.inner, self.retries)
    }
}

// ---- parallel_caller --------------------------------------------------------

/// Sends every workspace lifecycle call twice in one message (parallel tool
/// calls); once both have answered, the reference model reads one result —
/// the first without an error, else the first to arrive.
pub struct ParallelCaller {
    inner: ReferencePolicy,
    /// Results still due of the current parallel group.
    due: usize,
    /// The group's result the reference model will read.
    chosen: Option<(Call, CallResult)>,
    extra: usize,
}

impl ParallelCaller {
    /// Copies of a lifecycle call in one message.
    pub const COPIES: usize = 2;

    /// The persona around `inner`.
    pub fn new(inner: ReferencePolicy) -> Self {
        ParallelCaller {
            inner,
            due: 0,
            chosen: None,
            extra: 0,
        }
    }

    fn fan_out(&mut self, calls: Vec<Call>) -> Vec<Call> {
        let mut out = Vec::new();
        for call in calls {
            let copies = match tool_name(&call) {
                Some(name) if LIFECYCLE_TOOLS.contains(&name) => Self::COPIES,
                _ => 1,
            };
            self.due += copies;
            self.extra += copies - 1;
            out.extend(std::iter::repeat_n(call, copies));
        }
        out
    }
}

impl TurnPolicy for ParallelCaller {
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call> {
        let Some((call, result)) = finished else {
            let first = self.inner.next(None);
            return self.fan_out(first);
        };
        self.due = self.due.saturating_sub(1);
        let better = match &self.chosen {
            None => true,
            Some((_, kept)) => is_failure(kept) && !is_failure(result),
        };
        if better {
            self.chosen = Some((call.clone(), result.clone()));
        }
        if self.due > 0 {
            return vec![];
        }
        let Some((call, result)) = self.chosen.take() else {
            return vec![];
        };
        let next = self.inner.next(Some((&call, &result)));
        self.fan_out(next)
    }

    fn report(&self) -> Option<ModelReport> {
        report_with_extra(&self.inner, self.extra)
    }
}

// ---- error_ignorer ----------------------------------------------------------

/// Reads every error as a success (an empty JSON object) and carries on
/// with its plan; it may well end the turn `done` without its goal.
pub struct ErrorIgnorer {
    inner: ReferencePolicy,
}

impl ErrorIgnorer {
    /// The persona around `inner`.
    pub fn new(inner: ReferencePolicy) -> Self {
        ErrorIgnorer { inner }
    }
}

impl TurnPolicy for ErrorIgnorer {
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call> {
        match finished {
            Some((call, result)) if is_failure(result) => {
                let ignored = CallResult {
                    content: "{}".into(),
                    is_error: false,
                };
                self.inner.next(Some((call, &ignored)))
            }
            other => self.inner.next(other),
        }
    }

    fn report(&self) -> Option<ModelReport> {
        self.inner.report()
    }
}

// ---- stale_id_sender --------------------------------------------------------

/// Sends a call carrying an ID first with a stale or made-up one — an ID
/// seen earlier in the run (a deleted or old workspace, another template,
/// a build, a preset of another version) or a random UUID: `template_id`
/// of `create_workspace` and `read_template`, an added `preset_id` on
/// `create_workspace`, an added `workspace_id` (a field the tools do not
/// take) on `start_workspace` and `stop_workspace`. When that call answers
/// an error the model corrects itself and sends the real call; the
/// reference model reads the last answer. At most one stale call per tool
/// per turn.
pub struct StaleIdSender {
    inner: ReferencePolicy,
    /// IDs the model saw in earlier results of the run.
    seen: Vec<String>,
    rng: ChaCha8Rng,
    /// Tools already sent with a stale ID this turn.
    spoiled: BTreeSet<String>,
    /// The real call to send if the stale one fails.
    correction: Option<Call>,
    extra: usize,
}

impl StaleIdSender {
    /// The persona around `inner`: `seen` are IDs from earlier results,
    /// `seed` seeds its choices.
    pub fn new(inner: ReferencePolicy, seen: Vec<String>, seed: u64) -> Self {
        StaleIdSender {
            inner,
            seen,
            rng: ChaCha8Rng::seed_from_u64(seed),
            spoiled: BTreeSet::new(),
            correction: None,
            extra: 0,
        }
    }

    /// A stale ID other than `real` (half the time, when one was seen), or a
    /// made-up version-4 UUID.
    fn wrong_id(&mut self, real: Option<&str>) -> String {
        let stale: Vec<&String> = self
            .seen
            .iter()
            .filter(|id| Some(id.as_str()) != real)
            .collect();
        if self.rng.gen_bool(0.5) {
            if let Some(id) = stale.choose(&mut self.rng) {
                return (*id).clone();
            }
        }
        let bytes: [u8; 16] = self.rng.gen();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// `call` with a wrong ID, if it is a call that carries one and its tool
    /// was not spoiled yet this turn.
    fn spoil(&mut self, call: &Call) -> Option<Call> {
        let Call::Tool { name, input } = call else {
            return None;
        };
        if self.spoiled.contains(name) {
            return None;
        }
        let mut input = match input {
            Value::Object(_) => input.clone(),
            _ => json!({}),
        };
        let real = input["template_id"].as_str().map(str::to_string);
        match name.as_str() {
            "read_template" => input["template_id"] = json!(self.wrong_id(real.as_deref())),
            "create_workspace" if self.rng.gen_bool(0.5) => {
                input["template_id"] = json!(self.wrong_id(real.as_deref()))
            }
            "create_workspace" => input["preset_id"] = json!(self.wrong_id(None)),
            "start_workspace" | "stop_workspace" => {
                input["workspace_id"] = json!(self.wrong_id(None))
            }
            _ => return None,
        }
        self.spoiled.insert(name.clone());
        Some(Call::tool(name, input))
    }

    fn send(&mut self, calls: Vec<Call>) -> Vec<Call> {
        calls
            .into_iter()
            .map(|call| match self.spoil(&call) {
                Some(stale) => {
                    self.extra += 1;
                    self.correction = Some(call);
                    stale
                }
                None => call,
            })
            .collect()
    }
}

impl TurnPolicy for StaleIdSender {
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call> {
        if let Some((_, result)) = finished {
            if let Some(real) = self.correction.take() {
                if is_failure(result) {
                    return vec![real];
                }
                // The stale ID happened to work: the model reads that answer.
                self.extra -= 1;
            }
        }
        let next = self.inner.next(finished);
        self.send(next)
    }

    fn report(&self) -> Option<ModelReport> {
        report_with_extra(&self.inner, self.extra)
    }
}

// ---- timeout_retrier --------------------------------------------------------

/// The model's own side gives up on a call after its patience and sends it
/// again, never seeing the first result (the call runs on in coderd);
/// after [`TimeoutRetrier::ABANDON_LIMIT`] abandoned calls in a turn it
/// waits as long as it takes.
pub struct TimeoutRetrier {
    inner: ReferencePolicy,
    patience: Duration,
    abandoned: usize,
}

impl TimeoutRetrier {
    /// The range of patience a turn draws from (whole seconds): short
    /// enough to give up on a build or a dial, long enough to see quick
    /// answers.
    pub const PATIENCE: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(60));
    /// Abandoned calls per turn.
    pub const ABANDON_LIMIT: usize = 2;

    /// The persona around `inner`, waiting `patience` for each result.
    pub fn new(inner: ReferencePolicy, patience: Duration) -> Self {
        TimeoutRetrier {
            inner,
            patience,
            abandoned: 0,
        }
    }

    /// A patience in [`TimeoutRetrier::PATIENCE`], drawn from `rng`.
    pub fn draw_patience(rng: &mut impl Rng) -> Duration {
        let (min, max) = Self::PATIENCE;
        Duration::from_secs(rng.gen_range(min.as_secs()..=max.as_secs()))
    }
}

impl TurnPolicy for TimeoutRetrier {
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call> {
        self.inner.next(finished)
    }

    fn patience(&self, call: &Call) -> Option<Duration> {
        (tool_name(call).is_some() && self.abandoned < Self::ABANDON_LIMIT).then_some(self.patience)
    }

    fn gave_up(&mut self, call: &Call) -> Vec<Call> {
        self.abandoned += 1;
        vec![call.clone()]
    }

    fn report(&self) -> Option<ModelReport> {
        report_with_extra(&self.inner, self.abandoned)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::{Goal, DEFAULT_CALL_CAP};
    use chatsim_engine::chat::AGENT_DISCONNECTED;

    fn reference(goal: Goal) -> ReferencePolicy {
        ReferencePolicy::new(goal, DEFAULT_CALL_CAP, BTreeMap::new())
    }

    fn run_command() -> ReferencePolicy {
        reference(Goal::RunCommand {
            command: "make test".into(),
            template: Some("dev".into()),
        })
    }

    fn create() -> ReferencePolicy {
        reference(Goal::CreateWorkspace {
            template: "dev".into(),
            parameters: BTreeMap::new(),
        })
    }

    fn ok(content: &str) -> CallResult {
        CallResult {
            content: content.into(),
            is_error: false,
        }
    }

    fn err(content: &str) -> CallResult {
        CallResult {
            content: content.into(),
            is_error: true,
        }
    }

    fn names(calls: &[Call]) -> Vec<String> {
        calls.iter().map(Call::trace_name).collect()
    }

    const TEMPLATES: &str =
        r#"{"templates":[{"id":"5ede67b8-7fad-4f17-af81-40fc774ec427","name":"dev"}]}"#;
    const CREATED: &str = r#"{"build_id":"b","created":true,"workspace_name":"alice/w"}"#;

    #[test]
    fn failures_are_text_errors_and_json_errors() {
        assert!(is_failure(&err("boom")));
        assert!(is_failure(&ok(r#"{"error":"workspace build failed: x"}"#)));
        assert!(!is_failure(&ok(r#"{"error":null,"status":"ok"}"#)));
        assert!(!is_failure(&ok("plain output")));
    }

    #[test]
    fn the_impatient_retrier_repeats_an_errored_call_once() {
        let mut model = ImpatientRetrier::new(run_command());
        let first = model.next(None);
        assert_eq!(names(&first), ["execute"]);
        let advice = err(AGENT_DISCONNECTED);
        let again = model.next(Some((&first[0], &advice)));
        assert_eq!(again, first, "repeated at once");
        // The repeat's error goes to the reference model, which stops.
        let then = model.next(Some((&again[0], &advice)));
        assert_eq!(names(&then), ["stop_workspace"]);
        assert_eq!(model.report().unwrap().calls, 3);
    }

    #[test]
    fn the_impatient_retrier_stops_repeating_at_its_limit() {
        let mut model = ImpatientRetrier::new(run_command());
        model.retries = ImpatientRetrier::RETRY_LIMIT;
        let first = model.next(None);
        let then = model.next(Some((&first[0], &err(AGENT_DISCONNECTED))));
        assert_eq!(names(&then), ["stop_workspace"], "no repeat past the limit");
    }

    #[test]
    fn the_parallel_caller_doubles_lifecycle_calls_and_reads_one_result() {
        let mut model = ParallelCaller::new(create());
        let list = model.next(None);
        assert_eq!(names(&list), ["list_templates"], "not a lifecycle call");
        let creates = model.next(Some((&list[0], &ok(TEMPLATES))));
        assert_eq!(names(&creates), ["create_workspace", "create_workspace"]);
        let exists = ok(r#"{"created":false,"status":"already_exists"}"#);
        assert_eq!(model.next(Some((&creates[1], &err("busy")))), vec![]);
        assert_eq!(model.next(Some((&creates[0], &exists))), vec![]);
        // Both answered; the model read the one without an error: done.
        let report = model.report().unwrap();
        assert_eq!(report.outcome, crate::observe::trace::ModelOutcome::Done);
        assert_eq!(report.calls, 3);
    }

    #[test]
    fn the_error_ignorer_reads_an_error_as_success() {
        let mut model = ErrorIgnorer::new(create());
        let list = model.next(None);
        let creates = model.next(Some((&list[0], &ok(TEMPLATES))));
        let quota = ok(
            r#"{"error_code":"INSUFFICIENT_QUOTA","error":"workspace build failed: insufficient quota"}"#,
        );
        assert_eq!(model.next(Some((&creates[0], &quota))), vec![]);
        let report = model.report().unwrap();
        assert_eq!(report.outcome, crate::observe::trace::ModelOutcome::Done);
        assert_eq!(report.reason, None, "the reference model would say quota");
    }

    #[test]
    fn the_stale_id_sender_sends_a_wrong_id_then_corrects_itself() {
        let seen = vec!["c04be28d-2044-404c-957d-662b5e2e639d".to_string()];
        for seed in 0..20 {
            let mut model = StaleIdSender::new(create(), seen.clone(), seed);
            let list = model.next(None);
            let stale = model.next(Some((&list[0], &ok(TEMPLATES))));
            let Call::Tool { name, input } = &stale[0] else {
                panic!("a tool call")
            };
            assert_eq!(name, "create_workspace");
            let real = "5ede67b8-7fad-4f17-af81-40fc774ec427";
            let wrong_template = input["template_id"] != real;
            let wrong_preset = input.get("preset_id").is_some();
            assert!(wrong_template != wrong_preset, "{input}");
            let fixed = model.next(Some((
                &stale[0],
                &err("look up template: sql: no rows in result set"),
            )));
            assert_eq!(
                fixed,
                vec![Call::tool(
                    "create_workspace",
                    json!({ "template_id": real })
                )]
            );
            // The corrected call is not spoiled again.
            assert_eq!(model.next(Some((&fixed[0], &ok(CREATED)))), vec![]);
            assert_eq!(model.report().unwrap().calls, 3);
        }
    }

    #[test]
    fn the_stale_id_sender_keeps_a_stale_call_that_worked() {
        let mut model = StaleIdSender::new(reference(Goal::StopWorkspace), vec![], 1);
        let stop = model.next(None);
        let Call::Tool { input, .. } = &stop[0] else {
            panic!("a tool call")
        };
        assert!(input["workspace_id"].is_string(), "{input}");
        let stopped = ok(r#"{"build_id":"b","stopped":true,"workspace_name":"w"}"#);
        assert_eq!(model.next(Some((&stop[0], &stopped))), vec![]);
        assert_eq!(model.report().unwrap().calls, 1);
    }

    #[test]
    fn the_timeout_retrier_gives_up_twice_then_waits() {
        let patience = Duration::from_secs(7);
        let mut model = TimeoutRetrier::new(create(), patience);
        let list = model.next(None);
        assert_eq!(model.patience(&list[0]), Some(patience));
        let creates = model.next(Some((&list[0], &ok(TEMPLATES))));
        assert_eq!(model.gave_up(&creates[0]), creates);
        assert_eq!(model.patience(&creates[0]), Some(patience));
        assert_eq!(model.gave_up(&creates[0]), creates);
        assert_eq!(model.patience(&creates[0]), None, "waits once at its limit");
        assert_eq!(model.next(Some((&creates[0], &ok(CREATED)))), vec![]);
        assert_eq!(model.report().unwrap().calls, 4);
    }

    #[test]
    fn the_timeout_retrier_draws_its_patience_within_its_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (min, max) = TimeoutRetrier::PATIENCE;
        let drawn: BTreeSet<Duration> = (0..200)
            .map(|_| TimeoutRetrier::draw_patience(&mut rng))
            .collect();
        assert!(drawn.iter().all(|p| (min..=max).contains(p)), "{drawn:?}");
        assert!(drawn.len() > 20, "spread over the range: {drawn:?}");
    }
}
