//! chatsim: the deterministic simulation harness (turmoil and fast worlds,
//! scenarios, fuzzing, bench) around chatsim-engine.
//!
//! A run is a [`RunConfig`] — a seed, a [`WorldSpec`], a fault schedule and
//! the chat driver's turns — played on a [`Transport`] into a
//! [`RunOutcome`]: the trace (one JSON line per event, stable hash), the
//! database at the end, and how the run ended. [`run()`] uses turmoil (the
//! default: one runtime per host, a 100 ms tick); [`run_fast()`] one
//! single-threaded executor whose virtual clock jumps from timer to timer
//! (80–160× faster than turmoil at its 100 ms tick on the reference
//! stories; see `chatsim bench`). Same
//! seed and transport, same trace, byte for byte; the same config on the
//! two transports tells the same story ([`Trace::story`]), only timings
//! differ.
//!
//! Rooms, bottom to top; a room imports only rooms below it (no circle):
//!
//! - [`plan`]: what a run is — [`RunConfig`], the world, turns, the fault
//!   catalog, durations, and the [`Story`] builder tests write runs with.
//!   Pure data; imports nothing else in the crate.
//! - [`rng`]: the seeded random streams.
//! - [`transport`]: the `Net`/`Infra` traits hosts and the outer loop are
//!   written against, and the two worlds: turmoil and fast.
//! - [`control`]: what hosts and the outer loop share — the queue of
//!   infrastructure commands, the agent slots, the cloud's switches.
//! - [`observe`]: the trace, views that read it back, the invariants, and
//!   what a run reached (reachability goals, coverage cells).
//! - [`players`]: who decides a turn's calls — a script, the reference
//!   model or a model persona (sans-IO).
//! - [`hosts`]: coderd, provisioner, agents, the chat driver, and the wire.
//! - [`harness`]: the run loop; setup at time zero; applying faults; the
//!   one validator of a run (`harness::check`, run at setup).
//! - [`scenario`]: scenario files (`scenarios/*.toml`), their own checks
//!   (the name, `[expect]`) on top of the run's, expectations and the
//!   transcripts the snapshot suite records.
//! - [`timeline`]: a run's trace drawn as a self-contained HTML page
//!   (`chatsim report`); reads only `observe` and `plan`.
//! - [`gen`] (a seed → a mixed-fault run), [`stories`] (ready-made runs),
//!   [`mod@fuzz`] (`chatsim fuzz`: structured schedules, every invariant,
//!   shrinking to a scenario file), [`mod@bench`] (`chatsim bench`).
//! - [`serve`]: `chatsim serve --mcp`, an MCP client as the chat's model,
//!   its run recorded as a scenario file (uses `scenario` and `fuzz`'s
//!   scenario writer).
//! - `zoo` (feature `bugs`): the bug zoo — runs under a named switch that
//!   re-introduces a fixed bug, the search for it (`chatsim fuzz --bug`),
//!   findability and the kill matrix. Imports `fuzz` and `scenario`.
//!
//! ```no_run
//! let outcome = chatsim::run(&chatsim::stories::oom_story(7));
//! assert!(outcome.is_ok());
//! let fast = chatsim::run_fast(&chatsim::stories::oom_story(7));
//! assert_eq!(fast.trace.story(), outcome.trace.story());
//! print!("{}", outcome.trace.text()); // one JSON line per event
//! println!("{}", outcome.hash());      // FNV-1a 64 of those lines
//! ```
#![warn(missing_docs)]

#[cfg(not(tokio_unstable))]
compile_error!(
    "chatsim needs --cfg tokio_unstable (set in .cargo/config.toml; do not override RUSTFLAGS)"
);

// The rooms (rustfmt sorts them; their order, bottom to top, is above).
pub mod bench;
pub mod bounds;
pub mod control;
pub mod fuzz;
pub mod gen;
pub mod harness;
pub mod hosts;
pub mod observe;
pub mod plan;
pub mod players;
pub mod rng;
pub mod scenario;
pub mod serve;
pub mod stories;
pub mod timeline;
pub mod transport;
#[cfg(feature = "bugs")]
pub mod zoo;

pub use harness::{run, run_fast, run_on, run_with, RunOutcome, Summary, EPOCH};
pub use observe::trace::{
    AgentStatusKind, ContextPhase, DialOutcome, Difference, DisconnectReason, EngineEventKind,
    EntityKind, Event, EventKind, Hook, InfraAction, ModelOutcome, ParseError, Record, Requester,
    RunEnding, Trace, TurnEnding,
};
/// The story builder: `chatsim::story::*` brings [`Story`] and the helpers
/// (`mins`, `execute`, `agent_oom`, …) tests read like stories with.
pub use plan::story;
pub use plan::Story;
pub use plan::{
    AgentBehaviour, AgentDef, Call, ChatSpec, Dur, DurRange, Fault, FaultKind, Goal, ModelKind,
    OrgSpec, ParameterSpec, PresetSpec, RunConfig, ScheduledFault, Settings, TemplateSpec, Turn,
    UserSpec, VersionSpec, WorldSpec,
};
pub use transport::Transport;
