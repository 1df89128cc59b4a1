//! The `AgentDialer` port over the world's network: coderd dials the
//! agent's slot host, as a tailnet dial would reach the agent's peer.
//!
//! A host that is not there yet (unknown name, nothing bound, a peer that
//! does not run this agent, a partitioned link) is retried with a backoff;
//! a crashed or stalled agent hangs. Only the caller's deadline — the
//! engine's 30 s race, which drops this future — ends such a dial.

use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::memory::MemStore;
use chatsim_engine::ports::{
    AgentConn, AgentContext, AgentDialer, ContextFile, DialError, ExecOutput, LocalBoxFuture,
    SkillMeta,
};
use uuid::Uuid;

use crate::control::SlotKey;
use crate::hosts::proto::{DialRequest, DialResponse, FrameConn, AGENT_DIAL_PORT};
use crate::hosts::{is_retryable, CODERD};
use crate::observe::trace::{id, DialOutcome, Event, Tracer};
use crate::transport::Net;

/// Bound on the attempts of one dial (far beyond any caller's deadline).
const MAX_DIAL_ATTEMPTS: u32 = 1000;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Bound on one request over an established connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// coderd's dialer.
pub struct SimDialer<N: Net> {
    net: N,
    store: Rc<MemStore>,
    tracer: Tracer,
}

impl<N: Net> SimDialer<N> {
    /// Dials over `net`, resolving agents in `store`, tracing into `tracer`.
    pub fn new(net: N, store: Rc<MemStore>, tracer: Tracer) -> SimDialer<N> {
        SimDialer { net, store, tracer }
    }
}

impl<N: Net> AgentDialer for SimDialer<N> {
    fn dial(
        &self,
        agent_id: Uuid,
    ) -> LocalBoxFuture<'static, Result<Box<dyn AgentConn>, DialError>> {
        let net = self.net.clone();
        let store = self.store.clone();
        let guard = DialGuard {
            tracer: self.tracer.clone(),
            net: self.net.clone(),
            agent: agent_id,
            attempts: 0,
            done: false,
        };
        Box::pin(dial(net, store, agent_id, guard))
    }
}

/// The slot host that runs an agent: its build's workspace × its name.
pub fn agent_host(store: &MemStore, agent_id: Uuid) -> Option<String> {
    let t = store.tables();
    let agent = t.agent(agent_id)?;
    // Newest first: the agents dialed are recent ones (resource IDs are
    // unique, so this is the first match too).
    let resource = t
        .resources
        .iter()
        .rev()
        .find(|r| Some(r.id) == agent.resource_id)?;
    let build = t.build_of_job(resource.job_id)?;
    Some(SlotKey::new(build.workspace_id, &agent.name).host_name())
}

enum Attempt {
    Retry(String),
    Fail(String),
}

async fn dial<N: Net>(
    net: N,
    store: Rc<MemStore>,
    agent: Uuid,
    mut guard: DialGuard<N>,
) -> Result<Box<dyn AgentConn>, DialError> {
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=MAX_DIAL_ATTEMPTS {
        guard.attempts = attempt;
        match attempt_once(&net, &store, agent).await {
            Ok(conn) => {
                guard.finish(DialOutcome::Ok, None);
                return Ok(Box::new(conn));
            }
            Err(Attempt::Retry(reason)) => last = reason,
            Err(Attempt::Fail(reason)) => {
                guard.finish(DialOutcome::Error, Some(reason.clone()));
                return Err(DialError(reason));
            }
        }
        net.sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let reason = format!("dial agent {agent}: gave up after {MAX_DIAL_ATTEMPTS} attempts: {last}");
    guard.finish(DialOutcome::Error, Some(reason.clone()));
    Err(DialError(reason))
}

async fn attempt_once<N: Net>(
    net: &N,
    store: &MemStore,
    agent: Uuid,
) -> Result<SimAgentConn<N>, Attempt> {
    let host = agent_host(store, agent).ok_or_else(|| Attempt::Retry("agent not found".into()))?;
    let stream = match net.connect(&host, AGENT_DIAL_PORT).await {
        Ok(stream) => stream,
        Err(err) if is_retryable(&err) => return Err(Attempt::Retry(err.to_string())),
        Err(err) => return Err(Attempt::Fail(format!("dial agent {agent}: {err}"))),
    };
    let mut conn = FrameConn::new(stream);
    let retry = |what: &str| Attempt::Retry(what.to_string());
    conn.send(&DialRequest::Hello { agent })
        .await
        .map_err(|e| retry(&e.to_string()))?;
    match conn.recv::<DialResponse>().await {
        Ok(Some(DialResponse::Welcome)) => Ok(SimAgentConn {
            net: net.clone(),
            host,
            agent,
            _dial: conn,
        }),
        Ok(Some(DialResponse::UnknownAgent)) => Err(retry("peer does not run this agent")),
        Ok(_) => Err(retry("connection closed during handshake")),
        Err(err) => Err(retry(&err.to_string())),
    }
}

/// Traces how a dial ended — also when its caller dropped it first.
struct DialGuard<N: Net> {
    tracer: Tracer,
    net: N,
    agent: Uuid,
    attempts: u32,
    done: bool,
}

impl<N: Net> DialGuard<N> {
    fn finish(&mut self, outcome: DialOutcome, error: Option<String>) {
        self.done = true;
        self.tracer.emit(
            self.net.elapsed(),
            CODERD,
            Event::Dial {
                agent: id(self.agent),
                outcome,
                attempts: self.attempts,
                error,
            },
        );
    }
}

impl<N: Net> Drop for DialGuard<N> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(DialOutcome::Abandoned, None);
        }
    }
}

