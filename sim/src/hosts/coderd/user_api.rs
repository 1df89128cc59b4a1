//! coderd's user API: what a person does in the dashboard or CLI (create,
//! start, stop a workspace; wait for its build; attach it to a chat; run a
//! command on the chat's agent; look at it). Each call acts as the chat's
//! owner and goes through the same hooks and dialer the engine uses.

use std::time::Duration;

use chatsim_engine::find_chat_agent;
use chatsim_engine::memory::Query;
use chatsim_engine::model::{BuildParameter, WorkspaceAgent};
use chatsim_engine::ports::{AgentDialer, Coderd, CreateWorkspaceRequest, HookError, Store};
use chatsim_engine::tools::ToolResponse;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use super::chat_api::TurnRef;
use super::{CoderdCore, SimDialer, WorkspaceRef};
use crate::plan::Call;
use crate::transport::Net;

/// How often `wait_build` polls, and for how long.
const BUILD_POLL: Duration = Duration::from_secs(2);
const BUILD_WAIT_LIMIT: Duration = Duration::from_secs(10 * 60);

/// Text of an exec whose dial did not finish within the dial timeout.
pub const EXEC_DIAL_TIMEOUT: &str = "connection to the workspace agent timed out";

pub(super) async fn run<N: Net>(
    core: &CoderdCore<N>,
    turn: TurnRef<'_>,
    call: Call,
) -> ToolResponse {
    let chat_id = turn.turn.current_chat().id;
    let Some(owner) = core
        .store
        .tables()
        .chats
        .iter()
        .find(|c| c.id == chat_id)
        .map(|c| c.owner_id)
    else {
        return ToolResponse::text_error("chat not found");
    };
    let result = match call {
        Call::Tool { .. } => Err("not a user call".to_string()),
        Call::CreateWorkspace {
            template,
            name,
            parameters,
            preset,
        } => create(
            core,
            owner,
            &template,
            &name,
            &parameters,
            preset.as_deref(),
        ),
        Call::StartWorkspace {
            workspace,
            parameters,
        } => with_workspace(core, &workspace, |ws| {
            hook_result(core.start_workspace(owner, ws, &build_parameters(&parameters)))
        }),
        Call::StopWorkspace { workspace } => with_workspace(core, &workspace, |ws| {
            hook_result(core.stop_workspace(owner, ws))
        }),
        Call::WaitBuild { workspace } => wait_build(core, &workspace).await,
        Call::BindChat { workspace } => bind_chat(core, turn, &workspace),
        Call::Exec { command } => exec(core, chat_id, &command).await,
        Call::Inspect { workspace } => inspect(core, chat_id, &workspace),
    };
    match result {
        Ok(value) => ToolResponse::text(value.to_string()),
        Err(message) => ToolResponse::text_error(message),
    }
}

