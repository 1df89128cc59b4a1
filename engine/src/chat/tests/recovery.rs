//! Recovery classification after a dial timeout (spec 3 §2.2 step 8, §3.2):
//! only a confirmed disconnect of the latest agent advises stop/start.

use futures::future::join;

use super::{connected, err_text, secs, Harness};
use crate::chat::{
    ChatSettings, AGENT_DISCONNECTED, AGENT_NEVER_CONNECTED, DIAL_TIMEOUT, NO_WORKSPACE_AGENT,
};
use crate::memory::Query;
use crate::model::{JobStatus, Transition};
use crate::ports::Clock;
use crate::ports::StoreError;
use crate::testkit::DialPlan;

/// Runs one connection attempt; returns its error text and the elapsed time.
fn attempt(h: &Harness) -> (String, std::time::Duration) {
    let turn = h.turn();
    let start = h.world.now();
    let text = err_text(h.world.run(turn.get_workspace_conn()));
    (text, h.elapsed(start))
}

#[test]
fn a_dial_timeout_with_a_connected_agent_is_the_soft_text() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h), (DIAL_TIMEOUT.to_string(), secs(30)));
    assert_eq!(
        DIAL_TIMEOUT,
        "connection to the workspace agent timed out. The agent may still be reachable on the next attempt."
    );
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_heartbeat_gap_shorter_than_the_threshold_is_the_soft_text() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    // Silent for 40 s (reads disconnected since the last heartbeat), then
    // the 30 s dial: 70 s < 90 s.
    h.world.advance(secs(40));
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h).0, DIAL_TIMEOUT);
}

#[test]
fn a_confirmed_disconnect_of_at_least_the_threshold_is_the_stop_start_text() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.disconnect_agent(agent.id);
    h.world.advance(secs(60));
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h), (AGENT_DISCONNECTED.to_string(), secs(30)));
    assert_eq!(
        AGENT_DISCONNECTED,
        "workspace agent has been disconnected for at least 90 seconds and cannot execute tools. To recover, call stop_workspace to stop the workspace, then start_workspace to start it again"
    );
}

#[test]
fn a_disconnect_one_second_short_of_the_threshold_is_the_soft_text() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.disconnect_agent(agent.id);
    h.world.advance(secs(59));
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h).0, DIAL_TIMEOUT);
}

#[test]
fn a_silent_agent_past_the_threshold_counts_from_its_last_heartbeat() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.advance(secs(60));
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h).0, AGENT_DISCONNECTED);
}

#[test]
fn a_zero_threshold_advises_stop_start_for_any_disconnect() {
    let settings = ChatSettings {
        recovery_threshold: secs(0),
        ..ChatSettings::default()
    };
    let h = Harness::with(settings);
    let (_, _, agent) = h.running();
    h.world.disconnect_agent(agent.id);
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h).0, AGENT_DISCONNECTED);
    // The default threshold gives the soft text for the same story.
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.disconnect_agent(agent.id);
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h).0, DIAL_TIMEOUT);
}

#[test]
fn only_the_latest_agent_counts_not_the_stale_one_that_was_dialed() {
    let h = Harness::new();
    let (template, ws, old) = h.running();
    h.world.disconnect_agent(old.id);
    h.world.advance(secs(600));
    let (_, new) = h.rebuild(&template, ws);
    h.bind_agent(old.id);
    h.world.dialer.plan(old.id, DialPlan::Hang);
    h.world.dialer.plan(new.id, DialPlan::Hang);
    assert_eq!(attempt(&h), (DIAL_TIMEOUT.to_string(), secs(30)));
    assert_eq!(h.dialed(), vec![old.id, new.id]);
}

#[test]
fn a_db_read_error_during_classification_is_the_soft_text() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.disconnect_agent(agent.id);
    h.world.advance(secs(600));
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    h.world.store.fail(
        Query::GetWorkspaceAgentById,
        StoreError::Other("db down".into()),
    );
    assert_eq!(attempt(&h).0, DIAL_TIMEOUT);
    assert!(h.has_log("failed to load latest agent for timeout classification: db down"));
}

#[test]
fn a_latest_agent_lookup_error_during_classification_is_the_soft_text() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.bind_agent(agent.id);
    h.world.disconnect_agent(agent.id);
    h.world.advance(secs(600));
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    h.world.store.fail(
        Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
        StoreError::Other("db down".into()),
    );
    assert_eq!(attempt(&h).0, DIAL_TIMEOUT);
    assert!(h.has_log("failed to resolve latest agent for timeout classification"));
}

