//! `chatsim trace`: the JSON-lines trace of a scenario file or a generated
//! seed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use chatsim::Transport;

use crate::output::{self, err};

#[derive(clap::Args)]
pub struct TraceArgs {
    /// A scenario file.
    #[arg(required_unless_present = "seed", conflicts_with = "seed")]
    scenario: Option<PathBuf>,
    /// A generated mixed-fault seed (what `chatsim determinism` runs).
    #[arg(long)]
    seed: Option<u64>,
    /// The transport: `turmoil` or `fast`. Default: the one the scenario
    /// file names (a `chatsim serve` recording: `fast`), else `turmoil`.
    #[arg(long)]
    transport: Option<Transport>,
}

/// Prints the trace (exit 0 even when the run failed: the trace is what
/// shows why; the run's error goes to stderr).
pub fn trace(args: TraceArgs) -> ExitCode {
    let (config, own) = match (&args.scenario, args.seed) {
        (Some(file), _) => match chatsim::scenario::load(file) {
            Ok(scenario) => (scenario.config(), scenario.file.transport),
            Err(errors) => {
                for error in &errors {
                    err!("{error}");
                }
                return ExitCode::from(2);
            }
        },
        (None, Some(seed)) => (chatsim::gen::mixed(seed), None),
        (None, None) => return output::usage("chatsim trace: name a SCENARIO file or --seed S"),
    };
    let outcome = match catch_unwind(AssertUnwindSafe(|| {
        let transport = args.transport.or(own).unwrap_or_default();
        chatsim::run_with(&config, transport)
    })) {
        Ok(outcome) => outcome,
        Err(_) => {
            err!("chatsim trace: the harness panicked (its message is above)");
            return ExitCode::FAILURE;
        }
    };
    output::raw(&outcome.trace.text());
    if let Some(e) = &outcome.error {
        err!("chatsim trace: the run failed: {e}");
    }
    ExitCode::SUCCESS
}
