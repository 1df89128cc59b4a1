//! Connection-layer tests on the in-memory store, FakeDialer and
//! ManualClock: every branch of spec 3 §2–§5 with exact texts.

mod connection;
mod preflight;
mod recovery;
mod refresh;
mod tools;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{select, Either};
use uuid::Uuid;

use super::{ChatPorts, ChatRuntime, ChatSettings, ConnError, ConnHandle, Turn};
use crate::ctx::Ctx;
use crate::memory::MemCoderd;
use crate::model::{JobStatus, Transition, WorkspaceAgent, WorkspaceBuild};
use crate::ports::{
    AgentConn, AgentContext, AgentDialer, Clock, DialError, ExecOutput, Ids, LocalBoxFuture, Store,
};
use crate::testkit::{ManualClock, TemplateIds, World};
use crate::time::Time;

type Headers = Rc<RefCell<Vec<Vec<(String, String)>>>>;

/// Wraps the FakeDialer so the headers set on connections can be seen, and
/// adds dials that fail late (after a delay).
struct RecordingDialer {
    inner: crate::testkit::FakeDialer,
    clock: ManualClock,
    headers: Headers,
    late_failures: LateFailures,
}

type LateFailures = Rc<RefCell<BTreeMap<Uuid, (Duration, String)>>>;

struct HeaderConn {
    inner: Box<dyn AgentConn>,
    headers: Headers,
}

impl AgentConn for HeaderConn {
    fn execute<'a>(&'a self, command: &'a str) -> LocalBoxFuture<'a, Result<ExecOutput, String>> {
        self.inner.execute(command)
    }

    fn read_file<'a>(&'a self, path: &'a str) -> LocalBoxFuture<'a, Result<String, String>> {
        self.inner.read_file(path)
    }

    fn context<'a>(&'a self) -> LocalBoxFuture<'a, Result<AgentContext, String>> {
        self.inner.context()
    }

    fn set_extra_headers(&self, headers: &[(String, String)]) {
        self.headers.borrow_mut().push(headers.to_vec());
    }
}

impl AgentDialer for RecordingDialer {
    fn dial(
        &self,
        agent_id: Uuid,
    ) -> LocalBoxFuture<'static, Result<Box<dyn AgentConn>, DialError>> {
        let dial = self.inner.dial(agent_id);
        let headers = self.headers.clone();
        let late = self.late_failures.borrow().get(&agent_id).cloned();
        let clock = self.clock.clone();
        Box::pin(async move {
            let inner = match late {
                None => dial.await?,
                Some((delay, text)) => match select(dial, clock.sleep(delay)).await {
                    Either::Left((result, _)) => result?,
                    Either::Right(_) => return Err(DialError(text)),
                },
            };
            Ok(Box::new(HeaderConn { inner, headers }) as Box<dyn AgentConn>)
        })
    }
}

/// A world plus a chat runtime over its ports.
pub(super) struct Harness {
    pub world: World,
    pub runtime: ChatRuntime,
    pub headers: Headers,
    late_failures: LateFailures,
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
        let headers: Headers = Rc::default();
        let late_failures: LateFailures = Rc::default();
        let clock: Rc<dyn Clock> = Rc::new(world.clock.clone());
        let ids: Rc<dyn Ids> = world.ids.clone();
        let dialer: Rc<dyn AgentDialer> = Rc::new(RecordingDialer {
            inner: world.dialer.clone(),
            clock: world.clock.clone(),
            headers: headers.clone(),
            late_failures: late_failures.clone(),
        });
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
        Harness {
            world,
            runtime,
            headers,
            late_failures,
        }
    }

    /// Dials of `agent_id` that are still pending after `delay` fail then
    /// with `text`.
    pub fn fail_late(&self, agent_id: Uuid, delay: Duration, text: &str) {
        self.late_failures
            .borrow_mut()
            .insert(agent_id, (delay, text.to_string()));
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
