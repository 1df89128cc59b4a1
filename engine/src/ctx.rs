//! Go-context-like cancellation and deadlines over the `Clock` port, and the
//! Go-ticker used by every poll loop.
//!
//! Races are `select_biased!`-free: `race` checks cancellation first, then the
//! deadline, then the work, so a tie always resolves the same way (the spec's
//! "the deadline wins" choice).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::future::{self, Either};

use crate::ports::{Clock, LocalBoxFuture};
use crate::time::Time;

/// Why a context ended: Go's `ctx.Err()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtxError {
    /// `context.Canceled`: the signal (or an ancestor's) fired.
    Canceled,
    /// `context.DeadlineExceeded`: the deadline passed.
    DeadlineExceeded,
}

impl fmt::Display for CtxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CtxError::Canceled => "context canceled",
            CtxError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

#[derive(Default)]
struct CancelState {
    canceled: bool,
    wakers: Vec<Waker>,
    parent: Option<Cancel>,
}

/// A cancellation signal (the user stopped the chat). Clones share state; a
/// child is canceled with its parent, never the other way round.
#[derive(Clone, Default)]
pub struct Cancel {
    state: Rc<RefCell<CancelState>>,
}

impl Cancel {
    /// A signal that has not fired.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// A signal that fires when this one does, or when canceled itself.
    pub fn child(&self) -> Cancel {
        Cancel {
            state: Rc::new(RefCell::new(CancelState {
                parent: Some(self.clone()),
                ..CancelState::default()
            })),
        }
    }

    /// Fires the signal (and so every child's); idempotent.
    pub fn cancel(&self) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            state.canceled = true;
            std::mem::take(&mut state.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether this signal or an ancestor has fired.
    pub fn is_canceled(&self) -> bool {
        let state = self.state.borrow();
        state.canceled || state.parent.as_ref().is_some_and(Cancel::is_canceled)
    }

    /// Resolves once this signal or an ancestor has fired.
    pub fn canceled(&self) -> impl Future<Output = ()> + 'static {
        let this = self.clone();
        future::poll_fn(move |cx| {
            if this.is_canceled() {
                return Poll::Ready(());
            }
            let mut node = Some(this.clone());
            while let Some(signal) = node {
                let mut state = signal.state.borrow_mut();
                if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    state.wakers.push(cx.waker().clone());
                }
                node = state.parent.clone();
            }
            Poll::Pending
        })
    }
}

/// A context: a cancellation signal plus an optional deadline.
#[derive(Clone, Default)]
pub struct Ctx {
    cancel: Cancel,
    deadline: Option<Time>,
}

impl Ctx {
    /// A context that ends only when `cancel` fires.
    pub fn new(cancel: Cancel) -> Ctx {
        Ctx {
            cancel,
            deadline: None,
        }
    }

    /// A child context whose deadline is `now + timeout` (or the parent's,
    /// if earlier).
    pub fn with_timeout(&self, clock: &dyn Clock, timeout: Duration) -> Ctx {
        let deadline = clock.now() + timeout;
        Ctx {
            cancel: self.cancel.clone(),
            deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))),
        }
    }

    /// A child context with its own cancellation signal, returned beside it.
    pub fn with_cancel(&self) -> (Ctx, Cancel) {
        let child = self.cancel.child();
        let ctx = Ctx {
            cancel: child.clone(),
            deadline: self.deadline,
        };
        (ctx, child)
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Time> {
        self.deadline
    }

    /// `ctx.Err()` at the clock's current time.
    pub fn err(&self, clock: &dyn Clock) -> Option<CtxError> {
        if self.cancel.is_canceled() {
            return Some(CtxError::Canceled);
        }
        match self.deadline {
            Some(deadline) if clock.now() >= deadline => Some(CtxError::DeadlineExceeded),
            _ => None,
        }
    }

    /// Resolves when the context ends (cancellation first on a tie).
    pub fn done(&self, clock: &dyn Clock) -> LocalBoxFuture<'static, CtxError> {
        let canceled = self.cancel.canceled();
        let Some(deadline) = self.deadline else {
            return Box::pin(async move {
                canceled.await;
                CtxError::Canceled
            });
        };
        let expired = clock.sleep_until(deadline);
        Box::pin(async move {
            match future::select(pin!(canceled), expired).await {
                Either::Left(_) => CtxError::Canceled,
                Either::Right(_) => CtxError::DeadlineExceeded,
            }
        })
    }

    /// Runs `work` until it finishes or the context ends; the context wins
    /// a tie. Dropping `work` cancels it.
    pub async fn race<T>(
        &self,
        clock: &dyn Clock,
        work: impl Future<Output = T>,
    ) -> Result<T, CtxError> {
        if let Some(err) = self.err(clock) {
            return Err(err);
        }
        let done = self.done(clock);
        match future::select(done, pin!(work)).await {
            Either::Left((err, _)) => Err(err),
            Either::Right((value, _)) => Ok(value),
        }
    }
}

