//! The trace: one typed [`Record`] per event, with its virtual time and
//! host, in the order the events happened. Checks, views and tests read
//! the records; text exists only at the edge: [`Trace::text`] writes one
//! JSON line per record (`{"t":"<secs>.<millis>","host":…,"ev":"<kind>",…}`),
//! [`Trace::hash`] (FNV-1a 64 over those bytes) names a trace in one short
//! string, [`Trace::first_difference`] points at the first line two runs
//! differ, and [`Trace::parse`] reads text back, failing on a bad line.
//! Same seed and transport → byte-identical text.
//!
//! Records are in the order events happened in the simulation. Hosts run
//! one after another within a tick, so two records of different hosts in
//! one tick may carry times slightly out of order; within one host times
//! never go back. Wall time never enters a trace. Times are kept to the
//! millisecond the text writes, so a trace read back equals the one written.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chatsim_engine::model::{AgentStatus, JobStatus, LifecycleState, Transition};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::plan::ModelKind;
use crate::transport::Transport;

/// A closed set of names, each spelled once: `as_str`, `parse`, `ALL`,
/// `Display`, and serde as the spelling.
macro_rules! names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every name, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The spelling traces use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }

            /// Parses the spelling; `None` for anything else.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $( $text => Some($name::$variant), )*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text)
                    .ok_or_else(|| D::Error::unknown_variant(&text, &[$($text),*]))
            }
        }
    };
}

