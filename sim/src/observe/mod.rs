//! Observing a run: the [`trace`] every host writes into, [`view`]s that
//! read it back as calls, builds and agents, the always-on
//! [`invariants`] checked over it, and what a run reached: the
//! [`reach`]ability goals and the [`coverage`] matrix's cells.

pub mod coverage;
pub mod invariants;
pub mod reach;
pub mod trace;
pub mod view;
