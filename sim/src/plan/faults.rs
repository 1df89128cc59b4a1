//! The fault catalog. A fault is what could really happen — an
//! infrastructure action (crash, bounce, partition, hold, a stalled agent,
//! a broken image, a provider error, a database failing a query) or
//! something an operator or user does through coderd (a new template
//! version, `require_active_version`, a quota, a file edited in the
//! workspace, an external agent started by hand, a restart or a build
//! canceled from the dashboard). A fault never writes a database row:
//! coderd's handlers write rows from what they observe.
//!
//! Each variant's doc states its observable effect; `tests/faults.rs` shows
//! each effect in a trace (`build_canceled` and `db_query_fails`:
//! `tests/story_capabilities.rs`).

use std::fmt;

use chatsim_engine::memory::Query;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Call, Dur};

/// A fault. Workspaces are named `name` or `owner/name`; hosts are
/// `coderd`, `provisioner`, `driver` or `agent:<workspace>/<agent>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The agent process is killed (out of memory) while the workspace
    /// keeps running. coderd reads end-of-stream at once and records
    /// `disconnected_at`: the agent reads `disconnected` while the latest
    /// build is still a successful start. Nothing restarts it.
    AgentOom {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
        /// The agent's name in the workspace's template.
        agent: String,
    },
    /// The agent process dies and its supervisor restarts it `down_for`
    /// later. coderd records the disconnect and the reconnect; the agent
    /// reads `disconnected` only for about `down_for` — never for the 90 s
    /// recovery threshold when `down_for` is short.
    AgentRespawn {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
        /// The agent's name in the workspace's template.
        agent: String,
        /// How long the process stays down before its restart.
        #[serde(default = "default_down_for")]
        down_for: Dur,
    },
    /// The agent process stalls (`duration`, or for good): no heartbeats,
    /// dials accepted but never answered. Nothing is recorded at once; the
    /// agent reads `disconnected` (since its last heartbeat) once the
    /// inactive timeout passes, and dials hang until their deadline.
    AgentWedged {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
        /// The agent's name in the workspace's template.
        agent: String,
        /// How long it stalls; `None`: for good.
        #[serde(default)]
        duration: Option<Dur>,
    },
    /// The workspace's next start boots a broken image: its agent never
    /// connects, so it reads `connecting`, then `timeout` once its
    /// connection timeout passes.
    AgentNeverConnects {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
        /// The agent's name in the workspace's template.
        agent: String,
    },
    /// The user starts the external agent of the workspace's latest start
    /// by hand: it connects and reads `connected`. Without this fault an
    /// external agent never starts.
    ExternalAgentStarted {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
        /// The external agent's name.
        agent: String,
    },
    /// Every message between `a` and `b` is dropped (for `duration`, or
    /// until a `repair`; overlapping cuts of one link heal when the last
    /// one ends). Open connections go silent without error; their
    /// deadlines fire and they reconnect after the repair. An agent cut
    /// from coderd reads `disconnected` after the inactive timeout.
    Partition {
        /// One end of the link (a host name).
        a: String,
        /// The other end.
        b: String,
        /// How long the cut lasts; `None`: until a `repair`.
        #[serde(default)]
        duration: Option<Dur>,
    },
    /// Every message between `a` and `b` is held (for `duration`, or until
    /// a `repair`), then delivered at once.
    Hold {
        /// One end of the link (a host name).
        a: String,
        /// The other end.
        b: String,
        /// How long the hold lasts; `None`: until a `repair`.
        #[serde(default)]
        duration: Option<Dur>,
    },
    /// Heals a partition or hold between `a` and `b`.
    Repair {
        /// One end of the link (a host name).
        a: String,
        /// The other end.
        b: String,
    },
    /// The provisioner daemon crashes (and restarts `restart_after` later).
    /// The job it was running stops reporting; coderd fails it as hung
    /// after the job hang timeout. Pending jobs wait for the restart.
    ProvisionerCrash {
        /// When the daemon restarts; `None`: never.
        #[serde(default)]
        restart_after: Option<Dur>,
    },
    /// The cloud provider fails the next apply (of `workspace`'s job, or of
    /// any job) with `error`. The job fails with that text and no error
    /// code — also when the text mentions quota.
    BuildFailure {
        /// The workspace whose next apply fails; `None`: the next apply of any job.
        #[serde(default)]
        workspace: Option<String>,
        /// The provider's error text.
        error: String,
    },
    /// An operator cuts the user's quota allowance to `allowance`. The next
    /// start build whose cost does not fit fails at the quota commit with
    /// `INSUFFICIENT_QUOTA` and `insufficient quota`.
    QuotaExhausted {
        /// The user's name.
        user: String,
        /// The new allowance of the user's own group.
        #[serde(default)]
        allowance: i64,
    },
    /// An operator pushes a new active version of the template with new
    /// required parameters. A start that must use the active version fails
    /// with coderd's manual-update response until the values are given.
    NewTemplateVersion {
        /// The template's name.
        template: String,
        /// Names of the new version's required parameters (without defaults).
        #[serde(default)]
        required_parameters: Vec<String>,
    },
    /// An operator toggles the template's `require_active_version`: starts
    /// then pin (or stop pinning) the active version.
    RequireActiveVersion {
        /// The template's name.
        template: String,
        /// On (pin starts to the active version) or off.
        enabled: bool,
    },
    /// The user edits a file in the workspace (e.g. `AGENTS.md`). The agent
    /// serves the new content from its next read; the file survives
    /// restarts and rebuilds.
    ContextFilesChanged {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
        /// The agent's name in the workspace's template.
        agent: String,
        /// The file's path (relative paths are under the agent's directory).
        path: String,
        /// Its new text.
        content: String,
    },
    /// The model emits these calls in one message: they run concurrently in
    /// one turn (e.g. two `create_workspace` calls racing for the chat's
    /// lock).
    ParallelToolCalls {
        /// The chat whose model emits them.
        chat: String,
        /// The calls, sent at once.
        calls: Vec<Call>,
    },
    /// The user stops the chat in the middle of a turn (the chat's Stop
    /// button): coderd cancels the turn's context. Calls in flight return
    /// the tools' canceled texts (a build wait ends at once, without its
    /// result); calls the model sends later in that turn are canceled too.
    /// With no turn in flight the fault is skipped.
    UserCancelsTurn {
        /// The chat the user stops.
        chat: String,
    },
    /// The chat's owner restarts the workspace from the dashboard (stop,
    /// wait, start, wait), outside the chat. The new start creates new
    /// agents while the chat stays bound to the agent of the older build.
    UserRestartsWorkspace {
        /// The chat whose owner acts.
        chat: String,
        /// The workspace (`name` or `owner/name`).
        workspace: String,
    },
    /// The owner stops the workspace from the dashboard at this instant —
    /// whatever the chat's tools are doing (e.g. while `start_workspace`
    /// waits on its own build). A refused stop (a build in flight) is
    /// skipped.
    UserStopsWorkspace {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
    },
    /// The owner starts the workspace from the dashboard at this instant,
    /// with no new parameter values. A refused start is skipped.
    UserStartsWorkspace {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
    },
    /// The user cancels the workspace's latest build from the dashboard
    /// (coderd's cancel endpoint). A pending job ends `canceled` at once; a
    /// running one reads `canceling` until its provisioner next reports,
    /// when coderd tells it to stop and records `canceled`. A build that
    /// already ended is left alone (the fault is skipped).
    BuildCanceled {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
    },
    /// The database fails every call of `query` with `error` (for
    /// `duration`, or for good) — e.g. a statement timeout on the owner's
    /// role lookup, `get_authorization_user_roles`. Every handler that
    /// runs the query gets the error; no row changes.
    DbQueryFails {
        /// The failing query.
        query: DbQuery,
        /// The error text every call of it returns.
        error: String,
        /// How long it fails; `None`: for good.
        #[serde(default)]
        duration: Option<Dur>,
    },
}