/// One event. Serialized (inside a [`Record`]) as `"ev":"<kind>"` and its
/// fields in declared order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// First record: what ran, on which transport.
    RunStart {
        /// The transport the run used.
        transport: Transport,
        /// The run's seed (every random stream derives from it).
        seed: u64,
        /// turmoil's tick in milliseconds; 0 on the fast transport.
        tick_ms: u64,
        /// Hosts polled in a seeded random order (a fuzz option).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        random_order: bool,
    },
    /// Last record: how the run ended.
    RunEnd {
        /// Whether the story ended or why the run failed.
        outcome: RunEnding,
    },
    /// A scheduled fault took effect.
    Fault {
        /// The fault's kind (its scenario-file name).
        name: String,
        /// Its parameters, as the scenario file writes them.
        params: Value,
    },
    /// A scheduled fault had nothing to act on (e.g. its workspace does not exist).
    FaultSkipped {
        /// The fault's kind.
        name: String,
        /// Why it had nothing to act on.
        reason: String,
    },
    /// The outer loop changed the infrastructure (crash, bounce, partition, …).
    Infra {
        /// What was done (or skipped).
        action: InfraAction,
        /// What it was done to: a host, a link (`a<->b`), a file
        /// (`host:path`) or a query.
        target: String,
    },
    /// What an ID names: the harness lists the world's organizations,
    /// users, templates, versions (`template/version`), presets
    /// (`template/version/preset`) and chats in the first records; coderd
    /// adds versions an operator pushes.
    Entity {
        /// What the ID names.
        kind: EntityKind,
        /// Its name in the run's config (`template/version` for a version).
        name: String,
        /// The UUID coderd gave it.
        id: String,
    },
    /// The driver began a turn (`name`: the scenario's name for it;
    /// `model`: the policy playing it, when not scripted).
    TurnStart {
        /// The chat the turn is for.
        chat: String,
        /// The turn's number in the run, from 0.
        turn: usize,
        /// The scenario's name for the turn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The policy playing the turn; `None` for a script.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<ModelKind>,
    },
    /// How a model turn ended (`reason`: what it told the user), after
    /// `calls` tool calls.
    ModelOutcome {
        /// The turn it ended.
        turn: usize,
        /// How it ended.
        outcome: ModelOutcome,
        /// What the model told the user, if it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Tool calls it made in the turn.
        calls: usize,
    },
    /// The driver finished a turn.
    TurnEnd {
        /// The turn's number in the run.
        turn: usize,
        /// How the driver finished it.
        outcome: TurnEnding,
    },
    /// The driver sent a call (a tool, or a user API call named `api.<kind>`).
    ToolCall {
        /// The turn the call belongs to.
        turn: usize,
        /// The call's number within its turn, from 0.
        call: usize,
        /// The tool (or `api.<kind>`) called.
        name: String,
        /// The call's arguments as JSON text.
        input: String,
    },
    /// The response the driver received.
    ToolResult {
        /// The turn the call belongs to.
        turn: usize,
        /// The call's number within its turn, matching its [`Event::ToolCall`].
        call: usize,
        /// The tool (or `api.<kind>`) called.
        name: String,
        /// Whether the response is an error result.
        is_error: bool,
        /// The response's text as the model reads it.
        content: String,
    },
    /// The model's own side gave up waiting on a call (a persona's
    /// timeout): the model never reads its result; the call runs on in
    /// coderd and its result is still traced when it arrives.
    CallAbandoned {
        /// The turn the call belongs to.
        turn: usize,
        /// The call's number within its turn.
        call: usize,
        /// The tool called.
        name: String,
    },
    /// A provisioner job changed state, as coderd recorded it.
    Job {
        /// The workspace's name.
        workspace: String,
        /// The build's ID.
        build: String,
        /// The build number within its workspace.
        number: i32,
        /// Start, stop or delete.
        #[serde(with = "spelled")]
        transition: Transition,
        /// The job's new status.
        #[serde(with = "spelled")]
        status: JobStatus,
        /// The job's error, once it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The error's code (e.g. `INSUFFICIENT_QUOTA`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
    },
    /// coderd's build hook `hook` inserted a build and its pending job, on
    /// behalf of `by`; `external_agent` says whether the build's template
    /// version has an external agent.
    Enqueue {
        /// Who asked for the build.
        by: Requester,
        /// The hook that inserted it.
        hook: Hook,
        /// The workspace's name.
        workspace: String,
        /// The workspace's ID.
        workspace_id: String,
        /// The new build's ID.
        build: String,
        /// The build number within its workspace.
        number: i32,
        /// Start, stop or delete.
        #[serde(with = "spelled")]
        transition: Transition,
        /// The template's name.
        template: String,
        /// The template version's name.
        version: String,
        /// Whether that version has an external agent.
        external_agent: bool,
    },
    /// The provisioner committed a start build's cost; `ok: false` fails the
    /// build with `INSUFFICIENT_QUOTA`.
    QuotaCommit {
        /// The start build's ID.
        build: String,
        /// The cost committed against the owner's quota.
        daily_cost: i64,
        /// Whether the quota allowed it.
        ok: bool,
    },
    /// A build-log line coderd stored for a build.
    BuildLog {
        /// The build's ID.
        build: String,
        /// The provisioner stage that wrote it (init, plan, apply, …).
        stage: String,
        /// The log line.
        line: String,
    },
    /// coderd accepted an agent connection.
    AgentConnect {
        /// The agent's ID.
        agent: String,
        /// The agent's name.
        name: String,
    },
    /// coderd lost an agent connection.
    AgentDisconnect {
        /// The agent's ID.
        agent: String,
        /// How the connection was lost.
        reason: DisconnectReason,
    },
    /// An agent reported a lifecycle state.
    AgentLifecycle {
        /// The agent's ID.
        agent: String,
        /// The state reported.
        #[serde(with = "spelled")]
        state: LifecycleState,
    },
    /// The computed status of an agent of a latest build changed (or, while
    /// disconnected, its disconnected-since time did); `from: None` (`"none"`)
    /// when coderd's watcher had not seen the agent. `workspace` and
    /// `build` place the agent; `chat_agent` says whether it is the one
    /// the chat rule picks among its build's agents; `since` is the
    /// disconnected-since time (trace time) the status is computed from.
    AgentStatus {
        /// The agent's ID.
        agent: String,
        /// The agent's name.
        name: String,
        /// The status before; `None` when the watcher had not seen the agent.
        #[serde(with = "status_or_none")]
        from: Option<AgentStatusKind>,
        /// The status now.
        to: AgentStatusKind,
        /// The agent's workspace's name.
        #[serde(default)]
        workspace: String,
        /// The agent's build's ID.
        #[serde(default)]
        build: String,
        /// Whether the chat rule picks this agent.
        #[serde(default)]
        chat_agent: bool,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "opt_time_text"
        )]
        /// The disconnected-since time the status is computed from.
        since: Option<Duration>,
    },
    /// coderd's dialer finished a dial.
    Dial {
        /// The agent's ID.
        agent: String,
        /// How the dial ended.
        outcome: DialOutcome,
        /// Connection attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// `OnChatUpdated` fired with this binding.
    ChatUpdated {
        /// The chat's name.
        chat: String,
        /// The bound workspace's ID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace: Option<String>,
        /// The bound build's ID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        build: Option<String>,
        /// The bound agent's ID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// The chat runtime built the turn's workspace context.
    TurnContext {
        /// The chat's name.
        chat: String,
        /// The turn's number in the run.
        turn: usize,
        /// When in the turn the context was built.
        phase: ContextPhase,
        /// The system-prompt text (instruction, then the skill index).
        prompt: String,
    },
    /// coderd finished building a call's response: the instant the
    /// truthfulness oracle reads the world at (the driver's `tool_result`
    /// for the call comes later, over the network). `quota` and `template`
    /// are what coderd's database held then for the claims the trace cannot
    /// rebuild; each is present only when the response makes that claim.
    Response {
        /// The turn the call belongs to.
        turn: usize,
        /// The call's number within its turn.
        call: usize,
        /// The owner's quota, when the response reports one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quota: Option<QuotaTruth>,
        /// The template read, when the response describes one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<TemplateTruth>,
    },
    /// An event the engine emitted through the `Events` port.
    Engine {
        /// Which engine event.
        kind: EngineEventKind,
        /// Its text (a status, a dial target, a log line).
        detail: String,
    },
}

/// An event's kind: its variant without the payload. Serialized as the
/// `ev` tag (serde derives both spellings from the variant names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// [`Event::RunStart`].
    RunStart,
    /// [`Event::RunEnd`].
    RunEnd,
    /// [`Event::Fault`].
    Fault,
    /// [`Event::FaultSkipped`].
    FaultSkipped,
    /// [`Event::Infra`].
    Infra,
    /// [`Event::Entity`].
    Entity,
    /// [`Event::TurnStart`].
    TurnStart,
    /// [`Event::ModelOutcome`].
    ModelOutcome,
    /// [`Event::TurnEnd`].
    TurnEnd,
    /// [`Event::ToolCall`].
    ToolCall,
    /// [`Event::ToolResult`].
    ToolResult,
    /// [`Event::CallAbandoned`].
    CallAbandoned,
    /// [`Event::Job`].
    Job,
    /// [`Event::Enqueue`].
    Enqueue,
    /// [`Event::QuotaCommit`].
    QuotaCommit,
    /// [`Event::BuildLog`].
    BuildLog,
    /// [`Event::AgentConnect`].
    AgentConnect,
    /// [`Event::AgentDisconnect`].
    AgentDisconnect,
    /// [`Event::AgentLifecycle`].
    AgentLifecycle,
    /// [`Event::AgentStatus`].
    AgentStatus,
    /// [`Event::Dial`].
    Dial,
    /// [`Event::ChatUpdated`].
    ChatUpdated,
    /// [`Event::TurnContext`].
    TurnContext,
    /// [`Event::Response`].
    Response,
    /// [`Event::Engine`].
    Engine,
}

impl Event {
    /// The event's kind (its `ev` tag).
    pub fn kind(&self) -> EventKind {
        match self {
            Event::RunStart { .. } => EventKind::RunStart,
            Event::RunEnd { .. } => EventKind::RunEnd,
            Event::Fault { .. } => EventKind::Fault,
            Event::FaultSkipped { .. } => EventKind::FaultSkipped,
            Event::Infra { .. } => EventKind::Infra,
            Event::Entity { .. } => EventKind::Entity,
            Event::TurnStart { .. } => EventKind::TurnStart,
            Event::ModelOutcome { .. } => EventKind::ModelOutcome,
            Event::TurnEnd { .. } => EventKind::TurnEnd,
            Event::ToolCall { .. } => EventKind::ToolCall,
            Event::ToolResult { .. } => EventKind::ToolResult,
            Event::CallAbandoned { .. } => EventKind::CallAbandoned,
            Event::Job { .. } => EventKind::Job,
            Event::Enqueue { .. } => EventKind::Enqueue,
            Event::QuotaCommit { .. } => EventKind::QuotaCommit,
            Event::BuildLog { .. } => EventKind::BuildLog,
            Event::AgentConnect { .. } => EventKind::AgentConnect,
            Event::AgentDisconnect { .. } => EventKind::AgentDisconnect,
            Event::AgentLifecycle { .. } => EventKind::AgentLifecycle,
            Event::AgentStatus { .. } => EventKind::AgentStatus,
            Event::Dial { .. } => EventKind::Dial,
            Event::ChatUpdated { .. } => EventKind::ChatUpdated,
            Event::TurnContext { .. } => EventKind::TurnContext,
            Event::Response { .. } => EventKind::Response,
            Event::Engine { .. } => EventKind::Engine,
        }
    }
}

