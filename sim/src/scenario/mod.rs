//! Scenario files: one failure story per TOML file (format in
//! `scenarios/README.md`), parsed with spans so every error names the file,
//! line, column and field.

mod duration;
mod location;

pub use duration::{format_duration, parse_duration, HumanDuration};
pub use location::{line_column, ScenarioError};
