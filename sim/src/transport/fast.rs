//! [`Net`] and [`Infra`] on one single-threaded executor with a virtual
//! clock ([`executor`]): the fast transport.
//!
//! - **Time** is the executor's clock: when every task waits, it jumps
//!   straight to the next timer. There is no tick; idle virtual time costs
//!   nothing. Hosts' timers ([`Net::sleep`], [`Net::interval`], …) are the
//!   executor's, never tokio's.
//! - **A host** is a group of the executor's tasks: its
//!   software (the factory's future) and everything it spawns through
//!   [`Net::spawn`]. A crash aborts the group and unbinds its ports; a
//!   bounce aborts it and starts the factory again. A host whose software
//!   returns `Ok` has exited (its tasks end too); one that returns `Err`
//!   fails the run; a panic in any task fails the run, naming the host.
//! - **A link** (one per pair of hosts, made on first use) carries
//!   in-memory pipe pairs — like `tokio::io::duplex`, but each write is a
//!   segment with its own seeded delivery time, so latency, loss and hold
//!   act per message as turmoil's do: a partition drops what is in flight
//!   and what is sent (a closed stream's end-of-stream too), and — as
//!   turmoil's TCP never resends — a direction that lost a segment stays
//!   silent after the repair; a hold keeps segments until the repair,
//!   which delivers them at once.
//! - **Dials** reproduce turmoil's outcomes: an unknown host is `NotFound`
//!   at once, a running host with nothing bound is `ConnectionRefused` at
//!   once, a crashed host never answers. A connection is established one
//!   latency later; a partition loses the request (`ConnectionRefused`, as
//!   turmoil reports a dropped SYN), a hold delays it until the repair.
//! - **Stepping**: [`Infra::step_until`] runs the runtime until the
//!   harness's next deadline (a fault, a delayed command, `max_duration`),
//!   a host pushes a command into the control queue, the last client
//!   finishes, or a host fails — whichever comes first.
//!
//! Everything runs on one thread in an order fixed by the seed: tasks run
//! in the order they were woken, timers fire in deadline order, and one
//! ChaCha stream draws message latencies.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use self::executor::{Executor, FastInterval, FastSleep, Target, TaskId};
use super::time::{race, Elapsed, Instant};
use super::{HostFactory, HostFuture, HostResult, Infra, Interrupt, Listener, Net};
use crate::rng::{stream, Stream};

mod executor;
mod timers;

/// The transport name traces record.
pub const TRANSPORT_FAST: &str = "fast";

/// Bytes a pipe buffers before its writer waits (a TCP window).
const PIPE_CAPACITY: usize = 256 * 1024;
/// A host's task list is pruned of finished tasks when it grows past this.
const TASK_PRUNE_AT: usize = 64;

/// How a fast world is built.
#[derive(Clone, Debug)]
pub struct FastConfig {
    /// Seeds tokio's runtime RNG and the latency stream.
    pub seed: u64,
    /// One-way latency of each message, drawn uniformly (millisecond
    /// resolution) from this range.
    pub min_latency: Duration,
    /// The range's upper end.
    pub max_latency: Duration,
}

impl FastConfig {
    /// The defaults: latency 1–50 ms per message.
    pub fn new(seed: u64) -> FastConfig {
        FastConfig {
            seed,
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(50),
        }
    }
}

// ---- the shared world --------------------------------------------------------

enum Kind {
    Host(Rc<HostFactory>),
    Client,
}

struct HostEntry {
    kind: Kind,
    running: bool,
    /// Bumped on every start: a late exit of an older run is ignored.
    generation: u64,
    tasks: Vec<TaskId>,
    listeners: BTreeMap<u16, Rc<Backlog>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Healthy,
    Partitioned,
    Held,
}

/// One link between two hosts: its state and its live pipes.
struct Link {
    mode: Cell<Mode>,
    pipes: RefCell<Vec<Weak<Pipe>>>,
    /// Dials waiting for a hold to end.
    waiters: RefCell<Vec<Waker>>,
}

impl Link {
    fn new() -> Link {
        Link {
            mode: Cell::new(Mode::Healthy),
            pipes: RefCell::new(Vec::new()),
            waiters: RefCell::new(Vec::new()),
        }
    }