/// The owner's quota as coderd's database held it when a response was
/// built (spec 1 §3.7: consumed over the latest build of each live
/// workspace, allowance over the owner's groups).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaTruth {
    /// Credits consumed.
    pub credits_consumed: i64,
    /// The allowance.
    pub budget: i64,
}

/// A template as coderd's database held it when a response was built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateTruth {
    /// The template's ID.
    pub id: String,
    /// Its active version's ID.
    pub active_version_id: String,
    /// The active version's parameters, by name, in DB order.
    pub parameters: Vec<ParameterTruth>,
}

/// One parameter of a template version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterTruth {
    /// Its name.
    pub name: String,
    /// Whether a value must be given.
    pub required: bool,
    /// Its default value (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default: String,
}

names! {
    /// Why coderd lost an agent connection.
    pub enum DisconnectReason {
        /// End of stream (a crash or a closed connection), recorded as
        /// `disconnected_at`.
        Eof = "eof",
        /// No heartbeat within the deadline; not recorded.
        Stale = "stale",
    }
}

names! {
    /// What the outer loop did to the infrastructure; `*Skipped`: it had
    /// nothing to act on (an unregistered host, a link already in that
    /// state, an agent slot with no assignment).
    pub enum InfraAction {
        /// A host's software was stopped.
        Crash = "crash",
        /// See [`InfraAction::Crash`].
        CrashSkipped = "crash_skipped",
        /// A host's software was restarted from its factory.
        Bounce = "bounce",
        /// See [`InfraAction::Bounce`].
        BounceSkipped = "bounce_skipped",
        /// A link started dropping every message.
        Partition = "partition",
        /// See [`InfraAction::Partition`].
        PartitionSkipped = "partition_skipped",
        /// A link started holding every message.
        Hold = "hold",
        /// See [`InfraAction::Hold`].
        HoldSkipped = "hold_skipped",
        /// A link was healed (held messages delivered).
        Repair = "repair",
        /// See [`InfraAction::Repair`].
        RepairSkipped = "repair_skipped",
        /// A timed cut ended while another still holds the link.
        HealDeferred = "heal_deferred",
        /// A database query fault was lifted.
        RestoreQuery = "restore_query",
        /// A slot's agent got its assignment and was (re)started.
        StartAgent = "start_agent",
        /// An external agent's slot got its assignment only.
        AssignAgent = "assign_agent",
        /// A slot's agent process was killed.
        CrashAgent = "crash_agent",
        /// See [`InfraAction::CrashAgent`].
        CrashAgentSkipped = "crash_agent_skipped",
        /// A slot's agent process was restarted.
        BounceAgent = "bounce_agent",
        /// See [`InfraAction::BounceAgent`].
        BounceAgentSkipped = "bounce_agent_skipped",
        /// A slot's agent process stalled.
        WedgeAgent = "wedge_agent",
        /// A stalled agent process resumed.
        UnwedgeAgent = "unwedge_agent",
        /// A slot's next start boots a broken image.
        BreakNextAgentStart = "break_next_agent_start",
        /// A file was written on a slot's disk.
        WriteFile = "write_file",
    }
}

names! {
    /// How a model turn ended.
    pub enum ModelOutcome {
        /// The goal was reached.
        Done = "done",
        /// The model told the user it cannot proceed (with a reason).
        ToldUser = "told_user",
        /// The model ran out of calls for the turn.
        CapExceeded = "cap_exceeded",
        /// The turn was cut off before the model ended it.
        Unfinished = "unfinished",
    }
}

names! {
    /// How coderd's dialer finished a dial.
    pub enum DialOutcome {
        /// A connection to the agent was made.
        Ok = "ok",
        /// The dial failed with an error.
        Error = "error",
        /// Its caller gave up first (the engine's dial timeout).
        Abandoned = "abandoned",
    }
}

names! {
    /// When the chat runtime built a turn's workspace context.
    pub enum ContextPhase {
        /// At the start of the turn.
        Begin = "begin",
        /// Pulled mid-turn after `OnChatUpdated`.
        MidTurn = "mid_turn",
    }
}

names! {
    /// Which of coderd's build hooks enqueued a build.
    pub enum Hook {
        /// A new workspace's first build.
        Create = "create",
        /// A start build of an existing workspace.
        Start = "start",
        /// A stop build.
        Stop = "stop",
    }
}

names! {
    /// What an [`Event::Entity`] names.
    pub enum EntityKind {
        /// An organization.
        Organization = "organization",
        /// A user.
        User = "user",
        /// A template.
        Template = "template",
        /// A template version, named `template/version`.
        Version = "version",
        /// A preset, named `template/version/preset`.
        Preset = "preset",
        /// A chat.
        Chat = "chat",
    }
}

names! {
    /// Which engine event an [`Event::Engine`] carries.
    pub enum EngineEventKind {
        /// The chat's status changed.
        ChatStatusChange = "chat_status_change",
        /// The runtime started dialing an agent.
        DialStart = "dial_start",
        /// A log line.
        Log = "log",
    }
}

names! {
    /// An agent's computed connection status: the engine's
    /// [`AgentStatus`] without its disconnected-since time (traced apart).
    pub enum AgentStatusKind {
        /// Not connected yet, within its connection timeout.
        Connecting = "connecting",
        /// Never connected within its connection timeout.
        Timeout = "timeout",
        /// Connected and heard from recently.
        Connected = "connected",
        /// Silent past its inactive timeout, or disconnected.
        Disconnected = "disconnected",
    }
}

