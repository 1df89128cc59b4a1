//! The wire: newline-delimited JSON frames over any `AsyncRead +
//! AsyncWrite` stream, and the messages of each host's protocol.
//!
//! Reading is cancel-safe (bytes already read stay in the frame buffer), so
//! a `recv` can sit in a `select!` beside timers.

use std::io;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use uuid::Uuid;

use crate::plan::Call;

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

/// The reading side of a frame stream.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: Vec::new(),
        }
    }

    /// The next frame; `Ok(None)` at end of stream.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let frame = serde_json::from_slice(&line[..end])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                return Ok(Some(frame));
            }
            if self.buf.len() > MAX_FRAME_BYTES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too long"));
            }
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The writing side of a frame stream.
pub struct FrameWriter<W> {
    inner: W,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(inner: W) -> FrameWriter<W> {
        FrameWriter { inner }
    }

    pub async fn send<T: Serialize>(&mut self, frame: &T) -> io::Result<()> {
        let mut bytes =
            serde_json::to_vec(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        bytes.push(b'\n');
        self.inner.write_all(&bytes).await?;
        self.inner.flush().await
    }
}

/// Both sides of one stream.
pub struct FrameConn<S> {
    pub reader: FrameReader<ReadHalf<S>>,
    pub writer: FrameWriter<WriteHalf<S>>,
}

impl<S: AsyncRead + AsyncWrite> FrameConn<S> {
    pub fn new(stream: S) -> FrameConn<S> {
        let (r, w) = tokio::io::split(stream);
        FrameConn {
            reader: FrameReader::new(r),
            writer: FrameWriter::new(w),
        }
    }

    pub async fn send<T: Serialize>(&mut self, frame: &T) -> io::Result<()> {
        self.writer.send(frame).await
    }

    pub async fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        self.reader.recv().await
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
    Acquire,
    Log {
        job: Uuid,
        stage: String,
        line: String,
    },
    CommitQuota {
        job: Uuid,
        daily_cost: i64,
    },
    Complete {
        job: Uuid,
        outcome: WireOutcome,
    },
}

/// How the provisioner finished a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WireOutcome {
    Succeeded,
    Failed { error: String, code: Option<String> },
}

/// coderd → provisioner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ProvResponse {
    Job(Option<WireJob>),
    Ok,
    Quota {
        ok: bool,
    },
    /// The job ended; the agents a successful start build created.
    Completed {
        agents: Vec<WireAgent>,
    },
    Error {
        message: String,
    },
}

/// An acquired job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireJob {
    pub job: Uuid,
    pub build: Uuid,
    pub workspace: Uuid,
    pub workspace_name: String,
    /// `start`, `stop` or `delete`.
    pub transition: String,
    pub version: Uuid,
    /// The plan's agents.
    pub agents: Vec<WireAgentSpec>,
    pub daily_cost: i64,
    pub claimed_prebuild: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireAgentSpec {
    pub name: String,
    pub external: bool,
    pub directory: String,
}

/// An agent row a build created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireAgent {
    pub id: Uuid,
    pub name: String,
}

// ---- agent ↔ coderd ---------------------------------------------------------

/// Agent → coderd.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentUp {
    Hello { agent: Uuid },
    Heartbeat,
    Lifecycle { state: String },
}

/// coderd → agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentDown {
    Welcome,
    Reject { reason: String },
    Ack,
}

// ---- coderd → agent (dial) --------------------------------------------------

/// coderd's dialer → agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DialRequest {
    Hello { agent: Uuid },
    Exec { command: String },
    ReadFile { path: String },
    Context,
}

/// Agent → coderd's dialer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DialResponse {
    Welcome,
    /// This machine does not run that agent (a stale binding).
    UnknownAgent,
    Exec {
        output: String,
        exit_code: i32,
    },
    File {
        content: String,
    },
    Context {
        files: Vec<WireContextFile>,
        skills: Vec<WireSkill>,
    },
    Error {
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireContextFile {
    pub path: String,
    pub content: String,
    pub truncated: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireSkill {
    pub name: String,
    pub description: String,
    pub dir: String,
}

// ---- driver ↔ coderd (chat API) ---------------------------------------------

/// Driver → coderd. A turn is `BeginTurn`, any number of `Call`s (several
/// in flight at once run concurrently), then `EndTurn`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ChatRequest {
    BeginTurn { chat: String, turn: usize },
    Call { id: usize, call: Call },
    EndTurn,
}

/// coderd → driver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ChatResponse {
    Result {
        id: usize,
        content: String,
        is_error: bool,
    },
    /// The turn's context (the model's prompt) is built: the model may call.
    TurnBegun,
    TurnEnded,
    Error {
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

    #[tokio::test(flavor = "current_thread")]
    async fn frames_survive_partial_reads_and_report_end_of_stream() {
        let (a, b) = tokio::io::duplex(7);
        let mut left = FrameConn::new(a);
        let mut right = FrameConn::new(b);
        let send = async {
            left.send(&AgentUp::Lifecycle {
                state: "ready".into(),
            })
            .await
            .unwrap();
            left.send(&AgentUp::Heartbeat).await.unwrap();
            drop(left);
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
}
