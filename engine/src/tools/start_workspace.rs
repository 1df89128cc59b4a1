//! `start_workspace` (spec 2 §1): start the chat's workspace if it is
//! stopped, wait for the build and the agent, and tell the model how it went.
//!
//! The flow, top to bottom (spec 2 §1.2):
//! - step 1: no start hook → text error;
//! - step 2: take the per-chat lock for the whole call;
//! - steps 3–5: chat → workspace → latest build → its job;
//! - step 6: a pending/running build is joined (waited for) instead of
//!   starting a second one; a succeeded start means "already running";
//! - steps 7–8: as the owner, call coderd's start hook (parameters sorted
//!   by name);
//! - steps 9–14: bind the chat, wait for the build and the agent, annotate
//!   an automatic update to the active version, fire `OnChatUpdated` again.
//!
//! The chat and workspace lookups (steps 3–4) are shared with
//! `stop_workspace`, whose spec says they are "exactly as start"; the lock
//! and `latestWorkspaceBuildAndJob` are [`ToolEnv`]'s shared plumbing.

use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use super::build_wait::{
    build_failure_response, chat_agent_readiness, wait_for_build, BuildAction,
};
use super::{
    build_parameters, decode_args, response_error_result, set_build_id, set_no_build, Property,
    ToolDefinition, ToolEnv, ToolResponse,
};
use crate::gojson::Value;
use crate::model::{JobStatus, Transition, Workspace, WorkspaceBuild};
use crate::ports::{Coderd, HookError};

/// The tool's name.
pub const NAME: &str = "start_workspace";

/// The upstream description plus chatsim's sentence about `parameters`
/// (spec 2 §1.1). The dash is an em dash (U+2014).
pub const DESCRIPTION: &str = "Start the chat's workspace if it is currently stopped. This tool is idempotent \u{2014} if the workspace is already running, it returns immediately. Use create_workspace first if no workspace exists yet. If a start fails because the template's active version needs new parameter values, call read_template with the returned template_id and retry with parameters.";

/// chatsim-defined description of the `parameters` input.
pub const PARAMETERS_DESCRIPTION: &str = "Key-value pairs of template parameters to use when starting the workspace. Obtain available parameters from read_template.";

/// Step 1: no start hook.
pub const STARTER_NOT_CONFIGURED: &str = "workspace starter is not configured";
/// Step 3: the chat has no workspace bound (stop says the same).
pub const NO_WORKSPACE: &str = "chat has no workspace; use create_workspace first";
/// Step 4: the bound workspace is deleted (stop says the same).
pub const WORKSPACE_DELETED: &str = "workspace was deleted; use create_workspace to make a new one";

/// Prefix of a failed wait for a build that was already in progress.
pub const IN_PROGRESS_PREFIX: &str = "waiting for in-progress build: ";
/// Prefix of a failed wait for the start build this tool enqueued.
pub const START_FAILED_PREFIX: &str = "workspace start build failed: ";

/// Step 12: `update_reason` of a start that moved to the active version.
pub const UPDATE_REASON: &str = "template requires active versions";
/// Step 12: `message` of a start that moved to the active version.
pub const UPDATED_MESSAGE: &str = "Workspace started and was updated to the active template version because the template requires active versions.";

/// The tool's name, description and input schema (spec 2 §1.1): one
/// optional `parameters` object, no `preset_id`.
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
    #[serde(default, deserialize_with = "super::go_string_map")]
    parameters: Option<BTreeMap<String, String>>,
}

/// Runs the tool with the model's raw JSON input (spec 2 §1.2); steps 3–14
/// run under the per-chat lock.
pub async fn run(env: &ToolEnv<'_>, input: &str) -> ToolResponse {
    let args: StartArgs = match decode_args(input) {
        Ok(args) => args,
        Err(response) => return response,
    };
    let Some(coderd) = env.coderd else {
        return ToolResponse::text_error(STARTER_NOT_CONFIGURED);
    };
    let _chat_lock = env.lock_chat().await;
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
    let (previous, job) = env.latest_build_and_job(workspace.id)?;
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
    let mut result = wait_then_refire(env, &workspace, Some(build.id)).await;
    annotate_auto_update(
        &mut result,
        previous.template_version_id,
        build.template_version_id,
    );
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
    let result = wait_then_refire(env, workspace, Some(build.id)).await;
    ToolResponse::json(&result)
}

