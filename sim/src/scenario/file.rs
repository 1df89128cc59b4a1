//! The scenario file's serde types: `format` (the format version,
//! [`FORMAT`]), `name`, `description`, `seed`, `transport` (optional: the
//! one transport the file runs on, as `chatsim serve` records), the [`RunConfig`] fields
//! (`settings`, `world`, `faults`, `turns`) and `[expect]`. Every table
//! rejects unknown fields. The format is documented with a complete example
//! in `scenarios/README.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{Dur, DurRange, RunConfig, ScheduledFault, Settings, Turn, WorldSpec};
use crate::players::Reason;
use crate::transport::Transport;

/// The scenario format version this chatsim reads (and the default of a
/// file without `format`). A file that names another version is rejected
/// before anything else is read: its fields may mean something else.
pub const FORMAT: u32 = 1;

/// The error for a file that names format `version`.
pub fn unsupported_format(version: impl std::fmt::Display) -> String {
    format!("unsupported scenario format {version}; this chatsim reads format {FORMAT}")
}

/// A scenario file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The format version (`format = 1`); absent = [`FORMAT`]. Left out
    /// when absent, so files written without it stay without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<u32>,
    /// A short unique name (used in reports and snapshot names).
    pub name: String,
    /// The story in a sentence or two: what happens, what must hold.
    #[serde(default)]
    pub description: String,
    /// The run's seed.
    #[serde(with = "crate::plan::seed")]
    pub seed: u64,
    /// The one transport this file runs on (`"fast"` in a recording of
    /// `chatsim serve`); absent = whichever the runner picks.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "transport_name"
    )]
    pub transport: Option<Transport>,
    /// Timings and deployment settings ([`RunConfig::settings`]).
    #[serde(default)]
    pub settings: Settings,
    /// The deployment at time zero.
    pub world: WorldSpec,
    /// The fault schedule.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
    /// The chat driver's turns.
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// What must hold at the end, beyond the invariants.
    #[serde(default)]
    pub expect: Expect,
}

impl ScenarioFile {
    /// The run the scenario describes.
    pub fn run_config(&self) -> RunConfig {
        RunConfig {
            seed: self.seed,
            settings: self.settings.clone(),
            world: self.world.clone(),
            faults: self.faults.clone(),
            turns: self.turns.clone(),
        }
    }
}

/// `transport = "fast"`: a transport by the name traces use.
mod transport_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::transport::Transport;

    pub fn serialize<S: Serializer>(t: &Option<Transport>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(t.name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Transport>, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// What must hold at the end of the run (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Whether any tool result told the model to stop and then start the
    /// workspace (the engine's recovery texts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_advice: Option<bool>,
    /// How many workspaces exist at the end (deleted ones excluded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_count: Option<usize>,
    /// The model's tool calls (not `api.*` user calls), in the order sent,
    /// over the whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_order: Option<Vec<String>>,
    /// How many calls of each named tool or user call were sent.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_calls: BTreeMap<String, usize>,
    /// Final state of named workspaces.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub workspaces: BTreeMap<String, WorkspaceExpect>,
    /// Final state of the workspace each named chat is bound to.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub chats: BTreeMap<String, WorkspaceExpect>,
    /// Checks on tool responses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<ResponseExpect>,
    /// Checks on named turns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<TurnExpect>,
    /// The agents coderd dialed over the run (the chat runtime's dials and
    /// the user's `exec`), each once, in the order first dialed, named
    /// `workspace#build/agent` as the transcript does; `[]` = no dial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialed: Option<Vec<String>>,
    /// Checks on the workspace context a named turn was prompted with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<PromptExpect>,
}

/// A workspace's state at the end of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceExpect {
    /// The chat's workspace is this one (`[expect.chats.*]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The agent the chat's binding names at the end, as
    /// `workspace#build/agent` (`none`: no agent bound) —
    /// `[expect.chats.*]` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_agent: Option<String>,
    /// The latest build's transition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<TransitionName>,
    /// The latest build's job status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatusName>,
    /// The computed status of the latest build's chat agent (`none`: the
    /// latest build has no agents, e.g. after a stop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentStatusName>,
    /// How many builds the workspace has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builds: Option<usize>,
    /// The latest build's parameter values, exactly (name → value): what
    /// coderd resolved from the request, the previous build, a preset and
    /// the version's defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, String>>,
}

