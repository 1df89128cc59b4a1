//! One story per fault of the catalog: the action → what coderd observed →
//! the row → what a call returns, asserted on the trace and the final
//! database. The tools are stubs until they land, so these stories use the
//! user API (create/start/stop, bind, exec); they do not depend on tool
//! texts.

mod common;

use chatsim::{Call, Event, Fault, Turn};
use common::*;

/// ws1 is created and bound by ~30 s; the agent is ready well before 60 s.
fn story(turns: Vec<Turn>, faults: Vec<(u64, Fault)>) -> chatsim::RunConfig {
    let mut all = vec![create_and_bind()];
    all.extend(turns);
    config(42, world(0, 0), all, faults)
}

fn main_agent() -> (String, String) {
    ws_fault_target()
}

#[test]
fn agent_oom_is_recorded_at_once_while_the_workspace_still_runs() {
    let (workspace, agent) = main_agent();
    let turns = vec![
        at(Turn::new(CHAT, vec![exec("echo hi")]), 90),
        wait_until(180),
    ];
    let outcome = run_ok(&story(
        turns,
        vec![(60, Fault::AgentOom { workspace, agent })],
    ));

    let crash = first_at(
        &outcome,
        |e| matches!(e, Event::Infra { action, .. } if action == "crash_agent"),
    )
    .expect("the agent was crashed");
    let eof = first_at(
        &outcome,
        |e| matches!(e, Event::AgentDisconnect { reason, .. } if reason == "eof"),
    )
    .expect("coderd saw the disconnect");
    assert_eq!(eof, crash, "end of stream is read in the step of the crash");
    let down = statuses(&outcome, "main")
        .into_iter()
        .find(|(_, to)| to == "disconnected")
        .expect("agent reads disconnected");
    assert!(
        down.0 <= crash + 1.0,
        "disconnected at once, not after the inactive timeout"
    );
    let ws = ws_summary(&outcome, WS);
    let latest = ws.builds.last().unwrap();
    assert_eq!(
        (latest.transition.as_str(), latest.status.as_str()),
        ("start", "succeeded")
    );
    assert_eq!(ws.agents[0].status, "disconnected");
    // A dial to the dead agent hangs until its deadline.
    let (at, is_error, text) = results(&outcome, "api.exec").pop().unwrap();
    assert!(is_error && text.contains("timed out"), "{text}");
    assert!(at >= 90.0 + 30.0);
}

#[test]
fn agent_respawn_blip_never_reads_disconnected_for_the_recovery_threshold() {
    let (workspace, agent) = main_agent();
    let fault = Fault::AgentRespawn {
        workspace,
        agent,
        down_for: chatsim::Dur::secs(5),
    };
    let outcome = run_ok(&story(vec![wait_until(200)], vec![(60, fault)]));
    let connects = kind(&outcome, "agent_connect").len();
    assert_eq!(connects, 2, "connected, then reconnected after the respawn");
    assert_eq!(kind(&outcome, "agent_disconnect").len(), 1);
    let longest = longest_disconnect(&outcome, "main", 200.0);
    assert!(longest > 0.0, "the blip is visible");
    assert!(longest < 15.0, "disconnected for {longest}s");
    assert!(longest < 90.0);
    assert_eq!(ws_summary(&outcome, WS).agents[0].status, "connected");
}

#[test]
fn agent_wedged_stops_heartbeats_and_hangs_dials() {
    let (workspace, agent) = main_agent();
    let fault = Fault::AgentWedged {
        workspace,
        agent,
        duration: Some(chatsim::Dur::secs(120)),
    };
    let turns = vec![
        at(Turn::new(CHAT, vec![exec("echo hi")]), 110),
        wait_until(300),
    ];
    let outcome = run_ok(&story(turns, vec![(60, fault)]));
    assert!(
        kind(&outcome, "agent_disconnect").iter().all(
            |r| matches!(&r.event, Event::AgentDisconnect { reason, .. } if reason == "stale")
        ),
        "a stalled process is never seen to exit"
    );
    let down = statuses(&outcome, "main")
        .into_iter()
        .find(|(_, to)| to == "disconnected")
        .expect("reads disconnected");
    assert!(
        down.0 > 60.0 + 20.0 && down.0 < 60.0 + 45.0,
        "after the inactive timeout: {}",
        down.0
    );
    let (_, is_error, text) = results(&outcome, "api.exec").pop().unwrap();
    assert!(is_error && text.contains("timed out"), "dial hangs: {text}");
    let back = statuses(&outcome, "main");
    assert_eq!(
        back.last().unwrap().1,
        "connected",
        "reconnects once un-stalled"
    );
}

