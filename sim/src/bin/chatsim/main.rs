//! The `chatsim` command line: thin, every command calls the library.
//!
//! Exit codes, for every command: 2 for a usage error, a file that does not
//! load, or when nothing ran (no scenario files, `--seeds 0`); else 1 when
//! anything failed; else 0. Results go to stdout, errors and progress to
//! stderr; a closed stdout ends the command quietly.

// The fast transport allocates per message (frames, decoded rows, wakers);
// with glibc malloc that was a fifth of its wall time. The engine baseline
// runs in this binary too, under the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (number 15 in both its v2 and v3;
/// the -sys crate names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Has mimalloc give emptied pages back to the OS at once, not a second
/// later: a process that runs many stories (the bench's children, fuzz)
/// otherwise holds about 1 MiB more at its peak than under glibc. It costs
/// churn about 3 % of its wall time.
fn return_freed_memory_at_once() {
    // SAFETY: sets an integer option; mimalloc reads it at each purge, and
    // no other thread runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

mod bench;
mod bugs;
mod determinism;
mod fuzz;
mod output;
mod report;
mod scenarios;
mod serve;
mod trace;

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;

use chatsim::Transport;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chatsim",
    version,
    about = "Deterministic simulation of Coder's chat workspace tools",
    after_help = "Exit codes: 0 all passed; 1 something failed; 2 usage or load error, or nothing ran."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs scenario files (default: every one under scenarios/) and checks
    /// their expectations and the invariants; one line each, then the tally.
    Run(scenarios::RunArgs),
    /// Runs scenario files and writes each run's timeline as one
    /// self-contained HTML page, DIR/<file stem>.html: lanes for turns,
    /// tool calls, builds, agents and faults on a virtual-time axis.
    Report(report::ReportArgs),
    /// Validates scenario files without running them; errors go to stderr
    /// as FILE:LINE:COLUMN: message.
    Check {
        /// Scenario files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Lists scenario files (default: every one under scenarios/), one per
    /// line: name, description, fault kinds (comma-separated), tab-separated.
    List {
        /// Scenario files or directories of them.
        paths: Vec<PathBuf>,
    },
    /// Prints the JSON-lines trace of a scenario file or of a generated
    /// mixed-fault seed.
    Trace(trace::TraceArgs),
    /// Runs generated mixed-fault seeds twice each, compares the traces
    /// byte for byte and checks every invariant.
    Determinism {
        #[command(flatten)]
        range: SeedRange,
        /// The transport: `turmoil` (the default) or `fast`.
        #[arg(long, default_value_t = Transport::Turmoil)]
        transport: Transport,
    },
    /// Searches failure interleavings: each seed draws a structured
    /// schedule (world, enabled fault kinds, faults, turns), runs it and
    /// checks every invariant plus liveness; a failure shrinks to a
    /// scenario file with a replay line. `fuzz merge FILE…` combines
    /// `--json` shards.
    #[command(args_conflicts_with_subcommands = true)]
    Fuzz(fuzz::FuzzArgs),
    /// Measures the reference stories on both transports, against turmoil's
    /// 1 ms default tick and the pure engine, plus fuzz throughput; each
    /// measurement in its own child process.
    Bench(bench::BenchArgs),
    /// Serves a simulated deployment to an MCP client over stdio (`--mcp`):
    /// the engine's tools plus `wait`, virtual time, the scenario's faults;
    /// when stdin closes, writes the run as a scenario file (`--record`).
    Serve(serve::ServeArgs),
    /// One bench measurement in this process (the bench's child).
    #[command(name = "bench-child", hide = true)]
    BenchChild(bench::BenchChildArgs),
}

/// A range of seeds: `--seeds N` from `--start S`.
#[derive(clap::Args, Clone, Copy, Debug)]
struct SeedRange {
    /// How many seeds to run.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// The first seed.
    #[arg(long, visible_alias = "first", default_value_t = 0)]
    start: u64,
}

/// The seeds `start ..= start + seeds - 1`, or the usage error naming a
/// range that is empty or runs past the last seed.
fn seed_range(command: &str, start: u64, seeds: u64) -> Result<RangeInclusive<u64>, String> {
    if seeds == 0 {
        return Err(format!("chatsim {command}: --seeds 0: no seed to run"));
    }
    let last = start.checked_add(seeds - 1).ok_or_else(|| {
        format!(
            "chatsim {command}: --start {start} --seeds {seeds} runs past the last seed ({})",
            u64::MAX
        )
    })?;
    Ok(start..=last)
}

fn main() -> ExitCode {
    return_freed_memory_at_once();
    match Cli::parse().command {
        Command::Run(args) => scenarios::run(args),
        Command::Report(args) => report::report(args),
        Command::Check { paths } => scenarios::check(&paths),
        Command::List { paths } => scenarios::list(&paths),
        Command::Trace(args) => trace::trace(args),
        Command::Determinism { range, transport } => {
            match seed_range("determinism", range.start, range.seeds) {
                Ok(seeds) => determinism::determinism(seeds, transport),
                Err(message) => output::usage(message),
            }
        }
        Command::Fuzz(args) => fuzz::fuzz(args),
        Command::Bench(args) => bench::bench(args),
        Command::Serve(args) => serve::serve(args),
        Command::BenchChild(args) => bench::bench_child(args),
    }
}