#[test]
fn a_never_connected_timeout_agent_is_soft_by_default_and_never_connected_with_the_setting() {
    for (never_connected_recovery, expected) in
        [(false, DIAL_TIMEOUT), (true, AGENT_NEVER_CONNECTED)]
    {
        let h = Harness::with(ChatSettings {
            never_connected_recovery,
            ..ChatSettings::default()
        });
        let template = h.world.template("t").create();
        let (_, agent) = h.started(&template);
        h.world.advance(secs(121)); // connection timeout 120 s passed
        h.world.dialer.plan(agent.id, DialPlan::Hang);
        assert_eq!(attempt(&h), (expected.to_string(), secs(30)));
    }
    assert_eq!(
        AGENT_NEVER_CONNECTED,
        "workspace agent never connected and its connection timeout has elapsed, so it cannot execute tools. To recover, call stop_workspace to stop the workspace, then start_workspace to start it again"
    );
}

#[test]
fn a_connecting_agent_is_the_soft_text_even_with_the_setting() {
    let h = Harness::with(ChatSettings {
        never_connected_recovery: true,
        ..ChatSettings::default()
    });
    let template = h.world.template("t").create();
    let (_, agent) = h.started(&template);
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    assert_eq!(attempt(&h).0, DIAL_TIMEOUT);
}

#[test]
fn a_workspace_stopped_during_the_dial_is_the_no_agent_text() {
    let h = Harness::new();
    let (template, ws, agent) = h.running();
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    let turn = h.turn();
    let stop = async {
        h.world.clock.sleep(secs(10)).await;
        h.world
            .add_build(ws, template.version, Transition::Stop, JobStatus::Succeeded);
    };
    let (result, ()) = h.world.run(join(turn.get_workspace_conn(), stop));
    assert_eq!(err_text(result), NO_WORKSPACE_AGENT);
    assert_eq!(
        NO_WORKSPACE_AGENT,
        "workspace has no running agent: the workspace is likely stopped. Use the start_workspace tool to start it"
    );
}

#[test]
fn a_timed_out_dial_clears_the_cache_so_the_next_call_dials_afresh() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world
        .dialer
        .plans(agent.id, vec![DialPlan::Hang, DialPlan::Succeed]);
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        DIAL_TIMEOUT
    );
    h.world.connect_agent(agent.id);
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.dialed(), vec![agent.id, agent.id]);
}

#[test]
fn a_fast_failure_retry_that_hangs_is_classified_at_the_timeout() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.disconnect_agent(agent.id);
    h.world.advance(secs(60));
    h.world.dialer.plans(
        agent.id,
        vec![DialPlan::Fail("refused".into()), DialPlan::Hang],
    );
    assert_eq!(attempt(&h), (AGENT_DISCONNECTED.to_string(), secs(30)));
}

#[test]
fn a_dial_finishing_at_the_deadline_is_used_anyway() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world
        .dialer
        .plan(agent.id, DialPlan::SucceedAfter(secs(30)));
    let turn = h.turn();
    let start = h.world.now();
    connected(h.world.run(turn.get_workspace_conn()));
    assert_eq!(h.elapsed(start), secs(30));
    assert_eq!(h.world.dialer.open_connections(), 1);
}

#[test]
fn parent_cancellation_passes_through_and_is_never_rewritten() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    // Disconnected long enough that a timeout would advise stop/start.
    h.world.disconnect_agent(agent.id);
    h.world.advance(secs(600));
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    let turn = h.turn();
    let start = h.world.now();
    let cancel = async {
        h.world.clock.sleep(secs(10)).await;
        h.world.cancel.cancel();
    };
    let (result, ()) = h.world.run(join(turn.get_workspace_conn(), cancel));
    assert_eq!(err_text(result), "context canceled");
    assert_eq!(h.elapsed(start), secs(10));
    assert!(!h.has_log("failed to"));
}

#[test]
fn a_canceled_turn_does_not_dial() {
    let h = Harness::new();
    h.running();
    h.world.dialer.default_plan(DialPlan::Forbidden);
    h.world.cancel.cancel();
    let turn = h.turn();
    assert_eq!(
        err_text(h.world.run(turn.get_workspace_conn())),
        "context canceled"
    );
}
