//! The players: who decides a turn's calls — a script, or the reference
//! model that plays the LLM ([`ReferencePolicy`]). Sans-IO: a policy is
//! asked for its next calls and told each result; the chat driver (a host)
//! carries them over the network.

use std::collections::VecDeque;

use crate::observe::trace::ModelOutcome;
use crate::plan::{Call, ModelKind, Turn};

mod policy;
mod reference;

pub use policy::ReferencePolicy;
pub use reference::{Goal, Outcome, Reason, ReferenceModel, Step, ToolCall, DEFAULT_CALL_CAP};

/// A call's result as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// The response's text as the model reads it.
    pub content: String,
    /// Whether the response is an error result.
    pub is_error: bool,
}

/// Decides a turn's calls: the first batch, then more after each result.
/// A turn ends when no call is in flight and the policy has nothing to add.
pub trait TurnPolicy {
    /// The next calls, given the call that just finished (`None` at the turn's start); none ends the turn once nothing is in flight.
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call>;

    /// How a model ended the turn (traced as `model_outcome`); `None` for
    /// a script.
    fn report(&self) -> Option<ModelReport> {
        None
    }
}

/// How a model turn ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelReport {
    /// How the model ended it (`Unfinished`: the turn was cut off first).
    pub outcome: ModelOutcome,
    /// What the model told the user, if it did.
    pub reason: Option<String>,
    /// Tool calls the model made.
    pub calls: usize,
}

/// The policy that plays `turn`.
pub fn policy_for(turn: &Turn) -> Box<dyn TurnPolicy> {
    match (turn.model, &turn.goal) {
        (Some(ModelKind::Reference), Some(goal)) => Box::new(ReferencePolicy::new(
            goal.clone(),
            turn.call_cap.unwrap_or(DEFAULT_CALL_CAP),
            turn.answers.clone(),
        )),
        _ => Box::new(Scripted::new(turn)),
    }
}

/// A scripted turn: its calls in order, one at a time or all at once.
pub struct Scripted {
    calls: VecDeque<Call>,
    parallel: bool,
}

impl Scripted {
    /// The script of `turn`.
    pub fn new(turn: &Turn) -> Scripted {
        Scripted {
            calls: turn.calls.iter().cloned().collect(),
            parallel: turn.parallel,
        }
    }
}

impl TurnPolicy for Scripted {
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call> {
        match (self.parallel, finished) {
            (true, None) => self.calls.drain(..).collect(),
            (true, Some(_)) => vec![],
            (false, _) => self.calls.pop_front().into_iter().collect(),
        }
    }
}
