//! `stop_workspace` (spec 2 §3): stop the chat's workspace and wait for the
//! stop build.
//!
//! The flow, top to bottom (spec 2 §3.2):
//! - step 1: no stop hook → text error;
//! - step 2: take the per-chat lock for the whole call;
//! - steps 3–4: chat → workspace → latest build → its job (as start does);
//! - step 5: a pending/running/canceling build is waited out first, then
//!   the workspace and its latest build are read again: the fresh job wins;
//! - step 6: idempotent only after a *successful* stop;
//! - steps 7–12: as the owner, call coderd's stop hook, bind the chat, wait
//!   for the stop build, fire `OnChatUpdated` again, answer.

use serde::Deserialize;

use super::build_wait::wait_for_build;
use super::start_workspace::{load_chat_workspace, load_workspace};
use super::{
    build_error_result, decode_args, response_error_result, ToolDefinition, ToolEnv, ToolResponse,
};
use crate::gojson::Value;
use crate::model::{JobStatus, ProvisionerJob, Transition, Workspace, WorkspaceBuild};
use crate::ports::{Coderd, HookError};

/// The tool's name.
pub const NAME: &str = "stop_workspace";

/// The upstream description (spec 2 §3.1).
pub const DESCRIPTION: &str = "Stop the chat's workspace and wait for the stop build to complete. If another workspace build is already in progress, this waits for that build first, then stops the workspace if needed. After waiting, this tool is idempotent if the workspace is already stopped or the in-progress build stopped it. Use this when the user explicitly asks to stop the workspace, or when a workspace-agent error tells you to stop and then start the workspace. Stopping a workspace terminates running processes and may discard unsaved in-memory state. This tool does not delete the workspace.";

/// Step 1: no stop hook.
pub const STOPPER_NOT_CONFIGURED: &str = "workspace stopper is not configured";

/// Prefix of a failed wait for a build that was already in progress: the
/// same text as start's.
pub use super::start_workspace::IN_PROGRESS_PREFIX;
/// Prefix of a failed wait for the stop build this tool enqueued.
pub const STOP_FAILED_PREFIX: &str = "workspace stop build failed: ";

/// The tool's name, description and (empty) input schema (spec 2 §3.1).
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

/// Runs the tool with the model's raw JSON input (spec 2 §3.2); steps 3–12
/// run under the per-chat lock.
pub async fn run(env: &ToolEnv<'_>, input: &str) -> ToolResponse {
    if let Err(response) = decode_args::<StopArgs>(input) {
        return response;
    }
    let Some(coderd) = env.coderd else {
        return ToolResponse::text_error(STOPPER_NOT_CONFIGURED);
    };
    let _chat_lock = env.lock_chat().await;
    match stop(env, coderd).await {
        Ok(response) | Err(response) => response,
    }
}

