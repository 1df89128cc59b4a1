//! The `chatsim` command line: thin, every command calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::io::IsTerminal;

use chatsim::bench::{self, BenchOptions, Budget, Mode};
use chatsim::fuzz;
use chatsim::Transport;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chatsim",
    about = "Deterministic simulation of Coder's chat workspace tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs generated mixed-fault seeds twice each and compares the traces
    /// byte for byte.
    Determinism {
        /// How many seeds to run.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        first: u64,
        /// The transport: `turmoil` (the default) or `fast`.
        #[arg(long, default_value_t = Transport::Turmoil)]
        transport: Transport,
    },
    /// Measures the reference stories on both transports, against turmoil's
    /// 1 ms default tick and the pure engine, plus fuzz throughput; each
    /// measurement in its own child process.
    Bench {
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Also measure how cost grows with workspaces (1, 10, 50) and
        /// virtual time (30 min, 2 h, 24 h) on each transport.
        #[arg(long)]
        scaling: bool,
        /// Only these stories (repeatable; default: the reference stories).
        #[arg(long = "story")]
        stories: Vec<String>,
        /// Repeat each measurement for at least this long (ms).
        #[arg(long, default_value_t = 2000)]
        min_wall_ms: u64,
        /// Measure fuzz throughput for at least this long (ms).
        #[arg(long, default_value_t = 5000)]
        fuzz_wall_ms: u64,
        /// A scaling cell expected to run longer (s) is estimated instead.
        #[arg(long, default_value_t = 60)]
        scaling_cell_limit_secs: u64,
        /// Run the turmoil-1ms baseline over whole stories (minutes for
        /// the 2-hour churn) instead of their first 31 virtual minutes.
        #[arg(long)]
        naive_full: bool,
    },
    /// One bench measurement in this process (the bench's child).
    #[command(name = "bench-child", hide = true)]
    BenchChild {
        #[arg(long)]
        story: String,
        #[arg(long)]
        mode: String,
        #[arg(long)]
        min_wall_ms: u64,
        #[arg(long)]
        max_runs: u32,
        /// Stop each run at this virtual time (0 = the whole story).
        #[arg(long, default_value_t = 0)]
        virtual_cap_secs: u64,
    },
    /// Runs scenario files (default: every one under scenarios/) and checks
    /// their expectations and the invariants; one line each, then the tally.
    Run {
        /// Scenario files or directories of them.
        paths: Vec<PathBuf>,
        /// The transport: `turmoil` (the default) or `fast`.
        #[arg(long, default_value_t = Transport::Turmoil)]
        transport: Transport,
    },
    /// Searches failure interleavings: each seed draws a structured
    /// schedule (world, enabled fault kinds, faults, turns), runs it and
    /// checks every invariant plus liveness; a failure shrinks to a
    /// scenario file with a replay line. Exit 0: nothing violated, 1: a
    /// violation, 2: bad usage. `fuzz merge FILE…` combines `--json` shards.
    #[command(args_conflicts_with_subcommands = true)]
    Fuzz(FuzzArgs),
    /// Validates scenario files without running them; errors go to stderr
    /// as FILE:LINE:COLUMN: message.
    Check {
        /// Scenario files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct FuzzArgs {
    #[command(subcommand)]
    action: Option<FuzzAction>,
    /// How many seeds (cases) to run.
    #[arg(long)]
    seeds: Option<u64>,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Run one shard `i/n` of the range (0-based): the seeds s with s mod n = i.
    #[arg(long)]
    shard: Option<fuzz::Shard>,
    /// Worker threads (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// The transport: `fast` (the default) or `turmoil`.
    #[arg(long, default_value_t = Transport::Fast)]
    transport: Transport,
    /// Where shrunk failures are written as scenario files.
    #[arg(long, default_value = "target/chatsim-fuzz")]
    out: PathBuf,
    /// Print one JSON object on stdout (the tally line goes to stderr).
    #[arg(long)]
    json: bool,
    /// Stop taking new seeds after this much wall time (e.g. `30s`, `5m`).
    #[arg(long, value_parser = parse_budget)]
    time_budget: Option<Duration>,
    /// Do not re-run shrunk failures on turmoil.
    #[arg(long)]
    no_turmoil_check: bool,
}

