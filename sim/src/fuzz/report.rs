//! A fuzz run's results: one [`CaseLine`] per seed (a failure written out
//! as a scenario file with its replay line), and the [`Tally`] — counts,
//! fault-kind frequencies, throughput, the goals and cells reached
//! ([`Coverage`]), and a digest over the results sorted by seed that no
//! `--jobs` or `--shard` split can change.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::case::{check, CaseResult, Checked};
use super::coverage::{Coverage, CoverageFile};
use super::{FuzzOptions, Shard};
use crate::observe::coverage::{cells, Cell};
use crate::observe::invariants::LIVENESS_TURN;
use crate::observe::reach::reached;
use crate::observe::trace::{fnv1a64, Event};
use crate::plan::{FaultKind, RunConfig};
use crate::transport::Transport;

/// One case's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseLine {
    /// The case's seed.
    pub seed: u64,
    /// `pass`, or `fail:<invariant>`.
    pub verdict: String,
    /// The hash of the case's trace (empty when the run panicked).
    pub trace_hash: String,
    /// Virtual time the case's run covered, in milliseconds.
    pub virtual_ms: u64,
    /// Fault kinds that took effect (or were skipped) in the run.
    pub faults_hit: Vec<String>,
    /// The fault kinds swarm testing enabled for this case.
    pub enabled: Vec<String>,
    /// The model persona drawn for the case's model turns.
    #[serde(default)]
    pub persona: String,
    /// Whether the persona played a turn (the case drew a model turn that
    /// ran).
    #[serde(default)]
    pub persona_played: bool,
    /// The reachability goals the run reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reached: Vec<String>,
    /// The coverage cells the run reached, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<Cell>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The shrunk failure, when the case failed.
    pub failure: Option<Failure>,
    /// The kind of each known upstream finding of the run (not failures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

/// A failed case after shrinking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
    /// Faults + turns before and after shrinking.
    pub size_before: usize,
    pub size_after: usize,
    pub shrink_runs: u32,
    pub scenario: String,
    pub replay: String,
    /// Whether the shrunk case violates the same invariant on turmoil
    /// (`None`: not re-run there).
    pub reproduces_on_turmoil: Option<bool>,
}

/// Per fault kind: in how many cases swarm testing enabled it, and in how
/// many it took effect (or was skipped for want of a target).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    /// Cases in which swarm testing enabled the kind.
    pub enabled: u64,
    /// Cases in which it took effect or was skipped.
    pub hit: u64,
}

/// The summary of a fuzz run (one shard or all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// The first seed of the range.
    pub start: u64,
    /// How many seeds the range has.
    pub seeds: u64,
    /// The shard (`i/n`), or `None` for the whole range.
    pub shard: Option<String>,
    /// The transport the cases ran on.
    pub transport: String,
    /// Cases run.
    pub cases: u64,
    /// Cases with no violation.
    pub passed: u64,
    /// Cases with a violation.
    pub failed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Wall time of the run, in seconds.
    pub wall_secs: f64,
    /// Cases per second per worker thread.
    pub cases_per_sec_per_core: f64,
    /// Virtual time the cases covered, in seconds.
    pub virtual_secs: f64,
    /// FNV-1a 64 over `seed verdict trace_hash` lines sorted by seed: equal for any split.
    pub digest: String,
    /// Per invariant: how many cases violated it.
    pub violations: BTreeMap<String, u64>,
    /// Per fault kind (by name): enabled and hit counts.
    pub fault_kinds: BTreeMap<String, KindCount>,
    /// Per model persona (by name): in how many cases it was drawn
    /// (`enabled`) and played a turn (`hit`).
    #[serde(default)]
    pub personas: BTreeMap<String, KindCount>,
    /// The goals and cells reached, each with its first seed.
    #[serde(default)]
    pub coverage: Coverage,
    /// Per known-upstream-finding kind: how many the cases reported.
    #[serde(default)]
    pub findings: BTreeMap<String, u64>,
    /// One line per case, by seed.
    pub results: Vec<CaseLine>,
}

/// The verdict of a checked run.
fn verdict(checked: &Checked) -> String {
    match checked.failure() {
        None => "pass".into(),
        Some(invariant) => format!("fail:{invariant}"),
    }
}

