//! A preset with a prebuild pool: the reconciler builds a prebuilt
//! workspace; a create with that preset claims it, and its running agent
//! keeps running under the new owner.

mod common;

use chatsim::{Call, EventKind, PresetSpec, Turn};
use common::*;

fn a_create_with_a_preset_claims_a_ready_prebuild_and_keeps_its_agent() {
    let mut w = world(0, 0);
    w.templates[0].versions[0].presets.push(PresetSpec {
        name: "small".into(),
        default: true,
        description: String::new(),
        parameters: Default::default(),
        desired_prebuilds: Some(1),
    });
    let create = Turn::new(
        CHAT,
        vec![
            Call::CreateWorkspace {
                template: "dev".into(),
                name: WS.into(),
                parameters: Default::default(),
                preset: Some("small".into()),
            },
            Call::WaitBuild {
                workspace: WS.into(),
            },
            Call::BindChat {
                workspace: WS.into(),
            },
            exec("echo claimed"),
        ],
    );
    let turns = vec![at(create, 90), wait_until(150)];
    let outcome = run_ok(&config(12, w, turns, vec![]));
    let ws = ws_summary(&outcome, WS);
    assert_eq!(ws.owner, "alice");
    assert_eq!(ws.builds.len(), 2, "the prebuild's build, then the claim");
    assert!(ws.builds[1].logs[0].contains("Claiming a prebuilt workspace"));
    assert_eq!(ws.agents.len(), 1);
    assert_eq!(ws.agents[0].status, "connected");
    let CallResult {
        is_error,
        content: text,
        ..
    } = last_result(&outcome, "api.exec");
    assert!(!is_error && text.contains("claimed"), "{text}");
    let first_agent_connects = kind(&outcome, EventKind::AgentConnect)
        .iter()
        .filter(|r| matches!(&r.event, chatsim::Event::AgentConnect { agent, .. } if *agent == ws.agents[0].id))
        .count();
    assert_eq!(first_agent_connects, 1, "the claimed agent never restarted");
}

/// Every story above, on both transports; each run must tell the same
/// story on both (`common::on_both_transports`).
mod both {
    #[test]
    fn a_create_with_a_preset_claims_a_ready_prebuild_and_keeps_its_agent() {
        super::on_both_transports(
            super::a_create_with_a_preset_claims_a_ready_prebuild_and_keeps_its_agent,
        );
    }
}
