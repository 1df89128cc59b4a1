//! `stop_workspace` (spec 2 §3): stop the chat's workspace and wait for the
//! stop build.
//!
//! The flow, top to bottom (spec 2 §3.2):
//! 1. no stop hook → text error;
//! 2. take the per-chat lock for the whole call;
//! 3–4. chat → workspace → latest build → its job (as start does);
//! 5. a pending/running/canceling build is waited out first, then the
//!    workspace and its latest build are read again: the fresh job wins;
//! 6. idempotent only after a *successful* stop;
//! 7–12. as the owner, call coderd's stop hook, bind the chat, wait for the
//!    stop build, fire `OnChatUpdated` again, answer.

use serde::Deserialize;

use super::start_workspace::{
    latest_build_and_job, load_chat_workspace, load_workspace, lock_chat,
};
use super::{
    build_error_result, decode_args, response_error_result, ToolDefinition, ToolEnv, ToolResponse,
};
use crate::build_wait::wait_for_build;
use crate::gojson::Value;
use crate::model::{JobStatus, ProvisionerJob, Transition, Workspace, WorkspaceBuild};
use crate::ports::{Coderd, HookError};

pub const NAME: &str = "stop_workspace";

pub const DESCRIPTION: &str = "Stop the chat's workspace and wait for the stop build to complete. If another workspace build is already in progress, this waits for that build first, then stops the workspace if needed. After waiting, this tool is idempotent if the workspace is already stopped or the in-progress build stopped it. Use this when the user explicitly asks to stop the workspace, or when a workspace-agent error tells you to stop and then start the workspace. Stopping a workspace terminates running processes and may discard unsaved in-memory state. This tool does not delete the workspace.";

pub const STOPPER_NOT_CONFIGURED: &str = "workspace stopper is not configured";

/// Prefix of a failed wait for a build that was already in progress.
pub const IN_PROGRESS_PREFIX: &str = "waiting for in-progress build: ";
/// Prefix of a failed wait for the stop build this tool enqueued.
pub const STOP_FAILED_PREFIX: &str = "workspace stop build failed: ";

pub fn definition() -> ToolDefinition {
    ToolDefinition {
        name: NAME,
        description: DESCRIPTION,
        properties: Vec::new(),
    }
}

/// The tool takes no input; any object (or none) decodes.
#[derive(Debug, Default, Deserialize)]
struct StopArgs {}

pub async fn run(env: &ToolEnv<'_>, input: &str) -> ToolResponse {
    if let Err(response) = decode_args::<StopArgs>(input) {
        return response;
    }
    let Some(coderd) = env.coderd else {
        return ToolResponse::text_error(STOPPER_NOT_CONFIGURED);
    };
    let _chat_lock = lock_chat(env).await;
    match stop(env, coderd).await {
        Ok(response) | Err(response) => response,
    }
}

/// Steps 3–12, under the lock. `Err` is an early answer.
async fn stop(env: &ToolEnv<'_>, coderd: &dyn Coderd) -> Result<ToolResponse, ToolResponse> {
    let mut workspace = load_chat_workspace(env)?;
    let (mut build, mut job) = latest_build_and_job(env, workspace.id)?;
    if matches!(
        job.status,
        JobStatus::Pending | JobStatus::Running | JobStatus::Canceling
    ) {
        (workspace, build, job) = wait_out_in_progress_build(env, &workspace, &build).await?;
    }
    if job.status == JobStatus::Succeeded && build.transition == Transition::Stop {
        return Ok(already_stopped(&workspace));
    }
    env.as_owner()?;
    let stop_build = call_stop_hook(env, coderd, &workspace)?;
    debug_assert_eq!(stop_build.workspace_id, workspace.id);
    env.publish_build_binding(workspace.id, Some(stop_build.id));
    if let Err(err) = wait_for_build(env, &env.ctx, stop_build.id).await {
        let message = format!("{STOP_FAILED_PREFIX}{err}");
        return Ok(ToolResponse::json(&build_error_result(
            &message,
            Some(stop_build.id),
        )));
    }
    env.refire_chat_updated();
    let mut result = Value::map();
    result.insert("build_id", stop_build.id);
    result.insert("stopped", true);
    result.insert("workspace_name", workspace.name.as_str());
    Ok(ToolResponse::json(&result))
}

/// Step 5: bind the chat to the in-progress build, wait for it, then read
/// the workspace and its latest build and job again. Only a failed wait
/// whose fresh job is still not terminal is an answer.
async fn wait_out_in_progress_build(
    env: &ToolEnv<'_>,
    workspace: &Workspace,
    build: &WorkspaceBuild,
) -> Result<(Workspace, WorkspaceBuild, ProvisionerJob), ToolResponse> {
    env.publish_build_binding(workspace.id, Some(build.id));
    let wait_error = wait_for_build(env, &env.ctx, build.id).await.err();
    let fresh_workspace = load_workspace(env, workspace.id)?;
    let (fresh_build, fresh_job) = latest_build_and_job(env, workspace.id)?;
    if let Some(err) = wait_error {
        if !fresh_job.status.is_terminal() {
            let message = format!("{IN_PROGRESS_PREFIX}{err}");
            return Err(ToolResponse::json(&build_error_result(
                &message,
                Some(build.id),
            )));
        }
    }
    Ok((fresh_workspace, fresh_build, fresh_job))
}

/// Step 6: the latest build is a succeeded stop.
fn already_stopped(workspace: &Workspace) -> ToolResponse {
    let mut result = Value::map();
    result.insert("no_build", true);
    result.insert("stopped", true);
    result.insert("workspace_name", workspace.name.as_str());
    ToolResponse::json(&result)
}

/// Step 8: the stop hook as the owner. A response error is JSON (no
/// `template_id`: stopping never needs template input); anything else text.
fn call_stop_hook(
    env: &ToolEnv<'_>,
    coderd: &dyn Coderd,
    workspace: &Workspace,
) -> Result<WorkspaceBuild, ToolResponse> {
    coderd
        .stop_workspace(env.owner_id, workspace.id)
        .map_err(|err| match err {
            HookError::Response(resp) => ToolResponse::json(&response_error_result(&resp)),
            HookError::Other(text) => ToolResponse::text_error(format!("stop workspace: {text}")),
        })
}
