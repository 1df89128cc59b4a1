//! One story per fault of the catalog: the action → what coderd observed →
//! the row → what a call returns, asserted on the trace and the final
//! database. User calls (create/start/stop, bind, exec) set the stage; the
//! model's calls (`execute`, `read_file`) go through the engine's chat
//! runtime, so the texts the model would read are checked too.

mod common;

use chatsim::{
    AgentStatusKind, Call, ContextPhase, DisconnectReason, Dur, Event, EventKind, Fault,
    InfraAction, Turn,
};
use chatsim_engine::chat::{AGENT_DISCONNECTED, DIAL_TIMEOUT};
use chatsim_engine::model::JobStatus;
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

fn advises_restart(text: &str) -> bool {
    text.contains("call stop_workspace to stop the workspace, then start_workspace")
}

fn infra_at(outcome: &chatsim::RunOutcome, wanted: InfraAction) -> Option<f64> {
    first_at(
        outcome,
        |e| matches!(e, Event::Infra { action, .. } if *action == wanted),
    )
}

fn eof_disconnects(outcome: &chatsim::RunOutcome) -> usize {
    kind(outcome, EventKind::AgentDisconnect)
        .iter()
        .filter(|r| {
            matches!(
                &r.event,
                Event::AgentDisconnect {
                    reason: DisconnectReason::Eof,
                    ..
                }
            )
        })
        .count()
}

fn first_status(outcome: &chatsim::RunOutcome, name: &str, status: AgentStatusKind) -> f64 {
    statuses(outcome, name)
        .into_iter()
        .find(|change| change.to == status)
        .unwrap_or_else(|| panic!("{name} never read {status}"))
        .at
}

fn agent_oom_is_recorded_at_once_while_the_workspace_still_runs() {
    let (workspace, agent) = main_agent();
    let turns = vec![
        at(
            Turn::new(CHAT, vec![execute("echo hi"), exec("echo hi")]),
            90,
        ),
        at(Turn::new(CHAT, vec![execute("echo hi")]), 200),
    ];
    let outcome = run_ok(&story(
        turns,
        vec![(60, Fault::AgentOom { workspace, agent })],
    ));

    let crash = infra_at(&outcome, InfraAction::CrashAgent).expect("the agent was crashed");
    let eof = first_at(&outcome, |e| {
        matches!(
            e,
            Event::AgentDisconnect {
                reason: DisconnectReason::Eof,
                ..
            }
        )
    })
    .expect("coderd saw the disconnect");
    // turmoil: in the step of the crash; fast: one message latency later.
    assert!(
        eof >= crash && eof - crash < 0.1,
        "end of stream is read at once: crash {crash}, eof {eof}"
    );
    let down = first_status(&outcome, "main", AgentStatusKind::Disconnected);
    assert!(down <= crash + 1.0, "disconnected at once: {down}");
    let ws = ws_summary(&outcome, WS);
    let latest = ws.builds.last().unwrap();
    assert_eq!(
        (latest.transition.as_str(), latest.status.as_str()),
        ("start", "succeeded")
    );
    assert_eq!(ws.agents[0].status, "disconnected");
    // A dial to the dead agent hangs until its deadline.
    let exec = last_result(&outcome, "api.exec");
    assert!(
        exec.is_error && exec.content.contains("timed out"),
        "{}",
        exec.content
    );
    assert!(exec.at >= 90.0 + 30.0);
    // The model: the soft text while the disconnect is younger than 90 s,
    // then the stop/start advice.
    let executes = results(&outcome, "execute");
    assert_eq!(executes[0].content, DIAL_TIMEOUT, "at {}", executes[0].at);
    assert_eq!(
        executes[1].content, AGENT_DISCONNECTED,
        "at {}",
        executes[1].at
    );
}

