//! The programmatic API of a run: what the world holds, which faults happen
//! when, and what the chat driver does. Every type is serde-friendly (a
//! scenario file is exactly a serialized [`RunConfig`]); durations are
//! written as human strings (`"90s"`, `"2m"`, `"1h30m"`, `"250ms"`).
//!
//! In TOML (every omitted field takes its default):
//!
//! ```toml
//! seed = 7
//!
//! [settings]
//! agent_inactive_timeout = "30s"
//!
//! [world]
//! users = [{ name = "alice", quota = 10 }]
//! chats = [{ name = "main", owner = "alice" }]
//!
//! [[world.templates]]
//! name = "dev"
//! [[world.templates.versions]]
//! name = "v1"
//! daily_cost = 5
//! agents = [{ name = "main", behaviour = { files = { "AGENTS.md" = "Be brief." } } }]
//!
//! [[faults]]
//! at = "5m"
//! fault = "agent_oom"
//! workspace = "ws1"
//! agent = "main"
//!
//! [[turns]]
//! chat = "main"
//! calls = [
//!   { call = "create_workspace", template = "dev", name = "ws1" },
//!   { call = "wait_build", workspace = "ws1" },
//!   { call = "bind_chat", workspace = "ws1" },
//! ]
//!
//! [[turns]]
//! at = "7m"
//! chat = "main"
//! calls = [{ call = "tool", name = "execute", input = { command = "make test" } }]
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::bounds::Bounds;

mod duration;
mod faults;
pub mod path;
pub mod seed;
pub mod story;

pub use duration::{format_duration, parse_duration, HumanDuration};
pub use faults::{DbQuery, Fault, FaultKind};
pub use story::Story;

/// Default cap on tool calls per turn of a model.
pub const DEFAULT_CALL_CAP: usize = 12;

/// A duration written as a human string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    /// No time at all.
    pub const ZERO: Dur = Dur(Duration::ZERO);

    /// `secs` seconds.
    pub const fn secs(secs: u64) -> Dur {
        Dur(Duration::from_secs(secs))
    }

    /// `millis` milliseconds.
    pub const fn millis(millis: u64) -> Dur {
        Dur(Duration::from_millis(millis))
    }

    /// `mins` minutes.
    pub const fn mins(mins: u64) -> Dur {
        Dur(Duration::from_secs(mins * 60))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// A range of durations a seeded draw picks from (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurRange {
    /// The shortest draw.
    pub min: Dur,
    /// The longest draw.
    pub max: Dur,
}

impl DurRange {
    /// Draws between `min` and `max`.
    pub const fn new(min: Dur, max: Dur) -> DurRange {
        DurRange { min, max }
    }

    /// Always `d`.
    pub const fn fixed(d: Dur) -> DurRange {
        DurRange { min: d, max: d }
    }
}

/// One run: a seed, the world, the fault schedule and the chat turns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Drives turmoil's `rng_seed` and every component's random stream.
    #[serde(with = "seed")]
    pub seed: u64,
    /// Timings and deployment settings (defaults when omitted).
    #[serde(default)]
    pub settings: Settings,
    /// The deployment at time zero.
    pub world: WorldSpec,
    /// Faults, applied at their time (rounded up to the tick).
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
    /// The chat driver's turns, played in order.
    #[serde(default)]
    pub turns: Vec<Turn>,
}

