//! Ports: the only ways the engine touches the world. Tests plug in the
//! in-memory store and a manual clock; the simulation plugs in coderd's store,
//! turmoil's clock and a dialer over simulated TCP.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use uuid::Uuid;

use crate::model::*;
use crate::time::Time;

/// A boxed, non-`Send` future: the engine runs on one thread.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A database error. `NotFound` is Go's `sql.ErrNoRows`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// No row matched (`sql: no rows in result set`).
    NotFound,
    /// Any other failure, with the text `err.Error()` would print.
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("sql: no rows in result set"),
            StoreError::Other(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for StoreError {}

/// What every `Store` query returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// Filter of `GetTemplatesWithFilter` as list_templates uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateFilter {
    /// `None` = every organization.
    pub organization_id: Option<Uuid>,
    /// Trimmed query; empty = no query filter.
    pub query: String,
    /// Empty = every template.
    pub ids: Vec<Uuid>,
}

/// The coderd database as the tools and the connection layer read and write
/// it. Every method names the Coder query it stands for.
pub trait Store {
    /// `GetAuthorizationUserRoles` (what `asOwner` loads).
    fn get_authorization_user_roles(&self, user_id: Uuid) -> StoreResult<Vec<String>>;
    /// `GetChatByID`.
    fn get_chat_by_id(&self, chat_id: Uuid) -> StoreResult<Chat>;
    /// `UpdateChatWorkspaceBinding`: sets workspace, build and agent at once.
    fn update_chat_workspace_binding(
        &self,
        chat_id: Uuid,
        workspace_id: Option<Uuid>,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    ) -> StoreResult<Chat>;
    /// `UpdateChatBuildAgentBinding`: sets build and agent, keeps the workspace.
    fn update_chat_build_agent_binding(
        &self,
        chat_id: Uuid,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    ) -> StoreResult<Chat>;
    /// `GetTemplateByID`.
    fn get_template_by_id(&self, template_id: Uuid) -> StoreResult<Template>;
    /// Not deleted, not deprecated, matching the filter; ordered by name, then ID.
    fn get_templates_with_filter(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>>;
    /// `(template_id, unique owner count)` for the given templates.
    fn get_workspace_unique_owner_count_by_template_ids(
        &self,
        template_ids: &[Uuid],
    ) -> StoreResult<Vec<(Uuid, i64)>>;
    /// `GetTemplateVersionByID`.
    fn get_template_version_by_id(&self, version_id: Uuid) -> StoreResult<TemplateVersion>;
    /// `GetTemplateVersionParameters`, in DB order.
    fn get_template_version_parameters(
        &self,
        version_id: Uuid,
    ) -> StoreResult<Vec<TemplateVersionParameter>>;
    /// `GetPresetsByTemplateVersionID`, in DB order.
    fn get_presets_by_template_version_id(&self, version_id: Uuid) -> StoreResult<Vec<Preset>>;
    /// `GetPresetParametersByTemplateVersionID`: every preset's values, in DB order.
    fn get_preset_parameters_by_template_version_id(
        &self,
        version_id: Uuid,
    ) -> StoreResult<Vec<PresetParameter>>;
    /// `GetWorkspaceByID` (deleted workspaces included).
    fn get_workspace_by_id(&self, workspace_id: Uuid) -> StoreResult<Workspace>;
    /// `GetLatestWorkspaceBuildByWorkspaceID`: the highest build number.
    fn get_latest_workspace_build_by_workspace_id(
        &self,
        workspace_id: Uuid,
    ) -> StoreResult<WorkspaceBuild>;
    /// `GetWorkspaceBuildByID`.
    fn get_workspace_build_by_id(&self, build_id: Uuid) -> StoreResult<WorkspaceBuild>;
    /// `GetProvisionerJobByID`.
    fn get_provisioner_job_by_id(&self, job_id: Uuid) -> StoreResult<ProvisionerJob>;
    /// Agents of the workspace's latest build, in insertion (DB) order.
    fn get_workspace_agents_in_latest_build_by_workspace_id(
        &self,
        workspace_id: Uuid,
    ) -> StoreResult<Vec<WorkspaceAgent>>;
    /// `GetWorkspaceAgentByID`: a fresh row (the latest heartbeat counts).
    fn get_workspace_agent_by_id(&self, agent_id: Uuid) -> StoreResult<WorkspaceAgent>;
    /// `GetWorkspaceAgentLifecycleStateByID`: what phase 2 of
    /// `waitForAgentReady` polls.
    fn get_workspace_agent_lifecycle_state_by_id(
        &self,
        agent_id: Uuid,
    ) -> StoreResult<LifecycleState>;
    /// `GetWorkspaceResourceByID` (`IsExternalWorkspaceAgent` reads its type).
    fn get_workspace_resource_by_id(&self, resource_id: Uuid) -> StoreResult<WorkspaceResource>;
    /// Sum of `daily_cost` over the latest build of each non-deleted workspace
    /// the owner has in the organization.
    fn get_quota_consumed_for_user(
        &self,
        owner_id: Uuid,
        organization_id: Uuid,
    ) -> StoreResult<i64>;
    /// Sum of `quota_allowance` over the owner's groups in the organization
    /// (the Everyone group included).
    fn get_quota_allowance_for_user(
        &self,
        user_id: Uuid,
        organization_id: Uuid,
    ) -> StoreResult<i64>;
    /// `GetChatWorkspaceTTL`: the deployment's raw Go duration string.
    fn get_chat_workspace_ttl(&self) -> StoreResult<String>;
    /// `GetChatMessagesForPromptByChatID`, in message order.
    fn get_chat_messages_for_prompt(&self, chat_id: Uuid) -> StoreResult<Vec<ChatMessage>>;
    /// Appends a message; returns the stored row.
    fn insert_chat_message(
        &self,
        chat_id: Uuid,
        role: &str,
        content: &str,
        now: Time,
    ) -> StoreResult<ChatMessage>;
}

/// One validation entry of an HTTP-style error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// The request field at fault, e.g. `name`.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

/// An HTTP-style response error (`codersdk.Response` behind an
/// `httperror.Responder`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseError {
    /// The HTTP status, e.g. 400 or 409.
    pub status: u16,
    /// `Message` (the model sees `request failed` when empty).
    pub message: String,
    /// `Detail`; empty = none.
    pub detail: String,
    /// `Validations`, in order.
    pub validations: Vec<Validation>,
}

