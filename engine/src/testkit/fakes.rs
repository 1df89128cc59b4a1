//! Deterministic fakes for the `Ids`, `Events`, `AgentDialer` and `Coderd`
//! ports.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use uuid::Uuid;

use crate::model::{AgentStatus, BuildParameter, WorkspaceBuild};
use crate::ports::{
    AgentConn, AgentContext, AgentDialer, Clock, Coderd, CreateWorkspaceRequest, CreatedWorkspace,
    DialError, Event, Events, ExecOutput, HookError, Ids, LocalBoxFuture, Store,
};

use super::executor::ManualClock;
use crate::memory::MemStore;

/// Sequential UUIDs: 1, 2, 3, … with a recognisable high word.
#[derive(Default)]
pub struct SeqIds {
    next: Cell<u64>,
}

impl Ids for SeqIds {
    fn new_uuid(&self) -> Uuid {
        let n = self.next.get() + 1;
        self.next.set(n);
        // Spread the counter into the first four hex digits too, so the
        // name suffixes of generated workspace names differ.
        let high = (n as u128 * 0x9e37) & 0xffff;
        Uuid::from_u128((high << 112) | n as u128)
    }
}

/// Records every event.
#[derive(Default)]
pub struct RecordingEvents {
    /// Every event so far, in emission order.
    pub events: RefCell<Vec<Event>>,
}

impl RecordingEvents {
    /// The messages of the log events so far, in order.
    pub fn logs(&self) -> Vec<String> {
        self.events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Log { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Events for RecordingEvents {
    fn emit(&self, event: Event) {
        self.events.borrow_mut().push(event);
    }
}

/// Build hooks that always fail with one error.
pub struct FailingCoderd(pub HookError);

impl Coderd for FailingCoderd {
    fn create_workspace(
        &self,
        _: Uuid,
        _: &CreateWorkspaceRequest,
    ) -> Result<CreatedWorkspace, HookError> {
        Err(self.0.clone())
    }

    fn start_workspace(
        &self,
        _: Uuid,
        _: Uuid,
        _: &[BuildParameter],
    ) -> Result<WorkspaceBuild, HookError> {
        Err(self.0.clone())
    }

    fn stop_workspace(&self, _: Uuid, _: Uuid) -> Result<WorkspaceBuild, HookError> {
        Err(self.0.clone())
    }
}

/// What a dial of one agent does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialPlan {
    /// Succeed at once when the agent row reads connected, else hang (the
    /// default: a tailnet dial to an absent peer hangs until its deadline).
    FollowStatus,
    /// Connect at once.
    Succeed,
    /// Connect after this long.
    SucceedAfter(Duration),
    /// Fail at once with this text.
    Fail(String),
    /// Never resolve (until the dial is dropped).
    Hang,
    /// The test fails if this agent is dialed.
    Forbidden,
}

/// One recorded dial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialRecord {
    /// The agent dialed.
    pub agent_id: Uuid,
    /// When the dial started.
    pub at: crate::time::Time,
}

struct DialerState {
    plans: BTreeMap<Uuid, Vec<DialPlan>>,
    default_plan: DialPlan,
    dials: Vec<DialRecord>,
    contexts: BTreeMap<Uuid, AgentContext>,
    commands: BTreeMap<String, ExecOutput>,
    open_conns: Rc<Cell<i64>>,
}

/// A scripted `AgentDialer` over the in-memory store and manual clock.
#[derive(Clone)]
pub struct FakeDialer {
    store: Rc<MemStore>,
    clock: ManualClock,
    inactive_timeout: Duration,
    state: Rc<RefCell<DialerState>>,
}

impl FakeDialer {
    /// A dialer whose default plan is [`DialPlan::FollowStatus`], reading
    /// agent status from `store` at `clock`'s time with `inactive_timeout`.
    pub fn new(store: Rc<MemStore>, clock: ManualClock, inactive_timeout: Duration) -> FakeDialer {
        FakeDialer {
            store,
            clock,
            inactive_timeout,
            state: Rc::new(RefCell::new(DialerState {
                plans: BTreeMap::new(),
                default_plan: DialPlan::FollowStatus,
                dials: Vec::new(),
                contexts: BTreeMap::new(),
                commands: BTreeMap::new(),
                open_conns: Rc::new(Cell::new(0)),
            })),
        }
    }