/// The kind of a [`Fault`], without its parameters: what the registry of
/// fault families, the generator's draw and the catalog check go by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// [`Fault::AgentOom`].
    AgentOom,
    /// [`Fault::AgentRespawn`].
    AgentRespawn,
    /// [`Fault::AgentWedged`].
    AgentWedged,
    /// [`Fault::AgentNeverConnects`].
    AgentNeverConnects,
    /// [`Fault::ExternalAgentStarted`].
    ExternalAgentStarted,
    /// [`Fault::Partition`].
    Partition,
    /// [`Fault::Hold`].
    Hold,
    /// [`Fault::Repair`].
    Repair,
    /// [`Fault::ProvisionerCrash`].
    ProvisionerCrash,
    /// [`Fault::BuildFailure`].
    BuildFailure,
    /// [`Fault::QuotaExhausted`].
    QuotaExhausted,
    /// [`Fault::NewTemplateVersion`].
    NewTemplateVersion,
    /// [`Fault::RequireActiveVersion`].
    RequireActiveVersion,
    /// [`Fault::ContextFilesChanged`].
    ContextFilesChanged,
    /// [`Fault::ParallelToolCalls`].
    ParallelToolCalls,
    /// [`Fault::UserCancelsTurn`].
    UserCancelsTurn,
    /// [`Fault::UserRestartsWorkspace`].
    UserRestartsWorkspace,
    /// [`Fault::UserStopsWorkspace`].
    UserStopsWorkspace,
    /// [`Fault::UserStartsWorkspace`].
    UserStartsWorkspace,
    /// [`Fault::BuildCanceled`].
    BuildCanceled,
    /// [`Fault::DbQueryFails`].
    DbQueryFails,
}

