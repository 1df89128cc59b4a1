//! The control plane between hosts and the outer loop: the infrastructure
//! commands hosts (the provisioner) and the fault schedule push, the queue
//! the outer loop drains between steps, the harness-owned agent slots and
//! the cloud provider's switches.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::transport::Interrupt;

mod calls;
mod cloud;
mod slots;

pub use calls::CallCount;
pub use cloud::{Cloud, ProviderFailure};
pub use slots::{AgentAssignment, SlotKey, SlotState, SlotTable};

/// A command for the outer loop, applied between two steps, first in first
/// out: on turmoil within a tick of its push, on the fast transport at the
/// same virtual instant (a push ends the step).
#[derive(Clone, Debug, PartialEq)]
pub enum InfraCmd {
    /// A start build succeeded: record the agent's assignment in its slot
    /// and (re)start the slot's host.
    StartAgent {
        /// The slot to start.
        slot: SlotKey,
        /// The agent it runs from now on.
        agent: AgentAssignment,
    },
    /// An external agent was provisioned: record its assignment only; a user
    /// starts it by hand.
    AssignAgent {
        /// The external agent's slot.
        slot: SlotKey,
        /// The agent it is assigned.
        agent: AgentAssignment,
    },
    /// Kill the slot's agent process (a stop build, an OOM).
    CrashAgent {
        /// The slot whose process dies.
        slot: SlotKey,
    },
    /// Restart the slot's agent process with its current assignment.
    BounceAgent {
        /// The slot whose process restarts.
        slot: SlotKey,
    },
    /// Stall (or un-stall) the slot's agent process.
    WedgeAgent {
        /// The slot whose process stalls or resumes.
        slot: SlotKey,
        /// Stall (`true`) or resume (`false`).
        wedged: bool,
    },
    /// The slot's next start provisions an agent that never connects.
    BreakNextAgentStart {
        /// The slot whose next start boots a broken image.
        slot: SlotKey,
    },
    /// Write a file on the slot's disk (it survives restarts).
    WriteFile {
        /// The slot whose disk is written.
        slot: SlotKey,
        /// The file's path.
        path: String,
        /// Its new text.
        content: String,
    },
    /// Kill a host's software.
    Crash(String),
    /// Restart a host's software from its factory.
    Bounce(String),
    /// Drop every message between two hosts.
    Partition(String, String),
    /// Hold every message between two hosts.
    Hold(String, String),
    /// Heals the link now, whatever cut it.
    Repair(String, String),
    /// Ends one timed cut: the link heals when no other cut of it remains.
    Heal(String, String),
    /// The database answers a query it was failing again.
    RestoreQuery(chatsim_engine::memory::Query),
}

impl fmt::Display for InfraCmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfraCmd::StartAgent { slot, .. } => write!(f, "start {}", slot.host_name()),
            InfraCmd::AssignAgent { slot, .. } => write!(f, "assign {}", slot.host_name()),
            InfraCmd::CrashAgent { slot } => write!(f, "crash {}", slot.host_name()),
            InfraCmd::BounceAgent { slot } => write!(f, "bounce {}", slot.host_name()),
            InfraCmd::WedgeAgent { slot, wedged } => {
                let verb = if *wedged { "wedge" } else { "unwedge" };
                write!(f, "{verb} {}", slot.host_name())
            }
            InfraCmd::BreakNextAgentStart { slot } => write!(f, "break {}", slot.host_name()),
            InfraCmd::WriteFile { slot, path, .. } => {
                write!(f, "write {} {path}", slot.host_name())
            }
            InfraCmd::Crash(h) => write!(f, "crash {h}"),
            InfraCmd::Bounce(h) => write!(f, "bounce {h}"),
            InfraCmd::Partition(a, b) => write!(f, "partition {a}<->{b}"),
            InfraCmd::Hold(a, b) => write!(f, "hold {a}<->{b}"),
            InfraCmd::Repair(a, b) => write!(f, "repair {a}<->{b}"),
            InfraCmd::Heal(a, b) => write!(f, "heal {a}<->{b}"),
            InfraCmd::RestoreQuery(q) => write!(f, "restore query {q:?}"),
        }
    }
}

/// The control queue: hosts (the provisioner) and the fault schedule push,
/// the outer loop drains between steps. A world that skips idle time ends
/// its step when something is pushed ([`ControlQueue::poll_pushed`]).
#[derive(Clone, Default)]
pub struct ControlQueue(Rc<RefCell<QueueState>>);

#[derive(Default)]
struct QueueState {
    commands: VecDeque<InfraCmd>,
    waker: Option<Waker>,
}

impl ControlQueue {
    /// An empty queue.
    pub fn new() -> ControlQueue {
        ControlQueue::default()
    }

    /// Appends `cmd` and wakes a world waiting on a push.
    pub fn push(&self, cmd: InfraCmd) {
        let mut state = self.0.borrow_mut();
        state.commands.push_back(cmd);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The oldest command, if any.
    pub fn pop(&self) -> Option<InfraCmd> {
        self.0.borrow_mut().commands.pop_front()
    }

    /// Whether no command is waiting.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().commands.is_empty()
    }
}

impl Interrupt for ControlQueue {
    /// Ready when a command is waiting; otherwise wakes `cx` at the next push.
    fn poll_pushed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.borrow_mut();
        if state.commands.is_empty() {
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}
