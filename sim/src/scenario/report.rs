//! Running a scenario and judging it: the run (a panic is caught and
//! reported, never propagated), the always-on invariants, and the
//! scenario's own expectations. A failure names what broke, the seed and
//! the command that replays it.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::expect::{evaluate, Failure};
use super::load::Scenario;
use super::location::line_column;
use super::spans::Spans;
use crate::harness::RunOutcome;
use crate::observe::invariants::{check_view, Checks, Finding, Violation};
use crate::observe::trace::format_time;
use crate::observe::view::TraceView;
use crate::transport::Transport;

/// What running a scenario showed.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario run.
    pub scenario: Scenario,
    /// The transport it ran on.
    pub transport: Transport,
    /// `None` when the harness panicked.
    pub outcome: Option<RunOutcome>,
    /// The panic's message, if the harness panicked.
    pub panic: Option<String>,
    /// Wall time the run took.
    pub wall: Duration,
    /// The invariants the run broke.
    pub violations: Vec<Violation>,
    /// The scenario's expectations that did not hold.
    pub failures: Vec<Failure>,
    /// The truthfulness oracle's known upstream findings (never a failure).
    pub findings: Vec<Finding>,
}

/// Runs `scenario` once on turmoil (the default transport) and judges it.
pub fn run_scenario(scenario: &Scenario) -> Report {
    run_scenario_on(scenario, Transport::Turmoil)
}

/// Runs `scenario` once on `transport` and judges it.
pub fn run_scenario_on(scenario: &Scenario, transport: Transport) -> Report {
    let config = scenario.config();
    #[allow(clippy::disallowed_methods)] // the report's wall time, around the run, never in it
    let wall = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| crate::run_with(&config, transport)));
    let wall = wall.elapsed();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic with no message".to_string());
            return Report {
                scenario: scenario.clone(),
                transport,
                outcome: None,
                panic: Some(message),
                wall,
                violations: Vec::new(),
                failures: Vec::new(),
                findings: Vec::new(),
            };
        }
    };
    judge(scenario, outcome, wall)
}

/// Judges a finished run of `scenario` (on the transport its trace names).
pub fn judge(scenario: &Scenario, outcome: RunOutcome, wall: Duration) -> Report {
    let transport = outcome.transport.parse().unwrap_or_default();
    let settings = &scenario.file.settings;
    let view = TraceView::new(&outcome.trace);
    let Checks {
        violations,
        findings,
    } = check_view(&view, settings, outcome.error.as_deref());
    let mut failures = evaluate(&scenario.file.expect, &view, &outcome.summary);
    let spans = Spans::new(&scenario.source);
    for f in &mut failures {
        f.at = spans
            .key(&f.path)
            .map(|span| line_column(&scenario.source, span.start));
    }
    Report {
        scenario: scenario.clone(),
        transport,
        outcome: Some(outcome),
        panic: None,
        wall,
        violations,
        failures,
        findings,
    }
}

impl Report {
    /// Whether the run ended, broke no invariant and met every expectation.
    pub fn passed(&self) -> bool {
        self.panic.is_none() && self.violations.is_empty() && self.failures.is_empty()
    }

    /// How many calls the driver sent: (model tool calls, user calls).
    pub fn calls(&self) -> (usize, usize) {
        let Some(outcome) = &self.outcome else {
            return (0, 0);
        };
        let names: Vec<&str> = outcome
            .trace
            .records()
            .iter()
            .filter_map(|r| match &r.event {
                crate::observe::trace::Event::ToolCall { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let user = names.iter().filter(|n| n.starts_with("api.")).count();
        (names.len() - user, user)
    }

    /// Virtual time the run took.
    pub fn elapsed(&self) -> Duration {
        self.outcome.as_ref().map_or(Duration::ZERO, |o| o.elapsed)
    }

    /// One line: `PASS path  transport turmoil  virtual 497.400s  wall
    /// 0.036s  4 tool calls, 3 user calls`.
    pub fn line(&self) -> String {
        let (tool, user) = self.calls();
        format!(
            "{} {}  transport {}  virtual {}s  wall {:.3}s  {tool} tool calls, {user} user calls",
            if self.passed() { "PASS" } else { "FAIL" },
            self.scenario.path.display(),
            self.transport,
            format_time(self.elapsed()),
            self.wall.as_secs_f64(),
        )
    }

    /// The known upstream findings, one indented line each (empty when
    /// none): reported beside the verdict, never failing it.
    pub fn findings_text(&self) -> String {
        self.findings.iter().map(|f| format!("  {f}\n")).collect()
    }

    /// What failed, the seed and the replay command (empty when passed).
    pub fn details(&self) -> String {
        if self.passed() {
            return String::new();
        }
        let mut out = String::new();
        if let Some(panic) = &self.panic {
            let _ = writeln!(
                out,
                "  invariant run_completes violated: the harness panicked: {panic}"
            );
        }
        for v in &self.violations {
            let _ = writeln!(out, "  {v}");
        }
        for f in &self.failures {
            let (line, column) = f.at.unwrap_or((1, 1));
            let file = self.scenario.path.display();
            let _ = writeln!(out, "  {file}:{line}:{column}: {f}");
            for l in f.detail.lines() {
                let _ = writeln!(out, "    {l}");
            }
        }
        let _ = writeln!(
            out,
            "  scenario {} (seed {}, transport {})",
            self.scenario.name(),
            self.scenario.seed(),
            self.transport
        );
        let _ = writeln!(
            out,
            "  replay: {}",
            self.scenario.replay_command_on(self.transport)
        );
        out
    }
}
