//! Each invariant fails on a small hand-made trace that breaks it, and
//! passes on the same story told right.

use std::time::Duration;

use chatsim_engine::chat::{AGENT_DISCONNECTED, DIAL_TIMEOUT};

use super::*;
use chatsim_engine::model::{JobStatus, Transition};

use crate::observe::trace::{
    AgentStatusKind, DialOutcome, EntityKind, Event, Hook, ModelOutcome, Requester, RunEnding,
    Tracer, TurnEnding,
};

/// A hand-made trace, written event by event.
struct Story {
    tracer: Tracer,
}

fn chat_main() -> Requester {
    Requester::Chat("main".into())
}

fn secs(s: f64) -> Duration {
    Duration::from_millis((s * 1000.0).round() as u64)
}

impl Story {
    /// Chat `main` (ID `c1`) created `ws1` (ID `w1`) with build `b1`
    /// (agent `a1`, connected at 20 s), bound at 16 s, all by 20 s.
    fn new() -> Story {
        let story = Story {
            tracer: Tracer::new(),
        };
        story.ev(
            0.0,
            Event::Entity {
                kind: EntityKind::Chat,
                name: "main".into(),
                id: "c1".into(),
            },
        );
        story.turn(0, 0.0);
        story.enqueue(
            0.2,
            chat_main(),
            Hook::Create,
            "b1",
            1,
            Transition::Start,
            false,
        );
        story.job(1.0, "b1", 1, Transition::Start, JobStatus::Running, None);
        story.job(16.0, "b1", 1, Transition::Start, JobStatus::Succeeded, None);
        story.bind(16.0, "w1");
        story.status(17.0, "a1", "b1", AgentStatusKind::Connecting, None);
        story.status(20.0, "a1", "b1", AgentStatusKind::Connected, None);
        story
    }

    fn ev(&self, at: f64, event: Event) -> &Story {
        self.tracer.emit(secs(at), "test", event);
        self
    }

    fn turn(&self, turn: usize, at: f64) -> &Story {
        self.ev(
            at,
            Event::TurnStart {
                chat: "main".into(),
                turn,
                name: None,
                model: None,
            },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        at: f64,
        by: Requester,
        hook: Hook,
        build: &str,
        number: i32,
        transition: Transition,
        external: bool,
    ) -> &Story {
        self.ev(
            at,
            Event::Enqueue {
                by,
                hook,
                workspace: "ws1".into(),
                workspace_id: "w1".into(),
                build: build.into(),
                number,
                transition,
                template: "dev".into(),
                version: "v1".into(),
                external_agent: external,
            },
        )
    }

    fn job(
        &self,
        at: f64,
        build: &str,
        number: i32,
        transition: Transition,
        status: JobStatus,
        code: Option<&str>,
    ) -> &Story {
        self.ev(
            at,
            Event::Job {
                workspace: "ws1".into(),
                build: build.into(),
                number,
                transition,
                status,
                error: code.map(|_| "insufficient quota".into()),
                error_code: code.map(str::to_string),
            },
        )
    }

    fn bind(&self, at: f64, workspace: &str) -> &Story {
        self.ev(
            at,
            Event::ChatUpdated {
                chat: "c1".into(),
                workspace: Some(workspace.into()),
                build: None,
                agent: None,
            },
        )
    }

    fn status(
        &self,
        at: f64,
        agent: &str,
        build: &str,
        to: AgentStatusKind,
        since: Option<f64>,
    ) -> &Story {
        self.ev(
            at,
            Event::AgentStatus {
                agent: agent.into(),
                name: "main".into(),
                from: None,
                to,
                workspace: "ws1".into(),
                build: build.into(),
                chat_agent: true,
                since: since.map(secs),
            },
        )
    }

    fn call(&self, at: f64, turn: usize, call: usize, name: &str) -> &Story {
        self.ev(
            at,
            Event::ToolCall {
                turn,
                call,
                name: name.into(),
                input: "{}".into(),
            },
        )
    }

    fn result(
        &self,
        at: f64,
        turn: usize,
        call: usize,
        name: &str,
        is_error: bool,
        content: &str,
    ) -> &Story {
        self.ev(
            at,
            Event::ToolResult {
                turn,
                call,
                name: name.into(),
                is_error,
                content: content.into(),
            },
        )
    }

    fn dial_abandoned(&self, at: f64, agent: &str) -> &Story {
        self.ev(
            at,
            Event::Dial {
                agent: agent.into(),
                outcome: DialOutcome::Abandoned,
                attempts: 3,
                error: None,
            },
        )
    }

    fn end(&self, at: f64) -> Trace {
        self.ev(
            at,
            Event::RunEnd {
                outcome: RunEnding::Ok,
            },
        );
        self.tracer.snapshot()
    }
}

/// The violations of one invariant.
fn broken(name: &str, trace: &Trace) -> Vec<Violation> {
    let violations = check_trace(trace, &Settings::default(), None);
    violations
        .into_iter()
        .filter(|v| v.invariant == name)
        .collect()
}

fn all(trace: &Trace) -> Vec<Violation> {
    check_trace(trace, &Settings::default(), None)
}

/// An `execute` at 420 s whose dial times out at 450 s.
fn advice_story(disconnected_since: f64, dial_times_out: bool) -> Trace {
    let s = Story::new();
    s.status(
        disconnected_since + 1.0,
        "a1",
        "b1",
        AgentStatusKind::Disconnected,
        Some(disconnected_since),
    );
    s.turn(1, 420.0).call(420.1, 1, 0, "execute");
    if dial_times_out {
        s.dial_abandoned(450.2, "a1");
    }
    s.result(450.3, 1, 0, "execute", true, AGENT_DISCONNECTED);
    s.end(451.0)
}

#[test]
fn recovery_advice_needs_a_dial_timeout_and_a_long_disconnect() {
    assert_eq!(all(&advice_story(300.0, true)), vec![], "the gate passed");
    let young = broken(RECOVERY_ADVICE_GATED, &advice_story(400.0, true));
    assert_eq!(young.len(), 1, "{young:?}");
    assert!(
        young[0].message.contains("not disconnected for 1m30s"),
        "{}",
        young[0]
    );
    let no_timeout = broken(RECOVERY_ADVICE_GATED, &advice_story(300.0, false));
    assert!(
        no_timeout[0].message.contains("no dial"),
        "{}",
        no_timeout[0]
    );
}

#[test]
fn recovery_advice_to_a_connected_agent_is_a_violation() {
    let s = Story::new();
    s.turn(1, 100.0)
        .call(100.1, 1, 0, "execute")
        .dial_abandoned(130.2, "a1");
    s.result(130.3, 1, 0, "execute", true, AGENT_DISCONNECTED);
    let v = broken(RECOVERY_ADVICE_GATED, &s.end(131.0));
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("read [connected]"), "{}", v[0]);
    // The soft text is never advice.
    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "execute");
    s.result(130.3, 1, 0, "execute", true, DIAL_TIMEOUT);
    assert_eq!(all(&s.end(131.0)), vec![]);
}

