//! The wire: newline-delimited JSON frames over any `AsyncRead +
//! AsyncWrite` stream, and the messages of each host's protocol.
//!
//! Reading is cancel-safe (bytes already read stay in the frame buffer), so
//! a `recv` can sit in a `select!` beside timers.
//!
//! Frames are the hosts' hottest path, so both directions keep one buffer
//! per connection: a frame is serialised straight into the reused write
//! buffer, and reads append to a reused read buffer that is scanned for
//! newlines only once. The bytes on the wire and the reads of the stream
//! (at most [`READ_CHUNK`] bytes each) are exactly those of the plain
//! version, so traces do not change.

use std::future::{poll_fn, Future};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use uuid::Uuid;

use crate::plan::Call;

mod bare;

/// coderd's provisioner daemon API.
pub const PROVISIONER_PORT: u16 = 2000;
/// coderd's agent API (connection, heartbeats, lifecycle).
pub const AGENT_API_PORT: u16 = 2001;
/// coderd's chat API (turns of tool calls, user API calls).
pub const CHAT_PORT: u16 = 3000;
/// The agent's dial endpoint (stands in for the tailnet).
pub const AGENT_DIAL_PORT: u16 = 4000;

/// The longest frame accepted; a longer one is an error.
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// The most bytes one read of the stream takes.
const READ_CHUNK: usize = 4096;

/// Frames read but not yet taken: `buf[start..]` (a partial frame at its
/// end), of which `buf[start..scanned]` holds no newline.
#[derive(Default)]
struct ReadBuffer {
    buf: Vec<u8>,
    /// Where the first frame not yet taken starts.
    start: usize,
    /// How far `buf` is known to hold no newline past `start`.
    scanned: usize,
}

impl ReadBuffer {
    /// The next whole frame in the buffer, decoded; `None` when no whole
    /// frame is there yet.
    fn take<T: DeserializeOwned>(&mut self) -> Option<io::Result<T>> {
        let newline = self.buf[self.scanned..].iter().position(|&b| b == b'\n');
        let Some(offset) = newline else {
            self.scanned = self.buf.len();
            return None;
        };
        let end = self.scanned + offset;
        let frame = decode(&self.buf[self.start..end]);
        if end + 1 == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else {
            self.start = end + 1;
        }
        self.scanned = self.start;
        Some(frame)
    }

    /// Bytes of the frame being read so far.
    fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Reads at most [`READ_CHUNK`] bytes from `inner` onto the buffer's
    /// end, first dropping the frames already taken; 0 at end of stream.
    fn poll_read_chunk<R: AsyncRead + Unpin>(
        &mut self,
        inner: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        // Uninitialised room on the stack (no zeroing), copied once onto
        // the buffer's end.
        let mut room = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut room = ReadBuf::uninit(&mut room);
        ready!(Pin::new(inner).poll_read(cx, &mut room))?;
        self.buf.extend_from_slice(room.filled());
        Poll::Ready(Ok(room.filled().len()))
    }

    /// Polls for the next frame from `inner`; `Ok(None)` at end of stream.
    /// A plain poll function, not an `async fn`: a `select!` creates and
    /// polls a new `recv` on every turn of its loop.
    fn poll_recv<T, R>(
        &mut self,
        inner: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<T>>>
    where
        T: DeserializeOwned,
        R: AsyncRead + Unpin,
    {
        loop {
            if let Some(frame) = self.take() {
                return Poll::Ready(frame.map(Some));
            }
            if self.pending() > MAX_FRAME_BYTES {
                let long = io::Error::new(io::ErrorKind::InvalidData, "frame too long");
                return Poll::Ready(Err(long));
            }
            if ready!(self.poll_read_chunk(inner, cx))? == 0 {
                return Poll::Ready(Ok(None));
            }
        }
    }
}

/// Decodes one frame (a bare name without the JSON parser: [`bare`]).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    if let Some(value) = bare::read(bytes) {
        return Ok(value);
    }
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Encodes `frame` as one JSON line into `buf` (emptied first).
fn encode<T: Serialize>(buf: &mut Vec<u8>, frame: &T) -> io::Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, frame)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    buf.push(b'\n');
    Ok(())
}

