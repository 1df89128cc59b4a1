//! `start_workspace` (spec 2 §1): start the chat's workspace if it is
//! stopped, wait for the build and the agent, and tell the model how it went.
//!
//! The flow, top to bottom (spec 2 §1.2):
//! 1. no start hook → text error;
//! 2. take the per-chat lock for the whole call;
//! 3–5. chat → workspace → latest build → its job;
//! 6. a pending/running build is joined (waited for) instead of starting a
//!    second one; a succeeded start means "already running";
//! 7–8. as the owner, call coderd's start hook (parameters sorted by name);
//! 9–14. bind the chat, wait for the build and the agent, annotate an
//!    automatic update to the active version, fire `OnChatUpdated` again.
//!
//! The chat/workspace/build lookups are shared with `stop_workspace`, whose
//! spec says they are "exactly as start".

use std::collections::BTreeMap;

use futures::lock::MutexGuard;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    decode_args, response_error_result, set_build_id, set_no_build, Property, ToolDefinition,
    ToolEnv, ToolResponse,
};
use crate::agent_select::find_chat_agent;
use crate::build_wait::{
    build_failure_response, wait_for_agent_ready, wait_for_build, BuildAction,
};
use crate::gojson::Value;
use crate::model::{
    BuildParameter, JobStatus, ProvisionerJob, Transition, Workspace, WorkspaceBuild,
};
use crate::ports::{Coderd, HookError};

pub const NAME: &str = "start_workspace";

/// The upstream description plus chatsim's sentence about `parameters`
/// (spec 2 §1.1). The dash is an em dash (U+2014).
pub const DESCRIPTION: &str = "Start the chat's workspace if it is currently stopped. This tool is idempotent \u{2014} if the workspace is already running, it returns immediately. Use create_workspace first if no workspace exists yet. If a start fails because the template's active version needs new parameter values, call read_template with the returned template_id and retry with parameters.";

/// chatsim-defined description of the `parameters` input.
pub const PARAMETERS_DESCRIPTION: &str = "Key-value pairs of template parameters to use when starting the workspace. Obtain available parameters from read_template.";

pub const STARTER_NOT_CONFIGURED: &str = "workspace starter is not configured";
pub const NO_WORKSPACE: &str = "chat has no workspace; use create_workspace first";
pub const WORKSPACE_DELETED: &str = "workspace was deleted; use create_workspace to make a new one";

/// Prefix of a failed wait for a build that was already in progress.
pub const IN_PROGRESS_PREFIX: &str = "waiting for in-progress build: ";
/// Prefix of a failed wait for the start build this tool enqueued.
pub const START_FAILED_PREFIX: &str = "workspace start build failed: ";

pub const UPDATE_REASON: &str = "template requires active versions";
pub const UPDATED_MESSAGE: &str = "Workspace started and was updated to the active template version because the template requires active versions.";

pub fn definition() -> ToolDefinition {
    ToolDefinition {
        name: NAME,
        description: DESCRIPTION,
        properties: vec![Property {
            name: "parameters",
            type_: "object",
            description: PARAMETERS_DESCRIPTION,
            required: false,
        }],
    }
}

/// `StartWorkspaceArgs`. Unknown fields (a `preset_id`, say) are ignored.
#[derive(Debug, Default, Deserialize)]
struct StartArgs {
    #[serde(default)]
    parameters: Option<BTreeMap<String, String>>,
}

pub async fn run(env: &ToolEnv<'_>, input: &str) -> ToolResponse {
    let args: StartArgs = match decode_args(input) {
        Ok(args) => args,
        Err(response) => return response,
    };
    let Some(coderd) = env.coderd else {
        return ToolResponse::text_error(STARTER_NOT_CONFIGURED);
    };
    let _chat_lock = lock_chat(env).await;
    match start(env, coderd, &args).await {
        Ok(response) | Err(response) => response,
    }
}

/// Steps 3–14, under the lock. `Err` is an early answer.
async fn start(
    env: &ToolEnv<'_>,
    coderd: &dyn Coderd,
    args: &StartArgs,
) -> Result<ToolResponse, ToolResponse> {
    let workspace = load_chat_workspace(env)?;
    let (previous, job) = latest_build_and_job(env, workspace.id)?;
    match job.status {
        JobStatus::Pending | JobStatus::Running => {
            return Ok(join_in_progress_build(env, &workspace, &previous).await);
        }
        JobStatus::Succeeded if previous.transition == Transition::Start => {
            let result = wait_for_agent_and_respond(env, &workspace, None).await;
            return Ok(ToolResponse::json(&result));
        }
        _ => {} // a stop, a failure, a cancellation: start (again)
    }
    env.as_owner()?;
    let build = call_start_hook(env, coderd, &workspace, args)?;
    debug_assert_eq!(build.workspace_id, workspace.id);
    env.publish_build_binding(workspace.id, Some(build.id));
    if let Err(err) = wait_for_build(env, &env.ctx, build.id).await {
        return Ok(build_failure_response(
            env,
            workspace.organization_id,
            BuildAction::Start,
            Some(build.id),
            &format!("{START_FAILED_PREFIX}{err}"),
            err.code(),
            true,
        ));
    }
    let mut result = wait_for_agent_and_respond(env, &workspace, Some(build.id)).await;
    annotate_auto_update(
        &mut result,
        previous.template_version_id,
        build.template_version_id,
    );
    env.refire_chat_updated();
    Ok(ToolResponse::json(&result))
}

