//! The fast world's executor: one thread, a first-in-first-out queue of
//! woken tasks, and an ordered queue of timers on a virtual clock.
//!
//! - **Tasks** run in the order they were woken; a task woken while it
//!   runs goes to the back. Nothing else picks an order: no thread, no
//!   randomness.
//! - **Time** moves only when no task is woken: the clock jumps to the
//!   earliest timer and every timer due then fires, in the order the timers
//!   were armed. Idle virtual time costs nothing.
//! - **Aborting** a task drops its future when the executor next reaches it
//!   in the queue (as tokio does), never from inside another task's poll.
//!
//! A timer is an entry in a [`TimerQueue`]: arming, moving and firing one
//! is a heap operation, not a trip through a timer wheel and a driver's
//! park.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, RawWakerVTable, Wake, Waker};
use std::time::Duration;

use super::timers::{TimerKey, TimerQueue};
use crate::transport::time::{Instant, Interval, Sleep};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// A spawned task, for aborting it or asking whether it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskId {
    slot: usize,
    generation: u64,
}

thread_local! {
    /// Tasks woken on this thread, in order, with their executor's number.
    /// A world runs on one thread and its wakers never leave it (its tasks
    /// and the harness between steps wake them), so a thread-local queue is
    /// the whole story — and, unlike a queue behind a mutex, waking costs no
    /// atomic operation. (A wake from another thread would land in that
    /// thread's queue and be lost: a hang, never a wrong order.)
    static WOKEN: RefCell<VecDeque<(u64, TaskId)>> = const { RefCell::new(VecDeque::new()) };
    /// The executors alive on this thread: wakes for the others (a task
    /// woken while its world was dropped) are discarded.
    static ALIVE: RefCell<BTreeSet<u64>> = const { RefCell::new(BTreeSet::new()) };
}

/// Numbers executors, so that two worlds alive on one thread take only
/// their own tasks from [`WOKEN`].
static EXECUTORS: AtomicU64 = AtomicU64::new(0);

/// What a waker holds: the task it wakes. (Wakers must be `Send` and
/// `Sync`: the flag is atomic, though only one thread ever touches it.)
struct TaskWaker {
    executor: u64,
    id: TaskId,
    /// Queued and not yet run: a second wake is a no-op.
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A load and a store, not a swap: one thread (no lock prefix).
        if !self.queued.load(Ordering::Relaxed) {
            self.queued.store(true, Ordering::Relaxed);
            WOKEN.with(|woken| woken.borrow_mut().push_back((self.executor, self.id)));
        }
    }
}

struct Slot {
    generation: u64,
    /// `None` while the task is being polled, and once it has ended.
    future: Option<Task>,
    /// Taken out with the future while it is polled (no waker clone per
    /// poll: each is an atomic increment and decrement).
    waker: Option<(Arc<TaskWaker>, Waker)>,
    running: bool,
    aborted: bool,
}

/// A virtual instant: time since the world began.
type At = Duration;

/// What a timer or a waiting pipe wakes. A task of this executor is woken
/// through the waker it already holds: keeping and using it clones and
/// drops no waker (each an atomic increment or decrement).
pub enum Target {
    /// One of this executor's tasks.
    Task(TaskId),
    /// Any other waker (a join's, the harness's).
    Waker(Waker),
}

struct Inner {
    origin: Instant,
    now: Cell<At>,
    /// `origin + now`, kept with it: hosts read the clock far more often
    /// than it moves, and an `Instant` sum normalises its parts.
    now_instant: Cell<Instant>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<usize>>,
    /// This executor's number in [`WOKEN`].
    number: u64,
    /// The task being polled (still set when its poll panicked).
    running: Cell<Option<TaskId>>,
    /// The waker its poll was given, while the poll is under way.
    running_waker: Cell<Option<WakerId>>,
    /// Our tasks taken out of [`WOKEN`] to pass another world's wakes, in order.
    batch: RefCell<VecDeque<TaskId>>,
    timers: RefCell<TimerQueue<Target>>,
    /// The targets of the timers firing now (kept for its allocation).
    due: Cell<Vec<Target>>,
}

impl Drop for Inner {
    /// Forgets this executor's wakes (at thread exit the queues may be
    /// gone already: nothing to forget then).
    fn drop(&mut self) {
        let number = self.number;
        let _ = ALIVE.try_with(|alive| alive.borrow_mut().remove(&number));
        let _ = WOKEN.try_with(|woken| {
            woken
                .borrow_mut()
                .retain(|&(executor, _)| executor != number)
        });
    }
}

