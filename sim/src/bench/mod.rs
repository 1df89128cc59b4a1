//! `chatsim bench`: how fast the reference stories run on each transport,
//! against turmoil's naive default (a 1 ms tick) and the pure engine (the
//! practical limit), plus fuzz throughput and how cost grows with
//! workspaces and virtual time.
//!
//! Every measurement runs in its own child process (the bench re-invokes
//! its binary with a hidden subcommand, [`measure`] runs there), so the
//! peak RSS each child reads from `/proc/self/status` (`VmHWM`) is that
//! story's alone, and one story's heap never slows another. Children run
//! one after another, each on one thread: ratios are per core.
//!
//! Wall-clock reads live here and in the CLI only — never inside a run or a
//! trace.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::harness::run_with;
use crate::plan::{Dur, RunConfig, Turn};
use crate::transport::Transport;
use crate::{gen, stories};

pub mod engine;
pub mod instructions;

/// The hidden subcommand a child runs.
pub const CHILD_COMMAND: &str = "bench-child";

/// The reference stories, in table order.
pub const REFERENCE_STORIES: [&str; 4] = ["oom", "quota", "parallel_create", "churn"];
/// A one-minute story for smoke tests of the bench itself.
pub const SMOKE_STORY: &str = "smoke";
/// How long a fuzz case's schedule is (a generated seed, waited out to it).
pub const FUZZ_CASE_DURATION: Duration = Duration::from_secs(30 * 60);
/// The scaling grid: workspaces × virtual durations (churn stories).
pub const SCALING_WORKSPACES: [usize; 3] = [1, 10, 50];
/// The scaling grid's virtual durations.
pub const SCALING_DURATIONS: [Duration; 3] = [
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(24 * 3600),
];

/// How a story is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The fast transport.
    Fast,
    /// turmoil at chatsim's default tick (100 ms).
    Turmoil,
    /// turmoil at its own default tick (1 ms): the naive baseline.
    #[serde(rename = "turmoil-1ms")]
    TurmoilTick1ms,
    /// The same calls on the pure engine (testkit world, manual clock).
    Engine,
    /// The fuzzer's cases (`chatsim fuzz`: a drawn schedule, waited out to
    /// [`FUZZ_CASE_DURATION`], run on the fast transport and checked
    /// against every invariant), seeds in order.
    Fuzz,
    /// The same schedules run without any check: the fuzzer's overhead
    /// is `fuzz` against this.
    FuzzPlain,
}

impl Mode {
    /// The name `--json` and the child's command line use.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Fast => "fast",
            Mode::Turmoil => "turmoil",
            Mode::TurmoilTick1ms => "turmoil-1ms",
            Mode::Engine => "engine",
            Mode::Fuzz => "fuzz",
            Mode::FuzzPlain => "fuzz-plain",
        }
    }

    /// Parses a [`Mode::name`].
    pub fn parse(text: &str) -> Result<Mode, String> {
        [
            Mode::Fast,
            Mode::Turmoil,
            Mode::TurmoilTick1ms,
            Mode::Engine,
            Mode::Fuzz,
            Mode::FuzzPlain,
        ]
        .into_iter()
        .find(|m| m.name() == text)
        .ok_or_else(|| format!("unknown bench mode {text:?}"))
    }
}

/// A story by name: a reference story, [`SMOKE_STORY`], or
/// `churn-<workspaces>x<seconds>s` (the scaling grid).
pub fn story_config(name: &str, seed: u64) -> Result<RunConfig, String> {
    Ok(match name {
        "oom" => stories::oom_story(seed),
        "quota" => stories::quota_story(seed),
        "parallel_create" => stories::parallel_create_story(seed),
        "churn" => stories::churn_story(seed, 10, Duration::from_secs(2 * 3600)),
        SMOKE_STORY => smoke_story(seed),
        other => {
            let (workspaces, duration) = parse_churn(other)?;
            stories::churn_story(seed, workspaces, duration)
        }
    })
}

/// The name of a scaling cell's story.
pub fn churn_name(workspaces: usize, duration: Duration) -> String {
    format!("churn-{workspaces}x{}s", duration.as_secs())
}

fn parse_churn(name: &str) -> Result<(usize, Duration), String> {
    let unknown = || format!("unknown story {name:?}");
    let rest = name.strip_prefix("churn-").ok_or_else(unknown)?;
    let (workspaces, secs) = rest.split_once('x').ok_or_else(unknown)?;
    let secs = secs.strip_suffix('s').ok_or_else(unknown)?;
    let workspaces: usize = workspaces.parse().map_err(|_| unknown())?;
    let secs: u64 = secs.parse().map_err(|_| unknown())?;
    if workspaces == 0 || secs < 600 {
        return Err(unknown());
    }
    Ok((workspaces, Duration::from_secs(secs)))
}

fn smoke_story(seed: u64) -> RunConfig {
    let mut config = stories::parallel_create_story(seed);
    config.turns.truncate(1);
    config.turns.push(Turn::wait_until("main", Dur::secs(60)));
    config
}