    fn add_pipe(&self, pipe: &Rc<Pipe>) {
        let mut pipes = self.pipes.borrow_mut();
        if pipes.len() >= 16 && pipes.len().is_power_of_two() {
            pipes.retain(|p| p.strong_count() > 0);
        }
        pipes.push(Rc::downgrade(pipe));
    }

    fn live_pipes(&self) -> Vec<Rc<Pipe>> {
        let mut pipes = self.pipes.borrow_mut();
        pipes.retain(|p| p.strong_count() > 0);
        pipes.iter().filter_map(Weak::upgrade).collect()
    }

    fn set_mode(&self, mode: Mode, now: Duration) {
        self.mode.set(mode);
        for pipe in self.live_pipes() {
            pipe.on_mode(mode, now);
        }
        if mode != Mode::Held {
            self.waiters.borrow_mut().drain(..).for_each(Waker::wake);
        }
    }
}

struct Shared {
    /// Runs every host's tasks; keeps the clock and the timers.
    exec: Executor,
    hosts: RefCell<BTreeMap<String, HostEntry>>,
    links: RefCell<BTreeMap<(String, String), Rc<Link>>>,
    rng: RefCell<ChaCha8Rng>,
    latency_ms: (u64, u64),
    /// Why the run failed (a host's `Err`, a panic).
    error: RefCell<Option<String>>,
    /// Asked before every task a step runs: a failure or the last
    /// client's end ends the step at once.
    clients_running: Cell<usize>,
}

impl Shared {
    fn elapsed(&self) -> Duration {
        self.exec.elapsed()
    }

    fn now(&self) -> Instant {
        self.exec.now()
    }

    fn latency(&self) -> Duration {
        let (lo, hi) = self.latency_ms;
        let ms = if hi <= lo {
            lo
        } else {
            self.rng.borrow_mut().gen_range(lo..=hi)
        };
        Duration::from_millis(ms)
    }

    fn link(&self, a: &str, b: &str) -> Rc<Link> {
        let key = if a <= b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        };
        self.links
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| Rc::new(Link::new()))
            .clone()
    }

    fn fail(&self, error: String) {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    fn track(&self, host: &str, task: TaskId) {
        let mut hosts = self.hosts.borrow_mut();
        let Some(entry) = hosts.get_mut(host).filter(|e| e.running) else {
            drop(hosts);
            self.exec.abort(task);
            return;
        };
        if entry.tasks.len() >= TASK_PRUNE_AT && entry.tasks.len().is_power_of_two() {
            entry.tasks.retain(|&t| !self.exec.is_finished(t));
        }
        entry.tasks.push(task);
    }

    /// Stops a host's software: aborts its tasks, unbinds its ports and
    /// drops the connections waiting in its backlogs.
    fn stop(&self, name: &str) {
        let (tasks, listeners) = {
            let mut hosts = self.hosts.borrow_mut();
            let Some(entry) = hosts.get_mut(name) else {
                return;
            };
            if !entry.running {
                return;
            }
            entry.running = false;
            if matches!(entry.kind, Kind::Client) {
                let running = self.clients_running.get();
                assert!(running > 0, "client {name} stopped with no client running");
                self.clients_running.set(running - 1);
            }
            (
                std::mem::take(&mut entry.tasks),
                std::mem::take(&mut entry.listeners),
            )
        };
        tasks.into_iter().for_each(|t| self.exec.abort(t));
        for backlog in listeners.into_values() {
            backlog.close();
        }
    }

    /// The software of a host (generation `generation`) returned.
    fn exited(&self, name: &str, generation: u64, result: HostResult) {
        let current = self
            .hosts
            .borrow()
            .get(name)
            .is_some_and(|e| e.running && e.generation == generation);
        if !current {
            return;
        }
        if let Err(err) = result {
            self.fail(format!("host {name} failed: {err}"));
        }
        self.stop(name);
    }

    /// The host (or client) a task belongs to.
    fn host_of(&self, task: TaskId) -> Option<String> {
        self.hosts
            .borrow()
            .iter()
            .find(|(_, entry)| entry.tasks.contains(&task))
            .map(|(name, _)| name.clone())
    }

    fn status(&self, host: &str) -> Option<bool> {
        self.hosts.borrow().get(host).map(|e| e.running)
    }

    fn backlog(&self, host: &str, port: u16) -> Option<Rc<Backlog>> {
        let hosts = self.hosts.borrow();
        let entry = hosts.get(host)?;
        entry
            .listeners
            .get(&port)
            .filter(|_| entry.running)
            .cloned()
    }
}