#[test]
fn create_never_builds_an_external_agent_template() {
    let s = Story::new();
    s.enqueue(
        30.0,
        chat_main(),
        Hook::Create,
        "b2",
        1,
        Transition::Start,
        true,
    );
    let v = broken(NO_CREATE_BUILD_FOR_EXTERNAL_AGENT, &s.end(31.0));
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("external agent"), "{}", v[0]);
    // A user's build, or a chat's start of an existing external workspace, is fine.
    let s = Story::new();
    s.enqueue(
        30.0,
        Requester::User,
        Hook::Create,
        "b2",
        1,
        Transition::Start,
        true,
    );
    s.job(40.0, "b2", 1, Transition::Start, JobStatus::Succeeded, None);
    assert_eq!(
        broken(NO_CREATE_BUILD_FOR_EXTERNAL_AGENT, &s.end(41.0)),
        vec![]
    );
}

#[test]
fn stopped_true_needs_a_succeeded_latest_stop() {
    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "stop_workspace");
    s.enqueue(
        100.2,
        chat_main(),
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    s.job(110.0, "b2", 2, Transition::Stop, JobStatus::Failed, None);
    s.result(
        110.5,
        1,
        0,
        "stop_workspace",
        false,
        r#"{"build_id":"b2","stopped":true,"workspace_name":"ws1"}"#,
    );
    let v = broken(STOPPED_ONLY_AFTER_SUCCESSFUL_STOP, &s.end(111.0));
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("job is failed"), "{}", v[0]);

    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "stop_workspace");
    s.enqueue(
        100.2,
        chat_main(),
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    s.job(110.0, "b2", 2, Transition::Stop, JobStatus::Succeeded, None);
    s.result(
        110.5,
        1,
        0,
        "stop_workspace",
        false,
        r#"{"build_id":"b2","stopped":true,"workspace_name":"ws1"}"#,
    );
    assert_eq!(all(&s.end(111.0)), vec![]);
}

