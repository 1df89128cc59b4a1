//! The coderd database rows the tools read and write. Field names follow
//! Coder's schema; `Option` is a nullable column.

use std::time::Duration;

use uuid::Uuid;

use crate::time::Time;

/// Terraform resource type that marks an externally managed agent.
pub const EXTERNAL_AGENT_RESOURCE_TYPE: &str = "coder_external_agent";

/// Provisioner job error code for a quota commit that ran over budget.
pub const INSUFFICIENT_QUOTA: &str = "INSUFFICIENT_QUOTA";

/// A user (`users`): a chat's owner, whose roles `asOwner` loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's ID.
    pub id: Uuid,
    /// The login name; the owner part of a workspace's full name.
    pub username: String,
    /// Site roles, e.g. `member`, `owner`, `template-admin`.
    pub roles: Vec<String>,
}

/// An organization (`organizations`): templates, chats and quota belong to one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// The organization's ID (also its Everyone group's ID).
    pub id: Uuid,
    /// The organization's name.
    pub name: String,
}

/// A group of an organization. The Everyone group has the organization's ID
/// and counts every member of the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The group's ID.
    pub id: Uuid,
    /// The organization the group belongs to.
    pub organization_id: Uuid,
    /// The group's name.
    pub name: String,
    /// Quota credits each member gets from this group (summed over groups).
    pub quota_allowance: i64,
    /// Member user IDs (the Everyone group counts organization members instead).
    pub members: Vec<Uuid>,
}

/// A chat (`chats`) and its workspace binding: the workspace, build and
/// agent the tools and the connection layer work with.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Chat {
    /// The chat's ID.
    pub id: Uuid,
    /// The user the chat runs for (`asOwner`'s subject).
    pub owner_id: Uuid,
    /// The chat's organization (templates must belong to it).
    pub organization_id: Uuid,
    /// The parent chat of a sub-agent chat; sent as the ancestor header.
    pub parent_chat_id: Option<Uuid>,
    /// The bound workspace, if any.
    pub workspace_id: Option<Uuid>,
    /// The bound build (the one whose logs a client streams).
    pub build_id: Option<Uuid>,
    /// The bound agent (cleared whenever a tool rebinds the workspace).
    pub agent_id: Option<Uuid>,
}

/// A template (`templates`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Template {
    /// The template's ID (the model's `template_id`).
    pub id: Uuid,
    /// The organization the template belongs to.
    pub organization_id: Uuid,
    /// The template's name (also the seed of generated workspace names).
    pub name: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// Short UI text.
    pub description: String,
    /// Richer selection context shown by list_templates (`abstract`).
    pub abstract_text: String,
    /// The version new workspaces are built from.
    pub active_version_id: Uuid,
    /// Deprecated templates are not listed.
    pub deprecated: bool,
    /// Deleted templates are not listed.
    pub deleted: bool,
    /// Starts are pinned to the active version (spec 2 §2 step 1).
    pub require_active_version: bool,
}

/// A template version (`template_versions`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TemplateVersion {
    /// The version's ID.
    pub id: Uuid,
    /// The template it is a version of.
    pub template_id: Uuid,
    /// The version's name.
    pub name: String,
    /// Whether its plan has a `coder_external_agent` (`None` = unknown);
    /// create_workspace refuses such templates.
    pub has_external_agent: Option<bool>,
    /// What a start build of this version provisions (the Terraform plan).
    pub plan: VersionPlan,
}

/// The resources and agents a start build of a version creates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VersionPlan {
    /// The agents, in creation order (a parent before its children).
    pub agents: Vec<AgentSpec>,
    /// Quota cost a start build commits.
    pub daily_cost: i64,
}

/// One agent a version's plan creates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AgentSpec {
    /// The agent's name (a `-coderd-chat` suffix marks the chat agent).
    pub name: String,
    /// Sort key of agent selection (spec 1 §6).
    pub display_order: i32,
    /// Name of the parent agent (a devcontainer sub-agent), if any.
    pub parent: Option<String>,
    /// Runs outside Coder: its resource is a `coder_external_agent`.
    pub external: bool,
    /// Seconds a never-connected agent reads `connecting` before `timeout`
    /// (0 = never times out).
    pub connection_timeout_seconds: i32,
    /// The agent's OS, for the `<workspace-context>` block.
    pub operating_system: String,
    /// The agent's working directory, for the `<workspace-context>` block.
    pub directory: String,
}