#[test]
fn agent_that_never_connects_reads_timeout() {
    let (workspace, agent) = main_agent();
    let turns = vec![
        at(Turn::new(CHAT, stop_and_wait()), 60),
        at(Turn::new(CHAT, start_and_wait(&[])), 100),
        wait_until(300),
    ];
    let outcome = run_ok(&story(
        turns,
        vec![(90, Fault::AgentNeverConnects { workspace, agent })],
    ));
    let ws = ws_summary(&outcome, WS);
    assert_eq!(ws.builds.len(), 3);
    assert_eq!(ws.agents[0].status, "timeout");
    let timeout_at = statuses(&outcome, "main")
        .into_iter()
        .find(|(_, to)| to == "timeout")
        .unwrap()
        .0;
    assert!(
        timeout_at > 100.0 + 120.0,
        "after the 120 s connection timeout: {timeout_at}"
    );
    assert_eq!(
        kind(&outcome, "agent_connect").len(),
        1,
        "only the first build's agent connected"
    );
}

fn external_world() -> chatsim::WorldSpec {
    let mut w = world(0, 0);
    let mut ext = chatsim::AgentDef::named("ext");
    ext.external = true;
    w.templates[0].versions[0].agents = vec![ext];
    w
}

fn external_story(started_at: Option<u64>) -> chatsim::RunOutcome {
    let fault = Fault::ExternalAgentStarted {
        workspace: WS.into(),
        agent: "ext".into(),
    };
    let faults = started_at.map(|at| (at, fault)).into_iter().collect();
    let turns = vec![create_and_bind(), wait_until(300)];
    run_ok(&config(5, external_world(), turns, faults))
}

#[test]
fn external_agent_never_started_reads_timeout() {
    let outcome = external_story(None);
    assert!(first_at(
        &outcome,
        |e| matches!(e, Event::Infra { action, .. } if action == "assign_agent")
    )
    .is_some());
    assert!(first_at(
        &outcome,
        |e| matches!(e, Event::Infra { action, .. } if action == "start_agent")
    )
    .is_none());
    assert!(kind(&outcome, "agent_connect").is_empty());
    assert_eq!(ws_summary(&outcome, WS).agents[0].status, "timeout");
}

#[test]
fn external_agent_started_late_connects() {
    let outcome = external_story(Some(200));
    let connected = first_at(&outcome, |e| matches!(e, Event::AgentConnect { .. })).unwrap();
    assert!(connected > 200.0);
    let seen: Vec<String> = statuses(&outcome, "ext")
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(seen, ["connecting", "timeout", "connected"]);
}

#[test]
fn partition_between_coderd_and_agent_reads_disconnected_after_the_inactive_timeout() {
    let (ws, agent) = main_agent();
    let fault = Fault::Partition {
        a: "coderd".into(),
        b: format!("agent:{ws}/{agent}"),
        duration: Some(chatsim::Dur::secs(90)),
    };
    let outcome = run_ok(&story(vec![wait_until(260)], vec![(60, fault)]));
    assert!(
        !kind(&outcome, "agent_disconnect")
            .iter()
            .any(|r| matches!(&r.event, Event::AgentDisconnect { reason, .. } if reason == "eof")),
        "nothing crashed"
    );
    let seen = statuses(&outcome, "main");
    let down = seen
        .iter()
        .find(|(_, s)| s == "disconnected")
        .expect("disconnected")
        .0;
    assert!(down > 60.0 + 20.0 && down < 60.0 + 45.0, "{down}");
    assert_eq!(
        seen.last().unwrap().1,
        "connected",
        "reconnects after the repair"
    );
    assert!(
        first_at(
            &outcome,
            |e| matches!(e, Event::Infra { action, .. } if action == "repair")
        )
        .unwrap()
            >= 150.0
    );
}

#[test]
fn hold_delays_messages_and_delivers_them_on_repair() {
    let (ws, agent) = main_agent();
    let host = format!("agent:{ws}/{agent}");
    let faults = vec![
        (
            60,
            Fault::Hold {
                a: "coderd".into(),
                b: host.clone(),
                duration: None,
            },
        ),
        (
            130,
            Fault::Repair {
                a: "coderd".into(),
                b: host,
            },
        ),
    ];
    let outcome = run_ok(&story(vec![wait_until(260)], faults));
    let seen = statuses(&outcome, "main");
    let down = seen
        .iter()
        .find(|(_, s)| s == "disconnected")
        .expect("silent agent")
        .0;
    assert!(down > 80.0 && down < 130.0, "{down}");
    let up = seen.iter().rev().find(|(_, s)| s == "connected").unwrap().0;
    assert!(up >= 130.0, "connected again after the repair: {up}");
}

