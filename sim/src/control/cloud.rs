//! The cloud the provisioner provisions into: which image each template
//! version's agent boots (its behaviour), and provider failures a fault has
//! armed. Harness-owned world state, like the agents' disks.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use uuid::Uuid;

use crate::plan::AgentBehaviour;

/// A provider error armed for a coming job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderFailure {
    /// Only a job of this workspace fails; `None` = the next job.
    pub workspace: Option<Uuid>,
    /// The provider's error text (the job's `error`).
    pub error: String,
}

#[derive(Default)]
struct CloudState {
    images: BTreeMap<(Uuid, String), AgentBehaviour>,
    failures: VecDeque<ProviderFailure>,
}

/// Shared handle to the cloud.
#[derive(Clone, Default)]
pub struct Cloud(Rc<RefCell<CloudState>>);

impl Cloud {
    /// The behaviour of `agent` in template version `version`.
    pub fn image(&self, version: Uuid, agent: &str) -> AgentBehaviour {
        self.0
            .borrow()
            .images
            .get(&(version, agent.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Version `version`'s agent `agent` boots with `behaviour`.
    pub fn set_image(&self, version: Uuid, agent: &str, behaviour: AgentBehaviour) {
        self.0
            .borrow_mut()
            .images
            .insert((version, agent.to_string()), behaviour);
    }

    /// Copies every agent image of `from` to `to` (a new version of the
    /// same template boots the same images).
    pub fn copy_images(&self, from: Uuid, to: Uuid) {
        let mut state = self.0.borrow_mut();
        let copies: Vec<_> = state
            .images
            .iter()
            .filter(|((v, _), _)| *v == from)
            .map(|((_, name), b)| ((to, name.clone()), b.clone()))
            .collect();
        state.images.extend(copies);
    }

    /// Fails a later apply with `failure`, in the order armed.
    pub fn arm_failure(&self, failure: ProviderFailure) {
        self.0.borrow_mut().failures.push_back(failure);
    }

    /// Takes the first armed failure that applies to a job of `workspace`.
    pub fn take_failure(&self, workspace: Uuid) -> Option<ProviderFailure> {
        let mut state = self.0.borrow_mut();
        let index = state
            .failures
            .iter()
            .position(|f| f.workspace.is_none_or(|w| w == workspace))?;
        state.failures.remove(index)
    }
}
