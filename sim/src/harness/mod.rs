//! The harness: the outer loop that owns a run. It builds the world at time
//! zero ([`setup`]), starts the hosts on a transport, drains the control
//! queue between steps, applies the fault schedule ([`faults`]) and ends
//! with a [`RunOutcome`]: the trace, the database summary, the error.

pub mod check;
pub mod faults;
mod run;
pub mod setup;

pub use run::{
    run, run_fast, run_on, run_served, run_with, turmoil_world, AgentSummary, BuildSummary,
    ChatSummary, RunOutcome, Summary, WorkspaceSummary, EPOCH, HARNESS,
};
