//! `chat_update_after_agent_wait`.

use chatsim_engine::model::LifecycleState;

use super::*;

/// A start at 100 s of `ws1` with build `b2` (agent `a2`), bound at once;
/// its build ends `build_end` at 115 s, the agent is ready at 130 s, and
/// the second update fires at `second_at`.
fn start_story(build_end: JobStatus, second_at: Option<f64>) -> Trace {
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
    updated(&s, 100.3, "w1", "b2");
    s.job(101.0, "b2", 2, Transition::Start, JobStatus::Running, None);
    s.job(115.0, "b2", 2, Transition::Start, build_end, None);
    if build_end == JobStatus::Succeeded {
        s.status(116.0, "a2", "b2", AgentStatusKind::Connecting, None);
        s.status(118.0, "a2", "b2", AgentStatusKind::Connected, None);
        s.ev(
            130.0,
            Event::AgentLifecycle {
                agent: "a2".into(),
                state: LifecycleState::Ready,
            },
        );
    }
    if let Some(at) = second_at {
        updated(&s, at, "w1", "b2");
    }
    s.result(
        140.0,
        1,
        0,
        "start_workspace",
        false,
        r#"{"agent_status":"ready","build_id":"b2","started":true,"workspace_name":"ws1"}"#,
    );
    s.end(141.0)
}

#[test]
fn the_second_chat_update_waits_for_the_agent() {
    let name = CHAT_UPDATE_AFTER_AGENT_WAIT;
    let early = broken(name, &start_story(JobStatus::Succeeded, Some(116.5)));
    assert_eq!(early.len(), 1, "{early:?}");
    assert!(
        early[0].message.contains("had not reached ready"),
        "{}",
        early[0]
    );
    assert_eq!(
        broken(name, &start_story(JobStatus::Succeeded, Some(130.5))),
        vec![]
    );
}

#[test]
fn a_failed_build_gets_no_second_chat_update() {
    let name = CHAT_UPDATE_AFTER_AGENT_WAIT;
    let v = broken(name, &start_story(JobStatus::Failed, Some(116.0)));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].message.contains("needs a succeeded build"), "{}", v[0]);
    // Only the first update: the story told right.
    assert_eq!(broken(name, &start_story(JobStatus::Failed, None)), vec![]);
}

/// A start of `ws1` (build `b2`, agent `a2` ready at 130 s) whose result
/// has no agent keys and whose second update fires at 115.5 s, right after
/// the build; `agents_read_fails` arms a `db_query_fails` fault on the
/// agents read at 110 s, `stop_before` puts a stop call of the same turn
/// right before it (answered at the instant the start is sent).
fn no_agent_keys_story(agents_read_fails: bool, stop_before: bool) -> Trace {
    let s = Story::new();
    s.turn(1, 90.0);
    if stop_before {
        s.call(95.0, 1, 0, "stop_workspace");
        s.result(
            100.1,
            1,
            0,
            "stop_workspace",
            false,
            r#"{"build_id":"b1","stopped":true,"workspace_name":"ws1"}"#,
        );
    }
    s.call(100.1, 1, 1, "start_workspace");
    s.enqueue(
        100.2,
        chat_main(),
        Hook::Start,
        "b2",
        2,
        Transition::Start,
        false,
    );
    updated(&s, 100.3, "w1", "b2");
    if agents_read_fails {
        s.ev(
            110.0,
            Event::Fault {
                name: "db_query_fails".into(),
                params: serde_json::json!({
                    "query": "get_workspace_agents_in_latest_build_by_workspace_id",
                    "error": "statement timeout",
                }),
            },
        );
    }
    s.job(
        115.0,
        "b2",
        2,
        Transition::Start,
        JobStatus::Succeeded,
        None,
    );
    s.status(115.2, "a2", "b2", AgentStatusKind::Connecting, None);
    updated(&s, 115.5, "w1", "b2");
    s.result(
        115.6,
        1,
        1,
        "start_workspace",
        false,
        r#"{"build_id":"b2","started":true,"workspace_name":"ws1"}"#,
    );
    s.ev(
        130.0,
        Event::AgentLifecycle {
            agent: "a2".into(),
            state: LifecycleState::Ready,
        },
    );
    s.end(131.0)
}

/// Spec 1 §3.3 step 21: a failed agents read adds no agent keys and skips
/// the wait, so the second update may follow the build at once (found by
/// the regression `create-while-agent-read-fails`). Without a failing
/// read, no agent keys is what a wait that ended ready gives: the update
/// must come after the agent was ready (the bug zoo's `early-chat-update`
/// went unseen while every result without agent keys was exempt).
#[test]
fn no_agent_keys_skip_the_wait_only_when_the_agents_read_failed() {
    let name = CHAT_UPDATE_AFTER_AGENT_WAIT;
    assert_eq!(broken(name, &no_agent_keys_story(true, false)), vec![]);
    let early = broken(name, &no_agent_keys_story(false, false));
    assert_eq!(early.len(), 1, "{early:?}");
    assert!(
        early[0].message.contains("had not reached ready"),
        "{}",
        early[0]
    );
}

/// A call sent at the instant the turn's previous lifecycle call answered
/// does not overlap it: the check still reads it.
#[test]
fn back_to_back_calls_of_a_turn_do_not_overlap() {
    let early = broken(
        CHAT_UPDATE_AFTER_AGENT_WAIT,
        &no_agent_keys_story(false, true),
    );
    assert_eq!(early.len(), 1, "{early:?}");
}
