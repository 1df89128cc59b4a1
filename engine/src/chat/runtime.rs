//! The public face of the connection layer: a `ChatRuntime` per chat (ports,
//! settings, the per-chat workspace lock) and a `Turn` per turn (the
//! turn's workspace context, its instruction and skills, and the tool
//! dispatcher).

use std::cell::RefCell;

use futures::lock::Mutex;
use uuid::Uuid;

use super::context_refresh::PromptState;
use super::env::{ChatEnv, ChatPorts};
use super::errors::ConnError;
use super::registry::ChatTool;
use super::settings::ChatSettings;
use super::workspace_context::{ConnHandle, WorkspaceContext};
use crate::ctx::Ctx;
use crate::model::Chat;
use crate::ports::Event;
use crate::tools::{self, ToolDefinition, ToolEnv, ToolResponse};

/// One chat's runtime: ports, settings and the lock shared by
/// create/start/stop across turns.
pub struct ChatRuntime {
    env: ChatEnv,
    workspace_mu: Mutex<()>,
}

impl ChatRuntime {
    /// The runtime of chat `chat_id`; reads nothing until a turn starts.
    pub fn new(ports: ChatPorts, settings: ChatSettings, chat_id: Uuid) -> ChatRuntime {
        ChatRuntime {
            env: ChatEnv {
                ports,
                settings,
                chat_id,
            },
            workspace_mu: Mutex::new(()),
        }
    }

    /// The chat this runtime serves.
    pub fn chat_id(&self) -> Uuid {
        self.env.chat_id
    }

    /// The deployment settings it runs with.
    pub fn settings(&self) -> &ChatSettings {
        &self.env.settings
    }

    /// Every tool a turn can call: the five workspace-lifecycle tools, then
    /// `execute` and `read_file` ([`ChatTool::all`] order).
    pub fn tool_definitions() -> Vec<ToolDefinition> {
        ChatTool::all().map(ChatTool::definition).collect()
    }

    /// The name of every tool a turn accepts, in [`tool_definitions`]
    /// order: what a scenario checker validates tool names against.
    ///
    /// [`tool_definitions`]: ChatRuntime::tool_definitions
    pub fn tool_names() -> impl Iterator<Item = &'static str> {
        ChatTool::all().map(ChatTool::name)
    }

    /// Starts a turn: reads the chat row (`load chat: <err>` on failure).
    /// `ctx` is the turn's cancellation (the user stopping the chat).
    pub fn turn(&self, ctx: Ctx) -> Result<Turn<'_>, ConnError> {
        let chat = self.env.load_chat()?;
        Ok(Turn {
            runtime: self,
            ctx,
            workspace: WorkspaceContext::new(&self.env, chat.clone()),
            chat,
            prompt: RefCell::new(PromptState::default()),
        })
    }
}

/// One turn. Dropping it (or `close`) releases the cached connection.
pub struct Turn<'r> {
    pub(super) runtime: &'r ChatRuntime,
    pub(super) ctx: Ctx,
    /// The chat row the turn started with.
    chat: Chat,
    pub(super) workspace: WorkspaceContext<'r>,
    pub(super) prompt: RefCell<PromptState>,
}

impl<'r> Turn<'r> {
    pub(super) fn env(&self) -> &'r ChatEnv {
        &self.runtime.env
    }

    /// The turn's context.
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The chat row as the turn sees it now.
    pub fn current_chat(&self) -> Chat {
        self.workspace.snapshot()
    }

    /// `getWorkspaceConn`: a cached or fresh connection to the chat's agent,
    /// or the model-facing error.
    pub async fn get_workspace_conn(&self) -> Result<ConnHandle, ConnError> {
        self.workspace.get_workspace_conn(&self.ctx).await
    }

    /// `OnChatUpdated` (§5): adopt the chat and drop the cached agent and
    /// connection, publish a status change, and — while the turn has no
    /// instruction and the chat has a workspace — mark a context pull that
    /// `before_model_step` performs. Synchronous, as `ToolEnv` needs.
    pub fn on_chat_updated(&self, chat: &Chat) {
        self.workspace.select_workspace(chat.clone());
        let env = self.env();
        env.emit(Event::ChatUpdated(chat.clone()));
        env.emit(Event::ChatStatusChange { chat_id: chat.id });
        let mut prompt = self.prompt.borrow_mut();
        if chat.workspace_id.is_some() && prompt.instruction.is_empty() {
            prompt.pending_pull = true;
        }
    }

    /// Runs a tool with the model's raw JSON input: the five lifecycle tools
    /// (with this turn's `on_chat_updated`) or a workspace tool.
    pub async fn call_tool(&self, name: &str, input: &str) -> ToolResponse {
        match ChatTool::from_name(name) {
            Some(ChatTool::Workspace(tool)) => {
                let clock = self.env().clock();
                tool.run(&self.workspace, &self.ctx, clock, input).await
            }
            Some(ChatTool::Lifecycle(tool)) => {
                let on_chat_updated = |chat: &Chat| self.on_chat_updated(chat);
                tool.run(&self.tool_env(&on_chat_updated), input).await
            }
            None => tools::unknown_tool(name, ChatRuntime::tool_names()),
        }
    }

    fn tool_env<'a>(&'a self, on_chat_updated: &'a dyn Fn(&Chat)) -> ToolEnv<'a> {
        let env = self.env();
        let ports = &env.ports;
        ToolEnv {
            store: ports.store.as_ref(),
            coderd: ports.coderd.as_deref(),
            dialer: ports.dialer.as_deref(),
            clock: ports.clock.as_ref(),
            ids: ports.ids.as_ref(),
            events: ports.events.as_ref(),
            chat_id: env.chat_id,
            organization_id: self.chat.organization_id,
            owner_id: self.chat.owner_id,
            allowed_template_ids: Some(&env.settings.allowed_template_ids),
            agent_inactive_disconnect_timeout: env.settings.agent_inactive_disconnect_timeout,
            workspace_mu: Some(&self.runtime.workspace_mu),
            on_chat_updated: Some(on_chat_updated),
            ctx: self.ctx.clone(),
            #[cfg(feature = "bugs")]
            bug: env.settings.bug,
        }
    }

    /// Ends the turn, releasing the cached connection.
    pub fn close(self) {
        self.workspace.clear_cached_workspace_state();
    }
}
