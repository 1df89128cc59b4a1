//! getWorkspaceConn: cache, resolver, lazy validation, races, headers
//! (spec 3 §2.1–§2.3).

use std::rc::Rc;

use futures::future::join;

use super::{connected, err_text, secs, Harness};
use crate::chat::{
    ChatSettings, ANCESTOR_CHAT_IDS_HEADER, CHAT_ID_HEADER, CONNECTOR_NOT_CONFIGURED, NO_WORKSPACE,
    NO_WORKSPACE_AGENT, WORKSPACE_CHANGED_WHILE_CONNECTING,
};
use crate::memory::{MemStore, Query};
use crate::model::{AgentSpec, Chat, JobStatus, Transition};
use crate::ports::Clock;
use crate::ports::{Event, Store, StoreError, StoreResult};
use crate::testkit::{DialPlan, StoreInterposer};

#[test]
fn a_fresh_dial_is_cached_and_reused_and_released_with_the_turn() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    let turn = h.turn();
    let first = connected(h.world.run(turn.get_workspace_conn()));
    let second = connected(h.world.run(turn.get_workspace_conn()));
    assert!(Rc::ptr_eq(&first, &second));
    assert_eq!(h.dialed(), vec![agent.id]);
    assert_eq!(
        h.world
            .events
            .events
            .borrow()
            .iter()
            .filter(|e| matches!(e, Event::Dial { .. }))
            .count(),
        1
    );
    drop((first, second));
    assert_eq!(h.world.dialer.open_connections(), 1);
    turn.close();
    assert_eq!(h.world.dialer.open_connections(), 0);
}

#[test]
fn resolution_persists_the_build_and_agent_binding() {
    let h = Harness::new();
    let (_, ws, agent) = h.running();
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    let chat = h.world.chat_row();
    let build = h
        .world
        .store
        .tables()
        .latest_build(ws)
        .cloned()
        .expect("build");
    assert_eq!(
        (chat.build_id, chat.agent_id),
        (Some(build.id), Some(agent.id))
    );
}

#[test]
fn no_dialer_is_the_connector_text() {
    let h = Harness::without_dialer();
    h.running();
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        CONNECTOR_NOT_CONFIGURED
    );
    assert_eq!(
        CONNECTOR_NOT_CONFIGURED,
        "workspace agent connector is not configured"
    );
}

#[test]
fn no_workspace_is_the_resolver_text_and_a_workspace_bound_mid_turn_is_found() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        NO_WORKSPACE
    );
    assert_eq!(
        NO_WORKSPACE,
        "no workspace is associated with this chat. Use the create_workspace tool to create one"
    );
    // A tool binds a workspace without telling the turn: the chat is re-read.
    let (_, _, agent) = h.running_on(template);
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_stopped_workspace_has_no_agent_and_is_never_dialed() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    h.world
        .workspace(&template, Transition::Stop, JobStatus::Succeeded);
    h.world.dialer.default_plan(DialPlan::Forbidden);
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        NO_WORKSPACE_AGENT
    );
}

#[test]
fn several_chat_agents_are_a_wrapped_selection_error() {
    let h = Harness::new();
    let spec = |name: &str| AgentSpec {
        name: name.into(),
        connection_timeout_seconds: 120,
        ..AgentSpec::default()
    };
    let template = h
        .world
        .template("t")
        .agents(vec![spec("a-coderd-chat"), spec("b-coderd-chat")])
        .create();
    h.world
        .workspace(&template, Transition::Start, JobStatus::Succeeded);
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "find chat agent: multiple agents match the chat suffix \"-coderd-chat\": a-coderd-chat, b-coderd-chat; only one agent should use this suffix"
    );
}

#[test]
fn a_missing_bound_agent_is_re_resolved_silently_and_other_errors_are_logged() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(uuid::Uuid::from_u128(0xdead));
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id]);
    assert!(!h.has_log("agent binding lookup failed"));
    assert_eq!(h.world.chat_row().agent_id, Some(agent.id));

    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    h.world.store.fail_times(
        Query::GetWorkspaceAgentById,
        1,
        StoreError::Other("db down".into()),
    );
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert!(h.has_log("agent binding lookup failed, re-resolving: db down"));
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_bound_agent_is_trusted_without_a_latest_check() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(
        h.world
            .store
            .calls(Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId),
        0
    );
}