/// Steps 3–12, under the lock. `Err` is an early answer.
async fn stop(env: &ToolEnv<'_>, coderd: &dyn Coderd) -> Result<ToolResponse, ToolResponse> {
    let mut workspace = load_chat_workspace(env)?;
    let (mut build, mut job) = env.latest_build_and_job(workspace.id)?;
    if matches!(
        job.status,
        JobStatus::Pending | JobStatus::Running | JobStatus::Canceling
    ) {
        (workspace, build, job) = wait_out_in_progress_build(env, &workspace, &build).await?;
    }
    let stopped = job.status == JobStatus::Succeeded;
    #[cfg(feature = "bugs")]
    let stopped = stopped
        || (env.bug(crate::bugs::Bug::StopIdempotentAfterFailure)
            && matches!(job.status, JobStatus::Failed | JobStatus::Canceled));
    if stopped && build.transition == Transition::Stop {
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
    let (fresh_build, fresh_job) = env.latest_build_and_job(workspace.id)?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::future::join;
    use uuid::Uuid;

    use super::*;
    use crate::memory::{JobOutcome, Query};
    use crate::model::WorkspaceBuild;
    use crate::ports::{Clock, ResponseError, StoreError, Validation};
    use crate::testkit::{FailingCoderd, TemplateIds, World};
    use crate::tools::start_workspace;

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

    fn stop(world: &World) -> ToolResponse {
        let env = world.env();
        world.call(run(&env, "{}"))
    }

    /// Runs the stop tool beside `driver` (which may fault the world).
    fn stop_while(world: &World, driver: impl std::future::Future<Output = ()>) -> ToolResponse {
        let env = world.env();
        world.call(async { join(run(&env, "{}"), driver).await.0 })
    }

    /// A workspace of a default template with one build in `status`.
    fn workspace(
        world: &World,
        transition: Transition,
        status: JobStatus,
    ) -> (TemplateIds, Uuid, WorkspaceBuild) {
        let template = world.template("t").create();
        let (ws, build) = world.workspace(&template, transition, status);
        (template, ws, build)
    }

    fn job_status(world: &World, build: &WorkspaceBuild) -> JobStatus {
        world.store.tables().job(build.job_id).expect("job").status
    }

    fn stopped(build: &WorkspaceBuild) -> String {
        format!(
            r#"{{"build_id":"{}","stopped":true,"workspace_name":"ws-1"}}"#,
            build.id
        )
    }

    const ALREADY_STOPPED: &str = r#"{"no_build":true,"stopped":true,"workspace_name":"ws-1"}"#;

    /// Sleeps, then applies a fault to the world.
    async fn after(world: &World, secs: u64, fault: impl FnOnce()) {
        world.clock.sleep(Duration::from_secs(secs)).await;
        fault();
    }

    // ---- definition and configuration (§3.1, step 1) -------------------

    #[test]
    fn definition_takes_no_input_and_has_the_upstream_description() {
        let def = definition();
        assert_eq!(def.name, "stop_workspace");
        assert_eq!(
            def.description,
            "Stop the chat's workspace and wait for the stop build to complete. If another workspace build is already in progress, this waits for that build first, then stops the workspace if needed. After waiting, this tool is idempotent if the workspace is already stopped or the in-progress build stopped it. Use this when the user explicitly asks to stop the workspace, or when a workspace-agent error tells you to stop and then start the workspace. Stopping a workspace terminates running processes and may discard unsaved in-memory state. This tool does not delete the workspace."
        );
        assert_eq!(
            def.input_schema().to_json(),
            r#"{"type":"object","properties":{},"required":[]}"#
        );
    }

    #[test]
    fn without_a_stop_hook_the_tool_says_so_and_reads_nothing() {
        let world = World::new();
        workspace(&world, Transition::Start, JobStatus::Succeeded);
        let mut env = world.env();
        env.coderd = None;
        assert_eq!(
            world.call(run(&env, "{}")),
            text_error("workspace stopper is not configured")
        );
        assert_eq!(world.store.calls(Query::GetChatById), 0);
    }

    // ---- lookups (steps 3–4, 7) ----------------------------------------

    #[test]
    fn a_chat_without_a_workspace_is_told_to_create_one() {
        let world = World::new();
        assert_eq!(
            stop(&world),
            text_error("chat has no workspace; use create_workspace first")
        );
    }

    #[test]
    fn a_deleted_workspace_is_told_to_create_a_new_one() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Succeeded);
        world
            .store
            .edit(|t| t.workspace_mut(ws).expect("ws").deleted = true);
        assert_eq!(
            stop(&world),
            text_error("workspace was deleted; use create_workspace to make a new one")
        );
    }

    #[test]
    fn every_failed_lookup_is_a_text_error_with_its_prefix_and_stops_nothing() {
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
            let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Succeeded);
            world.store.fail(query, boom());
            assert_eq!(stop(&world), text_error(want), "{query:?}");
            assert_eq!(world.builds(ws).len(), 1, "{query:?}");
            assert!(world.chat_update_build_ids().is_empty(), "{query:?}");
        }
    }

    // ---- a fresh stop (steps 7–12) -------------------------------------

    #[test]
    fn a_running_workspace_stops_and_the_chat_hears_twice() {
        let world = World::new();
        let (_, ws, start) = workspace(&world, Transition::Start, JobStatus::Succeeded);
        world.store.edit(|t| {
            t.chat_mut(world.chat).expect("chat").agent_id = Some(Uuid::from_u128(7));
        });
        let response = stop(&world);
        let builds = world.builds(ws);
        assert_eq!(builds.len(), 2);
        let build = &builds[1];
        assert_eq!(response, json(stopped(build)));
        assert_eq!(build.transition, Transition::Stop);
        assert_eq!(build.template_version_id, start.template_version_id);
        assert_eq!(job_status(&world, build), JobStatus::Succeeded);
        assert_eq!(
            world.chat_update_build_ids(),
            [Some(build.id), Some(build.id)]
        );
        let chat = world.chat_row();
        assert_eq!(
            (chat.workspace_id, chat.build_id, chat.agent_id),
            (Some(ws), Some(build.id), None)
        );
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 1);
    }

    #[test]
    fn an_already_stopped_workspace_is_idempotent_and_fires_nothing() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Stop, JobStatus::Succeeded);
        let started_at = world.now();
        assert_eq!(stop(&world), json(ALREADY_STOPPED.into()));
        assert_eq!(world.now(), started_at);
        assert_eq!(world.builds(ws).len(), 1);
        assert!(world.chat_update_build_ids().is_empty());
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
    }

    #[test]
    fn a_failed_or_canceled_stop_does_not_count_and_is_attempted_again() {
        for status in [JobStatus::Failed, JobStatus::Canceled] {
            let world = World::new();
            let (_, ws, old) = workspace(&world, Transition::Stop, status);
            let response = stop(&world);
            let build = world.latest_build(ws);
            assert_ne!(build.id, old.id, "{status:?}");
            assert_eq!(build.transition, Transition::Stop);
            assert_eq!(response, json(stopped(&build)), "{status:?}");
            assert_eq!(
                world.chat_update_build_ids(),
                [Some(build.id), Some(build.id)]
            );
        }
    }

    #[test]
    fn a_failed_start_is_stopped_anyway() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Failed);
        let response = stop(&world);
        assert_eq!(response, json(stopped(&world.latest_build(ws))));
    }

    #[test]
    fn a_failed_stop_build_is_json_with_the_build_id_and_only_the_first_update() {
        let cases = [
            (
                JobOutcome::Failed {
                    error: "terraform destroy failed".into(),
                    code: None,
                },
                "workspace stop build failed: terraform destroy failed",
            ),
            (
                JobOutcome::Canceled,
                "workspace stop build failed: build was canceled",
            ),
        ];
        for (outcome, message) in cases {
            let world = World::new();
            let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Succeeded);
            world.provisioner.borrow_mut().outcomes = vec![outcome];
            let response = stop(&world);
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
    fn a_failed_stop_then_a_retry_stops_the_workspace() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Succeeded);
        world.provisioner.borrow_mut().outcomes = vec![JobOutcome::Failed {
            error: "terraform destroy failed".into(),
            code: None,
        }];
        let first = stop(&world);
        let failed = world.latest_build(ws);
        assert_eq!(
            first,
            json(format!(
                r#"{{"error":"workspace stop build failed: terraform destroy failed","build_id":"{}"}}"#,
                failed.id
            ))
        );
        let second = stop(&world);
        let build = world.latest_build(ws);
        assert_ne!(build.id, failed.id);
        assert_eq!(second, json(stopped(&build)));
        // And now it is idempotent.
        assert_eq!(stop(&world), json(ALREADY_STOPPED.into()));
        assert_eq!(world.builds(ws).len(), 3);
    }

    #[test]
    fn a_hook_response_error_is_json_without_a_template_id() {
        let world = World::new();
        workspace(&world, Transition::Start, JobStatus::Succeeded);
        let hook = FailingCoderd(HookError::Response(ResponseError {
            status: 400,
            message: "Cannot stop & <restart>.".into(),
            detail: "because".into(),
            validations: vec![Validation {
                field: "transition".into(),
                detail: "not allowed".into(),
            }],
        }));
        let mut env = world.env();
        env.coderd = Some(&hook);
        assert_eq!(
            world.call(run(&env, "{}")),
            json(
                r#"{"detail":"because","error":"Cannot stop \u0026 \u003crestart\u003e.","validations":[{"field":"transition","detail":"not allowed"}]}"#
                    .into()
            )
        );
        assert!(world.chat_update_build_ids().is_empty());
    }

    #[test]
    fn any_other_hook_error_is_text_prefixed_stop_workspace() {
        let world = World::new();
        workspace(&world, Transition::Start, JobStatus::Succeeded);
        let hook = FailingCoderd(HookError::Other("database is locked".into()));
        let mut env = world.env();
        env.coderd = Some(&hook);
        assert_eq!(
            world.call(run(&env, "{}")),
            text_error("stop workspace: database is locked")
        );
    }

    #[test]
    fn a_failed_binding_is_only_logged_and_the_stop_goes_on() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Succeeded);
        world.store.fail(Query::UpdateChatWorkspaceBinding, boom());
        assert_eq!(stop(&world), json(stopped(&world.latest_build(ws))));
        assert_eq!(
            world.events.logs(),
            ["failed to persist build ID on chat binding: boom"]
        );
        assert_eq!(
            world.chat_update_build_ids().len(),
            1,
            "only the re-read fired"
        );
    }

    // ---- a build in progress (step 5) ----------------------------------

    #[test]
    fn an_in_progress_start_is_waited_for_then_stopped() {
        let world = World::new();
        let (_, ws, start) = workspace(&world, Transition::Start, JobStatus::Pending);
        let response = stop(&world);
        let builds = world.builds(ws);
        assert_eq!(builds.len(), 2);
        assert_eq!(job_status(&world, &builds[0]), JobStatus::Succeeded);
        assert_eq!(response, json(stopped(&builds[1])));
        assert_eq!(
            world.chat_update_build_ids(),
            [Some(start.id), Some(builds[1].id), Some(builds[1].id)]
        );
    }

    #[test]
    fn an_in_progress_stop_is_waited_for_and_then_idempotent() {
        let world = World::new();
        let (_, ws, build) = workspace(&world, Transition::Stop, JobStatus::Pending);
        assert_eq!(stop(&world), json(ALREADY_STOPPED.into()));
        assert_eq!(world.builds(ws).len(), 1);
        assert_eq!(job_status(&world, &build), JobStatus::Succeeded);
        assert_eq!(world.chat_update_build_ids(), [Some(build.id)]);
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
    }

    #[test]
    fn a_running_stop_finishing_later_is_idempotent_too() {
        let world = World::new();
        let (_, ws, build) = workspace(&world, Transition::Stop, JobStatus::Running);
        let started_at = world.now();
        let response = stop_while(
            &world,
            after(&world, 5, || {
                world
                    .coderd
                    .complete_job(build.job_id, JobOutcome::Succeeded);
            }),
        );
        assert_eq!(response, json(ALREADY_STOPPED.into()));
        assert_eq!(world.now().since(started_at), Duration::from_secs(6));
        assert_eq!(world.builds(ws).len(), 1);
    }

    #[test]
    fn a_canceling_build_is_waited_out_and_the_stop_goes_on_after_the_cancel() {
        let world = World::new();
        let (_, ws, old) = workspace(&world, Transition::Stop, JobStatus::Canceling);
        let response = stop_while(
            &world,
            after(&world, 3, || {
                world.coderd.complete_job(old.job_id, JobOutcome::Canceled);
            }),
        );
        let build = world.latest_build(ws);
        assert_ne!(build.id, old.id);
        // The wait failed ("build was canceled") but the fresh job is
        // terminal: the fresh row wins and the stop goes on.
        assert_eq!(response, json(stopped(&build)));
        assert_eq!(
            world.chat_update_build_ids(),
            [Some(old.id), Some(build.id), Some(build.id)]
        );
    }

    #[test]
    fn a_failing_in_progress_start_is_waited_out_and_the_workspace_stopped() {
        let world = World::new();
        let (_, ws, old) = workspace(&world, Transition::Start, JobStatus::Pending);
        world.provisioner.borrow_mut().outcomes = vec![JobOutcome::Failed {
            error: "terraform apply failed".into(),
            code: None,
        }];
        let response = stop(&world);
        let build = world.latest_build(ws);
        assert_ne!(build.id, old.id);
        assert_eq!(job_status(&world, &old), JobStatus::Failed);
        assert_eq!(response, json(stopped(&build)));
    }

    #[test]
    fn an_in_progress_build_that_never_ends_times_out_with_the_waiting_prefix() {
        let world = World::new();
        let (_, ws, build) = workspace(&world, Transition::Start, JobStatus::Pending);
        world.provisioner.borrow_mut().hang = true;
        let started_at = world.now();
        assert_eq!(
            stop(&world),
            json(format!(
                r#"{{"error":"waiting for in-progress build: timed out waiting for workspace build: context deadline exceeded","build_id":"{}"}}"#,
                build.id
            ))
        );
        assert_eq!(world.now().since(started_at), Duration::from_secs(600));
        assert_eq!(world.builds(ws).len(), 1);
        assert_eq!(world.chat_update_build_ids(), [Some(build.id)]);
    }

    #[test]
    fn a_failed_wait_while_the_job_still_runs_is_the_waiting_error() {
        let world = World::new();
        let (_, ws, build) = workspace(&world, Transition::Start, JobStatus::Pending);
        let response = stop_while(
            &world,
            after(&world, 1, || {
                world
                    .store
                    .fail_times(Query::GetWorkspaceBuildById, 1, boom());
            }),
        );
        assert_eq!(
            response,
            json(format!(
                r#"{{"error":"waiting for in-progress build: get build: boom","build_id":"{}"}}"#,
                build.id
            ))
        );
        assert_eq!(world.builds(ws).len(), 1);
    }

    #[test]
    fn a_canceled_turn_while_waiting_is_the_waiting_error() {
        let world = World::new();
        let (_, _, build) = workspace(&world, Transition::Start, JobStatus::Pending);
        let response = stop_while(&world, after(&world, 3, || world.cancel.cancel()));
        assert_eq!(
            response,
            json(format!(
                r#"{{"error":"waiting for in-progress build: timed out waiting for workspace build: context canceled","build_id":"{}"}}"#,
                build.id
            ))
        );
    }

    #[test]
    fn the_rereads_after_waiting_have_their_own_errors() {
        let cases: [(Query, u32, &str); 3] = [
            (Query::GetWorkspaceById, 1, "load workspace: boom"),
            (
                Query::GetLatestWorkspaceBuildByWorkspaceId,
                1,
                "get latest build: boom",
            ),
            // The first failure ends the wait, the second the re-read.
            (Query::GetProvisionerJobById, 2, "get provisioner job: boom"),
        ];
        for (query, times, want) in cases {
            let world = World::new();
            let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Pending);
            let response = stop_while(
                &world,
                after(&world, 1, || {
                    world.store.fail_times(query, times, boom());
                }),
            );
            assert_eq!(response, text_error(want), "{query:?}");
            assert_eq!(world.builds(ws).len(), 1, "{query:?}");
        }
    }

    #[test]
    fn a_workspace_deleted_while_waiting_is_reported_as_deleted() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Pending);
        let response = stop_while(
            &world,
            after(&world, 1, || {
                world
                    .store
                    .edit(|t| t.workspace_mut(ws).expect("ws").deleted = true);
            }),
        );
        assert_eq!(
            response,
            text_error("workspace was deleted; use create_workspace to make a new one")
        );
    }

    // ---- the per-chat lock ----------------------------------------------

    /// Runs two tool calls concurrently in one turn (`first` polled first).
    fn call_both(
        world: &World,
        first: impl std::future::Future<Output = ToolResponse>,
        second: impl std::future::Future<Output = ToolResponse>,
    ) -> (ToolResponse, ToolResponse) {
        let second_response = std::cell::RefCell::new(None);
        let first_response = world.call(async {
            let (a, b) = join(first, second).await;
            *second_response.borrow_mut() = Some(b);
            a
        });
        let second_response = second_response.into_inner().expect("both ran");
        (first_response, second_response)
    }

    fn started(build: &WorkspaceBuild) -> String {
        format!(
            r#"{{"build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
            build.id
        )
    }

    #[test]
    fn a_start_and_a_stop_in_one_turn_run_one_after_the_other() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Stop, JobStatus::Succeeded);
        let env = world.env();
        let (start_response, stop_response) =
            call_both(&world, start_workspace::run(&env, "{}"), run(&env, "{}"));
        let builds = world.builds(ws);
        assert_eq!(builds.len(), 3);
        let (start_build, stop_build) = (&builds[1], &builds[2]);
        assert_eq!(start_response, json(started(start_build)));
        assert_eq!(stop_response, json(stopped(stop_build)));
        // The stop began only after the start's post-ready update.
        assert_eq!(
            world.chat_update_build_ids(),
            [
                Some(start_build.id),
                Some(start_build.id),
                Some(stop_build.id),
                Some(stop_build.id)
            ]
        );
    }

    #[test]
    fn a_stop_and_a_start_in_one_turn_run_one_after_the_other() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Succeeded);
        world.connect_agent(world.agents(ws)[0].id);
        let env = world.env();
        let (stop_response, start_response) =
            call_both(&world, run(&env, "{}"), start_workspace::run(&env, "{}"));
        let builds = world.builds(ws);
        assert_eq!(builds.len(), 3);
        let (stop_build, start_build) = (&builds[1], &builds[2]);
        assert_eq!(stop_build.transition, Transition::Stop);
        assert_eq!(start_build.transition, Transition::Start);
        assert_eq!(stop_response, json(stopped(stop_build)));
        assert_eq!(start_response, json(started(start_build)));
        assert_eq!(
            world.chat_update_build_ids(),
            [
                Some(stop_build.id),
                Some(stop_build.id),
                Some(start_build.id),
                Some(start_build.id)
            ]
        );
    }

    #[test]
    fn without_the_lock_the_start_would_join_the_stop_build_instead() {
        // The contrast that shows what the lock is for.
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Start, JobStatus::Succeeded);
        let mut env = world.env();
        env.workspace_mu = None;
        let (stop_response, start_response) =
            call_both(&world, run(&env, "{}"), start_workspace::run(&env, "{}"));
        let builds = world.builds(ws);
        assert_eq!(builds.len(), 2, "the start joined the in-flight stop");
        assert_eq!(stop_response, json(stopped(&builds[1])));
        assert_eq!(
            start_response,
            json(format!(
                r#"{{"agent_status":"no_agent","build_id":"{}","started":true,"workspace_name":"ws-1"}}"#,
                builds[1].id
            ))
        );
    }

    // ---- bad input -------------------------------------------------------

    #[test]
    fn bad_input_is_a_text_error_and_never_a_panic() {
        let world = World::new();
        let (_, ws, _) = workspace(&world, Transition::Stop, JobStatus::Succeeded);
        let env = world.env();
        for input in ["{not json", "42", r#""text""#, "{} trailing"] {
            let response = world.call(run(&env, input));
            assert!(response.is_error, "{input}");
            assert!(
                response.content.starts_with("invalid parameters: "),
                "{input}: {}",
                response.content
            );
        }
        for input in ["", "{}", r#"{"workspace_id":"x","force":true}"#] {
            assert_eq!(
                world.call(run(&env, input)),
                json(ALREADY_STOPPED.into()),
                "{input}"
            );
        }
        for input in ["null", "[]", "[1,2]"] {
            let _ = world.call(run(&env, input));
        }
        assert_eq!(world.builds(ws).len(), 1);
    }
}