fn engine_run(name: &str) -> Result<engine::EngineRun, String> {
    Ok(match name {
        "oom" => engine::oom(),
        "quota" => engine::quota(),
        "parallel_create" => engine::parallel_create(),
        SMOKE_STORY => engine::smoke(),
        "churn" => engine::churn(10, Duration::from_secs(2 * 3600)),
        other => {
            let (workspaces, duration) = parse_churn(other)?;
            engine::churn(workspaces, duration)
        }
    })
}

/// A fuzz case: seed `seed`'s schedule as `chatsim fuzz` draws it, waited
/// out to [`FUZZ_CASE_DURATION`].
pub fn fuzz_case(seed: u64) -> RunConfig {
    let mut config = match crate::fuzz::draw(seed) {
        Ok((schedule, _)) => schedule.config(seed),
        Err(_) => gen::mixed(seed),
    };
    let chat = config
        .turns
        .last()
        .map(|t| t.chat.clone())
        .unwrap_or_default();
    config
        .turns
        .push(Turn::wait_until(&chat, Dur(FUZZ_CASE_DURATION)));
    config
}

/// How long a child measures.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Repeat runs until this much wall time has passed…
    pub min_wall: Duration,
    /// …or this many runs are done (at least one run always).
    pub max_runs: u32,
    /// Stop each run at this virtual time (the story's first part):
    /// turmoil at a 1 ms tick needs minutes for a 2-hour story, and its
    /// cost per virtual second is flat (it is ticks × hosts).
    pub virtual_cap: Option<Duration>,
}

/// The error of a run stopped at its virtual cap.
const NOT_OVER: &str = "the story was not over after";

/// What a child measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The story measured.
    pub story: String,
    /// How it ran.
    pub mode: Mode,
    /// How many runs were timed.
    pub runs: u32,
    /// Virtual time of one run (the mean over runs).
    pub virtual_seconds: f64,
    /// Wall time of one run (the median over runs).
    pub wall_seconds: f64,
    /// The fastest run's wall time.
    #[serde(default)]
    pub wall_min_seconds: f64,
    /// The slowest run's wall time.
    #[serde(default)]
    pub wall_max_seconds: f64,
    /// `virtual_seconds / wall_seconds`.
    pub realtime_ratio: f64,
    /// The child's peak resident set (`VmHWM`), if the OS reports it.
    pub peak_rss_bytes: Option<u64>,
    /// Fuzz mode: cases per second on this one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases_per_sec: Option<f64>,
    /// The runs stopped at the budget's virtual cap (the story's first
    /// `virtual_seconds` only).
    #[serde(default)]
    pub truncated: bool,
}

impl Measurement {
    /// One measurement made of several children's (the rounds of one
    /// story and mode): runs add up, the median is the median of their
    /// medians, the extremes are the extremes of all.
    pub fn merge(parts: &[Measurement]) -> Option<Measurement> {
        let first = parts.first()?;
        let runs: u32 = parts.iter().map(|m| m.runs).sum();
        let mut medians: Vec<f64> = parts.iter().map(|m| m.wall_seconds).collect();
        let wall_seconds = median(&mut medians);
        let virtual_seconds = parts
            .iter()
            .map(|m| m.virtual_seconds * f64::from(m.runs))
            .sum::<f64>()
            / f64::from(runs.max(1));
        Some(Measurement {
            story: first.story.clone(),
            mode: first.mode,
            runs,
            virtual_seconds,
            wall_seconds,
            wall_min_seconds: parts
                .iter()
                .map(|m| m.wall_min_seconds)
                .fold(f64::INFINITY, f64::min),
            wall_max_seconds: parts.iter().map(|m| m.wall_max_seconds).fold(0.0, f64::max),
            realtime_ratio: virtual_seconds / wall_seconds.max(1e-9),
            peak_rss_bytes: parts.iter().filter_map(|m| m.peak_rss_bytes).max(),
            cases_per_sec: None,
            truncated: parts.iter().any(|m| m.truncated),
        })
    }
}

