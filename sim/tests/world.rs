//! The two transports behave alike where hosts can tell: the three dial
//! outcomes, crash and bounce, partition and hold, a failing host. Each
//! test runs the same hosts on `TurmoilWorld` and on `FastWorld`.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use chatsim::control::ControlQueue;
use chatsim::transport::{
    FastConfig, FastWorld, HostFactory, Infra, Listener, Net, TurmoilConfig, TurmoilWorld,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Log = Rc<RefCell<Vec<String>>>;
/// Something the test does to the world at a virtual time.
type Events<W> = Vec<(Duration, Box<dyn FnOnce(&mut W)>)>;

fn turmoil_world() -> TurmoilWorld {
    TurmoilWorld::new(TurmoilConfig {
        seed: 1,
        epoch: TurmoilWorld::default_epoch(),
        tick: Duration::from_millis(100),
        duration: Duration::from_secs(3600),
        random_order: false,
    })
}

fn fast_world() -> FastWorld {
    FastWorld::new(FastConfig::new(1))
}

/// Runs `world` until its clients finish (or `limit`), applying `events`
/// (at their virtual times) between steps. Returns the step error, if any.
fn drive<W: Infra>(world: &mut W, limit: Duration, mut events: Events<W>) -> Option<String> {
    events.sort_by_key(|(at, _)| *at);
    let mut events: std::collections::VecDeque<_> = events.into();
    let control = ControlQueue::new();
    loop {
        while events.front().is_some_and(|(at, _)| *at <= world.elapsed()) {
            let (_, event) = events.pop_front().unwrap();
            event(world);
        }
        if world.elapsed() >= limit {
            return Some("limit".into());
        }
        let next = events.front().map_or(limit, |(at, _)| *at);
        match world.step_until(next, &control) {
            Ok(true) if events.is_empty() => return None,
            Ok(_) => {}
            Err(err) => return Some(err),
        }
    }
}

fn note<N: Net>(log: &Log, net: &N, what: impl std::fmt::Display) {
    let secs = net.elapsed().as_secs_f64();
    log.borrow_mut().push(format!("{secs:.1} {what}"));
}

/// Echoes every line back, forever.
fn echo_server<N: Net>(net: N) -> HostFactory {
    Box::new(move || {
        let net = net.clone();
        Box::pin(async move {
            let listener = net.bind(1).await?;
            loop {
                let mut stream = listener.accept().await?;
                net.spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        })
    })
}

fn idle_host() -> HostFactory {
    Box::new(|| Box::pin(std::future::pending()))
}

fn kind(result: io::Result<impl Sized>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(err) => format!("{:?}", err.kind()),
    }
}

fn dial_outcomes<W: Infra>(mut world: W) -> Vec<String> {
    let log = Log::default();
    world.add_host("server", echo_server(world.net("server")));
    world.add_host("idle", idle_host());
    world.add_host("dead", echo_server(world.net("dead")));
    world.crash("dead");
    let net = world.net("client");
    let l = log.clone();
    world.add_client(
        "client",
        Box::pin(async move {
            net.sleep(Duration::from_secs(1)).await;
            note(&l, &net, kind(net.connect("nowhere", 1).await));
            note(&l, &net, kind(net.connect("idle", 1).await));
            let dead = net.timeout(Duration::from_secs(5), net.connect("dead", 1));
            let dead = match dead.await {
                Ok(result) => kind(result),
                Err(_) => "hangs".to_string(),
            };
            note(&l, &net, format!("dead: {dead}"));
            note(&l, &net, kind(net.connect("server", 1).await));
            Ok(())
        }),
    );
    assert_eq!(drive(&mut world, Duration::from_secs(60), vec![]), None);
    let lines = log.borrow().clone();
    lines
}

#[test]
fn unknown_hosts_are_not_found_unbound_ports_refused_and_crashed_hosts_hang() {
    // "At once": within turmoil's tick (its refusal comes back one tick
    // later; the fast world refuses before any latency).
    let turmoil = dial_outcomes(turmoil_world());
    assert_eq!(
        turmoil[..3],
        ["1.0 NotFound", "1.1 ConnectionRefused", "6.1 dead: hangs"]
    );
    let fast = dial_outcomes(fast_world());
    assert_eq!(
        fast[..3],
        ["1.0 NotFound", "1.0 ConnectionRefused", "6.0 dead: hangs"]
    );
    for lines in [turmoil, fast] {
        assert!(lines[3].ends_with(" ok"), "{lines:?}");
    }
}

/// A client that opens a connection, then pings every second (each ping
/// answered within 0.5 s or recorded as silent), reconnecting on error.
fn pinger<N: Net>(net: N, log: Log, until: Duration) -> chatsim::transport::HostFuture {
    Box::pin(async move {
        let mut conn: Option<N::Stream> = None;
        while net.elapsed() < until {
            net.sleep(Duration::from_secs(1)).await;
            let stream = match &mut conn {
                Some(stream) => stream,
                None => {
                    let dial = net.timeout(Duration::from_millis(500), net.connect("server", 1));
                    match dial.await {
                        Ok(Ok(stream)) => conn.insert(stream),
                        Ok(Err(err)) => {
                            note(&log, &net, format!("dial {:?}", err.kind()));
                            continue;
                        }
                        Err(_) => {
                            note(&log, &net, "dial hangs");
                            continue;
                        }
                    }
                }
            };
            let ping = async {
                stream.write_all(b"p").await?;
                let mut byte = [0u8; 1];
                let n = stream.read(&mut byte).await?;
                Ok::<_, io::Error>(n)
            };
            match net.timeout(Duration::from_millis(500), ping).await {
                Ok(Ok(1)) => note(&log, &net, "pong"),
                Ok(Ok(_)) => {
                    note(&log, &net, "eof");
                    conn = None;
                }
                Ok(Err(err)) => {
                    note(&log, &net, format!("error {:?}", err.kind()));
                    conn = None;
                }
                Err(_) => note(&log, &net, "silent"),
            }
        }
        Ok(())
    })
}

fn outcomes(log: &Log) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in log.borrow().iter() {
        let what = line.split_once(' ').unwrap().1.to_string();
        if seen.last() != Some(&what) {
            seen.push(what);
        }
    }
    seen
}

