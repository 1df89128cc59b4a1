//! The bug zoo's command line (a build with `--features bugs`):
//! `chatsim fuzz --list-bugs`, `chatsim fuzz --bug NAME --seeds N [--out
//! DIR]`, `chatsim fuzz --bug NAME --findability`, `chatsim fuzz
//! --kill-matrix`, and `chatsim run --bug NAME FILE`. In a build without the
//! feature every one of them is a usage error (exit 2) that says so.

use std::path::PathBuf;
#[cfg(not(feature = "bugs"))]
use std::process::ExitCode;

use chatsim::Transport;

#[cfg(not(feature = "bugs"))]
use crate::output;

/// The zoo's flags of `chatsim fuzz` (present in every build).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ZooArgs {
    /// Print the bug-zoo switches, one name per line (build with
    /// `--features bugs`).
    #[arg(long)]
    pub list_bugs: bool,
    /// Search for the named bug-zoo switch: stop at the first case that
    /// violates an invariant under it (exit 1), shrink it and write it to
    /// `--out`.
    #[arg(long, value_name = "NAME")]
    pub bug: Option<String>,
    /// With `--bug`: the cases to the first find in each of 20 disjoint
    /// ranges of 5,000 seeds (seeds 0..100,000), median and 95th
    /// percentile.
    #[arg(long, requires = "bug")]
    pub findability: bool,
    /// Run every bundled scenario under every switch and print which fail.
    #[arg(long)]
    pub kill_matrix: bool,
}

impl ZooArgs {
    /// Whether any zoo flag was given.
    pub fn any(&self) -> bool {
        self.list_bugs || self.bug.is_some() || self.kill_matrix
    }
}

/// What the rest of `chatsim fuzz`'s flags say to the zoo.
#[cfg_attr(not(feature = "bugs"), allow(dead_code))] // read only by the zoo
pub struct FuzzContext {
    pub start: u64,
    pub seeds: Option<u64>,
    pub jobs: usize,
    pub transport: Transport,
    pub out: PathBuf,
}

#[cfg(not(feature = "bugs"))]
const NOT_BUILT: &str = "this chatsim was built without the bug zoo; rebuild with `--features bugs` (e.g. cargo run --release -p chatsim --features bugs -- fuzz --list-bugs)";

/// `chatsim fuzz` with a zoo flag.
#[cfg(not(feature = "bugs"))]
pub fn fuzz(command: &str, _: &ZooArgs, _: FuzzContext) -> ExitCode {
    output::usage(format!("chatsim {command}: {NOT_BUILT}"))
}

/// `chatsim run --bug NAME`: a build without the zoo has no switch.
#[cfg(not(feature = "bugs"))]
pub fn run_bug(_: &str) -> Result<std::convert::Infallible, ExitCode> {
    Err(output::usage(format!("chatsim run --bug: {NOT_BUILT}")))
}

/// The scenario as `chatsim run` runs it (no switch without the zoo).
#[cfg(not(feature = "bugs"))]
pub fn under(
    scenario: chatsim::scenario::Scenario,
    _: Option<std::convert::Infallible>,
) -> chatsim::scenario::Scenario {
    scenario
}

#[cfg(feature = "bugs")]
pub use built::*;

#[cfg(feature = "bugs")]
mod built {
    use std::process::ExitCode;
    use std::time::Instant;

    use chatsim::scenario;
    use chatsim::zoo::{self, kill, search, Bug};

    use super::{FuzzContext, ZooArgs};
    use crate::output::{self, err, out};