/// The executor; clones share it.
#[derive(Clone)]
pub struct Executor(Rc<Inner>);

impl Executor {
    /// An executor whose clock reads `origin` at virtual time zero.
    pub fn new(origin: Instant) -> Executor {
        let number = EXECUTORS.fetch_add(1, Ordering::Relaxed);
        ALIVE.with(|alive| alive.borrow_mut().insert(number));
        Executor(Rc::new(Inner {
            origin,
            now: Cell::new(Duration::ZERO),
            now_instant: Cell::new(origin),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            number,
            running: Cell::new(None),
            running_waker: Cell::new(None),
            batch: RefCell::new(VecDeque::new()),
            timers: RefCell::new(TimerQueue::default()),
            due: Cell::new(Vec::new()),
        }))
    }

    /// Virtual time since the world began.
    pub fn elapsed(&self) -> Duration {
        self.0.now.get()
    }

    /// The clock as an `Instant` (the origin plus the virtual time).
    pub fn now(&self) -> Instant {
        self.0.now_instant.get()
    }

    /// Moves the clock forward to `to` (never back).
    fn advance(&self, to: At) {
        if to > self.0.now.get() {
            self.0.now.set(to);
            self.0.now_instant.set(self.0.origin + to);
        }
    }

    fn at(&self, instant: Instant) -> At {
        instant.saturating_duration_since(self.0.origin)
    }

