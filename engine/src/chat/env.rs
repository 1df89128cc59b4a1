//! The ports and settings every piece of the connection layer works with.

use std::rc::Rc;

use uuid::Uuid;

use super::settings::ChatSettings;
use crate::ports::{
    AgentConn, AgentDialer, Clock, Coderd, DialError, Event, Events, Ids, LocalBoxFuture, Store,
};
use crate::time::Time;

/// The ports a chat runtime talks to the world through.
#[derive(Clone)]
pub struct ChatPorts {
    pub store: Rc<dyn Store>,
    /// The build hooks; `None` = not configured.
    pub coderd: Option<Rc<dyn Coderd>>,
    /// `agentConnFn`; `None` = not configured.
    pub dialer: Option<Rc<dyn AgentDialer>>,
    pub clock: Rc<dyn Clock>,
    pub ids: Rc<dyn Ids>,
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