/// Timing and deployment settings; every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// turmoil's tick: messages between hosts round up to it.
    pub tick: Dur,
    /// The run fails if the story is not over by then.
    pub max_duration: Dur,
    /// `AgentInactiveDisconnectTimeout`: a silent agent reads disconnected
    /// after this long.
    pub agent_inactive_timeout: Dur,
    /// How often an agent heartbeats.
    pub agent_heartbeat_interval: Dur,
    /// A running job without an update for this long is failed as hung.
    pub job_hang_timeout: Dur,
    /// The deadline of a user-level `exec` dial (the engine has its own).
    pub dial_timeout: Dur,
    /// How long the driver waits for one turn's results.
    pub turn_timeout: Dur,
    /// Provisioner stage durations.
    pub plan_duration: DurRange,
    /// How long the provisioner's apply stage takes.
    pub apply_duration: DurRange,
    /// How long the build of a claimed prebuild takes.
    pub claim_duration: DurRange,
    /// turmoil's `enable_random_order`: hosts are polled in a seeded random
    /// order each step (a fuzz option; the trace's first line says so).
    pub random_host_order: bool,
    /// The chat runtime's recovery gate: the minimum confirmed disconnect
    /// before stop/start advice (0 = any disconnected agent).
    pub recovery_threshold: Dur,
    /// Whether a never-connected (`timeout`) agent gets stop/start advice
    /// after a dial timeout.
    pub never_connected_recovery: bool,
    /// When a turn pulls AGENTS.md and skills from the workspace.
    pub context_refresh: ContextRefresh,
    /// Loop bounds (not read from files: tests lower them).
    #[serde(skip)]
    pub bounds: Bounds,
    /// The bug-zoo switch the run's engine, coderd and provisioner run
    /// with (`chatsim run --bug`, `chatsim fuzz --bug`; never read from a
    /// file, never read by a check).
    #[cfg(feature = "bugs")]
    #[serde(skip)]
    pub bug: Option<chatsim_engine::bugs::Bug>,
}

/// When the chat runtime pulls the workspace context.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextRefresh {
    /// On every turn of a chat with a workspace (the default).
    #[default]
    EveryTurn,
    /// Only when the history has no instruction files or the agent changed.
    OnAgentChange,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tick: Dur::millis(100),
            max_duration: Dur::mins(120),
            agent_inactive_timeout: Dur::secs(30),
            agent_heartbeat_interval: Dur::secs(10),
            job_hang_timeout: Dur::mins(5),
            dial_timeout: Dur::secs(30),
            turn_timeout: Dur::mins(30),
            plan_duration: DurRange::new(Dur::secs(2), Dur::secs(6)),
            apply_duration: DurRange::new(Dur::secs(5), Dur::secs(20)),
            claim_duration: DurRange::new(Dur::secs(1), Dur::secs(2)),
            random_host_order: false,
            recovery_threshold: Dur::secs(90),
            never_connected_recovery: false,
            context_refresh: ContextRefresh::EveryTurn,
            bounds: Bounds::default(),
            #[cfg(feature = "bugs")]
            bug: None,
        }
    }
}

/// The deployment at time zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// Organizations (default: one named [`DEFAULT_ORG`]).
    #[serde(default = "default_organizations")]
    pub organizations: Vec<OrgSpec>,
    /// Users, each in an organization with its quota.
    pub users: Vec<UserSpec>,
    /// Templates with their versions.
    #[serde(default)]
    pub templates: Vec<TemplateSpec>,
    /// Chats, each owned by a user.
    pub chats: Vec<ChatSpec>,
    /// The deployment's chat workspace TTL (a Go duration string; empty = 0).
    #[serde(default)]
    pub chat_workspace_ttl: String,
}

fn default_organizations() -> Vec<OrgSpec> {
    vec![OrgSpec {
        name: DEFAULT_ORG.to_string(),
        everyone_quota: 0,
    }]
}

/// The organization name used when a spec names none.
pub const DEFAULT_ORG: &str = "coder";

fn default_org() -> String {
    DEFAULT_ORG.to_string()
}

fn default_roles() -> Vec<String> {
    vec!["member".to_string()]
}

/// An organization at time zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSpec {
    /// Its name, which users and templates refer to.
    pub name: String,
    /// Quota allowance of the organization's Everyone group.
    #[serde(default)]
    pub everyone_quota: i64,
}

/// A user at time zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Their username.
    pub name: String,
    /// The organization they belong to.
    #[serde(default = "default_org")]
    pub organization: String,
    /// Their site roles (default `member`).
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
    /// Quota allowance of the user's own group (added to Everyone's).
    #[serde(default)]
    pub quota: i64,
}

/// A template at time zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// Its name, which calls and faults refer to.
    pub name: String,
    /// The organization that owns it.
    #[serde(default = "default_org")]
    pub organization: String,
    /// Its display name (shown by `list_templates`).
    #[serde(default)]
    pub display_name: String,
    /// Its description (shown by `list_templates`).
    #[serde(default)]
    pub description: String,
    /// Starts must use the active version.
    #[serde(default)]
    pub require_active_version: bool,
    /// Deprecated templates cannot be used to create workspaces.
    #[serde(default)]
    pub deprecated: bool,
    /// Versions in creation order; the last one is active.
    pub versions: Vec<VersionSpec>,
}

