//! The truthfulness oracle: a response that lies about each claim kind
//! gives the named violation carrying both values; the same story told
//! truthfully gives none; by-design contradictions are findings.

use chatsim_engine::model::LifecycleState;

use super::*;
use crate::observe::trace::{ParameterTruth, QuotaTruth, TemplateTruth};

/// `main`'s build `b1` of `ws1` succeeded at 16 s; agent `a1` reported
/// `lifecycle` at 25 s. Call 0 of turn 0 (`tool`) is sent at 30 s, coderd
/// builds its response at 40 s ([`respond`]), the driver receives it at
/// 40.1 s.
fn claim(tool: &str, lifecycle: LifecycleState) -> Story {
    let s = Story::new();
    s.ev(
        25.0,
        Event::AgentLifecycle {
            agent: "a1".into(),
            state: lifecycle,
        },
    );
    s.call(30.0, 0, 0, tool);
    s
}

fn respond(s: &Story, content: &str, quota: Option<QuotaTruth>, template: Option<TemplateTruth>) {
    s.ev(
        40.0,
        Event::Response {
            turn: 0,
            call: 0,
            quota,
            template,
        },
    );
    s.result(40.1, 0, 0, "start_workspace", false, content);
}

/// Build `b2` (#2 of `w1`), enqueued by the chat's `hook` at 31 s, whose
/// job ends `status` (with `code`) at 35 s.
fn build_b2(s: &Story, hook: Hook, transition: Transition, status: JobStatus, code: Option<&str>) {
    s.enqueue(31.0, chat_main(), hook, "b2", 2, transition, false);
    s.job(35.0, "b2", 2, transition, status, code);
}

/// The one violation of `name`, which must name both values.
fn lie(name: &str, trace: &Trace, claimed: &str, world: &str) {
    let v = broken(name, trace);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].at, secs(40.0), "judged at coderd's instant: {}", v[0]);
    assert!(v[0].message.contains(claimed), "{}", v[0]);
    assert!(v[0].message.contains(world), "{}", v[0]);
    let truth: Vec<_> = all(trace)
        .into_iter()
        .filter(|v| v.invariant.starts_with("truthful_") && v.invariant != name)
        .collect();
    assert!(truth.is_empty(), "{truth:?}");
}

fn truthful(trace: &Trace) {
    let v: Vec<_> = all(trace)
        .into_iter()
        .filter(|v| v.invariant.starts_with("truthful_"))
        .collect();
    assert!(v.is_empty(), "{v:?}");
    assert!(findings(trace).is_empty(), "{:?}", findings(trace));
}

