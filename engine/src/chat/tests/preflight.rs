//! External agents (spec 3 §2.2 step 5, §3.2 step 4, §3.4): an unreachable
//! external agent that is still the latest fails before any dial; every
//! other case dials.

use super::{connected, err_text, secs, Harness};
use crate::chat::DIAL_TIMEOUT;
use crate::memory::Query;
use crate::ports::StoreError;
use crate::testkit::DialPlan;

const OFFLINE: &str = "workspace uses an externally managed agent that is currently offline. The user needs to reconnect the external agent on its host, then try again";
const NOT_CONNECTED: &str = "workspace uses an externally managed agent that has not connected yet. The user needs to start the workspace externally and make sure the external agent is connected, then try again";

fn external(
    h: &Harness,
) -> (
    crate::testkit::TemplateIds,
    uuid::Uuid,
    crate::model::WorkspaceAgent,
) {
    let template = h.world.template("ext").external().create();
    h.running_on(template)
}

#[test]
fn an_offline_external_agent_fails_in_preflight_without_a_dial() {
    let h = Harness::new();
    let (_, _, agent) = external(&h);
    h.world.disconnect_agent(agent.id);
    h.world.dialer.plan(agent.id, DialPlan::Forbidden);
    let turn = h.turn();
    let start = h.world.now();
    let result = h.world.run(turn.get_workspace_conn());
    assert!(matches!(&result, Err(e) if e.is_external_agent_unavailable()));
    assert_eq!(err_text(result), OFFLINE);
    assert_eq!(h.elapsed(start), secs(0));
    assert!(h.dialed().is_empty());
}

#[test]
fn a_timed_out_external_agent_fails_in_preflight_even_by_default() {
    let h = Harness::new();
    let template = h.world.template("ext").external().create();
    let (_, agent) = h.started(&template);
    h.world.advance(secs(121));
    h.world.dialer.plan(agent.id, DialPlan::Forbidden);
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        NOT_CONNECTED
    );
}

#[test]
fn a_connecting_external_agent_dials() {
    let h = Harness::new();
    let template = h.world.template("ext").external().create();
    let (_, agent) = h.started(&template);
    h.world.dialer.plan(agent.id, DialPlan::Succeed);
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_connecting_external_agent_that_times_out_gets_the_external_text() {
    let h = Harness::new();
    let template = h.world.template("ext").external().create();
    let (_, agent) = h.started(&template);
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    let turn = h.turn();
    let start = h.world.now();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        NOT_CONNECTED
    );
    assert_eq!(h.elapsed(start), secs(30));
}

#[test]
fn a_connected_external_agent_whose_dial_times_out_gets_the_external_text_not_stop_start() {
    let h = Harness::new();
    let (_, _, agent) = external(&h);
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    let turn = h.turn();
    assert_eq!(err_text(h.world.run(turn.get_workspace_conn())), OFFLINE);
}

#[test]
fn a_stale_external_binding_never_short_circuits() {
    let h = Harness::new();
    let (template, ws, old) = external(&h);
    h.world.disconnect_agent(old.id);
    let (_, new) = h.rebuild(&template, ws);
    h.bind_agent(old.id);
    h.world.dialer.plan(old.id, DialPlan::Hang);
    h.world.dialer.plan(new.id, DialPlan::Succeed);
    let turn = h.turn();
    let start = h.world.now();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![old.id, new.id]);
    assert_eq!(h.elapsed(start), secs(5));
    assert_eq!(h.world.chat_row().agent_id, Some(new.id));
}

#[test]
fn a_failing_latest_lookup_in_preflight_dials() {
    let h = Harness::new();
    let (_, _, agent) = external(&h);
    h.bind_agent(agent.id);
    h.world.disconnect_agent(agent.id);
    h.world.store.fail(
        Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
        StoreError::Other("db down".into()),
    );
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    let turn = h.turn();
    // Dialed, timed out, classification lookup failed: the soft text (the
    // external override needs the latest agent).
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        DIAL_TIMEOUT
    );
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_disconnected_normal_agent_always_dials() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.disconnect_agent(agent.id);
    h.world.dialer.plan(agent.id, DialPlan::Succeed);
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id]);
}