/// A parameter of a template version (`template_version_parameters`), as
/// read_template shows it and the hooks resolve it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TemplateVersionParameter {
    /// The version the parameter belongs to.
    pub template_version_id: Uuid,
    /// The parameter's name (the key in the model's `parameters`).
    pub name: String,
    /// DB type string: `string`, `number`, `bool`, `list(string)`.
    pub type_: String,
    /// A required parameter without a value or default fails the build request.
    pub required: bool,
    /// The name shown in the UI.
    pub display_name: String,
    /// The description (read_template caps it at 300 characters).
    pub description: String,
    /// The default value; empty = none.
    pub default_value: String,
    /// Whether the value may change after creation.
    pub mutable: bool,
    /// Whether the value applies to one build only.
    pub ephemeral: bool,
    /// The UI form type, e.g. `dropdown`.
    pub form_type: String,
    /// Raw stored JSON of the options array (may be empty, `null` or `[]`).
    pub options: String,
    /// A validation regex; empty = none.
    pub validation_regex: String,
    /// Lower bound of a number parameter.
    pub validation_min: Option<i32>,
    /// Upper bound of a number parameter.
    pub validation_max: Option<i32>,
}

/// A preset of a template version (`template_version_presets`): named
/// parameter values, and the size of its prebuilt workspace pool.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Preset {
    /// The preset's ID (the model's `preset_id`).
    pub id: Uuid,
    /// The version the preset belongs to.
    pub template_version_id: Uuid,
    /// The preset's name.
    pub name: String,
    /// Whether it is the version's default preset.
    pub is_default: bool,
    /// The preset's description.
    pub description: String,
    /// The preset's icon URL.
    pub icon: String,
    /// How many prebuilt workspaces the reconciler keeps ready.
    pub desired_prebuild_instances: Option<i32>,
}

/// One value of a preset (`template_version_preset_parameters`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PresetParameter {
    /// The preset the value belongs to.
    pub preset_id: Uuid,
    /// The parameter's name.
    pub name: String,
    /// The parameter's value.
    pub value: String,
}

/// A workspace (`workspaces`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Workspace {
    /// The workspace's ID.
    pub id: Uuid,
    /// The owner (the prebuilds user for an unclaimed prebuild).
    pub owner_id: Uuid,
    /// The organization (start's quota result reads quota for it).
    pub organization_id: Uuid,
    /// The template it was built from.
    pub template_id: Uuid,
    /// The bare name (unique among the owner's live workspaces).
    pub name: String,
    /// Soft-deleted: the tools treat the workspace as gone.
    pub deleted: bool,
    /// When the workspace went dormant, if it did.
    pub dormant_at: Option<Time>,
    /// Autostop TTL in milliseconds; `None` = the template default.
    pub ttl_ms: Option<i64>,
    /// When the workspace was created.
    pub created_at: Time,
    /// The preset the workspace was built from (prebuild pool membership).
    pub preset_id: Option<Uuid>,
}

/// A build's transition (`workspace_transition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transition {
    /// Bring the workspace up (create and start).
    Start,
    /// Tear the workspace's resources down.
    Stop,
    /// Delete the workspace.
    Delete,
}

impl Transition {
    /// The DB spelling: `start`, `stop`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Stop => "stop",
            Transition::Delete => "delete",
        }
    }

    /// Parses the DB spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Transition> {
        const ALL: [Transition; 3] = [Transition::Start, Transition::Stop, Transition::Delete];
        ALL.into_iter().find(|transition| transition.as_str() == s)
    }
}

/// A parameter value of a build (`workspace_build_parameters`) or of a
/// build request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BuildParameter {
    /// The parameter's name.
    pub name: String,
    /// The parameter's value.
    pub value: String,
}

/// A workspace build (`workspace_builds`); its job does the work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceBuild {
    /// The build's ID (the `build_id` of results and bindings).
    pub id: Uuid,
    /// The workspace built.
    pub workspace_id: Uuid,
    /// 1, 2, …; the highest is the workspace's latest build.
    pub build_number: i32,
    /// What the build does.
    pub transition: Transition,
    /// The template version built (start's auto-update annotation compares it).
    pub template_version_id: Uuid,
    /// The provisioner job running the build.
    pub job_id: Uuid,
    /// Who asked for the build (the prebuilds user for a prebuild).
    pub initiator_id: Uuid,
    /// When the build was enqueued.
    pub created_at: Time,
    /// The resolved parameter values (a later build reuses them).
    pub rich_parameters: Vec<BuildParameter>,
    /// Quota cost committed by this build (0 until the provisioner commits).
    pub daily_cost: i64,
}

/// A provisioner job's status (`provisioner_job_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobStatus {
    /// Enqueued, not yet acquired by a provisioner.
    Pending,
    /// A provisioner is running it.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error (and maybe an error code).
    Failed,
    /// Cancellation asked for, not yet done.
    Canceling,
    /// Canceled.
    Canceled,
}

impl JobStatus {
    /// The DB spelling, e.g. `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceling => "canceling",
            JobStatus::Canceled => "canceled",
        }
    }

    /// Parses the DB spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<JobStatus> {
        const ALL: [JobStatus; 6] = [
            JobStatus::Pending,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Canceling,
            JobStatus::Canceled,
        ];
        ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// `provisionerJobTerminal`: succeeded, failed and canceled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