/// An error from a coderd build hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookError {
    /// Carries a response: the tools hand it to the model as JSON.
    Response(ResponseError),
    /// Any other error: the tools return its text.
    Other(String),
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookError::Response(resp) => f.write_str(&resp.message),
            HookError::Other(msg) => f.write_str(msg),
        }
    }
}

/// `codersdk.CreateWorkspaceRequest` as create_workspace builds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateWorkspaceRequest {
    /// The template to build from (its active version).
    pub template_id: Uuid,
    /// The workspace name: the model's if valid, else generated (spec 1 §3.10).
    pub name: String,
    /// The chat workspace TTL in milliseconds; `None` = the template default.
    pub ttl_ms: Option<i64>,
    /// The model's `preset_id`, if any: its values apply and a ready
    /// prebuild of it may be claimed.
    pub template_version_preset_id: Option<Uuid>,
    /// Sorted by name for determinism.
    pub rich_parameter_values: Vec<BuildParameter>,
}

/// The workspace a create hook returns (`codersdk.Workspace`, the parts the
/// tool reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedWorkspace {
    /// The workspace's ID.
    pub id: Uuid,
    /// The bare workspace name.
    pub name: String,
    /// The owner's username.
    pub owner_name: String,
    /// `LatestBuild.ID`; `None` is the nil UUID.
    pub latest_build_id: Option<Uuid>,
}

impl CreatedWorkspace {
    /// `FullName()`: `<owner_name>/<name>`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner_name, self.name)
    }
}

