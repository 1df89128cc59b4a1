//! Finding a switch with the fuzzer: the seeds of a range in order until
//! the first case that violates an invariant under the switch (the same
//! schedule a plain `chatsim fuzz` draws for that seed), then that case
//! shrunk under the switch and written as a scenario file; and the
//! findability figures — per range of seeds, the cases to the first find.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{check_under, Bug};
use crate::fuzz::{draw, first_error, on_threads, run_case_with, scenario_text, Checked};
use crate::transport::Transport;

/// How many disjoint seed ranges findability measures.
pub const FINDABILITY_RANGES: u64 = 20;
/// The seeds in each findability range.
pub const FINDABILITY_RANGE_SIZE: u64 = 5_000;

/// The first failing case of a seed list.
#[derive(Debug)]
pub struct FirstFind {
    /// 1-based rank of the seed in the list: the cases a user runs to find
    /// it.
    pub rank: u64,
    /// The failing seed.
    pub seed: u64,
    /// Its run and checks under the switch.
    pub checked: Checked,
}

/// Runs `seeds` in order under `bug` on `jobs` threads and returns the
/// first (lowest-ranked) failing case. Workers stop taking seeds ranked
/// after a failure already seen, and every seed ranked before it is run,
/// so the answer does not depend on `jobs`.
pub fn first_find(
    bug: Bug,
    seeds: &[u64],
    jobs: usize,
    transport: Transport,
) -> Result<Option<FirstFind>, String> {
    let next = AtomicUsize::new(0);
    let stop = AtomicUsize::new(usize::MAX);
    let best: Mutex<Option<(usize, u64, Checked)>> = Mutex::new(None);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(&seed) = seeds.get(i) else { break };
        if i > stop.load(Ordering::SeqCst) {
            break;
        }
        let schedule = match draw(seed) {
            Ok((schedule, _)) => schedule,
            Err(err) => {
                errors.lock().expect("not poisoned").push(err);
                break;
            }
        };
        let checked = check_under(&schedule.config(seed), bug, transport);
        if checked.failure().is_some() {
            stop.fetch_min(i, Ordering::SeqCst);
            let mut best = best.lock().expect("not poisoned");
            if best.as_ref().is_none_or(|(j, _, _)| i < *j) {
                *best = Some((i, seed, checked));
            }
        }
    };
    on_threads(jobs, worker);
    first_error(errors)?;
    Ok(best
        .into_inner()
        .expect("not poisoned")
        .map(|(i, seed, checked)| FirstFind {
            rank: i as u64 + 1,
            seed,
            checked,
        }))
}

/// What `chatsim fuzz --bug` searches.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// The switch.
    pub bug: Bug,
    /// The first seed.
    pub start: u64,
    /// How many seeds at most.
    pub seeds: u64,
    /// Worker threads (the result does not depend on it).
    pub jobs: usize,
    /// Where the cases run.
    pub transport: Transport,
    /// Where the shrunk case is written.
    pub out: PathBuf,
}

/// A switch found and shrunk.
#[derive(Debug)]
pub struct Found {
    /// 1-based rank of the failing seed in the range.
    pub rank: u64,
    /// The failing seed.
    pub seed: u64,
    /// The first violation of the shrunk case (as `Violation` prints).
    pub message: String,
    /// Faults and turns of the case before and after shrinking.
    pub size_before: usize,
    /// Faults and turns after shrinking.
    pub size_after: usize,
    /// Candidate runs shrinking took.
    pub shrink_runs: u32,
    /// The written scenario file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub file_bytes: usize,
    /// The command that replays it under the switch.
    pub replay: String,
}