/// Writes `frame` as one JSON line to `inner` and flushes it, as
/// `write_all` and `flush` would; `written` is how much of the line the
/// stream has taken (`None` until the frame is encoded, at the first poll).
/// A poll function like [`ReadBuffer::poll_recv`]: no `async` state machine
/// per frame.
fn poll_send<T, W>(
    inner: &mut W,
    buf: &mut Vec<u8>,
    frame: &T,
    written: &mut Option<usize>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    let done = match written {
        Some(done) => done,
        None => {
            encode(buf, frame)?;
            written.insert(0)
        }
    };
    while *done < buf.len() {
        let n = ready!(Pin::new(&mut *inner).poll_write(cx, &buf[*done..]))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        *done += n;
    }
    Pin::new(inner).poll_flush(cx)
}

/// The reading side of a frame stream.
pub struct FrameReader<R> {
    inner: R,
    buf: ReadBuffer,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `inner`.
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: ReadBuffer::default(),
        }
    }

    /// The next frame; `Ok(None)` at end of stream.
    pub fn recv<T: DeserializeOwned>(
        &mut self,
    ) -> impl Future<Output = io::Result<Option<T>>> + '_ {
        let FrameReader { inner, buf } = self;
        poll_fn(move |cx| buf.poll_recv(inner, cx))
    }
}

/// The writing side of a frame stream.
pub struct FrameWriter<W> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes frames to `inner`.
    pub fn new(inner: W) -> FrameWriter<W> {
        FrameWriter {
            inner,
            buf: Vec::new(),
        }
    }

    /// Writes `frame` as one JSON line and flushes it.
    pub fn send<'a, T: Serialize>(
        &'a mut self,
        frame: &'a T,
    ) -> impl Future<Output = io::Result<()>> + 'a {
        let FrameWriter { inner, buf } = self;
        let mut written = None;
        poll_fn(move |cx| poll_send(inner, buf, frame, &mut written, cx))
    }
}

/// Both sides of one stream, used one at a time (a host that reads while
/// it writes splits the stream into a [`FrameReader`] and a
/// [`FrameWriter`] instead).
pub struct FrameConn<S> {
    stream: S,
    read: ReadBuffer,
    write: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FrameConn<S> {
    /// Frames over `stream`.
    pub fn new(stream: S) -> FrameConn<S> {
        FrameConn {
            stream,
            read: ReadBuffer::default(),
            write: Vec::new(),
        }
    }

    /// Writes `frame` as one JSON line and flushes it.
    pub fn send<'a, T: Serialize>(
        &'a mut self,
        frame: &'a T,
    ) -> impl Future<Output = io::Result<()>> + 'a {
        let FrameConn { stream, write, .. } = self;
        let mut written = None;
        poll_fn(move |cx| poll_send(stream, write, frame, &mut written, cx))
    }

    /// The next frame; `Ok(None)` at end of stream.
    pub fn recv<T: DeserializeOwned>(
        &mut self,
    ) -> impl Future<Output = io::Result<Option<T>>> + '_ {
        let FrameConn { stream, read, .. } = self;
        poll_fn(move |cx| read.poll_recv(stream, cx))
    }
}

/// An `io::Error` for a frame that should not be there.
pub fn unexpected(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected frame: {what}"),
    )
}

// ---- provisioner ↔ coderd -------------------------------------------------

/// Provisioner → coderd.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ProvRequest {
    /// Asks for a pending job (a long poll).
    Acquire,
    /// A build-log line for coderd to store.
    Log {
        /// The job the line belongs to.
        job: Uuid,
        /// The provisioner stage writing it.
        stage: String,
        /// The log line.
        line: String,
    },
    /// Commits a start build's cost against the owner's quota.
    CommitQuota {
        /// The job whose build is charged.
        job: Uuid,
        /// The cost per day.
        daily_cost: i64,
    },
    /// Finishes a job.
    Complete {
        /// The job.
        job: Uuid,
        /// How it ended.
        outcome: WireOutcome,
    },
}

/// How the provisioner finished a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WireOutcome {
    /// The build's resources exist.
    Succeeded,
    /// The build failed.
    Failed {
        /// The error text.
        error: String,
        /// Its code (e.g. `INSUFFICIENT_QUOTA`), if any.
        code: Option<String>,
    },
}