/// A template version at time zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// Its name, unique within the template.
    pub name: String,
    /// Its rich parameters.
    #[serde(default)]
    pub parameters: Vec<ParameterSpec>,
    /// Its presets (named parameter sets, optionally prebuilt).
    #[serde(default)]
    pub presets: Vec<PresetSpec>,
    /// The agents a start build provisions.
    #[serde(default = "default_agents")]
    pub agents: Vec<AgentDef>,
    /// Quota cost a start build commits.
    #[serde(default)]
    pub daily_cost: i64,
}

fn default_agents() -> Vec<AgentDef> {
    vec![AgentDef::named("main")]
}

/// A rich parameter of a template version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// Its name, which builds give values by.
    pub name: String,
    /// Its type (`string`, `number`, `bool`, `list(string)`).
    #[serde(default = "default_param_type", rename = "type")]
    pub type_: String,
    /// A value must be given when it has no default.
    #[serde(default)]
    pub required: bool,
    /// The value used when none is given.
    #[serde(default)]
    pub default: String,
    /// Its display name.
    #[serde(default)]
    pub display_name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Whether a start may change its value.
    #[serde(default = "yes")]
    pub mutable: bool,
    /// Whether its value lasts one build only.
    #[serde(default)]
    pub ephemeral: bool,
    /// Raw JSON of the options array, as stored (empty = none).
    #[serde(default)]
    pub options: String,
}

fn default_param_type() -> String {
    "string".to_string()
}

fn yes() -> bool {
    true
}

impl ParameterSpec {
    /// A string parameter; `required` with an empty default is mandatory.
    pub fn new(name: &str, required: bool, default: &str) -> ParameterSpec {
        ParameterSpec {
            name: name.to_string(),
            type_: default_param_type(),
            required,
            default: default.to_string(),
            display_name: String::new(),
            description: String::new(),
            mutable: true,
            ephemeral: false,
            options: String::new(),
        }
    }
}

/// A preset: a named set of parameter values of a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetSpec {
    /// Its name, unique within the version.
    pub name: String,
    /// The one the tools pick when the model names none.
    #[serde(default)]
    pub default: bool,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Its parameter values, by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Size of the prebuild pool the reconciler keeps.
    #[serde(default)]
    pub desired_prebuilds: Option<i32>,
}

/// One agent of a version's plan, and how its process behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDef {
    /// Its name, unique within the version.
    pub name: String,
    /// Its place in the agents' listing order.
    #[serde(default)]
    pub display_order: i32,
    /// Parent agent's name (a devcontainer sub-agent).
    #[serde(default)]
    pub parent: Option<String>,
    /// Runs outside Coder (`coder_external_agent`): started by a user.
    #[serde(default)]
    pub external: bool,
    /// 0 = no connection timeout.
    #[serde(default = "default_connection_timeout")]
    pub connection_timeout: Dur,
    /// Its OS (`linux`, `windows`, `darwin`).
    #[serde(default = "default_os")]
    pub operating_system: String,
    /// Its working directory (where relative paths resolve).
    #[serde(default = "default_directory")]
    pub directory: String,
    /// How its process behaves.
    #[serde(default)]
    pub behaviour: AgentBehaviour,
}

fn default_connection_timeout() -> Dur {
    Dur::secs(120)
}

fn default_os() -> String {
    "linux".to_string()
}

/// The agent user's home directory (`~`), also an agent's default
/// working directory.
pub const HOME: &str = "/home/coder";

fn default_directory() -> String {
    HOME.to_string()
}

impl AgentDef {
    /// A Linux agent in `/home/coder` with default behaviour.
    pub fn named(name: &str) -> AgentDef {
        AgentDef {
            name: name.to_string(),
            display_order: 0,
            parent: None,
            external: false,
            connection_timeout: default_connection_timeout(),
            operating_system: default_os(),
            directory: default_directory(),
            behaviour: AgentBehaviour::default(),
        }
    }
}