#[test]
fn a_cache_hit_re_reads_the_agent_and_redials_when_it_reads_disconnected() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world
        .dialer
        .plans(agent.id, vec![DialPlan::Succeed, DialPlan::Succeed]);
    let turn = h.turn();
    let first = connected(h.world.run(turn.get_workspace_conn()));
    drop(first);
    h.world.disconnect_agent(agent.id);
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id, agent.id]);
    assert_eq!(
        h.world.dialer.open_connections(),
        1,
        "the old conn was released"
    );
}

#[test]
fn a_cache_hit_redials_after_a_heartbeat_gap_beyond_the_inactive_timeout() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world
        .dialer
        .plans(agent.id, vec![DialPlan::Succeed, DialPlan::Succeed]);
    let turn = h.turn();
    drop(connected(h.world.run(turn.get_workspace_conn())));
    h.world.advance(secs(30));
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed().len(), 1, "30 s of silence still reads connected");
    h.world.advance(secs(1));
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed().len(), 2);
}

#[test]
fn a_cache_hit_trusts_the_cache_when_the_agent_read_fails() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    let turn = h.turn();
    drop(connected(h.world.run(turn.get_workspace_conn())));
    h.world.disconnect_agent(agent.id);
    h.world.store.fail_times(
        Query::GetWorkspaceAgentById,
        1,
        StoreError::Other("db down".into()),
    );
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id]);
    assert!(h.has_log("failed to re-fetch agent for status check: db down"));
}

#[test]
fn a_cached_never_connected_agent_is_never_dropped() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let (_, agent) = h.started(&template);
    h.world.dialer.plan(agent.id, DialPlan::Succeed);
    let turn = h.turn();
    drop(connected(h.world.run(turn.get_workspace_conn())));
    h.world.advance(secs(600)); // status: timeout
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed().len(), 1);
}

#[test]
fn a_stale_binding_switches_after_the_validation_delay_and_persists_the_new_binding() {
    let h = Harness::new();
    let (template, ws, old) = h.running();
    let (build2, new) = h.rebuild(&template, ws);
    h.bind_agent(old.id);
    // The old dial would succeed late: it is canceled and never leaks.
    h.world
        .dialer
        .plan(old.id, DialPlan::SucceedAfter(secs(10)));
    h.world.dialer.plan(new.id, DialPlan::Succeed);
    let turn = h.turn();
    let start = h.world.now();
    let conn = connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.elapsed(start), secs(5));
    assert_eq!(h.dialed(), vec![old.id, new.id]);
    let chat = h.world.chat_row();
    assert_eq!(
        (chat.build_id, chat.agent_id),
        (Some(build2.id), Some(new.id))
    );
    assert_eq!(turn.current_chat().agent_id, Some(new.id));
    assert_eq!(h.world.dialer.open_connections(), 1);
    // The switched agent is cached: the next call is a cache hit.
    drop(conn);
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed().len(), 2);
}

#[test]
fn a_slow_dial_of_the_latest_agent_keeps_waiting_after_validation() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    h.world
        .dialer
        .plan(agent.id, DialPlan::SucceedAfter(secs(12)));
    let turn = h.turn();
    let start = h.world.now();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.elapsed(start), secs(12));
    assert_eq!(h.dialed(), vec![agent.id]);
    assert_eq!(
        h.world
            .store
            .calls(Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId),
        1,
        "validated once, at 5 s"
    );
}

#[test]
fn a_failed_validation_lookup_keeps_waiting_on_the_original_dial() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    h.world
        .dialer
        .plan(agent.id, DialPlan::SucceedAfter(secs(8)));
    h.world.store.fail(
        Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
        StoreError::Other("db down".into()),
    );
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_late_original_dial_failure_is_wrapped_without_a_retry() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    h.world
        .dialer
        .plan(agent.id, DialPlan::FailAfter(secs(7), "i/o timeout".into()));
    let turn = h.turn();
    let start = h.world.now();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "dial with lazy validation: i/o timeout"
    );
    assert_eq!(h.elapsed(start), secs(7));
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_fast_failure_on_the_latest_agent_dials_twice_and_keeps_the_retry_error() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.plans(
        agent.id,
        vec![
            DialPlan::Fail("connection refused".into()),
            DialPlan::Fail("no route to host".into()),
        ],
    );
    let turn = h.turn();
    let start = h.world.now();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "dial with lazy validation: no route to host"
    );
    assert_eq!(h.dialed(), vec![agent.id, agent.id]);
    assert_eq!(h.elapsed(start), secs(0));
}