/// A live connection to an agent, like a tailnet connection: each request
/// opens its own stream (as each command is its own session), so requests
/// run concurrently. The dial's stream stays open for the connection's life;
/// dropping the connection closes it.
pub struct SimAgentConn<N: Net> {
    net: N,
    host: String,
    agent: Uuid,
    _dial: FrameConn<N::Stream>,
}

impl<N: Net> SimAgentConn<N> {
    async fn request(&self, request: DialRequest) -> Result<DialResponse, String> {
        let exchange = async {
            let stream = self
                .net
                .connect(&self.host, AGENT_DIAL_PORT)
                .await
                .map_err(|e| format!("agent connection lost: {e}"))?;
            let mut conn = FrameConn::new(stream);
            let send = |e: std::io::Error| e.to_string();
            conn.send(&DialRequest::Hello { agent: self.agent })
                .await
                .map_err(send)?;
            match conn.recv::<DialResponse>().await {
                Ok(Some(DialResponse::Welcome)) => {}
                Ok(Some(DialResponse::UnknownAgent)) => {
                    return Err("agent connection lost: peer does not run this agent".into())
                }
                _ => return Err("agent connection lost".to_string()),
            }
            conn.send(&request).await.map_err(send)?;
            match conn.recv::<DialResponse>().await {
                Ok(Some(DialResponse::Error { message })) => Err(message),
                Ok(Some(response)) => Ok(response),
                Ok(None) => Err("agent connection closed".to_string()),
                Err(err) => Err(err.to_string()),
            }
        };
        self.net
            .timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err("agent request timed out".to_string()))
    }
}

impl<N: Net> AgentConn for SimAgentConn<N> {
    fn execute<'a>(&'a self, command: &'a str) -> LocalBoxFuture<'a, Result<ExecOutput, String>> {
        Box::pin(async move {
            let request = DialRequest::Exec {
                command: command.to_string(),
            };
            match self.request(request).await? {
                DialResponse::Exec { output, exit_code } => Ok(ExecOutput { output, exit_code }),
                other => Err(format!("unexpected response {other:?}")),
            }
        })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> LocalBoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let request = DialRequest::ReadFile {
                path: path.to_string(),
            };
            match self.request(request).await? {
                DialResponse::File { content } => Ok(content),
                other => Err(format!("unexpected response {other:?}")),
            }
        })
    }

    fn context<'a>(&'a self) -> LocalBoxFuture<'a, Result<AgentContext, String>> {
        Box::pin(async move {
            match self.request(DialRequest::Context).await? {
                DialResponse::Context { files, skills } => Ok(AgentContext {
                    files: files
                        .into_iter()
                        .map(|f| ContextFile {
                            path: f.path,
                            content: f.content,
                            truncated: f.truncated,
                        })
                        .collect(),
                    skills: skills
                        .into_iter()
                        .map(|s| SkillMeta {
                            name: s.name,
                            description: s.description,
                            dir: s.dir,
                        })
                        .collect(),
                }),
                other => Err(format!("unexpected response {other:?}")),
            }
        })
    }
}
