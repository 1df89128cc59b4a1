//! Every loop bound fires: lowered in `Settings::bounds`, it ends the run
//! with `bound exceeded: <loop name> (<bound>)`.

use std::path::Path;
use std::time::Duration;

use chatsim::bounds::Bounds;
use chatsim::transport::{FastConfig, FastNet, FastWorld, HostFactory, HostFuture, Infra};
use chatsim::{run_on, run_with, RunConfig, Transport};

fn scenario(name: &str) -> RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    chatsim::scenario::load(&path)
        .unwrap_or_else(|errors| panic!("{name}: {errors:?}"))
        .config()
}

/// Runs the happy path with `lower` applied to the bounds on `transport`
/// and returns the run error.
fn error_with(transport: Transport, lower: impl FnOnce(&mut Bounds)) -> String {
    let mut config = scenario("create-happy-path.toml");
    lower(&mut config.settings.bounds);
    run_with(&config, transport)
        .error
        .expect("the run fails on the bound")
}

fn assert_fires(lower: impl Fn(&mut Bounds), text: &str) {
    for transport in [Transport::Fast, Transport::Turmoil] {
        let error = error_with(transport, &lower);
        assert!(
            error.ends_with(text),
            "{transport}: run error {error:?} does not end with {text:?}"
        );
    }
}

#[test]
fn defaults_let_the_story_end() {
    let config = scenario("create-happy-path.toml");
    assert_eq!(config.settings.bounds, Bounds::default());
    assert_eq!(run_with(&config, Transport::Fast).error, None);
}

#[test]
fn clock_sleep_rounds() {
    assert_fires(
        |b| b.clock_sleep_rounds = 0,
        "bound exceeded: clock sleep rounds (0)",
    );
}

#[test]
fn agent_sessions() {
    assert_fires(
        |b| b.agent_sessions = 0,
        "bound exceeded: agent sessions (0)",
    );
}

#[test]
fn agent_wedge_polls() {
    assert_fires(
        |b| b.agent_wedge_polls = 0,
        "bound exceeded: agent wedge polls (0)",
    );
}

#[test]
fn agent_requests_per_dial() {
    assert_fires(
        |b| b.agent_requests_per_dial = 0,
        "bound exceeded: agent requests per dial (0)",
    );
}

#[test]
fn status_watch_rounds() {
    assert_fires(
        |b| b.status_watch_rounds = 0,
        "bound exceeded: status watch rounds (0)",
    );
}

#[test]
fn connect_retries() {
    assert_fires(
        |b| b.connect_attempts = 0,
        "bound exceeded: connect retries (0)",
    );
}

#[test]
fn driver_loops() {
    assert_fires(|b| b.driver_loops = 0, "bound exceeded: driver loops (0)");
}

#[test]
fn driver_keepalives() {
    assert_fires(
        |b| b.driver_keepalives = 0,
        "bound exceeded: driver keepalives (0)",
    );
}

#[test]
fn provisioner_sessions() {
    assert_fires(
        |b| b.provisioner_sessions = 0,
        "bound exceeded: provisioner sessions (0)",
    );
}

/// A fast world whose time never moves: every step stalls.
struct Frozen(FastWorld);

impl Infra for Frozen {
    type Net = FastNet;

    fn net(&self, host: &str) -> FastNet {
        self.0.net(host)
    }
    fn transport(&self) -> &'static str {
        self.0.transport()
    }
    fn add_host(&mut self, name: &str, factory: HostFactory) {
        self.0.add_host(name, factory);
    }
    fn add_client(&mut self, name: &str, client: HostFuture) {
        self.0.add_client(name, client);
    }
    fn is_registered(&self, name: &str) -> bool {
        self.0.is_registered(name)
    }
    fn crash(&mut self, name: &str) {
        self.0.crash(name);
    }
    fn bounce(&mut self, name: &str) {
        self.0.bounce(name);
    }
    fn partition(&mut self, a: &str, b: &str) -> bool {
        self.0.partition(a, b)
    }
    fn hold(&mut self, a: &str, b: &str) -> bool {
        self.0.hold(a, b)
    }
    fn repair(&mut self, a: &str, b: &str) -> bool {
        self.0.repair(a, b)
    }
    fn elapsed(&self) -> Duration {
        Duration::ZERO
    }
    fn step(&mut self) -> Result<bool, String> {
        Ok(false)
    }
}

#[test]
fn steps_without_progress() {
    let mut config = scenario("create-happy-path.toml");
    config.settings.bounds.steps_without_progress = 3;
    let world = Frozen(FastWorld::new(FastConfig::new(config.seed)));
    let outcome = run_on(world, &config);
    assert_eq!(
        outcome.error.as_deref(),
        Some("bound exceeded: steps without progress (3)")
    );
}