// ---- the network as a host sees it ---------------------------------------------

/// The network inside a fast-world host.
#[derive(Clone)]
pub struct FastNet {
    host: Rc<str>,
    shared: Rc<Shared>,
}

impl Net for FastNet {
    type Stream = FastStream;
    type Listener = FastListener;
    type Sleep = FastSleep;
    type Interval = FastInterval;

    async fn connect(&self, host: &str, port: u16) -> io::Result<FastStream> {
        let shared = &self.shared;
        match shared.status(host) {
            None => return Err(io::Error::new(io::ErrorKind::NotFound, "host not found")),
            Some(false) => std::future::pending::<()>().await,
            Some(true) => {}
        }
        if shared.backlog(host, port).is_none() {
            return Err(connection_refused());
        }
        // The connection request crosses the link: a partition loses it
        // (turmoil then refuses the dial at once), a hold delays it.
        let link = shared.link(&self.host, host);
        if link.mode.get() == Mode::Partitioned {
            return Err(connection_refused());
        }
        shared
            .exec
            .sleep_until(shared.now() + shared.latency())
            .await;
        wait_for_link(&link).await?;
        match shared.status(host) {
            None | Some(false) => std::future::pending::<()>().await,
            Some(true) => {}
        }
        let backlog = shared.backlog(host, port).ok_or_else(connection_refused)?;
        let (client, server) = FastStream::pair(shared, &link);
        backlog.push(server);
        Ok(client)
    }

    async fn bind(&self, port: u16) -> io::Result<FastListener> {
        let mut hosts = self.shared.hosts.borrow_mut();
        let entry = hosts
            .get_mut(&*self.host)
            .filter(|e| e.running)
            .ok_or_else(|| io::Error::other("host is not running"))?;
        if entry.listeners.contains_key(&port) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("port {port} is bound"),
            ));
        }
        let backlog = Rc::new(Backlog::default());
        entry.listeners.insert(port, backlog.clone());
        Ok(FastListener {
            shared: self.shared.clone(),
            host: self.host.clone(),
            port,
            backlog,
        })
    }

    fn elapsed(&self) -> Duration {
        self.shared.elapsed()
    }

    fn now(&self) -> Instant {
        self.shared.now()
    }

    fn sleep_until(&self, deadline: Instant) -> FastSleep {
        self.shared.exec.sleep_until(deadline)
    }

    fn interval_at(&self, start: Instant, period: Duration) -> FastInterval {
        FastInterval::new(&self.shared.exec, start, period)
    }

    fn timeout<F: Future>(
        &self,
        limit: Duration,
        work: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> {
        race(self.sleep(limit), work)
    }

    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        let id = self.shared.exec.spawn(task);
        self.shared.track(&self.host, id);
    }
}

fn connection_refused() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused")
}

/// Waits while the link is held; a partition loses the request.
async fn wait_for_link(link: &Link) -> io::Result<()> {
    std::future::poll_fn(|cx| match link.mode.get() {
        Mode::Healthy => Poll::Ready(Ok(())),
        Mode::Partitioned => Poll::Ready(Err(connection_refused())),
        Mode::Held => {
            link.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }
    })
    .await
}

/// Connections waiting to be accepted on one port.
#[derive(Default)]
pub struct Backlog {
    queue: RefCell<VecDeque<FastStream>>,
    waker: RefCell<Option<Waker>>,
    closed: Cell<bool>,
}

