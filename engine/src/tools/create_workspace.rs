//! `create_workspace` (spec 1 §3): the whole flow, top to bottom.
//!
//! 1. cheap validation (creator configured, `template_id`, allowlist);
//! 2. the per-chat lock, held until the call returns;
//! 3. `checkExistingWorkspace` (§3.4): an existing build or workspace may
//!    answer the call (idempotency) or ask for a new workspace;
//! 4. owner authorization, template checks, the external-agent refusal;
//! 5. the request (TTL, preset, name, parameters) and the create hook with
//!    one name-conflict retry (§3.9);
//! 6. the chat binding and `OnChatUpdated` #1, the build wait, agent
//!    selection and readiness, `OnChatUpdated` #2, the result.

use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use super::build_wait::{
    build_failure_response, chat_agent_readiness, wait_for_agent_ready, wait_for_build,
    BuildAction, BuildWaitError,
};
use super::{
    build_parameters, decode_args, response_error_result, set_build_id, Property, ToolDefinition,
    ToolEnv, ToolResponse,
};
use crate::agent_select::find_chat_agent;
use crate::goid::parse_uuid;
use crate::gojson::Value;
use crate::model::{
    AgentStatus, JobStatus, Template, Transition, Workspace, WorkspaceAgent, WorkspaceBuild,
};
use crate::names::{generated_workspace_name, name_valid};
use crate::ports::{Coderd, CreateWorkspaceRequest, CreatedWorkspace, HookError, StoreError};

/// The tool's name.
pub const NAME: &str = "create_workspace";

/// The PRIMARY (`02b549df`) description.
pub const DESCRIPTION: &str = "Create a new workspace from a template only when workspace-backed file inspection, command execution, or file editing is required, or when the user explicitly asks for one. Do not use this as a default first step for requests answerable from conversation context, provider tools, or external MCP tools. Requires a template_id (from list_templates). Optionally provide a name and parameter values (from read_template). If no name is given, one will be generated. Provide a preset_id (from read_template) to apply preset parameters and potentially claim a prebuilt workspace for faster startup. This tool is idempotent. If the chat already has a workspace that is building or running, the existing workspace is returned.";

/// Step 1: no create hook.
pub const NOT_CONFIGURED: &str = "workspace creator is not configured";
/// Step 2: `template_id` missing or blank.
pub const TEMPLATE_ID_REQUIRED: &str = "template_id is required; use list_templates to find one";
/// Step 4: the template is not on the chat's allowlist.
pub const TEMPLATE_NOT_ALLOWED: &str =
    "template not available for chat workspaces; use list_templates to find allowed templates";
/// Step 9: the template is in another organization than the chat.
pub const ORGANIZATION_MISMATCH: &str = "template belongs to a different organization than this chat; use list_templates to find templates in the correct organization";
/// Step 11: the active version has an externally managed agent (no
/// trailing period).
pub const EXTERNAL_AGENT_REFUSAL: &str = "create_workspace cannot create workspaces from templates with externally managed agents. Use list_templates to choose a different template, or if the user wants to use an external workspace, they should create it and start it up fully themselves first, then attach it to this chat";

const MESSAGE_BUILD_COMPLETED: &str = "workspace build completed";
const MESSAGE_STOPPED: &str = "workspace is stopped; use start_workspace to start it";
const MESSAGE_RUNNING: &str = "workspace is already running and recently connected";
const MESSAGE_CONNECTING: &str = "workspace exists and the agent is still connecting";

/// The prefix of a failed build create_workspace enqueued itself.
pub const CREATE_BUILD_FAILED: &str = "workspace build failed: ";
/// The prefix of a failed in-progress build of the chat's workspace that
/// create_workspace waited for (§3.4).
pub const EXISTING_BUILD_FAILED: &str = "existing workspace build failed: ";

