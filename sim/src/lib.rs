//! chatsim: the deterministic simulation harness (turmoil world, scenarios,
//! fuzzing) around chatsim-engine.

#[cfg(not(tokio_unstable))]
compile_error!(
    "chatsim needs --cfg tokio_unstable (set in .cargo/config.toml; do not override RUSTFLAGS)"
);

pub mod model;
pub mod scenario;