fn crash_and_bounce<W: Infra + 'static>(mut world: W) -> Vec<String> {
    let log = Log::default();
    world.add_host("server", echo_server(world.net("server")));
    let net = world.net("client");
    world.add_client("client", pinger(net, log.clone(), Duration::from_secs(20)));
    let events: Events<W> = vec![
        (Duration::from_secs(5), Box::new(|w| w.crash("server"))),
        (Duration::from_secs(10), Box::new(|w| w.bounce("server"))),
    ];
    assert_eq!(drive(&mut world, Duration::from_secs(60), events), None);
    outcomes(&log)
}

#[test]
fn a_crash_ends_the_hosts_connections_and_a_bounce_restarts_it() {
    for seen in [
        crash_and_bounce(turmoil_world()),
        crash_and_bounce(fast_world()),
    ] {
        // The crash ends the connection at once (end of stream or reset);
        // dials then hang until the bounce, and a new connection works.
        assert_eq!(seen.first().map(String::as_str), Some("pong"), "{seen:?}");
        assert!(seen[1] == "eof" || seen[1].starts_with("error"), "{seen:?}");
        assert_eq!(seen[2], "dial hangs", "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("pong"), "{seen:?}");
    }
}

fn cut_link<W: Infra + 'static>(mut world: W, hold: bool) -> Vec<String> {
    let log = Log::default();
    world.add_host("server", echo_server(world.net("server")));
    let net = world.net("client");
    world.add_client("client", pinger(net, log.clone(), Duration::from_secs(20)));
    let cut: Box<dyn FnOnce(&mut W)> = if hold {
        Box::new(|w| assert!(w.hold("client", "server")))
    } else {
        Box::new(|w| assert!(w.partition("client", "server")))
    };
    let events: Events<W> = vec![
        (Duration::from_millis(4_700), cut),
        (
            Duration::from_secs(8),
            Box::new(|w| assert!(w.repair("client", "server"))),
        ),
    ];
    assert_eq!(drive(&mut world, Duration::from_secs(60), events), None);
    outcomes(&log)
}

#[test]
fn a_partition_loses_messages_and_the_connection_stays_silent_after_the_repair() {
    for seen in [
        cut_link(turmoil_world(), false),
        cut_link(fast_world(), false),
    ] {
        assert_eq!(seen, ["pong", "silent"], "turmoil's TCP never resends");
    }
}

#[test]
fn a_hold_delays_messages_until_the_repair() {
    for seen in [
        cut_link(turmoil_world(), true),
        cut_link(fast_world(), true),
    ] {
        assert_eq!(seen.first().map(String::as_str), Some("pong"), "{seen:?}");
        assert!(seen.contains(&"silent".to_string()), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("pong"), "{seen:?}");
    }
}

fn failing_host<W: Infra>(mut world: W) -> Option<String> {
    let net = world.net("broken");
    world.add_host(
        "broken",
        Box::new(move || {
            let net = net.clone();
            Box::pin(async move {
                net.sleep(Duration::from_secs(3)).await;
                Err("disk on fire".into())
            })
        }),
    );
    let net = world.net("client");
    world.add_client(
        "client",
        Box::pin(async move {
            net.sleep(Duration::from_secs(30)).await;
            Ok(())
        }),
    );
    drive(&mut world, Duration::from_secs(60), vec![])
}

#[test]
fn a_host_that_fails_fails_the_run() {
    for error in [failing_host(turmoil_world()), failing_host(fast_world())] {
        let error = error.expect("the run fails");
        assert!(error.contains("disk on fire"), "{error}");
    }
}

#[test]
fn a_host_that_panics_fails_the_run() {
    let mut world = fast_world();
    let net = world.net("client");
    world.add_client(
        "client",
        Box::pin(async move {
            net.spawn(async { panic!("boom") });
            net.sleep(Duration::from_secs(30)).await;
            Ok(())
        }),
    );
    let error = drive(&mut world, Duration::from_secs(60), vec![]).expect("the run fails");
    assert!(error.contains("host client panicked: boom"), "{error}");
}

#[test]
fn the_fast_world_skips_idle_time_up_to_the_deadline() {
    let mut world = fast_world();
    let net = world.net("client");
    world.add_client(
        "client",
        Box::pin(async move {
            net.sleep(Duration::from_secs(3600)).await;
            Ok(())
        }),
    );
    let control = ControlQueue::new();
    assert_eq!(
        world.step_until(Duration::from_secs(100), &control),
        Ok(false)
    );
    assert_eq!(world.elapsed(), Duration::from_secs(100));
    assert_eq!(
        world.step_until(Duration::from_secs(7200), &control),
        Ok(true)
    );
    assert_eq!(
        world.elapsed(),
        Duration::from_secs(3600),
        "ends with the client"
    );
}