fn agent_respawn_blip_never_reads_disconnected_for_the_recovery_threshold() {
    let (workspace, agent) = main_agent();
    let fault = Fault::AgentRespawn {
        workspace,
        agent,
        down_for: Dur::secs(5),
    };
    let turns = vec![
        at(Turn::new(CHAT, vec![execute("echo during")]), 62),
        at(Turn::new(CHAT, vec![execute("echo after")]), 120),
        wait_until(200),
    ];
    let outcome = run_ok(&story(turns, vec![(60, fault)]));
    assert_eq!(
        kind(&outcome, EventKind::AgentConnect).len(),
        2,
        "connected, then reconnected after the respawn"
    );
    assert_eq!(kind(&outcome, EventKind::AgentDisconnect).len(), 1);
    let longest = longest_disconnect(&outcome, "main", 200.0);
    assert!(longest > 0.0, "the blip is visible");
    assert!(longest < 15.0, "disconnected for {longest}s");
    assert_eq!(ws_summary(&outcome, WS).agents[0].status, "connected");
    let executes = results(&outcome, "execute");
    assert!(
        executes.iter().all(|r| !advises_restart(&r.content)),
        "{executes:?}"
    );
    assert!(
        executes[1].content.contains("after"),
        "{}",
        executes[1].content
    );
}

fn agent_wedged_stops_heartbeats_and_hangs_dials() {
    let (workspace, agent) = main_agent();
    let fault = Fault::AgentWedged {
        workspace,
        agent,
        duration: Some(Dur::secs(200)),
    };
    let turns = vec![
        at(Turn::new(CHAT, vec![exec("echo hi")]), 110),
        at(Turn::new(CHAT, vec![execute("echo hi")]), 160),
        wait_until(400),
    ];
    let outcome = run_ok(&story(turns, vec![(60, fault)]));
    assert_eq!(
        eof_disconnects(&outcome),
        0,
        "a stalled process never exits"
    );
    assert!(
        !kind(&outcome, EventKind::AgentDisconnect).is_empty(),
        "coderd drops the silent connection"
    );
    let down = first_status(&outcome, "main", AgentStatusKind::Disconnected);
    assert!(
        down > 60.0 + 20.0 && down < 60.0 + 45.0,
        "after the inactive timeout: {down}"
    );
    let exec = last_result(&outcome, "api.exec");
    assert!(
        exec.is_error && exec.content.contains("timed out"),
        "dial hangs: {}",
        exec.content
    );
    let execute = last_result(&outcome, "execute");
    assert_eq!(
        execute.content, AGENT_DISCONNECTED,
        "silent for over 90 s at {}",
        execute.at
    );
    let back = statuses(&outcome, "main");
    assert_eq!(
        back.last().unwrap().to,
        AgentStatusKind::Connected,
        "reconnects once un-stalled"
    );
}