/// The tool's name, description and input schema (spec 1 §3.2):
/// `template_id` required; `name`, `parameters`, `preset_id` optional.
pub fn definition() -> ToolDefinition {
    ToolDefinition {
        name: NAME,
        description: DESCRIPTION,
        properties: vec![
            Property {
                name: "template_id",
                type_: "string",
                description: "The UUIDv4 of the template to create the workspace from. Obtain this from list_templates.",
                required: true,
            },
            Property {
                name: "name",
                type_: "string",
                description: "The name of the workspace to create. If not provided, a random name will be generated.",
                required: false,
            },
            Property {
                name: "parameters",
                type_: "object",
                description: "Key-value pairs of template parameters to use when creating the workspace. Obtain available parameters from read_template.",
                required: false,
            },
            Property {
                name: "preset_id",
                type_: "string",
                description: "The UUIDv4 of a template version preset to use. Obtain available presets from read_template. When provided, the preset's parameters are applied automatically and the workspace may claim a prebuilt instance for faster startup.",
                required: false,
            },
        ],
    }
}

/// The model's arguments; a missing or `null` field is Go's zero value.
#[derive(Debug, Default, Deserialize)]
struct Args {
    #[serde(default)]
    template_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::go_string_map")]
    parameters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    preset_id: Option<String>,
}

/// Runs the tool with the model's raw JSON input (spec 1 §3.3): steps
/// 1–4 validate, step 5 locks, step 6 may answer from the existing
/// workspace, the rest creates.
pub async fn run(env: &ToolEnv<'_>, input: &str) -> ToolResponse {
    let args: Args = match decode_args(input) {
        Ok(args) => args,
        Err(response) => return response,
    };
    let Some(coderd) = env.coderd else {
        return ToolResponse::text_error(NOT_CONFIGURED);
    };
    let template_id = match validate_template_id(env, args.template_id.as_deref()) {
        Ok(id) => id,
        Err(response) => return response,
    };
    // Held until return: parallel calls in one turn must not create twice.
    let _guard = env.lock_chat().await;
    match check_existing_workspace(env).await {
        Existing::Create => {}
        Existing::Done(result) => return ToolResponse::json(&result),
        Existing::Failed(text) => return ToolResponse::text_error(text),
        Existing::BuildFailed {
            action,
            build_id,
            error,
        } => {
            let message = format!("{EXISTING_BUILD_FAILED}{error}");
            // Runs before asOwner: the quota lookup escalates itself.
            return build_failure_response(
                env,
                env.organization_id,
                action,
                Some(build_id),
                &message,
                error.code(),
                false,
            );
        }
    }
    create(env, coderd, template_id, &args).await
}

/// Steps 2–4: `template_id` present, parseable and allowed.
fn validate_template_id(env: &ToolEnv<'_>, raw: Option<&str>) -> Result<Uuid, ToolResponse> {
    let trimmed = raw.unwrap_or_default().trim();
    if trimmed.is_empty() {
        return Err(ToolResponse::text_error(TEMPLATE_ID_REQUIRED));
    }
    let template_id = parse_uuid(trimmed)
        .map_err(|err| ToolResponse::text_error(format!("invalid template_id: {err}")))?;
    if !env.is_template_allowed(template_id) {
        return Err(ToolResponse::text_error(TEMPLATE_NOT_ALLOWED));
    }
    Ok(template_id)
}

// ---------------------------------------------------------------------------
// checkExistingWorkspace (§3.4)
// ---------------------------------------------------------------------------

/// What the existing-workspace check decided.
enum Existing {
    /// No usable workspace: create a new one (the chat will be rebound).
    Create,
    /// The existing workspace answers the call.
    Done(Value),
    /// The in-progress build it waited for failed.
    BuildFailed {
        action: BuildAction,
        build_id: Uuid,
        error: BuildWaitError,
    },
    /// `load chat: …` / `load workspace: …`.
    Failed(String),
}

