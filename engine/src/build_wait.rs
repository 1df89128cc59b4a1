//! Waiting for builds and agents, and the build-failure results
//! (spec 1 §2, §3.5–§3.8).

use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use crate::ctx::{Ctx, CtxError, Ticker};
use crate::gojson::Value;
use crate::model::{
    JobStatus, LifecycleState, WorkspaceAgent, EXTERNAL_AGENT_RESOURCE_TYPE, INSUFFICIENT_QUOTA,
};
use crate::ports::{AgentDialer, Store};
use crate::tools::{build_error_result, ToolEnv, ToolResponse};

pub const BUILD_POLL_INTERVAL: Duration = Duration::from_secs(2);
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const AGENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2 * 60);
pub const AGENT_RETRY_INTERVAL: Duration = Duration::from_secs(2);
pub const AGENT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const STARTUP_SCRIPT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const STARTUP_SCRIPT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Why `wait_for_build` failed. `Display` is the Go `Error()` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildWaitError {
    /// The job failed (`workspaceBuildError`): its message and error code.
    Failed { message: String, code: String },
    /// Lookups, cancellation, timeouts and unexpected states.
    Other(String),
}

impl BuildWaitError {
    /// The job's error code, empty when none.
    pub fn code(&self) -> &str {
        match self {
            BuildWaitError::Failed { code, .. } => code,
            BuildWaitError::Other(_) => "",
        }
    }
}

impl fmt::Display for BuildWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildWaitError::Failed { message, .. } => f.write_str(message),
            BuildWaitError::Other(text) => f.write_str(text),
        }
    }
}

/// `waitForBuild`: polls the build (by ID) and its job every 2 s, first poll
/// at once, for at most 10 minutes.
pub async fn wait_for_build(
    env: &ToolEnv<'_>,
    ctx: &Ctx,
    build_id: Uuid,
) -> Result<(), BuildWaitError> {
    let clock = env.clock;
    let build_ctx = ctx.with_timeout(clock, BUILD_TIMEOUT);
    let mut ticker = Ticker::new(clock, BUILD_POLL_INTERVAL);
    // Bounded: the deadline ends the loop after BUILD_TIMEOUT / interval polls.
    loop {
        let build = env
            .store
            .get_workspace_build_by_id(build_id)
            .map_err(|err| BuildWaitError::Other(format!("get build: {err}")))?;
        let job = env
            .store
            .get_provisioner_job_by_id(build.job_id)
            .map_err(|err| BuildWaitError::Other(format!("get provisioner job: {err}")))?;
        match job.status {
            JobStatus::Succeeded => return Ok(()),
            JobStatus::Failed => {
                return Err(BuildWaitError::Failed {
                    message: job.error.unwrap_or_else(|| "build failed".to_string()),
                    code: job.error_code.unwrap_or_default(),
                })
            }
            JobStatus::Canceled => {
                return Err(BuildWaitError::Other("build was canceled".to_string()))
            }
            JobStatus::Pending | JobStatus::Running | JobStatus::Canceling => {}
        }
        if let Err(err) = ticker.tick_or_done(clock, &build_ctx).await {
            return Err(BuildWaitError::Other(format!(
                "timed out waiting for workspace build: {err}"
            )));
        }
    }
}

/// `IsExternalWorkspaceAgent`: the agent's resource is a
/// `coder_external_agent`. Lookup errors count as not external.
pub fn is_external_agent(store: &dyn Store, agent: &WorkspaceAgent) -> bool {
    let Some(resource_id) = agent.resource_id else {
        return false;
    };
    store
        .get_workspace_resource_by_id(resource_id)
        .is_ok_and(|r| r.type_ == EXTERNAL_AGENT_RESOURCE_TYPE)
}

/// `ExternalAgentUnavailableMessage`.
pub fn external_agent_unavailable_message(agent: &WorkspaceAgent) -> &'static str {
    if agent.first_connected_at.is_some() {
        "workspace uses an externally managed agent that is currently offline. The user needs to reconnect the external agent on its host, then try again"
    } else {
        "workspace uses an externally managed agent that has not connected yet. The user needs to start the workspace externally and make sure the external agent is connected, then try again"
    }
}

/// `waitForAgentReady`: the keys describing a problem (an empty map means
/// ready). Phase 1 dials (only with a dialer), phase 2 polls the lifecycle.
pub async fn wait_for_agent_ready(
    env: &ToolEnv<'_>,
    ctx: &Ctx,
    agent: &WorkspaceAgent,
    dialer: Option<&dyn AgentDialer>,
) -> Value {
    let mut result = Value::map();
    if let Some(dialer) = dialer {
        if let Err(last_error) = dial_until_connected(env, ctx, agent, dialer).await {
            let agent_error = if is_external_agent(env.store, agent) {
                external_agent_unavailable_message(agent).to_string()
            } else {
                last_error
            };
            result.insert("agent_status", "not_ready");
            result.insert("agent_error", agent_error);
            return result;
        }
    }
    match wait_for_startup_scripts(env, ctx, agent.id).await {
        Ok(()) => {}
        Err(StartupScripts::Failed(state)) => {
            result.insert("startup_scripts", "startup_scripts_failed");
            result.insert("lifecycle_state", state.as_str());
        }
        Err(StartupScripts::Ended(CtxError::DeadlineExceeded)) => {
            result.insert("startup_scripts", "startup_scripts_timeout");
        }
        Err(StartupScripts::Ended(CtxError::Canceled)) => {
            result.insert("startup_scripts", "startup_scripts_unknown");
        }
    }
    result
}