    /// Queues `future` to run; it runs when the executor reaches it.
    pub fn spawn(&self, future: impl Future<Output = ()> + 'static) -> TaskId {
        let inner = &self.0;
        let mut slots = inner.slots.borrow_mut();
        let slot = match inner.free.borrow_mut().pop() {
            Some(slot) => slot,
            None => {
                slots.push(Slot {
                    generation: 0,
                    future: None,
                    waker: None,
                    running: false,
                    aborted: false,
                });
                slots.len() - 1
            }
        };
        let entry = &mut slots[slot];
        entry.generation += 1;
        let id = TaskId {
            slot,
            generation: entry.generation,
        };
        let task_waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            executor: inner.number,
        });
        let waker = Waker::from(task_waker.clone());
        entry.future = Some(Box::pin(future));
        entry.running = false;
        entry.aborted = false;
        waker.wake_by_ref();
        entry.waker = Some((task_waker, waker));
        id
    }

    /// Ends a task: its future is dropped when the executor next reaches
    /// it (at once after its poll, when it aborts itself).
    pub fn abort(&self, id: TaskId) {
        let waker = {
            let mut slots = self.0.slots.borrow_mut();
            let Some(slot) = slots.get_mut(id.slot) else {
                return;
            };
            if slot.generation != id.generation || slot.aborted {
                return;
            }
            if slot.future.is_none() && !slot.running {
                return;
            }
            slot.aborted = true;
            slot.waker.as_ref().map(|(_, waker)| waker.clone())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The task whose poll is under way — after a panic unwound out of
    /// [`Executor::run_until`], the task that panicked.
    pub fn running(&self) -> Option<TaskId> {
        self.0.running.get()
    }

    /// Whether a task has ended (returned or was aborted).
    pub fn is_finished(&self, id: TaskId) -> bool {
        let slots = self.0.slots.borrow();
        slots
            .get(id.slot)
            .is_none_or(|s| s.generation != id.generation || (s.future.is_none() && !s.running))
    }

    /// A timer for `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> FastSleep {
        self.sleep_at(self.at(deadline))
    }

    /// A timer for virtual time `at`.
    pub fn sleep_at(&self, at: Duration) -> FastSleep {
        FastSleep {
            exec: self.clone(),
            deadline: at,
            armed: None,
        }
    }

    /// Runs woken tasks, moving the clock from timer to timer, until the
    /// clock would pass `deadline` (virtual time) or `stop` says so (asked
    /// before each task runs). Everything due at `deadline` runs first.
    pub fn run_until(&self, deadline: Duration, mut stop: impl FnMut() -> bool) {
        loop {
            if stop() {
                return;
            }
            match self.next_woken() {
                Some(id) => self.poll(id),
                None => {
                    if !self.fire_timers(deadline) {
                        self.advance(deadline);
                        return;
                    }
                }
            }
        }
    }

    /// The task woken first, if any.
    fn next_woken(&self) -> Option<TaskId> {
        let mut batch = self.0.batch.borrow_mut();
        if let Some(id) = batch.pop_front() {
            return Some(id);
        }
        let number = self.0.number;
        WOKEN.with(|woken| {
            let mut woken = woken.borrow_mut();
            match woken.front() {
                None => None,
                Some(&(executor, id)) if executor == number => {
                    woken.pop_front();
                    Some(id)
                }
                Some(_) => {
                    // Another world on this thread woke tasks too: take
                    // ours into the batch, leave its wakes in order (if it
                    // is still alive).
                    let mut others = VecDeque::new();
                    ALIVE.with(|alive| {
                        let alive = alive.borrow();
                        for (executor, id) in woken.drain(..) {
                            if executor == number {
                                batch.push_back(id);
                            } else if alive.contains(&executor) {
                                others.push_back((executor, id));
                            }
                        }
                    });
                    *woken = others;
                    batch.pop_front()
                }
            }
        })
    }

    /// Moves the clock to the earliest timer and fires every timer due
    /// then, in arming order; false when none is due by `deadline`.
    fn fire_timers(&self, deadline: Duration) -> bool {
        let mut due = self.0.due.take();
        let first = self.0.timers.borrow_mut().pop_earliest(deadline, &mut due);
        if let Some(first) = first {
            self.advance(first);
            due.drain(..).for_each(|target| self.wake(target));
        }
        self.0.due.set(due);
        first.is_some()
    }

    /// Wakes a task as its waker would (a task that ended is not woken:
    /// its waker's wake would be skipped when reached).
    fn wake_task(&self, id: TaskId) {
        let slots = self.0.slots.borrow();
        if let Some(slot) = slots.get(id.slot) {
            if let (true, Some((task, _))) = (slot.generation == id.generation, &slot.waker) {
                task.wake_by_ref();
            }
        }
    }

    /// Wakes `target`.
    pub fn wake(&self, target: Target) {
        match target {
            Target::Task(id) => self.wake_task(id),
            Target::Waker(waker) => waker.wake(),
        }
    }

    /// Keeps in `slot` what wakes whoever polls with `waker` (as
    /// [`Executor::target`]), reusing the waker kept there when it is the
    /// same one (no clone).
    #[inline]
    pub fn keep_target(&self, slot: &mut Option<Target>, waker: &Waker) {
        match (self.target_task(waker), slot) {
            (Some(id), slot) => *slot = Some(Target::Task(id)),
            (None, Some(Target::Waker(kept))) => kept.clone_from(waker),
            (None, slot) => *slot = Some(Target::Waker(waker.clone())),
        }
    }

    /// The running task, when `waker` is its own.
    fn target_task(&self, waker: &Waker) -> Option<TaskId> {
        match (self.0.running.get(), self.0.running_waker.get()) {
            (Some(id), Some(running)) if running == WakerId::of(waker) => Some(id),
            _ => None,
        }
    }

    /// What to keep for waking whoever polls with `waker`: the running
    /// task itself when `waker` is its own.
    pub fn target(&self, waker: &Waker) -> Target {
        match self.target_task(waker) {
            Some(id) => Target::Task(id),
            None => Target::Waker(waker.clone()),
        }
    }

    fn poll(&self, id: TaskId) {
        let (mut future, wakers) = {
            let mut slots = self.0.slots.borrow_mut();
            let Some(slot) = slots.get_mut(id.slot) else {
                return;
            };
            if slot.generation != id.generation || slot.future.is_none() {
                return;
            }
            let Some(wakers) = slot.waker.take() else {
                return;
            };
            wakers.0.queued.store(false, Ordering::Relaxed);
            let future = slot.future.take().expect("checked above");
            if slot.aborted {
                drop(slots);
                self.finish(id);
                drop((future, wakers));
                return;
            }
            slot.running = true;
            (future, wakers)
        };
        self.0.running.set(Some(id));
        self.0.running_waker.set(Some(WakerId::of(&wakers.1)));
        let done = future
            .as_mut()
            .poll(&mut Context::from_waker(&wakers.1))
            .is_ready();
        self.0.running_waker.set(None);
        self.0.running.set(None);
        let mut slots = self.0.slots.borrow_mut();
        let slot = &mut slots[id.slot];
        slot.running = false;
        if done || slot.aborted {
            drop(slots);
            self.finish(id);
            drop((future, wakers));
        } else {
            slot.future = Some(future);
            slot.waker = Some(wakers);
        }
    }

    /// Frees a task's slot (its future already taken out).
    fn finish(&self, id: TaskId) {
        let mut slots = self.0.slots.borrow_mut();
        let slot = &mut slots[id.slot];
        slot.waker = None;
        slot.aborted = false;
        self.0.free.borrow_mut().push(id.slot);
    }

    /// Drops every task's future (they hold handles to the executor: this
    /// breaks the cycle). Futures dropped here may arm or disarm timers.
    pub fn shutdown(&self) {
        let futures: Vec<Task> = self
            .0
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(|slot| {
                slot.waker = None;
                slot.future.take()
            })
            .collect();
        drop(futures);
        self.0.timers.borrow_mut().clear();
    }

    /// Wakes `target` at virtual time `deadline` (at once when it has
    /// passed): a timer nobody polls or disarms.
    pub fn wake_at(&self, deadline: Duration, target: Target) {
        if deadline <= self.elapsed() {
            self.wake(target);
        } else {
            self.arm(deadline, target);
        }
    }

    fn arm(&self, deadline: At, target: Target) -> TimerKey {
        self.0.timers.borrow_mut().arm(deadline, target)
    }

    fn disarm(&self, key: TimerKey) {
        self.0.timers.borrow_mut().disarm(key);
    }
}