impl From<AgentStatus> for AgentStatusKind {
    fn from(status: AgentStatus) -> AgentStatusKind {
        match status {
            AgentStatus::Connecting => AgentStatusKind::Connecting,
            AgentStatus::Timeout => AgentStatusKind::Timeout,
            AgentStatus::Connected => AgentStatusKind::Connected,
            AgentStatus::Disconnected { .. } => AgentStatusKind::Disconnected,
        }
    }
}

impl AgentStatusKind {
    /// `isAgentUnreachable`: disconnected or timed out.
    pub fn is_unreachable(self) -> bool {
        matches!(
            self,
            AgentStatusKind::Disconnected | AgentStatusKind::Timeout
        )
    }
}

/// A name with free text after a fixed prefix: `<name>` or
/// `<name>: <text>`.
fn split_detail(text: &str) -> (&str, Option<&str>) {
    match text.split_once(": ") {
        Some((name, detail)) => (name, Some(detail)),
        None => (text, None),
    }
}

/// How a run ended: `ok`, or `error: <the run's error>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunEnding {
    /// The story ended.
    Ok,
    /// The run failed, with why.
    Error(String),
}

impl fmt::Display for RunEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunEnding::Ok => f.write_str("ok"),
            RunEnding::Error(error) => write!(f, "error: {error}"),
        }
    }
}

impl RunEnding {
    /// Parses the spelling [`Display`](fmt::Display) writes.
    pub fn parse(text: &str) -> Option<RunEnding> {
        match split_detail(text) {
            ("ok", None) => Some(RunEnding::Ok),
            ("error", Some(error)) => Some(RunEnding::Error(error.to_string())),
            _ => None,
        }
    }
}

/// How the driver finished a turn: `done`, `timeout` (the turn's time
/// limit), or `lost: <error>` (its connection to coderd).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TurnEnding {
    /// The policy had nothing more to call.
    Done,
    /// The turn ran past its time limit.
    Timeout,
    /// The connection to coderd failed, with its error.
    Lost(String),
}

impl TurnEnding {
    /// The spelling without the error text: `done`, `timeout` or `lost`.
    pub fn name(&self) -> &'static str {
        match self {
            TurnEnding::Done => "done",
            TurnEnding::Timeout => "timeout",
            TurnEnding::Lost(_) => "lost",
        }
    }

    /// Parses the spelling [`Display`](fmt::Display) writes.
    pub fn parse(text: &str) -> Option<TurnEnding> {
        match split_detail(text) {
            ("done", None) => Some(TurnEnding::Done),
            ("timeout", None) => Some(TurnEnding::Timeout),
            ("lost", Some(error)) => Some(TurnEnding::Lost(error.to_string())),
            _ => None,
        }
    }
}

impl fmt::Display for TurnEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TurnEnding::Lost(error) => write!(f, "lost: {error}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Who asked coderd's build hooks for a build: a chat's tools
/// (`chat:<name>`), the user API (`user`) or the prebuild reconciler
/// (`prebuild`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Requester {
    /// The named chat's tools.
    Chat(String),
    /// coderd's user API.
    User,
    /// The prebuild reconciler.
    Prebuild,
}

impl Requester {
    /// The chat's name, when a chat's tools asked.
    pub fn chat(&self) -> Option<&str> {
        match self {
            Requester::Chat(chat) => Some(chat),
            _ => None,
        }
    }

    /// Parses the spelling [`Display`](fmt::Display) writes.
    pub fn parse(text: &str) -> Option<Requester> {
        match text {
            "user" => Some(Requester::User),
            "prebuild" => Some(Requester::Prebuild),
            _ => text
                .strip_prefix("chat:")
                .map(|chat| Requester::Chat(chat.to_string())),
        }
    }
}

impl fmt::Display for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requester::Chat(chat) => write!(f, "chat:{chat}"),
            Requester::User => f.write_str("user"),
            Requester::Prebuild => f.write_str("prebuild"),
        }
    }
}

/// Serde as the `Display` spelling, read back with `parse`.
macro_rules! serde_as_text {
    ($($name:ident: $what:literal),* $(,)?) => {$(
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text)
                    .ok_or_else(|| D::Error::custom(format!("bad {}: {text:?}", $what)))
            }
        }
    )*};
}

serde_as_text!(
    RunEnding: "run outcome",
    TurnEnding: "turn outcome",
    Requester: "requester",
);

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Transport, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// The engine's enums, written with their own spelling (`as_str`) and
/// read back with their `parse`.
pub trait Spelled: Sized + Copy {
    /// What the spelling names, for errors.
    const WHAT: &'static str;
    /// The value's spelling.
    fn spelling(self) -> &'static str;
    /// Parses a spelling; `None` for anything else.
    fn from_spelling(text: &str) -> Option<Self>;
}

impl Spelled for Transition {
    const WHAT: &'static str = "transition";
    fn spelling(self) -> &'static str {
        self.as_str()
    }
    fn from_spelling(text: &str) -> Option<Self> {
        Transition::parse(text)
    }
}

impl Spelled for JobStatus {
    const WHAT: &'static str = "job status";
    fn spelling(self) -> &'static str {
        self.as_str()
    }
    fn from_spelling(text: &str) -> Option<Self> {
        JobStatus::parse(text)
    }
}

impl Spelled for LifecycleState {
    const WHAT: &'static str = "lifecycle state";
    fn spelling(self) -> &'static str {
        self.as_str()
    }
    fn from_spelling(text: &str) -> Option<Self> {
        LifecycleState::parse(text)
    }
}

/// `#[serde(with = "spelled")]` for a [`Spelled`] engine enum.
mod spelled {
    use super::*;

    pub fn serialize<T: Spelled, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.spelling())
    }

    pub fn deserialize<'de, T: Spelled, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        T::from_spelling(&text)
            .ok_or_else(|| D::Error::custom(format!("unknown {} {text:?}", T::WHAT)))
    }
}

/// An agent's previous status, `"none"` when it had none.
mod status_or_none {
    use super::*;

    const NONE: &str = "none";