/// How an agent process behaves once started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentBehaviour {
    /// From process start to the first connection to coderd.
    pub connect_delay: DurRange,
    /// How long the startup scripts run.
    pub startup_script: DurRange,
    /// Scripts running longer end in `start_timeout` at this point.
    pub startup_timeout: Option<Dur>,
    /// The scripts fail: `start_error`.
    pub startup_fails: bool,
    /// The process never reaches coderd (the agent reads `timeout` once its
    /// connection timeout passes).
    pub never_connects: bool,
    /// Files on the workspace's disk at its first start, by path (relative
    /// paths are under the agent's directory).
    pub files: BTreeMap<String, String>,
}

impl Default for AgentBehaviour {
    fn default() -> Self {
        AgentBehaviour {
            connect_delay: DurRange::new(Dur::secs(1), Dur::secs(3)),
            startup_script: DurRange::new(Dur::secs(2), Dur::secs(8)),
            startup_timeout: None,
            startup_fails: false,
            never_connects: false,
            files: BTreeMap::new(),
        }
    }
}

/// A chat at time zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSpec {
    /// Its name, which turns and faults refer to.
    pub name: String,
    /// The owning user's name.
    pub owner: String,
    /// Template allowlist by name; empty = every template.
    #[serde(default)]
    pub allowed_templates: Vec<String>,
    /// The parent chat's name (a delegated sub-agent chat).
    #[serde(default)]
    pub parent: Option<String>,
}

/// A fault and when it happens: `at` (a virtual time) or `after_call` (right
/// after the driver received the result of its Nth call, counting every call
/// of every turn from 1) beside the fault's own fields (`fault` names it).
/// Exactly one of the two; unknown fields are rejected.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    /// Virtual time since the start of the run (zero for an `after_call` fault).
    pub at: Dur,
    /// Due once the driver has received this many call results, instead of at a time.
    pub after_call: Option<u32>,
    /// The fault itself (`fault` names its kind).
    pub fault: Fault,
}

impl ScheduledFault {
    /// `fault` at virtual time `at`.
    pub fn at(at: Dur, fault: Fault) -> ScheduledFault {
        ScheduledFault {
            at,
            after_call: None,
            fault,
        }
    }

    /// `fault` right after the result of the driver's `nth` call.
    pub fn after_call(nth: u32, fault: Fault) -> ScheduledFault {
        ScheduledFault {
            at: Dur::ZERO,
            after_call: Some(nth),
            fault,
        }
    }
}

impl Serialize for ScheduledFault {
    /// `at` or `after_call` first, then the fault's own fields.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Written<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            at: Option<Dur>,
            #[serde(skip_serializing_if = "Option::is_none")]
            after_call: Option<u32>,
            #[serde(flatten)]
            fault: &'a Fault,
        }
        Written {
            at: self.after_call.is_none().then_some(self.at),
            after_call: self.after_call,
            fault: &self.fault,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ScheduledFault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut fields = serde_json::Map::deserialize(deserializer)?;
        let at = fields.remove("at");
        let after_call = fields.remove("after_call");
        let (at, after_call) = match (at, after_call) {
            (Some(_), Some(_)) => return Err(D::Error::custom(
                "`at` and `after_call` are exclusive: a fault happens at a time or after a call",
            )),
            (None, None) => return Err(D::Error::missing_field("at` or `after_call")),
            (Some(at), None) => (Dur::deserialize(at).map_err(D::Error::custom)?, None),
            (None, Some(nth)) => {
                let nth = nth
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        D::Error::custom(format!(
                            "after_call must be a call number from 1, not {nth}"
                        ))
                    })?;
                (Dur::ZERO, Some(nth))
            }
        };
        let fault = Fault::deserialize(Value::Object(fields)).map_err(D::Error::custom)?;
        Ok(ScheduledFault {
            at,
            after_call,
            fault,
        })
    }
}

/// One turn of the chat driver: scripted calls one after another, or all at
/// once (`parallel`), or a model (`model = "reference"`) pursuing a `goal`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// A name expectations refer to the turn by (traced on `turn_start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Not before this virtual time (turns never overlap).
    #[serde(default)]
    pub at: Option<Dur>,
    /// The chat the turn belongs to.
    pub chat: String,
    /// Scripted calls, in order (none for a model turn).
    #[serde(default)]
    pub calls: Vec<Call>,
    /// Send every call at once (parallel tool calls in one model message)
    /// instead of one after another, each after the previous result.
    #[serde(default)]
    pub parallel: bool,
    /// A model plays the turn instead of a script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelKind>,
    /// What the user asked the model for (model turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// The model's cap on tool calls in this turn (default
    /// [`DEFAULT_CALL_CAP`]); reaching it is a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_cap: Option<usize>,
    /// Parameter values the user gives when the model asks (by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answers: BTreeMap<String, String>,
}

