//! Agent slots: one host per workspace × agent name, registered at its first
//! start and reused for every later build. The slot table is harness-owned
//! (it is the machine, not the database): the provisioner's commands write
//! which agent a slot runs, faults write its disk and stall it, and the
//! agent's factory reads it on every bounce.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use uuid::Uuid;

use crate::plan::AgentBehaviour;

/// A slot: a workspace's agent by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlotKey {
    /// The workspace's ID (stable across builds and renames).
    pub workspace_id: Uuid,
    /// The agent's name in the template.
    pub agent: String,
}

impl SlotKey {
    /// The slot of agent `agent` in workspace `workspace_id`.
    pub fn new(workspace_id: Uuid, agent: &str) -> SlotKey {
        SlotKey {
            workspace_id,
            agent: agent.to_string(),
        }
    }

    /// The slot's host name: stable across builds and renames.
    pub fn host_name(&self) -> String {
        let ws = self.workspace_id.simple().to_string();
        format!("agent-{}-{}", &ws[..12], self.agent)
    }
}

/// What one start build provisioned into a slot.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentAssignment {
    /// The agent row's ID.
    pub agent_id: Uuid,
    /// The build that provisioned it.
    pub build_id: Uuid,
    /// Its working directory.
    pub directory: String,
    /// How its process behaves (the version's image).
    pub behaviour: AgentBehaviour,
    /// Seed of this start's random draws (script durations).
    pub seed: u64,
}

/// One slot's machine state.
#[derive(Debug)]
pub struct SlotState {
    /// Which slot this is.
    pub key: SlotKey,
    /// The agent the machine runs (the latest start's).
    pub assignment: RefCell<Option<AgentAssignment>>,
    /// Files on the workspace's disk, by absolute path; they survive
    /// restarts and rebuilds.
    pub disk: RefCell<BTreeMap<String, String>>,
    /// A stalled process: no heartbeats, dials accepted but never answered.
    pub wedged: Cell<bool>,
    /// The next start's agent never connects (a broken image).
    pub break_next_start: Cell<bool>,
    /// How many times the process was started (bounces included).
    pub starts: Cell<u32>,
}

impl SlotState {
    /// A slot with nothing assigned yet.
    pub fn new(key: SlotKey) -> SlotState {
        SlotState {
            key,
            assignment: RefCell::new(None),
            disk: RefCell::new(BTreeMap::new()),
            wedged: Cell::new(false),
            break_next_start: Cell::new(false),
            starts: Cell::new(0),
        }
    }
}

/// Every slot of the run.
#[derive(Clone, Default)]
pub struct SlotTable(Rc<RefCell<BTreeMap<SlotKey, Rc<SlotState>>>>);

impl SlotTable {
    /// The slot at `key`, if it was ever registered.
    pub fn get(&self, key: &SlotKey) -> Option<Rc<SlotState>> {
        self.0.borrow().get(key).cloned()
    }

    /// The slot, created empty if new. Returns whether it was new.
    pub fn get_or_create(&self, key: &SlotKey) -> (Rc<SlotState>, bool) {
        if let Some(slot) = self.get(key) {
            return (slot, false);
        }
        let slot = Rc::new(SlotState::new(key.clone()));
        let fresh = self
            .0
            .borrow_mut()
            .insert(key.clone(), slot.clone())
            .is_none();
        assert!(fresh, "slot {} created twice", key.host_name());
        (slot, true)
    }
}
