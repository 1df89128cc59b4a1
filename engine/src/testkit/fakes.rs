//! Deterministic fakes for the `Ids`, `Events` and `Coderd` ports (the
//! dialer is in `dialer`).

use std::cell::{Cell, RefCell};

use uuid::Uuid;

use crate::model::{BuildParameter, WorkspaceBuild};
use crate::ports::{
    Coderd, CreateWorkspaceRequest, CreatedWorkspace, Event, Events, HookError, Ids,
};

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
