//! Scenario files: one failure story per TOML file (format in
//! `scenarios/README.md`), parsed with spans so every error names the file,
//! line, column and field.
//!
//! - [`load`] / [`parse`]: TOML → [`ScenarioFile`] → semantic checks
//!   (`check`), errors as `FILE:LINE:COLUMN: path: message`;
//! - [`run_scenario`]: runs it, checks the invariants and its `[expect]`
//!   ([`evaluate`]) into a [`Report`] with the replay command;
//! - [`transcript`]: the readable run the snapshot suite records;
//! - [`results`]: `chatsim run --json` and `--junit`.

pub mod check;
mod expect;
pub mod file;
mod load;
mod location;
mod report;
pub mod results;
pub mod spans;
mod transcript;
mod words;

pub use crate::plan::{format_duration, parse_duration, HumanDuration};
pub use expect::{evaluate, Failure};
pub use file::{Expect, ScenarioFile};
pub use load::{discover, load, parse, parse_bytes, Scenario, SCENARIO_DIR};
pub use location::{line_column, ScenarioError};
pub use report::{judge, run_scenario, run_scenario_on, Report};
pub use transcript::{pretty, transcript};
