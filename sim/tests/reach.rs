//! Reachability goals and coverage cells read real runs: each goal is
//! reached by the scenario (or story) written for its path and by no
//! plain happy path, and a cell names the state, fault and tool of a call.

use std::path::Path;

use chatsim::observe::coverage::{cells, Cell, NONE};
use chatsim::observe::reach::{self, reached};
use chatsim::observe::view::TraceView;
use chatsim::story::*;
use chatsim::{run_fast, AgentBehaviour, AgentDef, Fault, RunConfig, Settings};
use serde_json::json;

fn view_of(config: &RunConfig) -> TraceView {
    let outcome = run_fast(config);
    assert!(outcome.is_ok(), "the run failed");
    TraceView::new(&outcome.trace)
}

fn scenario(name: &str) -> RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    chatsim::scenario::load(&path)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        .config()
}

/// Each scenario written for a path reaches that path's goal.
#[test]
fn each_path_scenario_reaches_its_goal() {
    let table = [
        ("build-canceled-from-dashboard", reach::RECOVERY_NO_AGENT),
        ("oom-recovered-by-restart", reach::RECOVERY_DISCONNECTED),
        (
            "dial-timeout-retried-then-escalated",
            reach::RECOVERY_DIAL_TIMEOUT,
        ),
        (
            "two-chat-agents-selection-error",
            reach::RECOVERY_NO_WORKSPACE,
        ),
        ("external-agent-offline-fails-fast", reach::EXTERNAL_OFFLINE),
        (
            "external-agent-never-started",
            reach::EXTERNAL_NOT_CONNECTED,
        ),
        ("quota-failure-on-create", reach::QUOTA_AFTER_CREATION),
        (
            "quota-failure-on-in-progress-build",
            reach::QUOTA_IN_PROGRESS_BUILD,
        ),
        ("quota-failure-on-start", reach::QUOTA_ON_START),
        ("start-auto-updates-active-version", reach::UPDATE_AUTO),
        (
            "start-manual-update-partial-parameters",
            reach::UPDATE_MANUAL_REQUIRED,
        ),
        (
            "stale-agent-rebound-by-lazy-validation",
            reach::LAZY_VALIDATION_REBIND,
        ),
        (
            "context-pull-fails-falls-back-to-persisted",
            reach::CONTEXT_FALLBACK,
        ),
    ];
    for (name, goal) in table {
        let got = reached(&view_of(&scenario(name)));
        assert!(got.contains(&goal), "{name} reached {got:?}, not {goal}");
    }
    // The quota paths are told apart, not one goal for any quota result.
    let in_progress = reached(&view_of(&scenario("quota-failure-on-in-progress-build")));
    assert!(!in_progress.contains(&reach::QUOTA_AFTER_CREATION));
    // The never-connected text needs the setting; without it, the soft text.
    let soft = reached(&view_of(&scenario("never-connected-agent-not-recovered")));
    assert!(!soft.contains(&reach::RECOVERY_NEVER_CONNECTED), "{soft:?}");
}

#[test]
fn plain_runs_reach_no_goal() {
    for name in [
        "create-happy-path",
        "stop-already-stopped",
        "heartbeat-blip-no-recovery",
    ] {
        let got = reached(&view_of(&scenario(name)));
        assert!(got.is_empty(), "{name} reached {got:?}");
    }
}

/// The never-connected advice: the setting on, a broken image, a command
/// after the agent's connection timeout.
#[test]
fn never_connected_advice_is_reached_with_the_setting() {
    let mut agent = AgentDef::named("main");
    agent.behaviour = AgentBehaviour {
        never_connects: true,
        ..AgentBehaviour::default()
    };
    let config = Story::new(24)
        .settings(Settings {
            never_connected_recovery: true,
            ..Settings::default()
        })
        .user("alice")
        .template(template("dev").agents(vec![agent]))
        .create_and_bind("ws1")
        .turn_at(mins(5), execute("make test"))
        .build();
    let got = reached(&view_of(&config));
    assert!(got.contains(&reach::RECOVERY_NEVER_CONNECTED), "{got:?}");
}

/// The model asks for a name the user's own workspace already has: one
/// retry under a generated name.
#[test]
fn a_taken_name_reaches_the_retry() {
    let create = tool(
        "create_workspace",
        json!({ "template_id": "{{template:dev}}", "name": "ws1" }),
    );
    let config = Story::new(3)
        .user("alice")
        .template("dev")
        .turn(vec![create_workspace("dev", "ws1"), wait_build("ws1")])
        .turn_at(mins(2), create)
        .build();
    let got = reached(&view_of(&config));
    assert_eq!(got, [reach::CREATE_NAME_CONFLICT_RETRY]);
}

/// The user cancels the turn while create_workspace waits for its build.
#[test]
fn a_cancel_during_a_call_reaches_the_canceled_turn() {
    let create = tool(
        "create_workspace",
        json!({ "template_id": "{{template:dev}}", "name": "ws1" }),
    );
    let cancel = Fault::UserCancelsTurn {
        chat: "main".into(),
    };
    let story = Story::new(5).user("alice").template("dev").turn(create);
    let canceled = story.clone().fault_at(secs(5), cancel.clone()).build();
    assert!(reached(&view_of(&canceled)).contains(&reach::TURN_CANCELED));
    // After the call has returned, the cancel meets no call in flight.
    let late = story.fault_at(mins(10), cancel).build();
    assert!(!reached(&view_of(&late)).contains(&reach::TURN_CANCELED));
}

/// An OOM-killed agent, then a command: the call's cell names the running
/// workspace, the agent's recorded status, the fault and the tool; the
/// call before the fault has no fault.
#[test]
fn a_call_after_an_oom_is_its_cell() {
    let config = Story::new(7)
        .user("alice")
        .template("dev")
        .create_and_bind("ws1")
        .turn_at(mins(1), execute("make test"))
        .fault_at(mins(5), agent_oom("ws1", "main"))
        .turn_at(mins(7), execute("make test"))
        .build();
    let got = cells(&view_of(&config));
    let cell = |agent: &str, fault: &str| Cell {
        workspace: "start.succeeded".into(),
        agent: agent.into(),
        fault: fault.into(),
        tool: "execute".into(),
    };
    let want = [cell("connected", NONE), cell("disconnected", "agent_oom")];
    assert_eq!(got.into_iter().collect::<Vec<_>>(), want);
}