/// The median of `values` (the upper one of an even count); NaN when empty.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `story` in `mode` in this process (what a child does); the
/// measurement's `peak_rss_bytes` is left for the caller to read.
#[allow(clippy::disallowed_methods)] // bench timing: wall time around whole runs, never inside one
pub fn measure(story: &str, mode: Mode, budget: Budget) -> Result<Measurement, String> {
    let mut walls = Vec::new();
    let mut virtual_total = 0.0;
    let started = Instant::now();
    let mut seed = 0u64;
    let mut truncated = false;
    while walls.is_empty()
        || (started.elapsed() < budget.min_wall && (walls.len() as u32) < budget.max_runs)
    {
        let wall = Instant::now();
        let (virtual_time, cut) = run_once(story, mode, seed, budget.virtual_cap)?;
        walls.push(wall.elapsed().as_secs_f64());
        virtual_total += virtual_time.as_secs_f64();
        truncated |= cut;
        seed += 1;
    }
    let runs = walls.len() as u32;
    let total_wall: f64 = walls.iter().sum();
    let wall_seconds = median(&mut walls).max(1e-9);
    // `median` sorted them.
    let (wall_min_seconds, wall_max_seconds) = (walls[0], walls[walls.len() - 1]);
    let virtual_seconds = virtual_total / f64::from(runs);
    Ok(Measurement {
        story: story.to_string(),
        mode,
        runs,
        virtual_seconds,
        wall_seconds,
        wall_min_seconds,
        wall_max_seconds,
        realtime_ratio: virtual_seconds / wall_seconds,
        // The caller reads it, outside the function whose instructions
        // `--instructions` counts (reading /proc costs ~30 K of them).
        peak_rss_bytes: None,
        cases_per_sec: matches!(mode, Mode::Fuzz | Mode::FuzzPlain)
            .then(|| f64::from(runs) / total_wall.max(1e-9)),
        truncated,
    })
}

/// One run: its virtual time, and whether it stopped at `cap`.
fn run_once(
    story: &str,
    mode: Mode,
    seed: u64,
    cap: Option<Duration>,
) -> Result<(Duration, bool), String> {
    let (mut config, transport) = match mode {
        Mode::Engine => {
            let run = engine_run(story)?;
            if run.tool_calls == 0 {
                return Err(format!("{story} on the engine made no tool call"));
            }
            return Ok((run.virtual_time, false));
        }
        Mode::Fuzz => {
            // Every invariant on; a violation is a verdict, not a bench error.
            let checked = crate::fuzz::check(&fuzz_case(seed), Transport::Fast);
            let elapsed = checked.outcome.map_or(Duration::ZERO, |o| o.elapsed);
            return Ok((elapsed, false));
        }
        Mode::FuzzPlain => (fuzz_case(seed), Transport::Fast),
        Mode::Fast => (story_config(story, seed)?, Transport::Fast),
        Mode::Turmoil => (story_config(story, seed)?, Transport::Turmoil),
        Mode::TurmoilTick1ms => {
            let mut config = story_config(story, seed)?;
            config.settings.tick = Dur::millis(1);
            (config, Transport::Turmoil)
        }
    };
    let capped = cap.filter(|&cap| cap < config.settings.max_duration.0);
    if let Some(cap) = capped {
        config.settings.max_duration = Dur(cap);
    }
    let outcome = run_with(&config, transport);
    match outcome.error {
        Some(err) if capped.is_some() && err.starts_with(NOT_OVER) => Ok((outcome.elapsed, true)),
        // A fuzz case may find a bug; the bench measures speed, not verdicts.
        Some(err) if mode != Mode::FuzzPlain => Err(format!(
            "{story} (seed {seed}) failed on {transport}: {err}"
        )),
        _ => Ok((outcome.elapsed, false)),
    }
}

/// This process's peak resident set size (`VmHWM` in `/proc/self/status`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// ---- the parent --------------------------------------------------------------

/// The naive baseline runs at most the first this-many virtual minutes of
/// a story (the 30-minute stories whole).
pub const NAIVE_VIRTUAL_CAP: Duration = Duration::from_secs(31 * 60);

/// What `chatsim bench` runs.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Stories to measure (default: the reference stories).
    pub stories: Vec<String>,
    /// Per measurement (the fast transport's and the engine's: over all
    /// their rounds).
    pub budget: Budget,
    /// The fast transport and the engine are measured in this many
    /// alternating rounds (fast, engine, fast, engine, …), each with its
    /// share of `budget`, and their ratio is taken per round: a change in
    /// the machine's load during the bench falls on both sides of a ratio.
    pub rounds: u32,
    /// Budget of the naive turmoil-1ms baseline (one run is slow).
    pub naive_budget: Budget,
    /// Budget of the fuzz throughput measurement.
    pub fuzz_budget: Budget,
    /// Also measure the scaling grid.
    pub scaling: bool,
    /// A scaling cell expected to take longer than this is estimated from
    /// the cell before it (linear in virtual time), not run.
    pub scaling_cell_limit: Duration,
    /// Also count instructions per run under callgrind.
    pub instructions: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            stories: REFERENCE_STORIES.iter().map(|s| s.to_string()).collect(),
            budget: Budget {
                min_wall: Duration::from_secs(2),
                max_runs: 200,
                virtual_cap: None,
            },
            rounds: 3,
            naive_budget: Budget {
                min_wall: Duration::ZERO,
                max_runs: 1,
                virtual_cap: Some(NAIVE_VIRTUAL_CAP),
            },
            fuzz_budget: Budget {
                min_wall: Duration::from_secs(5),
                max_runs: 100_000,
                virtual_cap: None,
            },
            scaling: false,
            scaling_cell_limit: Duration::from_secs(60),
            instructions: false,
        }
    }
}

