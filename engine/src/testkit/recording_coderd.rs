//! A `Coderd` that logs every hook call as a [`CoderdCall`] and can answer
//! the Nth call of a hook itself (a failure, or a created workspace) instead
//! of the coderd behind it.
//!
//! ```ignore
//! let coderd = RecordingCoderd::over(&world);
//! coderd.fail_nth(Hook::CreateWorkspace, 1, HookError::Other("boom".into()));
//! let env = ToolEnv { coderd: Some(&coderd), ..world.env() };
//! // … run the tool, then:
//! assert_eq!(coderd.create_requests().len(), 1);
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use uuid::Uuid;

use super::world::World;
use crate::model::{BuildParameter, WorkspaceBuild};
use crate::ports::{Coderd, CreateWorkspaceRequest, CreatedWorkspace, HookError};

/// One of the three build hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hook {
    /// [`Coderd::create_workspace`].
    CreateWorkspace,
    /// [`Coderd::start_workspace`].
    StartWorkspace,
    /// [`Coderd::stop_workspace`].
    StopWorkspace,
}

/// One hook call with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are the hook's arguments, named as there
pub enum CoderdCall {
    /// `create_workspace`.
    CreateWorkspace {
        owner_id: Uuid,
        request: CreateWorkspaceRequest,
    },
    /// `start_workspace`.
    StartWorkspace {
        owner_id: Uuid,
        workspace_id: Uuid,
        parameters: Vec<BuildParameter>,
    },
    /// `stop_workspace`.
    StopWorkspace { owner_id: Uuid, workspace_id: Uuid },
}

impl CoderdCall {
    /// The hook called.
    pub fn hook(&self) -> Hook {
        match self {
            CoderdCall::CreateWorkspace { .. } => Hook::CreateWorkspace,
            CoderdCall::StartWorkspace { .. } => Hook::StartWorkspace,
            CoderdCall::StopWorkspace { .. } => Hook::StopWorkspace,
        }
    }
}

enum Answer {
    Fail(HookError),
    Created(CreatedWorkspace),
}

#[derive(Default)]
struct State {
    log: Vec<CoderdCall>,
    answers: Vec<(Hook, u32, Answer)>,
}

/// The recording coderd. Clones share one log, so a test can keep one and
/// hand another to the engine (`Rc<dyn Coderd>`).
#[derive(Clone)]
pub struct RecordingCoderd {
    inner: Rc<dyn Coderd>,
    state: Rc<RefCell<State>>,
}

impl RecordingCoderd {
    /// Passes every call to `inner` (logging it) until answers are scripted.
    pub fn new(inner: Rc<dyn Coderd>) -> RecordingCoderd {
        RecordingCoderd {
            inner,
            state: Rc::default(),
        }
    }

    /// Over the world's in-memory coderd.
    pub fn over(world: &World) -> RecordingCoderd {
        RecordingCoderd::new(Rc::new(world.coderd.clone()))
    }

    /// Every hook call so far, in order (answered ones included).
    pub fn calls(&self) -> Vec<CoderdCall> {
        self.state.borrow().log.clone()
    }

    /// How many times `hook` was called.
    pub fn count(&self, hook: Hook) -> u32 {
        let state = self.state.borrow();
        state.log.iter().filter(|c| c.hook() == hook).count() as u32
    }

    /// The request of every create call, in order.
    pub fn create_requests(&self) -> Vec<CreateWorkspaceRequest> {
        let state = self.state.borrow();
        let requests = state.log.iter().filter_map(|c| match c {
            CoderdCall::CreateWorkspace { request, .. } => Some(request.clone()),
            _ => None,
        });
        requests.collect()
    }

    /// The parameters of every start call, in order.
    pub fn start_parameters(&self) -> Vec<Vec<BuildParameter>> {
        let state = self.state.borrow();
        let parameters = state.log.iter().filter_map(|c| match c {
            CoderdCall::StartWorkspace { parameters, .. } => Some(parameters.clone()),
            _ => None,
        });
        parameters.collect()
    }

    /// The `nth` call of `hook` (from 1) fails with `error`; the coderd
    /// behind is not reached.
    pub fn fail_nth(&self, hook: Hook, nth: u32, error: HookError) -> &Self {
        self.add(hook, nth, Answer::Fail(error))
    }

    /// The `nth` create call (from 1) returns `created` without creating
    /// anything.
    pub fn create_answer_nth(&self, nth: u32, created: CreatedWorkspace) -> &Self {
        self.add(Hook::CreateWorkspace, nth, Answer::Created(created))
    }

    fn add(&self, hook: Hook, nth: u32, answer: Answer) -> &Self {
        assert!(nth >= 1, "calls are counted from 1");
        self.state.borrow_mut().answers.push((hook, nth, answer));
        self
    }

    /// Logs the call and takes its scripted answer, if any.
    fn record(&self, call: CoderdCall) -> Option<Answer> {
        let hook = call.hook();
        let mut state = self.state.borrow_mut();
        state.log.push(call);
        let nth = state.log.iter().filter(|c| c.hook() == hook).count() as u32;
        let at = state
            .answers
            .iter()
            .position(|(h, n, _)| *h == hook && *n == nth)?;
        Some(state.answers.remove(at).2)
    }
}

impl Coderd for RecordingCoderd {
    fn create_workspace(
        &self,
        owner_id: Uuid,
        request: &CreateWorkspaceRequest,
    ) -> Result<CreatedWorkspace, HookError> {
        let request_copy = request.clone();
        let call = CoderdCall::CreateWorkspace {
            owner_id,
            request: request_copy,
        };
        match self.record(call) {
            Some(Answer::Fail(error)) => Err(error),
            Some(Answer::Created(created)) => Ok(created),
            None => self.inner.create_workspace(owner_id, request),
        }
    }

    fn start_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
        parameters: &[BuildParameter],
    ) -> Result<WorkspaceBuild, HookError> {
        let call = CoderdCall::StartWorkspace {
            owner_id,
            workspace_id,
            parameters: parameters.to_vec(),
        };
        match self.record(call) {
            Some(Answer::Fail(error)) => Err(error),
            Some(Answer::Created(_)) => unreachable!("create answers match create calls"),
            None => self
                .inner
                .start_workspace(owner_id, workspace_id, parameters),
        }
    }

    fn stop_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
    ) -> Result<WorkspaceBuild, HookError> {
        let call = CoderdCall::StopWorkspace {
            owner_id,
            workspace_id,
        };
        match self.record(call) {
            Some(Answer::Fail(error)) => Err(error),
            Some(Answer::Created(_)) => unreachable!("create answers match create calls"),
            None => self.inner.stop_workspace(owner_id, workspace_id),
        }
    }
}
