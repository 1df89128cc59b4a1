//! The coderd database rows the tools read and write. Field names follow
//! Coder's schema; `Option` is a nullable column.

use std::time::Duration;

use uuid::Uuid;

use crate::time::Time;

/// Terraform resource type that marks an externally managed agent.
pub const EXTERNAL_AGENT_RESOURCE_TYPE: &str = "coder_external_agent";

/// Provisioner job error code for a quota commit that ran over budget.
pub const INSUFFICIENT_QUOTA: &str = "INSUFFICIENT_QUOTA";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// Site roles, e.g. `member`, `owner`, `template-admin`.
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
}

/// A group of an organization. The Everyone group has the organization's ID
/// and counts every member of the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub quota_allowance: i64,
    pub members: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Chat {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub organization_id: Uuid,
    pub parent_chat_id: Option<Uuid>,
    pub workspace_id: Option<Uuid>,
    pub build_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Template {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// Richer selection context shown by list_templates (`abstract`).
    pub abstract_text: String,
    pub active_version_id: Uuid,
    pub deprecated: bool,
    pub deleted: bool,
    pub require_active_version: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TemplateVersion {
    pub id: Uuid,
    pub template_id: Uuid,
    pub name: String,
    pub has_external_agent: Option<bool>,
    /// What a start build of this version provisions (the Terraform plan).
    pub plan: VersionPlan,
}

/// The resources and agents a start build of a version creates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VersionPlan {
    pub agents: Vec<AgentSpec>,
    /// Quota cost a start build commits.
    pub daily_cost: i64,
}

/// One agent a version's plan creates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AgentSpec {
    pub name: String,
    pub display_order: i32,
    /// Name of the parent agent (a devcontainer sub-agent), if any.
    pub parent: Option<String>,
    /// Runs outside Coder: its resource is a `coder_external_agent`.
    pub external: bool,
    pub connection_timeout_seconds: i32,
    pub operating_system: String,
    pub directory: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TemplateVersionParameter {
    pub template_version_id: Uuid,
    pub name: String,
    /// DB type string: `string`, `number`, `bool`, `list(string)`.
    pub type_: String,
    pub required: bool,
    pub display_name: String,
    pub description: String,
    pub default_value: String,
    pub mutable: bool,
    pub ephemeral: bool,
    pub form_type: String,
    /// Raw stored JSON of the options array (may be empty, `null` or `[]`).
    pub options: String,
    pub validation_regex: String,
    pub validation_min: Option<i32>,
    pub validation_max: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Preset {
    pub id: Uuid,
    pub template_version_id: Uuid,
    pub name: String,
    pub is_default: bool,
    pub description: String,
    pub icon: String,
    pub desired_prebuild_instances: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PresetParameter {
    pub preset_id: Uuid,
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Workspace {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub organization_id: Uuid,
    pub template_id: Uuid,
    pub name: String,
    pub deleted: bool,
    pub dormant_at: Option<Time>,
    pub ttl_ms: Option<i64>,
    pub created_at: Time,
    /// The preset the workspace was built from (prebuild pool membership).
    pub preset_id: Option<Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transition {
    Start,
    Stop,
    Delete,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Stop => "stop",
            Transition::Delete => "delete",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BuildParameter {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceBuild {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub build_number: i32,
    pub transition: Transition,
    pub template_version_id: Uuid,
    pub job_id: Uuid,
    pub initiator_id: Uuid,
    pub created_at: Time,
    pub rich_parameters: Vec<BuildParameter>,
    /// Quota cost committed by this build (0 until the provisioner commits).
    pub daily_cost: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceling,
    Canceled,
}

impl JobStatus {
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

    /// `provisionerJobTerminal`: succeeded, failed and canceled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionerJob {
    pub id: Uuid,
    pub status: JobStatus,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub created_at: Time,
    pub started_at: Option<Time>,
    pub completed_at: Option<Time>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WorkspaceResource {
    pub id: Uuid,
    pub job_id: Uuid,
    /// Terraform type, e.g. `docker_container` or `coder_external_agent`.
    pub type_: String,
    pub name: String,
    pub daily_cost: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LifecycleState {
    #[default]
    Created,
    Starting,
    StartTimeout,
    StartError,
    Ready,
    ShuttingDown,
    ShutdownTimeout,
    ShutdownError,
    Off,
}

impl LifecycleState {
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

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WorkspaceAgent {
    pub id: Uuid,
    pub resource_id: Option<Uuid>,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub display_order: i32,
    pub created_at: Time,
    pub first_connected_at: Option<Time>,
    pub last_connected_at: Option<Time>,
    pub disconnected_at: Option<Time>,
    pub connection_timeout_seconds: i32,
    pub lifecycle_state: LifecycleState,
    pub operating_system: String,
    pub directory: String,
    pub expanded_directory: String,
}

/// Computed agent connection status (`database.WorkspaceAgent.Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    Connecting,
    Timeout,
    Connected,
    /// Disconnected, with the disconnected-since time when known.
    Disconnected {
        since: Option<Time>,
    },
}

impl AgentStatus {
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
    pub id: i64,
    pub chat_id: Uuid,
    pub role: String,
    pub content: String,
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