    /// `chatsim fuzz` with a zoo flag.
    pub fn fuzz(command: &str, args: &ZooArgs, cx: FuzzContext) -> ExitCode {
        if args.list_bugs {
            for bug in Bug::ALL {
                out!("{bug}");
            }
            return ExitCode::SUCCESS;
        }
        if args.kill_matrix {
            return kill_matrix(command, &cx);
        }
        let Some(name) = &args.bug else {
            return output::usage(format!("chatsim {command}: --findability needs --bug NAME"));
        };
        let bug = match zoo::parse_bug(name) {
            Ok(bug) => bug,
            Err(e) => return output::usage(format!("chatsim {command}: --bug: {e}")),
        };
        if args.findability {
            return findability(command, bug, &cx);
        }
        let Some(seeds) = cx.seeds else {
            return output::usage(format!(
                "chatsim {command}: --bug needs --seeds N (e.g. chatsim fuzz --bug {bug} --seeds 1000)"
            ));
        };
        if let Err(message) = crate::seed_range(command, cx.start, seeds) {
            return output::usage(message);
        }
        find(command, bug, seeds, &cx)
    }

    fn find(command: &str, bug: Bug, seeds: u64, cx: &FuzzContext) -> ExitCode {
        let options = search::SearchOptions {
            bug,
            start: cx.start,
            seeds,
            jobs: cx.jobs,
            transport: cx.transport,
            out: cx.out.clone(),
        };
        #[allow(clippy::disallowed_methods)] // the report's wall time, outside every run
        let started = Instant::now();
        let found = match search::search(&options) {
            Ok(found) => found,
            Err(e) => return output::usage(format!("chatsim {command}: {e}")),
        };
        let wall = started.elapsed().as_secs_f64();
        match found {
            Some(f) => {
                out!("found after {} cases", f.rank);
                out!(
                    "seed {}: {bug}\n  {}\n  shrunk from {} to {} faults+turns in {} runs: {} ({} bytes)\n  replay: {}\n  {:.2} s wall",
                    f.seed,
                    f.message,
                    f.size_before,
                    f.size_after,
                    f.shrink_runs,
                    f.file.display(),
                    f.file_bytes,
                    f.replay,
                    wall
                );
                out!("{} passed, 1 failed", f.rank - 1);
                ExitCode::from(1)
            }
            None => {
                out!("not found in {seeds} cases ({wall:.2} s wall)");
                out!("{seeds} passed, 0 failed");
                ExitCode::SUCCESS
            }
        }
    }

    fn findability(command: &str, bug: Bug, cx: &FuzzContext) -> ExitCode {
        #[allow(clippy::disallowed_methods)] // the report's wall time, outside every run
        let started = Instant::now();
        let result = search::findability(
            bug,
            search::FINDABILITY_RANGES,
            search::FINDABILITY_RANGE_SIZE,
            cx.jobs,
            cx.transport,
        );
        match result {
            Ok(f) => {
                output::raw(&f.render());
                out!("{:.1} s wall", started.elapsed().as_secs_f64());
                ExitCode::SUCCESS
            }
            Err(e) => output::usage(format!("chatsim {command}: {e}")),
        }
    }

    fn kill_matrix(command: &str, cx: &FuzzContext) -> ExitCode {
        let files = match scenario::discover(&[]) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => {
                return output::usage(format!(
                    "chatsim {command}: no scenario files in {}",
                    scenario::SCENARIO_DIR
                ))
            }
            Err(e) => return output::usage(format!("chatsim {command}: {e}")),
        };
        let mut scenarios = Vec::new();
        for file in &files {
            match scenario::load(file) {
                Ok(s) => scenarios.push(s),
                Err(errors) => {
                    for e in errors {
                        err!("{e}");
                    }
                    return output::usage(format!("chatsim {command}: a scenario does not load"));
                }
            }
        }
        let rows = kill::kill_matrix(&scenarios, cx.transport);
        output::raw(&kill::render(&rows));
        ExitCode::SUCCESS
    }

    /// `chatsim run --bug NAME`: checks the name.
    pub fn run_bug(name: &str) -> Result<Bug, ExitCode> {
        zoo::parse_bug(name).map_err(|e| output::usage(format!("chatsim run --bug: {e}")))
    }

    /// The scenario as `chatsim run --bug` runs it: under the switch.
    pub fn under(mut scenario: scenario::Scenario, bug: Option<Bug>) -> scenario::Scenario {
        scenario.file.settings.bug = bug.or(scenario.file.settings.bug);
        scenario
    }
}