#[test]
fn a_fast_failure_whose_retry_succeeds_connects() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.plans(
        agent.id,
        vec![
            DialPlan::Fail("connection refused".into()),
            DialPlan::Succeed,
        ],
    );
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id, agent.id]);
}

#[test]
fn a_fast_failure_on_a_stale_agent_dials_the_latest_and_persists_it() {
    let h = Harness::new();
    let (template, ws, old) = h.running();
    let (build2, new) = h.rebuild(&template, ws);
    h.bind_agent(old.id);
    h.world
        .dialer
        .plan(old.id, DialPlan::Fail("connection refused".into()));
    h.world.dialer.plan(new.id, DialPlan::Succeed);
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![old.id, new.id]);
    let chat = h.world.chat_row();
    assert_eq!(
        (chat.build_id, chat.agent_id),
        (Some(build2.id), Some(new.id))
    );

    // Its failure is wrapped the same way.
    let h = Harness::new();
    let (template, ws, old) = h.running();
    let (_, new) = h.rebuild(&template, ws);
    h.bind_agent(old.id);
    h.world
        .dialer
        .plan(old.id, DialPlan::Fail("refused".into()));
    h.world
        .dialer
        .plan(new.id, DialPlan::Fail("also refused".into()));
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "dial with lazy validation: also refused"
    );
}

#[test]
fn a_fast_failure_with_a_failing_validation_returns_the_wrapped_lookup_error() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    h.world
        .dialer
        .plan(agent.id, DialPlan::Fail("refused".into()));
    h.world.store.fail(
        Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
        StoreError::Other("db down".into()),
    );
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "dial with lazy validation: get workspace agents in latest build: db down"
    );
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_fast_failure_after_the_workspace_stopped_is_the_wrapped_no_agent_text() {
    let h = Harness::new();
    let (template, ws, agent) = h.running();
    h.bind_agent(agent.id);
    h.world
        .add_build(ws, template.version, Transition::Stop, JobStatus::Succeeded);
    h.world
        .dialer
        .plan(agent.id, DialPlan::Fail("refused".into()));
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        format!("dial with lazy validation: {NO_WORKSPACE_AGENT}")
    );
}

#[test]
fn a_failed_switch_binding_write_releases_the_new_connection() {
    let h = Harness::new();
    let (template, ws, old) = h.running();
    let (_, new) = h.rebuild(&template, ws);
    h.bind_agent(old.id);
    h.world.dialer.plan(old.id, DialPlan::Hang);
    h.world.dialer.plan(new.id, DialPlan::Succeed);
    h.world.store.fail(
        Query::UpdateChatBuildAgentBinding,
        StoreError::Other("read-only".into()),
    );
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "persist chat build agent binding: read-only"
    );
    assert_eq!(h.world.dialer.open_connections(), 0);
}

/// Rebinds the chat in the DB and tells the turn, as a lifecycle tool does.
fn switch_workspace(h: &Harness, turn: &crate::chat::Turn<'_>, ws: uuid::Uuid) {
    let chat: Chat = h
        .world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(ws), None, None)
        .expect("bind");
    turn.on_chat_updated(&chat);
}

#[test]
fn a_workspace_change_during_both_dials_is_the_changed_while_connecting_text() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let mut agents = Vec::new();
    let mut workspaces = Vec::new();
    for _ in 0..3 {
        let (_, ws, agent) = h.running_on(template.clone());
        h.world
            .dialer
            .plan(agent.id, DialPlan::SucceedAfter(secs(2)));
        agents.push(agent.id);
        workspaces.push(ws);
    }
    h.world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(workspaces[0]), None, None)
        .expect("bind");
    let turn = h.turn();
    let script = async {
        h.world.clock.sleep(secs(1)).await;
        switch_workspace(&h, &turn, workspaces[1]);
        h.world.clock.sleep(secs(2)).await;
        switch_workspace(&h, &turn, workspaces[2]);
    };
    let (result, ()) = h.world.run(join(turn.get_workspace_conn(), script));
    assert_eq!(err_text(result), WORKSPACE_CHANGED_WHILE_CONNECTING);
    assert_eq!(
        WORKSPACE_CHANGED_WHILE_CONNECTING,
        "chat workspace changed while connecting"
    );
    assert_eq!(h.dialed(), vec![agents[0], agents[1]]);
    assert_eq!(h.world.dialer.open_connections(), 0, "both dials released");
}

