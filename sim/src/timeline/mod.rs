//! `chatsim report`: one run's trace drawn as a self-contained HTML page —
//! lanes on a virtual-time axis for the chat's turns and tool calls, the
//! builds and their jobs, each agent's connection status and lifecycle,
//! the faults, the chat updates and the prompts coderd built, with the
//! violated invariants and failed expectations marked at their instant.
//!
//! - [`lanes`]: the trace read as lanes of items (data, no markup);
//! - [`html`]: the page: the lanes as an escaped JSON block, drawn by a
//!   small inline script (`page.js`) into SVG, with inline CSS (`page.css`).
//!
//! The page is a pure function of its [`Run`]: no clock, no hash-map
//! order, no external asset, so the same run gives the same bytes.

pub mod html;
pub mod lanes;

#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::observe::invariants::Violation;
use crate::observe::trace::Trace;

pub use html::page;
pub use lanes::{Detail, Item, ItemKind, Lane, Timeline, Tone};

/// What a page shows: a run's trace and how it was judged.
#[derive(Clone, Debug)]
pub struct Run<'a> {
    /// The run's name (the scenario's name, or `fuzz seed N`).
    pub title: &'a str,
    /// A few sentences on the story (may be empty).
    pub description: &'a str,
    /// The run's trace.
    pub trace: &'a Trace,
    /// The command that replays the run.
    pub replay: &'a str,
    /// What the run broke; empty when it passed.
    pub marks: Vec<Mark>,
}

/// A violated invariant or failed expectation, at its instant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mark {
    /// Virtual time, in milliseconds.
    pub at_ms: u64,
    /// What broke, short: `invariant X` or `expectation Y`.
    pub title: String,
    /// What happened, in words.
    pub message: String,
}

impl Mark {
    /// A mark at `at`.
    pub fn new(at: Duration, title: impl Into<String>, message: impl Into<String>) -> Mark {
        Mark {
            at_ms: millis(at),
            title: title.into(),
            message: message.into(),
        }
    }

    /// The mark of a broken invariant, at the offending event.
    pub fn violation(violation: &Violation) -> Mark {
        Mark::new(
            violation.at,
            format!("invariant {}", violation.invariant),
            violation.message.clone(),
        )
    }
}

/// Whole milliseconds (traces keep no finer time).
fn millis(at: Duration) -> u64 {
    u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
}
