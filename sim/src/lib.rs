//! chatsim: the deterministic simulation harness (turmoil and fast worlds,
//! scenarios, fuzzing, bench) around chatsim-engine.
//!
//! A run is a [`RunConfig`] — a seed, a [`WorldSpec`], a fault schedule and
//! the chat driver's turns — played on a [`Transport`] into a
//! [`RunOutcome`]: the trace (one JSON line per event, stable hash), the
//! database at the end, and how the run ended. [`run()`] uses turmoil (the
//! default: one runtime per host, a 100 ms tick); [`run_fast()`] one paused
//! tokio runtime that jumps from timer to timer (30–70× faster than turmoil
//! at its 100 ms tick on the reference stories; see `chatsim bench`). Same
//! seed and transport, same trace, byte for byte; the same config on the
//! two transports tells the same story ([`Trace::story`]), only timings
//! differ.
//!
//! Rooms: [`config`] (the run's serde types), [`world`] (the `Net`/`Infra`
//! traits, turmoil and fast worlds, the control queue, agent slots, the
//! cloud), [`hosts`]
//! (coderd, provisioner, agents, driver), [`proto`] (the wire), [`faults`]
//! (the catalog), [`trace`], [`gen`] (a seed → a mixed-fault run),
//! [`stories`] (ready-made runs), the harness in [`mod@run`], and
//! [`mod@bench`] (`chatsim bench`). [`model`] plays model turns (the
//! reference policy); [`view`] reads a trace back; [`invariants`] are the
//! always-on checks over it; and [`scenario`] loads scenario files
//! (`scenarios/*.toml`), judges their runs and renders the transcripts the
//! snapshot suite records.
//!
//! ```no_run
//! let outcome = chatsim::run(&chatsim::stories::oom_story(7));
//! assert!(outcome.is_ok());
//! let fast = chatsim::run_fast(&chatsim::stories::oom_story(7));
//! assert_eq!(fast.trace.story(), outcome.trace.story());
//! print!("{}", outcome.trace.text()); // one JSON line per event
//! println!("{}", outcome.hash());      // FNV-1a 64 of those lines
//! ```

#[cfg(not(tokio_unstable))]
compile_error!(
    "chatsim needs --cfg tokio_unstable (set in .cargo/config.toml; do not override RUSTFLAGS)"
);

pub mod bench;
pub mod config;
pub mod faults;
pub mod gen;
pub mod hosts;
pub mod invariants;
pub mod model;
pub mod proto;
pub mod rng;
pub mod run;
pub mod scenario;
mod setup;
pub mod stories;
pub mod trace;
pub mod view;
pub mod world;

pub use config::{
    AgentBehaviour, AgentDef, Call, ChatSpec, Dur, DurRange, Goal, ModelKind, OrgSpec,
    ParameterSpec, PresetSpec, RunConfig, ScheduledFault, Settings, TemplateSpec, Turn, UserSpec,
    VersionSpec, WorldSpec,
};
pub use faults::Fault;
pub use run::{run, run_fast, run_on, run_with, RunOutcome, Summary, EPOCH};
pub use trace::{Difference, Event, Record, Trace};
pub use world::Transport;
