//! The testkit's own tests: each helper does what its doc says.

use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt;
use uuid::Uuid;

use super::*;
use crate::memory::{MemStore, Query};
use crate::model::{AgentStatus, Chat, JobStatus, LifecycleState, Transition};
use crate::ports::{AgentDialer, Coderd, HookError, Store, StoreError, StoreResult};

fn boom() -> StoreError {
    StoreError::Other("boom".into())
}

/// A ready world with a running workspace; its one agent.
fn running(world: &World) -> (Uuid, Uuid) {
    let template = world.template("t").create();
    let (ws, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
    (ws, world.agents(ws)[0].id)
}

#[test]
fn the_interposer_logs_every_call_and_fails_only_the_nth() {
    let world = World::new();
    let store = StoreInterposer::new(world.store.clone());
    store.fail_nth(Query::GetChatById, 2, boom());
    assert!(store.get_chat_by_id(world.chat).is_ok());
    assert_eq!(store.get_chat_by_id(world.chat), Err(boom()));
    assert!(store.get_chat_by_id(world.chat).is_ok());
    assert!(store.get_chat_workspace_ttl().is_ok());
    let chat_id = world.chat;
    assert_eq!(
        store.calls(),
        [
            StoreCall::GetChatById { chat_id },
            StoreCall::GetChatById { chat_id },
            StoreCall::GetChatById { chat_id },
            StoreCall::GetChatWorkspaceTtl,
        ]
    );
    assert_eq!(store.count(Query::GetChatById), 3);
    assert_eq!(store.calls_of(Query::GetChatWorkspaceTtl).len(), 1);
    // The failed call never reached the store behind.
    assert_eq!(world.store.calls(Query::GetChatById), 2);
}

#[test]
fn the_interposer_edits_before_or_changes_after_the_nth_call() {
    let world = World::new();
    let store = StoreInterposer::new(world.store.clone());
    let (chat, other) = (world.chat, Uuid::from_u128(0xee));
    store.edit_before_nth(Query::GetChatById, 1, move |t| {
        t.chat_mut(chat).expect("chat").workspace_id = Some(other);
    });
    store.change_nth(
        Query::GetChatById,
        2,
        |_: &MemStore, read: StoreResult<Chat>| {
            read.map(|c| Chat {
                workspace_id: None,
                ..c
            })
        },
    );
    assert_eq!(
        store.get_chat_by_id(chat).unwrap().workspace_id,
        Some(other)
    );
    assert_eq!(store.get_chat_by_id(chat).unwrap().workspace_id, None);
    assert_eq!(
        world.chat_row().workspace_id,
        Some(other),
        "a change is seen once"
    );
}

#[test]
#[should_panic(expected = "change_nth(GetChatById) takes")]
fn a_change_of_the_wrong_row_type_panics_with_the_query() {
    let world = World::new();
    let store = StoreInterposer::new(world.store.clone());
    store.change_nth(Query::GetChatById, 1, |_: &MemStore, r: StoreResult<i64>| r);
    let _ = store.get_chat_by_id(world.chat);
}

#[test]
fn the_recording_coderd_logs_hooks_and_answers_the_nth() {
    let world = World::new();
    let (ws, _) = {
        let template = world.template("t").create();
        world.workspace(&template, Transition::Stop, JobStatus::Succeeded)
    };
    let coderd = RecordingCoderd::over(&world);
    let refused = HookError::Other("refused".into());
    coderd.fail_nth(Hook::StartWorkspace, 1, refused.clone());
    assert_eq!(coderd.start_workspace(world.owner, ws, &[]), Err(refused));
    assert!(coderd.start_workspace(world.owner, ws, &[]).is_ok());
    assert_eq!(coderd.count(Hook::StartWorkspace), 2);
    assert_eq!(coderd.start_parameters(), [vec![], vec![]]);
    assert_eq!(world.builds(ws).len(), 2, "only the second start built");
    assert_eq!(coderd.calls()[0].hook(), Hook::StartWorkspace);
}

#[test]
fn dials_follow_plans_by_number_before_plans_by_agent_or_name() {
    let world = World::ready();
    let (_, agent) = running(&world);
    world.dialer.plan_dial(2, DialPlan::Fail("refused".into()));
    world.dialer.plan_dial(3, DialPlan::Hang);
    world
        .dialer
        .plan_named("main", DialPlan::Fail("by name".into()));
    let mut results = Vec::new();
    for _ in 0..4 {
        let dial = world.dialer.dial(agent).now_or_never();
        results.push(dial.map(|r| r.map(|_| ()).map_err(|e| e.0)));
    }
    assert_eq!(
        results,
        [
            Some(Err("by name".to_string())),
            Some(Err("refused".to_string())),
            None,
            Some(Err("by name".to_string())),
        ]
    );
    world.dialer.plan(agent, DialPlan::Succeed);
    assert!(world.dialer.dial(agent).now_or_never().unwrap().is_ok());
    assert_eq!(world.dialer.dials().len(), 5);
}

#[test]
fn the_tracker_sees_headers_and_each_release() {
    let world = World::ready();
    let (_, agent) = running(&world);
    let conn = world.dialer.dial(agent).now_or_never().unwrap().unwrap();
    let headers = vec![("Coder-Chat-Id".to_string(), "1".to_string())];
    conn.set_extra_headers(&headers);
    assert_eq!(world.dialer.open_connections(), 1);
    assert_eq!(world.dialer.connections()[0].released, 0);
    drop(conn);
    assert_eq!(world.dialer.headers_sent(), std::slice::from_ref(&headers));
    let record = &world.dialer.connections()[0];
    assert_eq!((record.agent_id, record.dial), (agent, 1));
    assert_eq!(record.headers, [headers]);
    world.dialer.assert_released_once();
    assert_eq!(world.dialer.open_connections(), 0);
}

#[test]
fn the_ready_world_has_no_allowlist_ready_agents_and_dials_that_succeed() {
    let mut world = World::ready();
    assert_eq!(world.env().allowed_template_ids, None);
    let (_, agent) = running(&world);
    let row = world.store.tables().agent(agent).cloned().unwrap();
    assert_eq!(row.lifecycle_state, LifecycleState::Ready);
    assert_eq!(
        row.status(world.now(), world.inactive_timeout()),
        AgentStatus::Connected
    );
    assert!(world.dialer.dial(agent).now_or_never().unwrap().is_ok());
    let allowed = Uuid::from_u128(7);
    world.allowlist.insert(allowed);
    assert_eq!(world.env().allowed_template_ids.map(|a| a.len()), Some(1));
    // The strict world is unchanged.
    let strict = World::new();
    assert!(strict.env().allowed_template_ids.is_some());
    let (_, agent) = running(&strict);
    assert!(strict.dialer.dial(agent).now_or_never().is_none(), "hangs");
}

#[test]
fn agents_can_be_put_into_every_status() {
    let world = World::new();
    let (_, agent) = running(&world);
    world.advance(Duration::from_secs(600));
    let earlier = world.now() - Duration::from_secs(90);
    for status in [
        AgentStatus::Connecting,
        AgentStatus::Timeout,
        AgentStatus::Connected,
        AgentStatus::Disconnected {
            since: Some(earlier),
        },
        AgentStatus::Disconnected { since: None },
        AgentStatus::Connecting,
    ] {
        world.set_agent_status(agent, status);
        let row = world.store.tables().agent(agent).cloned().unwrap();
        assert_eq!(row.status(world.now(), world.inactive_timeout()), status);
    }
}

#[test]
fn the_inactive_timeout_can_change_after_the_world_is_built() {
    let world = World::new();
    let (_, agent) = running(&world);
    world.set_agent_status(agent, AgentStatus::Connected);
    world.advance(Duration::from_secs(60));
    assert!(
        world.dialer.dial(agent).now_or_never().is_none(),
        "30 s: silent"
    );
    world.set_inactive_timeout(Duration::from_secs(120));
    assert_eq!(
        world.env().agent_inactive_disconnect_timeout,
        Duration::from_secs(120)
    );
    assert!(
        world.dialer.dial(agent).now_or_never().is_some(),
        "120 s: live"
    );
}

#[test]
fn a_job_can_finish_failed_with_a_null_error() {
    let world = World::new();
    let template = world.template("t").create();
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Running);
    world.finish_job_with_null_error(build.job_id);
    let job = world.store.tables().job(build.job_id).cloned().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!((job.error, job.error_code), (None, None));
    assert!(job.completed_at.is_some());
}

#[test]
fn a_recording_coderd_and_an_interposer_plug_into_a_tool_env() {
    let world = World::ready();
    let store = Rc::new(StoreInterposer::new(world.store.clone()));
    let coderd = RecordingCoderd::over(&world);
    let template = world.template("t").create();
    let env = crate::tools::ToolEnv {
        store: store.as_ref(),
        coderd: Some(&coderd as &dyn Coderd),
        ..world.env()
    };
    let input = format!(r#"{{"template_id":"{}","name":"dev"}}"#, template.template);
    let response = world.call(crate::tools::create_workspace::run(&env, &input));
    assert!(!response.is_error, "{response:?}");
    assert_eq!(coderd.create_requests()[0].name, "dev");
    assert!(store.count(Query::GetTemplateById) >= 1);
}