/// Searches `options`' range for the switch; `None` when no case of the
/// range finds it.
pub fn search(options: &SearchOptions) -> Result<Option<Found>, String> {
    let end = options.start.checked_add(options.seeds).ok_or_else(|| {
        format!(
            "--start {} --seeds {} runs past the last seed",
            options.start, options.seeds
        )
    })?;
    let seeds: Vec<u64> = (options.start..end).collect();
    let Some(first) = first_find(options.bug, &seeds, options.jobs, options.transport)? else {
        return Ok(None);
    };
    let (bug, transport) = (options.bug, options.transport);
    let case = run_case_with(first.seed, &|config| check_under(config, bug, transport))?;
    let shrunk = case
        .shrunk
        .ok_or_else(|| format!("seed {}: failed under {bug} once, then passed", first.seed))?;
    let message = shrunk
        .checked
        .violations
        .first()
        .map(|v| v.to_string())
        .unwrap_or_default();
    let file = options
        .out
        .join(format!("bug-{}-seed-{}.toml", bug.name(), first.seed));
    let replay = format!(
        "chatsim run --bug {} {} --transport {transport}",
        bug.name(),
        file.display()
    );
    let description = format!(
        "Found by `chatsim fuzz --bug {}` (seed {}), shrunk: {message}",
        bug.name(),
        first.seed
    );
    let name = format!("bug-{}-seed-{}", bug.name(), first.seed);
    let text = format!("# {replay}\n") + &scenario_text(&name, &description, &shrunk.config)?;
    write(&options.out, &file, &text)?;
    Ok(Some(Found {
        rank: first.rank,
        seed: first.seed,
        message,
        size_before: case.schedule.size(),
        size_after: shrunk.schedule.size(),
        shrink_runs: shrunk.runs,
        file_bytes: text.len(),
        file,
        replay,
    }))
}

fn write(dir: &Path, file: &Path, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// Per range of seeds, the cases to the first find (`None`: censored, the
/// range never found it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Findability {
    /// The switch.
    pub bug: Bug,
    /// Seeds per range.
    pub range_size: u64,
    /// One entry per range, in seed order.
    pub cases: Vec<Option<u64>>,
}

impl Findability {
    /// The `p`-quantile (nearest rank) of the cases to the first find,
    /// censored ranges counted as never: `None` when it falls on one.
    pub fn quantile(&self, p: f64) -> Option<u64> {
        let mut sorted = self.cases.clone();
        // `None` (censored) sorts last.
        sorted.sort_by_key(|c| c.unwrap_or(u64::MAX));
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().flatten()
    }

    /// How many ranges never found it.
    pub fn censored(&self) -> usize {
        self.cases.iter().filter(|c| c.is_none()).count()
    }

    fn show(&self, value: Option<u64>) -> String {
        match value {
            Some(n) => n.to_string(),
            None => format!(">{} (censored)", self.range_size),
        }
    }

    /// The report: each range, then median and 95th percentile.
    pub fn render(&self) -> String {
        let ranges: Vec<String> = self
            .cases
            .iter()
            .map(|c| c.map_or("-".to_string(), |n| n.to_string()))
            .collect();
        format!(
            "findability of {}: cases to the first find in {} ranges of {} seeds: {}\nmedian {}, p95 {}, censored {}/{}\n",
            self.bug,
            self.cases.len(),
            self.range_size,
            ranges.join(" "),
            self.show(self.quantile(0.5)),
            self.show(self.quantile(0.95)),
            self.censored(),
            self.cases.len()
        )
    }
}

/// Findability of `bug`: `ranges` disjoint ranges of `range_size` seeds
/// from seed 0, each searched up to its first find.
pub fn findability(
    bug: Bug,
    ranges: u64,
    range_size: u64,
    jobs: usize,
    transport: Transport,
) -> Result<Findability, String> {
    let mut cases = Vec::new();
    for r in 0..ranges {
        let seeds: Vec<u64> = (r * range_size..(r + 1) * range_size).collect();
        cases.push(first_find(bug, &seeds, jobs, transport)?.map(|f| f.rank));
    }
    Ok(Findability {
        bug,
        range_size,
        cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(cases: Vec<Option<u64>>) -> Findability {
        Findability {
            bug: Bug::QuotaFromText,
            range_size: 5000,
            cases,
        }
    }

    #[test]
    fn quantiles_count_censored_ranges_as_never() {
        let mut cases: Vec<Option<u64>> = (1..=18).map(Some).collect();
        cases.extend([None, None]);
        let f = f(cases);
        assert_eq!(f.quantile(0.5), Some(10));
        // Rank 19 of 20 is a censored range.
        assert_eq!(f.quantile(0.95), None);
        assert_eq!(f.censored(), 2);
        assert!(
            f.render().contains("p95 >5000 (censored)"),
            "{}",
            f.render()
        );
    }

    #[test]
    fn quantiles_of_all_found() {
        let f = f((1..=20).rev().map(Some).collect());
        assert_eq!(f.quantile(0.5), Some(10));
        assert_eq!(f.quantile(0.95), Some(19));
        assert_eq!(f.censored(), 0);
    }
}