/// coderd → provisioner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ProvResponse {
    /// The acquired job; `None` when none was posted within the long poll.
    Job(Option<WireJob>),
    /// The request was taken.
    Ok,
    /// Whether the quota allowed the commit.
    Quota {
        /// `false`: over budget (the job fails with `INSUFFICIENT_QUOTA`).
        ok: bool,
    },
    /// The job ended; the agents a successful start build created.
    Completed {
        /// The agent rows, for the provisioner's slot commands.
        agents: Vec<WireAgent>,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
}

/// An acquired job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireJob {
    /// The job's ID.
    pub job: Uuid,
    /// The build it runs.
    pub build: Uuid,
    /// The build's workspace.
    pub workspace: Uuid,
    /// The workspace's name.
    pub workspace_name: String,
    /// `start`, `stop` or `delete`.
    pub transition: String,
    /// The template version built.
    pub version: Uuid,
    /// The plan's agents.
    pub agents: Vec<WireAgentSpec>,
    /// The build's cost per day (committed on start).
    pub daily_cost: i64,
    /// The build claims a prebuilt workspace (a shorter apply).
    pub claimed_prebuild: bool,
}

/// One agent of a job's plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireAgentSpec {
    /// The agent's name in the template.
    pub name: String,
    /// Whether a user starts it by hand (an external agent).
    pub external: bool,
    /// Its working directory (where relative paths resolve).
    pub directory: String,
}

/// An agent row a build created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireAgent {
    /// The agent row's ID.
    pub id: Uuid,
    /// The agent's name.
    pub name: String,
}

// ---- agent ↔ coderd ---------------------------------------------------------

/// Agent → coderd.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentUp {
    /// The first frame: which agent this connection is.
    Hello {
        /// The agent row's ID.
        agent: Uuid,
    },
    /// Says the agent is still alive.
    Heartbeat,
    /// The agent's lifecycle state changed.
    Lifecycle {
        /// The state's spelling (`starting`, `ready`, …).
        state: String,
    },
}

/// coderd → agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentDown {
    /// The connection is accepted.
    Welcome,
    /// No such agent: the agent stops connecting.
    Reject {
        /// Why, as coderd words it.
        reason: String,
    },
    /// A heartbeat or lifecycle report was recorded.
    Ack,
}

// ---- coderd → agent (dial) --------------------------------------------------

/// coderd's dialer → agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DialRequest {
    /// The first frame: which agent the dialer means to reach.
    Hello {
        /// The agent row's ID.
        agent: Uuid,
    },
    /// Runs a command.
    Exec {
        /// The command line.
        command: String,
    },
    /// Reads a file.
    ReadFile {
        /// Its path (relative paths resolve in the agent's directory).
        path: String,
    },
    /// Asks for the context files and skills on the agent's disk.
    Context,
}

/// Agent → coderd's dialer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DialResponse {
    /// The dial is accepted: this machine runs that agent.
    Welcome,
    /// This machine does not run that agent (a stale binding).
    UnknownAgent,
    /// A command's result.
    Exec {
        /// Its combined output.
        output: String,
        /// Its exit status.
        exit_code: i32,
    },
    /// A file's text.
    File {
        /// The whole file.
        content: String,
    },
    /// The agent's context files and skills.
    Context {
        /// The context files found (e.g. `AGENTS.md`).
        files: Vec<WireContextFile>,
        /// The skills found.
        skills: Vec<WireSkill>,
    },
    /// The request failed (e.g. no such file).
    Error {
        /// Why, as the agent words it.
        message: String,
    },
}

/// A context file as the agent read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireContextFile {
    /// Its path on the agent's disk.
    pub path: String,
    /// Its text, cut at the size limit.
    pub content: String,
    /// Whether it was cut.
    pub truncated: bool,
}

/// A skill found on the agent's disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireSkill {
    /// The skill's name.
    pub name: String,
    /// What it is for (from its front matter).
    pub description: String,
    /// The directory it lives in.
    pub dir: String,
}

// ---- driver ↔ coderd (chat API) ---------------------------------------------

