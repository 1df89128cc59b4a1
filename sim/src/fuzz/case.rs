//! One fuzz case: a seed seeds proptest's generator, which draws a
//! [`Schedule`]; the schedule runs and every invariant is checked; a
//! failing schedule is shrunk through proptest's value tree (structural
//! shrinking: faults and turns removed, times made earlier) while it still
//! violates the same invariant.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::schedule::{schedule, Schedule};
use crate::harness::{run_with, RunOutcome};
use crate::observe::invariants::{check_view, Finding, Violation};
use crate::observe::view::TraceView;
use crate::plan::RunConfig;
use crate::transport::Transport;

/// Shrinking stops after this many candidate runs (each a full run).
pub const MAX_SHRINK_RUNS: u32 = 400;
/// The invariant a panicking run violates.
pub const NO_PANIC: &str = "no_panic";

/// A schedule run and checked.
#[derive(Clone, Debug)]
pub struct Checked {
    /// `None` when the run panicked.
    pub outcome: Option<RunOutcome>,
    /// The run's trace read back (`None` when the run panicked): read once
    /// and shared by the checks, reachability and coverage.
    pub view: Option<TraceView>,
    /// Every invariant it violated, in check order.
    pub violations: Vec<Violation>,
    /// The oracle's known upstream findings (never failures).
    pub findings: Vec<Finding>,
}

impl Checked {
    /// The first violated invariant, if any.
    pub fn failure(&self) -> Option<&'static str> {
        self.violations.first().map(|v| v.invariant)
    }
}

/// A case's result.
#[derive(Debug)]
pub struct CaseResult {
    /// The seed that drew it.
    pub seed: u64,
    /// The schedule drawn.
    pub schedule: Schedule,
    /// Its run and checks.
    pub checked: Checked,
    /// Set when the case failed: the smallest schedule that still violates
    /// the same invariant, and how many runs shrinking took.
    pub shrunk: Option<Shrunk>,
}

/// A failure after shrinking.
#[derive(Debug)]
pub struct Shrunk {
    /// The smallest failing schedule found.
    pub schedule: Schedule,
    /// Its run, as `chatsim run` replays it.
    pub config: RunConfig,
    /// Its run and checks.
    pub checked: Checked,
    /// Candidate runs shrinking took.
    pub runs: u32,
}

/// proptest's generator seeded from `seed` alone (ChaCha, 32 bytes spread
/// from the seed), so a seed names the same case on every machine.
fn runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let word = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs `config` on `transport` and checks every invariant; a panic is a
/// `no_panic` violation.
pub fn check(config: &RunConfig, transport: Transport) -> Checked {
    match catch_unwind(AssertUnwindSafe(|| run_with(config, transport))) {
        Ok(outcome) => {
            let view = TraceView::new(&outcome.trace);
            let checks = check_view(&view, &config.settings, outcome.error.as_deref());
            Checked {
                outcome: Some(outcome),
                view: Some(view),
                violations: checks.violations,
                findings: checks.findings,
            }
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic with no message".into());
            Checked {
                outcome: None,
                view: None,
                violations: vec![Violation {
                    invariant: NO_PANIC,
                    at: Duration::ZERO,
                    message,
                }],
                findings: Vec::new(),
            }
        }
    }
}

/// The schedule `seed` draws.
pub fn draw(seed: u64) -> Result<(Schedule, impl ValueTree<Value = Schedule>), String> {
    let mut runner = runner(seed);
    let tree = schedule()
        .new_tree(&mut runner)
        .map_err(|reason| format!("seed {seed}: the schedule strategy gave up: {reason}"))?;
    Ok((tree.current(), tree))
}

/// Runs case `seed`; a failure is shrunk.
pub fn run_case(seed: u64, transport: Transport) -> Result<CaseResult, String> {
    run_case_with(seed, &|config| check(config, transport))
}

/// Runs case `seed` under `checker` (a run and its checks); a failure is
/// shrunk under the same checker.
pub fn run_case_with(
    seed: u64,
    checker: &dyn Fn(&RunConfig) -> Checked,
) -> Result<CaseResult, String> {
    let (schedule, tree) = draw(seed)?;
    let checked = checker(&schedule.config(seed));
    let shrunk = checked
        .failure()
        .map(|invariant| shrink(seed, tree, (&schedule, &checked), invariant, checker));
    Ok(CaseResult {
        seed,
        schedule,
        checked,
        shrunk,
    })
}

/// Walks the value tree towards simpler schedules that still violate
/// `invariant` (proptest's simplify/complicate protocol), at most
/// [`MAX_SHRINK_RUNS`] runs.
fn shrink(
    seed: u64,
    mut tree: impl ValueTree<Value = Schedule>,
    (original, original_checked): (&Schedule, &Checked),
    invariant: &'static str,
    checker: &dyn Fn(&RunConfig) -> Checked,
) -> Shrunk {
    let mut best = original.clone();
    let mut best_checked = original_checked.clone();
    let mut runs = 0;
    let mut more = tree.simplify();
    while more && runs < MAX_SHRINK_RUNS {
        runs += 1;
        let candidate = tree.current();
        let checked = checker(&candidate.config(seed));
        if checked.violations.iter().any(|v| v.invariant == invariant) {
            best = candidate;
            best_checked = checked;
            more = tree.simplify();
        } else {
            more = tree.complicate();
        }
    }
    Shrunk {
        config: best.config(seed),
        schedule: best,
        checked: best_checked,
        runs,
    }
}
