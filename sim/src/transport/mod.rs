//! The transport: the two small traits host code is written against, and
//! the two worlds that implement them.
//!
//! - [`Net`] is what a host sees: `connect(name, port)`, `bind(port)`,
//!   `spawn` (a task that dies with the host) and the virtual time. Hosts
//!   never name a transport.
//! - [`Infra`] is what the outer loop drives: add, crash and bounce hosts,
//!   partition, hold and repair links, step the world.
//!
//! [`TurmoilWorld`] implements both on turmoil (one runtime per host, a
//! fixed tick); [`FastWorld`] on one executor of its own whose clock jumps
//! from timer to timer. Hosts cannot tell them apart — they take even
//! their time and timers from [`Net`] ([`time`]); [`Transport`] names them.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use self::time::{Elapsed, Instant, Interval, Sleep};

mod fast;
pub mod time;
mod turmoil;

pub use self::turmoil::{TurmoilConfig, TurmoilNet, TurmoilWorld, TRANSPORT_TURMOIL};
pub use fast::{FastConfig, FastListener, FastNet, FastStream, FastWorld, TRANSPORT_FAST};

/// What a host's software returns; an `Err` fails the whole run.
pub type HostResult = Result<(), Box<dyn std::error::Error>>;
/// A host's (or client's) software.
pub type HostFuture = Pin<Box<dyn Future<Output = HostResult>>>;
/// Builds a host's software; called again on every bounce.
pub type HostFactory = Box<dyn Fn() -> HostFuture>;

/// The network as a host sees it.
pub trait Net: Clone + 'static {
    /// A connection's stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    /// A bound port.
    type Listener: Listener<Stream = Self::Stream>;

    /// Opens a stream to `host:port`. An unknown host is `NotFound` at once,
    /// a running host with nothing bound is `ConnectionRefused` at once, a
    /// crashed host never answers.
    fn connect(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Self::Stream>>;

    /// Binds a listener on this host.
    fn bind(&self, port: u16) -> impl Future<Output = io::Result<Self::Listener>>;

    /// A timer.
    type Sleep: Sleep;
    /// A periodic timer.
    type Interval: Interval;

    /// Virtual time since the run began.
    fn elapsed(&self) -> Duration;

    /// This host's clock. Only differences between its readings mean
    /// anything (a turmoil host's clock starts again when it is bounced).
    fn now(&self) -> Instant;

    /// A timer that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// A timer that completes `duration` from now.
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.sleep_until(time::deadline_after(self.now(), duration))
    }

    /// Ticks first at `start`, then every `period`; a late tick delays the
    /// ones after it.
    fn interval_at(&self, start: Instant, period: Duration) -> Self::Interval;

    /// [`Net::interval_at`] from now: the first tick is immediate.
    fn interval(&self, period: Duration) -> Self::Interval {
        self.interval_at(self.now(), period)
    }

    /// `work`, or [`Elapsed`] once `limit` has passed first (`work` is
    /// polled before the timer each time).
    fn timeout<F: Future>(
        &self,
        limit: Duration,
        work: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>>;

    /// Runs a task as part of this host: it dies with the host (a crash or
    /// bounce ends it).
    fn spawn(&self, task: impl Future<Output = ()> + 'static);
}

/// A bound listener.
pub trait Listener: 'static {
    /// The stream an accepted connection yields.
    type Stream;
    /// The next connection made to the port.
    fn accept(&self) -> impl Future<Output = io::Result<Self::Stream>>;
}

/// The infrastructure as the outer loop drives it.
pub trait Infra {
    /// The network handle hosts of this world get.
    type Net: Net;

    /// The network handle of host `host` (its connects come from there,
    /// its spawned tasks belong to it).
    fn net(&self, host: &str) -> Self::Net;
    /// The transport's name, recorded in every trace.
    fn transport(&self) -> &'static str;
    /// Registers a host and starts its software.
    fn add_host(&mut self, name: &str, factory: HostFactory);
    /// Registers a client: the run is over when every client has finished.
    fn add_client(&mut self, name: &str, client: HostFuture);
    /// Whether a host or client of that name was added.
    fn is_registered(&self, name: &str) -> bool;
    /// Stops a host's software; its sockets close.
    fn crash(&mut self, name: &str);
    /// Restarts a host's software from its factory.
    fn bounce(&mut self, name: &str);
    /// Drops every message between two hosts until repaired. Returns false
    /// when either host is not registered (nothing to partition).
    fn partition(&mut self, a: &str, b: &str) -> bool;
    /// Holds every message between two hosts until repaired.
    fn hold(&mut self, a: &str, b: &str) -> bool;
    /// Heals a partition or hold; held messages are delivered.
    fn repair(&mut self, a: &str, b: &str) -> bool;
    /// Virtual time since the run began.
    fn elapsed(&self) -> Duration;
    /// Advances the world one tick. `Ok(true)` once every client finished.
    fn step(&mut self) -> Result<bool, String>;
    /// Advances the world towards `deadline` (virtual time since the start):
    /// a world that can skip idle time runs until then, or until a host
    /// pushes into `control` or the last client finishes, whichever is
    /// first. A ticking world (the default) advances one tick.
    fn step_until(&mut self, deadline: Duration, control: &dyn Interrupt) -> Result<bool, String> {
        let _ = (deadline, control);
        self.step()
    }
}

/// The two transports a run can use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// turmoil: one runtime per host, stepped every tick (the default).
    #[default]
    Turmoil,
    /// One single-threaded executor that jumps from timer to timer.
    Fast,
}

impl Transport {
    /// Both transports, the default first.
    pub const ALL: [Transport; 2] = [Transport::Turmoil, Transport::Fast];

    /// The name traces and replay lines use.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Turmoil => TRANSPORT_TURMOIL,
            Transport::Fast => TRANSPORT_FAST,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(text: &str) -> Result<Transport, String> {
        match text {
            TRANSPORT_TURMOIL => Ok(Transport::Turmoil),
            TRANSPORT_FAST => Ok(Transport::Fast),
            other => Err(format!(
                "unknown transport {other:?} (known: {TRANSPORT_TURMOIL}, {TRANSPORT_FAST})"
            )),
        }
    }
}

/// What ends a skipping world's step early: the outer loop has work (a
/// command was pushed into its control queue).
pub trait Interrupt {
    /// Ready when the outer loop has work; otherwise wakes `cx` when it has.
    fn poll_pushed(&self, cx: &mut Context<'_>) -> Poll<()>;
}