/// Go's `time.Ticker` on the virtual clock: ticks stay on the grid
/// `created + k × period`; when ticks pass while the loop is busy, one is
/// kept and delivered at once, the rest are dropped.
pub struct Ticker {
    next: Time,
    period: Duration,
}

impl Ticker {
    /// A ticker whose first tick is one `period` from now (panics on a zero
    /// period).
    pub fn new(clock: &dyn Clock, period: Duration) -> Ticker {
        assert!(!period.is_zero(), "ticker period must be positive");
        Ticker {
            next: clock.now() + period,
            period,
        }
    }

    /// Waits for the next tick.
    pub fn tick(&mut self, clock: &dyn Clock) -> LocalBoxFuture<'static, ()> {
        let now = clock.now();
        if now >= self.next {
            // A missed tick is delivered now; the grid resumes after `now`.
            let period = self.period.as_micros() as i64;
            let behind = now.as_micros() - self.next.as_micros();
            let skipped = behind / period + 1;
            self.next = Time::from_micros(self.next.as_micros() + skipped * period);
            return Box::pin(future::ready(()));
        }
        let at = self.next;
        self.next = self.next + self.period;
        clock.sleep_until(at)
    }

    /// Waits for the next tick or the end of `ctx`, whichever comes first
    /// (the context wins a tie).
    pub async fn tick_or_done(&mut self, clock: &dyn Clock, ctx: &Ctx) -> Result<(), CtxError> {
        let tick = self.tick(clock);
        ctx.race(clock, tick).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ManualClock, TEST_EPOCH};

    fn secs(clock: &ManualClock) -> f64 {
        clock.now().since(TEST_EPOCH).as_secs_f64()
    }

    #[test]
    fn ticks_stay_on_the_grid_and_one_missed_tick_is_kept() {
        let clock = ManualClock::default();
        let mut seen = Vec::new();
        clock
            .run(async {
                let mut ticker = Ticker::new(&clock, Duration::from_secs(2));
                ticker.tick(&clock).await;
                seen.push(secs(&clock)); // 2
                clock.sleep(Duration::from_secs(3)).await; // busy until 5
                ticker.tick(&clock).await;
                seen.push(secs(&clock)); // the missed tick, at once: 5
                ticker.tick(&clock).await;
                seen.push(secs(&clock)); // back on the grid: 6
            })
            .unwrap();
        assert_eq!(seen, [2.0, 5.0, 6.0]);
    }

    #[test]
    fn the_deadline_wins_a_tie_with_a_tick() {
        let clock = ManualClock::default();
        let ctx = Ctx::default().with_timeout(&clock, Duration::from_secs(4));
        let result = clock
            .run(async {
                let mut ticker = Ticker::new(&clock, Duration::from_secs(2));
                ticker.tick_or_done(&clock, &ctx).await?;
                ticker.tick_or_done(&clock, &ctx).await
            })
            .unwrap();
        assert_eq!(result, Err(CtxError::DeadlineExceeded));
        assert_eq!(secs(&clock), 4.0);
    }

    #[test]
    fn cancellation_reaches_children_but_not_parents() {
        let parent = Cancel::new();
        let child = parent.child();
        child.cancel();
        assert!(!parent.is_canceled());
        let other_child = parent.child();
        parent.cancel();
        assert!(other_child.is_canceled());
    }

    #[test]
    fn race_reports_cancellation_and_drops_the_work() {
        let clock = ManualClock::default();
        let (ctx, cancel) = Ctx::default().with_cancel();
        let result = clock
            .run(async {
                let cancel_later = async {
                    clock.sleep(Duration::from_secs(1)).await;
                    cancel.cancel();
                    futures::future::pending::<()>().await
                };
                let work = ctx.race(&clock, futures::future::pending::<()>());
                futures::future::select(Box::pin(work), Box::pin(cancel_later)).await
            })
            .unwrap();
        match result {
            futures::future::Either::Left((outcome, _)) => {
                assert_eq!(outcome, Err(CtxError::Canceled));
                assert_eq!(outcome.unwrap_err().to_string(), "context canceled");
            }
            futures::future::Either::Right(_) => panic!("cancel helper never ends"),
        }
        assert_eq!(secs(&clock), 1.0);
    }

    #[test]
    fn a_child_timeout_never_extends_the_parent_deadline() {
        let clock = ManualClock::default();
        let parent = Ctx::default().with_timeout(&clock, Duration::from_secs(3));
        let child = parent.with_timeout(&clock, Duration::from_secs(5));
        assert_eq!(child.deadline(), parent.deadline());
        clock.advance(Duration::from_secs(3));
        assert_eq!(child.err(&clock), Some(CtxError::DeadlineExceeded));
        assert_eq!(
            CtxError::DeadlineExceeded.to_string(),
            "context deadline exceeded"
        );
    }
}