impl Backlog {
    fn push(&self, stream: FastStream) {
        self.queue.borrow_mut().push_back(stream);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn close(&self) {
        self.closed.set(true);
        let queued = std::mem::take(&mut *self.queue.borrow_mut());
        drop(queued);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// A bound port.
pub struct FastListener {
    shared: Rc<Shared>,
    host: Rc<str>,
    port: u16,
    backlog: Rc<Backlog>,
}

impl Listener for FastListener {
    type Stream = FastStream;

    async fn accept(&self) -> io::Result<FastStream> {
        std::future::poll_fn(|cx| {
            if let Some(stream) = self.backlog.queue.borrow_mut().pop_front() {
                return Poll::Ready(Ok(stream));
            }
            if self.backlog.closed.get() {
                return Poll::Ready(Err(io::Error::other("listener closed")));
            }
            *self.backlog.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Drop for FastListener {
    fn drop(&mut self) {
        let mut hosts = self.shared.hosts.borrow_mut();
        if let Some(entry) = hosts.get_mut(&*self.host) {
            let ours = entry
                .listeners
                .get(&self.port)
                .is_some_and(|b| Rc::ptr_eq(b, &self.backlog));
            if ours {
                entry.listeners.remove(&self.port);
            }
        }
        drop(hosts);
        self.backlog.close();
    }
}

// ---- streams -------------------------------------------------------------------

struct Segment {
    data: Vec<u8>,
    pos: usize,
    /// When it arrives (virtual time: no `Instant` sums per message).
    due: Duration,
    held: bool,
    /// End of stream.
    fin: bool,
}

/// Read-out segment buffers a pipe keeps for its next sends.
const SPARE_BUFFERS: usize = 4;

#[derive(Default)]
struct PipeState {
    segments: VecDeque<Segment>,
    /// Buffers of segments already read, reused by the next sends (no
    /// allocation per message).
    spare: Vec<Vec<u8>>,
    bytes: usize,
    last_due: Option<Duration>,
    reader_waker: Option<Target>,
    writer_waker: Option<Target>,
    /// The writer sent its end of stream (or dropped its end).
    write_closed: bool,
    /// The reader read the end of stream.
    read_eof: bool,
    /// The reading end is gone: writes fail.
    reader_gone: bool,
    /// A segment was lost to a partition. turmoil's TCP never resends, so
    /// nothing after the hole is ever delivered: the pipe is silent for
    /// good (no error either side).
    lost: bool,
}

/// One direction of a connection.
struct Pipe {
    shared: Rc<Shared>,
    link: Rc<Link>,
    state: RefCell<PipeState>,
}

impl Pipe {
    fn new(shared: &Rc<Shared>, link: &Rc<Link>) -> Rc<Pipe> {
        let pipe = Rc::new(Pipe {
            shared: shared.clone(),
            link: link.clone(),
            state: RefCell::new(PipeState::default()),
        });
        link.add_pipe(&pipe);
        pipe
    }

    /// Sends a segment: lost on a partitioned link (and every later one
    /// with it), held on a held one, otherwise due one latency from now
    /// (never before an earlier one).
    fn send(&self, bytes: &[u8], fin: bool) {
        let mode = self.link.mode.get();
        let mut st = self.state.borrow_mut();
        if mode == Mode::Partitioned {
            st.lost = true;
        }
        if st.lost {
            return;
        }
        let now = self.shared.elapsed();
        let latency = self.shared.latency();
        let due = st
            .last_due
            .map_or(now + latency, |last| last.max(now + latency));
        st.last_due = Some(due);
        st.bytes += bytes.len();
        let mut data = st.spare.pop().unwrap_or_default();
        data.extend_from_slice(bytes);
        let held = mode == Mode::Held;
        st.segments.push_back(Segment {
            data,
            pos: 0,
            due,
            held,
            fin,
        });
        // A waiting reader is woken when the segment arrives, not now (it
        // would only find it in flight); a held one waits for the repair,
        // which wakes it.
        if !held {
            if let Some(reader) = st.reader_waker.take() {
                self.shared.exec.wake_at(due, reader);
            }
        }
    }

    /// The link changed: a partition loses what is in flight, a hold keeps
    /// it, a repair delivers what was held now.
    fn on_mode(&self, mode: Mode, now: Duration) {
        let mut st = self.state.borrow_mut();
        match mode {
            Mode::Partitioned => {
                let before = st.segments.len();
                st.segments.retain(|s| !s.held && s.due <= now);
                if st.segments.len() != before {
                    st.lost = true;
                    st.bytes = st.segments.iter().map(|s| s.data.len() - s.pos).sum();
                    st.last_due = st.segments.back().map(|s| s.due);
                }
            }
            Mode::Held => {
                for seg in st.segments.iter_mut().filter(|s| s.due > now) {
                    seg.held = true;
                }
            }
            Mode::Healthy => {
                let mut released = false;
                for seg in st.segments.iter_mut().filter(|s| s.held) {
                    seg.held = false;
                    seg.due = now;
                    released = true;
                }
                if released {
                    st.last_due = Some(now);
                }
            }
        }
        let wake = [st.reader_waker.take(), st.writer_waker.take()];
        drop(st);
        let exec = &self.shared.exec;
        wake.into_iter()
            .flatten()
            .for_each(|target| exec.wake(target));
    }
}

/// A connection's end: reads one pipe, writes the other.
pub struct FastStream {
    rx: Rc<Pipe>,
    tx: Rc<Pipe>,
    timer: Option<FastSleep>,
}

impl FastStream {
    fn pair(shared: &Rc<Shared>, link: &Rc<Link>) -> (FastStream, FastStream) {
        let (a_to_b, b_to_a) = (Pipe::new(shared, link), Pipe::new(shared, link));
        let a = FastStream {
            rx: b_to_a.clone(),
            tx: a_to_b.clone(),
            timer: None,
        };
        let b = FastStream {
            rx: a_to_b,
            tx: b_to_a,
            timer: None,
        };
        (a, b)
    }

    /// Waits on `timer` until `due`; `true` when it has passed.
    fn wait_until(
        exec: &Executor,
        timer: &mut Option<FastSleep>,
        due: Duration,
        cx: &mut Context<'_>,
    ) -> bool {
        let timer = match timer {
            Some(timer) => {
                timer.reset_at(due);
                timer
            }
            None => timer.insert(exec.sleep_at(due)),
        };
        Pin::new(timer).poll(cx).is_ready()
    }
}

impl AsyncRead for FastStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let FastStream { rx, timer, .. } = &mut *self;
        loop {
            let mut st = rx.state.borrow_mut();
            if st.read_eof {
                return Poll::Ready(Ok(()));
            }
            // The clock is read only when a segment waits (most polls of
            // an idle connection find none).
            let mut now = None;
            let mut copied = 0;
            let mut wait_for = None;
            while buf.remaining() > 0 {
                let Some(seg) = st.segments.front_mut() else {
                    break;
                };
                if seg.held {
                    break;
                }
                if seg.due > *now.get_or_insert_with(|| rx.shared.elapsed()) {
                    wait_for = Some(seg.due);
                    break;
                }
                if seg.fin {
                    if copied == 0 {
                        st.segments.pop_front();
                        st.read_eof = true;
                        return Poll::Ready(Ok(()));
                    }
                    break;
                }
                let n = (seg.data.len() - seg.pos).min(buf.remaining());
                buf.put_slice(&seg.data[seg.pos..seg.pos + n]);
                seg.pos += n;
                copied += n;
                if seg.pos == seg.data.len() {
                    let mut data = st.segments.pop_front().expect("the front").data;
                    if st.spare.len() < SPARE_BUFFERS {
                        data.clear();
                        st.spare.push(data);
                    }
                }
            }
            if copied > 0 {
                st.bytes -= copied;
                if let Some(writer) = st.writer_waker.take() {
                    rx.shared.exec.wake(writer);
                }
                return Poll::Ready(Ok(()));
            }
            rx.shared.exec.keep_target(&mut st.reader_waker, cx.waker());
            drop(st);
            match wait_for {
                Some(due) if FastStream::wait_until(&rx.shared.exec, timer, due, cx) => continue,
                _ => return Poll::Pending,
            }
        }
    }
}

impl AsyncWrite for FastStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let tx = &self.tx;
        {
            let mut st = tx.state.borrow_mut();
            if st.write_closed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if st.lost || tx.link.mode.get() == Mode::Partitioned {
                // Into the void (`send` records the loss).
                drop(st);
                tx.send(&[], false);
                return Poll::Ready(Ok(data.len()));
            }
            if st.reader_gone {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            if st.bytes >= PIPE_CAPACITY {
                tx.shared.exec.keep_target(&mut st.writer_waker, cx.waker());
                return Poll::Pending;
            }
        }
        tx.send(data, false);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        close_write(&self.tx);
        Poll::Ready(Ok(()))
    }
}

fn close_write(tx: &Pipe) {
    let already = std::mem::replace(&mut tx.state.borrow_mut().write_closed, true);
    if !already {
        tx.send(&[], true);
    }
}

impl Drop for FastStream {
    fn drop(&mut self) {
        close_write(&self.tx);
        let mut st = self.rx.state.borrow_mut();
        st.reader_gone = true;
        st.segments.clear();
        st.bytes = 0;
        if let Some(writer) = st.writer_waker.take() {
            self.rx.shared.exec.wake(writer);
        }
    }
}

// ---- the world -------------------------------------------------------------------

/// A fast world: every host's tasks on one executor.
pub struct FastWorld {
    shared: Rc<Shared>,
}

impl FastWorld {
    /// A world per `config`.
    pub fn new(config: FastConfig) -> FastWorld {
        let shared = Rc::new(Shared {
            exec: Executor::new(origin()),
            hosts: RefCell::new(BTreeMap::new()),
            links: RefCell::new(BTreeMap::new()),
            rng: RefCell::new(stream(config.seed, Stream::Network)),
            latency_ms: (
                config.min_latency.as_millis() as u64,
                config.max_latency.as_millis() as u64,
            ),
            error: RefCell::new(None),
            clients_running: Cell::new(0),
        });
        FastWorld { shared }
    }

    fn register(&mut self, name: &str, kind: Kind) {
        let entry = HostEntry {
            kind,
            running: false,
            generation: 0,
            tasks: Vec::new(),
            listeners: BTreeMap::new(),
        };
        let fresh = self
            .shared
            .hosts
            .borrow_mut()
            .insert(name.to_string(), entry)
            .is_none();
        assert!(fresh, "host {name} registered twice");
    }

    /// Starts a host's software (its factory's next future).
    fn start(&mut self, name: &str) {
        let (factory, generation) = {
            let mut hosts = self.shared.hosts.borrow_mut();
            let entry = hosts.get_mut(name).expect("registered");
            let Kind::Host(factory) = &entry.kind else {
                return;
            };
            entry.running = true;
            entry.generation += 1;
            (factory.clone(), entry.generation)
        };
        let software = factory();
        self.spawn_main(name, generation, software);
    }

    fn spawn_main(&mut self, name: &str, generation: u64, software: HostFuture) {
        let shared = self.shared.clone();
        let owner = name.to_string();
        let task = async move {
            let result = software.await;
            shared.exited(&owner, generation, result);
        };
        let id = self.shared.exec.spawn(task);
        self.shared.track(name, id);
    }

    /// Runs the executor until `deadline` (virtual time), a push into
    /// `control`, the last client's end or a failure. Returns whether every
    /// client has finished.
    fn run_until(
        &mut self,
        deadline: Duration,
        control: Option<&dyn Interrupt>,
    ) -> Result<bool, String> {
        if let Some(error) = self.shared.error.borrow().clone() {
            return Err(error);
        }
        let shared = &self.shared;
        let deadline = deadline.max(shared.elapsed() + Duration::from_millis(1));
        let clients_done_before = shared.clients_running.get() == 0;
        // The control queue is asked again only after it woke us (a push).
        let pushed = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(pushed.clone());
        let mut cx = Context::from_waker(&waker);
        let mut stop = || {
            shared.error.borrow().is_some()
                || (!clients_done_before && shared.clients_running.get() == 0)
                || control.is_some_and(|c| {
                    // A load and a store, not a swap (a locked instruction,
                    // asked before every task poll).
                    pushed.0.load(Ordering::Relaxed) && {
                        pushed.0.store(false, Ordering::Relaxed);
                        c.poll_pushed(&mut cx).is_ready()
                    }
                })
        };
        // One catch for the whole step, not one per task poll: a panic
        // fails the run, naming the host whose task was running.
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            shared.exec.run_until(deadline, &mut stop);
        }));
        if let Err(panic) = ran {
            let message = panic_message(&*panic);
            let host = shared.exec.running().and_then(|task| shared.host_of(task));
            shared.fail(match host {
                Some(host) => format!("host {host} panicked: {message}"),
                None => format!("a host panicked: {message}"),
            });
        }
        match shared.error.borrow().clone() {
            Some(error) => Err(error),
            None => Ok(shared.clients_running.get() == 0),
        }
    }
}

/// A waker that raises a flag.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The clock's reading at virtual time zero. `Instant` has no constant to
/// start from, so this is the process's first reading of the real clock —
/// an opaque base: only differences between readings are used, and no
/// trace, output or decision ever sees an `Instant` itself (hosts compare
/// them; the trace shows [`Net::elapsed`]).
fn origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    #[allow(clippy::disallowed_methods)] // the opaque base above, never a reading
    let base = *ORIGIN.get_or_init(std::time::Instant::now);
    Instant::from_std(base)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

impl Infra for FastWorld {
    type Net = FastNet;