#[test]
fn provisioner_crash_mid_job_leaves_the_job_to_the_hang_detector() {
    let fault = Fault::ProvisionerCrash {
        restart_after: Some(chatsim::Dur::secs(10)),
    };
    let turns = vec![create_and_bind(), wait_until(420)];
    let outcome = run_ok(&config(9, world(0, 0), turns, vec![(5, fault)]));
    let build = &ws_summary(&outcome, WS).builds[0];
    assert_eq!(build.status, "failed");
    assert_eq!(
        build.error.as_deref(),
        Some("Build has been detected as hung for 5 minutes and will be terminated.")
    );
    assert_eq!(build.error_code, None);
    let failed_at = first_at(
        &outcome,
        |e| matches!(e, Event::Job { status, .. } if status == "failed"),
    )
    .unwrap();
    assert!(failed_at >= 300.0, "{failed_at}");
    assert!(first_at(&outcome, |e| matches!(e, Event::Infra { action, target } if action == "bounce" && target == "provisioner")).is_some());
}

fn build_failure(error: &str) -> chatsim::RunOutcome {
    let fault = Fault::BuildFailure {
        workspace: None,
        error: error.into(),
    };
    run_ok(&config(
        3,
        world(0, 0),
        vec![create_and_bind()],
        vec![(0, fault)],
    ))
}

#[test]
fn build_failure_fails_the_job_with_the_provider_text() {
    let outcome = build_failure("provider timed out creating the instance");
    let build = &ws_summary(&outcome, WS).builds[0];
    assert_eq!(build.status, "failed");
    assert_eq!(
        build.error.as_deref(),
        Some("provider timed out creating the instance")
    );
    assert!(build
        .logs
        .iter()
        .any(|l| l == "apply: Error: provider timed out creating the instance"));
    assert!(ws_summary(&outcome, WS).agents.is_empty());
}

#[test]
fn provider_error_mentioning_quota_gets_no_error_code() {
    let outcome = build_failure("googleapi: Error 403: Quota 'CPUS' exceeded");
    let build = &ws_summary(&outcome, WS).builds[0];
    assert_eq!(build.status, "failed");
    assert_eq!(
        build.error_code, None,
        "only the quota commit sets INSUFFICIENT_QUOTA"
    );
}

#[test]
fn quota_exhausted_fails_the_next_start_at_the_commit() {
    let turns = vec![
        create_and_bind(),
        at(Turn::new(CHAT, stop_and_wait()), 60),
        at(Turn::new(CHAT, start_and_wait(&[])), 120),
    ];
    let fault = Fault::QuotaExhausted {
        user: "alice".into(),
        allowance: 0,
    };
    let outcome = run_ok(&config(4, world(10, 100), turns, vec![(100, fault)]));
    let builds = &ws_summary(&outcome, WS).builds;
    assert_eq!(builds[0].status, "succeeded");
    assert_eq!(builds[0].daily_cost, 10);
    let last = builds.last().unwrap();
    assert_eq!(last.status, "failed");
    assert_eq!(last.error.as_deref(), Some("insufficient quota"));
    assert_eq!(last.error_code.as_deref(), Some("INSUFFICIENT_QUOTA"));
    assert!(last.logs.iter().any(|l| l.contains("insufficient quota")));
}

#[test]
fn new_required_parameter_blocks_a_pinned_start_until_given() {
    let turns = vec![
        create_and_bind(),
        at(Turn::new(CHAT, stop_and_wait()), 60),
        at(Turn::new(CHAT, start_and_wait(&[])), 120),
        at(Turn::new(CHAT, start_and_wait(&[("zone", "z1")])), 150),
    ];
    let faults = vec![
        (
            100,
            Fault::NewTemplateVersion {
                template: "dev".into(),
                required_parameters: vec!["zone".into()],
            },
        ),
        (
            101,
            Fault::RequireActiveVersion {
                template: "dev".into(),
                enabled: true,
            },
        ),
    ];
    let outcome = run_ok(&config(6, world(0, 0), turns, faults));
    let starts = results(&outcome, "api.start_workspace");
    assert!(
        starts[0].2.contains("needs the template's active version"),
        "{}",
        starts[0].2
    );
    assert!(starts[0]
        .2
        .contains("zone must be set before the workspace can start"));
    assert!(starts[1].2.contains("build_id"), "{}", starts[1].2);
    let builds = &ws_summary(&outcome, WS).builds;
    assert_eq!(builds.len(), 3, "the refused start created no build");
    assert_ne!(builds[2].template_version, builds[0].template_version);
    assert_eq!(builds[2].status, "succeeded");
}