/// A timer of the fast world.
pub struct FastSleep {
    exec: Executor,
    deadline: At,
    /// Its entry in the timer queue, the deadline it was armed for, and
    /// which waker the entry holds (compared, never used: the entry's own
    /// clone keeps that waker alive, so the identity cannot be reused).
    armed: Option<(TimerKey, At, WakerId)>,
}

impl Future for FastSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.exec.elapsed() >= this.deadline {
            if let Some((key, _, _)) = this.armed.take() {
                this.exec.disarm(key);
            }
            return Poll::Ready(());
        }
        let waker = WakerId::of(cx.waker());
        if let Some((key, armed_for, holds)) = &mut this.armed {
            // Armed for this deadline: keep the entry, and replace its
            // waker only when the task polling is another one.
            if *armed_for == this.deadline {
                if *holds == waker {
                    return Poll::Pending;
                }
                let target = this.exec.target(cx.waker());
                if this.exec.0.timers.borrow_mut().set_target(*key, target) {
                    *holds = waker;
                    return Poll::Pending;
                }
            }
            this.exec.disarm(*key);
        }
        let key = this.exec.arm(this.deadline, this.exec.target(cx.waker()));
        this.armed = Some((key, this.deadline, waker));
        Poll::Pending
    }
}

impl FastSleep {
    /// Moves the timer to virtual time `at`.
    pub fn reset_at(&mut self, at: Duration) {
        self.deadline = at;
    }
}

impl Sleep for FastSleep {
    fn deadline(&self) -> Instant {
        self.exec.0.origin + self.deadline
    }

    fn reset(&mut self, deadline: Instant) {
        self.deadline = self.exec.at(deadline);
    }
}

impl Drop for FastSleep {
    fn drop(&mut self) {
        if let Some((key, _, _)) = self.armed.take() {
            self.exec.disarm(key);
        }
    }
}

/// A waker's identity (what `Waker::will_wake` compares), without a clone.
#[derive(Clone, Copy, PartialEq, Eq)]
struct WakerId(*const (), *const RawWakerVTable);

impl WakerId {
    fn of(waker: &Waker) -> WakerId {
        WakerId(waker.data(), waker.vtable())
    }
}

/// A tick taken this much after its time is late: the schedule restarts
/// from it (tokio's threshold for `MissedTickBehavior`).
const LATE_TICK: Duration = Duration::from_millis(5);

/// A periodic timer of the fast world (tokio's `MissedTickBehavior::Delay`).
pub struct FastInterval {
    sleep: FastSleep,
    period: Duration,
}

impl FastInterval {
    /// First tick at `start`, then every `period`.
    pub fn new(exec: &Executor, start: Instant, period: Duration) -> FastInterval {
        FastInterval {
            sleep: exec.sleep_until(start),
            period,
        }
    }
}