    fn net(&self, host: &str) -> FastNet {
        FastNet {
            host: Rc::from(host),
            shared: self.shared.clone(),
        }
    }

    fn transport(&self) -> &'static str {
        TRANSPORT_FAST
    }

    fn add_host(&mut self, name: &str, factory: HostFactory) {
        self.register(name, Kind::Host(Rc::new(factory)));
        self.start(name);
    }

    fn add_client(&mut self, name: &str, client: HostFuture) {
        self.register(name, Kind::Client);
        let generation = {
            let mut hosts = self.shared.hosts.borrow_mut();
            let entry = hosts.get_mut(name).expect("registered");
            entry.running = true;
            entry.generation = 1;
            entry.generation
        };
        self.shared
            .clients_running
            .set(self.shared.clients_running.get() + 1);
        self.spawn_main(name, generation, client);
    }

    fn is_registered(&self, name: &str) -> bool {
        self.shared.hosts.borrow().contains_key(name)
    }

    fn crash(&mut self, name: &str) {
        // The harness crashes registered hosts only; crashing one that is
        // not running is a no-op (as in turmoil).
        assert!(
            self.is_registered(name),
            "crash of unregistered host {name}"
        );
        self.shared.stop(name);
    }

    fn bounce(&mut self, name: &str) {
        if self.is_registered(name) {
            self.shared.stop(name);
            self.start(name);
        }
    }