impl FaultKind {
    /// Every kind, in the declaration order of [`Fault`].
    pub const ALL: [FaultKind; 21] = [
        FaultKind::AgentOom,
        FaultKind::AgentRespawn,
        FaultKind::AgentWedged,
        FaultKind::AgentNeverConnects,
        FaultKind::ExternalAgentStarted,
        FaultKind::Partition,
        FaultKind::Hold,
        FaultKind::Repair,
        FaultKind::ProvisionerCrash,
        FaultKind::BuildFailure,
        FaultKind::QuotaExhausted,
        FaultKind::NewTemplateVersion,
        FaultKind::RequireActiveVersion,
        FaultKind::ContextFilesChanged,
        FaultKind::ParallelToolCalls,
        FaultKind::UserCancelsTurn,
        FaultKind::UserRestartsWorkspace,
        FaultKind::UserStopsWorkspace,
        FaultKind::UserStartsWorkspace,
        FaultKind::BuildCanceled,
        FaultKind::DbQueryFails,
    ];

    /// The `fault` tag scenario files write (`agent_oom`); a test checks it
    /// against serde's.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::AgentOom => "agent_oom",
            FaultKind::AgentRespawn => "agent_respawn",
            FaultKind::AgentWedged => "agent_wedged",
            FaultKind::AgentNeverConnects => "agent_never_connects",
            FaultKind::ExternalAgentStarted => "external_agent_started",
            FaultKind::Partition => "partition",
            FaultKind::Hold => "hold",
            FaultKind::Repair => "repair",
            FaultKind::ProvisionerCrash => "provisioner_crash",
            FaultKind::BuildFailure => "build_failure",
            FaultKind::QuotaExhausted => "quota_exhausted",
            FaultKind::NewTemplateVersion => "new_template_version",
            FaultKind::RequireActiveVersion => "require_active_version",
            FaultKind::ContextFilesChanged => "context_files_changed",
            FaultKind::ParallelToolCalls => "parallel_tool_calls",
            FaultKind::UserCancelsTurn => "user_cancels_turn",
            FaultKind::UserRestartsWorkspace => "user_restarts_workspace",
            FaultKind::UserStopsWorkspace => "user_stops_workspace",
            FaultKind::UserStartsWorkspace => "user_starts_workspace",
            FaultKind::BuildCanceled => "build_canceled",
            FaultKind::DbQueryFails => "db_query_fails",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A query of coderd's database, as a fault names it: the engine's
/// [`Query`] by its snake_case name (`get_chat_by_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbQuery(pub Query);

impl DbQuery {
    /// The engine's query.
    pub fn query(self) -> Query {
        self.0
    }
}

impl Serialize for DbQuery {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.name())
    }
}

