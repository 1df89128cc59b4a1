//! [`Net`] and [`Infra`] on turmoil 0.7.2: one `Sim` per run, seeded, fixed
//! epoch, stepped by the harness.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::io;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use turmoil::net::{TcpListener, TcpStream};

use crate::bounds;

use super::time::{self, Elapsed, Instant, TokioInterval, TokioSleep};
use super::{HostFactory, HostFuture, Infra, Listener, Net};

/// turmoil's per-socket buffer and listener backlog (its default is 64).
const TCP_CAPACITY: usize = 4096;

/// The transport name traces record.
pub const TRANSPORT_TURMOIL: &str = "turmoil";

/// The network inside a turmoil host.
#[derive(Clone)]
pub struct TurmoilNet {
    /// The outer loop's time, for code running between steps (where
    /// `turmoil::sim_elapsed()` has no current host).
    outer_now: Rc<Cell<Duration>>,
}

impl Net for TurmoilNet {
    type Stream = TcpStream;
    type Listener = TcpListener;
    type Sleep = TokioSleep;
    type Interval = TokioInterval;

    async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        TcpStream::connect((host, port)).await
    }

    async fn bind(&self, port: u16) -> io::Result<TcpListener> {
        TcpListener::bind(("0.0.0.0", port)).await
    }

    fn elapsed(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or_else(|| self.outer_now.get())
    }

    #[allow(clippy::disallowed_methods)] // a turmoil host's clock is its runtime's
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> TokioSleep {
        TokioSleep::until(deadline)
    }

    fn interval_at(&self, start: Instant, period: Duration) -> TokioInterval {
        TokioInterval::at(start, period)
    }

    async fn timeout<F: std::future::Future>(
        &self,
        limit: Duration,
        work: F,
    ) -> Result<F::Output, Elapsed> {
        time::tokio_timeout(limit, work).await
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + 'static) {
        // Each turmoil host has its own runtime and LocalSet: a task spawned
        // from inside a host dies with it.
        tokio::task::spawn_local(task);
    }
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<TcpStream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// How a turmoil world is built.
#[derive(Clone, Debug)]
pub struct TurmoilConfig {
    /// turmoil's `rng_seed` (link latencies, tokio's select order).
    pub seed: u64,
    /// The fixed start of virtual time (turmoil defaults to the wall clock).
    pub epoch: SystemTime,
    /// How far each step advances virtual time.
    pub tick: Duration,
    /// How long the world may run (turmoil's `simulation_duration`).
    pub duration: Duration,
    /// Poll hosts in a seeded random order each step.
    pub random_order: bool,
}

/// A turmoil simulation driven step by step.
pub struct TurmoilWorld {
    sim: turmoil::Sim<'static>,
    registered: BTreeSet<String>,
    outer_now: Rc<Cell<Duration>>,
}

impl TurmoilWorld {
    /// A world per `config`.
    pub fn new(config: TurmoilConfig) -> TurmoilWorld {
        // A hit left by an earlier run on this thread is not this run's.
        let _ = bounds::take_panicked();
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(config.seed)
            .epoch(config.epoch)
            .tick_duration(config.tick)
            .simulation_duration(config.duration)
            // A listener's backlog is this many queued connections; turmoil
            // panics beyond it. A long hold that releases many queued dials
            // at once must not reach it.
            .tcp_capacity(TCP_CAPACITY);
        if config.random_order {
            builder.enable_random_order();
        }
        let sim = builder.build();
        TurmoilWorld {
            sim,
            registered: BTreeSet::new(),
            outer_now: Rc::default(),
        }
    }

    /// The default epoch: 2026-01-01T00:00:00Z.
    pub fn default_epoch() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    fn both_registered(&self, a: &str, b: &str) -> bool {
        a != b && self.registered.contains(a) && self.registered.contains(b)
    }
}

impl Infra for TurmoilWorld {
    type Net = TurmoilNet;

    fn net(&self, _host: &str) -> TurmoilNet {
        TurmoilNet {
            outer_now: self.outer_now.clone(),
        }
    }

    fn transport(&self) -> &'static str {
        TRANSPORT_TURMOIL
    }

    fn add_host(&mut self, name: &str, factory: HostFactory) {
        assert!(
            self.registered.insert(name.to_string()),
            "host {name} registered twice"
        );
        self.sim.host(name, factory);
    }

    fn add_client(&mut self, name: &str, client: HostFuture) {
        assert!(
            self.registered.insert(name.to_string()),
            "host {name} registered twice"
        );
        self.sim.client(name, client);
    }

    fn is_registered(&self, name: &str) -> bool {
        self.registered.contains(name)
    }

    fn crash(&mut self, name: &str) {
        // The harness crashes registered hosts only; crashing one that is
        // not running is a no-op in turmoil.
        assert!(
            self.registered.contains(name),
            "crash of unregistered host {name}"
        );
        self.sim.crash(name);
    }

    fn bounce(&mut self, name: &str) {
        if self.registered.contains(name) {
            self.sim.bounce(name);
        }
    }

    fn partition(&mut self, a: &str, b: &str) -> bool {
        let ok = self.both_registered(a, b);
        if ok {
            self.sim.partition(a, b);
        }
        ok
    }

    fn hold(&mut self, a: &str, b: &str) -> bool {
        let ok = self.both_registered(a, b);
        if ok {
            self.sim.hold(a, b);
        }
        ok
    }

    fn repair(&mut self, a: &str, b: &str) -> bool {
        let ok = self.both_registered(a, b);
        if ok {
            // `release` heals the link and delivers held messages; on a
            // partitioned link nothing is held, so it is a plain repair.
            self.sim.release(a, b);
        }
        ok
    }

    fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    fn step(&mut self) -> Result<bool, String> {
        // A host that hit a loop bound where it can only panic: turmoil's
        // runtime panics with a generic message; the run ends with the hit.
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.sim.step()));
        let result = match stepped {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(panic) => match bounds::take_panicked() {
                Some(hit) => return Err(format!("a host panicked: {hit}")),
                None => std::panic::resume_unwind(panic),
            },
        };
        self.outer_now.set(self.sim.elapsed());
        result
    }
}