    pub fn serialize<S: Serializer>(
        value: &Option<AgentStatusKind>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.map_or(NONE, AgentStatusKind::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<AgentStatusKind>, D::Error> {
        let text = String::deserialize(d)?;
        if text == NONE {
            return Ok(None);
        }
        AgentStatusKind::parse(&text)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("unknown agent status {text:?}")))
    }
}

/// A virtual time as `<secs>.<millis>`.
mod time_text {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&TimeText(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_time(&text).ok_or_else(|| D::Error::custom(format!("bad time {text:?}")))
    }
}

/// An optional virtual time as `<secs>.<millis>`.
mod opt_time_text {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => time_text::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse_time(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("bad time {text:?}"))),
        }
    }
}

/// One event with its virtual time (whole milliseconds) and host.
/// Serialized as `{"t":"<secs>.<millis>","host":…,"ev":"<kind>",…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Virtual time since the start of the run.
    #[serde(rename = "t", with = "time_text")]
    pub at: Duration,
    /// The host that wrote the event.
    pub host: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// The record as one JSON line (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("trace records serialize")
    }
}

/// `at` cut to the whole milliseconds a trace keeps.
pub fn trace_time(at: Duration) -> Duration {
    Duration::from_millis(at.as_millis() as u64)
}

/// Writes a time as `<secs>.<millis>` without allocating.
struct TimeText(Duration);

impl fmt::Display for TimeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        write!(f, "{}.{:03}", ms / 1000, ms % 1000)
    }
}

/// Formats a virtual time as the trace writes it.
pub fn format_time(at: Duration) -> String {
    TimeText(at).to_string()
}

/// Parses a time as the trace writes it: `<secs>.<millis>`, decimal
/// digits only, exactly three of them after the point.
pub fn parse_time(text: &str) -> Option<Duration> {
    let (secs, millis) = text.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(millis) || millis.len() != 3 {
        return None;
    }
    let ms = secs.parse::<u64>().ok()?.checked_mul(1000)?;
    Some(Duration::from_millis(ms.checked_add(millis.parse().ok()?)?))
}

/// A UUID as traces write it.
pub fn id(uuid: Uuid) -> String {
    uuid.to_string()
}

/// An optional UUID as traces write it.
pub fn opt_id(uuid: Option<Uuid>) -> Option<String> {
    uuid.map(id)
}

/// The writer every host shares (one thread, so `Rc`). It keeps typed
/// records; no text is made while a run goes.
#[derive(Clone, Default)]
pub struct Tracer {
    records: Rc<RefCell<Vec<Record>>>,
}

impl Tracer {
    /// An empty trace writer.
    pub fn new() -> Tracer {
        Tracer::default()
    }

    /// Appends one event at virtual time `at` (kept to the millisecond).
    pub fn emit(&self, at: Duration, host: &str, event: Event) {
        let record = Record {
            at: trace_time(at),
            host: host.to_string(),
            event,
        };
        self.records.borrow_mut().push(record);
    }

    /// A copy of everything written so far.
    pub fn snapshot(&self) -> Trace {
        Trace::from_records(self.records.borrow().clone())
    }

    /// Everything written so far, taken out (no copy): for the run's end,
    /// when nothing more is recorded.
    pub fn finish(&self) -> Trace {
        Trace::from_records(std::mem::take(&mut *self.records.borrow_mut()))
    }
}

/// A finished trace: its records, and (made once, when first asked) its
/// JSON lines. Cheap to clone.
#[derive(Clone, Default)]
pub struct Trace {
    records: Arc<[Record]>,
    lines: Arc<OnceLock<Vec<String>>>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.records.iter()).finish()
    }
}

impl PartialEq for Trace {
    fn eq(&self, other: &Trace) -> bool {
        self.records == other.records
    }
}

impl Eq for Trace {}

/// Where two traces first differ (1-based line; `None` = that trace ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// 1-based line number.
    pub line: usize,
    /// The first trace's line; `None` when it ended there.
    pub left: Option<String>,
    /// The second trace's line; `None` when it ended there.
    pub right: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "<end of trace>".into());
        write!(
            f,
            "first difference at line {}:\n  - {}\n  + {}",
            self.line,
            show(&self.left),
            show(&self.right)
        )
    }
}

/// A line of trace text that does not read back as a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    /// What was wrong with the line.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trace line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

impl Trace {
    /// A trace of `records`, in order.
    pub fn from_records(records: Vec<Record>) -> Trace {
        Trace {
            records: records.into(),
            lines: Arc::default(),
        }
    }

    /// Reads JSON lines back (as [`Trace::text`] writes them). Every line
    /// must be one record: bad JSON, an unknown `ev`, a bad field or time,
    /// or an empty line fails with its 1-based number. The text of the
    /// trace read is made again from its records.
    pub fn parse(text: &str) -> Result<Trace, ParseError> {
        let records = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str::<Record>(line).map_err(|err| ParseError {
                    line: i + 1,
                    reason: err.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Trace::from_records(records))
    }

    /// The records, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The events of one kind, in order.
    pub fn of_kind(&self, kind: EventKind) -> impl Iterator<Item = &Record> + '_ {
        self.records.iter().filter(move |r| r.event.kind() == kind)
    }

    /// How many records (= lines).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the trace has no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The JSON lines, one per record (made on first use).
    pub fn lines(&self) -> &[String] {
        self.lines
            .get_or_init(|| self.records.iter().map(Record::to_line).collect())
    }