fn agent_that_never_connects_reads_timeout() {
    let (workspace, agent) = main_agent();
    let turns = vec![
        at(Turn::new(CHAT, stop_and_wait()), 60),
        at(Turn::new(CHAT, start_and_wait(&[])), 100),
        at(Turn::new(CHAT, vec![execute("echo hi")]), 300),
    ];
    let fault = Fault::AgentNeverConnects { workspace, agent };
    let outcome = run_ok(&story(turns, vec![(90, fault)]));
    let ws = ws_summary(&outcome, WS);
    assert_eq!(ws.builds.len(), 3);
    assert_eq!(ws.agents[0].status, "timeout");
    let timeout_at = first_status(&outcome, "main", AgentStatusKind::Timeout);
    assert!(
        timeout_at > 100.0 + 120.0,
        "after the 120 s connection timeout: {timeout_at}"
    );
    assert_eq!(
        kind(&outcome, EventKind::AgentConnect).len(),
        1,
        "only the first build's agent connected"
    );
    let text = last_result(&outcome, "execute").content;
    assert_eq!(
        text, DIAL_TIMEOUT,
        "no stop/start advice for a never-connected agent by default"
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
    let turns = vec![
        create_and_bind(),
        at(Turn::new(CHAT, vec![execute("echo hi")]), 300),
    ];
    run_ok(&config(5, external_world(), turns, faults))
}

fn external_agent_never_started_reads_timeout() {
    let outcome = external_story(None);
    assert!(infra_at(&outcome, InfraAction::AssignAgent).is_some());
    assert!(infra_at(&outcome, InfraAction::StartAgent).is_none());
    assert!(kind(&outcome, EventKind::AgentConnect).is_empty());
    assert_eq!(ws_summary(&outcome, WS).agents[0].status, "timeout");
    let text = last_result(&outcome, "execute").content;
    assert!(
        text.contains("externally managed agent that has not connected yet"),
        "{text}"
    );
}

fn external_agent_started_late_connects() {
    let outcome = external_story(Some(200));
    let connected = first_at(&outcome, |e| matches!(e, Event::AgentConnect { .. })).unwrap();
    assert!(connected > 200.0);
    let seen: Vec<AgentStatusKind> = statuses(&outcome, "ext")
        .into_iter()
        .map(|change| change.to)
        .collect();
    assert_eq!(
        seen,
        [
            AgentStatusKind::Connecting,
            AgentStatusKind::Timeout,
            AgentStatusKind::Connected
        ]
    );
    let CallResult {
        is_error,
        content: text,
        ..
    } = last_result(&outcome, "execute");
    assert!(!is_error && text.contains("hi"), "{text}");
}

fn partition_between_coderd_and_agent_reads_disconnected_after_the_inactive_timeout() {
    let (ws, agent) = main_agent();
    let fault = Fault::Partition {
        a: "coderd".into(),
        b: format!("agent:{ws}/{agent}"),
        duration: Some(Dur::secs(90)),
    };
    let outcome = run_ok(&story(vec![wait_until(260)], vec![(60, fault)]));
    assert_eq!(eof_disconnects(&outcome), 0, "nothing crashed");
    let seen = statuses(&outcome, "main");
    let down = first_status(&outcome, "main", AgentStatusKind::Disconnected);
    assert!(down > 60.0 + 20.0 && down < 60.0 + 45.0, "{down}");
    assert_eq!(
        seen.last().unwrap().to,
        AgentStatusKind::Connected,
        "reconnects after the repair"
    );
    assert!(infra_at(&outcome, InfraAction::Repair).unwrap() >= 150.0);
}

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
    let down = first_status(&outcome, "main", AgentStatusKind::Disconnected);
    assert!(down > 80.0 && down < 130.0, "{down}");
    let up = seen
        .iter()
        .rev()
        .find(|change| change.to == AgentStatusKind::Connected)
        .unwrap()
        .at;
    assert!(up >= 130.0, "connected again after the repair: {up}");
}