impl Turn {
    /// A scripted turn of `chat` with `calls`, one after another.
    pub fn new(chat: &str, calls: Vec<Call>) -> Turn {
        Turn {
            name: None,
            at: None,
            chat: chat.to_string(),
            calls,
            parallel: false,
            model: None,
            goal: None,
            call_cap: None,
            answers: BTreeMap::new(),
        }
    }

    /// A turn the reference model plays towards `goal`.
    pub fn reference(chat: &str, goal: Goal) -> Turn {
        Turn {
            model: Some(ModelKind::Reference),
            goal: Some(goal),
            ..Turn::new(chat, vec![])
        }
    }

    /// The same model turn played by `model` (a persona, or the reference).
    pub fn played_by(mut self, model: ModelKind) -> Turn {
        self.model = Some(model);
        self
    }

    /// The calls go out at once and run concurrently.
    pub fn parallel(mut self) -> Turn {
        self.parallel = true;
        self
    }

    /// Not before `at`.
    pub fn at(mut self, at: Dur) -> Turn {
        self.at = Some(at);
        self
    }

    /// Names the turn for expectations.
    pub fn named(mut self, name: &str) -> Turn {
        self.name = Some(name.to_string());
        self
    }

    /// A turn with no calls: the story goes on at least until `at`.
    pub fn wait_until(chat: &str, at: Dur) -> Turn {
        Turn::new(chat, vec![]).at(at)
    }

    /// Whether the turn only marks time (no calls, no model).
    pub fn is_wait(&self) -> bool {
        self.calls.is_empty() && self.model.is_none()
    }
}

/// The policy that plays a model turn: the reference model, or a persona
/// that pursues the same goal but misbehaves in one named way
/// (`players::personas`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// the reference model (`players::ReferenceModel`): follows the tools' guidance.
    Reference,
    /// Repeats a call that answered an error at once, before reading it.
    ImpatientRetrier,
    /// Sends each workspace lifecycle call twice in one message.
    ParallelCaller,
    /// Reads every error as a success and carries on.
    ErrorIgnorer,
    /// Sends stale or made-up template, preset and workspace IDs first.
    StaleIdSender,
    /// Gives up waiting on a call after a short model-side timeout and
    /// calls again; the abandoned call runs on.
    TimeoutRetrier,
}

impl ModelKind {
    /// Every model, the reference first.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Reference,
        ModelKind::ImpatientRetrier,
        ModelKind::ParallelCaller,
        ModelKind::ErrorIgnorer,
        ModelKind::StaleIdSender,
        ModelKind::TimeoutRetrier,
    ];

    /// The name scenario files and traces use.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Reference => "reference",
            ModelKind::ImpatientRetrier => "impatient_retrier",
            ModelKind::ParallelCaller => "parallel_caller",
            ModelKind::ErrorIgnorer => "error_ignorer",
            ModelKind::StaleIdSender => "stale_id_sender",
            ModelKind::TimeoutRetrier => "timeout_retrier",
        }
    }
}

/// What the user asks a model turn to do (`kind` names it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Goal {
    /// Run `command` in the chat's workspace, creating it (from `template`,
    /// else the first listed) or starting it as needed.
    RunCommand {
        /// The command line to run.
        command: String,
        /// The template to create from; `None`: the first one listed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
    },
    /// Create a workspace from `template` with these parameter values.
    CreateWorkspace {
        /// The template to create from.
        template: String,
        /// Parameter values the user gives, by name.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        parameters: BTreeMap<String, String>,
    },
    /// Start the chat's workspace.
    StartWorkspace,
    /// Stop the chat's workspace.
    StopWorkspace,
}

