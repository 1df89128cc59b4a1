//! The fuzzer's model personas really misbehave: over a few hundred
//! generated cases, each persona's turns show its one misbehaviour in the
//! trace (and every case still passes every invariant — the fuzz pass of
//! `tests/fuzz.rs` and `chatsim fuzz` check that at scale).

use std::collections::BTreeMap;

use chatsim::fuzz::{check, draw};
use chatsim::players::personas::is_failure;
use chatsim::players::CallResult;
use chatsim::{Event, ModelKind, Record, Transport};

/// The turns a persona played, with their records in order.
fn persona_turns(records: &[Record], persona: ModelKind) -> Vec<Vec<&Event>> {
    let mut turns: BTreeMap<usize, Vec<&Event>> = BTreeMap::new();
    let mut current = None;
    for record in records {
        match &record.event {
            Event::TurnStart { turn, model, .. } => {
                current = (*model == Some(persona)).then_some(*turn);
            }
            Event::TurnEnd { .. } => current = None,
            event => {
                if let Some(turn) = current {
                    turns.entry(turn).or_default().push(event);
                }
            }
        }
    }
    turns.into_values().collect()
}

/// Whether a persona turn shows the persona's own misbehaviour.
fn misbehaves(persona: ModelKind, turn: &[&Event]) -> bool {
    let calls: Vec<(&str, &str)> = turn
        .iter()
        .filter_map(|e| match e {
            Event::ToolCall { name, input, .. } => Some((name.as_str(), input.as_str())),
            _ => None,
        })
        .collect();
    let results: Vec<CallResult> = turn
        .iter()
        .filter_map(|e| match e {
            Event::ToolResult {
                content, is_error, ..
            } => Some(CallResult {
                content: content.clone(),
                is_error: *is_error,
            }),
            _ => None,
        })
        .collect();
    match persona {
        ModelKind::Reference => false,
        // The same call sent twice in a row after an error.
        ModelKind::ImpatientRetrier => {
            calls.windows(2).any(|w| w[0] == w[1]) && results.iter().any(is_failure)
        }
        // Two lifecycle calls sent back to back before any result.
        ModelKind::ParallelCaller => turn.windows(2).any(|w| {
            matches!((w[0], w[1]),
                (Event::ToolCall { name: a, .. }, Event::ToolCall { name: b, .. })
                    if a == b && a.ends_with("_workspace"))
        }),
        // An error read, and the turn ended `done` all the same.
        ModelKind::ErrorIgnorer => results.iter().any(is_failure)
            && turn.iter().any(
                |e| matches!(e, Event::ModelOutcome { outcome, .. } if outcome.as_str() == "done"),
            ),
        // A call carrying a field the persona adds, or a template the
        // tools could not find.
        ModelKind::StaleIdSender => {
            calls.iter().any(|(_, input)| {
                input.contains("\"preset_id\"") || input.contains("\"workspace_id\"")
            }) || results
                .iter()
                .any(|r| r.content.starts_with("look up template: "))
        }
        ModelKind::TimeoutRetrier => turn
            .iter()
            .any(|e| matches!(e, Event::CallAbandoned { .. })),
    }
}

#[test]
fn every_persona_misbehaves_in_generated_cases_and_no_invariant_breaks() {
    let mut played: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for seed in 0..400 {
        let (schedule, _) = draw(seed).expect("draws");
        let config = schedule.config(seed);
        let checked = check(&config, Transport::Fast);
        assert_eq!(checked.violations, vec![], "seed {seed}");
        let outcome = checked.outcome.expect("no panic");
        let persona = schedule.persona;
        for turn in persona_turns(outcome.trace.records(), persona) {
            let count = played.entry(persona.as_str()).or_default();
            count.0 += 1;
            count.1 += u32::from(misbehaves(persona, &turn));
        }
    }
    eprintln!("persona turns (played, misbehaved): {played:?}");
    for persona in ModelKind::ALL {
        let (turns, misbehaved) = played.get(persona.as_str()).copied().unwrap_or_default();
        assert!(turns > 0, "{} never played: {played:?}", persona.as_str());
        if persona != ModelKind::Reference {
            assert!(
                misbehaved > 0,
                "{} never misbehaved: {played:?}",
                persona.as_str()
            );
        }
    }
}

/// The fuzz summary counts, per persona, the cases that drew it and those
/// in which it played a turn.
#[test]
fn the_fuzz_summary_counts_cases_per_persona() {
    let options = chatsim::fuzz::FuzzOptions {
        start: 0,
        seeds: 60,
        shard: None,
        jobs: 1,
        transport: Transport::Fast,
        out: std::env::temp_dir().join(format!("chatsim-personas-{}", std::process::id())),
        time_budget: None,
        confirm_on_turmoil: false,
    };
    let tally = chatsim::fuzz::fuzz(&options, &chatsim::fuzz::Quiet).expect("runs");
    let drawn: u64 = tally.personas.values().map(|c| c.enabled).sum();
    assert_eq!(
        drawn, tally.cases,
        "one persona per case: {:?}",
        tally.personas
    );
    for persona in ModelKind::ALL {
        let count = &tally.personas[persona.as_str()];
        assert!(count.hit <= count.enabled, "{:?}", tally.personas);
    }
    assert!(
        tally.personas.values().any(|c| c.hit > 0),
        "{:?}",
        tally.personas
    );
    let summary = tally.summary();
    let line = summary
        .lines()
        .find(|l| l.starts_with("model personas (played/drawn): "))
        .expect("a persona line");
    for persona in ModelKind::ALL {
        assert!(line.contains(persona.as_str()), "{line}");
    }
}