/// Runs one measurement in a child process of `exe`.
pub fn measure_in_child(
    exe: &Path,
    story: &str,
    mode: Mode,
    budget: Budget,
) -> Result<Measurement, String> {
    let output = Command::new(exe)
        .args(child_args(story, mode, budget))
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{story} ({}) failed: {}{}",
            mode.name(),
            stdout.trim(),
            stderr.trim()
        ));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| format!("{story} ({}): {e}", mode.name()))
}

/// The command line of a child measuring `story` in `mode`.
fn child_args(story: &str, mode: Mode, budget: Budget) -> Vec<String> {
    let arg = |s: &str| s.to_string();
    vec![
        arg(CHILD_COMMAND),
        arg("--story"),
        arg(story),
        arg("--mode"),
        arg(mode.name()),
        arg("--min-wall-ms"),
        budget.min_wall.as_millis().to_string(),
        arg("--max-runs"),
        budget.max_runs.to_string(),
        arg("--virtual-cap-secs"),
        budget.virtual_cap.map_or(0, |c| c.as_secs()).to_string(),
    ]
}

/// One story on every mode.
#[derive(Clone, Debug)]
pub struct StoryReport {
    /// The story's name.
    pub name: String,
    /// On the fast transport.
    pub fast: Measurement,
    /// On turmoil at chatsim's 100 ms tick.
    pub turmoil: Measurement,
    /// On turmoil's default 1 ms tick (the naive baseline).
    pub naive: Measurement,
    /// The same calls on the pure engine (the practical limit).
    pub engine: Measurement,
    /// How many times slower the fast transport was than the engine in
    /// each round, in round order.
    pub engine_rounds: Vec<f64>,
}

/// Comparisons are of wall time per virtual second (the realtime ratios),
/// so a run that ends a tick later costs nothing extra.
impl StoryReport {
    /// How many times faster the fast transport is than turmoil's default.
    pub fn speedup_vs_turmoil_default(&self) -> f64 {
        self.fast.realtime_ratio / self.naive.realtime_ratio
    }

    /// How many times faster the fast transport is than turmoil at 100 ms.
    pub fn speedup_vs_turmoil(&self) -> f64 {
        self.fast.realtime_ratio / self.turmoil.realtime_ratio
    }

    /// How many times slower the fast transport is than the pure engine:
    /// the median of the rounds' ratios.
    pub fn slowdown_vs_engine_limit(&self) -> f64 {
        if self.engine_rounds.is_empty() {
            return self.engine.realtime_ratio / self.fast.realtime_ratio;
        }
        median(&mut self.engine_rounds.clone())
    }
}

/// One cell of the scaling grid on one transport.
#[derive(Clone, Debug)]
pub struct ScalingCell {
    /// Workspaces in the churn story.
    pub workspaces: usize,
    /// Its virtual length.
    pub duration: Duration,
    /// The transport it ran on.
    pub transport: Transport,
    /// Wall time of the run.
    pub wall_seconds: f64,
    /// `false`: estimated from the previous cell (too slow to run).
    pub measured: bool,
    /// The child's peak RSS, when measured.
    pub peak_rss_bytes: Option<u64>,
}

/// Everything `chatsim bench` measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Each reference story on every mode.
    pub stories: Vec<StoryReport>,
    /// `chatsim fuzz`'s cases, checked.
    pub fuzz: Measurement,
    /// The fuzzer's schedules run without checks.
    pub fuzz_plain: Measurement,
    /// The scaling grid, when `--scaling` asked for it.
    pub scaling: Vec<ScalingCell>,
    /// The machine's load average (1, 5, 15 min) when the bench started
    /// and when it ended: wall times are only comparable at similar load.
    pub load_average: [Option<[f64; 3]>; 2],
    /// Instruction counts, when `--instructions` asked for them.
    pub instructions: Vec<InstructionCount>,
    /// Why `--instructions` counted nothing (e.g. `valgrind not found`).
    pub instructions_skipped: Option<String>,
}

/// Instructions one run executes (callgrind; see [`instructions`]).
#[derive(Clone, Debug)]
pub struct InstructionCount {
    /// The story (`fuzz` for the fuzz modes).
    pub story: String,
    /// How it ran.
    pub mode: Mode,
    /// Runs counted (seeds 0..runs); the count is their mean.
    pub runs: u32,
    /// Instructions per run.
    pub per_run: u64,
}

/// Cases the fuzz modes' instruction counts average over.
pub const FUZZ_INSTRUCTION_CASES: u32 = 20;
/// The scaling cells `--instructions --scaling` counts (fast transport):
/// the drift of cost per workspace·minute from 2 h to 24 h.
pub const INSTRUCTION_SCALING: [(usize, Duration); 4] = [
    (10, Duration::from_secs(2 * 3600)),
    (10, Duration::from_secs(24 * 3600)),
    (50, Duration::from_secs(2 * 3600)),
    (50, Duration::from_secs(24 * 3600)),
];

