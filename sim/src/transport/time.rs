//! A host's timers, as its transport keeps them.
//!
//! Host code never calls `tokio::time` itself: it asks its [`Net`] for the
//! time, a sleep, an interval or a timeout. On turmoil these are tokio's
//! own (each host's runtime has its clock); the fast transport keeps its
//! timers in one ordered queue of its own, so a timer costs a heap entry
//! rather than a trip through tokio's timer wheel and driver.
//!
//! [`Net`]: super::Net

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use tokio::time::Instant;

/// A timer: completes once its deadline has passed.
pub trait Sleep: Future<Output = ()> + Unpin + 'static {
    /// When it completes.
    fn deadline(&self) -> Instant;
    /// Moves its deadline (it may complete again after completing).
    fn reset(&mut self, deadline: Instant);
}

/// A periodic timer that delays its schedule when a tick is missed
/// (tokio's `MissedTickBehavior::Delay`): a tick taken late puts the next
/// one a whole period after it.
pub trait Interval: 'static {
    /// Completes at the next tick.
    fn tick(&mut self) -> impl Future<Output = ()>;
}

/// How far "never" is: tokio's own far future (30 years), used when a
/// deadline would overflow.
pub const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + duration`, or [`FAR_FUTURE`] from now when that overflows.
pub fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or(now + FAR_FUTURE)
}

/// Why a [`Net::timeout`](super::Net::timeout) gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

// ---- tokio's timers (turmoil) ----------------------------------------------

/// tokio's `Sleep`, boxed so it is `Unpin`.
pub struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

impl TokioSleep {
    /// A tokio timer for `deadline`.
    #[allow(clippy::disallowed_methods)] // turmoil's timers are tokio's own
    pub fn until(deadline: Instant) -> TokioSleep {
        TokioSleep(Box::pin(tokio::time::sleep_until(deadline)))
    }
}

impl Future for TokioSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Sleep for TokioSleep {
    fn deadline(&self) -> Instant {
        self.0.deadline()
    }

    fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline);
    }
}

/// tokio's `Interval`, set to delay after a missed tick.
pub struct TokioInterval(tokio::time::Interval);

impl TokioInterval {
    /// First tick at `start`, then every `period`.
    #[allow(clippy::disallowed_methods)] // turmoil's timers are tokio's own
    pub fn at(start: Instant, period: Duration) -> TokioInterval {
        let mut interval = tokio::time::interval_at(start, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        TokioInterval(interval)
    }
}

impl Interval for TokioInterval {
    async fn tick(&mut self) {
        self.0.tick().await;
    }
}

/// `work`, or [`Elapsed`] once `sleep` completes first; `work` is polled
/// first each time (as tokio's `timeout` does). The caller makes `sleep`,
/// so the deadline counts from the call, not from the first poll.
pub async fn race<S: Sleep, F: Future>(mut sleep: S, work: F) -> Result<F::Output, Elapsed> {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = work.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// tokio's `timeout`, its error mapped to [`Elapsed`].
#[allow(clippy::disallowed_methods)] // turmoil's timers are tokio's own
pub async fn tokio_timeout<F: Future>(limit: Duration, work: F) -> Result<F::Output, Elapsed> {
    tokio::time::timeout(limit, work).await.map_err(|_| Elapsed)
}
