//! `turnWorkspaceContext` (spec 3 §2.1–§2.3): the chat row seen this turn,
//! the resolved agent, and at most one cached connection, trusted only
//! while the chat's workspace is the one it was cached for.
//!
//! Single-threaded: the state sits in a `RefCell` that is never borrowed
//! across an await, so a concurrent `select_workspace` (OnChatUpdated from
//! another tool of the turn) can change the chat while a dial is pending —
//! exactly the race §2.2 step 10 checks for.

use std::cell::RefCell;
use std::rc::Rc;

use uuid::Uuid;

use super::dial::{dial_with_lazy_validation, DialResult};
use super::env::ChatEnv;
use super::errors::{ConnError, GET_AGENT_PREFIX, PERSIST_BINDING_PREFIX};
use super::recovery::{
    external_agent_preflight, latest_workspace_agent, latest_workspace_agent_recovery_error,
};
use crate::ctx::{Ctx, CtxError};
use crate::gojson::Value;
use crate::model::{Chat, WorkspaceAgent};
use crate::ports::{AgentConn, AgentDialer, StoreError};

/// getWorkspaceConn's attempts (a workspace change mid-dial retries once).
const CONNECT_ATTEMPTS: u32 = 2;
/// The resolver's attempts.
const RESOLVE_ATTEMPTS: u32 = 2;

/// `workspacesdk.CoderChatIDHeader` (chatsim's spelling).
pub const CHAT_ID_HEADER: &str = "Coder-Chat-Id";
/// `workspacesdk.CoderAncestorChatIDsHeader` (chatsim's spelling).
pub const ANCESTOR_CHAT_IDS_HEADER: &str = "Coder-Ancestor-Chat-Ids";

/// A shared handle on a live agent connection. The cache holds one clone;
/// the connection is released when the last clone is dropped.
pub type ConnHandle = Rc<dyn AgentConn>;

#[derive(Default)]
struct CacheState {
    /// `currentChat`.
    chat: Chat,
    /// `agent` + `agentLoaded`.
    agent: Option<WorkspaceAgent>,
    conn: Option<ConnHandle>,
    cached_workspace_id: Option<Uuid>,
}

/// How one getWorkspaceConn attempt ended (when it did not fail).
enum Attempt {
    Connected(ConnHandle),
    /// The workspace changed, or a cached agent read disconnected: go again.
    Again,
}

/// The per-turn workspace context.
pub(crate) struct WorkspaceContext<'e> {
    env: &'e ChatEnv,
    state: RefCell<CacheState>,
}

