//! The hosts: each a real protocol over the world's [`Net`] trait.
//!
//! - [`coderd`] owns the database, runs the engine's tools for the chat
//!   driver, serves the provisioner and agent APIs, dials agents.
//! - [`provisioner`] acquires jobs, plans and applies them, commits quota,
//!   streams build logs, and pushes agent-slot commands.
//! - [`agent`] is one workspace agent process per slot: connects, heartbeats,
//!   walks its lifecycle, serves dials.
//! - [`driver`] plays the model: turns of calls to coderd's chat API.
//!
//! Every long-lived connection carries its own deadline and reconnects:
//! turmoil's TCP never resends across a partition.

use std::io;
use std::time::Duration;

use crate::bounds::BoundExceeded;
use crate::transport::Net;

pub mod agent;
pub mod coderd;
pub mod driver;
pub mod proto;
pub mod provisioner;

/// Host names of the fixed hosts.
pub const CODERD: &str = "coderd";
/// The provisioner daemon.
pub const PROVISIONER: &str = "provisioner";
/// The chat driver.
pub const DRIVER: &str = "driver";

/// Whether a connect error means "not there yet, try again" (a host that is
/// not registered or has not bound its port).
pub fn is_retryable(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// Connects, retrying refused and unknown-host errors every `retry` up to
/// `attempts` times (a bound: exhausting it is a [`BoundExceeded`] error).
/// A connect to a crashed host hangs: callers that need a deadline race
/// this against their own.
pub async fn connect_retrying<N: Net>(
    net: &N,
    host: &str,
    port: u16,
    retry: Duration,
    attempts: u32,
) -> io::Result<N::Stream> {
    for _ in 0..attempts {
        match net.connect(host, port).await {
            Ok(stream) => return Ok(stream),
            Err(err) if is_retryable(&err) => {}
            Err(err) => return Err(err),
        }
        net.sleep(retry).await;
    }
    Err(BoundExceeded::io("connect retries", attempts))
}

/// Awaits `work` for at most `limit`; `TimedOut` after that.
pub async fn within<N: Net, T>(
    net: &N,
    limit: Duration,
    work: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match net.timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed")),
    }
}