async fn check_existing_workspace(env: &ToolEnv<'_>) -> Existing {
    let chat = match env.store.get_chat_by_id(env.chat_id) {
        Ok(chat) => chat,
        Err(err) => return Existing::Failed(format!("load chat: {err}")),
    };
    let Some(workspace_id) = chat.workspace_id else {
        return Existing::Create;
    };
    let workspace = match env.store.get_workspace_by_id(workspace_id) {
        Ok(workspace) => workspace,
        Err(err) => return Existing::Failed(format!("load workspace: {err}")),
    };
    if workspace.deleted {
        return Existing::Create;
    }
    let Ok(build) = env
        .store
        .get_latest_workspace_build_by_workspace_id(workspace.id)
    else {
        return Existing::Create;
    };
    let Ok(job) = env.store.get_provisioner_job_by_id(build.job_id) else {
        return Existing::Create;
    };
    match job.status {
        JobStatus::Pending | JobStatus::Running => {
            existing_build_in_progress(env, &workspace, &build).await
        }
        JobStatus::Succeeded => existing_build_succeeded(env, &workspace, &build).await,
        // Unlike start/stop, `canceling` is not in progress here.
        JobStatus::Failed | JobStatus::Canceling | JobStatus::Canceled => Existing::Create,
    }
}

/// Pending or running: bind (callback #1), wait, then wait for the agent.
async fn existing_build_in_progress(
    env: &ToolEnv<'_>,
    workspace: &Workspace,
    build: &WorkspaceBuild,
) -> Existing {
    env.publish_build_binding(workspace.id, Some(build.id).filter(|id| !id.is_nil()));
    if let Err(error) = wait_for_build(env, &env.ctx, build.id).await {
        let action = if build.transition == Transition::Start {
            BuildAction::Start
        } else {
            BuildAction::Create
        };
        return Existing::BuildFailed {
            action,
            build_id: build.id,
            error,
        };
    }
    let mut result = existing_result(workspace, "already_exists", MESSAGE_BUILD_COMPLETED);
    result.insert("build_id", build.id);
    if let Some(agent) = existing_chat_agent(env, workspace.id) {
        result.merge(wait_for_agent_ready(env, &env.ctx, &agent, env.dialer).await);
    }
    Existing::Done(result)
}

/// Succeeded: a stop reads stopped; a start is reused while its agent is
/// connected or still connecting, and replaced once it is unreachable.
async fn existing_build_succeeded(
    env: &ToolEnv<'_>,
    workspace: &Workspace,
    build: &WorkspaceBuild,
) -> Existing {
    if build.transition == Transition::Stop {
        return Existing::Done(existing_result(workspace, "stopped", MESSAGE_STOPPED));
    }
    let Some(agent) = existing_chat_agent(env, workspace.id) else {
        return Existing::Create;
    };
    let now = env.clock.now();
    let (message, dialer) = match agent.status(now, env.agent_inactive_disconnect_timeout) {
        // Recently connected: no dial, lifecycle polling only.
        AgentStatus::Connected => (MESSAGE_RUNNING, None),
        AgentStatus::Connecting => (MESSAGE_CONNECTING, env.dialer),
        AgentStatus::Disconnected { .. } | AgentStatus::Timeout => return Existing::Create,
    };
    let mut result = existing_result(workspace, "already_exists", message);
    result.merge(wait_for_agent_ready(env, &env.ctx, &agent, dialer).await);
    Existing::Done(result)
}

/// `{"created": false, "workspace_name", "status", "message"}`.
fn existing_result(workspace: &Workspace, status: &str, message: &str) -> Value {
    let mut result = Value::map();
    result.insert("created", false);
    result.insert("workspace_name", workspace.name.as_str());
    result.insert("status", status);
    result.insert("message", message);
    result
}

