//! The reference model as the driver's [`TurnPolicy`]: the driver asks it
//! for the first call, then for the next one after each response, until it
//! ends the turn (done, told the user, or out of calls).

use serde_json::Value;

use super::reference::{Outcome, ReferenceModel, Step, ToolCall};
use super::{CallResult, ModelReport, TurnPolicy};
use crate::observe::trace::ModelOutcome;
use crate::plan::{Call, Goal};

/// A turn played by [`ReferenceModel`].
pub struct ReferencePolicy {
    model: ReferenceModel,
    outcome: Option<Outcome>,
}

impl ReferencePolicy {
    /// The reference model pursuing `goal` in at most `call_cap` calls, with the user's `answers`.
    pub fn new(
        goal: Goal,
        call_cap: usize,
        answers: std::collections::BTreeMap<String, String>,
    ) -> Self {
        ReferencePolicy {
            model: ReferenceModel::new(goal, call_cap, answers),
            outcome: None,
        }
    }

    fn act(&mut self, step: Step) -> Vec<Call> {
        match step {
            Step::Call(call) => vec![tool_call(&call)],
            Step::End(outcome) => {
                self.outcome = Some(outcome);
                vec![]
            }
        }
    }
}

/// The model's call as the driver sends it (its arguments are JSON the
/// model wrote; anything else is sent as a string, as a model might).
fn tool_call(call: &ToolCall) -> Call {
    let input = serde_json::from_str(&call.arguments)
        .unwrap_or_else(|_| Value::String(call.arguments.clone()));
    Call::tool(&call.name, input)
}

impl TurnPolicy for ReferencePolicy {
    fn next(&mut self, finished: Option<(&Call, &CallResult)>) -> Vec<Call> {
        if self.outcome.is_some() {
            return vec![];
        }
        let step = match finished {
            None => self.model.start(),
            Some((call, result)) => {
                let input = match call {
                    Call::Tool { input, .. } => input.to_string(),
                    _ => String::new(),
                };
                let made = ToolCall {
                    name: call.trace_name(),
                    arguments: input,
                };
                self.model.next(&made, &result.content, result.is_error)
            }
        };
        self.act(step)
    }

    fn report(&self) -> Option<ModelReport> {
        let (outcome, reason) = match &self.outcome {
            Some(outcome) => (
                outcome.kind(),
                outcome.reason().map(|r| r.as_str().to_string()),
            ),
            None => (ModelOutcome::Unfinished, None),
        };
        Some(ModelReport {
            outcome,
            reason,
            calls: self.model.calls(),
        })
    }
}