#[derive(Subcommand)]
enum FuzzAction {
    /// Combines the `--json` results of every shard of one range into the
    /// unsharded result.
    Merge {
        /// The shards' JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the JSON object instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

fn parse_budget(text: &str) -> Result<Duration, String> {
    chatsim::plan::parse_duration(text)
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Determinism {
            seeds,
            first,
            transport,
        } => determinism(first, seeds, transport),
        Command::Bench {
            json,
            scaling,
            stories,
            min_wall_ms,
            fuzz_wall_ms,
            scaling_cell_limit_secs,
            naive_full,
        } => {
            let mut options = BenchOptions {
                scaling,
                scaling_cell_limit: Duration::from_secs(scaling_cell_limit_secs),
                ..BenchOptions::default()
            };
            if !stories.is_empty() {
                options.stories = stories;
            }
            options.budget.min_wall = Duration::from_millis(min_wall_ms);
            options.fuzz_budget.min_wall = Duration::from_millis(fuzz_wall_ms);
            if naive_full {
                options.naive_budget.virtual_cap = None;
            }
            bench(&options, json)
        }
        Command::BenchChild {
            story,
            mode,
            min_wall_ms,
            max_runs,
            virtual_cap_secs,
        } => {
            let budget = Budget {
                min_wall: Duration::from_millis(min_wall_ms),
                max_runs,
                virtual_cap: (virtual_cap_secs > 0).then(|| Duration::from_secs(virtual_cap_secs)),
            };
            bench_child(&story, &mode, budget)
        }
        Command::Run { paths, transport } => run_scenarios(&paths, transport),
        Command::Check { paths } => check_scenarios(&paths),
        Command::Fuzz(args) => fuzz_command(args),
    }
}

/// Progress on stderr: a live line on a terminal, a plain line per tenth
/// when piped.
struct FuzzProgress {
    terminal: bool,
    started: Instant,
    failed: std::sync::atomic::AtomicUsize,
}

impl fuzz::Progress for FuzzProgress {
    fn case_done(&self, done: usize, total: usize, line: &fuzz::CaseLine) {
        use std::sync::atomic::Ordering;
        if line.verdict != "pass" {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let failed = self.failed.load(Ordering::SeqCst);
        let text = format!("fuzz: {done}/{total} cases, {rate:.0} cases/s, {failed} failed");
        if self.terminal {
            eprint!("\r{text}");
            if done == total {
                eprintln!();
            }
        } else if done == total || done % (total / 10).max(1) == 0 {
            eprintln!("{text}");
        }
    }
}

fn fuzz_command(args: FuzzArgs) -> ExitCode {
    if let Some(FuzzAction::Merge { files, json }) = args.action {
        return fuzz_merge(&files, json);
    }
    let Some(seeds) = args.seeds else {
        eprintln!("chatsim fuzz: --seeds N is required (e.g. chatsim fuzz --seeds 1000)");
        return ExitCode::from(2);
    };
    let options = fuzz::FuzzOptions {
        start: args.start,
        seeds,
        shard: args.shard,
        jobs: args.jobs.max(1),
        transport: args.transport,
        out: args.out,
        time_budget: args.time_budget,
        confirm_on_turmoil: !args.no_turmoil_check,
    };
    let progress = FuzzProgress {
        terminal: std::io::stderr().is_terminal(),
        started: Instant::now(),
        failed: Default::default(),
    };
    let tally = match fuzz::fuzz(&options, &progress) {
        Ok(tally) => tally,
        Err(err) => {
            eprintln!("chatsim fuzz: {err}");
            return ExitCode::from(2);
        }
    };
    finish_fuzz(&tally, args.json)
}

fn finish_fuzz(tally: &fuzz::Tally, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string(tally).expect("a tally serializes")
        );
        eprint!("{}", tally.summary());
        eprintln!("{}", tally.tally_line());
    } else {
        print!("{}", tally.summary());
        println!("{}", tally.tally_line());
    }
    if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fuzz_merge(files: &[PathBuf], json: bool) -> ExitCode {
    let parts: Result<Vec<fuzz::Tally>, String> =
        files.iter().map(|f| fuzz::Tally::read(f)).collect();
    match parts.and_then(fuzz::Tally::merge) {
        Ok(tally) => finish_fuzz(&tally, json),
        Err(err) => {
            eprintln!("chatsim fuzz merge: {err}");
            ExitCode::from(2)
        }
    }
}

fn scenario_files(paths: &[PathBuf]) -> Option<Vec<PathBuf>> {
    match chatsim::scenario::discover(paths) {
        Ok(files) => Some(files),
        Err(err) => {
            eprintln!("chatsim: cannot list scenarios: {err}");
            None
        }
    }
}

fn run_scenarios(paths: &[PathBuf], transport: Transport) -> ExitCode {
    let Some(files) = scenario_files(paths) else {
        return ExitCode::FAILURE;
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        match chatsim::scenario::load(file) {
            Ok(scenario) => {
                let report = chatsim::scenario::run_scenario_on(&scenario, transport);
                println!("{}", report.line());
                print!("{}", report.details());
                if report.passed() {
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
            Err(errors) => {
                failed += 1;
                println!(
                    "FAIL {}  transport {transport}  (does not load)",
                    file.display()
                );
                for error in errors {
                    println!("  {error}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_scenarios(paths: &[PathBuf]) -> ExitCode {
    let Some(files) = scenario_files(paths) else {
        return ExitCode::FAILURE;
    };
    let mut bad = 0usize;
    for file in &files {
        match chatsim::scenario::load(file) {
            Ok(_) => println!("ok {}", file.display()),
            Err(errors) => {
                bad += 1;
                for error in errors {
                    eprintln!("{error}");
                }
            }
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn bench(options: &BenchOptions, json: bool) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("cannot find my own binary: {err}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut progress = |what: &str| eprintln!("bench: {what}");
    match bench::run_bench(&exe, options, &mut progress) {
        Ok(report) => {
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            eprintln!("bench: done in {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn bench_child(story: &str, mode: &str, budget: Budget) -> ExitCode {
    let measured = Mode::parse(mode).and_then(|mode| bench::measure(story, mode, budget));
    match measured {
        Ok(m) => {
            println!("{}", serde_json::to_string(&m).expect("serializes"));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// The command that replays one generated seed.
fn replay_line(seed: u64, transport: Transport) -> String {
    format!("replay: chatsim determinism --first {seed} --seeds 1 --transport {transport}")
}

fn determinism(first: u64, seeds: u64, transport: Transport) -> ExitCode {
    let (mut passed, mut failed) = (0u64, 0u64);
    for seed in first..first.saturating_add(seeds) {
        let config = chatsim::gen::mixed(seed);
        let wall = Instant::now();
        let a = chatsim::run_with(&config, transport);
        let wall_a = wall.elapsed();
        let b = chatsim::run_with(&config, transport);
        let wall_b = wall.elapsed() - wall_a;
        let virtual_secs = a.elapsed.as_secs_f64();
        let (wall_a, wall_b) = (wall_a.as_secs_f64(), wall_b.as_secs_f64());
        let ratio = |wall: f64| virtual_secs / wall.max(1e-9);
        let status = match &a.error {
            None => "ok".to_string(),
            Some(err) => format!("run error: {err}"),
        };
        match a.trace.first_difference(&b.trace) {
            None => {
                passed += 1;
                println!(
                    "seed {seed}: match {} ({} lines, {status}, {transport}) virtual {virtual_secs:.1}s wall {wall_a:.4}s/{wall_b:.4}s ratio {:.0}x/{:.0}x",
                    a.hash(),
                    a.trace.len(),
                    ratio(wall_a),
                    ratio(wall_b),
                );
                if a.error.is_some() {
                    println!("  {}", replay_line(seed, transport));
                }
            }
            Some(diff) => {
                failed += 1;
                println!(
                    "seed {seed}: MISMATCH {} vs {} ({transport} transport)\n{diff}\n  {}",
                    a.hash(),
                    b.hash(),
                    replay_line(seed, transport)
                );
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