/// The chat agent of the latest build; on a selection error the first agent
/// in DB order (this check is the only caller that falls back). `None` when
/// the read fails or there are no agents.
fn existing_chat_agent(env: &ToolEnv<'_>, workspace_id: Uuid) -> Option<WorkspaceAgent> {
    let agents = env
        .store
        .get_workspace_agents_in_latest_build_by_workspace_id(workspace_id)
        .ok()?;
    let first = agents.first()?.clone();
    match find_chat_agent(&agents) {
        Ok(agent) => Some(agent),
        Err(err) => {
            env.log(
                "debug",
                format!("chat agent selection failed, using the first agent: {err}"),
            );
            Some(first)
        }
    }
}

// ---------------------------------------------------------------------------
// Creating (§3.3 steps 7–24)
// ---------------------------------------------------------------------------

async fn create(
    env: &ToolEnv<'_>,
    coderd: &dyn Coderd,
    template_id: Uuid,
    args: &Args,
) -> ToolResponse {
    if let Err(response) = env.as_owner() {
        return response;
    }
    let template = match usable_template(env, template_id) {
        Ok(template) => template,
        Err(response) => return response,
    };
    let request = match workspace_request(env, &template, args) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let workspace = match create_with_name_retry(env, coderd, request) {
        Ok(workspace) => workspace,
        Err(HookError::Response(resp)) => return ToolResponse::json(&response_error_result(&resp)),
        Err(HookError::Other(text)) => return ToolResponse::text_error(text),
    };
    let build_id = workspace.latest_build_id.filter(|id| !id.is_nil());
    bind_new_workspace(env, &workspace, build_id);
    if let Some(build_id) = build_id {
        if let Err(err) = wait_for_build(env, &env.ctx, build_id).await {
            let message = format!("{CREATE_BUILD_FAILED}{err}");
            return build_failure_response(
                env,
                env.organization_id,
                BuildAction::Create,
                Some(build_id),
                &message,
                err.code(),
                true,
            );
        }
    }
    let mut result = Value::map();
    result.insert("created", true);
    result.insert("workspace_name", workspace.full_name());
    set_build_id(&mut result, build_id);
    result.merge(new_workspace_readiness(env, workspace.id).await);
    // After the agent is ready, so the runtime can load its context files.
    env.refire_chat_updated();
    ToolResponse::json(&result)
}

/// Steps 8–11: the template exists, is in the chat's organization, and its
/// active version has no externally managed agent.
fn usable_template(env: &ToolEnv<'_>, template_id: Uuid) -> Result<Template, ToolResponse> {
    let template = env
        .store
        .get_template_by_id(template_id)
        .map_err(|err| ToolResponse::text_error(format!("look up template: {err}")))?;
    if template.organization_id != env.organization_id {
        return Err(ToolResponse::text_error(ORGANIZATION_MISMATCH));
    }
    let external = match env
        .store
        .get_template_version_by_id(template.active_version_id)
    {
        Ok(version) => version.has_external_agent == Some(true),
        Err(StoreError::NotFound) => false,
        Err(err) => {
            return Err(ToolResponse::text_error(format!(
                "look up template version: {err}"
            )))
        }
    };
    if external {
        return Err(ToolResponse::text_error(EXTERNAL_AGENT_REFUSAL));
    }
    Ok(template)
}

/// Steps 12–16: TTL, preset, name and parameters.
fn workspace_request(
    env: &ToolEnv<'_>,
    template: &Template,
    args: &Args,
) -> Result<CreateWorkspaceRequest, ToolResponse> {
    let ttl_ms = chat_workspace_ttl_ms(env);
    let preset = args.preset_id.as_deref().unwrap_or_default().trim();
    let template_version_preset_id = if preset.is_empty() {
        None
    } else {
        let id = parse_uuid(preset)
            .map_err(|err| ToolResponse::text_error(format!("invalid preset_id: {err}")))?;
        Some(id)
    };
    let name = workspace_name(env, template, args.name.as_deref().unwrap_or_default());
    Ok(CreateWorkspaceRequest {
        template_id: template.id,
        name,
        ttl_ms,
        template_version_preset_id,
        rich_parameter_values: build_parameters(args.parameters.as_ref()),
    })
}

