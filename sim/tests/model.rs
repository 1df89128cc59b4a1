//! The reference model plays turns through the driver: it asks for the next
//! call after each response, and its outcome is traced.

mod common;

use chatsim::{Dur, Event, EventKind, Fault, Goal, ModelKind, ModelOutcome, Turn};
use chatsim_engine::chat::AGENT_DISCONNECTED;
use common::*;

fn oom_then_model(call_cap: Option<usize>) -> chatsim::RunConfig {
    let mut model = Turn::reference(
        CHAT,
        Goal::RunCommand {
            command: "make test".into(),
            template: None,
        },
    )
    .at(Dur::mins(7))
    .named("recover");
    model.call_cap = call_cap;
    let oom = Fault::AgentOom {
        workspace: WS.into(),
        agent: "main".into(),
    };
    config(
        7,
        world(0, 0),
        vec![create_and_bind(), model],
        vec![(300, oom)],
    )
}

fn model_outcomes(outcome: &chatsim::RunOutcome) -> Vec<(ModelOutcome, usize)> {
    kind(outcome, EventKind::ModelOutcome)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::ModelOutcome { outcome, calls, .. } => Some((outcome, calls)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_reference_model_stops_and_starts_a_dead_agent_then_runs_its_command() {
    let outcome = run_ok(&oom_then_model(None));
    let calls: Vec<String> = kind(&outcome, EventKind::ToolCall)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::ToolCall { name, turn: 1, .. } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        ["execute", "stop_workspace", "start_workspace", "execute"]
    );
    assert_eq!(results(&outcome, "execute")[0].content, AGENT_DISCONNECTED);
    assert_eq!(model_outcomes(&outcome), [(ModelOutcome::Done, 4)]);
    let start = kind(&outcome, EventKind::TurnStart).pop().unwrap();
    assert!(
        matches!(start.event, Event::TurnStart { name: Some(ref n), model: Some(ModelKind::Reference), .. } if n == "recover")
    );
}

#[test]
fn a_model_out_of_calls_ends_its_turn_and_breaks_the_cap_invariant() {
    let config = oom_then_model(Some(2));
    let outcome = chatsim::run(&config);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    assert_eq!(model_outcomes(&outcome), [(ModelOutcome::CapExceeded, 2)]);
    let violations = outcome.violations(&config.settings);
    let names: Vec<&str> = violations.iter().map(|v| v.invariant).collect();
    assert_eq!(names, ["model_within_call_cap"], "{violations:?}");
}
