//! The ports and settings every piece of the connection layer works with.

use std::rc::Rc;

use uuid::Uuid;

use super::errors::{ConnError, GET_LATEST_BUILD_PREFIX, LOAD_CHAT_PREFIX};
use super::settings::ChatSettings;
use crate::model::{Chat, WorkspaceBuild};
use crate::ports::{
    AgentConn, AgentDialer, Clock, Coderd, DialError, Event, Events, Ids, LocalBoxFuture, Store,
};
use crate::time::Time;

/// The ports a chat runtime talks to the world through.
#[derive(Clone)]
pub struct ChatPorts {
    /// The coderd database.
    pub store: Rc<dyn Store>,
    /// The build hooks; `None` = not configured.
    pub coderd: Option<Rc<dyn Coderd>>,
    /// `agentConnFn`; `None` = not configured.
    pub dialer: Option<Rc<dyn AgentDialer>>,
    /// Virtual time for every wait and timeout.
    pub clock: Rc<dyn Clock>,
    /// IDs for generated workspace names.
    pub ids: Rc<dyn Ids>,
    /// Where chat updates, dials and log lines go.
    pub events: Rc<dyn Events>,
}

/// Ports, settings and the chat: what the layer's functions share.
#[derive(Clone)]
pub(crate) struct ChatEnv {
    pub ports: ChatPorts,
    pub settings: ChatSettings,
    pub chat_id: Uuid,
}

impl ChatEnv {
    pub fn store(&self) -> &dyn Store {
        self.ports.store.as_ref()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.ports.clock.as_ref()
    }

    pub fn now(&self) -> Time {
        self.ports.clock.now()
    }

    pub fn emit(&self, event: Event) {
        self.ports.events.emit(event);
    }

    pub fn log(&self, level: &'static str, message: impl Into<String>) {
        self.emit(Event::Log {
            level,
            message: message.into(),
        });
    }

    /// Re-reads the chat row (`load chat: <err>`).
    pub fn load_chat(&self) -> Result<Chat, ConnError> {
        self.store()
            .get_chat_by_id(self.chat_id)
            .map_err(|err| ConnError::Other(format!("{LOAD_CHAT_PREFIX}{err}")))
    }

    /// The workspace's latest build (`get latest workspace build: <err>`).
    pub fn latest_build(&self, workspace_id: Uuid) -> Result<WorkspaceBuild, ConnError> {
        self.store()
            .get_latest_workspace_build_by_workspace_id(workspace_id)
            .map_err(|err| ConnError::Other(format!("{GET_LATEST_BUILD_PREFIX}{err}")))
    }

    /// Starts a dial and records it.
    pub fn dial(
        &self,
        dialer: &dyn AgentDialer,
        agent_id: Uuid,
    ) -> LocalBoxFuture<'static, Result<Box<dyn AgentConn>, DialError>> {
        self.emit(Event::Dial { agent_id });
        dialer.dial(agent_id)
    }
}
