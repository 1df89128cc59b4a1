//! The kill matrix: every bundled scenario under every switch, and which
//! fail. A scenario fails under a switch when a run breaks an invariant or
//! one of its `[expect]` entries — the same judgment `chatsim run` gives.
//! `docs/kill-matrix.txt` holds the committed matrix (`chatsim fuzz
//! --kill-matrix` prints it; a test compares).

use std::fmt::Write as _;

use super::Bug;
use crate::scenario::{run_scenario_on, Scenario};
use crate::transport::Transport;

/// How one scenario fared under one switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    /// The scenario's name.
    pub scenario: String,
    /// What failed: the first invariant broken, else `expect`, else `panic`.
    pub by: String,
}

/// One switch's row: the scenarios that fail under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The switch.
    pub bug: Bug,
    /// The scenarios it fails, in the order they were given.
    pub kills: Vec<Kill>,
}

/// `scenario` under `bug` on `transport`: `Some` when it fails.
pub fn judge_under(scenario: &Scenario, bug: Bug, transport: Transport) -> Option<Kill> {
    let mut buggy = scenario.clone();
    buggy.file.settings.bug = Some(bug);
    let report = run_scenario_on(&buggy, transport);
    if report.passed() {
        return None;
    }
    let by = match (report.violations.first(), &report.panic) {
        (Some(v), _) => v.invariant.to_string(),
        (None, Some(_)) => "panic".to_string(),
        (None, None) => "expect".to_string(),
    };
    Some(Kill {
        scenario: scenario.name().to_string(),
        by,
    })
}

/// Every switch against every scenario of `scenarios`, in [`Bug::ALL`]
/// order.
pub fn kill_matrix(scenarios: &[Scenario], transport: Transport) -> Vec<Row> {
    Bug::ALL
        .into_iter()
        .map(|bug| Row {
            bug,
            kills: scenarios
                .iter()
                .filter_map(|s| judge_under(s, bug, transport))
                .collect(),
        })
        .collect()
}

/// The matrix as text: one line per switch, `NAME: scenario (by), …`, or
/// `NAME: caught by no scenario`.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        let kills: Vec<String> = row
            .kills
            .iter()
            .map(|k| format!("{} ({})", k.scenario, k.by))
            .collect();
        let caught = match kills.is_empty() {
            true => "caught by no scenario".to_string(),
            false => kills.join(", "),
        };
        writeln!(out, "{}: {caught}", row.bug).expect("a String takes writes");
    }
    out
}
