//! The `chatsim` command line: thin, every command calls the library.

use std::process::ExitCode;
use std::time::Instant;

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
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Determinism {
            seeds,
            first,
            transport,
        } => determinism(first, seeds, transport),
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
                    a.trace.lines().len(),
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