#[test]
fn insufficient_quota_comes_only_from_a_failed_commit() {
    let quota_result = r#"{"error_code":"INSUFFICIENT_QUOTA","error":"workspace build failed: insufficient quota","build_id":"b2"}"#;
    // A provider error whose code was made up from its text.
    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "start_workspace");
    s.enqueue(
        100.2,
        chat_main(),
        Hook::Start,
        "b2",
        2,
        Transition::Start,
        false,
    );
    s.job(
        110.0,
        "b2",
        2,
        Transition::Start,
        JobStatus::Failed,
        Some("INSUFFICIENT_QUOTA"),
    );
    s.result(110.5, 1, 0, "start_workspace", false, quota_result);
    let v = broken(INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT, &s.end(111.0));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].message.contains("without a failed quota commit"),
        "{}",
        v[0]
    );

    // The commit failed: all fine.
    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "start_workspace");
    s.enqueue(
        100.2,
        chat_main(),
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    s.job(105.0, "b2", 2, Transition::Stop, JobStatus::Succeeded, None);
    s.enqueue(
        106.0,
        chat_main(),
        Hook::Start,
        "b3",
        3,
        Transition::Start,
        false,
    );
    s.ev(
        108.0,
        Event::QuotaCommit {
            build: "b3".into(),
            daily_cost: 5,
            ok: false,
        },
    );
    s.job(
        110.0,
        "b3",
        3,
        Transition::Start,
        JobStatus::Failed,
        Some("INSUFFICIENT_QUOTA"),
    );
    s.result(
        110.5,
        1,
        0,
        "start_workspace",
        false,
        &quota_result.replace("b2", "b3"),
    );
    assert_eq!(
        broken(INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT, &s.end(111.0)),
        vec![]
    );

    // A result claiming the code for a build that failed otherwise.
    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "start_workspace");
    s.result(
        110.5,
        1,
        0,
        "start_workspace",
        false,
        &quota_result.replace("b2", "b1"),
    );
    let v = broken(INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT, &s.end(111.0));
    assert!(
        v[0].message.contains("did not fail at the quota commit"),
        "{}",
        v[0]
    );
}

#[test]
fn a_chat_never_has_two_builds_in_flight() {
    let s = Story::new();
    s.enqueue(
        30.0,
        chat_main(),
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    s.enqueue(
        31.0,
        chat_main(),
        Hook::Start,
        "b3",
        3,
        Transition::Start,
        false,
    );
    let v = broken(ONE_BUILD_IN_FLIGHT_PER_CHAT, &s.end(32.0));
    assert_eq!(v.len(), 1);
    assert!(
        v[0].message.contains("ws1#2 were still in flight"),
        "{}",
        v[0]
    );
    // Canceling counts as ended.
    let s = Story::new();
    s.enqueue(
        30.0,
        chat_main(),
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    s.job(30.5, "b2", 2, Transition::Stop, JobStatus::Canceling, None);
    s.enqueue(
        31.0,
        chat_main(),
        Hook::Start,
        "b3",
        3,
        Transition::Start,
        false,
    );
    assert_eq!(broken(ONE_BUILD_IN_FLIGHT_PER_CHAT, &s.end(32.0)), vec![]);
}

fn second_create(agent_status: Option<AgentStatusKind>, first_failed: bool) -> Trace {
    second_create_after(Story::new(), agent_status, first_failed)
}

/// The second create of [`second_create`], told after `s`'s events.
fn second_create_after(
    s: Story,
    agent_status: Option<AgentStatusKind>,
    first_failed: bool,
) -> Trace {
    if let Some(status) = agent_status {
        s.status(50.0, "a1", "b1", status, Some(45.0));
    }
    if first_failed {
        s.job(50.0, "b1", 1, Transition::Start, JobStatus::Failed, None);
    }
    s.ev(
        60.0,
        Event::Enqueue {
            by: chat_main(),
            hook: Hook::Create,
            workspace: "ws2".into(),
            workspace_id: "w2".into(),
            build: "b9".into(),
            number: 1,
            transition: Transition::Start,
            template: "dev".into(),
            version: "v1".into(),
            external_agent: false,
        },
    );
    s.bind(60.1, "w2");
    s.end(61.0)
}

#[test]
fn a_retried_create_makes_no_second_workspace_while_the_first_serves() {
    let v = broken(RETRY_NO_SECOND_WORKSPACE, &second_create(None, false));
    assert_eq!(v.len(), 1);
    assert!(
        v[0].message.contains("chat agent main connected"),
        "{}",
        v[0]
    );
    assert_eq!(
        all(&second_create(Some(AgentStatusKind::Disconnected), false)),
        vec![]
    );
    assert_eq!(all(&second_create(None, true)), vec![]);
}

/// Spec 1 §3.4 (steps 5, 6, 7c): while a read of the latest build, its job
/// or its agents fails, create proceeds — no violation; once the fault is
/// over, it is one again.
#[test]
fn a_create_whose_existing_workspace_reads_fail_may_make_a_second_one() {
    let with_fault = |duration: &str| {
        let s = Story::new();
        s.ev(
            55.0,
            Event::Fault {
                name: "db_query_fails".into(),
                params: serde_json::json!({
                    "query": "get_workspace_agents_in_latest_build_by_workspace_id",
                    "error": "statement timeout",
                    "duration": duration,
                }),
            },
        );
        second_create_after(s, None, false)
    };
    assert_eq!(broken(RETRY_NO_SECOND_WORKSPACE, &with_fault("1m")), vec![]);
    assert_eq!(
        broken(RETRY_NO_SECOND_WORKSPACE, &with_fault("2s")).len(),
        1
    );
}

#[test]
fn a_retried_start_charges_once() {
    let s = Story::new();
    s.enqueue(
        60.0,
        chat_main(),
        Hook::Start,
        "b2",
        2,
        Transition::Start,
        false,
    );
    let v = broken(RETRY_NO_SECOND_CHARGE, &s.end(61.0));
    assert_eq!(v.len(), 1);
    assert!(
        v[0].message
            .contains("while start build ws1#1 was succeeded"),
        "{}",
        v[0]
    );
}

#[test]
fn every_call_returns_within_its_bound() {
    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "list_templates");
    s.result(300.0, 1, 0, "list_templates", false, "{}");
    s.call(300.1, 1, 1, "execute");
    let v = broken(TOOL_CALLS_END_WITHIN_BOUND, &s.end(400.0));
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v[0].message.contains("over its bound of 60.000s"),
        "{}",
        v[0]
    );
    assert!(v[1].message.contains("never returned"), "{}", v[1]);
}