#[test]
fn a_workspace_change_during_the_first_dial_connects_to_the_new_workspace() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let (_, ws1, a1) = h.running_on(template.clone());
    let (_, ws2, a2) = h.running_on(template);
    h.world.dialer.plan(a1.id, DialPlan::SucceedAfter(secs(2)));
    h.world.dialer.plan(a2.id, DialPlan::Succeed);
    h.world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(ws1), None, None)
        .expect("bind");
    let turn = h.turn();
    let script = async {
        h.world.clock.sleep(secs(1)).await;
        switch_workspace(&h, &turn, ws2);
    };
    let (result, ()) = h.world.run(join(turn.get_workspace_conn(), script));
    assert!(result.is_ok());
    assert_eq!(h.dialed(), vec![a1.id, a2.id]);
    assert_eq!(h.world.chat_row().agent_id, Some(a2.id));
    assert_eq!(h.world.dialer.open_connections(), 1);
}

#[test]
fn concurrent_callers_share_one_connection_and_the_loser_is_released() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    h.world
        .dialer
        .plan(agent.id, DialPlan::SucceedAfter(secs(1)));
    let turn = h.turn();
    let (a, b) = h
        .world
        .run(join(turn.get_workspace_conn(), turn.get_workspace_conn()));
    let (a, b) = (connected(a), connected(b));
    assert!(Rc::ptr_eq(&a, &b), "first writer wins");
    assert_eq!(h.dialed(), vec![agent.id, agent.id]);
    assert_eq!(h.world.dialer.open_connections(), 1);
    assert_eq!(
        h.world.dialer.headers_sent().len(),
        1,
        "headers set once, on the winner"
    );
}

#[test]
fn a_root_chat_sends_a_null_ancestor_header() {
    let h = Harness::new();
    h.running();
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(
        h.world.dialer.headers_sent(),
        vec![vec![
            (CHAT_ID_HEADER.to_string(), h.world.chat.to_string()),
            (ANCESTOR_CHAT_IDS_HEADER.to_string(), "null".to_string()),
        ]]
    );
    assert!(h.has_log("set chat headers on agent conn"));
}

#[test]
fn a_child_chat_sends_its_parent_as_the_ancestor_list() {
    let h = Harness::new();
    h.running();
    let parent = uuid::Uuid::from_u128(0xabc);
    let chat = h.world.chat;
    h.world
        .store
        .edit(|t| t.chat_mut(chat).expect("chat").parent_chat_id = Some(parent));
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(
        h.world.dialer.headers_sent()[0][1],
        (
            ANCESTOR_CHAT_IDS_HEADER.to_string(),
            format!("[\"{parent}\"]")
        )
    );
}

#[test]
fn on_chat_updated_drops_the_cached_connection_and_publishes_a_status_change() {
    let h = Harness::new();
    let (_, ws, agent) = h.running();
    h.world
        .dialer
        .plans(agent.id, vec![DialPlan::Succeed, DialPlan::Succeed]);
    let turn = h.turn();
    drop(connected(h.world.run(turn.get_workspace_conn())));
    assert_eq!(h.world.dialer.open_connections(), 1);
    switch_workspace(&h, &turn, ws);
    assert_eq!(h.world.dialer.open_connections(), 0);
    let events = h.world.events.events.borrow().clone();
    assert!(events.contains(&Event::ChatStatusChange {
        chat_id: h.world.chat
    }));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ChatUpdated(c) if c.workspace_id == Some(ws))));
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed().len(), 2, "re-resolved and re-dialed");
}