    /// The trace as JSON lines, each ending in `\n`.
    pub fn text(&self) -> String {
        let lines = self.lines();
        let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// FNV-1a 64 over [`Trace::text`], as 16 hex digits. Without the
    /// lines made already, each record is hashed as it serializes: a
    /// fuzz case needs the hash, not the text.
    pub fn hash(&self) -> String {
        let hash = match self.lines.get() {
            Some(lines) => lines.iter().fold(FNV_OFFSET, |hash, line| {
                fnv1a64_from(fnv1a64_from(hash, line.as_bytes()), b"\n")
            }),
            None => {
                let mut hasher = FnvWriter(FNV_OFFSET);
                for record in self.records.iter() {
                    serde_json::to_writer(&mut hasher, record).expect("trace records serialize");
                    hasher.0 = fnv1a64_from(hasher.0, b"\n");
                }
                hasher.0
            }
        };
        format!("{hash:016x}")
    }

    /// The first line where `self` and `other` differ, if any.
    pub fn first_difference(&self, other: &Trace) -> Option<Difference> {
        let (mine, theirs) = (self.lines(), other.lines());
        let longest = mine.len().max(theirs.len());
        (0..longest)
            .find(|&i| mine.get(i) != theirs.get(i))
            .map(|i| Difference {
                line: i + 1,
                left: mine.get(i).cloned(),
                right: theirs.get(i).cloned(),
            })
    }

    /// The story the model and the user saw, without the clock: per turn,
    /// the prompts coderd built (`turn_context`, numbered in order), every
    /// call with its input and its response (keyed by turn and call, so
    /// parallel calls that finish in another order still compare equal),
    /// the model's outcome and the turn's end; then the run's outcome.
    /// Time-valued JSON fields are masked by [`mask_times`]. Two
    /// transports telling the same story give equal stories even though
    /// their timings differ.
    pub fn story(&self) -> Vec<String> {
        // (turn, part, index, sub): prompts, calls, model outcome, end.
        let mut turns: BTreeMap<(usize, u8, usize, u8), String> = BTreeMap::new();
        let mut prompts: BTreeMap<usize, usize> = BTreeMap::new();
        let mut lines = Vec::new();
        for record in self.records.iter() {
            let (key, line) = match &record.event {
                Event::TurnContext {
                    turn,
                    phase,
                    prompt,
                    ..
                } => {
                    let n = prompts.entry(*turn).or_default();
                    *n += 1;
                    (
                        (*turn, 0, *n, 0),
                        format!("prompt {n} ({phase}): {prompt:?}"),
                    )
                }
                Event::ToolCall {
                    turn,
                    call,
                    name,
                    input,
                } => (
                    (*turn, 1, *call, 0),
                    format!("call {call} > {name} {}", mask_times(input)),
                ),
                Event::ToolResult {
                    turn,
                    call,
                    name,
                    is_error,
                    content,
                } => {
                    let status = if *is_error { "error" } else { "ok" };
                    let content = mask_times(content);
                    (
                        (*turn, 1, *call, 1),
                        format!("call {call} < {name} {status}: {content}"),
                    )
                }
                Event::ModelOutcome {
                    turn,
                    outcome,
                    reason,
                    calls,
                } => {
                    let reason = reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    (
                        (*turn, 2, 0, 0),
                        format!("model: {outcome}{reason} after {calls} calls"),
                    )
                }
                Event::CallAbandoned { turn, call, name } => (
                    (*turn, 1, *call, 2),
                    format!("call {call} abandoned by the model: {name}"),
                ),
                Event::TurnEnd { turn, outcome } => ((*turn, 3, 0, 0), format!("end: {outcome}")),
                Event::RunEnd { outcome } => {
                    lines.push(format!("run: {outcome}"));
                    continue;
                }
                _ => continue,
            };
            turns.insert(key, line);
        }
        let mut story: Vec<String> = turns
            .into_iter()
            .map(|((turn, ..), line)| format!("turn {turn} {line}"))
            .collect();
        story.extend(lines);
        story
    }
}

/// JSON keys whose values are times, masked in [`Trace::story`]: any key
/// ending in `_at` whose value is a string (an RFC 3339 timestamp). No
/// tool or user-API response carries one today (durations in texts are
/// configured thresholds, not measured times); the mask keeps the
/// comparison about the story, not the clock, should one appear.
pub const TIME_KEY_SUFFIX: &str = "_at";

/// What [`Trace::story`] writes in place of a masked value.
pub const MASKED: &str = "<time>";

/// A response's text with the string value of every `*_at` key replaced by
/// `"<time>"`. Everything else — key order, escapes such as `\u003c`,
/// spacing, text that is not JSON — is kept byte for byte, so a story
/// still tells a changed key order or escape apart.
pub fn mask_times(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    // The last string literal seen, if it may be a key awaiting its value.
    let mut time_key = false;
    while let Some(start) = rest.find('"') {
        let (before, literal) = rest.split_at(start);
        let Some(len) = string_literal_len(literal) else {
            break; // unterminated: keep the rest as it is
        };
        let (literal, after) = literal.split_at(len);
        let value_of_time_key = time_key && before.trim() == ":";
        out.push_str(before);
        if value_of_time_key {
            out.push('"');
            out.push_str(MASKED);
            out.push('"');
        } else {
            out.push_str(literal);
        }
        let key = &literal[1..literal.len() - 1];
        time_key = !value_of_time_key && key.ends_with(TIME_KEY_SUFFIX);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The length of the JSON string literal `text` starts with (its opening
/// quote to its closing quote), or `None` when it is not closed.
fn string_literal_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_from(FNV_OFFSET, bytes)
}

/// An FNV-1a 64 hash that bytes are written into.
struct FnvWriter(u64);

impl std::io::Write for FnvWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = fnv1a64_from(self.0, bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// FNV-1a 64 of `bytes`, continuing from `hash`.
fn fnv1a64_from(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn time_fields_are_masked_and_other_text_kept() {
        assert_eq!(
            mask_times(r#"{"z":{"created_at":"2026-01-01T00:00:00Z","n":1},"b_at":null}"#),
            r#"{"z":{"created_at":"<time>","n":1},"b_at":null}"#
        );
        // Key order, escapes and a value merely ending in `_at` are kept.
        let kept = r#"{"z":"\u003cx\"_at\u003e","a":"look_at","m_at":["x"],"k":"v"}"#;
        assert_eq!(mask_times(kept), kept);
        assert_eq!(
            mask_times(r#"{"stop_at": "1s", "x": 1}"#),
            r#"{"stop_at": "<time>", "x": 1}"#
        );
        assert_eq!(mask_times("plain text at 12:00"), "plain text at 12:00");
        assert_eq!(
            mask_times(r#"{"open_at":"unterminated"#),
            r#"{"open_at":"unterminated"#
        );
    }

    #[test]
    fn the_story_keys_calls_by_turn_and_call() {
        let tracer = Tracer::new();
        let result = |call: usize, content: &str| Event::ToolResult {
            turn: 0,
            call,
            name: "execute".into(),
            is_error: false,
            content: content.into(),
        };
        tracer.emit(Duration::from_millis(5), "driver", result(1, "second"));
        tracer.emit(Duration::from_millis(9), "driver", result(0, "first"));
        let end = Event::TurnEnd {
            turn: 0,
            outcome: TurnEnding::Done,
        };
        tracer.emit(Duration::from_millis(9), "driver", end);
        assert_eq!(
            tracer.snapshot().story(),
            [
                "turn 0 call 0 < execute ok: first",
                "turn 0 call 1 < execute ok: second",
                "turn 0 end: done"
            ]
        );
    }

    #[test]
    fn records_round_trip_and_differences_are_located() {
        let tracer = Tracer::new();
        tracer.emit(
            Duration::from_micros(1_500_900),
            "coderd",
            Event::AgentDisconnect {
                agent: "a".into(),
                reason: DisconnectReason::Eof,
            },
        );
        let trace = tracer.snapshot();
        assert_eq!(
            trace.lines()[0],
            r#"{"t":"1.500","host":"coderd","ev":"agent_disconnect","agent":"a","reason":"eof"}"#
        );
        let record = &trace.records()[0];
        assert_eq!(record.at, Duration::from_millis(1500), "kept to the ms");
        assert_eq!(record.event.kind(), EventKind::AgentDisconnect);
        assert_eq!(Trace::parse(&trace.text()).unwrap(), trace);

        let other = Trace::parse(&format!("{}{}", trace.text(), trace.text())).unwrap();
        let diff = trace.first_difference(&other).unwrap();
        assert_eq!(diff.line, 2);
        assert_eq!(diff.left, None);
        assert!(trace.first_difference(&trace.clone()).is_none());
        assert_eq!(
            trace.hash(),
            format!("{:016x}", fnv1a64(trace.text().as_bytes()))
        );
    }

    /// One event of every kind, with optional fields both set and unset.
    fn samples() -> Vec<Event> {
        vec![
            Event::RunStart {
                transport: Transport::Turmoil,
                seed: 7,
                tick_ms: 100,
                random_order: false,
            },
            Event::RunStart {
                transport: Transport::Fast,
                seed: 7,
                tick_ms: 0,
                random_order: true,
            },
            Event::RunEnd {
                outcome: RunEnding::Ok,
            },
            Event::RunEnd {
                outcome: RunEnding::Error("host coderd panicked: a: b".into()),
            },
            Event::Fault {
                name: "agent_oom".into(),
                params: serde_json::json!({"workspace": "ws1", "agent": "main"}),
            },
            Event::FaultSkipped {
                name: "build_canceled".into(),
                reason: "no build".into(),
            },
            Event::Infra {
                action: InfraAction::CrashAgentSkipped,
                target: "ws1.main".into(),
            },
            Event::Entity {
                kind: EntityKind::Preset,
                name: "dev/v1/small".into(),
                id: "p1".into(),
            },
            Event::TurnStart {
                chat: "main".into(),
                turn: 1,
                name: Some("recover".into()),
                model: Some(ModelKind::Reference),
            },
            Event::TurnStart {
                chat: "main".into(),
                turn: 2,
                name: None,
                model: None,
            },
            Event::ModelOutcome {
                turn: 1,
                outcome: ModelOutcome::ToldUser,
                reason: Some("quota".into()),
                calls: 3,
            },
            Event::TurnEnd {
                turn: 1,
                outcome: TurnEnding::Lost("connection reset".into()),
            },
            Event::TurnEnd {
                turn: 2,
                outcome: TurnEnding::Timeout,
            },
            Event::ToolCall {
                turn: 1,
                call: 0,
                name: "execute".into(),
                input: r#"{"command":"echo <hi>"}"#.into(),
            },
            Event::ToolResult {
                turn: 1,
                call: 0,
                name: "execute".into(),
                is_error: true,
                content: "line\n\"quoted\"".into(),
            },
            Event::Job {
                workspace: "ws1".into(),
                build: "b1".into(),
                number: 1,
                transition: Transition::Delete,
                status: JobStatus::Canceling,
                error: Some("insufficient quota".into()),
                error_code: Some("INSUFFICIENT_QUOTA".into()),
            },
            Event::Enqueue {
                by: Requester::Chat("main".into()),
                hook: Hook::Create,
                workspace: "ws1".into(),
                workspace_id: "w1".into(),
                build: "b1".into(),
                number: 1,
                transition: Transition::Start,
                template: "dev".into(),
                version: "v1".into(),
                external_agent: false,
            },
            Event::Enqueue {
                by: Requester::Prebuild,
                hook: Hook::Stop,
                workspace: "ws1".into(),
                workspace_id: "w1".into(),
                build: "b2".into(),
                number: 2,
                transition: Transition::Stop,
                template: "dev".into(),
                version: "v1".into(),
                external_agent: true,
            },
            Event::QuotaCommit {
                build: "b1".into(),
                daily_cost: 5,
                ok: false,
            },
            Event::BuildLog {
                build: "b1".into(),
                stage: "apply".into(),
                line: "done".into(),
            },
            Event::AgentConnect {
                agent: "a1".into(),
                name: "main".into(),
            },
            Event::AgentDisconnect {
                agent: "a1".into(),
                reason: DisconnectReason::Stale,
            },
            Event::AgentLifecycle {
                agent: "a1".into(),
                state: LifecycleState::StartTimeout,
            },
            Event::AgentStatus {
                agent: "a1".into(),
                name: "main".into(),
                from: None,
                to: AgentStatusKind::Connecting,
                workspace: "ws1".into(),
                build: "b1".into(),
                chat_agent: true,
                since: None,
            },
            Event::AgentStatus {
                agent: "a1".into(),
                name: "main".into(),
                from: Some(AgentStatusKind::Connected),
                to: AgentStatusKind::Disconnected,
                workspace: "ws1".into(),
                build: "b1".into(),
                chat_agent: false,
                since: Some(Duration::from_millis(61_005)),
            },
            Event::Dial {
                agent: "a1".into(),
                outcome: DialOutcome::Abandoned,
                attempts: 3,
                error: None,
            },
            Event::Dial {
                agent: "a1".into(),
                outcome: DialOutcome::Error,
                attempts: 1,
                error: Some("refused".into()),
            },
            Event::ChatUpdated {
                chat: "c1".into(),
                workspace: Some("w1".into()),
                build: None,
                agent: Some("a1".into()),
            },
            Event::TurnContext {
                chat: "c1".into(),
                turn: 1,
                phase: ContextPhase::MidTurn,
                prompt: "<workspace-context>".into(),
            },
            Event::Engine {
                kind: EngineEventKind::DialStart,
                detail: "agent=a1".into(),
            },
            Event::Response {
                turn: 1,
                call: 0,
                quota: Some(QuotaTruth {
                    credits_consumed: 4,
                    budget: 2,
                }),
                template: Some(TemplateTruth {
                    id: "t1".into(),
                    active_version_id: "v2".into(),
                    parameters: vec![ParameterTruth {
                        name: "region".into(),
                        required: true,
                        default: String::new(),
                    }],
                }),
            },
        ]
    }

    #[test]
    fn every_event_reads_back_as_written_and_its_kind_is_its_tag() {
        let tracer = Tracer::new();
        for (i, event) in samples().into_iter().enumerate() {
            tracer.emit(Duration::from_millis(i as u64 * 1001), "h", event);
        }
        let trace = tracer.snapshot();
        let streamed = trace.hash(); // before the lines are made
        assert_eq!(
            streamed,
            format!("{:016x}", fnv1a64(trace.text().as_bytes())),
            "the streamed hash is the hash of the text"
        );
        assert_eq!(trace.hash(), streamed, "and of the lines, once made");
        for (record, line) in trace.records().iter().zip(trace.lines()) {
            let value: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                value["ev"],
                serde_json::to_value(record.event.kind()).unwrap()
            );
        }
        let back = Trace::parse(&trace.text()).unwrap();
        assert_eq!(back, trace);
        assert_eq!(back.text(), trace.text());
        assert_eq!(back.hash(), trace.hash());
        let kinds: std::collections::BTreeSet<EventKind> =
            trace.records().iter().map(|r| r.event.kind()).collect();
        assert_eq!(kinds.len(), 24, "a sample of every kind");
    }

    /// The text of events whose fields are optional or typed, byte for byte
    /// as the trace wrote them when they were strings.
    #[test]
    fn typed_fields_write_the_spellings_traces_always_had() {
        let line = |event: Event| {
            Record {
                at: Duration::from_millis(61_005),
                host: "coderd".into(),
                event,
            }
            .to_line()
        };
        let samples = samples();
        assert_eq!(
            line(samples[0].clone()),
            r#"{"t":"61.005","host":"coderd","ev":"run_start","transport":"turmoil","seed":7,"tick_ms":100}"#
        );
        assert_eq!(
            line(samples[3].clone()),
            r#"{"t":"61.005","host":"coderd","ev":"run_end","outcome":"error: host coderd panicked: a: b"}"#
        );
        assert_eq!(
            line(samples[11].clone()),
            r#"{"t":"61.005","host":"coderd","ev":"turn_end","turn":1,"outcome":"lost: connection reset"}"#
        );
        assert_eq!(
            line(samples[16].clone()),
            r#"{"t":"61.005","host":"coderd","ev":"enqueue","by":"chat:main","hook":"create","workspace":"ws1","workspace_id":"w1","build":"b1","number":1,"transition":"start","template":"dev","version":"v1","external_agent":false}"#
        );
        assert_eq!(
            line(samples[23].clone()),
            r#"{"t":"61.005","host":"coderd","ev":"agent_status","agent":"a1","name":"main","from":"none","to":"connecting","workspace":"ws1","build":"b1","chat_agent":true}"#
        );
        assert_eq!(
            line(samples[24].clone()),
            r#"{"t":"61.005","host":"coderd","ev":"agent_status","agent":"a1","name":"main","from":"connected","to":"disconnected","workspace":"ws1","build":"b1","chat_agent":false,"since":"61.005"}"#
        );
    }

    #[test]
    fn a_bad_line_fails_the_parse_with_its_number() {
        let good = r#"{"t":"0.000","host":"world","ev":"run_end","outcome":"ok"}"#;
        let fails = |bad: &str| {
            let text = format!("{good}\n{bad}\n{good}\n");
            let err = Trace::parse(&text).unwrap_err();
            assert_eq!(err.line, 2, "{err}");
            err.reason
        };
        assert!(fails("not json").contains("expected"));
        let unknown = fails(r#"{"t":"0.000","host":"world","ev":"no_such_event"}"#);
        assert!(unknown.contains("no_such_event"), "{unknown}");
        for time in ["1.5", "x.000", "-1.000", "1.0000", "1", "+1.000"] {
            let reason = fails(&good.replace("0.000", time));
            assert!(reason.contains("bad time"), "{time}: {reason}");
        }
        let status = fails(
            r#"{"t":"0.000","host":"c","ev":"agent_disconnect","agent":"a","reason":"gone"}"#,
        );
        assert!(status.contains("gone"), "{status}");
        let run_end = fails(r#"{"t":"0.000","host":"c","ev":"run_end","outcome":"fine"}"#);
        assert!(run_end.contains("bad run outcome"), "{run_end}");
        let job = fails(
            r#"{"t":"0.000","host":"c","ev":"job","workspace":"w","build":"b","number":1,"transition":"start","status":"done"}"#,
        );
        assert!(job.contains("unknown job status"), "{job}");
        assert!(!fails("").is_empty(), "an empty line is no record");
        assert_eq!(Trace::parse("").unwrap(), Trace::default());
    }

    #[test]
    fn names_parse_their_own_spelling_only() {
        for action in InfraAction::ALL {
            assert_eq!(InfraAction::parse(action.as_str()), Some(*action));
        }
        assert_eq!(InfraAction::parse("Crash"), None);
        assert_eq!(
            Requester::parse("chat:a:b"),
            Some(Requester::Chat("a:b".into()))
        );
        assert_eq!(TurnEnding::parse("lost"), None);
        assert_eq!(TurnEnding::parse("done: x"), None);
        assert_eq!(parse_time("12.034"), Some(Duration::from_millis(12_034)));
    }
}