impl<'de> Deserialize<'de> for DbQuery {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Query::from_name(&name).map(DbQuery).ok_or_else(|| {
            let known: Vec<String> = Query::ALL
                .iter()
                .map(|q| format!("`{}`", q.name()))
                .collect();
            serde::de::Error::custom(format!(
                // serde's own wording, which the scenario loader locates.
                "unknown variant `{name}`, expected one of {}",
                known.join(", ")
            ))
        })
    }
}

fn default_down_for() -> Dur {
    Dur::secs(5)
}

impl Fault {
    /// The fault's kind: one exhaustive match, so a new variant needs a kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::AgentOom { .. } => FaultKind::AgentOom,
            Fault::AgentRespawn { .. } => FaultKind::AgentRespawn,
            Fault::AgentWedged { .. } => FaultKind::AgentWedged,
            Fault::AgentNeverConnects { .. } => FaultKind::AgentNeverConnects,
            Fault::ExternalAgentStarted { .. } => FaultKind::ExternalAgentStarted,
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Hold { .. } => FaultKind::Hold,
            Fault::Repair { .. } => FaultKind::Repair,
            Fault::ProvisionerCrash { .. } => FaultKind::ProvisionerCrash,
            Fault::BuildFailure { .. } => FaultKind::BuildFailure,
            Fault::QuotaExhausted { .. } => FaultKind::QuotaExhausted,
            Fault::NewTemplateVersion { .. } => FaultKind::NewTemplateVersion,
            Fault::RequireActiveVersion { .. } => FaultKind::RequireActiveVersion,
            Fault::ContextFilesChanged { .. } => FaultKind::ContextFilesChanged,
            Fault::ParallelToolCalls { .. } => FaultKind::ParallelToolCalls,
            Fault::UserCancelsTurn { .. } => FaultKind::UserCancelsTurn,
            Fault::UserRestartsWorkspace { .. } => FaultKind::UserRestartsWorkspace,
            Fault::UserStopsWorkspace { .. } => FaultKind::UserStopsWorkspace,
            Fault::UserStartsWorkspace { .. } => FaultKind::UserStartsWorkspace,
            Fault::BuildCanceled { .. } => FaultKind::BuildCanceled,
            Fault::DbQueryFails { .. } => FaultKind::DbQueryFails,
        }
    }

    /// The `fault` tag (the kind's name).
    pub fn name(&self) -> String {
        self.kind().name().to_string()
    }

    /// The fault's parameters (its serialization without the tag).
    pub fn params(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("fault");
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fault names queries as the engine does, and reads its own output.
    #[test]
    fn db_query_names_round_trip_through_serde() {
        for query in Query::ALL {
            let name = serde_json::to_value(DbQuery(query)).unwrap();
            assert_eq!(name, Value::String(query.name()));
            let back: DbQuery = serde_json::from_value(name).unwrap();
            assert_eq!(back.query(), query);
        }
        let err = serde_json::from_value::<DbQuery>(Value::String("get_user_roles".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `get_user_roles`"), "{err}");
        assert!(err.contains("`get_authorization_user_roles`"), "{err}");
    }

    /// `FaultKind::name` is serde's tag for every kind, in order: serde's
    /// "expected one of" list names every variant of `Fault`.
    #[test]
    fn kind_names_are_the_serde_tags_in_order() {
        let err = serde_json::from_value::<Fault>(serde_json::json!({ "fault": "nope" }))
            .unwrap_err()
            .to_string();
        let listed: Vec<String> = FaultKind::ALL
            .iter()
            .map(|k| format!("`{}`", k.name()))
            .collect();
        assert!(
            err.contains(&format!("expected one of {}", listed.join(", "))),
            "{err}"
        );
        let fault = Fault::Repair {
            a: "coderd".into(),
            b: "driver".into(),
        };
        assert_eq!(fault.kind(), FaultKind::Repair);
        assert_eq!(fault.name(), "repair");
    }
}