#[test]
fn custom_settings_change_the_dial_bounds() {
    let settings = ChatSettings {
        dial_timeout: secs(10),
        dial_validation_delay: secs(2),
        ..ChatSettings::default()
    };
    let h = Harness::with(settings);
    let (template, ws, old) = h.running();
    let (_, new) = h.rebuild(&template, ws);
    h.bind_agent(old.id);
    h.world.dialer.plan(old.id, DialPlan::Hang);
    h.world.dialer.plan(new.id, DialPlan::Hang);
    let turn = h.turn();
    let start = h.world.now();
    let text = err_text(h.world.run(turn.get_workspace_conn()));
    assert_eq!(text, crate::chat::DIAL_TIMEOUT);
    assert_eq!(h.elapsed(start), secs(10));
    let dials = h.world.dialer.dials();
    assert_eq!(dials[1].at, start + secs(2));
}

#[test]
fn a_binding_moved_behind_the_turns_back_is_re_resolved_for_the_new_workspace() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let (_, ws1, a1) = h.running_on(template.clone());
    let (_, ws2, a2) = h.running_on(template);
    h.world.dialer.plan(a1.id, DialPlan::Hang);
    h.world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(ws1), None, None)
        .expect("bind");
    let turn = h.turn();
    // A tool rebinds the chat in the DB without firing OnChatUpdated.
    h.world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(ws2), None, None)
        .expect("bind");
    // The first resolution persists ws1's agent onto the moved chat and
    // sees the move; the retry trusts that (stale) binding, as upstream
    // does, and lazy validation replaces it after 5 s.
    let start = h.world.now();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![a1.id, a2.id]);
    assert_eq!(h.elapsed(start), secs(5));
    assert_eq!(turn.current_chat().workspace_id, Some(ws2));
    assert_eq!(h.world.chat_row().agent_id, Some(a2.id));
}

/// A turn over `h`'s world whose store, right after each write of the
/// chat's build/agent binding, rebinds the chat to the next workspace of
/// `rebinds` (agent cleared), as another tool would; the resolver sees that
/// row, as it would see the other tool's OnChatUpdated.
fn rebinding_runtime(h: &Harness, rebinds: Vec<uuid::Uuid>) -> crate::chat::ChatRuntime {
    let world = &h.world;
    let interposer = StoreInterposer::new(world.store.clone());
    let chat = world.chat;
    for (i, ws) in (1..).zip(rebinds) {
        interposer.change_nth(
            Query::UpdateChatBuildAgentBinding,
            i,
            move |store: &MemStore, written: StoreResult<Chat>| {
                written?;
                store.update_chat_workspace_binding(chat, Some(ws), None, None)
            },
        );
    }
    let ports = crate::chat::ChatPorts {
        store: Rc::new(interposer),
        coderd: None,
        dialer: Some(Rc::new(world.dialer.clone())),
        clock: Rc::new(world.clock.clone()),
        ids: world.ids.clone(),
        events: world.events.clone(),
    };
    crate::chat::ChatRuntime::new(ports, ChatSettings::default(), world.chat)
}

#[test]
fn a_chat_rebound_during_both_resolutions_is_the_changed_while_resolving_text() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let (_, ws1, _) = h.running_on(template.clone());
    let (_, ws2, _) = h.running_on(template.clone());
    let (_, ws3, _) = h.running_on(template);
    h.world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(ws1), None, None)
        .expect("bind");
    // Each binding write is followed by a rebind: ws1 → ws2, then ws2 → ws3.
    let runtime = rebinding_runtime(&h, vec![ws2, ws3]);
    let turn = runtime
        .turn(crate::ctx::Ctx::new(h.world.cancel.clone()))
        .expect("turn");
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "chat workspace changed while resolving agent"
    );
    assert!(h.dialed().is_empty(), "nothing is dialed");
}

#[test]
fn a_chat_rebound_during_one_resolution_resolves_for_the_new_workspace() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let (_, ws1, _) = h.running_on(template.clone());
    let (_, ws2, a2) = h.running_on(template);
    h.world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(ws1), None, None)
        .expect("bind");
    let runtime = rebinding_runtime(&h, vec![ws2]);
    let turn = runtime
        .turn(crate::ctx::Ctx::new(h.world.cancel.clone()))
        .expect("turn");
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![a2.id]);
    assert_eq!(h.world.chat_row().workspace_id, Some(ws2));
}