/// A call the driver makes. `tool` runs an engine tool as the model would;
/// the others are user actions through coderd's API (what a person does in
/// the dashboard or CLI), acting as the chat's owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case", deny_unknown_fields)]
pub enum Call {
    /// An engine tool with the model's JSON input. String values of the form
    /// `{{template:NAME}}`, `{{version:TEMPLATE}}` (active version) or
    /// `{{preset:TEMPLATE/NAME}}` are replaced by the IDs coderd knows.
    Tool {
        /// The tool's name.
        name: String,
        /// The tool's input, as the model writes it.
        #[serde(default)]
        input: Value,
    },
    /// The user creates a workspace.
    CreateWorkspace {
        /// The template's name.
        template: String,
        /// The new workspace's name.
        name: String,
        /// Parameter values, by name.
        #[serde(default)]
        parameters: BTreeMap<String, String>,
        /// The preset's name, if any.
        #[serde(default)]
        preset: Option<String>,
    },
    /// The user starts a workspace.
    StartWorkspace {
        /// The workspace's name.
        workspace: String,
        /// Parameter values for the start build, by name.
        #[serde(default)]
        parameters: BTreeMap<String, String>,
    },
    /// The user stops a workspace.
    StopWorkspace {
        /// The workspace's name.
        workspace: String,
    },
    /// Waits (polling every 2 s, up to 10 min) until the workspace's latest
    /// build has ended.
    WaitBuild {
        /// The workspace's name.
        workspace: String,
    },
    /// Binds the chat to the workspace and its current chat agent.
    BindChat {
        /// The workspace's name.
        workspace: String,
    },
    /// The user runs a command on the chat's bound agent through coderd's
    /// dialer directly (no chat runtime: no cache, no lazy validation, no
    /// recovery texts) — a probe of what the agent serves. The model's
    /// command tool is `Call::Tool { name: "execute", … }`.
    Exec {
        /// The command line to run.
        command: String,
    },
    /// Reads the chat binding and the workspace's agents.
    Inspect {
        /// The workspace's name.
        workspace: String,
    },
}

impl Call {
    /// The name traces record: the tool's, or `api.<call>`.
    pub fn trace_name(&self) -> String {
        match self {
            Call::Tool { name, .. } => name.clone(),
            Call::CreateWorkspace { .. } => "api.create_workspace".into(),
            Call::StartWorkspace { .. } => "api.start_workspace".into(),
            Call::StopWorkspace { .. } => "api.stop_workspace".into(),
            Call::WaitBuild { .. } => "api.wait_build".into(),
            Call::BindChat { .. } => "api.bind_chat".into(),
            Call::Exec { .. } => "api.exec".into(),
            Call::Inspect { .. } => "api.inspect".into(),
        }
    }

    /// A tool call.
    pub fn tool(name: &str, input: Value) -> Call {
        Call::Tool {
            name: name.to_string(),
            input,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module documentation's example parses as documented.
    #[test]
    fn the_documented_toml_example_parses() {
        let doc: String = include_str!("mod.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
            .collect::<Vec<_>>()
            .join("\n");
        let config: RunConfig = toml::from_str(&doc).expect("the example parses");
        assert_eq!(config.seed, 7);
        assert_eq!(config.world.organizations[0].name, DEFAULT_ORG);
        assert_eq!(config.world.users[0].roles, ["member"]);
        let agent = &config.world.templates[0].versions[0].agents[0];
        assert_eq!(agent.connection_timeout, Dur::secs(120));
        assert_eq!(agent.behaviour.files["AGENTS.md"], "Be brief.");
        assert_eq!(config.faults[0].at, Dur::mins(5));
        assert!(matches!(config.faults[0].fault, Fault::AgentOom { .. }));
        assert_eq!(config.turns[0].calls.len(), 3);
        assert_eq!(config.turns[1].at, Some(Dur::mins(7)));
        assert_eq!(config.settings.tick, Dur::millis(100));
    }

    #[test]
    fn unknown_fault_fields_are_rejected() {
        let bad = "seed = 1\n[world]\nusers = []\nchats = []\n[[faults]]\nat = \"1m\"\nfault = \"agent_oom\"\nworkspace = \"w\"\nagent = \"a\"\nextra = 1\n";
        let err = toml::from_str::<RunConfig>(bad).unwrap_err().to_string();
        assert!(err.contains("extra"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let bad = "seed = 1\nbogus = 2\n[world]\nusers = []\nchats = []\n";
        let err = toml::from_str::<RunConfig>(bad).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}
