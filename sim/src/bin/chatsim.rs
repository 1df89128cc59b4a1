//! The `chatsim` command line: thin, every command calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
    },
    /// Runs scenario files (default: every one under scenarios/) and checks
    /// their expectations and the invariants; one line each, then the tally.
    Run {
        /// Scenario files or directories of them.
        paths: Vec<PathBuf>,
    },
    /// Validates scenario files without running them; errors go to stderr
    /// as FILE:LINE:COLUMN: message.
    Check {
        /// Scenario files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Determinism { seeds, first } => determinism(first, seeds),
        Command::Run { paths } => run_scenarios(&paths),
        Command::Check { paths } => check_scenarios(&paths),
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

fn run_scenarios(paths: &[PathBuf]) -> ExitCode {
    let Some(files) = scenario_files(paths) else {
        return ExitCode::FAILURE;
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        match chatsim::scenario::load(file) {
            Ok(scenario) => {
                let report = chatsim::scenario::run_scenario(&scenario);
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
                println!("FAIL {}  (does not load)", file.display());
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

fn determinism(first: u64, seeds: u64) -> ExitCode {
    let (mut passed, mut failed) = (0u64, 0u64);
    for seed in first..first.saturating_add(seeds) {
        let config = chatsim::gen::mixed(seed);
        let wall = Instant::now();
        let a = chatsim::run(&config);
        let wall_a = wall.elapsed();
        let b = chatsim::run(&config);
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
                    "seed {seed}: match {} ({} lines, {status}) virtual {virtual_secs:.1}s wall {wall_a:.3}s/{wall_b:.3}s ratio {:.0}x/{:.0}x",
                    a.hash(),
                    a.trace.lines().len(),
                    ratio(wall_a),
                    ratio(wall_b),
                );
            }
            Some(diff) => {
                failed += 1;
                println!(
                    "seed {seed}: MISMATCH {} vs {} ({} transport)\n{diff}",
                    a.hash(),
                    b.hash(),
                    a.transport
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
