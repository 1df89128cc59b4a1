//! Loop bounds: every loop of the harness and its hosts that could run on
//! without end has a named bound here, and hitting it ends the run with the
//! error `bound exceeded: <loop name> (<bound>)` — never a silent return.
//!
//! The bounds are fields of [`Bounds`] (in `Settings`, not read from scenario
//! files) so that tests can lower one and watch it fire; the constants are
//! the defaults every real run uses.

use std::cell::RefCell;
use std::fmt;
use std::io;

/// Re-sleeps of one clock `sleep_until` (one sleep normally ends it; a
/// second only when a transport wakes a timer a tick early).
pub const CLOCK_SLEEP_ROUNDS: u32 = 1000;
/// Connections an agent process makes to coderd over its life (at most one
/// a second: 1e6 is over eleven days of virtual time, far beyond any run).
pub const AGENT_SESSIONS: u32 = 1_000_000;
/// Polls of a wedged agent for its recovery (every 100 ms: 1e7 is over
/// eleven days of virtual time).
pub const AGENT_WEDGE_POLLS: u32 = 10_000_000;
/// Requests served on one dial connection (one per tool call at most).
pub const AGENT_REQUESTS_PER_DIAL: u32 = 1_000_000;
/// Rounds of coderd's status watcher: one per agent-row change or status
/// threshold. A run of two hours with a heartbeat every second from a
/// hundred agents makes under 1e6 changes; 1e8 leaves a wide margin.
pub const STATUS_WATCH_ROUNDS: u64 = 100_000_000;
/// Connect attempts to a host that refuses or is not there yet (one a
/// second: 1e6 is over eleven days of virtual time).
pub const CONNECT_ATTEMPTS: u32 = 1_000_000;
/// Rounds of the driver's scheduling loop: one per turn or wake-up.
pub const DRIVER_LOOPS: u64 = 100_000_000;
/// Keepalive frames waited past for one answer (one every few seconds).
pub const DRIVER_KEEPALIVES: u32 = 1_000_000;
/// Provisioner connections to coderd over a run (at most one a second).
pub const PROVISIONER_SESSIONS: u32 = 1_000_000;
/// Consecutive harness steps that do not advance virtual time (a world that
/// skips idle time may end a step early, at the same instant, when a host
/// pushes a command; it never does so this often in a row).
pub const STEPS_WITHOUT_PROGRESS: u32 = 10_000;

/// The bounds of one run; [`Default`] is the constants above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// [`CLOCK_SLEEP_ROUNDS`].
    pub clock_sleep_rounds: u32,
    /// [`AGENT_SESSIONS`].
    pub agent_sessions: u32,
    /// [`AGENT_WEDGE_POLLS`].
    pub agent_wedge_polls: u32,
    /// [`AGENT_REQUESTS_PER_DIAL`].
    pub agent_requests_per_dial: u32,
    /// [`STATUS_WATCH_ROUNDS`].
    pub status_watch_rounds: u64,
    /// [`CONNECT_ATTEMPTS`].
    pub connect_attempts: u32,
    /// [`DRIVER_LOOPS`].
    pub driver_loops: u64,
    /// [`DRIVER_KEEPALIVES`].
    pub driver_keepalives: u32,
    /// [`PROVISIONER_SESSIONS`].
    pub provisioner_sessions: u32,
    /// [`STEPS_WITHOUT_PROGRESS`].
    pub steps_without_progress: u32,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            clock_sleep_rounds: CLOCK_SLEEP_ROUNDS,
            agent_sessions: AGENT_SESSIONS,
            agent_wedge_polls: AGENT_WEDGE_POLLS,
            agent_requests_per_dial: AGENT_REQUESTS_PER_DIAL,
            status_watch_rounds: STATUS_WATCH_ROUNDS,
            connect_attempts: CONNECT_ATTEMPTS,
            driver_loops: DRIVER_LOOPS,
            driver_keepalives: DRIVER_KEEPALIVES,
            provisioner_sessions: PROVISIONER_SESSIONS,
            steps_without_progress: STEPS_WITHOUT_PROGRESS,
        }
    }
}

/// The run error of a loop that hit its bound.
pub fn bound_exceeded(name: &str, bound: impl fmt::Display) -> String {
    format!("bound exceeded: {name} ({bound})")
}

thread_local! {
    /// The last bound hit by code that can only panic (see [`panic_exceeded`]).
    static PANICKED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Ends the run from code that returns nothing (a clock port, a spawned
/// task): records the hit for a transport that sees only a bare panic
/// (turmoil's runtime reports "a spawned task panicked"), then panics.
pub fn panic_exceeded(name: &str, bound: impl fmt::Display) -> ! {
    let text = bound_exceeded(name, bound);
    PANICKED.with(|p| *p.borrow_mut() = Some(text.clone()));
    panic!("{text}");
}

/// Takes the bound hit recorded by [`panic_exceeded`] on this thread.
pub fn take_panicked() -> Option<String> {
    PANICKED.with(|p| p.borrow_mut().take())
}

/// A bound hit, carried through an `io::Error` by code whose callers
/// otherwise treat I/O errors as ordinary (a lost turn, a reconnect).
#[derive(Debug)]
pub struct BoundExceeded(pub String);

impl BoundExceeded {
    /// The I/O error that carries loop `name`'s bound hit.
    pub fn io(name: &str, bound: impl fmt::Display) -> io::Error {
        io::Error::other(BoundExceeded(bound_exceeded(name, bound)))
    }

    /// The bound hit that `err` carries, if any.
    pub fn within(err: &io::Error) -> Option<&BoundExceeded> {
        err.get_ref()?.downcast_ref::<BoundExceeded>()
    }
}

impl fmt::Display for BoundExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BoundExceeded {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_the_loop_and_its_bound() {
        assert_eq!(
            bound_exceeded("agent sessions", 3),
            "bound exceeded: agent sessions (3)"
        );
        let err = BoundExceeded::io("connect retries", 5);
        assert_eq!(
            BoundExceeded::within(&err).map(ToString::to_string),
            Some("bound exceeded: connect retries (5)".to_string())
        );
        assert!(BoundExceeded::within(&io::Error::other("plain")).is_none());
    }
}