/// Step 15: the trimmed name if valid, else a generated one.
fn workspace_name(env: &ToolEnv<'_>, template: &Template, requested: &str) -> String {
    let requested = requested.trim();
    let name = if requested.is_empty() {
        generated_workspace_name(&template.name, env.ids)
    } else if !name_valid(requested) {
        generated_workspace_name(requested, env.ids)
    } else {
        requested.to_string()
    };
    debug_assert!(name_valid(&name), "workspace name {name:?} must be valid");
    name
}

/// Step 12: the deployment's chat workspace TTL in milliseconds; `None`
/// (the template default) when unset, zero, unreadable or invalid.
fn chat_workspace_ttl_ms(env: &ToolEnv<'_>) -> Option<i64> {
    let raw = match env.store.get_chat_workspace_ttl() {
        Ok(raw) => raw,
        Err(err) => {
            env.log("error", format!("failed to get chat workspace TTL: {err}"));
            return None;
        }
    };
    match parse_chat_workspace_ttl(&raw) {
        Ok(nanos) if nanos > 0 => Some(nanos / 1_000_000),
        Ok(_) => None,
        Err(err) => {
            env.log(
                "warn",
                format!("invalid chat workspace TTL, using the template default: {err}"),
            );
            None
        }
    }
}

/// `codersdk.ParseChatWorkspaceTTL`: `""` is 0 (the default), otherwise a Go
/// duration that must not be negative. Returns nanoseconds.
fn parse_chat_workspace_ttl(raw: &str) -> Result<i64, String> {
    if raw.is_empty() {
        return Ok(0);
    }
    let nanos = go_duration::parse(raw)?;
    if nanos < 0 {
        return Err(format!("chat workspace TTL must not be negative: {raw:?}"));
    }
    Ok(nanos)
}

/// The debug log line of the name-conflict retry begins with this.
pub const NAME_TAKEN_RETRY_LOG: &str = "workspace name taken, retrying as";

/// Step 17 with §3.9: one retry under a generated name, only for a 409 whose
/// validations name the `name` field. Any other error is returned unchanged.
fn create_with_name_retry(
    env: &ToolEnv<'_>,
    coderd: &dyn Coderd,
    mut request: CreateWorkspaceRequest,
) -> Result<CreatedWorkspace, HookError> {
    match coderd.create_workspace(env.owner_id, &request) {
        Err(HookError::Response(resp))
            if resp.status == 409 && resp.validations.iter().any(|v| v.field == "name") =>
        {
            request.name = generated_workspace_name(&request.name, env.ids);
            env.log(
                "debug",
                format!(
                    "{NAME_TAKEN_RETRY_LOG} {:?}: {}",
                    request.name, resp.message
                ),
            );
            coderd.create_workspace(env.owner_id, &request)
        }
        other => other,
    }
}

/// Step 18: bind the chat at once so the frontend can stream build logs;
/// a DB error is only logged (no callback).
fn bind_new_workspace(env: &ToolEnv<'_>, workspace: &CreatedWorkspace, build_id: Option<Uuid>) {
    if let Err(err) = env.bind_chat(workspace.id, build_id) {
        env.log(
            "error",
            format!("failed to persist chat workspace association: {err}"),
        );
    }
}

/// Steps 21–22: the chat agent of the new workspace and its readiness.
/// A failed read adds no keys; a selection error is reported, never dialed.
async fn new_workspace_readiness(env: &ToolEnv<'_>, workspace_id: Uuid) -> Value {
    match env
        .store
        .get_workspace_agents_in_latest_build_by_workspace_id(workspace_id)
    {
        Ok(agents) => chat_agent_readiness(env, &agents).await,
        Err(_) => Value::map(),
    }
}

