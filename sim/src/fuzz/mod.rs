//! `chatsim fuzz`: searches failure interleavings for invariant violations.
//!
//! Each seed of a range is one case ([`case`]): proptest's generator,
//! seeded by the seed alone, draws a structured [`schedule::Schedule`] — a
//! world, the enabled fault kinds (swarm testing), faults, turns — which
//! runs (the fast transport by default) with the liveness phase appended,
//! and is checked against every invariant. A failing case shrinks to a
//! small schedule, is written as a scenario file and gets a replay line.
//!
//! Cases are independent and depend on their seed only, so `--jobs` and
//! `--shard i/n` (seed mod n = i) never change a result: the [`Tally`]'s
//! digest is the same for any split, and [`Tally::merge`] of every shard's
//! tally equals the unsharded one.
//!
//! Each case also records the reachability goals its run reached and its
//! coverage cells ([`crate::observe::reach`], [`crate::observe::coverage`]);
//! the tally's [`Coverage`] keeps each with its first seed.

pub mod case;
mod coverage;
mod report;
pub mod schedule;
mod write;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use case::{check, draw, run_case, run_case_with, CaseResult, Checked, Shrunk};
pub use coverage::{BaselineDiff, Coverage, CoverageFile, SeenCell};
pub use report::{CaseLine, KindCount, Tally};
pub use write::file_text;
pub use write::scenario_text;

use crate::transport::Transport;

/// One shard of a seed range: the seeds `s` with `s mod count = index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: u64,
    /// How many shards the range is split into.
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {text:?}: expected i/n with 0 <= i < n (e.g. 0/4)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What to fuzz.
#[derive(Clone, Debug)]
pub struct FuzzOptions {
    /// The first seed.
    pub start: u64,
    /// How many seeds the whole range has.
    pub seeds: u64,
    /// Only this shard of the range, if set.
    pub shard: Option<Shard>,
    /// Worker threads (results do not depend on it).
    pub jobs: usize,
    /// Where each case runs.
    pub transport: Transport,
    /// Where shrunk failures are written as scenario files.
    pub out: PathBuf,
    /// Stop taking new seeds once this much wall time has passed.
    pub time_budget: Option<Duration>,
    /// Re-run each shrunk failure on turmoil (when fuzzing on fast).
    pub confirm_on_turmoil: bool,
}

impl FuzzOptions {
    /// The seeds this shard runs, in order.
    pub fn seed_list(&self) -> Result<Vec<u64>, String> {
        let end = self.start.checked_add(self.seeds).ok_or_else(|| {
            format!(
                "--start {} --seeds {} runs past the last seed ({})",
                self.start,
                self.seeds,
                u64::MAX
            )
        })?;
        Ok((self.start..end)
            .filter(|s| self.shard.is_none_or(|sh| s % sh.count == sh.index))
            .collect())
    }
}

/// Progress as cases finish (called from worker threads, in any order).
pub trait Progress: Sync {
    /// Case `done` of `total` finished with `line` (cases finish in any order).
    fn case_done(&self, done: usize, total: usize, line: &CaseLine);
}

/// No progress output.
pub struct Quiet;

impl Progress for Quiet {
    fn case_done(&self, _: usize, _: usize, _: &CaseLine) {}
}

/// Runs every seed of the shard on `jobs` threads (each case stays on one
/// thread) and tallies the results by seed.
pub fn fuzz(options: &FuzzOptions, progress: &dyn Progress) -> Result<Tally, String> {
    let seeds = options.seed_list()?;
    let jobs = options.jobs.max(1);
    #[allow(clippy::disallowed_methods)] // the fuzzer's wall-clock budget, outside every run
    let started = std::time::Instant::now();
    let next = AtomicUsize::new(0);
    let out_of_time = AtomicBool::new(false);
    let lines: Mutex<Vec<CaseLine>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let worker = || loop {
        if out_of_time.load(Ordering::SeqCst) {
            break;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(&seed) = seeds.get(i) else { break };
        match run_case(seed, options.transport) {
            Ok(result) => {
                let line = report::case_line(&result, options);
                let mut all = lines.lock().expect("no worker panics holding it");
                all.push(line.clone());
                let done = all.len();
                drop(all);
                progress.case_done(done, seeds.len(), &line);
            }
            Err(err) => errors.lock().expect("not poisoned").push(err),
        }
        if options
            .time_budget
            .is_some_and(|budget| started.elapsed() >= budget)
        {
            out_of_time.store(true, Ordering::SeqCst);
        }
    };
    on_threads(jobs, worker);
    first_error(errors)?;
    let mut lines = lines.into_inner().expect("not poisoned");
    lines.sort_by_key(|l| l.seed);
    Ok(Tally::new(options, lines, started.elapsed(), jobs))
}

/// Runs `worker` on `jobs` threads (at least one) until each returns; a
/// case never leaves the thread that started it.
pub(crate) fn on_threads(jobs: usize, worker: impl Fn() + Sync) {
    #[allow(clippy::disallowed_methods)] // worker threads: each run stays on one thread
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(&worker);
        }
    });
}

/// The first error the workers reported, if any.
pub(crate) fn first_error(errors: Mutex<Vec<String>>) -> Result<(), String> {
    match errors
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .next()
    {
        Some(err) => Err(err),
        None => Ok(()),
    }
}