impl Interval for FastInterval {
    /// A poll function, not an `async fn`: a `select!` makes a new tick
    /// on every turn of its loop.
    fn tick(&mut self) -> impl Future<Output = ()> {
        std::future::poll_fn(|cx| {
            std::task::ready!(Pin::new(&mut self.sleep).poll(cx));
            let due = self.sleep.deadline;
            let now = self.sleep.exec.elapsed();
            let next = if now > due + LATE_TICK {
                now + self.period
            } else {
                due + self.period
            };
            self.sleep.deadline = next;
            Poll::Ready(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Rc<RefCell<Vec<String>>>;

    fn note(log: &Log, line: impl Into<String>) {
        log.borrow_mut().push(line.into());
    }

    #[allow(clippy::disallowed_methods)] // any base: only differences are read
    fn executor() -> Executor {
        Executor::new(Instant::now())
    }

    #[test]
    fn tasks_run_in_spawn_order_and_a_yield_goes_to_the_back() {
        let exec = executor();
        let log = Log::default();
        for name in ["a", "b"] {
            let log = log.clone();
            exec.spawn(async move {
                note(&log, format!("{name}1"));
                tokio::task::yield_now().await;
                note(&log, format!("{name}2"));
            });
        }
        exec.run_until(Duration::from_secs(1), || false);
        assert_eq!(*log.borrow(), ["a1", "b1", "a2", "b2"]);
    }

    #[test]
    fn the_clock_jumps_from_timer_to_timer_and_stops_at_the_deadline() {
        let exec = executor();
        let log = Log::default();
        for (name, secs) in [
            ("late", 30),
            ("early", 10),
            ("tie-first", 20),
            ("tie-second", 20),
        ] {
            let (log, clock) = (log.clone(), exec.clone());
            let sleep = exec.sleep_until(exec.now() + Duration::from_secs(secs));
            exec.spawn(async move {
                sleep.await;
                note(&log, format!("{name} at {}", clock.elapsed().as_secs()));
            });
        }
        exec.run_until(Duration::from_secs(25), || false);
        assert_eq!(exec.elapsed(), Duration::from_secs(25));
        exec.run_until(Duration::from_secs(100), || false);
        assert_eq!(
            *log.borrow(),
            [
                "early at 10",
                "tie-first at 20",
                "tie-second at 20",
                "late at 30"
            ]
        );
        assert_eq!(exec.elapsed(), Duration::from_secs(100));
    }

    #[test]
    fn timers_woken_through_a_task_or_another_waker_fire_in_arming_order() {
        // A sleep polled by its task wakes the task directly; one polled
        // inside a join wakes the join's own waker. Both kinds share one
        // order: deadline, then arming.
        let exec = executor();
        let log = Log::default();
        let at = |secs| exec.sleep_until(exec.now() + Duration::from_secs(secs));
        for (name, joined) in [("own-1", false), ("joined", true), ("own-2", false)] {
            let (log, sleep, other) = (log.clone(), at(5), at(5));
            exec.spawn(async move {
                if joined {
                    let mut set = futures::stream::FuturesUnordered::new();
                    set.push(sleep);
                    set.push(other);
                    futures::StreamExt::next(&mut set).await;
                } else {
                    sleep.await;
                }
                note(&log, name);
            });
        }
        let (late_log, late) = (log.clone(), at(6));
        let ended = exec.spawn(async move {
            late.await;
            note(&late_log, "never");
        });
        exec.run_until(Duration::from_secs(1), || false);
        exec.abort(ended);
        exec.run_until(Duration::from_secs(10), || false);
        assert_eq!(*log.borrow(), ["own-1", "joined", "own-2"]);
        assert!(exec.is_finished(ended));
    }

    #[test]
    fn an_aborted_task_is_dropped_when_the_executor_reaches_it() {
        struct Dropped(Log);
        impl Drop for Dropped {
            fn drop(&mut self) {
                note(&self.0, "dropped");
            }
        }
        let exec = executor();
        let log = Log::default();
        let guard = Dropped(log.clone());
        let id = exec.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        exec.run_until(Duration::from_secs(1), || false);
        assert!(!exec.is_finished(id));
        exec.abort(id);
        assert!(log.borrow().is_empty(), "not dropped inside abort");
        exec.run_until(Duration::from_secs(2), || false);
        assert_eq!(*log.borrow(), ["dropped"]);
        assert!(exec.is_finished(id));
    }

    #[test]
    fn two_executors_on_one_thread_keep_their_own_wakes() {
        let (one, two) = (executor(), executor());
        let log = Log::default();
        let notify = Rc::new(tokio::sync::Notify::new());
        for (exec, name) in [(&one, "one"), (&two, "two")] {
            let (log, notify) = (log.clone(), notify.clone());
            exec.spawn(async move {
                notify.notified().await;
                note(&log, name);
            });
        }
        one.run_until(Duration::from_secs(1), || false);
        two.run_until(Duration::from_secs(1), || false);
        // Both wake on this thread: each executor runs only its own.
        notify.notify_waiters();
        one.run_until(Duration::from_secs(2), || false);
        assert_eq!(*log.borrow(), ["one"]);
        drop(one);
        two.run_until(Duration::from_secs(2), || false);
        assert_eq!(*log.borrow(), ["one", "two"]);
        two.shutdown();
    }
}
