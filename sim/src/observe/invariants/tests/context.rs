//! `context_refresh_every_turn`.

use super::*;

const DIR: &str = "/home/coder/project";
const NEW: &str = "Use `cargo nextest` now.\n";

/// `main`'s AGENTS.md is edited at 30 s; turn 1 begins at 40 s and its
/// prompt is built at 41 s, showing `shown`. `reachable`: the agent stays
/// connected and a dial of it succeeds; otherwise it is disconnected from
/// 35 s and nothing is dialed. `earlier`: a prompt at 32 s already
/// showed the new text.
fn refresh_story(reachable: bool, shown: &str, earlier: bool) -> Trace {
    let s = Story::new();
    s.ev(
        30.0,
        Event::Fault {
            name: "context_files_changed".into(),
            params: serde_json::json!({
                "workspace": "ws1", "agent": "main", "path": "AGENTS.md", "content": NEW,
            }),
        },
    );
    s.ev(
        30.1,
        Event::Infra {
            action: crate::observe::trace::InfraAction::WriteFile,
            target: format!("agent-w1-main:{DIR}/AGENTS.md"),
        },
    );
    if earlier {
        s.ev(32.0, prompt_event(0, shown));
    }
    if !reachable {
        s.status(35.0, "a1", "b1", AgentStatusKind::Disconnected, Some(33.0));
    }
    s.turn(1, 40.0);
    if reachable {
        s.ev(
            40.5,
            Event::Dial {
                agent: "a1".into(),
                outcome: DialOutcome::Ok,
                attempts: 1,
                error: None,
            },
        );
    }
    s.ev(41.0, prompt_event(1, shown));
    s.end(42.0)
}

fn prompt_event(turn: usize, content: &str) -> Event {
    Event::TurnContext {
        chat: "main".into(),
        turn,
        phase: crate::observe::trace::ContextPhase::Begin,
        prompt: format!(
            "<workspace-context>\nWorking Directory: {DIR}\n\nSource: {DIR}/AGENTS.md\n{content}\n</workspace-context>"
        ),
    }
}

#[test]
fn an_edited_context_file_reaches_the_next_prompt() {
    let name = CONTEXT_REFRESH_EVERY_TURN;
    let stale = broken(name, &refresh_story(true, "Use make.\n", false));
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(stale[0].message.contains("lacks the"), "{}", stale[0]);
    assert_eq!(broken(name, &refresh_story(true, NEW, false)), vec![]);
    // Under on_agent_change the check is vacuous.
    let settings = Settings {
        context_refresh: crate::plan::ContextRefresh::OnAgentChange,
        ..Settings::default()
    };
    let trace = refresh_story(true, "Use make.\n", false);
    assert!(check_trace(&trace, &settings, None)
        .iter()
        .all(|v| v.invariant != name));
}

#[test]
fn an_unreachable_agent_falls_back_to_what_was_persisted() {
    let name = CONTEXT_REFRESH_EVERY_TURN;
    assert_eq!(
        broken(name, &refresh_story(false, "Use make.\n", false)),
        vec![]
    );
    let invented = broken(name, &refresh_story(false, NEW, false));
    assert_eq!(invented.len(), 1, "{invented:?}");
    assert!(
        invented[0].message.contains("no earlier prompt showed"),
        "{}",
        invented[0]
    );
    assert_eq!(broken(name, &refresh_story(false, NEW, true)), vec![]);
}

/// `main`'s AGENTS.md is edited at 30 s and the agent stays connected;
/// turn 1's prompt at 41 s shows `shown`. `dial_started`: the connection
/// layer started a dial of it at 40.2 s (which never ended `ok`).
fn skipped_story(dial_started: bool, shown: &str) -> Trace {
    let s = Story::new();
    s.ev(
        30.0,
        Event::Fault {
            name: "context_files_changed".into(),
            params: serde_json::json!({
                "workspace": "ws1", "agent": "main", "path": "AGENTS.md", "content": NEW,
            }),
        },
    );
    s.ev(
        30.1,
        Event::Infra {
            action: crate::observe::trace::InfraAction::WriteFile,
            target: format!("agent-w1-main:{DIR}/AGENTS.md"),
        },
    );
    s.turn(1, 40.0);
    if dial_started {
        s.ev(
            40.2,
            Event::Engine {
                kind: crate::observe::trace::EngineEventKind::DialStart,
                detail: "agent=a1".into(),
            },
        );
    }
    s.ev(41.0, prompt_event(1, shown));
    s.end(42.0)
}

#[test]
fn a_turn_that_never_pulls_from_a_connected_agent_is_stale() {
    let name = CONTEXT_REFRESH_EVERY_TURN;
    let skipped = broken(name, &skipped_story(false, "Use make.\n"));
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].message.contains("never dialed"),
        "{}",
        skipped[0]
    );
    // A pull that started may have failed: vacuous.
    assert_eq!(broken(name, &skipped_story(true, "Use make.\n")), vec![]);
    // Showing the new files (persisted by an earlier pull) is fine.
    assert_eq!(broken(name, &skipped_story(false, NEW)), vec![]);
}
