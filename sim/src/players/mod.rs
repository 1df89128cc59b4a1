//! The players: who decides a turn's calls — a script, the reference
//! model that plays the LLM ([`ReferencePolicy`]), or a persona that
//! misbehaves in one named way ([`personas`]). Sans-IO: a policy is asked
//! for its next calls and told each result; the chat driver (a host)
//! carries them over the network.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use rand::Rng;

use crate::observe::trace::ModelOutcome;
use crate::plan::{Call, ModelKind, Turn};
use rand_chacha::ChaCha8Rng;

use crate::rng::{stream, Stream};

pub mod personas;
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

    /// How long the model waits for `call`'s result before its own side
    /// gives up on it (`None`: as long as it takes).
    fn patience(&self, _call: &Call) -> Option<Duration> {
        None
    }

    /// The model gave up waiting on `call` (it will never see that result;
    /// the call runs on): its next calls.
    fn gave_up(&mut self, _call: &Call) -> Vec<Call> {
        vec![]
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

/// What the model remembers across the turns of a run: the IDs it read in
/// results (a stale-ID persona sends them later), and its own seeded
/// stream for the choices personas make.
pub struct Memory {
    ids: BTreeSet<String>,
    rng: ChaCha8Rng,
}

impl Memory {
    /// A fresh memory of the run seeded by `seed`.
    pub fn new(seed: u64) -> Memory {
        Memory {
            ids: BTreeSet::new(),
            rng: stream(seed, Stream::Players),
        }
    }

    /// Remembers every UUID in a result's `content`.
    pub fn read(&mut self, content: &str) {
        self.ids.extend(uuids_in(content));
    }

    /// The IDs read so far, in order.
    pub fn ids(&self) -> Vec<String> {
        self.ids.iter().cloned().collect()
    }
}

/// Every canonical (hyphenated, 36-byte) UUID in `text`.
fn uuids_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 36 <= bytes.len() {
        let candidate = &bytes[i..i + 36];
        let shaped = candidate.iter().enumerate().all(|(k, b)| match k {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        if shaped {
            found.push(String::from_utf8_lossy(candidate).into_owned());
            i += 36;
        } else {
            i += 1;
        }
    }
    found
}

/// The policy that plays `turn`; `memory` is the model's memory of the run.
pub fn policy_for(turn: &Turn, memory: &mut Memory) -> Box<dyn TurnPolicy> {
    let (Some(model), Some(goal)) = (turn.model, &turn.goal) else {
        return Box::new(Scripted::new(turn));
    };
    let reference = ReferencePolicy::new(
        goal.clone(),
        turn.call_cap.unwrap_or(DEFAULT_CALL_CAP),
        turn.answers.clone(),
    );
    match model {
        ModelKind::Reference => Box::new(reference),
        ModelKind::ImpatientRetrier => Box::new(personas::ImpatientRetrier::new(reference)),
        ModelKind::ParallelCaller => Box::new(personas::ParallelCaller::new(reference)),
        ModelKind::ErrorIgnorer => Box::new(personas::ErrorIgnorer::new(reference)),
        ModelKind::StaleIdSender => {
            let seed = memory.rng.gen();
            Box::new(personas::StaleIdSender::new(reference, memory.ids(), seed))
        }
        ModelKind::TimeoutRetrier => {
            let patience = personas::TimeoutRetrier::draw_patience(&mut memory.rng);
            Box::new(personas::TimeoutRetrier::new(reference, patience))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reads_every_canonical_uuid_once() {
        let mut memory = Memory::new(1);
        memory.read(r#"{"build_id":"03047a73-48e2-4dac-b5ef-30121e8e45b7","x":"not-a-uuid"}"#);
        memory.read(
            "ws 805bc2b7-28df-45d9-bf03-44fb7056e23c and 03047a73-48e2-4dac-b5ef-30121e8e45b7",
        );
        memory.read(
            "805bc2b728df45d9bf0344fb7056e23c (no dashes) 805bc2b7-28df-45d9-bf03-44fb7056e23",
        );
        assert_eq!(
            memory.ids(),
            [
                "03047a73-48e2-4dac-b5ef-30121e8e45b7",
                "805bc2b7-28df-45d9-bf03-44fb7056e23c"
            ]
        );
    }
}