/// Go's `time.ParseDuration`, for the chat workspace TTL setting.
mod go_duration {
    /// 1 << 63: the magnitude limit Go checks against.
    const LIMIT: u64 = 1 << 63;

    fn unit_nanos(unit: &str) -> Option<u64> {
        Some(match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        })
    }

    /// The `time` package's quoting: `"`, with non-ASCII and control bytes
    /// as `\xNN` and `"` `\` backslash-escaped.
    fn quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            if (c as u32) < 0x20 || (c as u32) >= 0x80 {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            } else {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        out.push('"');
        out
    }

    /// `[0-9]*`: value and digit count; `None` on overflow.
    fn leading_int(s: &str) -> Option<(u64, usize)> {
        let mut value: u64 = 0;
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        for byte in s.bytes().take(digits) {
            if value > LIMIT / 10 {
                return None;
            }
            value = value * 10 + u64::from(byte - b'0');
            if value > LIMIT {
                return None;
            }
        }
        Some((value, digits))
    }

    /// `[0-9]*` after a point: value, scale and digit count; digits past
    /// the precision limit are consumed but ignored.
    fn leading_fraction(s: &str) -> (u64, f64, usize) {
        let (mut value, mut scale, mut overflow) = (0u64, 1f64, false);
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        for byte in s.bytes().take(digits) {
            if overflow {
                continue;
            }
            if value > (LIMIT - 1) / 10 {
                overflow = true;
                continue;
            }
            let next = value * 10 + u64::from(byte - b'0');
            if next > LIMIT {
                overflow = true;
                continue;
            }
            value = next;
            scale *= 10.0;
        }
        (value, scale, digits)
    }

    /// Parses `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` into nanoseconds.
    pub(super) fn parse(orig: &str) -> Result<i64, String> {
        let invalid = || format!("time: invalid duration {}", quote(orig));
        let (negative, mut s) = match orig.as_bytes().first() {
            Some(b'-') => (true, &orig[1..]),
            Some(b'+') => (false, &orig[1..]),
            _ => (false, orig),
        };
        if s == "0" {
            return Ok(0);
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let mut total: u64 = 0;
        // Bounded: every pass consumes at least one unit byte.
        while !s.is_empty() {
            let (value, rest) = parse_component(orig, s)?;
            s = rest;
            // Go adds in uint64 and wraps; the check below sees the result.
            total = total.wrapping_add(value);
            if total > LIMIT {
                return Err(invalid());
            }
        }
        if negative {
            return Ok((total as i64).wrapping_neg());
        }
        if total > LIMIT - 1 {
            return Err(invalid());
        }
        Ok(total as i64)
    }

    /// One `number unit` component: its nanoseconds and the rest of `s`.
    fn parse_component<'a>(orig: &str, s: &'a str) -> Result<(u64, &'a str), String> {
        let invalid = || format!("time: invalid duration {}", quote(orig));
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        let (int, int_digits) = leading_int(s).ok_or_else(invalid)?;
        let mut s = &s[int_digits..];
        let (mut frac, mut scale, mut frac_digits) = (0u64, 1f64, 0usize);
        if let Some(rest) = s.strip_prefix('.') {
            (frac, scale, frac_digits) = leading_fraction(rest);
            s = &rest[frac_digits..];
        }
        if int_digits == 0 && frac_digits == 0 {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .position(|b| b == b'.' || b.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let (unit, rest) = s.split_at(unit_len);
        let Some(unit_nanos) = unit_nanos(unit) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                quote(unit),
                quote(orig)
            ));
        };
        if int > LIMIT / unit_nanos {
            return Err(invalid());
        }
        let mut value = int * unit_nanos;
        if frac > 0 {
            value += (frac as f64 * (unit_nanos as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        Ok((value, rest))
    }
}

#[cfg(test)]
mod tests;