    fn partition(&mut self, a: &str, b: &str) -> bool {
        self.set_link(a, b, Mode::Partitioned)
    }

    fn hold(&mut self, a: &str, b: &str) -> bool {
        self.set_link(a, b, Mode::Held)
    }

    fn repair(&mut self, a: &str, b: &str) -> bool {
        self.set_link(a, b, Mode::Healthy)
    }

    fn elapsed(&self) -> Duration {
        self.shared.elapsed()
    }

    fn step(&mut self) -> Result<bool, String> {
        let next = self.shared.elapsed() + Duration::from_millis(1);
        self.run_until(next, None)
    }

    fn step_until(&mut self, deadline: Duration, control: &dyn Interrupt) -> Result<bool, String> {
        self.run_until(deadline, Some(control))
    }
}

impl Drop for FastWorld {
    /// Host factories hold `FastNet`s, which hold the shared world that
    /// holds the factories, and tasks hold the executor that holds them:
    /// clear the registry and drop every task so neither cycle leaks.
    fn drop(&mut self) {
        let names: Vec<String> = self.shared.hosts.borrow().keys().cloned().collect();
        for name in &names {
            self.shared.stop(name);
        }
        let hosts = std::mem::take(&mut *self.shared.hosts.borrow_mut());
        drop(hosts);
        let links = std::mem::take(&mut *self.shared.links.borrow_mut());
        drop(links);
        self.shared.exec.shutdown();
    }
}

impl FastWorld {
    fn set_link(&mut self, a: &str, b: &str, mode: Mode) -> bool {
        let ok = a != b && self.is_registered(a) && self.is_registered(b);
        if ok {
            let now = self.shared.elapsed();
            self.shared.link(a, b).set_mode(mode, now);
        }
        ok
    }
}