#[test]
fn require_active_version_decides_which_version_a_start_uses() {
    let restart = |at_secs| {
        at(
            Turn::new(CHAT, [stop_and_wait(), start_and_wait(&[])].concat()),
            at_secs,
        )
    };
    let turns = vec![create_and_bind(), restart(120), restart(240)];
    let faults = vec![
        (
            100,
            Fault::NewTemplateVersion {
                template: "dev".into(),
                required_parameters: vec![],
            },
        ),
        (
            200,
            Fault::RequireActiveVersion {
                template: "dev".into(),
                enabled: true,
            },
        ),
    ];
    let outcome = run_ok(&config(8, world(0, 0), turns, faults));
    let builds = &ws_summary(&outcome, WS).builds;
    assert_eq!(builds.len(), 5);
    assert_eq!(
        builds[2].template_version, builds[0].template_version,
        "not pinned: previous version"
    );
    assert_ne!(
        builds[4].template_version, builds[0].template_version,
        "pinned: active version"
    );
}

#[test]
fn context_file_edit_is_served_on_the_next_read() {
    let mut w = world(0, 0);
    w.templates[0].versions[0].agents[0]
        .behaviour
        .files
        .insert("AGENTS.md".into(), "old rules\n".into());
    let (workspace, agent) = main_agent();
    let fault = Fault::ContextFilesChanged {
        workspace,
        agent,
        path: "AGENTS.md".into(),
        content: "new rules\n".into(),
    };
    let turns = vec![
        create_and_bind(),
        at(Turn::new(CHAT, vec![exec("cat AGENTS.md")]), 60),
        at(
            Turn::new(CHAT, vec![exec("cat /home/coder/AGENTS.md")]),
            120,
        ),
    ];
    let outcome = run_ok(&config(2, w, turns, vec![(90, fault)]));
    let reads = results(&outcome, "api.exec");
    assert!(reads[0].2.contains("old rules"), "{}", reads[0].2);
    assert!(reads[1].2.contains("new rules"), "{}", reads[1].2);
}

#[test]
fn parallel_tool_calls_run_concurrently_in_one_turn() {
    let fault = Fault::ParallelToolCalls {
        chat: CHAT.into(),
        calls: vec![
            exec("sleep 20"),
            exec("sleep 20"),
            Call::tool("list_templates", serde_json::json!({})),
        ],
    };
    let outcome = run_ok(&story(vec![wait_until(200)], vec![(60, fault)]));
    let records = outcome.trace.records();
    let calls: Vec<f64> = records
        .iter()
        .filter(|r| matches!(&r.event, Event::ToolCall { turn: 1, .. }))
        .map(|r| r.at().as_secs_f64())
        .collect();
    let done: Vec<f64> = records
        .iter()
        .filter(|r| matches!(&r.event, Event::ToolResult { turn: 1, .. }))
        .map(|r| r.at().as_secs_f64())
        .collect();
    assert_eq!((calls.len(), done.len()), (3, 3));
    assert!(
        calls.iter().all(|&c| c < done[0]),
        "all sent before any result"
    );
    let span = done.last().unwrap() - calls[0];
    assert!(span < 30.0, "two 20 s commands overlapped: {span}s");
}

#[test]
fn user_restart_leaves_the_chat_bound_to_an_agent_of_an_older_build() {
    let fault = Fault::UserRestartsWorkspace {
        chat: CHAT.into(),
        workspace: WS.into(),
    };
    let turns = vec![
        at(
            Turn::new(
                CHAT,
                vec![Call::Inspect {
                    workspace: WS.into(),
                }],
            ),
            200,
        ),
        wait_until(260),
    ];
    let outcome = run_ok(&story(turns, vec![(60, fault)]));
    let (_, _, text) = results(&outcome, "api.inspect").pop().unwrap();
    let inspect: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(inspect["latest_build"]["number"], 3);
    let bound = inspect["chat"]["agent_id"].as_str().unwrap();
    let latest = inspect["agents"][0]["id"].as_str().unwrap();
    assert_ne!(
        bound, latest,
        "the chat still names the first build's agent"
    );
    assert_eq!(inspect["agents"][0]["status"], "connected");
}