#[test]
fn the_model_stays_within_its_cap() {
    let s = Story::new();
    s.turn(1, 100.0);
    s.ev(
        200.0,
        Event::ModelOutcome {
            turn: 1,
            outcome: ModelOutcome::CapExceeded,
            reason: None,
            calls: 12,
        },
    );
    s.ev(
        200.0,
        Event::TurnEnd {
            turn: 1,
            outcome: TurnEnding::Done,
        },
    );
    let v = broken(MODEL_WITHIN_CALL_CAP, &s.end(201.0));
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("after 12"), "{}", v[0]);
}

#[test]
fn a_failed_run_is_a_violation() {
    let s = Story::new();
    s.ev(
        10.0,
        Event::RunEnd {
            outcome: RunEnding::Error("host coderd panicked".into()),
        },
    );
    let v = broken(RUN_COMPLETES, &s.tracer.snapshot());
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("panicked"), "{}", v[0]);
    let violations = check_trace(
        &Story::new().tracer.snapshot(),
        &Settings::default(),
        Some("boom"),
    );
    assert!(violations
        .iter()
        .any(|v| v.invariant == RUN_COMPLETES && v.message.contains("boom")));
}

#[test]
fn violations_name_their_invariant_and_time() {
    let v = &broken(RECOVERY_ADVICE_GATED, &advice_story(400.0, true))[0];
    assert!(
        v.to_string()
            .starts_with("invariant recovery_advice_gated violated at 450.300s: "),
        "{v}"
    );
    let names: Vec<&str> = INVARIANTS.iter().map(|(n, _)| *n).collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len());
}

/// The liveness turn ends as given, after a world that did (or did not)
/// fail a quota commit.
fn liveness_story(outcome: ModelOutcome, reason: Option<&str>, quota_failed: bool) -> Trace {
    let story = Story::new();
    if quota_failed {
        story.ev(
            30.0,
            Event::QuotaCommit {
                build: "b2".into(),
                daily_cost: 5,
                ok: false,
            },
        );
    }
    story.ev(
        40.0,
        Event::TurnStart {
            chat: "main".into(),
            turn: 1,
            name: Some(LIVENESS_TURN.into()),
            model: Some(crate::plan::ModelKind::Reference),
        },
    );
    story.ev(
        45.0,
        Event::ModelOutcome {
            turn: 1,
            outcome,
            reason: reason.map(str::to_string),
            calls: 3,
        },
    );
    story.tracer.snapshot()
}