/// Phase 1: dial every 2 s (5 s per attempt) for up to 2 minutes; a
/// successful connection is released at once. Err = the last dial error.
async fn dial_until_connected(
    env: &ToolEnv<'_>,
    ctx: &Ctx,
    agent: &WorkspaceAgent,
    dialer: &dyn AgentDialer,
) -> Result<(), String> {
    let clock = env.clock;
    let agent_ctx = ctx.with_timeout(clock, AGENT_CONNECT_TIMEOUT);
    let mut ticker = Ticker::new(clock, AGENT_RETRY_INTERVAL);
    loop {
        let attempt_ctx = agent_ctx.with_timeout(clock, AGENT_ATTEMPT_TIMEOUT);
        let last_error = match attempt_ctx.race(clock, dialer.dial(agent.id)).await {
            Ok(Ok(conn)) => {
                drop(conn); // release(): the connection itself is not kept
                return Ok(());
            }
            Ok(Err(err)) => err.to_string(),
            Err(err) => err.to_string(),
        };
        if ticker.tick_or_done(clock, &agent_ctx).await.is_err() {
            return Err(last_error);
        }
    }
}

enum StartupScripts {
    Failed(LifecycleState),
    Ended(CtxError),
}

/// Phase 2: poll the lifecycle state every 2 s for up to 10 minutes.
async fn wait_for_startup_scripts(
    env: &ToolEnv<'_>,
    ctx: &Ctx,
    agent_id: Uuid,
) -> Result<(), StartupScripts> {
    let clock = env.clock;
    let script_ctx = ctx.with_timeout(clock, STARTUP_SCRIPT_TIMEOUT);
    let mut ticker = Ticker::new(clock, STARTUP_SCRIPT_POLL_INTERVAL);
    loop {
        match env
            .store
            .get_workspace_agent_lifecycle_state_by_id(agent_id)
        {
            Ok(LifecycleState::Ready) => return Ok(()),
            Ok(LifecycleState::Created | LifecycleState::Starting) | Err(_) => {}
            Ok(other) => return Err(StartupScripts::Failed(other)),
        }
        ticker
            .tick_or_done(clock, &script_ctx)
            .await
            .map_err(StartupScripts::Ended)?;
    }
}

/// Which verb the quota message uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildAction {
    Create,
    Start,
}

impl BuildAction {
    pub fn verb(self) -> &'static str {
        match self {
            BuildAction::Create => "create",
            BuildAction::Start => "start",
        }
    }
}

/// `buildFailureToolResponse`: the quota result when the job's code is
/// `INSUFFICIENT_QUOTA`, else `{"error", "build_id"?}`. Never an error
/// response. `owner_ctx` says whether the call already runs as the owner
/// (otherwise the quota lookup escalates with `asOwner` first).
pub fn build_failure_response(
    env: &ToolEnv<'_>,
    organization_id: Uuid,
    action: BuildAction,
    build_id: Option<Uuid>,
    message: &str,
    code: &str,
    owner_ctx: bool,
) -> ToolResponse {
    if code != INSUFFICIENT_QUOTA {
        return ToolResponse::json(&build_error_result(message, build_id));
    }
    let mut fields = vec![
        ("error_code", Value::from(INSUFFICIENT_QUOTA)),
        ("error", Value::from(message)),
        ("title", Value::from("Workspace quota reached")),
        ("message", Value::from(quota_message(action))),
    ];
    if let Some(id) = build_id.filter(|id| !id.is_nil()) {
        fields.push(("build_id", Value::from(id)));
    }
    if let Some(quota) = quota_details(env, organization_id, owner_ctx) {
        fields.push(("quota", quota));
    }
    ToolResponse::json(&Value::Struct(fields))
}

/// The user-facing quota text (newer shape, no `next_steps`).
pub fn quota_message(action: BuildAction) -> String {
    format!(
        "Coder could not {} this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.",
        action.verb()
    )
}

/// `workspaceQuotaDetails`: best effort, omitted on any failure.
fn quota_details(env: &ToolEnv<'_>, organization_id: Uuid, owner_ctx: bool) -> Option<Value> {
    if env.owner_id.is_nil() || organization_id.is_nil() {
        return None;
    }
    if !owner_ctx && env.as_owner().is_err() {
        return None;
    }
    let consumed = env
        .store
        .get_quota_consumed_for_user(env.owner_id, organization_id)
        .ok()?;
    let budget = env
        .store
        .get_quota_allowance_for_user(env.owner_id, organization_id)
        .ok()?;
    Some(Value::Struct(vec![
        ("credits_consumed", Value::Int(consumed)),
        ("budget", Value::Int(budget)),
    ]))
}