fn provisioner_crash_mid_job_leaves_the_job_to_the_hang_detector() {
    let fault = Fault::ProvisionerCrash {
        restart_after: Some(Dur::secs(10)),
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
    let failed_at = first_at(&outcome, |e| {
        matches!(
            e,
            Event::Job {
                status: JobStatus::Failed,
                ..
            }
        )
    })
    .unwrap();
    assert!(failed_at >= 300.0, "{failed_at}");
    assert!(first_at(
        &outcome,
        |e| matches!(e, Event::Infra { action: InfraAction::Bounce, target } if target == "provisioner")
    )
    .is_some());
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

fn provider_error_mentioning_quota_gets_no_error_code() {
    let outcome = build_failure("googleapi: Error 403: Quota 'CPUS' exceeded");
    let build = &ws_summary(&outcome, WS).builds[0];
    assert_eq!(build.status, "failed");
    assert_eq!(
        build.error_code, None,
        "only the quota commit sets INSUFFICIENT_QUOTA"
    );
}

fn quota_exhausted_fails_the_next_start_at_the_commit() {
    let turns = vec![
        create_and_bind(),
        at(Turn::new(CHAT, stop_and_wait()), 60),
        at(
            Turn::new(
                CHAT,
                vec![Call::tool("start_workspace", serde_json::json!({}))],
            ),
            120,
        ),
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
    // The tool reads the job's code: the structured quota result.
    let CallResult {
        is_error,
        content: text,
        ..
    } = last_result(&outcome, "start_workspace");
    assert!(!is_error);
    assert!(
        text.contains(r#""error_code":"INSUFFICIENT_QUOTA""#),
        "{text}"
    );
}

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
        starts[0]
            .content
            .contains("needs the template's active version"),
        "{}",
        starts[0].content
    );
    assert!(starts[0]
        .content
        .contains("zone must be set before the workspace can start"));
    assert!(
        starts[1].content.contains("build_id"),
        "{}",
        starts[1].content
    );
    let builds = &ws_summary(&outcome, WS).builds;
    assert_eq!(builds.len(), 3, "the refused start created no build");
    assert_ne!(builds[2].template_version, builds[0].template_version);
    assert_eq!(builds[2].status, "succeeded");
}

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

fn context_file_edit_is_served_on_the_next_read_and_the_next_turn() {
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
    let read = || {
        Call::tool(
            "read_file",
            serde_json::json!({ "path": "/home/coder/AGENTS.md" }),
        )
    };
    let turns = vec![
        create_and_bind(),
        at(Turn::new(CHAT, vec![exec("cat AGENTS.md")]), 60),
        at(Turn::new(CHAT, vec![read()]), 120),
    ];
    let outcome = run_ok(&config(2, w, turns, vec![(90, fault)]));
    let before = last_result(&outcome, "api.exec").content;
    assert!(before.contains("old rules"), "{before}");
    let after = last_result(&outcome, "read_file").content;
    assert!(after.contains("new rules"), "{after}");
    // The chat runtime pulls the context every turn: the turn after the
    // edit is prompted with the new file.
    let prompts = prompts(&outcome);
    let begin = |n: usize| {
        prompts
            .iter()
            .find(|p| p.turn == n && p.phase == ContextPhase::Begin)
            .map(|p| p.text.clone())
            .unwrap()
    };
    assert!(begin(1).contains("old rules"), "{}", begin(1));
    assert!(begin(2).contains("new rules"), "{}", begin(2));
}

fn parallel_tool_calls_run_concurrently_in_one_turn() {
    let fault = Fault::ParallelToolCalls {
        chat: CHAT.into(),
        calls: vec![
            execute("sleep 20"),
            execute("sleep 20"),
            Call::tool("list_templates", serde_json::json!({})),
        ],
    };
    let outcome = run_ok(&story(vec![wait_until(200)], vec![(60, fault)]));
    let records = outcome.trace.records();
    let times = |want: EventKind| -> Vec<f64> {
        records
            .iter()
            .filter(|r| r.event.kind() == want)
            .filter(|r| {
                matches!(
                    &r.event,
                    Event::ToolCall { turn: 1, .. } | Event::ToolResult { turn: 1, .. }
                )
            })
            .map(|r| r.at.as_secs_f64())
            .collect()
    };
    let (calls, done) = (times(EventKind::ToolCall), times(EventKind::ToolResult));
    assert_eq!((calls.len(), done.len()), (3, 3));
    assert!(
        calls.iter().all(|&c| c < done[0]),
        "all sent before any result"
    );
    let span = done.last().unwrap() - calls[0];
    assert!(span < 30.0, "two 20 s commands overlapped: {span}s");
}

fn user_restart_leaves_the_chat_bound_to_an_agent_of_an_older_build() {
    let fault = Fault::UserRestartsWorkspace {
        chat: CHAT.into(),
        workspace: WS.into(),
    };
    let inspect = || Call::Inspect {
        workspace: WS.into(),
    };
    let turns = vec![at(
        Turn::new(CHAT, vec![inspect(), execute("echo hi"), inspect()]),
        200,
    )];
    let outcome = run_ok(&story(turns, vec![(60, fault)]));
    let inspections: Vec<serde_json::Value> = results(&outcome, "api.inspect")
        .into_iter()
        .map(|r| serde_json::from_str(&r.content).unwrap())
        .collect();
    let before = &inspections[0];
    assert_eq!(before["latest_build"]["number"], 3);
    let latest = before["agents"][0]["id"].as_str().unwrap();
    assert_eq!(before["agents"][0]["status"], "connected");
    assert_ne!(
        before["chat"]["agent_id"].as_str().unwrap(),
        latest,
        "the chat still names the first build's agent"
    );
    // The chat runtime's lazy validation finds the new agent and rebinds.
    let CallResult {
        is_error,
        content: text,
        ..
    } = last_result(&outcome, "execute");
    assert!(!is_error && text.contains("hi"), "{text}");
    assert_eq!(inspections[1]["chat"]["agent_id"].as_str().unwrap(), latest);
}

/// Every story above, on both transports; each run must tell the same
/// story on both (`common::on_both_transports`).
mod both {
    #[test]
    fn agent_oom_is_recorded_at_once_while_the_workspace_still_runs() {
        super::on_both_transports(
            super::agent_oom_is_recorded_at_once_while_the_workspace_still_runs,
        );
    }

    #[test]
    fn agent_respawn_blip_never_reads_disconnected_for_the_recovery_threshold() {
        super::on_both_transports(
            super::agent_respawn_blip_never_reads_disconnected_for_the_recovery_threshold,
        );
    }

    #[test]
    fn agent_wedged_stops_heartbeats_and_hangs_dials() {
        super::on_both_transports(super::agent_wedged_stops_heartbeats_and_hangs_dials);
    }

    #[test]
    fn agent_that_never_connects_reads_timeout() {
        super::on_both_transports(super::agent_that_never_connects_reads_timeout);
    }

    #[test]
    fn external_agent_never_started_reads_timeout() {
        super::on_both_transports(super::external_agent_never_started_reads_timeout);
    }

    #[test]
    fn external_agent_started_late_connects() {
        super::on_both_transports(super::external_agent_started_late_connects);
    }

    #[test]
    fn partition_between_coderd_and_agent_reads_disconnected_after_the_inactive_timeout() {
        super::on_both_transports(
            super::partition_between_coderd_and_agent_reads_disconnected_after_the_inactive_timeout,
        );
    }

    #[test]
    fn hold_delays_messages_and_delivers_them_on_repair() {
        super::on_both_transports(super::hold_delays_messages_and_delivers_them_on_repair);
    }

    #[test]
    fn provisioner_crash_mid_job_leaves_the_job_to_the_hang_detector() {
        super::on_both_transports(
            super::provisioner_crash_mid_job_leaves_the_job_to_the_hang_detector,
        );
    }

    #[test]
    fn build_failure_fails_the_job_with_the_provider_text() {
        super::on_both_transports(super::build_failure_fails_the_job_with_the_provider_text);
    }

    #[test]
    fn provider_error_mentioning_quota_gets_no_error_code() {
        super::on_both_transports(super::provider_error_mentioning_quota_gets_no_error_code);
    }

    #[test]
    fn quota_exhausted_fails_the_next_start_at_the_commit() {
        super::on_both_transports(super::quota_exhausted_fails_the_next_start_at_the_commit);
    }

    #[test]
    fn new_required_parameter_blocks_a_pinned_start_until_given() {
        super::on_both_transports(super::new_required_parameter_blocks_a_pinned_start_until_given);
    }

    #[test]
    fn require_active_version_decides_which_version_a_start_uses() {
        super::on_both_transports(super::require_active_version_decides_which_version_a_start_uses);
    }

    #[test]
    fn context_file_edit_is_served_on_the_next_read_and_the_next_turn() {
        super::on_both_transports(
            super::context_file_edit_is_served_on_the_next_read_and_the_next_turn,
        );
    }

    #[test]
    fn parallel_tool_calls_run_concurrently_in_one_turn() {
        super::on_both_transports(super::parallel_tool_calls_run_concurrently_in_one_turn);
    }

    #[test]
    fn user_restart_leaves_the_chat_bound_to_an_agent_of_an_older_build() {
        super::on_both_transports(
            super::user_restart_leaves_the_chat_bound_to_an_agent_of_an_older_build,
        );
    }
}

/// A read of a file the agent does not have answers the agent's own error
/// text, as the model reads it (not the dialer's name for the response).
#[test]
fn a_missing_file_reads_as_the_agents_error() {
    let read = Call::tool(
        "read_file",
        serde_json::json!({ "path": "notes/missing.md" }),
    );
    let turns = vec![at(Turn::new(CHAT, vec![read]), 60)];
    let outcome = chatsim::run_fast(&story(turns, vec![]));
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    let result = last_result(&outcome, "read_file");
    assert!(result.is_error, "{result:?}");
    assert_eq!(
        result.content,
        "open notes/missing.md: no such file or directory"
    );
}

/// The user stops the chat while `stop_workspace` waits on its build: the
/// turn's context is canceled, the wait ends at once with the spec's
/// canceled text, and the stop build itself goes on to finish.
#[test]
fn user_cancels_turn_ends_a_waiting_tool_with_the_canceled_text() {
    let stop = Turn::new(
        "main",
        vec![Call::tool("stop_workspace", serde_json::json!({}))],
    )
    .at(Dur::secs(60));
    let cancel = Fault::UserCancelsTurn {
        chat: "main".into(),
    };
    let outcome = chatsim::run_fast(&story(vec![stop], vec![(62, cancel)]));
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    let result = results(&outcome, "stop_workspace");
    assert_eq!(result.len(), 1);
    let (at, content) = (result[0].at, &result[0].content);
    assert!(at < 63.0, "the wait ended at once, not at {at}");
    assert!(
        content.contains("context canceled"),
        "the canceled text: {content}"
    );
    let fault = first_at(
        &outcome,
        |e| matches!(e, Event::Fault { name, .. } if name == "user_cancels_turn"),
    );
    assert!(fault.is_some(), "the fault took effect");
    // Without a turn in flight there is nothing to cancel.
    let idle = chatsim::run_fast(&story(
        vec![],
        vec![(
            45,
            Fault::UserCancelsTurn {
                chat: "main".into(),
            },
        )],
    ));
    let skipped = first_at(
        &idle,
        |e| matches!(e, Event::FaultSkipped { name, .. } if name == "user_cancels_turn"),
    );
    assert!(skipped.is_some());
}

/// The owner stops the workspace from the dashboard: coderd enqueues the
/// user's stop build at that instant; a start pressed while it is in
/// flight is refused (skipped), and one pressed after it ends starts the
/// workspace again.
#[test]
fn dashboard_stop_and_start_act_at_their_instant() {
    let ws = || "ws1".to_string();
    let faults = vec![
        (45, Fault::UserStopsWorkspace { workspace: ws() }),
        (46, Fault::UserStartsWorkspace { workspace: ws() }),
        (120, Fault::UserStartsWorkspace { workspace: ws() }),
    ];
    let outcome = chatsim::run_fast(&story(vec![], faults));
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    let user_builds: Vec<(f64, chatsim::Hook)> = outcome
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::Enqueue {
                by: chatsim::Requester::User,
                hook,
                ..
            } if r.at.as_secs() >= 45 => Some((r.at.as_secs_f64(), *hook)),
            _ => None,
        })
        .collect();
    assert_eq!(
        user_builds.iter().map(|(_, h)| *h).collect::<Vec<_>>(),
        [chatsim::Hook::Stop, chatsim::Hook::Start]
    );
    assert!((45.0..45.5).contains(&user_builds[0].0), "{user_builds:?}");
    assert!(
        (120.0..120.5).contains(&user_builds[1].0),
        "{user_builds:?}"
    );
    let refused = first_at(
        &outcome,
        |e| matches!(e, Event::FaultSkipped { name, reason } if name == "user_starts_workspace" && reason.contains("refused")),
    );
    assert!(
        refused.is_some_and(|at| (46.0..46.5).contains(&at)),
        "{refused:?}"
    );
}