impl<'e> WorkspaceContext<'e> {
    pub fn new(env: &'e ChatEnv, chat: Chat) -> WorkspaceContext<'e> {
        WorkspaceContext {
            env,
            state: RefCell::new(CacheState {
                chat,
                ..CacheState::default()
            }),
        }
    }

    /// `currentChatSnapshot`.
    pub fn snapshot(&self) -> Chat {
        self.state.borrow().chat.clone()
    }

    /// `setCurrentChat`.
    fn set_current_chat(&self, chat: Chat) {
        self.state.borrow_mut().chat = chat;
    }

    /// The resolved agent row, if any.
    pub fn cached_agent(&self) -> Option<WorkspaceAgent> {
        self.state.borrow().agent.clone()
    }

    /// `selectWorkspace`: adopt the chat row and forget agent and connection.
    pub fn select_workspace(&self, chat: Chat) {
        self.set_current_chat(chat);
        self.clear_cached_workspace_state();
    }

    /// `clearCachedWorkspaceState`: the old connection is released after the
    /// state is unlocked.
    pub fn clear_cached_workspace_state(&self) {
        let released = {
            let mut state = self.state.borrow_mut();
            state.agent = None;
            state.cached_workspace_id = None;
            state.conn.take()
        };
        drop(released);
    }

    fn workspace_matches(&self, workspace_id: Uuid) -> bool {
        self.state.borrow().chat.workspace_id == Some(workspace_id)
    }

    fn cache_agent(&self, agent: WorkspaceAgent, workspace_id: Uuid) {
        let mut state = self.state.borrow_mut();
        state.agent = Some(agent);
        state.cached_workspace_id = Some(workspace_id);
    }

    /// `getWorkspaceConnLocked` plus the cached agent ID: the cached
    /// connection when the workspace still matches; otherwise the cache is
    /// cleared and the stale connection handed back for release.
    fn lookup_cache(&self) -> (Option<(ConnHandle, Option<Uuid>)>, Option<ConnHandle>) {
        let mut state = self.state.borrow_mut();
        assert!(
            state.conn.is_none() || state.cached_workspace_id.is_some(),
            "a cached connection always has its workspace"
        );
        if state.cached_workspace_id == state.chat.workspace_id {
            if let Some(conn) = state.conn.clone() {
                let agent_id = state.agent.as_ref().map(|a| a.id);
                return (Some((conn, agent_id)), None);
            }
            return (None, None);
        }
        state.agent = None;
        state.cached_workspace_id = None;
        (None, state.conn.take())
    }

    /// `ensureWorkspaceAgent` (§2.3): the chat snapshot and its agent. A
    /// bound agent is trusted without checking that it is the latest.
    pub fn ensure_workspace_agent(&self) -> Result<(Chat, WorkspaceAgent), ConnError> {
        {
            let mut state = self.state.borrow_mut();
            match &state.agent {
                Some(agent) if state.cached_workspace_id == state.chat.workspace_id => {
                    return Ok((state.chat.clone(), agent.clone()));
                }
                _ => state.agent = None,
            }
        }
        // A retry happens when persisting the binding returns a row whose
        // workspace moved (a tool rebound the chat without OnChatUpdated);
        // the second attempt resolves for the new workspace (trusting the
        // just-written binding; lazy validation corrects it).
        for _ in 0..RESOLVE_ATTEMPTS {
            let chat = self.chat_with_workspace()?;
            let workspace_id = chat.workspace_id.expect("chat_with_workspace checked it");
            let (chat, agent) = match self.bound_agent(&chat) {
                Some(agent) => (chat, agent),
                None => self.resolve_latest_agent(workspace_id)?,
            };
            if self.workspace_matches(workspace_id) {
                self.cache_agent(agent.clone(), workspace_id);
                return Ok((chat, agent));
            }
        }
        Err(ConnError::WorkspaceChangedWhileResolving)
    }

    /// The snapshot, re-read from the DB when it has no workspace yet
    /// (`loadChatSnapshot`: a tool may have created one mid-turn).
    fn chat_with_workspace(&self) -> Result<Chat, ConnError> {
        let chat = self.snapshot();
        if chat.workspace_id.is_some() {
            return Ok(chat);
        }
        let chat = self.env.load_chat()?;
        self.set_current_chat(chat.clone());
        match chat.workspace_id {
            Some(_) => Ok(chat),
            None => Err(ConnError::NoWorkspace),
        }
    }

    /// The chat's bound agent row; `None` falls through to re-resolution
    /// (silently for a missing row, with a log line for other errors).
    fn bound_agent(&self, chat: &Chat) -> Option<WorkspaceAgent> {
        match self.env.store().get_workspace_agent_by_id(chat.agent_id?) {
            Ok(agent) => Some(agent),
            Err(StoreError::NotFound) => None,
            Err(err) => {
                self.env.log(
                    "warn",
                    format!("agent binding lookup failed, re-resolving: {err}"),
                );
                None
            }
        }
    }

    /// Re-resolution: the latest build's chat agent, persisted as the
    /// chat's binding.
    fn resolve_latest_agent(
        &self,
        workspace_id: Uuid,
    ) -> Result<(Chat, WorkspaceAgent), ConnError> {
        let agent = latest_workspace_agent(self.env, workspace_id)?;
        let build = self.env.latest_build(workspace_id)?;
        let chat = self.persist_build_agent_binding(build.id, agent.id)?;
        Ok((chat, agent))
    }

    /// `persistBuildAgentBinding`: writes build and agent to the chat and
    /// adopts the updated row.
    fn persist_build_agent_binding(
        &self,
        build_id: Uuid,
        agent_id: Uuid,
    ) -> Result<Chat, ConnError> {
        let chat = self
            .env
            .store()
            .update_chat_build_agent_binding(self.env.chat_id, Some(build_id), Some(agent_id))
            .map_err(|err| ConnError::Other(format!("{PERSIST_BINDING_PREFIX}{err}")))?;
        self.set_current_chat(chat.clone());
        Ok(chat)
    }

    /// `workspaceAgentIDForConn`: which agent a connection would reach. With
    /// a workspace and agent bound this is a DB lookup of the latest agent
    /// (no dial); otherwise the resolver decides.
    pub fn workspace_agent_id_for_conn(&self) -> Result<Uuid, ConnError> {
        let chat = self.snapshot();
        let (Some(workspace_id), Some(_)) = (chat.workspace_id, chat.agent_id) else {
            return self.ensure_workspace_agent().map(|(_, agent)| agent.id);
        };
        latest_workspace_agent(self.env, workspace_id)
            .map(|agent| agent.id)
            .inspect_err(|err| {
                if err.is_no_agent() {
                    self.clear_cached_workspace_state();
                }
            })
    }

    /// `getWorkspaceConn` (§2.2).
    pub async fn get_workspace_conn(&self, ctx: &Ctx) -> Result<ConnHandle, ConnError> {
        let Some(dialer) = self.env.ports.dialer.clone() else {
            return Err(ConnError::NotConfigured);
        };
        for _ in 0..CONNECT_ATTEMPTS {
            match self.connect_attempt(ctx, dialer.as_ref()).await? {
                Attempt::Connected(conn) => return Ok(conn),
                Attempt::Again => continue,
            }
        }
        Err(ConnError::WorkspaceChangedWhileConnecting)
    }

    async fn connect_attempt(
        &self,
        ctx: &Ctx,
        dialer: &dyn AgentDialer,
    ) -> Result<Attempt, ConnError> {
        let (hit, stale) = self.lookup_cache();
        if let Some((conn, agent_id)) = hit {
            let checked = self.check_cached(conn, agent_id);
            #[cfg(feature = "bugs")]
            if matches!(checked, Attempt::Again)
                && crate::bugs::Bug::CacheHitSentinel.on(self.env.settings.bug)
            {
                return Err(ConnError::AgentDisconnected);
            }
            return Ok(checked);
        }
        drop(stale);
        let (chat, agent) = self.ensure_workspace_agent()?;
        if let Some(err) = external_agent_preflight(self.env, chat.workspace_id, &agent) {
            return Err(err);
        }
        let workspace_id = chat
            .workspace_id
            .expect("the resolver returns a chat with a workspace");
        let dialed = self.dial(ctx, dialer, &agent, workspace_id).await?;
        if dialed.was_switched {
            self.adopt_switched_agent(&dialed, workspace_id)?;
        }
        if !self.workspace_matches(workspace_id) {
            drop(dialed);
            self.clear_cached_workspace_state();
            return Ok(Attempt::Again);
        }
        Ok(Attempt::Connected(self.install(dialed.conn, workspace_id)))
    }

    /// Cache hit: re-read the agent row so the latest heartbeat counts. A
    /// computed disconnect drops the cache (and the caller re-dials); a DB
    /// error trusts the cache.
    fn check_cached(&self, conn: ConnHandle, agent_id: Option<Uuid>) -> Attempt {
        let Some(agent_id) = agent_id else {
            return Attempt::Connected(conn);
        };
        let settings = &self.env.settings;
        match self.env.store().get_workspace_agent_by_id(agent_id) {
            Err(err) => {
                self.env.log(
                    "warn",
                    format!("failed to re-fetch agent for status check: {err}"),
                );
                Attempt::Connected(conn)
            }
            Ok(row)
                if row
                    .disconnected_for(self.env.now(), settings.agent_inactive_disconnect_timeout)
                    .is_some() =>
            {
                drop(conn);
                self.clear_cached_workspace_state();
                Attempt::Again
            }
            Ok(_) => Attempt::Connected(conn),
        }
    }

    /// Steps 6–8: the dial under its timeout, and the one rewrite: a dial
    /// timeout while the caller's context is alive becomes the recovery
    /// classification. Everything else passes through.
    async fn dial(
        &self,
        ctx: &Ctx,
        dialer: &dyn AgentDialer,
        agent: &WorkspaceAgent,
        workspace_id: Uuid,
    ) -> Result<DialResult, ConnError> {
        let clock = self.env.clock();
        let dial_ctx = ctx.with_timeout(clock, self.env.settings.dial_timeout);
        let err =
            match dial_with_lazy_validation(self.env, dialer, &dial_ctx, agent.id, workspace_id)
                .await
            {
                Ok(dialed) => return Ok(dialed),
                Err(err) => err,
            };
        if err.is_no_agent() {
            self.clear_cached_workspace_state();
            return Err(err);
        }
        let parent_alive = ctx.err(clock).is_none();
        let timed_out = dial_ctx.err(clock) == Some(CtxError::DeadlineExceeded);
        if parent_alive && timed_out {
            self.clear_cached_workspace_state();
            return Err(latest_workspace_agent_recovery_error(
                self.env,
                workspace_id,
                agent.id,
            ));
        }
        Err(err)
    }

    /// Step 9: lazy validation reached a newer agent: persist the latest
    /// build and that agent as the chat's binding and cache the agent. On
    /// failure the caller drops (releases) the new connection.
    fn adopt_switched_agent(
        &self,
        dialed: &DialResult,
        workspace_id: Uuid,
    ) -> Result<(), ConnError> {
        let build = self.env.latest_build(workspace_id)?;
        let agent = self
            .env
            .store()
            .get_workspace_agent_by_id(dialed.agent_id)
            .map_err(|err| ConnError::Other(format!("{GET_AGENT_PREFIX}{err}")))?;
        self.persist_build_agent_binding(build.id, agent.id)?;
        self.cache_agent(agent, workspace_id);
        Ok(())
    }

    /// Step 11: the first writer wins; a connection that lost is released.
    fn install(&self, conn: Box<dyn AgentConn>, workspace_id: Uuid) -> ConnHandle {
        debug_assert!(self.workspace_matches(workspace_id));
        let fresh: ConnHandle = Rc::from(conn);
        let (conn, loser) = {
            let mut state = self.state.borrow_mut();
            match state.conn.clone() {
                Some(cached) => (cached, Some(fresh)),
                None => {
                    state.conn = Some(fresh.clone());
                    state.cached_workspace_id = Some(workspace_id);
                    (fresh, None)
                }
            }
        };
        if loser.is_none() {
            conn.set_extra_headers(&chat_headers(&self.snapshot()));
            self.env.log("debug", "set chat headers on agent conn");
        }
        drop(loser);
        conn
    }
}

/// The headers set on a fresh connection: the chat ID, and the ancestor
/// chat IDs as JSON (`["<parent>"]`, or `null` for a root chat, as Go
/// marshals a nil list).
pub fn chat_headers(chat: &Chat) -> Vec<(String, String)> {
    let ancestors = match chat.parent_chat_id {
        Some(parent) => Value::Array(vec![Value::from(parent)]),
        None => Value::Null,
    };
    vec![
        (CHAT_ID_HEADER.to_string(), chat.id.to_string()),
        (ANCESTOR_CHAT_IDS_HEADER.to_string(), ancestors.to_json()),
    ]
}