#[test]
fn started_names_a_succeeded_start() {
    let ok = claim("start_workspace", LifecycleState::Ready);
    respond(
        &ok,
        r#"{"build_id":"b1","started":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    truthful(&ok.end(50.0));

    let s = claim("start_workspace", LifecycleState::Ready);
    build_b2(&s, Hook::Start, Transition::Start, JobStatus::Failed, None);
    respond(
        &s,
        r#"{"build_id":"b2","started":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_BUILD_STATE,
        &s.end(50.0),
        "claimed started (build b2)",
        "ws1#2 is a start whose job is failed",
    );
}

#[test]
fn start_joining_a_stop_is_a_finding_not_a_violation() {
    let s = claim("start_workspace", LifecycleState::Ready);
    s.enqueue(
        29.0,
        Requester::User,
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    s.job(35.0, "b2", 2, Transition::Stop, JobStatus::Succeeded, None);
    respond(
        &s,
        r#"{"build_id":"b2","started":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    let trace = s.end(50.0);
    assert!(broken(TRUTHFUL_BUILD_STATE, &trace).is_empty());
    let found = findings(&trace);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, START_JOINS_STOP_BUILD);
    assert_eq!(found[0].spec(), "spec 2 §1.2 step 6");
    assert!(
        found[0]
            .message
            .contains("ws1#2 is a stop whose job is succeeded"),
        "{}",
        found[0]
    );
}

#[test]
fn stopped_needs_a_succeeded_stop() {
    let s = claim("stop_workspace", LifecycleState::Ready);
    respond(
        &s,
        r#"{"no_build":true,"stopped":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_BUILD_STATE,
        &s.end(50.0),
        "claimed stopped",
        "ws1#1 is a start whose job is succeeded",
    );
}

#[test]
fn the_world_is_read_when_coderd_built_the_response() {
    // A user's stop lands after coderd built `started` but before the
    // driver received it: the claim was true when made.
    let s = claim("start_workspace", LifecycleState::Ready);
    s.ev(
        40.0,
        Event::Response {
            turn: 0,
            call: 0,
            quota: None,
            template: None,
        },
    );
    s.enqueue(
        40.05,
        Requester::User,
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    s.job(40.06, "b2", 2, Transition::Stop, JobStatus::Succeeded, None);
    s.result(
        40.1,
        0,
        0,
        "start_workspace",
        false,
        r#"{"no_build":true,"started":true,"workspace_name":"ws1"}"#,
    );
    truthful(&s.end(50.0));

    // Taken before a wait and not re-read: a known finding.
    let s = claim("start_workspace", LifecycleState::Ready);
    s.enqueue(
        35.0,
        Requester::User,
        Hook::Stop,
        "b2",
        2,
        Transition::Stop,
        false,
    );
    respond(
        &s,
        r#"{"no_build":true,"started":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    let trace = s.end(50.0);
    assert!(broken(TRUTHFUL_BUILD_STATE, &trace).is_empty());
    let found = findings(&trace);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, CLAIM_READ_BEFORE_WAIT);
}

#[test]
fn agent_claims_match_its_lifecycle() {
    let s = claim("start_workspace", LifecycleState::Starting);
    respond(
        &s,
        r#"{"build_id":"b1","started":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_AGENT,
        &s.end(50.0),
        "claimed agent ready (build ws1#1)",
        "last reported lifecycle starting",
    );

    let failed = r#"{"build_id":"b1","lifecycle_state":"start_error","started":true,"startup_scripts":"startup_scripts_failed","workspace_name":"ws1"}"#;
    let s = claim("start_workspace", LifecycleState::StartTimeout);
    respond(&s, failed, None, None);
    lie(
        TRUTHFUL_AGENT,
        &s.end(50.0),
        "startup_scripts_failed in lifecycle start_error",
        "last reported lifecycle start_timeout",
    );
    let s = claim("start_workspace", LifecycleState::StartError);
    respond(&s, failed, None, None);
    truthful(&s.end(50.0));

    let s = claim("start_workspace", LifecycleState::Ready);
    respond(
        &s,
        r#"{"agent_status":"no_agent","build_id":"b1","started":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_AGENT,
        &s.end(50.0),
        "claimed no_agent for build ws1#1",
        "its agent main existed",
    );
}

#[test]
fn a_build_failure_names_a_build_that_failed_so() {
    let s = claim("start_workspace", LifecycleState::Ready);
    respond(
        &s,
        r#"{"error":"workspace start build failed: terraform apply failed","build_id":"b1"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_BUILD_FAILURE,
        &s.end(50.0),
        "claimed \"workspace start build failed: terraform apply failed\" (build b1)",
        "ws1#1 is a start whose job is succeeded",
    );

    let s = claim("start_workspace", LifecycleState::Ready);
    build_b2(
        &s,
        Hook::Start,
        Transition::Start,
        JobStatus::Failed,
        Some("INSUFFICIENT_QUOTA"),
    );
    respond(
        &s,
        r#"{"error":"workspace start build failed: disk full","build_id":"b2"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_BUILD_FAILURE,
        &s.end(50.0),
        "disk full",
        "with error \"insufficient quota\"",
    );

    let s = claim("start_workspace", LifecycleState::Ready);
    build_b2(
        &s,
        Hook::Start,
        Transition::Start,
        JobStatus::Canceled,
        None,
    );
    respond(
        &s,
        r#"{"error":"workspace start build failed: build was canceled","build_id":"b2"}"#,
        None,
        None,
    );
    truthful(&s.end(50.0));
}

#[test]
fn quota_numbers_are_the_owners() {
    let quota = |credits_consumed, budget| {
        Some(QuotaTruth {
            credits_consumed,
            budget,
        })
    };
    let said = |budget: i64| {
        format!(
            r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"workspace start build failed: insufficient quota","build_id":"b2","quota":{{"credits_consumed":4,"budget":{budget}}}}}"#
        )
    };
    let failing = || {
        let s = claim("start_workspace", LifecycleState::Ready);
        build_b2(
            &s,
            Hook::Start,
            Transition::Start,
            JobStatus::Failed,
            Some("INSUFFICIENT_QUOTA"),
        );
        s
    };
    let s = failing();
    respond(&s, &said(10), quota(4, 2), None);
    lie(
        TRUTHFUL_QUOTA,
        &s.end(50.0),
        "\"budget\":10",
        "credits_consumed 4 of budget 2",
    );
    let s = failing();
    respond(&s, &said(2), quota(4, 2), None);
    truthful(&s.end(50.0));
}

#[test]
fn read_template_shows_the_active_version_and_its_parameters() {
    let truth = Some(TemplateTruth {
        id: "t1".into(),
        active_version_id: "v2".into(),
        parameters: vec![ParameterTruth {
            name: "region".into(),
            required: true,
            default: String::new(),
        }],
    });
    let read = |parameters: &str| {
        let s = claim("read_template", LifecycleState::Ready);
        s.ev(
            40.0,
            Event::Response {
                turn: 0,
                call: 0,
                quota: None,
                template: truth.clone(),
            },
        );
        let content = format!(
            r#"{{"parameters":{parameters},"template":{{"id":"t1","name":"dev","active_version_id":"v2"}}}}"#
        );
        s.result(40.1, 0, 0, "read_template", false, &content);
        s.end(50.0)
    };
    lie(
        TRUTHFUL_TEMPLATE,
        &read("[]"),
        "claimed parameters []",
        "parameters [region (required)]",
    );
    truthful(&read(
        r#"[{"name":"region","type":"string","required":true}]"#,
    ));
}

#[test]
fn a_named_build_is_of_the_named_workspace_and_an_update_changed_versions() {
    let s = claim("start_workspace", LifecycleState::Ready);
    respond(
        &s,
        r#"{"build_id":"b1","started":true,"workspace_name":"ws9"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_BUILD_STATE,
        &s.end(50.0),
        "claimed workspace \"ws9\" (build b1)",
        "ws1#1 is a build of workspace \"ws1\"",
    );

    // `b2` is of version v1, as `b1` was (the story's enqueue helper).
    let s = claim("start_workspace", LifecycleState::Ready);
    build_b2(
        &s,
        Hook::Start,
        Transition::Start,
        JobStatus::Succeeded,
        None,
    );
    s.ev(
        36.0,
        Event::AgentLifecycle {
            agent: "a1".into(),
            state: LifecycleState::Ready,
        },
    );
    respond(
        &s,
        r#"{"build_id":"b2","started":true,"updated_to_active_version":true,"workspace_name":"ws1"}"#,
        None,
        None,
    );
    lie(
        TRUTHFUL_BUILD_STATE,
        &s.end(50.0),
        "claimed updated_to_active_version (build ws1#2)",
        "ws1#1 and ws1#2 are both of version v1",
    );
}
