//! The bug zoo (feature `bugs`): runs under one of the engine's named
//! switches ([`Bug`]) and measures how well the fuzzer and the bundled
//! scenarios find each one.
//!
//! - [`search`]: `chatsim fuzz --bug NAME` — the seeds of a range in order
//!   until the first case that violates an invariant under the switch,
//!   shrunk and written as a scenario file; and `--findability` — the cases
//!   to the first find in each of 20 disjoint ranges of 5,000 seeds.
//! - [`kill`]: the kill matrix — which bundled scenarios fail under each
//!   switch.
//!
//! The switch reaches a run only through [`with_bug`] (the run's
//! settings); every check is the same as without it — nothing that judges
//! a run reads the switch. The fuzz schedule is the same too: a seed draws
//! the same case with and without `--bug`.

pub mod kill;
pub mod search;

pub use chatsim_engine::bugs::{Bug, FORBIDDEN_OLD_VERSION};

use crate::fuzz::{check, Checked};
use crate::plan::RunConfig;
use crate::transport::Transport;

/// `config` running under switch `bug` (nothing else changes).
pub fn with_bug(config: &RunConfig, bug: Bug) -> RunConfig {
    let mut config = config.clone();
    config.settings.bug = Some(bug);
    config
}

/// Runs `config` under `bug` on `transport` and checks every invariant,
/// as a fuzz case is checked.
pub fn check_under(config: &RunConfig, bug: Bug, transport: Transport) -> Checked {
    check(&with_bug(config, bug), transport)
}

/// The switch named `name`, or the error listing the names.
pub fn parse_bug(name: &str) -> Result<Bug, String> {
    Bug::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        format!(
            "unknown bug {name:?}; the switches are: {}",
            names.join(", ")
        )
    })
}
