//! Every fault kind is reachable and documented: the built-in generator
//! draws each one within a few seeds (it shows in a trace as a `fault` or
//! `fault_skipped` event), and the catalog in `scenarios/README.md` names
//! each one.

use std::collections::BTreeSet;

use chatsim::{gen, run_fast, Event, FaultKind};

/// Generated seeds `0..SEEDS` together apply every fault kind (checked by
/// the test below; a new kind may need a few more seeds).
const SEEDS: u64 = 24;

/// The scenario docs, read at build time.
const README: &str = include_str!("../../scenarios/README.md");

/// The names of the faults a run's trace shows, applied or skipped.
fn faults_seen(seed: u64) -> BTreeSet<String> {
    let outcome = run_fast(&gen::mixed(seed));
    assert!(outcome.is_ok(), "seed {seed}: {:?}", outcome.error);
    outcome
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::Fault { name, .. } | Event::FaultSkipped { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_fault_kind_is_generated() {
    let seen: BTreeSet<String> = (0..SEEDS).flat_map(faults_seen).collect();
    let missing: Vec<&str> = FaultKind::ALL
        .iter()
        .map(|k| k.name())
        .filter(|name| !seen.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "no trace of generated seeds 0..{SEEDS} shows {missing:?}: draw them in their family (sim/src/harness/faults/) or raise SEEDS"
    );
}

/// The `### Faults` section of the scenario docs.
fn catalog() -> &'static str {
    let start = README
        .find("### Faults")
        .expect("scenarios/README.md has ### Faults");
    let rest = &README[start + "### Faults".len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_fault_kind_is_in_the_scenario_docs() {
    let section = catalog();
    let missing: Vec<&str> = FaultKind::ALL
        .iter()
        .map(|k| k.name())
        .filter(|name| !section.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "scenarios/README.md's ### Faults catalog lacks {missing:?}"
    );
}