/// Steps 11 and 13: the agent wait, then the second `OnChatUpdated` — after
/// the wait, so the next turn can load context files from a live agent.
async fn wait_then_refire(
    env: &ToolEnv<'_>,
    workspace: &Workspace,
    build_id: Option<Uuid>,
) -> Value {
    #[cfg(feature = "bugs")]
    if env.bug(crate::bugs::Bug::EarlyChatUpdate) {
        env.refire_chat_updated();
        return wait_for_agent_and_respond(env, workspace, build_id).await;
    }
    let result = wait_for_agent_and_respond(env, workspace, build_id).await;
    env.refire_chat_updated();
    result
}

/// Step 8: the start hook as the owner. A response error reaches the model
/// as JSON with the workspace's `template_id`; anything else is text.
fn call_start_hook(
    env: &ToolEnv<'_>,
    coderd: &dyn Coderd,
    workspace: &Workspace,
    args: &StartArgs,
) -> Result<WorkspaceBuild, ToolResponse> {
    let parameters = build_parameters(args.parameters.as_ref());
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
    // A failed read counts as no agents.
    let agents = env
        .store
        .get_workspace_agents_in_latest_build_by_workspace_id(workspace.id)
        .unwrap_or_default();
    result.merge(chat_agent_readiness(env, &agents).await);
    set_build_id(&mut result, build_id);
    set_no_build(&mut result, build_id);
    result
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use futures::future::join;

    use super::*;
    use crate::memory::{JobOutcome, MemCoderd, Query};
    use crate::model::{AgentSpec, BuildParameter, Group, LifecycleState, Organization};
    use crate::ports::{
        Clock, CreateWorkspaceRequest, CreatedWorkspace, Ids, ResponseError, StoreError, Validation,
    };
    use crate::testkit::{
        new_active_version, AgentScript, DialPlan, FailingCoderd, TemplateIds, World,
    };

    // ---- helpers -------------------------------------------------------

    fn boom() -> StoreError {
        StoreError::Other("boom".into())
    }

    fn json(content: String) -> ToolResponse {
        ToolResponse {
            content,
            is_error: false,
        }
    }

    fn text_error(content: &str) -> ToolResponse {
        ToolResponse::text_error(content)
    }

    fn start(world: &World, input: &str) -> ToolResponse {
        let env = world.env();
        world.call(run(&env, input))
    }

    /// A stopped workspace (one succeeded stop build) of a default template.
    fn stopped_workspace(world: &World) -> (TemplateIds, Uuid, WorkspaceBuild) {
        let template = world.template("t").create();
        let (ws, build) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        (template, ws, build)
    }

    fn started(build: &WorkspaceBuild) -> String {
        format!(
            r#"{{"build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
            build.id
        )
    }

    /// Completes a job after `after` and connects the agents it created.
    async fn finish_after(world: &World, job_id: Uuid, after: Duration, outcome: JobOutcome) {
        world.clock.sleep(after).await;
        for agent in world.coderd.complete_job(job_id, outcome) {
            world.connect_agent(agent.id);
        }
    }

    /// A start hook that records the parameters it was given.
    struct RecordingCoderd<'a> {
        inner: &'a MemCoderd,
        seen: RefCell<Vec<Vec<BuildParameter>>>,
    }

    impl Coderd for RecordingCoderd<'_> {
        fn create_workspace(
            &self,
            owner_id: Uuid,
            request: &CreateWorkspaceRequest,
        ) -> Result<CreatedWorkspace, HookError> {
            self.inner.create_workspace(owner_id, request)
        }

        fn start_workspace(
            &self,
            owner_id: Uuid,
            workspace_id: Uuid,
            parameters: &[BuildParameter],
        ) -> Result<WorkspaceBuild, HookError> {
            self.seen.borrow_mut().push(parameters.to_vec());
            self.inner
                .start_workspace(owner_id, workspace_id, parameters)
        }

        fn stop_workspace(
            &self,
            owner_id: Uuid,
            workspace_id: Uuid,
        ) -> Result<WorkspaceBuild, HookError> {
            self.inner.stop_workspace(owner_id, workspace_id)
        }
    }

    // ---- definition and configuration (§1.1, step 1) -------------------

    #[test]
    fn definition_has_the_upstream_description_plus_the_parameters_sentence() {
        let def = definition();
        assert_eq!(def.name, "start_workspace");
        assert_eq!(
            def.description,
            "Start the chat's workspace if it is currently stopped. This tool is idempotent \u{2014} if the workspace is already running, it returns immediately. Use create_workspace first if no workspace exists yet. If a start fails because the template's active version needs new parameter values, call read_template with the returned template_id and retry with parameters."
        );
        assert_eq!(
            def.input_schema().to_json(),
            r#"{"type":"object","properties":{"parameters":{"type":"object","description":"Key-value pairs of template parameters to use when starting the workspace. Obtain available parameters from read_template.","additionalProperties":{"type":"string"}}},"required":[]}"#
        );
    }

    #[test]
    fn without_a_start_hook_the_tool_says_so_and_reads_nothing() {
        let world = World::new();
        stopped_workspace(&world);
        let mut env = world.env();
        env.coderd = None;
        let response = world.call(run(&env, "{}"));
        assert_eq!(response, text_error("workspace starter is not configured"));
        assert_eq!(world.store.calls(Query::GetChatById), 0);
    }

    // ---- lookups (steps 3–5, 7) ----------------------------------------

    #[test]
    fn a_chat_without_a_workspace_is_told_to_create_one() {
        let world = World::new();
        assert_eq!(
            start(&world, "{}"),
            text_error("chat has no workspace; use create_workspace first")
        );
    }

    #[test]
    fn a_deleted_workspace_is_told_to_create_a_new_one() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        world
            .store
            .edit(|t| t.workspace_mut(ws).expect("ws").deleted = true);
        assert_eq!(
            start(&world, "{}"),
            text_error("workspace was deleted; use create_workspace to make a new one")
        );
        assert_eq!(world.builds(ws).len(), 1);
    }

    #[test]
    fn every_failed_lookup_is_a_text_error_with_its_prefix_and_starts_nothing() {
        let cases = [
            (Query::GetChatById, "load chat: boom"),
            (Query::GetWorkspaceById, "load workspace: boom"),
            (
                Query::GetLatestWorkspaceBuildByWorkspaceId,
                "get latest build: boom",
            ),
            (Query::GetProvisionerJobById, "get provisioner job: boom"),
            (
                Query::GetAuthorizationUserRoles,
                "load user authorization: boom",
            ),
        ];
        for (query, want) in cases {
            let world = World::new();
            let (_, ws, _) = stopped_workspace(&world);
            world.store.fail(query, boom());
            assert_eq!(start(&world, "{}"), text_error(want), "{query:?}");
            assert_eq!(world.builds(ws).len(), 1, "{query:?}");
            assert!(world.chat_update_build_ids().is_empty(), "{query:?}");
        }
    }

    #[test]
    fn a_missing_row_reads_as_sql_no_rows() {
        let world = World::new();
        stopped_workspace(&world);
        world.store.fail(Query::GetChatById, StoreError::NotFound);
        assert_eq!(
            start(&world, "{}"),
            text_error("load chat: sql: no rows in result set")
        );
    }

    // ---- a fresh start (steps 7–14) ------------------------------------

    #[test]
    fn a_stopped_workspace_starts_and_the_chat_hears_twice() {
        let world = World::new();
        let (template, ws, stop) = stopped_workspace(&world);
        let response = start(&world, "{}");
        let builds = world.builds(ws);
        assert_eq!(builds.len(), 2);
        let build = &builds[1];
        assert_eq!(response, json(started(build)));
        assert_eq!(build.transition, Transition::Start);
        assert_eq!(build.template_version_id, template.version);
        assert_eq!(stop.template_version_id, template.version);
        // Bound to the new build (first), then re-read after the agent wait.
        assert_eq!(
            world.chat_update_build_ids(),
            [Some(build.id), Some(build.id)]
        );
        let first = world.chat_updates.borrow()[0].clone();
        assert_eq!(
            (first.workspace_id, first.agent_id),
            (Some(ws), None),
            "bound to the workspace with the agent cleared"
        );
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 1);
    }

    #[test]
    fn failed_canceled_and_canceling_builds_are_not_joined_but_started_again() {
        for status in [JobStatus::Failed, JobStatus::Canceled, JobStatus::Canceling] {
            let world = World::new();
            let template = world.template("t").create();
            let (ws, old) = world.workspace(&template, Transition::Start, status);
            let response = start(&world, "{}");
            let build = world.latest_build(ws);
            assert_ne!(build.id, old.id, "{status:?}");
            assert_eq!(response, json(started(&build)), "{status:?}");
            assert_eq!(
                world.chat_update_build_ids(),
                [Some(build.id), Some(build.id)]
            );
        }
    }

    #[test]
    fn parameters_reach_the_hook_sorted_by_name_and_a_preset_id_is_ignored() {
        let world = World::new();
        let template = world
            .template("t")
            .parameter("region", false, "us")
            .preset("big", &[("region", "ap")], None)
            .create();
        let (ws, _) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        let recorder = RecordingCoderd {
            inner: &world.coderd,
            seen: RefCell::default(),
        };
        let mut env = world.env();
        env.coderd = Some(&recorder);
        let input = format!(
            r#"{{"preset_id":"{}","parameters":{{"zone":"b","region":"eu","arch":"arm"}}}}"#,
            template.presets[0]
        );
        let response = world.call(run(&env, &input));
        let build = world.latest_build(ws);
        assert_eq!(response, json(started(&build)));
        let names: Vec<Vec<(String, String)>> = recorder
            .seen
            .borrow()
            .iter()
            .map(|ps| {
                ps.iter()
                    .map(|p| (p.name.clone(), p.value.clone()))
                    .collect()
            })
            .collect();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            names,
            [vec![
                pair("arch", "arm"),
                pair("region", "eu"),
                pair("zone", "b")
            ]]
        );
        // The preset's `ap` never applied: the request's `eu` did.
        assert_eq!(
            build.rich_parameters,
            [BuildParameter {
                name: "region".into(),
                value: "eu".into()
            }]
        );
    }

    #[test]
    fn a_null_parameter_value_reaches_the_hook_as_an_empty_string() {
        // Go decodes null into a map's string value as "".
        let world = World::new();
        let template = world
            .template("t")
            .parameter("region", false, "us")
            .create();
        world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        let recorder = RecordingCoderd {
            inner: &world.coderd,
            seen: RefCell::default(),
        };
        let mut env = world.env();
        env.coderd = Some(&recorder);
        let response = world.call(run(&env, r#"{"parameters":{"region":null}}"#));
        assert!(!response.is_error, "{}", response.content);
        assert_eq!(
            *recorder.seen.borrow(),
            [vec![BuildParameter {
                name: "region".into(),
                value: String::new()
            }]]
        );
    }

    // ---- require_active_version (spec 2 §2, step 12) -------------------

    #[test]
    fn a_template_requiring_active_versions_updates_the_workspace_and_says_so() {
        let world = World::new();
        let template = world.template("t").require_active_version().create();
        let (ws, _) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        let v2 = new_active_version(&world, &template, &[]);
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(build.template_version_id, v2);
        assert_eq!(
            response,
            json(format!(
                r#"{{"build_id":"{}","message":"Workspace started and was updated to the active template version because the template requires active versions.","started":true,"update_reason":"template requires active versions","updated_to_active_version":true,"workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn without_the_policy_a_start_keeps_the_old_version_and_adds_no_annotation() {
        let world = World::new();
        let template = world.template("t").create();
        let (ws, _) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        new_active_version(&world, &template, &[]);
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(build.template_version_id, template.version);
        assert_eq!(response, json(started(&build)));
    }

    #[test]
    fn an_unknown_previous_version_adds_no_annotation() {
        let world = World::new();
        let template = world.template("t").require_active_version().create();
        let (ws, stop) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        world.store.edit(|t| {
            t.build_mut(stop.id).expect("build").template_version_id = Uuid::nil();
        });
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(build.template_version_id, template.version);
        assert_eq!(response, json(started(&build)));
    }

    #[test]
    fn a_new_required_parameter_asks_for_parameters_then_a_retry_with_them_succeeds() {
        let world = World::new();
        let template = world.template("t").require_active_version().create();
        let (ws, _) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        let v2 = new_active_version(&world, &template, &["region"]);

        let refused = start(&world, "{}");
        assert_eq!(
            refused,
            json(format!(
                r#"{{"detail":"region must be set before the workspace can start","error":"The workspace needs the template's active version before it can start. Use read_template with this workspace's template_id to inspect the active version's required parameters, then retry start_workspace with a parameters object that supplies any missing or changed values.","template_id":"{}","validations":[{{"field":"region","detail":"region must be set before the workspace can start"}}]}}"#,
                template.template
            ))
        );
        assert_eq!(world.builds(ws).len(), 1, "no job before validation");
        assert!(world.chat_update_build_ids().is_empty());

        let response = start(&world, r#"{"parameters":{"region":"eu-west"}}"#);
        let build = world.latest_build(ws);
        assert_eq!(build.template_version_id, v2);
        assert_eq!(
            build.rich_parameters,
            [BuildParameter {
                name: "region".into(),
                value: "eu-west".into()
            }]
        );
        assert_eq!(
            response,
            json(format!(
                r#"{{"build_id":"{}","message":"Workspace started and was updated to the active template version because the template requires active versions.","started":true,"update_reason":"template requires active versions","updated_to_active_version":true,"workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
    }

    // ---- hook errors (step 8) ------------------------------------------

    #[test]
    fn a_hook_response_error_is_json_with_the_template_id_and_no_prefix() {
        let world = World::new();
        let (template, _, _) = stopped_workspace(&world);
        let hook = FailingCoderd(HookError::Response(ResponseError {
            status: 409,
            message: "A workspace build is already active.".into(),
            detail: String::new(),
            validations: vec![],
        }));
        let mut env = world.env();
        env.coderd = Some(&hook);
        assert_eq!(
            world.call(run(&env, "{}")),
            json(format!(
                r#"{{"error":"A workspace build is already active.","template_id":"{}"}}"#,
                template.template
            ))
        );
        let empty = FailingCoderd(HookError::Response(ResponseError {
            status: 400,
            message: String::new(),
            detail: "d <x>".into(),
            validations: vec![Validation {
                field: "f".into(),
                detail: "v".into(),
            }],
        }));
        env.coderd = Some(&empty);
        assert_eq!(
            world.call(run(&env, "{}")),
            json(format!(
                r#"{{"detail":"d \u003cx\u003e","error":"request failed","template_id":"{}","validations":[{{"field":"f","detail":"v"}}]}}"#,
                template.template
            ))
        );
        assert!(world.chat_update_build_ids().is_empty());
    }

    #[test]
    fn any_other_hook_error_is_text_prefixed_start_workspace() {
        let world = World::new();
        stopped_workspace(&world);
        let hook = FailingCoderd(HookError::Other("database is locked".into()));
        let mut env = world.env();
        env.coderd = Some(&hook);
        assert_eq!(
            world.call(run(&env, "{}")),
            text_error("start workspace: database is locked")
        );
    }

    // ---- build failures (step 10) --------------------------------------

    #[test]
    fn a_failed_start_build_is_json_with_the_build_id_and_only_the_first_update() {
        let cases = [
            (
                JobOutcome::Failed {
                    error: "terraform apply failed".into(),
                    code: None,
                },
                "workspace start build failed: terraform apply failed",
            ),
            (
                JobOutcome::Canceled,
                "workspace start build failed: build was canceled",
            ),
            (
                // Text that merely mentions quota is not the quota result.
                JobOutcome::Failed {
                    error: "insufficient quota".into(),
                    code: None,
                },
                "workspace start build failed: insufficient quota",
            ),
        ];
        for (outcome, message) in cases {
            let world = World::new();
            let (_, ws, _) = stopped_workspace(&world);
            world.provisioner.borrow_mut().outcomes = vec![outcome];
            let response = start(&world, "{}");
            let build = world.latest_build(ws);
            assert_eq!(
                response,
                json(format!(
                    r#"{{"error":"{message}","build_id":"{}"}}"#,
                    build.id
                ))
            );
            assert_eq!(world.chat_update_build_ids(), [Some(build.id)]);
        }
    }

    #[test]
    fn a_quota_failure_on_a_fresh_start_is_the_quota_result_with_details() {
        let world = World::new();
        let template = world.template("t").daily_cost(5).create();
        // Another workspace already consumes 3 credits.
        let (other, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
        world.store.edit(|t| {
            let id = t.latest_build(other).expect("build").id;
            t.build_mut(id).expect("build").daily_cost = 3;
        });
        let (ws, _) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        world.quota_allowance(7);
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(
            response,
            json(format!(
                r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"workspace start build failed: insufficient quota","title":"Workspace quota reached","message":"Coder could not start this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.","build_id":"{}","quota":{{"credits_consumed":3,"budget":7}}}}"#,
                build.id
            ))
        );
        assert_eq!(world.chat_update_build_ids(), [Some(build.id)]);
        // Already the owner: the quota lookup does not escalate again.
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 1);
    }

    #[test]
    fn a_canceled_turn_ends_the_build_wait_with_context_canceled() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        let env = world.env();
        let cancel_at_5s = async {
            world.clock.sleep(Duration::from_secs(5)).await;
            world.cancel.cancel();
        };
        let response = world.call(async { join(run(&env, "{}"), cancel_at_5s).await.0 });
        let build = world.latest_build(ws);
        assert_eq!(
            response,
            json(format!(
                r#"{{"error":"workspace start build failed: timed out waiting for workspace build: context canceled","build_id":"{}"}}"#,
                build.id
            ))
        );
    }

    // ---- a build in progress (step 6, pending / running) ----------------

    #[test]
    fn a_pending_build_is_joined_not_duplicated() {
        let world = World::new();
        let template = world.template("t").create();
        let (ws, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
        let response = start(&world, "{}");
        assert_eq!(response, json(started(&build)));
        assert_eq!(world.builds(ws).len(), 1);
        assert_eq!(
            world.chat_update_build_ids(),
            [Some(build.id), Some(build.id)]
        );
        // The in-progress path never needs the owner's authorization.
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
    }

    #[test]
    fn a_running_build_is_joined_and_answered_when_it_finishes() {
        let world = World::new();
        let template = world.template("t").create();
        let (ws, build) = world.workspace(&template, Transition::Start, JobStatus::Running);
        let env = world.env();
        let finish = finish_after(
            &world,
            build.job_id,
            Duration::from_secs(7),
            JobOutcome::Succeeded,
        );
        let started_at = world.now();
        let response = world.call(async { join(run(&env, "{}"), finish).await.0 });
        assert_eq!(response, json(started(&build)));
        assert_eq!(world.builds(ws).len(), 1);
        // Polls at 0, 2, 4, 6, 8 s: the 8 s poll sees the finished job.
        assert!(world.now().since(started_at) >= Duration::from_secs(8));
    }

    #[test]
    fn an_in_progress_stop_build_is_joined_too_and_reads_no_agent() {
        // Upstream quirk kept: only pending/running matter, not the
        // transition, so joining a stop answers `started` with no agent.
        let world = World::new();
        let template = world.template("t").create();
        let (ws, build) = world.workspace(&template, Transition::Stop, JobStatus::Pending);
        let response = start(&world, "{}");
        assert_eq!(
            response,
            json(format!(
                r#"{{"agent_status":"no_agent","build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
        assert_eq!(world.builds(ws).len(), 1);
    }

    #[test]
    fn a_failing_in_progress_build_answers_with_the_waiting_prefix() {
        let world = World::new();
        let template = world.template("t").create();
        let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
        world.provisioner.borrow_mut().outcomes = vec![JobOutcome::Failed {
            error: "terraform apply failed".into(),
            code: None,
        }];
        assert_eq!(
            start(&world, "{}"),
            json(format!(
                r#"{{"error":"waiting for in-progress build: terraform apply failed","build_id":"{}"}}"#,
                build.id
            ))
        );
        assert_eq!(world.chat_update_build_ids(), [Some(build.id)]);
    }

    #[test]
    fn a_quota_failure_of_an_in_progress_build_is_the_quota_result_read_as_owner() {
        let world = World::new();
        let template = world.template("t").daily_cost(5).create();
        let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
        world.quota_allowance(4);
        assert_eq!(
            start(&world, "{}"),
            json(format!(
                r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"waiting for in-progress build: insufficient quota","title":"Workspace quota reached","message":"Coder could not start this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.","build_id":"{}","quota":{{"credits_consumed":0,"budget":4}}}}"#,
                build.id
            ))
        );
        // Not yet the owner: the quota lookup escalated itself once.
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 1);
    }

    #[test]
    fn the_in_progress_quota_result_omits_quota_when_escalation_fails() {
        let world = World::new();
        let template = world.template("t").daily_cost(5).create();
        let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
        world.quota_allowance(4);
        world.store.fail(Query::GetAuthorizationUserRoles, boom());
        assert_eq!(
            start(&world, "{}"),
            json(format!(
                r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"waiting for in-progress build: insufficient quota","title":"Workspace quota reached","message":"Coder could not start this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.","build_id":"{}"}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn quota_details_come_from_the_workspaces_organization_not_the_chats() {
        let world = World::new();
        world.quota_allowance(1); // the chat's organization
        let other_org = world.ids.new_uuid();
        world.store.edit(|t| {
            t.organizations.push(Organization {
                id: other_org,
                name: "other".into(),
            });
            t.organization_members.push((other_org, world.owner));
            t.groups.push(Group {
                id: other_org,
                organization_id: other_org,
                name: "Everyone".into(),
                quota_allowance: 9,
                members: vec![],
            });
        });
        let template = world
            .template("t")
            .organization(other_org)
            .daily_cost(10)
            .create();
        let (ws, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
        world
            .store
            .edit(|t| t.workspace_mut(ws).expect("ws").organization_id = other_org);
        assert_eq!(
            start(&world, "{}"),
            json(format!(
                r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"waiting for in-progress build: insufficient quota","title":"Workspace quota reached","message":"Coder could not start this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.","build_id":"{}","quota":{{"credits_consumed":0,"budget":9}}}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn a_failed_binding_is_only_logged_and_the_start_goes_on() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        world.store.fail(Query::UpdateChatWorkspaceBinding, boom());
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(response, json(started(&build)));
        assert_eq!(
            world.events.logs(),
            ["failed to persist build ID on chat binding: boom"]
        );
        // Only the post-ready update fired (with the unchanged chat row).
        assert_eq!(world.chat_update_build_ids().len(), 1);
    }

    // ---- already running (step 6, succeeded start) ---------------------

    #[test]
    fn an_already_running_workspace_returns_no_build_and_fires_nothing() {
        let world = World::new();
        let template = world.template("t").create();
        let (ws, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
        world.connect_agent(world.agents(ws)[0].id);
        let started_at = world.now();
        assert_eq!(
            start(&world, "{}"),
            json(r#"{"no_build":true,"started":true,"workspace_name":"ws-1"}"#.into())
        );
        assert_eq!(world.now(), started_at);
        assert_eq!(world.builds(ws).len(), 1);
        assert!(world.chat_update_build_ids().is_empty());
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
    }

    #[test]
    fn an_already_running_workspace_with_an_unreachable_agent_says_not_ready() {
        let world = World::new();
        let template = world.template("t").create();
        let (ws, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
        let started_at = world.now();
        assert_eq!(
            start(&world, "{}"),
            json(
                r#"{"agent_error":"context deadline exceeded","agent_status":"not_ready","no_build":true,"started":true,"workspace_name":"ws-1"}"#
                    .into()
            )
        );
        assert_eq!(world.now().since(started_at), Duration::from_secs(120));
        assert_eq!(world.builds(ws).len(), 1);
    }

    #[test]
    fn an_agent_selection_error_is_reported_raw_without_a_dial_or_fallback() {
        let world = World::new();
        let agent = |name: &str| AgentSpec {
            name: name.into(),
            ..AgentSpec::default()
        };
        let template = world
            .template("t")
            .agents(vec![agent("b-coderd-chat"), agent("a-coderd-chat")])
            .create();
        world.workspace(&template, Transition::Start, JobStatus::Succeeded);
        world.dialer.default_plan(DialPlan::Forbidden);
        assert_eq!(
            start(&world, "{}"),
            json(
                r#"{"agent_error":"multiple agents match the chat suffix \"-coderd-chat\": a-coderd-chat, b-coderd-chat; only one agent should use this suffix","agent_status":"selection_error","no_build":true,"started":true,"workspace_name":"ws-1"}"#
                    .into()
            )
        );
        assert!(world.dialer.dials().is_empty());
    }

    // ---- the agent wait after a start (§1.3) ---------------------------

    #[test]
    fn a_template_without_agents_reads_no_agent() {
        let world = World::new();
        let template = world.template("t").agents(vec![]).create();
        let (ws, _) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(
            response,
            json(format!(
                r#"{{"agent_status":"no_agent","build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn an_agent_lookup_error_reads_no_agent() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        world
            .store
            .fail(Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId, boom());
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(
            response,
            json(format!(
                r#"{{"agent_status":"no_agent","build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn failed_startup_scripts_are_reported_with_the_lifecycle_state() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        world.provisioner.borrow_mut().agents.insert(
            "main".into(),
            AgentScript {
                final_state: LifecycleState::StartError,
                ..AgentScript::default()
            },
        );
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(
            response,
            json(format!(
                r#"{{"build_id":"{}","lifecycle_state":"start_error","started":true,"startup_scripts":"startup_scripts_failed","workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
        assert_eq!(
            world.chat_update_build_ids(),
            [Some(build.id), Some(build.id)]
        );
    }

    #[test]
    fn an_external_agent_that_never_connects_gets_the_external_guidance() {
        let world = World::new();
        let template = world.template("t").external().create();
        let (ws, _) = world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
        world.provisioner.borrow_mut().agents.insert(
            "main".into(),
            AgentScript {
                connect_after: None,
                ..AgentScript::default()
            },
        );
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(
            response,
            json(format!(
                r#"{{"agent_error":"workspace uses an externally managed agent that has not connected yet. The user needs to start the workspace externally and make sure the external agent is connected, then try again","agent_status":"not_ready","build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn a_failing_dial_reports_its_last_error() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        world
            .dialer
            .default_plan(DialPlan::Fail("dial tcp: connection refused".into()));
        let response = start(&world, "{}");
        let build = world.latest_build(ws);
        assert_eq!(
            response,
            json(format!(
                r#"{{"agent_error":"dial tcp: connection refused","agent_status":"not_ready","build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn without_a_dialer_only_the_lifecycle_is_awaited() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        world.dialer.default_plan(DialPlan::Forbidden);
        let mut env = world.env();
        env.dialer = None;
        let response = world.call(run(&env, "{}"));
        let build = world.latest_build(ws);
        assert_eq!(response, json(started(&build)));
        assert!(world.dialer.dials().is_empty());
    }

    // ---- the lock and bad input ----------------------------------------

    #[test]
    fn the_per_chat_lock_is_taken_before_any_read() {
        let world = World::new();
        let (_, ws, _) = stopped_workspace(&world);
        let env = world.env();
        let holder = async {
            let guard = world.workspace_mu.lock().await;
            world.clock.sleep(Duration::from_secs(30)).await;
            assert_eq!(world.store.calls(Query::GetChatById), 0);
            drop(guard);
        };
        let started_at = world.now();
        let response = world.call(async { join(holder, run(&env, "{}")).await.1 });
        assert_eq!(response, json(started(&world.latest_build(ws))));
        assert!(world.now().since(started_at) > Duration::from_secs(30));
    }

    #[test]
    fn bad_input_is_a_text_error_and_never_a_panic() {
        let world = World::new();
        let template = world.template("t").create();
        let (ws, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
        world.connect_agent(world.agents(ws)[0].id);
        let running = json(r#"{"no_build":true,"started":true,"workspace_name":"ws-1"}"#.into());
        for input in [
            "{not json",
            r#"{"parameters":5}"#,
            r#"{"parameters":{"region":1}}"#,
            r#"{"parameters":["a"]}"#,
            "42",
            r#""text""#,
        ] {
            let response = start(&world, input);
            assert!(response.is_error, "{input}");
            assert!(
                response.content.starts_with("invalid parameters: "),
                "{input}: {}",
                response.content
            );
        }
        for input in [
            "",
            "   ",
            "{}",
            r#"{"parameters":null}"#,
            r#"{"parameters":{}}"#,
            r#"{"unknown":[1,2,{"x":null}]}"#,
            r#"{"parameters":{"\u2028<&>":"\u0000"}}"#,
        ] {
            assert_eq!(start(&world, input), running, "{input}");
        }
        // Whatever these decode to, they never panic.
        for input in [
            "null",
            "[]",
            "[{}]",
            "{\"parameters\":{\"a\":\"b\"}} trailing",
        ] {
            let _ = start(&world, input);
        }
        assert_eq!(world.builds(ws).len(), 1);
    }
}