/// coderd's workspace build hooks. They insert build and job rows; a
/// provisioner completes the jobs later.
pub trait Coderd {
    /// `CreateFn`: creates the workspace (or claims a ready prebuild of the
    /// request's preset) and enqueues its start build (spec 1 §3.3 step 17).
    fn create_workspace(
        &self,
        owner_id: Uuid,
        request: &CreateWorkspaceRequest,
    ) -> Result<CreatedWorkspace, HookError>;
    /// `chatStartWorkspace`: pins the active version when the template
    /// requires it; resolves parameters; returns the new build.
    fn start_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
        parameters: &[BuildParameter],
    ) -> Result<WorkspaceBuild, HookError>;
    /// `chatStopWorkspace`: never gated by version policy.
    fn stop_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
    ) -> Result<WorkspaceBuild, HookError>;
}

/// A dial failure. Its text is what `err.Error()` would print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialError(pub String);

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Output of a command run on the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// Combined stdout and stderr.
    pub output: String,
    /// The command's exit code.
    pub exit_code: i32,
}

/// A context file the agent reports (instruction file such as AGENTS.md).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ContextFile {
    /// Absolute path on the workspace.
    pub path: String,
    /// The file's text (possibly cut).
    pub content: String,
    /// Whether the agent cut the content at its size limit.
    pub truncated: bool,
}

/// A skill the agent discovered in the workspace.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SkillMeta {
    /// The skill's name (skills are de-duplicated by name).
    pub name: String,
    /// What the skill is for.
    pub description: String,
    /// The skill's directory on the workspace.
    pub dir: String,
}

/// What an agent returns when asked for its context.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AgentContext {
    /// Instruction files, in the agent's order.
    pub files: Vec<ContextFile>,
    /// Discovered skills, in the agent's order.
    pub skills: Vec<SkillMeta>,
}

/// A live connection to a workspace agent. Dropping it releases it.
pub trait AgentConn {
    /// Runs a shell command (the `execute` tool); `Err` is the error text.
    fn execute<'a>(&'a self, command: &'a str) -> LocalBoxFuture<'a, Result<ExecOutput, String>>;
    /// Reads a file (the `read_file` tool); `Err` is the error text.
    fn read_file<'a>(&'a self, path: &'a str) -> LocalBoxFuture<'a, Result<String, String>>;
    /// The agent's instruction files and skills (a context pull, spec 3 §4.2).
    fn context<'a>(&'a self) -> LocalBoxFuture<'a, Result<AgentContext, String>>;
    /// Headers set on the connection (chat ID, ancestor chat IDs).
    fn set_extra_headers(&self, _headers: &[(String, String)]) {}
}

/// Opens connections to workspace agents; the engine's only network call.
/// A dial future that is dropped is canceled (and releases anything it got).
pub trait AgentDialer {
    /// Connects to the agent; the future resolves with the connection or
    /// the dial error.
    fn dial(
        &self,
        agent_id: Uuid,
    ) -> LocalBoxFuture<'static, Result<Box<dyn AgentConn>, DialError>>;
}

/// Virtual time. Every poll, deadline and timeout goes through it.
pub trait Clock {
    /// The current virtual time.
    fn now(&self) -> Time;
    /// Resolves once `now() >= deadline`.
    fn sleep_until(&self, deadline: Time) -> LocalBoxFuture<'static, ()>;
    /// Resolves once `duration` has passed from now.
    fn sleep(&self, duration: Duration) -> LocalBoxFuture<'static, ()> {
        self.sleep_until(self.now() + duration)
    }
}

/// Seeded identifiers.
pub trait Ids {
    /// The next ID (row IDs, generated-name suffixes).
    fn new_uuid(&self) -> Uuid;
}

/// What the engine reports to the world (trace, chat clients).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `OnChatUpdated` fired with this chat row.
    ChatUpdated(Chat),
    /// A status-change event published for the chat (build logs key off it).
    ChatStatusChange {
        /// The chat whose status changed.
        chat_id: Uuid,
    },
    /// A dial of an agent started by the connection layer.
    Dial {
        /// The agent dialed.
        agent_id: Uuid,
    },
    /// A log line the engine chose to record (chatsim-defined texts).
    Log {
        /// `debug`, `warn` or `error`.
        level: &'static str,
        /// The line.
        message: String,
    },
}

/// Where the engine's [`Event`]s go (a trace, chat clients, a test's record).
pub trait Events {
    /// Records one event.
    fn emit(&self, event: Event);
}