/// Step 6 for a pending or running build: bind the chat to it, wait for it,
/// then for the agent. Before `asOwner`, so a quota result escalates itself.
async fn join_in_progress_build(
    env: &ToolEnv<'_>,
    workspace: &Workspace,
    build: &WorkspaceBuild,
) -> ToolResponse {
    env.publish_build_binding(workspace.id, Some(build.id));
    if let Err(err) = wait_for_build(env, &env.ctx, build.id).await {
        return build_failure_response(
            env,
            workspace.organization_id,
            BuildAction::Start,
            Some(build.id),
            &format!("{IN_PROGRESS_PREFIX}{err}"),
            err.code(),
            false,
        );
    }
    let result = wait_for_agent_and_respond(env, workspace, Some(build.id)).await;
    env.refire_chat_updated();
    ToolResponse::json(&result)
}

/// Step 8: the start hook as the owner. A response error reaches the model
/// as JSON with the workspace's `template_id`; anything else is text.
fn call_start_hook(
    env: &ToolEnv<'_>,
    coderd: &dyn Coderd,
    workspace: &Workspace,
    args: &StartArgs,
) -> Result<WorkspaceBuild, ToolResponse> {
    // A BTreeMap iterates in name order: the hook sees sorted parameters.
    let parameters: Vec<BuildParameter> = args
        .parameters
        .iter()
        .flatten()
        .map(|(name, value)| BuildParameter {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    coderd
        .start_workspace(env.owner_id, workspace.id, &parameters)
        .map_err(|err| match err {
            HookError::Response(resp) => {
                let mut result = response_error_result(&resp);
                result.insert("template_id", workspace.template_id);
                ToolResponse::json(&result)
            }
            HookError::Other(text) => ToolResponse::text_error(format!("start workspace: {text}")),
        })
}

/// Step 12: the three annotation keys, only when both versions are known
/// (not nil) and differ.
fn annotate_auto_update(result: &mut Value, previous_version: Uuid, new_version: Uuid) {
    if previous_version.is_nil() || new_version.is_nil() || previous_version == new_version {
        return;
    }
    result.insert("updated_to_active_version", true);
    result.insert("update_reason", UPDATE_REASON);
    result.insert("message", UPDATED_MESSAGE);
}

/// `waitForAgentAndRespond` (spec 2 §1.3): `started`, the bare workspace
/// name, the agent's readiness keys, and `build_id` or `no_build`.
async fn wait_for_agent_and_respond(
    env: &ToolEnv<'_>,
    workspace: &Workspace,
    build_id: Option<Uuid>,
) -> Value {
    let mut result = Value::map();
    result.insert("started", true);
    result.insert("workspace_name", workspace.name.as_str());
    let agents = env
        .store
        .get_workspace_agents_in_latest_build_by_workspace_id(workspace.id)
        .unwrap_or_default();
    if agents.is_empty() {
        result.insert("agent_status", "no_agent");
    } else {
        match find_chat_agent(&agents) {
            Err(text) => {
                // The raw selection error, no fallback, no dial.
                result.insert("agent_status", "selection_error");
                result.insert("agent_error", text);
            }
            Ok(agent) => {
                let ready = wait_for_agent_ready(env, &env.ctx, &agent, env.dialer).await;
                merge_into(&mut result, ready);
            }
        }
    }
    set_build_id(&mut result, build_id);
    set_no_build(&mut result, build_id);
    result
}

fn merge_into(result: &mut Value, extra: Value) {
    let Value::Map(keys) = extra else {
        unreachable!("waitForAgentReady returns a map");
    };
    for (key, value) in keys {
        result.insert(&key, value);
    }
}

/// Takes the per-chat lock (shared with create and stop), if configured.
pub(crate) async fn lock_chat<'a>(env: &ToolEnv<'a>) -> Option<MutexGuard<'a, ()>> {
    match env.workspace_mu {
        Some(mu) => Some(mu.lock().await),
        None => None,
    }
}

/// Steps 3–4: the chat's bound, non-deleted workspace.
pub(crate) fn load_chat_workspace(env: &ToolEnv<'_>) -> Result<Workspace, ToolResponse> {
    let chat = env
        .store
        .get_chat_by_id(env.chat_id)
        .map_err(|err| ToolResponse::text_error(format!("load chat: {err}")))?;
    let Some(workspace_id) = chat.workspace_id else {
        return Err(ToolResponse::text_error(NO_WORKSPACE));
    };
    load_workspace(env, workspace_id)
}

/// Step 4: the workspace row; an error or a deleted workspace is text.
pub(crate) fn load_workspace(
    env: &ToolEnv<'_>,
    workspace_id: Uuid,
) -> Result<Workspace, ToolResponse> {
    let workspace = env
        .store
        .get_workspace_by_id(workspace_id)
        .map_err(|err| ToolResponse::text_error(format!("load workspace: {err}")))?;
    if workspace.deleted {
        return Err(ToolResponse::text_error(WORKSPACE_DELETED));
    }
    Ok(workspace)
}

/// `latestWorkspaceBuildAndJob`, errors as text.
pub(crate) fn latest_build_and_job(
    env: &ToolEnv<'_>,
    workspace_id: Uuid,
) -> Result<(WorkspaceBuild, ProvisionerJob), ToolResponse> {
    let build = env
        .store
        .get_latest_workspace_build_by_workspace_id(workspace_id)
        .map_err(|err| ToolResponse::text_error(format!("get latest build: {err}")))?;
    let job = env
        .store
        .get_provisioner_job_by_id(build.job_id)
        .map_err(|err| ToolResponse::text_error(format!("get provisioner job: {err}")))?;
    Ok((build, job))
}
