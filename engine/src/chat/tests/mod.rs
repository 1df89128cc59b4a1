//! Connection-layer tests on the in-memory store, FakeDialer and
//! ManualClock: every branch of spec 3 §2–§5 with exact texts.

mod connection;
mod preflight;
mod recovery;
mod refresh;
mod tools;

use std::rc::Rc;
use std::time::Duration;

use uuid::Uuid;

use super::{ChatPorts, ChatRuntime, ChatSettings, ConnError, ConnHandle, Turn};
use crate::ctx::Ctx;
use crate::memory::MemCoderd;
use crate::model::{JobStatus, Transition, WorkspaceAgent, WorkspaceBuild};
use crate::ports::{AgentDialer, Clock, Ids, Store};
use crate::testkit::{TemplateIds, World};
use crate::time::Time;

/// A world plus a chat runtime over its ports.
pub(super) struct Harness {
    pub world: World,
    pub runtime: ChatRuntime,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(ChatSettings::default())
    }

    pub fn with(settings: ChatSettings) -> Harness {
        Harness::build(settings, true)
    }

    pub fn without_dialer() -> Harness {
        Harness::build(ChatSettings::default(), false)
    }

    fn build(settings: ChatSettings, with_dialer: bool) -> Harness {
        let world = World::new();
        let clock: Rc<dyn Clock> = Rc::new(world.clock.clone());
        let ids: Rc<dyn Ids> = world.ids.clone();
        let dialer: Rc<dyn AgentDialer> = Rc::new(world.dialer.clone());
        let ports = ChatPorts {
            store: world.store.clone() as Rc<dyn Store>,
            coderd: Some(Rc::new(MemCoderd::new(
                world.store.clone(),
                clock.clone(),
                ids.clone(),
            ))),
            dialer: with_dialer.then_some(dialer),
            clock,
            ids,
            events: world.events.clone(),
        };
        let runtime = ChatRuntime::new(ports, settings, world.chat);
        Harness { world, runtime }
    }

    pub fn turn(&self) -> Turn<'_> {
        self.runtime
            .turn(Ctx::new(self.world.cancel.clone()))
            .expect("turn")
    }

    /// Template `t`, a running workspace bound to the chat, its agent
    /// connected now.
    pub fn running(&self) -> (TemplateIds, Uuid, WorkspaceAgent) {
        let template = self.world.template("t").create();
        self.running_on(template)
    }

    pub fn running_on(&self, template: TemplateIds) -> (TemplateIds, Uuid, WorkspaceAgent) {
        let (ws, _) = self
            .world
            .workspace(&template, Transition::Start, JobStatus::Succeeded);
        let agent = self.world.agents(ws)[0].clone();
        self.world.connect_agent(agent.id);
        (template, ws, agent)
    }

    /// A started workspace bound to the chat whose agent never connected.
    pub fn started(&self, template: &TemplateIds) -> (Uuid, WorkspaceAgent) {
        let (ws, _) = self
            .world
            .workspace(template, Transition::Start, JobStatus::Succeeded);
        (ws, self.world.agents(ws)[0].clone())
    }

    /// A newer start build of the workspace; its (connected) agent.
    pub fn rebuild(&self, template: &TemplateIds, ws: Uuid) -> (WorkspaceBuild, WorkspaceAgent) {
        let build = self.world.add_build(
            ws,
            template.version,
            Transition::Start,
            JobStatus::Succeeded,
        );
        let agent = self.world.agents(ws)[0].clone();
        self.world.connect_agent(agent.id);
        (build, agent)
    }

    /// Binds the chat's agent (build unchanged).
    pub fn bind_agent(&self, agent_id: Uuid) {
        let chat = self.world.chat;
        self.world
            .store
            .edit(|t| t.chat_mut(chat).expect("chat").agent_id = Some(agent_id));
    }

    pub fn dialed(&self) -> Vec<Uuid> {
        self.world
            .dialer
            .dials()
            .iter()
            .map(|d| d.agent_id)
            .collect()
    }

    pub fn elapsed(&self, start: Time) -> Duration {
        self.world.now().since(start)
    }

    pub fn logs(&self) -> Vec<String> {
        self.world.events.logs()
    }

    pub fn has_log(&self, prefix: &str) -> bool {
        self.logs().iter().any(|l| l.starts_with(prefix))
    }
}

/// The error text of a connection attempt that must fail.
pub(super) fn err_text(result: Result<ConnHandle, ConnError>) -> String {
    match result {
        Ok(_) => panic!("expected a connection error"),
        Err(err) => err.to_string(),
    }
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The connection of an attempt that must succeed.
pub(super) fn connected(result: Result<ConnHandle, ConnError>) -> ConnHandle {
    match result {
        Ok(conn) => conn,
        Err(err) => panic!("expected a connection, got: {err}"),
    }
}