/// A provisioner job (`provisioner_jobs`): what `waitForBuild` polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionerJob {
    /// The job's ID.
    pub id: Uuid,
    /// Where the job is.
    pub status: JobStatus,
    /// A failed job's message (the inner text of a build failure).
    pub error: Option<String>,
    /// A failed job's code, e.g. [`INSUFFICIENT_QUOTA`].
    pub error_code: Option<String>,
    /// When the job was enqueued.
    pub created_at: Time,
    /// When a provisioner acquired it.
    pub started_at: Option<Time>,
    /// When it finished.
    pub completed_at: Option<Time>,
}

/// A resource a build's job created (`workspace_resources`); agents hang
/// off resources.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WorkspaceResource {
    /// The resource's ID.
    pub id: Uuid,
    /// The job that created it (which build's resource it is).
    pub job_id: Uuid,
    /// Terraform type, e.g. `docker_container` or `coder_external_agent`.
    pub type_: String,
    /// The resource's name.
    pub name: String,
    /// The resource's quota cost.
    pub daily_cost: i64,
}

/// An agent's lifecycle (`workspace_agent_lifecycle_state`): phase 2 of
/// `waitForAgentReady` waits for `Ready` (spec 1 §3.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LifecycleState {
    /// Created, not started.
    #[default]
    Created,
    /// Startup scripts running.
    Starting,
    /// Startup scripts ran past their timeout.
    StartTimeout,
    /// A startup script failed.
    StartError,
    /// Startup scripts done: the agent is ready.
    Ready,
    /// Shutdown scripts running.
    ShuttingDown,
    /// Shutdown scripts ran past their timeout.
    ShutdownTimeout,
    /// A shutdown script failed.
    ShutdownError,
    /// Shut down.
    Off,
}

impl LifecycleState {
    /// The DB spelling, e.g. `start_timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Created => "created",
            LifecycleState::Starting => "starting",
            LifecycleState::StartTimeout => "start_timeout",
            LifecycleState::StartError => "start_error",
            LifecycleState::Ready => "ready",
            LifecycleState::ShuttingDown => "shutting_down",
            LifecycleState::ShutdownTimeout => "shutdown_timeout",
            LifecycleState::ShutdownError => "shutdown_error",
            LifecycleState::Off => "off",
        }
    }

    /// Parses the DB spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<LifecycleState> {
        const ALL: [LifecycleState; 9] = [
            LifecycleState::Created,
            LifecycleState::Starting,
            LifecycleState::StartTimeout,
            LifecycleState::StartError,
            LifecycleState::Ready,
            LifecycleState::ShuttingDown,
            LifecycleState::ShutdownTimeout,
            LifecycleState::ShutdownError,
            LifecycleState::Off,
        ];
        ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// A workspace agent (`workspace_agents`): its connection timestamps give
/// its [`AgentStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WorkspaceAgent {
    /// The agent's ID (what the dialer dials).
    pub id: Uuid,
    /// The resource it runs in (an external agent's is a `coder_external_agent`).
    pub resource_id: Option<Uuid>,
    /// The agent's name (a `-coderd-chat` suffix marks the chat agent).
    pub name: String,
    /// A sub-agent's parent; agent selection only considers root agents.
    pub parent_id: Option<Uuid>,
    /// Sort key of agent selection (spec 1 §6).
    pub display_order: i32,
    /// When the agent row was created (the connection timeout runs from here).
    pub created_at: Time,
    /// First heartbeat; `None` = never connected.
    pub first_connected_at: Option<Time>,
    /// Latest heartbeat.
    pub last_connected_at: Option<Time>,
    /// Latest explicit disconnect.
    pub disconnected_at: Option<Time>,
    /// Seconds a never-connected agent reads `connecting` before `timeout`
    /// (0 = never times out).
    pub connection_timeout_seconds: i32,
    /// Where the startup scripts are.
    pub lifecycle_state: LifecycleState,
    /// The agent's OS, for the `<workspace-context>` block.
    pub operating_system: String,
    /// The configured working directory.
    pub directory: String,
    /// The working directory with `~` and variables expanded (preferred when set).
    pub expanded_directory: String,
}

/// Computed agent connection status (`database.WorkspaceAgent.Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// Never connected, and its connection timeout has not passed.
    Connecting,
    /// Never connected, and its connection timeout has passed.
    Timeout,
    /// Heartbeating within the inactive-disconnect timeout.
    Connected,
    /// Disconnected, with the disconnected-since time when known.
    Disconnected {
        /// The explicit disconnect, or the last heartbeat of a silent agent.
        since: Option<Time>,
    },
}