/// The machine's load average (`/proc/loadavg`), where the OS has one.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// Runs the whole bench, each measurement in a child of `exe`; `progress`
/// hears about each measurement as it starts.
pub fn run_bench(
    exe: &Path,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, String> {
    let load_before = load_average();
    let mut stories = Vec::new();
    for name in &options.stories {
        let mut measure = |mode: Mode, budget: Budget| {
            progress(&format!("{name} on {}", mode.name()));
            measure_in_child(exe, name, mode, budget)
        };
        let rounds = options.rounds.max(1);
        let share = Budget {
            min_wall: options.budget.min_wall / rounds,
            ..options.budget
        };
        let (mut fasts, mut engines, mut engine_rounds) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let fast = measure(Mode::Fast, share)?;
            let engine = measure(Mode::Engine, share)?;
            engine_rounds.push(engine.realtime_ratio / fast.realtime_ratio);
            fasts.push(fast);
            engines.push(engine);
        }
        let turmoil = measure(Mode::Turmoil, options.budget)?;
        let naive = measure(Mode::TurmoilTick1ms, options.naive_budget)?;
        stories.push(StoryReport {
            name: name.clone(),
            fast: Measurement::merge(&fasts).expect("at least one round"),
            turmoil,
            naive,
            engine: Measurement::merge(&engines).expect("at least one round"),
            engine_rounds,
        });
    }
    progress("fuzz cases on fast");
    let fuzz = measure_in_child(exe, "fuzz", Mode::Fuzz, options.fuzz_budget)?;
    progress("the same schedules unchecked");
    let fuzz_plain = measure_in_child(exe, "fuzz", Mode::FuzzPlain, options.fuzz_budget)?;
    let scaling = if options.scaling {
        run_scaling(exe, options, progress)?
    } else {
        Vec::new()
    };
    let (instructions, instructions_skipped) = if !options.instructions {
        (Vec::new(), None)
    } else if !instructions::valgrind_available() {
        (Vec::new(), Some("valgrind not found".to_string()))
    } else {
        (count_instructions(exe, options, progress)?, None)
    };
    Ok(Report {
        stories,
        fuzz,
        fuzz_plain,
        scaling,
        load_average: [load_before, load_average()],
        instructions,
        instructions_skipped,
    })
}

