//! `chatsim bench` and its per-measurement child.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chatsim::bench::{self, BenchOptions, Budget, Mode};

use crate::output::{self, err, out, Bar};

#[derive(clap::Args)]
pub struct BenchArgs {
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
    /// Measure the fast transport and the engine in this many alternating
    /// rounds (their ratio is the median of the rounds' ratios).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Measure fuzz throughput for at least this long (ms).
    #[arg(long, default_value_t = 5000)]
    fuzz_wall_ms: u64,
    /// A scaling cell expected to run longer (s) is estimated instead.
    #[arg(long, default_value_t = 60)]
    scaling_cell_limit_secs: u64,
    /// Also count instructions per run of each story on the fast
    /// transport and the engine, and per fuzz case, under callgrind
    /// (valgrind); with --scaling, the 2 h and 24 h churn cells at 10 and
    /// 50 workspaces too. Skipped with a note when valgrind is absent.
    #[arg(long)]
    instructions: bool,
    /// Run the turmoil-1ms baseline over whole stories (minutes for
    /// the 2-hour churn) instead of their first 31 virtual minutes.
    #[arg(long)]
    naive_full: bool,
}

#[derive(clap::Args)]
pub struct BenchChildArgs {
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
}

pub fn bench(args: BenchArgs) -> ExitCode {
    let mut options = BenchOptions {
        scaling: args.scaling,
        scaling_cell_limit: Duration::from_secs(args.scaling_cell_limit_secs),
        instructions: args.instructions,
        rounds: args.rounds,
        ..BenchOptions::default()
    };
    if !args.stories.is_empty() {
        options.stories = args.stories;
    }
    for story in &options.stories {
        if let Err(e) = bench::story_config(story, 0) {
            return output::usage(format!("chatsim bench: --story {story}: {e}"));
        }
    }
    options.budget.min_wall = Duration::from_millis(args.min_wall_ms);
    options.fuzz_budget.min_wall = Duration::from_millis(args.fuzz_wall_ms);
    if args.naive_full {
        options.naive_budget.virtual_cap = None;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            err!("chatsim bench: cannot find my own binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[allow(clippy::disallowed_methods)] // bench progress: wall time outside every run
    let started = Instant::now();
    let bar = Bar::spinner("bench");
    let terminal = output::stderr_is_terminal();
    let mut progress = |what: &str| {
        if terminal {
            bar.set_message(what.to_string());
        } else {
            err!("bench: {what}");
        }
    };
    let result = bench::run_bench(&exe, &options, &mut progress);
    bar.finish();
    match result {
        Ok(report) => {
            if args.json {
                out!("{}", report.json());
            } else {
                output::raw(&report.table());
            }
            err!("bench: done in {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("chatsim bench: failed: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn bench_child(args: BenchChildArgs) -> ExitCode {
    let mode = match Mode::parse(&args.mode) {
        Ok(mode) => mode,
        Err(e) => return output::usage(e),
    };
    // The fuzz modes draw their own schedules; every other mode runs a story.
    if !matches!(mode, Mode::Fuzz | Mode::FuzzPlain) {
        if let Err(e) = bench::story_config(&args.story, 0) {
            return output::usage(e);
        }
    }
    let budget = Budget {
        min_wall: Duration::from_millis(args.min_wall_ms),
        max_runs: args.max_runs,
        virtual_cap: (args.virtual_cap_secs > 0)
            .then(|| Duration::from_secs(args.virtual_cap_secs)),
    };
    match bench::measure(&args.story, mode, budget) {
        Ok(mut m) => {
            m.peak_rss_bytes = bench::peak_rss_bytes();
            out!(
                "{}",
                serde_json::to_string(&m).expect("a measurement serializes")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("{e}");
            ExitCode::FAILURE
        }
    }
}