/// A build's transition as `[expect]` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionName {
    /// A start build.
    Start,
    /// A stop build.
    Stop,
    /// A delete build.
    Delete,
}

/// A job status as `[expect]` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatusName {
    /// Waiting for a provisioner.
    Pending,
    /// A provisioner is running it.
    Running,
    /// Ended well.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Cancel requested; the provisioner has not stopped yet.
    Canceling,
    /// Ended by a cancel.
    Canceled,
}

/// An agent's computed status as `[expect]` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatusName {
    /// Not connected yet, within its connection timeout.
    Connecting,
    /// Connected and heard from recently.
    Connected,
    /// Silent past its inactive timeout, or disconnected.
    Disconnected,
    /// Never connected within its connection timeout.
    Timeout,
    /// No status recorded (the watcher never saw the agent).
    None,
}

/// A check on the responses of one tool (or user call).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseExpect {
    /// The tool (`execute`, `create_workspace`, …) or user call
    /// (`api.wait_build`, …) whose responses are checked.
    pub tool: String,
    /// Which response: 1 = first, -1 = last. Omitted: every response of
    /// the tool (and there must be at least one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nth: Option<i64>,
    /// Whether the response is an error result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// The whole response text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Substrings the response contains.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
    /// Substrings it does not contain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lacks: Vec<String>,
    /// Top-level keys of the JSON object it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Top-level keys it does not have.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lacks_keys: Vec<String>,
    /// How long the call took, from sent to answered (inclusive bounds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took: Option<DurRange>,
}

/// A check on one named turn.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnExpect {
    /// The turn's `name`.
    pub turn: String,
    /// How the driver ended it: `done`, `timeout`, or `lost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// It ended at most this long after it began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_within: Option<Dur>,
    /// It ended by this virtual time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_by: Option<Dur>,
    /// How the model ended it (model turns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelOutcomeName>,
    /// What the model told the user (with `model = "told_user"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// How many tool calls the model made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<usize>,
}

/// A check on the workspace context (instruction and skill index) the chat
/// runtime built for a named turn: at its start (`begin`) or after an
/// `OnChatUpdated` before the next model step (`mid_turn`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptExpect {
    /// The turn's `name`.
    pub turn: String,
    /// Which prompt of the turn (default `begin`; for `mid_turn`, the first
    /// one, and there must be one).
    pub phase: PromptPhase,
    /// The whole prompt text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Substrings the prompt contains.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
    /// Substrings it does not contain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lacks: Vec<String>,
    /// The prompt was built at most this long after the turn began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<Dur>,
}

/// Which of a turn's prompts a [`PromptExpect`] checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptPhase {
    /// The one built at the turn's start.
    #[default]
    Begin,
    /// The first one pulled mid-turn, after `OnChatUpdated`.
    MidTurn,
}

/// How a model turn ended, as `[expect]` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelOutcomeName {
    /// The goal was reached.
    Done,
    /// The model told the user it cannot proceed.
    ToldUser,
    /// The model ran out of calls.
    CapExceeded,
}

/// The snake_case name serde gives a unit variant.
pub fn variant_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::players::Outcome;

    /// Expectations name exactly what the model's outcome events say.
    #[test]
    fn model_names_match_the_reference_model() {
        for reason in Reason::ALL {
            assert_eq!(variant_name(&reason), reason.as_str());
            let back: Reason = serde_json::from_value(reason.as_str().into()).unwrap();
            assert_eq!(back, reason);
        }
        for outcome in [
            Outcome::Done,
            Outcome::ToldUser(Reason::Quota),
            Outcome::CapExceeded,
        ] {
            let name: ModelOutcomeName = serde_json::from_value(outcome.as_str().into()).unwrap();
            assert_eq!(variant_name(&name), outcome.as_str());
        }
    }
}