fn build_parameters(parameters: &BTreeMap<String, String>) -> Vec<BuildParameter> {
    parameters
        .iter()
        .map(|(name, value)| BuildParameter {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn with_workspace<N: Net>(
    core: &CoderdCore<N>,
    name: &str,
    f: impl FnOnce(uuid::Uuid) -> Result<Value, String>,
) -> Result<Value, String> {
    let ws = core
        .find_workspace_id(WorkspaceRef::parse(name))
        .ok_or_else(|| format!("workspace {name:?} not found"))?;
    f(ws)
}

fn hook_error(err: HookError) -> Value {
    match err {
        HookError::Response(resp) => json!({
            "error": resp.message,
            "status": resp.status,
            "detail": resp.detail,
            "validations": resp.validations.iter()
                .map(|v| json!({"field": v.field, "detail": v.detail}))
                .collect::<Vec<_>>(),
        }),
        HookError::Other(message) => json!({ "error": message }),
    }
}

fn hook_result(
    result: Result<chatsim_engine::model::WorkspaceBuild, HookError>,
) -> Result<Value, String> {
    Ok(match result {
        Ok(build) => json!({
            "build_id": build.id.to_string(),
            "build_number": build.build_number,
            "transition": build.transition.as_str(),
        }),
        Err(err) => hook_error(err),
    })
}

fn create<N: Net>(
    core: &CoderdCore<N>,
    owner: uuid::Uuid,
    template: &str,
    name: &str,
    parameters: &BTreeMap<String, String>,
    preset: Option<&str>,
) -> Result<Value, String> {
    let template_id = core
        .find_template(template)
        .ok_or_else(|| format!("template {template:?} not found"))?;
    let preset_id = match preset {
        None => None,
        Some(preset) => {
            let t = core.store.tables();
            let version = t.template(template_id).map(|t| t.active_version_id);
            let found = t
                .presets
                .iter()
                .find(|p| Some(p.template_version_id) == version && p.name == preset);
            Some(
                found
                    .ok_or_else(|| format!("preset {preset:?} not found"))?
                    .id,
            )
        }
    };
    let request = CreateWorkspaceRequest {
        template_id,
        name: name.to_string(),
        ttl_ms: None,
        template_version_preset_id: preset_id,
        rich_parameter_values: build_parameters(parameters),
    };
    Ok(match core.create_workspace(owner, &request) {
        Ok(created) => json!({
            "workspace_id": created.id.to_string(),
            "name": created.full_name(),
            "build_id": created.latest_build_id.map(|b| b.to_string()),
        }),
        Err(err) => hook_error(err),
    })
}

/// Polls the workspace's latest build until its job ends. Each poll runs
/// the same two store queries as the `Store` methods (counted, failing as
/// injected) but reads only the fields it needs: many waits poll at once
/// while builds queue, so a poll copies no row.
async fn wait_build<N: Net>(core: &CoderdCore<N>, name: &str) -> Result<Value, String> {
    let rounds = (BUILD_WAIT_LIMIT.as_secs() / BUILD_POLL.as_secs()) as usize;
    let reference = WorkspaceRef::parse(name);
    for _ in 0..=rounds {
        let ws = core
            .find_workspace_id(reference)
            .ok_or_else(|| format!("workspace {name:?} not found"))?;
        let (job_id, number, transition) = core
            .store
            .read(Query::GetLatestWorkspaceBuildByWorkspaceId, |t| {
                let b = t.latest_build(ws)?;
                Some((b.job_id, b.build_number, b.transition))
            })
            .map_err(|e| format!("get latest build: {e}"))?;
        let ended = core
            .store
            .read(Query::GetProvisionerJobById, |t| {
                let job = t.job(job_id)?;
                let ended = job.status.is_terminal();
                Some(ended.then(|| (job.status, job.error.clone(), job.error_code.clone())))
            })
            .map_err(|e| format!("get provisioner job: {e}"))?;
        if let Some((status, error, error_code)) = ended {
            return Ok(json!({
                "build_number": number,
                "transition": transition.as_str(),
                "status": status.as_str(),
                "error": error,
                "error_code": error_code,
            }));
        }
        core.net.sleep(BUILD_POLL).await;
    }
    Err(format!("timed out waiting for the build of {name:?}"))
}

fn latest_chat_agent<N: Net>(core: &CoderdCore<N>, ws: uuid::Uuid) -> Option<WorkspaceAgent> {
    let agents = core
        .store
        .get_workspace_agents_in_latest_build_by_workspace_id(ws)
        .ok()?;
    find_chat_agent(&agents).ok()
}

/// Binds the chat and tells the running turn, as `OnChatUpdated` does.
fn bind_chat<N: Net>(core: &CoderdCore<N>, turn: TurnRef<'_>, name: &str) -> Result<Value, String> {
    let chat_id = turn.turn.current_chat().id;
    let ws = core
        .find_workspace_id(WorkspaceRef::parse(name))
        .ok_or_else(|| format!("workspace {name:?} not found"))?;
    let build = core
        .store
        .get_latest_workspace_build_by_workspace_id(ws)
        .ok()
        .map(|b| b.id);
    let agent = latest_chat_agent(core, ws).map(|a| a.id);
    let chat = core
        .store
        .update_chat_workspace_binding(chat_id, Some(ws), build, agent)
        .map_err(|e| format!("bind chat: {e}"))?;
    turn.turn.on_chat_updated(&chat);
    Ok(binding(&chat))
}

fn binding(chat: &chatsim_engine::model::Chat) -> Value {
    json!({
        "workspace_id": chat.workspace_id.map(|w| w.to_string()),
        "build_id": chat.build_id.map(|b| b.to_string()),
        "agent_id": chat.agent_id.map(|a| a.to_string()),
    })
}

async fn exec<N: Net>(
    core: &CoderdCore<N>,
    chat_id: uuid::Uuid,
    command: &str,
) -> Result<Value, String> {
    let chat = core
        .store
        .get_chat_by_id(chat_id)
        .map_err(|e| format!("load chat: {e}"))?;
    let agent = chat
        .agent_id
        .ok_or_else(|| "chat has no agent bound".to_string())?;
    let dialer = SimDialer::new(core.net.clone(), core.store.clone(), core.tracer.clone());
    let dial = dialer.dial(agent);
    let conn = match core.net.timeout(core.settings.dial_timeout, dial).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => return Err(err.to_string()),
        Err(_) => return Err(EXEC_DIAL_TIMEOUT.to_string()),
    };
    let output = conn.execute(command).await?;
    Ok(json!({ "output": output.output, "exit_code": output.exit_code }))
}

fn inspect<N: Net>(core: &CoderdCore<N>, chat_id: uuid::Uuid, name: &str) -> Result<Value, String> {
    let ws = core
        .find_workspace_id(WorkspaceRef::parse(name))
        .ok_or_else(|| format!("workspace {name:?} not found"))?;
    let now = core.now();
    let timeout = core.settings.inactive_timeout;
    let t = core.store.tables();
    let chat = t
        .chats
        .iter()
        .find(|c| c.id == chat_id)
        .ok_or_else(|| "chat not found".to_string())?;
    let latest = t.latest_build(ws).ok_or_else(|| "no builds".to_string())?;
    let job = t.job(latest.job_id);
    let agents: Vec<Value> = t
        .agents_of_job(latest.job_id)
        .iter()
        .map(|a| {
            json!({
                "id": a.id.to_string(),
                "name": a.name,
                "status": a.status(now, timeout).as_str(),
                "lifecycle": a.lifecycle_state.as_str(),
            })
        })
        .collect();
    Ok(json!({
        "chat": binding(chat),
        "latest_build": {
            "id": latest.id.to_string(),
            "number": latest.build_number,
            "transition": latest.transition.as_str(),
            "status": job.map(|j| j.status.as_str()),
        },
        "agents": agents,
    }))
}