/// A case's line; a failure is written out (and re-run on turmoil).
pub fn case_line(result: &CaseResult, options: &FuzzOptions) -> CaseLine {
    let outcome = result.checked.outcome.as_ref();
    let mut faults_hit: Vec<String> = outcome
        .map(|o| {
            o.trace
                .records()
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Fault { name, .. } | Event::FaultSkipped { name, .. } => {
                        Some(name.clone())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    faults_hit.sort();
    faults_hit.dedup();
    let persona = result.schedule.persona;
    let persona_played = outcome.is_some_and(|o| {
        o.trace.records().iter().any(|r| {
            matches!(&r.event, Event::TurnStart { model: Some(m), name, .. }
                if *m == persona && name.as_deref() != Some(LIVENESS_TURN))
        })
    });
    let view = result.checked.view.as_ref();
    let reached: Vec<String> = view
        .map(|v| reached(v).into_iter().map(String::from).collect())
        .unwrap_or_default();
    let cells: Vec<Cell> = view
        .map(|v| cells(v).into_iter().collect())
        .unwrap_or_default();
    let failure = result.shrunk.as_ref().map(|shrunk| {
        let message = shrunk
            .checked
            .violations
            .first()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let (scenario, replay) = write_scenario(result.seed, &shrunk.config, &message, options);
        let reproduces_on_turmoil =
            (options.confirm_on_turmoil && options.transport != Transport::Turmoil).then(|| {
                let again = check(&shrunk.config, Transport::Turmoil);
                again.failure() == shrunk.checked.failure()
            });
        Failure {
            message,
            size_before: result.schedule.size(),
            size_after: shrunk.schedule.size(),
            shrink_runs: shrunk.runs,
            scenario,
            replay,
            reproduces_on_turmoil,
        }
    });
    CaseLine {
        seed: result.seed,
        verdict: verdict(&result.checked),
        trace_hash: outcome.map(|o| o.hash()).unwrap_or_default(),
        virtual_ms: outcome.map_or(0, |o| o.elapsed.as_millis() as u64),
        faults_hit,
        enabled: result
            .schedule
            .enabled
            .iter()
            .map(|k| k.to_string())
            .collect(),
        persona: persona.as_str().to_string(),
        persona_played,
        reached,
        cells,
        failure,
        findings: result
            .checked
            .findings
            .iter()
            .map(|f| f.kind.to_string())
            .collect(),
    }
}

/// Writes the shrunk case as a scenario file; returns its path and the
/// command that replays it (or why it could not be written).
fn write_scenario(
    seed: u64,
    config: &RunConfig,
    message: &str,
    options: &FuzzOptions,
) -> (String, String) {
    let path = options.out.join(format!("fuzz-seed-{seed}.toml"));
    let name = format!("fuzz-seed-{seed}");
    let description = format!("Found by `chatsim fuzz` (seed {seed}), shrunk: {message}");
    let replay = format!(
        "chatsim run {} --transport {}",
        path.display(),
        options.transport
    );
    let written = super::write::scenario_text(&name, &description, config).and_then(|text| {
        std::fs::create_dir_all(&options.out).map_err(|e| e.to_string())?;
        let header = format!("# {replay}\n");
        std::fs::write(&path, header + &text).map_err(|e| e.to_string())
    });
    match written {
        Ok(()) => (path.display().to_string(), replay),
        Err(err) => (
            format!("(not written: {err})"),
            format!("chatsim fuzz --start {seed} --seeds 1"),
        ),
    }
}

impl Tally {
    /// Tallies `lines` (sorted by seed).
    pub fn new(options: &FuzzOptions, lines: Vec<CaseLine>, wall: Duration, jobs: usize) -> Tally {
        let mut tally = Tally {
            start: options.start,
            seeds: options.seeds,
            shard: options.shard.map(|s| s.to_string()),
            transport: options.transport.to_string(),
            cases: 0,
            passed: 0,
            failed: 0,
            jobs,
            wall_secs: wall.as_secs_f64(),
            cases_per_sec_per_core: 0.0,
            virtual_secs: 0.0,
            digest: String::new(),
            violations: BTreeMap::new(),
            fault_kinds: BTreeMap::new(),
            personas: BTreeMap::new(),
            coverage: Coverage::default(),
            findings: BTreeMap::new(),
            results: lines,
        };
        tally.recount();
        tally
    }

    /// Recomputes every count and the digest from `results`.
    fn recount(&mut self) {
        self.results.sort_by_key(|l| l.seed);
        self.cases = self.results.len() as u64;
        self.failed = self.results.iter().filter(|l| l.verdict != "pass").count() as u64;
        self.passed = self.cases - self.failed;
        self.virtual_secs = self.results.iter().map(|l| l.virtual_ms).sum::<u64>() as f64 / 1000.0;
        self.violations.clear();
        self.personas.clear();
        self.findings.clear();
        self.fault_kinds = FaultKind::ALL
            .iter()
            .map(|k| (k.name().to_string(), KindCount::default()))
            .collect();
        for line in &self.results {
            if let Some(invariant) = line.verdict.strip_prefix("fail:") {
                *self.violations.entry(invariant.to_string()).or_default() += 1;
            }
            for kind in &line.enabled {
                self.fault_kinds.entry(kind.clone()).or_default().enabled += 1;
            }
            for kind in &line.faults_hit {
                self.fault_kinds.entry(kind.clone()).or_default().hit += 1;
            }
            if !line.persona.is_empty() {
                let count = self.personas.entry(line.persona.clone()).or_default();
                count.enabled += 1;
                count.hit += u64::from(line.persona_played);
            }
            for kind in &line.findings {
                *self.findings.entry(kind.clone()).or_default() += 1;
            }
        }
        let core_secs = self.wall_secs * self.jobs.max(1) as f64;
        self.cases_per_sec_per_core = self.cases as f64 / core_secs.max(1e-9);
        let text: String = self
            .results
            .iter()
            .map(|l| format!("{} {} {}\n", l.seed, l.verdict, l.trace_hash))
            .collect();
        self.digest = format!("{:016x}", fnv1a64(text.as_bytes()));
        self.coverage = Coverage::of(&self.results);
    }

    /// The `--coverage` file of this tally.
    pub fn coverage_file(&self) -> CoverageFile {
        CoverageFile {
            start: self.start,
            seeds: self.seeds,
            transport: self.transport.clone(),
            cases: self.cases,
            coverage: self.coverage.clone(),
        }
    }

    /// Combines shard tallies of one seed range into the unsharded tally;
    /// fails on different ranges, a missing or repeated shard, or seeds
    /// outside the range.
    pub fn merge(parts: Vec<Tally>) -> Result<Tally, String> {
        let first = parts.first().ok_or("nothing to merge")?;
        let (start, seeds, transport) = (first.start, first.seeds, first.transport.clone());
        let mut shards: BTreeMap<u64, u64> = BTreeMap::new();
        for part in &parts {
            if (part.start, part.seeds, &part.transport) != (start, seeds, &transport) {
                return Err(format!(
                    "shard {} covers start {} seeds {} on {}, not start {start} seeds {seeds} on {transport}",
                    part.shard.as_deref().unwrap_or("(unsharded)"),
                    part.start,
                    part.seeds,
                    part.transport
                ));
            }
            let shard: Shard = part
                .shard
                .as_deref()
                .ok_or("an unsharded result cannot be merged")?
                .parse()?;
            if shards.insert(shard.index, shard.count).is_some() {
                return Err(format!("shard {shard} appears twice"));
            }
        }
        let count = *shards.values().next().expect("at least one part");
        if shards.values().any(|&n| n != count) || shards.len() as u64 != count {
            let have: Vec<String> = shards.iter().map(|(i, n)| format!("{i}/{n}")).collect();
            return Err(format!(
                "shards {} do not cover 0..{count} exactly once",
                have.join(", ")
            ));
        }
        let mut merged = Tally {
            shard: None,
            jobs: parts.iter().map(|p| p.jobs).sum(),
            wall_secs: parts.iter().map(|p| p.wall_secs).fold(0.0, f64::max),
            results: parts.iter().flat_map(|p| p.results.clone()).collect(),
            ..first.clone()
        };
        let expected = seeds as usize;
        if merged.results.len() != expected {
            return Err(format!(
                "the shards hold {} results for {expected} seeds (a shard stopped early: --time-budget?)",
                merged.results.len()
            ));
        }
        merged.recount();
        Ok(merged)
    }

    /// Human-readable summary lines (the tally line last).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for line in self.results.iter().filter(|l| l.failure.is_some()) {
            let failure = line.failure.as_ref().expect("filtered");
            out += &format!(
                "seed {}: FAIL {}\n  {}\n  shrunk from {} to {} faults+turns in {} runs: {}\n  replay: {}\n",
                line.seed,
                line.verdict,
                failure.message,
                failure.size_before,
                failure.size_after,
                failure.shrink_runs,
                failure.scenario,
                failure.replay
            );
            if let Some(reproduces) = failure.reproduces_on_turmoil {
                let word = if reproduces {
                    "reproduces"
                } else {
                    "does not reproduce"
                };
                out += &format!("  on turmoil: {word}\n");
            }
        }
        let planned = match self.shard.as_deref() {
            Some(shard) => format!("shard {shard} of "),
            None => String::new(),
        };
        out += &format!(
            "{} cases ({planned}seeds {}..{} on {}), {:.1} virtual hours, {:.1} s wall, {:.0} cases/s/core, digest {}\n",
            self.cases,
            self.start,
            self.start.saturating_add(self.seeds),
            self.transport,
            self.virtual_secs / 3600.0,
            self.wall_secs,
            self.cases_per_sec_per_core,
            self.digest
        );
        let never: Vec<&str> = self
            .fault_kinds
            .iter()
            .filter(|(_, c)| c.hit == 0)
            .map(|(k, _)| k.as_str())
            .collect();
        let kinds: Vec<String> = self
            .fault_kinds
            .iter()
            .map(|(k, c)| format!("{k} {}/{}", c.hit, c.enabled))
            .collect();
        out += &format!("fault kinds (hit/enabled): {}\n", kinds.join(", "));
        if !never.is_empty() {
            out += &format!("never hit: {}\n", never.join(", "));
        }
        let personas: Vec<String> = self
            .personas
            .iter()
            .map(|(p, c)| format!("{p} {}/{}", c.hit, c.enabled))
            .collect();
        if !personas.is_empty() {
            out += &format!("model personas (played/drawn): {}\n", personas.join(", "));
        }
        if !self.findings.is_empty() {
            let found: Vec<String> = self
                .findings
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            out += &format!(
                "known upstream findings (not failures): {}\n",
                found.join(", ")
            );
        }
        out += &self.coverage.summary();
        out
    }

    /// The tally line scripts read.
    pub fn tally_line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }

    /// Reads a `--json` result file.
    pub fn read(path: &Path) -> Result<Tally, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a fuzz result: {e}", path.display()))
    }
}