#[test]
fn after_the_faults_the_model_finishes_or_gives_a_confirmed_reason() {
    let name = RECOVERS_AFTER_FAULTS;
    assert!(broken(name, &liveness_story(ModelOutcome::Done, None, false)).is_empty());
    let confirmed = liveness_story(ModelOutcome::ToldUser, Some("quota"), true);
    assert!(broken(name, &confirmed).is_empty());
    let unconfirmed = liveness_story(ModelOutcome::ToldUser, Some("quota"), false);
    let v = broken(name, &unconfirmed);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0]
        .message
        .contains("`quota`, which the trace does not confirm"));
    let capped = liveness_story(ModelOutcome::CapExceeded, None, true);
    assert!(broken(name, &capped)[0]
        .message
        .contains("ended `cap_exceeded`"));
    // Without the liveness turn the invariant is vacuous.
    assert!(broken(name, &Story::new().tracer.snapshot()).is_empty());
}

mod builds;
mod context;
mod quota;
mod recovery;
mod retries;
mod text;
mod truth;

/// A `chat_updated` of chat `main` naming its workspace and build.
fn updated(s: &Story, at: f64, workspace: &str, build: &str) {
    s.ev(
        at,
        Event::ChatUpdated {
            chat: "c1".into(),
            workspace: Some(workspace.into()),
            build: Some(build.into()),
            agent: None,
        },
    );
}

/// Found by the fuzzer (seed 127): the owner's dashboard stop lands between
/// the tool's read of its succeeded stop and its result. The claim was true
/// when the tool read it; a stop build that never succeeded within the
/// call is still a violation.
#[test]
fn stopped_true_holds_if_the_stop_succeeded_within_the_call() {
    let told = |b2: JobStatus| {
        let s = Story::new();
        s.turn(1, 100.0).call(100.1, 1, 0, "stop_workspace");
        s.enqueue(
            100.2,
            chat_main(),
            Hook::Stop,
            "b2",
            2,
            Transition::Stop,
            false,
        );
        s.job(110.0, "b2", 2, Transition::Stop, b2, None);
        s.enqueue(
            110.2,
            Requester::User,
            Hook::Stop,
            "b3",
            3,
            Transition::Stop,
            false,
        );
        s.job(110.3, "b3", 3, Transition::Stop, JobStatus::Running, None);
        s.result(
            110.5,
            1,
            0,
            "stop_workspace",
            false,
            r#"{"build_id":"b2","stopped":true,"workspace_name":"ws1"}"#,
        );
        s.end(111.0)
    };
    let name = STOPPED_ONLY_AFTER_SUCCESSFUL_STOP;
    assert_eq!(broken(name, &told(JobStatus::Succeeded)), vec![]);
    assert_eq!(broken(name, &told(JobStatus::Failed)).len(), 1);
}

/// Found by the fuzzer (seeds 366, 1721): an agent killed before it ever
/// connected reads `connecting`, so the tools give no stop/start advice and
/// the model gives up on repeated dial timeouts — confirmed by the dials.
/// Had the chat agent read disconnected for the recovery threshold, the
/// advice was owed and giving up is a liveness failure.
#[test]
fn repeated_dial_timeouts_are_confirmed_only_when_no_advice_was_owed() {
    let gave_up = |disconnected_since: Option<f64>| {
        let s = Story::new();
        if let Some(since) = disconnected_since {
            s.status(30.0, "a1", "b1", AgentStatusKind::Disconnected, Some(since));
        }
        s.ev(
            200.0,
            Event::TurnStart {
                chat: "main".into(),
                turn: 1,
                name: Some(LIVENESS_TURN.into()),
                model: Some(crate::plan::ModelKind::Reference),
            },
        );
        for at in [230.0, 260.0] {
            s.ev(
                at,
                Event::Dial {
                    agent: "a1".into(),
                    outcome: DialOutcome::Abandoned,
                    attempts: 1,
                    error: None,
                },
            );
        }
        s.ev(
            260.5,
            Event::ModelOutcome {
                turn: 1,
                outcome: ModelOutcome::ToldUser,
                reason: Some("dial_timeout_repeated".into()),
                calls: 2,
            },
        );
        s.tracer.snapshot()
    };
    assert_eq!(broken(RECOVERS_AFTER_FAULTS, &gave_up(None)), vec![]);
    assert_eq!(broken(RECOVERS_AFTER_FAULTS, &gave_up(Some(25.0))).len(), 1);
}