/// Driver → coderd. A turn is `BeginTurn`, any number of `Call`s (several
/// in flight at once run concurrently), then `EndTurn`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ChatRequest {
    /// Starts a turn of `chat`.
    BeginTurn {
        /// The chat's name.
        chat: String,
        /// The turn's number in the run.
        turn: usize,
    },
    /// One call of the turn.
    Call {
        /// The call's number within its turn; its result carries it back.
        id: usize,
        /// What to call.
        call: Call,
    },
    /// Ends the turn.
    EndTurn,
}

/// coderd → driver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ChatResponse {
    /// A call's response.
    Result {
        /// The call it answers.
        id: usize,
        /// Its text as the model reads it.
        content: String,
        /// Whether it is an error result.
        is_error: bool,
    },
    /// The turn's context (the model's prompt) is built: the model may call.
    TurnBegun,
    /// The turn is over (every call answered).
    TurnEnded,
    /// The turn could not go on.
    Error {
        /// Why.
        message: String,
    },
    /// Sent every [`CHAT_KEEPALIVE`] while calls run: a silent turn
    /// connection is a lost one.
    KeepAlive,
}

/// How often coderd tells a turn's driver it is still working.
pub const CHAT_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a lifecycle frame and a heartbeat, then closes the stream.
    async fn send_ready_then_heartbeat<S: AsyncRead + AsyncWrite + Unpin>(mut conn: FrameConn<S>) {
        conn.send(&AgentUp::Lifecycle {
            state: "ready".into(),
        })
        .await
        .unwrap();
        conn.send(&AgentUp::Heartbeat).await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn frames_survive_partial_reads_and_report_end_of_stream() {
        let (a, b) = tokio::io::duplex(7);
        let left = FrameConn::new(a);
        let mut right = FrameConn::new(b);
        let send = async {
            send_ready_then_heartbeat(left).await;
        };
        let recv = async {
            let first: Option<AgentUp> = right.recv().await.unwrap();
            let second: Option<AgentUp> = right.recv().await.unwrap();
            let end: Option<AgentUp> = right.recv().await.unwrap();
            (first, second, end)
        };
        let ((), (first, second, end)) = tokio::join!(send, recv);
        assert_eq!(
            first,
            Some(AgentUp::Lifecycle {
                state: "ready".into()
            })
        );
        assert_eq!(second, Some(AgentUp::Heartbeat));
        assert_eq!(end, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn frames_longer_than_a_read_and_several_in_one_read_arrive_whole() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let mut left = FrameConn::new(a);
        let mut right = FrameConn::new(b);
        let long = DialResponse::File {
            content: "x".repeat(3 * READ_CHUNK + 17),
        };
        // All four frames are in the pipe before the first read.
        left.send(&AgentUp::Heartbeat).await.unwrap();
        left.send(&long).await.unwrap();
        left.send(&AgentUp::Heartbeat).await.unwrap();
        left.send(&long).await.unwrap();
        drop(left);
        assert_eq!(right.recv().await.unwrap(), Some(AgentUp::Heartbeat));
        assert_eq!(right.recv().await.unwrap(), Some(long.clone()));
        assert_eq!(right.recv().await.unwrap(), Some(AgentUp::Heartbeat));
        assert_eq!(right.recv().await.unwrap(), Some(long));
        assert_eq!(right.recv::<AgentUp>().await.unwrap(), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_frame_is_its_json_and_a_newline() {
        let (a, mut b) = tokio::io::duplex(1024);
        send_ready_then_heartbeat(FrameConn::new(a)).await;
        let mut wire = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut b, &mut wire)
            .await
            .unwrap();
        assert_eq!(
            wire,
            "{\"Lifecycle\":{\"state\":\"ready\"}}\n\"Heartbeat\"\n"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_bad_frame_is_an_error_and_the_next_one_still_reads() {
        let (mut a, b) = tokio::io::duplex(1024);
        let mut right = FrameConn::new(b);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"{nope\n\"Heartbeat\"\n")
            .await
            .unwrap();
        drop(a);
        let bad = right.recv::<AgentUp>().await.unwrap_err();
        assert_eq!(bad.kind(), io::ErrorKind::InvalidData);
        assert_eq!(right.recv().await.unwrap(), Some(AgentUp::Heartbeat));
    }
}