/// Every instruction count `options` asks for: each story on the fast
/// transport and the engine, the fuzz modes, and (with `--scaling`) the
/// drift cells.
fn count_instructions(
    exe: &Path,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<InstructionCount>, String> {
    let mut wanted: Vec<(String, Mode, u32)> = Vec::new();
    for name in &options.stories {
        wanted.push((name.clone(), Mode::Fast, 1));
        wanted.push((name.clone(), Mode::Engine, 1));
    }
    wanted.push(("fuzz".into(), Mode::Fuzz, FUZZ_INSTRUCTION_CASES));
    wanted.push(("fuzz".into(), Mode::FuzzPlain, FUZZ_INSTRUCTION_CASES));
    if options.scaling {
        for (workspaces, duration) in INSTRUCTION_SCALING {
            wanted.push((churn_name(workspaces, duration), Mode::Fast, 1));
        }
    }
    let mut counts = Vec::new();
    for (story, mode, runs) in wanted {
        progress(&format!("instructions: {story} on {}", mode.name()));
        let per_run = instructions::count(exe, &story, mode, runs)?;
        counts.push(InstructionCount {
            story,
            mode,
            runs,
            per_run,
        });
    }
    Ok(counts)
}

fn run_scaling(
    exe: &Path,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<ScalingCell>, String> {
    // Short cells repeat (the median of up to 20 runs within half a
    // second); long ones run once.
    let budget = Budget {
        min_wall: Duration::from_millis(500),
        max_runs: 20,
        virtual_cap: None,
    };
    let mut cells = Vec::new();
    for transport in Transport::ALL {
        for workspaces in SCALING_WORKSPACES {
            let mut previous: Option<(Duration, f64)> = None;
            for duration in SCALING_DURATIONS {
                let estimate =
                    previous.map(|(d, wall)| wall * duration.as_secs_f64() / d.as_secs_f64());
                let too_slow =
                    estimate.is_some_and(|e| e > options.scaling_cell_limit.as_secs_f64());
                let cell = if too_slow {
                    ScalingCell {
                        workspaces,
                        duration,
                        transport,
                        wall_seconds: estimate.unwrap_or_default(),
                        measured: false,
                        peak_rss_bytes: None,
                    }
                } else {
                    let name = churn_name(workspaces, duration);
                    progress(&format!("{name} on {transport}"));
                    let mode = match transport {
                        Transport::Fast => Mode::Fast,
                        Transport::Turmoil => Mode::Turmoil,
                    };
                    let m = measure_in_child(exe, &name, mode, budget)?;
                    ScalingCell {
                        workspaces,
                        duration,
                        transport,
                        wall_seconds: m.wall_seconds,
                        measured: true,
                        peak_rss_bytes: m.peak_rss_bytes,
                    }
                };
                previous = Some((duration, cell.wall_seconds));
                cells.push(cell);
            }
        }
    }
    Ok(cells)
}

// ---- rendering -----------------------------------------------------------------

fn times(x: f64) -> String {
    if x >= 100.0 {
        format!("{}×", group(x.round() as u64))
    } else {
        format!("{x:.1}×")
    }
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

fn wall(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else {
        format!("{:.2} ms", seconds * 1000.0)
    }
}

fn mega(count: Option<u64>) -> String {
    count.map_or("-".into(), |n| format!("{:.2} M", n as f64 / 1e6))
}

fn spread(m: &Measurement) -> String {
    format!(
        "{} / {} / {} ({})",
        wall(m.wall_min_seconds),
        wall(m.wall_seconds),
        wall(m.wall_max_seconds),
        m.runs
    )
}

fn load_text(load: Option<[f64; 3]>) -> String {
    load.map_or("unknown".into(), |[a, b, c]| {
        format!("{a:.2} {b:.2} {c:.2}")
    })
}

fn duration_label(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else {
        format!("{} min", secs / 60)
    }
}

impl Report {
    /// The human table: ratios first, then the raw wall times.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "story             virtual   fast ×real   turmoil ×real   fast vs turmoil-1ms   fast vs turmoil   fast vs engine   peak RSS fast / turmoil\n",
        );
        for s in &self.stories {
            out.push_str(&format!(
                "{:<17} {:>7.0} s {:>12} {:>15} {:>15} faster {:>10} faster {:>9} slower   {} / {}\n",
                s.name,
                s.fast.virtual_seconds,
                times(s.fast.realtime_ratio),
                times(s.turmoil.realtime_ratio),
                times(s.speedup_vs_turmoil_default()),
                times(s.speedup_vs_turmoil()),
                times(s.slowdown_vs_engine_limit()),
                mib(s.fast.peak_rss_bytes),
                mib(s.turmoil.peak_rss_bytes),
            ));
        }
        let cut: Vec<String> = self
            .stories
            .iter()
            .filter(|s| s.naive.truncated)
            .map(|s| {
                format!(
                    "{} (first {:.0} virtual min)",
                    s.name,
                    s.naive.virtual_seconds / 60.0
                )
            })
            .collect();
        if !cut.is_empty() {
            out.push_str(&format!(
                "turmoil-1ms measured on the first part of: {}\n",
                cut.join(", ")
            ));
        }
        out.push_str(&format!(
            "fuzz: {:.0} cases of {} virtual min per second per core (chatsim fuzz's cases, every invariant on, fast transport, {} cases, {} each); unchecked {:.0}/s: checking costs {:.2}x\n",
            self.fuzz.cases_per_sec.unwrap_or_default(),
            FUZZ_CASE_DURATION.as_secs() / 60,
            self.fuzz.runs,
            wall(self.fuzz.wall_seconds),
            self.fuzz_plain.cases_per_sec.unwrap_or_default(),
            self.fuzz_plain.cases_per_sec.unwrap_or_default()
                / self.fuzz.cases_per_sec.unwrap_or(f64::NAN),
        ));
        out.push_str("\nwall time per run: min / median / max (runs)\n");
        out.push_str(&format!(
            "{:<17} {:<34} {:<34} {:<22} {}\n",
            "story", "fast", "turmoil (100 ms)", "turmoil-1ms", "engine"
        ));
        for s in &self.stories {
            out.push_str(&format!(
                "{:<17} {:<34} {:<34} {:<22} {}\n",
                s.name,
                spread(&s.fast),
                spread(&s.turmoil),
                spread(&s.naive),
                spread(&s.engine)
            ));
        }
        out.push_str("fast vs engine, slower by, per round (fast and engine alternate):\n");
        for s in &self.stories {
            let rounds: Vec<String> = s.engine_rounds.iter().map(|&r| times(r)).collect();
            out.push_str(&format!("{:<17} {}\n", s.name, rounds.join("  ")));
        }
        out.push_str(&format!(
            "load average (1/5/15 min): {} at the start, {} at the end\n",
            load_text(self.load_average[0]),
            load_text(self.load_average[1])
        ));
        out.push_str(&self.instructions_table());
        if !self.scaling.is_empty() {
            out.push('\n');
            out.push_str(&self.scaling_table());
        }
        out
    }

    /// The `--instructions` section (empty when not asked for).
    fn instructions_table(&self) -> String {
        if let Some(why) = &self.instructions_skipped {
            return format!("\ninstructions: skipped ({why})\n");
        }
        if self.instructions.is_empty() {
            return String::new();
        }
        let count = |story: &str, mode: Mode| {
            self.instructions
                .iter()
                .find(|c| c.story == story && c.mode == mode)
                .map(|c| c.per_run)
        };
        let mut out = String::from(
            "\ninstructions per run (callgrind, seed 0: the same on every run of this binary)\n",
        );
        out.push_str("story             fast            engine          fast / engine\n");
        for s in &self.stories {
            let (fast, engine) = (count(&s.name, Mode::Fast), count(&s.name, Mode::Engine));
            let ratio = match (fast, engine) {
                (Some(f), Some(e)) if e > 0 => times(f as f64 / e as f64),
                _ => "-".into(),
            };
            out.push_str(&format!(
                "{:<17} {:<15} {:<15} {ratio}\n",
                s.name,
                mega(fast),
                mega(engine)
            ));
        }
        out.push_str(&format!(
            "fuzz: {} per case checked, {} unchecked (mean of {FUZZ_INSTRUCTION_CASES} cases)\n",
            mega(count("fuzz", Mode::Fuzz)),
            mega(count("fuzz", Mode::FuzzPlain))
        ));
        let per_ws_min = |workspaces: usize, duration: Duration| {
            count(&churn_name(workspaces, duration), Mode::Fast)
                .map(|n| n as f64 / (workspaces as f64 * duration.as_secs_f64() / 60.0))
        };
        let mut drift = String::new();
        for workspaces in [10, 50] {
            let short = per_ws_min(workspaces, SCALING_DURATIONS[1]);
            let long = per_ws_min(workspaces, SCALING_DURATIONS[2]);
            if let (Some(short), Some(long)) = (short, long) {
                drift.push_str(&format!(
                    "{workspaces:>10}   {short:>12.0}   {long:>12.0}   {:+.1} %\n",
                    (long / short - 1.0) * 100.0
                ));
            }
        }
        if !drift.is_empty() {
            out.push_str("churn on fast, instructions per workspace·virtual min\n");
            out.push_str("workspaces            2 h           24 h   24 h vs 2 h\n");
            out.push_str(&drift);
        }
        out
    }

    fn scaling_table(&self) -> String {
        let mut out = String::from(
            "scaling (churn story; median wall per run; * = estimated, linear in virtual time)\n",
        );
        out.push_str("transport  workspaces");
        for d in SCALING_DURATIONS {
            out.push_str(&format!("  {:>20}", duration_label(d)));
        }
        out.push_str("   µs per workspace·virtual min (longest)\n");
        for transport in Transport::ALL {
            for workspaces in SCALING_WORKSPACES {
                out.push_str(&format!("{:<10} {:>10}", transport.name(), workspaces));
                let mut last = None;
                for d in SCALING_DURATIONS {
                    let cell = self.scaling.iter().find(|c| {
                        c.transport == transport && c.workspaces == workspaces && c.duration == d
                    });
                    let text = match cell {
                        Some(c) => {
                            let ratio = d.as_secs_f64() / c.wall_seconds.max(1e-9);
                            let star = if c.measured { "" } else { "*" };
                            if c.measured {
                                last = Some((d, c.wall_seconds));
                            }
                            format!("{}{star} ({})", wall(c.wall_seconds), times(ratio))
                        }
                        None => "-".into(),
                    };
                    out.push_str(&format!("  {text:>20}"));
                }
                if let Some((d, w)) = last {
                    let per = w * 1e6 / (workspaces as f64 * d.as_secs_f64() / 60.0);
                    out.push_str(&format!("   {per:.1}"));
                }
                out.push('\n');
            }
        }
        out
    }

    /// One JSON object: `stories` (per story: `name`, `virtual_seconds`,
    /// `realtime_ratio` (fast), `turmoil_realtime_ratio`,
    /// `speedup_vs_turmoil_default`, `slowdown_vs_engine_limit` (the
    /// median of `slowdown_vs_engine_rounds`), `peak_rss_bytes` (fast), and
    /// the raw measurements, fast and engine merged over rounds), the top-level
    /// `fuzz_cases_per_sec_per_core`, `load_average` (`start`, `end`),
    /// `scaling` when measured, and `instructions` (per story and mode:
    /// `instructions_per_run`) or `instructions_skipped` with
    /// `--instructions`.
    pub fn json(&self) -> Value {
        let stories: Vec<Value> = self
            .stories
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "virtual_seconds": s.fast.virtual_seconds,
                    "realtime_ratio": s.fast.realtime_ratio,
                    "turmoil_realtime_ratio": s.turmoil.realtime_ratio,
                    "turmoil_1ms_realtime_ratio": s.naive.realtime_ratio,
                    "turmoil_1ms_virtual_seconds": s.naive.virtual_seconds,
                    "engine_realtime_ratio": s.engine.realtime_ratio,
                    "speedup_vs_turmoil_default": s.speedup_vs_turmoil_default(),
                    "speedup_vs_turmoil": s.speedup_vs_turmoil(),
                    "slowdown_vs_engine_limit": s.slowdown_vs_engine_limit(),
                    "slowdown_vs_engine_rounds": s.engine_rounds,
                    "peak_rss_bytes": s.fast.peak_rss_bytes,
                    "turmoil_peak_rss_bytes": s.turmoil.peak_rss_bytes,
                    "measurements": [s.fast, s.turmoil, s.naive, s.engine],
                })
            })
            .collect();
        let scaling: Vec<Value> = self
            .scaling
            .iter()
            .map(|c| {
                json!({
                    "transport": c.transport.name(),
                    "workspaces": c.workspaces,
                    "virtual_seconds": c.duration.as_secs(),
                    "wall_seconds": c.wall_seconds,
                    "realtime_ratio": c.duration.as_secs_f64() / c.wall_seconds.max(1e-9),
                    "measured": c.measured,
                    "peak_rss_bytes": c.peak_rss_bytes,
                })
            })
            .collect();
        let mut report = json!({
            "stories": stories,
            "fuzz_cases_per_sec_per_core": self.fuzz.cases_per_sec,
            "fuzz_plain_cases_per_sec_per_core": self.fuzz_plain.cases_per_sec,
            "fuzz_case_virtual_seconds": FUZZ_CASE_DURATION.as_secs(),
        });
        if !scaling.is_empty() {
            report["scaling"] = Value::Array(scaling);
        }
        report["load_average"] = json!({
            "start": self.load_average[0],
            "end": self.load_average[1],
        });
        if !self.instructions.is_empty() {
            let counts: Vec<Value> = self
                .instructions
                .iter()
                .map(|c| {
                    json!({
                        "story": c.story,
                        "mode": c.mode,
                        "runs": c.runs,
                        "instructions_per_run": c.per_run,
                    })
                })
                .collect();
            report["instructions"] = Value::Array(counts);
        }
        if let Some(why) = &self.instructions_skipped {
            report["instructions_skipped"] = json!(why);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn story_names_resolve_and_churn_cells_round_trip() {
        for name in REFERENCE_STORIES.iter().chain([&SMOKE_STORY]) {
            assert!(story_config(name, 0).is_ok(), "{name}");
        }
        let name = churn_name(50, Duration::from_secs(86_400));
        assert_eq!(name, "churn-50x86400s");
        assert_eq!(parse_churn(&name), Ok((50, Duration::from_secs(86_400))));
        assert!(story_config("churn-0x600s", 0).is_err());
        assert!(story_config("nonsense", 0).is_err());
        assert_eq!(Mode::parse("turmoil-1ms"), Ok(Mode::TurmoilTick1ms));
    }

    #[test]
    fn a_fuzz_case_lasts_thirty_virtual_minutes() {
        let case = fuzz_case(3);
        let last = case.turns.last().unwrap();
        assert_eq!(last.at, Some(Dur(FUZZ_CASE_DURATION)));
        assert!(last.calls.is_empty());
    }

    #[test]
    fn ratios_render_grouped() {
        assert_eq!(times(201_534.4), "201,534×");
        assert_eq!(times(3.25), "3.2×");
        assert_eq!(group(1_000), "1,000");
    }

    fn measured(mode: Mode, runs: u32, wall: [f64; 3], truncated: bool) -> Measurement {
        Measurement {
            story: "oom".into(),
            mode,
            runs,
            virtual_seconds: 60.0,
            wall_seconds: wall[1],
            wall_min_seconds: wall[0],
            wall_max_seconds: wall[2],
            realtime_ratio: 60.0 / wall[1],
            peak_rss_bytes: Some(u64::from(runs)),
            cases_per_sec: None,
            truncated,
        }
    }

    #[test]
    fn rounds_merge_into_one_measurement_and_the_ratio_is_their_median() {
        let fast = [
            measured(Mode::Fast, 10, [0.9, 1.0, 1.5], false),
            measured(Mode::Fast, 20, [1.8, 3.0, 4.0], true),
            measured(Mode::Fast, 30, [1.1, 1.2, 1.3], false),
        ];
        let merged = Measurement::merge(&fast).expect("three rounds");
        assert_eq!(merged.runs, 60);
        assert_eq!(merged.wall_seconds, 1.2, "the median of the medians");
        assert_eq!(
            (merged.wall_min_seconds, merged.wall_max_seconds),
            (0.9, 4.0)
        );
        assert_eq!(merged.realtime_ratio, 50.0);
        assert_eq!(merged.peak_rss_bytes, Some(30));
        assert!(merged.truncated);
        assert!(Measurement::merge(&[]).is_none());

        let engine = measured(Mode::Engine, 100, [0.2, 0.4, 0.5], false);
        let report = StoryReport {
            name: "oom".into(),
            fast: merged,
            turmoil: engine.clone(),
            naive: engine.clone(),
            engine,
            // A loaded machine in round two: the median ignores it.
            engine_rounds: vec![2.5, 9.0, 2.9],
        };
        assert_eq!(report.slowdown_vs_engine_limit(), 2.9);
    }
}