    /// Every dial of `agent_id` follows `plan`.
    pub fn plan(&self, agent_id: Uuid, plan: DialPlan) {
        self.state.borrow_mut().plans.insert(agent_id, vec![plan]);
    }

    /// Successive dials of `agent_id` follow `plans`; the last one repeats.
    pub fn plans(&self, agent_id: Uuid, plans: Vec<DialPlan>) {
        assert!(!plans.is_empty(), "at least one plan");
        self.state.borrow_mut().plans.insert(agent_id, plans);
    }

    /// The plan of agents without their own.
    pub fn default_plan(&self, plan: DialPlan) {
        self.state.borrow_mut().default_plan = plan;
    }

    /// What the agent reports as its context files and skills.
    pub fn context(&self, agent_id: Uuid, context: AgentContext) {
        self.state.borrow_mut().contexts.insert(agent_id, context);
    }

    /// The output of a command on any agent.
    pub fn command(&self, command: &str, output: ExecOutput) {
        self.state
            .borrow_mut()
            .commands
            .insert(command.to_string(), output);
    }

    /// Every dial so far, in order.
    pub fn dials(&self) -> Vec<DialRecord> {
        self.state.borrow().dials.clone()
    }

    /// Connections handed out and not yet released.
    pub fn open_connections(&self) -> i64 {
        self.state.borrow().open_conns.get()
    }

    fn next_plan(&self, agent_id: Uuid) -> DialPlan {
        let mut state = self.state.borrow_mut();
        let default = state.default_plan.clone();
        match state.plans.get_mut(&agent_id) {
            Some(plans) if plans.len() > 1 => plans.remove(0),
            Some(plans) => plans[0].clone(),
            None => default,
        }
    }

    fn connect(&self, agent_id: Uuid) -> Box<dyn AgentConn> {
        let state = self.state.borrow();
        state.open_conns.set(state.open_conns.get() + 1);
        Box::new(FakeConn {
            context: state.contexts.get(&agent_id).cloned().unwrap_or_default(),
            commands: state.commands.clone(),
            open_conns: state.open_conns.clone(),
        })
    }
}

impl AgentDialer for FakeDialer {
    fn dial(
        &self,
        agent_id: Uuid,
    ) -> LocalBoxFuture<'static, Result<Box<dyn AgentConn>, DialError>> {
        let now = self.clock.now();
        self.state
            .borrow_mut()
            .dials
            .push(DialRecord { agent_id, at: now });
        let plan = match self.next_plan(agent_id) {
            DialPlan::FollowStatus => {
                let connected = self
                    .store
                    .get_workspace_agent_by_id(agent_id)
                    .is_ok_and(|a| a.status(now, self.inactive_timeout) == AgentStatus::Connected);
                if connected {
                    DialPlan::Succeed
                } else {
                    DialPlan::Hang
                }
            }
            plan => plan,
        };
        let this = self.clone();
        match plan {
            DialPlan::Succeed => {
                let conn = this.connect(agent_id);
                Box::pin(async move { Ok(conn) })
            }
            DialPlan::SucceedAfter(delay) => Box::pin(async move {
                this.clock.sleep(delay).await;
                Ok(this.connect(agent_id))
            }),
            DialPlan::Fail(text) => Box::pin(async move { Err(DialError(text)) }),
            DialPlan::Hang => Box::pin(futures::future::pending()),
            DialPlan::Forbidden => panic!("agent {agent_id} must not be dialed"),
            DialPlan::FollowStatus => unreachable!("resolved above"),
        }
    }
}

struct FakeConn {
    context: AgentContext,
    commands: BTreeMap<String, ExecOutput>,
    open_conns: Rc<Cell<i64>>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.open_conns.set(self.open_conns.get() - 1);
    }
}

impl AgentConn for FakeConn {
    fn execute<'a>(&'a self, command: &'a str) -> LocalBoxFuture<'a, Result<ExecOutput, String>> {
        let output = self.commands.get(command).cloned().unwrap_or(ExecOutput {
            output: String::new(),
            exit_code: 0,
        });
        Box::pin(async move { Ok(output) })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> LocalBoxFuture<'a, Result<String, String>> {
        let found = self
            .context
            .files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.content.clone());
        Box::pin(
            async move { found.ok_or_else(|| format!("open {path}: no such file or directory")) },
        )
    }

    fn context<'a>(&'a self) -> LocalBoxFuture<'a, Result<AgentContext, String>> {
        let context = self.context.clone();
        Box::pin(async move { Ok(context) })
    }
}
