//! The scripted `AgentDialer`: plans by dial order, by agent ID or by agent
//! name, a record of every dial and a tracker of every connection.
//!
//! Which plan a dial follows, first match wins:
//! 1. a plan for this dial's number ([`FakeDialer::plan_dial`]: "the 2nd
//!    dial fails, the 3rd hangs");
//! 2. the agent's own plans ([`FakeDialer::plan`], [`FakeDialer::plans`]);
//! 3. a plan for the agent's name ([`FakeDialer::plan_named`]: for agents
//!    a build has not created yet);
//! 4. the default plan ([`FakeDialer::default_plan`]).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use uuid::Uuid;

use super::conns::{ConnRecord, ConnTracker, Headers};
use super::executor::ManualClock;
use crate::memory::MemStore;
use crate::model::AgentStatus;
use crate::ports::{
    AgentConn, AgentContext, AgentDialer, Clock, DialError, ExecOutput, LocalBoxFuture, Store,
};

/// What a dial does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialPlan {
    /// Succeed at once when the agent row reads connected, else hang (the
    /// default of [`World::new`]: a tailnet dial to an absent peer hangs
    /// until its deadline).
    ///
    /// [`World::new`]: super::World::new
    FollowStatus,
    /// Connect at once.
    Succeed,
    /// Connect after this long.
    SucceedAfter(Duration),
    /// Fail at once with this text.
    Fail(String),
    /// Fail after this long with this text (a dial timing out late).
    FailAfter(Duration, String),
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
    by_dial: BTreeMap<usize, DialPlan>,
    plans: BTreeMap<Uuid, Vec<DialPlan>>,
    by_name: BTreeMap<String, DialPlan>,
    default_plan: DialPlan,
    dials: Vec<DialRecord>,
    contexts: BTreeMap<Uuid, AgentContext>,
    commands: BTreeMap<String, ExecOutput>,
}

/// A scripted `AgentDialer` over the in-memory store and manual clock.
/// Clones share their plans and records.
#[derive(Clone)]
pub struct FakeDialer {
    store: Rc<MemStore>,
    clock: ManualClock,
    inactive_timeout: Rc<Cell<Duration>>,
    state: Rc<RefCell<DialerState>>,
    conns: ConnTracker,
}

impl FakeDialer {
    /// A dialer whose default plan is [`DialPlan::FollowStatus`], reading
    /// agent status from `store` at `clock`'s time with `inactive_timeout`.
    pub fn new(store: Rc<MemStore>, clock: ManualClock, inactive_timeout: Duration) -> FakeDialer {
        FakeDialer {
            store,
            clock,
            inactive_timeout: Rc::new(Cell::new(inactive_timeout)),
            state: Rc::new(RefCell::new(DialerState {
                by_dial: BTreeMap::new(),
                plans: BTreeMap::new(),
                by_name: BTreeMap::new(),
                default_plan: DialPlan::FollowStatus,
                dials: Vec::new(),
                contexts: BTreeMap::new(),
                commands: BTreeMap::new(),
            })),
            conns: ConnTracker::default(),
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

    /// The `nth` dial of this dialer (from 1, whichever agent it reaches)
    /// follows `plan`, before any per-agent plan.
    pub fn plan_dial(&self, nth: usize, plan: DialPlan) {
        assert!(nth >= 1, "dials are counted from 1");
        self.state.borrow_mut().by_dial.insert(nth, plan);
    }

    /// Dials of any agent named `name` (e.g. `main`) without a plan of its
    /// own follow `plan`.
    pub fn plan_named(&self, name: &str, plan: DialPlan) {
        self.state
            .borrow_mut()
            .by_name
            .insert(name.to_string(), plan);
    }

    /// The plan of agents without their own.
    pub fn default_plan(&self, plan: DialPlan) {
        self.state.borrow_mut().default_plan = plan;
    }

    /// The inactive-disconnect timeout [`DialPlan::FollowStatus`] reads
    /// agent status with.
    pub fn set_inactive_timeout(&self, timeout: Duration) {
        self.inactive_timeout.set(timeout);
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
        self.conns.open_count()
    }

    /// Every connection handed out so far, in order, with the headers set on
    /// it and how often it was released.
    pub fn connections(&self) -> Vec<ConnRecord> {
        self.conns.connections()
    }

    /// Every `set_extra_headers` call, in call order across connections.
    pub fn headers_sent(&self) -> Vec<Headers> {
        self.conns.headers_sent()
    }

    /// Panics unless every connection handed out was released exactly once.
    pub fn assert_released_once(&self) {
        for conn in self.conns.connections() {
            assert_eq!(conn.released, 1, "connection released once: {conn:?}");
        }
    }

    /// Records the dial; returns its number and its plan.
    fn next_plan(&self, agent_id: Uuid) -> (usize, DialPlan) {
        let name = self.store.tables().agent(agent_id).map(|a| a.name.clone());
        let mut state = self.state.borrow_mut();
        let now = self.clock.now();
        state.dials.push(DialRecord { agent_id, at: now });
        let nth = state.dials.len();
        if let Some(plan) = state.by_dial.remove(&nth) {
            return (nth, plan);
        }
        let by_name = name.and_then(|n| state.by_name.get(&n).cloned());
        let default = by_name.unwrap_or_else(|| state.default_plan.clone());
        let plan = match state.plans.get_mut(&agent_id) {
            Some(plans) if plans.len() > 1 => plans.remove(0),
            Some(plans) => plans[0].clone(),
            None => default,
        };
        (nth, plan)
    }

    /// [`DialPlan::FollowStatus`] resolved against the agent row now.
    fn follow_status(&self, agent_id: Uuid) -> DialPlan {
        let now = self.clock.now();
        let timeout = self.inactive_timeout.get();
        let connected = self
            .store
            .get_workspace_agent_by_id(agent_id)
            .is_ok_and(|a| a.status(now, timeout) == AgentStatus::Connected);
        if connected {
            DialPlan::Succeed
        } else {
            DialPlan::Hang
        }
    }

    fn connect(&self, agent_id: Uuid, dial: usize) -> Box<dyn AgentConn> {
        let state = self.state.borrow();
        let context = state.contexts.get(&agent_id).cloned().unwrap_or_default();
        let commands = state.commands.clone();
        Box::new(self.conns.open(agent_id, dial, context, commands))
    }
}

impl AgentDialer for FakeDialer {
    fn dial(
        &self,
        agent_id: Uuid,
    ) -> LocalBoxFuture<'static, Result<Box<dyn AgentConn>, DialError>> {
        let (nth, plan) = match self.next_plan(agent_id) {
            (nth, DialPlan::FollowStatus) => (nth, self.follow_status(agent_id)),
            planned => planned,
        };
        let this = self.clone();
        match plan {
            DialPlan::Succeed => {
                let conn = this.connect(agent_id, nth);
                Box::pin(async move { Ok(conn) })
            }
            DialPlan::SucceedAfter(delay) => Box::pin(async move {
                this.clock.sleep(delay).await;
                Ok(this.connect(agent_id, nth))
            }),
            DialPlan::Fail(text) => Box::pin(async move { Err(DialError(text)) }),
            DialPlan::FailAfter(delay, text) => Box::pin(async move {
                this.clock.sleep(delay).await;
                Err(DialError(text))
            }),
            DialPlan::Hang => Box::pin(futures::future::pending()),
            DialPlan::Forbidden => panic!("agent {agent_id} must not be dialed"),
            DialPlan::FollowStatus => unreachable!("resolved above"),
        }
    }
}
