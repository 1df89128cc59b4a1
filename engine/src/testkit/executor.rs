//! A manual virtual-clock executor: polls one future while it is woken,
//! otherwise jumps the clock to the next timer. A hang becomes an error, not
//! a stuck test; a dial that never finishes raced against a 30 s sleep ends
//! at exactly 30 s of virtual time, in microseconds of real time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::ports::{Clock, LocalBoxFuture};
use crate::time::Time;

/// Upper bound on polls of one `run`: a livelock becomes an error.
const MAX_POLLS: u64 = 10_000_000;

/// The virtual epoch tests start at: 2026-01-01T00:00:00Z.
pub const TEST_EPOCH: Time = Time::from_secs(1_767_225_600);

#[derive(Default)]
struct ClockState {
    now: Time,
    timers: BTreeMap<(Time, u64), Option<Waker>>,
    next_seq: u64,
}

/// A virtual clock that only moves when the executor (or a test) moves it.
#[derive(Clone)]
pub struct ManualClock {
    state: Rc<RefCell<ClockState>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::starting_at(TEST_EPOCH)
    }
}

impl ManualClock {
    /// A clock reading `now`, with no timers.
    pub fn starting_at(now: Time) -> ManualClock {
        ManualClock {
            state: Rc::new(RefCell::new(ClockState {
                now,
                ..ClockState::default()
            })),
        }
    }

    /// Moves the clock forward (never back) and fires due timers.
    pub fn advance_to(&self, at: Time) {
        let due: Vec<Waker> = {
            let mut state = self.state.borrow_mut();
            state.now = state.now.max(at);
            let now = state.now;
            let keys: Vec<(Time, u64)> = state
                .timers
                .range(..=(now, u64::MAX))
                .map(|(key, _)| *key)
                .collect();
            keys.iter()
                .filter_map(|key| state.timers.remove(key).flatten())
                .collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// Moves the clock forward by `by` and fires due timers.
    pub fn advance(&self, by: std::time::Duration) {
        let at = self.now() + by;
        self.advance_to(at);
    }

    fn next_timer(&self) -> Option<Time> {
        self.state.borrow().timers.keys().next().map(|(at, _)| *at)
    }

    /// Runs `future` to completion on virtual time.
    pub fn run<T>(&self, future: impl Future<Output = T>) -> Result<T, Stalled> {
        let woken = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        for _ in 0..MAX_POLLS {
            if woken.0.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                    return Ok(value);
                }
                continue;
            }
            let Some(at) = self.next_timer() else {
                return Err(Stalled::NoTimers { now: self.now() });
            };
            self.advance_to(at);
        }
        Err(Stalled::PollBound { now: self.now() })
    }
}

/// Why `run` gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stalled {
    /// The future is pending and nothing can wake it.
    NoTimers {
        /// The virtual time it stalled at.
        now: Time,
    },
    /// The future was polled too often (a livelock).
    PollBound {
        /// The virtual time it gave up at.
        now: Time,
    },
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        self.state.borrow().now
    }

    fn sleep_until(&self, deadline: Time) -> LocalBoxFuture<'static, ()> {
        Box::pin(Sleep {
            clock: self.clone(),
            deadline,
            key: None,
        })
    }
}

struct Sleep {
    clock: ManualClock,
    deadline: Time,
    key: Option<(Time, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.state.borrow_mut();
        if state.now >= self.deadline {
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(key) => key,
            None => {
                state.next_seq += 1;
                (self.deadline, state.next_seq)
            }
        };
        state.timers.insert(key, Some(cx.waker().clone()));
        drop(state);
        self.key = Some(key);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.clock.state.borrow_mut().timers.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_hanging_future_raced_against_a_sleep_ends_at_the_sleep() {
        let clock = ManualClock::default();
        let start = clock.now();
        let hang = Box::pin(futures::future::pending::<()>());
        let sleep = clock.sleep(Duration::from_secs(30));
        let outcome = clock.run(futures::future::select(hang, sleep)).unwrap();
        assert!(matches!(outcome, futures::future::Either::Right(_)));
        assert_eq!(clock.now().since(start), Duration::from_secs(30));
    }

    #[test]
    fn a_future_nothing_can_wake_is_reported_not_hung() {
        let clock = ManualClock::default();
        let err = clock.run(futures::future::pending::<()>()).unwrap_err();
        assert_eq!(err, Stalled::NoTimers { now: TEST_EPOCH });
    }

    #[test]
    fn dropped_sleeps_leave_no_timer_behind() {
        let clock = ManualClock::default();
        clock
            .run(async {
                let long = clock.sleep(Duration::from_secs(600));
                let short = clock.sleep(Duration::from_secs(2));
                futures::future::select(long, short).await;
            })
            .unwrap();
        assert_eq!(clock.next_timer(), None);
        assert_eq!(clock.now().since(TEST_EPOCH), Duration::from_secs(2));
    }
}