impl AgentStatus {
    /// The API spelling, e.g. `connecting`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Connecting => "connecting",
            AgentStatus::Timeout => "timeout",
            AgentStatus::Connected => "connected",
            AgentStatus::Disconnected { .. } => "disconnected",
        }
    }

    /// `isAgentUnreachable`: disconnected or timed out.
    pub fn is_unreachable(self) -> bool {
        matches!(
            self,
            AgentStatus::Disconnected { .. } | AgentStatus::Timeout
        )
    }
}

impl WorkspaceAgent {
    /// The agent's connection status at `now` (spec 1 §3.4, first rule wins).
    pub fn status(&self, now: Time, inactive_timeout: Duration) -> AgentStatus {
        let Some(_) = self.first_connected_at else {
            let timeout = Duration::from_secs(self.connection_timeout_seconds.max(0) as u64);
            if self.connection_timeout_seconds > 0 && now.since(self.created_at) > timeout {
                return AgentStatus::Timeout;
            }
            return AgentStatus::Connecting;
        };
        let last_connected = self.last_connected_at.unwrap_or(Time::ZERO);
        let disconnected = self.disconnected_at.unwrap_or(Time::ZERO);
        if disconnected >= last_connected {
            return AgentStatus::Disconnected {
                since: self.disconnected_at,
            };
        }
        if now.since(last_connected) > inactive_timeout {
            return AgentStatus::Disconnected {
                since: self.last_connected_at,
            };
        }
        AgentStatus::Connected
    }

    /// `agentDisconnectedFor`: how long the agent has read disconnected, only
    /// for a computed `Disconnected` status with a since-time.
    pub fn disconnected_for(&self, now: Time, inactive_timeout: Duration) -> Option<Duration> {
        match self.status(now, inactive_timeout) {
            AgentStatus::Disconnected { since: Some(since) } => Some(now.since(since)),
            _ => None,
        }
    }
}

/// One message of a chat's prompt history. `content` is the raw stored JSON
/// of the message parts; a row whose content is not valid part JSON is
/// skipped by readers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// The message's ID (increasing in message order).
    pub id: i64,
    /// The chat the message belongs to.
    pub chat_id: Uuid,
    /// `user`, `assistant`, …; a context pull persists as `user`.
    pub role: String,
    /// The raw stored JSON of the message parts.
    pub content: String,
    /// When the message was stored.
    pub created_at: Time,
}

#[cfg(test)]
mod tests {
    use super::*;

    const INACTIVE: Duration = Duration::from_secs(30);

    fn agent() -> WorkspaceAgent {
        WorkspaceAgent {
            created_at: Time::from_secs(100),
            connection_timeout_seconds: 120,
            ..Default::default()
        }
    }

    #[test]
    fn never_connected_agent_is_connecting_until_its_timeout_passes() {
        let a = agent();
        assert_eq!(
            a.status(Time::from_secs(220), INACTIVE),
            AgentStatus::Connecting
        );
        assert_eq!(
            a.status(Time::from_secs(221), INACTIVE),
            AgentStatus::Timeout
        );
        let no_timeout = WorkspaceAgent {
            connection_timeout_seconds: 0,
            ..agent()
        };
        assert_eq!(
            no_timeout.status(Time::from_secs(10_000), INACTIVE),
            AgentStatus::Connecting
        );
    }

    #[test]
    fn explicit_disconnect_reads_disconnected_since_disconnected_at() {
        let a = WorkspaceAgent {
            first_connected_at: Some(Time::from_secs(110)),
            last_connected_at: Some(Time::from_secs(150)),
            disconnected_at: Some(Time::from_secs(150)),
            ..agent()
        };
        let now = Time::from_secs(151);
        assert_eq!(
            a.status(now, INACTIVE),
            AgentStatus::Disconnected {
                since: Some(Time::from_secs(150))
            }
        );
        assert_eq!(
            a.disconnected_for(now, INACTIVE),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn silent_agent_reads_disconnected_since_last_heartbeat_after_inactive_timeout() {
        let a = WorkspaceAgent {
            first_connected_at: Some(Time::from_secs(110)),
            last_connected_at: Some(Time::from_secs(200)),
            disconnected_at: Some(Time::from_secs(120)),
            ..agent()
        };
        assert_eq!(
            a.status(Time::from_secs(230), INACTIVE),
            AgentStatus::Connected
        );
        assert_eq!(
            a.status(Time::from_secs(231), INACTIVE),
            AgentStatus::Disconnected {
                since: Some(Time::from_secs(200))
            }
        );
    }

    #[test]
    fn connected_agent_has_no_disconnected_duration() {
        let a = WorkspaceAgent {
            first_connected_at: Some(Time::from_secs(110)),
            last_connected_at: Some(Time::from_secs(200)),
            ..agent()
        };
        assert_eq!(a.disconnected_for(Time::from_secs(201), INACTIVE), None);
    }
}
