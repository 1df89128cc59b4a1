//! Waiting for builds and agents, and the build-failure results
//! (spec 1 §2, §3.5–§3.8).

use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use super::{build_error_result, ToolEnv, ToolResponse};
use crate::agent_select::find_chat_agent;
use crate::ctx::{Ctx, CtxError, Ticker};
use crate::gojson::Value;
use crate::model::{
    JobStatus, LifecycleState, WorkspaceAgent, EXTERNAL_AGENT_RESOURCE_TYPE, INSUFFICIENT_QUOTA,
};
use crate::ports::{AgentDialer, Store};

/// `buildPollInterval` (spec 1 §2): the period of `waitForBuild`'s polls.
pub const BUILD_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// `buildTimeout`: the bound on one `waitForBuild`.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// `agentConnectTimeout`: the bound on phase 1 (dialing) of `waitForAgentReady`.
pub const AGENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// `agentRetryInterval`: the period between dial attempts.
pub const AGENT_RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// `agentAttemptTimeout`: the bound on one dial attempt.
pub const AGENT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// `startupScriptTimeout`: the bound on phase 2 (lifecycle polling).
pub const STARTUP_SCRIPT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// `startupScriptPollInterval`: the period of the lifecycle polls.
pub const STARTUP_SCRIPT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Why `wait_for_build` failed. `Display` is the Go `Error()` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BuildWaitError {
    /// The job failed (`workspaceBuildError`): its message and error code.
    Failed { message: String, code: String },
    /// Lookups, cancellation, timeouts and unexpected states.
    Other(String),
}

impl BuildWaitError {
    /// The job's error code, empty when none.
    pub(crate) fn code(&self) -> &str {
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
pub(crate) async fn wait_for_build(
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

/// `ExternalAgentUnavailableMessage` of an external agent that has connected before.
pub const EXTERNAL_AGENT_OFFLINE: &str = "workspace uses an externally managed agent that is currently offline. The user needs to reconnect the external agent on its host, then try again";
/// `ExternalAgentUnavailableMessage` of an external agent that never connected.
pub const EXTERNAL_AGENT_NOT_CONNECTED: &str = "workspace uses an externally managed agent that has not connected yet. The user needs to start the workspace externally and make sure the external agent is connected, then try again";

/// `ExternalAgentUnavailableMessage`.
pub fn external_agent_unavailable_message(agent: &WorkspaceAgent) -> &'static str {
    if agent.first_connected_at.is_some() {
        EXTERNAL_AGENT_OFFLINE
    } else {
        EXTERNAL_AGENT_NOT_CONNECTED
    }
}

/// `waitForAgentReady`: the keys describing a problem (an empty map means
/// ready). Phase 1 dials (only with a dialer), phase 2 polls the lifecycle.
pub(crate) async fn wait_for_agent_ready(
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

/// The chat agent among the latest build's `agents` and its readiness keys
/// (spec 2 §1.3; spec 1 §3.3 steps 21–22): `no_agent` without agents, the
/// raw selection error (spec 1 §6) as `selection_error` with no dial and no
/// fallback, else the keys of [`wait_for_agent_ready`].
pub(crate) async fn chat_agent_readiness(env: &ToolEnv<'_>, agents: &[WorkspaceAgent]) -> Value {
    let mut keys = Value::map();
    if agents.is_empty() {
        keys.insert("agent_status", "no_agent");
        return keys;
    }
    match find_chat_agent(agents) {
        Ok(agent) => wait_for_agent_ready(env, &env.ctx, &agent, env.dialer).await,
        Err(err) => {
            keys.insert("agent_status", "selection_error");
            keys.insert("agent_error", err);
            keys
        }
    }
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

/// Which verb the quota message uses (spec 1 §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildAction {
    /// A create build (create_workspace's own, or an existing non-start build).
    Create,
    /// A start build (start_workspace's, or an existing start build).
    Start,
}

impl BuildAction {
    /// `create` or `start`.
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
pub(crate) fn build_failure_response(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::future::join;
    use uuid::Uuid;

    use super::*;
    use crate::memory::Query;
    use crate::model::{JobStatus, LifecycleState, Transition, WorkspaceAgent, WorkspaceBuild};
    use crate::ports::{Clock, StoreError};
    use crate::testkit::{DialPlan, TemplateIds, World};
    use crate::time::Time;

    const SECOND: Duration = Duration::from_secs(1);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// A world whose chat has a workspace with a pending build.
    fn pending_build() -> (World, WorkspaceBuild) {
        let world = World::new();
        let template = world.template("go").create();
        let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
        (world, build)
    }

    /// A world whose chat has a running workspace; its one agent has never
    /// connected and its lifecycle is `created`.
    fn running_agent() -> (World, TemplateIds, WorkspaceAgent) {
        let world = World::new();
        let template = world.template("go").create();
        let (workspace, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
        let agent = world.agents(workspace).remove(0);
        (world, template, agent)
    }

    fn finish_job(
        world: &World,
        build: &WorkspaceBuild,
        status: JobStatus,
        error: Option<&str>,
        code: Option<&str>,
    ) {
        world.store.edit(|t| {
            let job = t.job_mut(build.job_id).expect("job");
            job.status = status;
            job.error = error.map(str::to_string);
            job.error_code = code.map(str::to_string);
        });
    }

    fn set_lifecycle(world: &World, agent: &WorkspaceAgent, state: LifecycleState) {
        world.edit_agent(agent.id, |a| a.lifecycle_state = state);
    }

    fn make_external(world: &World, agent: &WorkspaceAgent) {
        let resource = agent.resource_id.expect("resource");
        world.store.edit(|t| {
            let row = t.resources.iter_mut().find(|r| r.id == resource).unwrap();
            // The spec's resource type, spelled out: detection keys off it.
            row.type_ = "coder_external_agent".to_string();
        });
    }

    fn elapsed(world: &World, start: Time) -> Duration {
        world.now().since(start)
    }

    fn dial_offsets(world: &World, start: Time) -> Vec<u64> {
        world
            .dialer
            .dials()
            .iter()
            .map(|d| d.at.since(start).as_secs())
            .collect()
    }

    // ---- waitForBuild -------------------------------------------------

    #[test]
    fn a_finished_build_is_seen_by_the_immediate_first_poll() {
        let (world, build) = pending_build();
        finish_job(&world, &build, JobStatus::Succeeded, None, None);
        let env = world.env();
        let start = world.now();
        assert_eq!(world.run(wait_for_build(&env, &env.ctx, build.id)), Ok(()));
        assert_eq!(elapsed(&world, start), Duration::ZERO);
        assert_eq!(world.store.calls(Query::GetWorkspaceBuildById), 1);
        assert_eq!(world.store.calls(Query::GetProvisionerJobById), 1);
    }

    #[test]
    fn the_build_is_polled_every_two_seconds_until_its_job_succeeds() {
        let (world, build) = pending_build();
        let env = world.env();
        let start = world.now();
        let provisioner = async {
            world.clock.sleep(secs(3)).await;
            finish_job(&world, &build, JobStatus::Running, None, None);
            world.clock.sleep(secs(2)).await;
            finish_job(&world, &build, JobStatus::Succeeded, None, None);
        };
        let (outcome, ()) = world.run(join(wait_for_build(&env, &env.ctx, build.id), provisioner));
        assert_eq!(outcome, Ok(()));
        // Polls at 0, 2, 4 (running) and 6 s (succeeded).
        assert_eq!(elapsed(&world, start), secs(6));
        assert_eq!(world.store.calls(Query::GetWorkspaceBuildById), 4);
    }

    #[test]
    fn a_failed_job_reports_its_error_and_code() {
        let (world, build) = pending_build();
        finish_job(
            &world,
            &build,
            JobStatus::Failed,
            Some("insufficient quota"),
            Some(INSUFFICIENT_QUOTA),
        );
        let env = world.env();
        let err = world
            .run(wait_for_build(&env, &env.ctx, build.id))
            .unwrap_err();
        assert_eq!(err.to_string(), "insufficient quota");
        assert_eq!(err.code(), INSUFFICIENT_QUOTA);
    }

    #[test]
    fn a_null_job_error_reads_build_failed_but_an_empty_one_stays_empty() {
        let (world, build) = pending_build();
        let env = world.env();
        finish_job(&world, &build, JobStatus::Failed, None, None);
        let err = world
            .run(wait_for_build(&env, &env.ctx, build.id))
            .unwrap_err();
        assert_eq!(
            err,
            BuildWaitError::Failed {
                message: "build failed".into(),
                code: String::new()
            }
        );
        finish_job(&world, &build, JobStatus::Failed, Some(""), None);
        let err = world
            .run(wait_for_build(&env, &env.ctx, build.id))
            .unwrap_err();
        assert_eq!(err.to_string(), "");
        assert_eq!(err.code(), "");
    }

    #[test]
    fn a_canceled_job_reads_build_was_canceled_and_canceling_keeps_waiting() {
        let (world, build) = pending_build();
        finish_job(&world, &build, JobStatus::Canceling, None, None);
        let env = world.env();
        let start = world.now();
        let provisioner = async {
            world.clock.sleep(secs(3)).await;
            finish_job(&world, &build, JobStatus::Canceled, None, None);
        };
        let (outcome, ()) = world.run(join(wait_for_build(&env, &env.ctx, build.id), provisioner));
        assert_eq!(
            outcome,
            Err(BuildWaitError::Other("build was canceled".into()))
        );
        assert_eq!(elapsed(&world, start), secs(4));
    }

    #[test]
    fn lookup_errors_name_the_failed_read() {
        let (world, build) = pending_build();
        let env = world.env();
        let missing = Uuid::from_u128(0xdead);
        let err = world
            .run(wait_for_build(&env, &env.ctx, missing))
            .unwrap_err();
        assert_eq!(err.to_string(), "get build: sql: no rows in result set");
        world.store.fail(
            Query::GetProvisionerJobById,
            StoreError::Other("connection reset".into()),
        );
        let err = world
            .run(wait_for_build(&env, &env.ctx, build.id))
            .unwrap_err();
        assert_eq!(err.to_string(), "get provisioner job: connection reset");
    }

    #[test]
    fn a_stuck_build_times_out_at_ten_minutes_and_the_deadline_wins_the_last_tick() {
        let (world, build) = pending_build();
        let env = world.env();
        let start = world.now();
        let err = world
            .run(wait_for_build(&env, &env.ctx, build.id))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out waiting for workspace build: context deadline exceeded"
        );
        assert_eq!(elapsed(&world, start), BUILD_TIMEOUT);
        // Polls at 0, 2, …, 598 s; the tick at 600 s loses to the deadline.
        assert_eq!(world.store.calls(Query::GetWorkspaceBuildById), 300);
    }

    #[test]
    fn a_canceled_turn_ends_the_build_wait_with_context_canceled() {
        let (world, build) = pending_build();
        let env = world.env();
        let start = world.now();
        let (outcome, ()) = world.run(join(
            wait_for_build(&env, &env.ctx, build.id),
            world.cancel_after(secs(3)),
        ));
        assert_eq!(
            outcome.unwrap_err().to_string(),
            "timed out waiting for workspace build: context canceled"
        );
        assert_eq!(elapsed(&world, start), secs(3));
    }

    // ---- waitForAgentReady: phase 1 (dial) ------------------------------

    #[test]
    fn a_ready_agent_is_dialed_once_and_the_connection_released_at_once() {
        let (world, _, agent) = running_agent();
        world.connect_agent(agent.id);
        let env = world.env();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(keys.to_json(), "{}");
        assert_eq!(world.dialer.dials().len(), 1);
        assert_eq!(world.dialer.open_connections(), 0);
    }

    #[test]
    fn without_a_dialer_only_the_lifecycle_is_polled() {
        let (world, _, agent) = running_agent();
        world.dialer.plan(agent.id, DialPlan::Forbidden);
        set_lifecycle(&world, &agent, LifecycleState::Ready);
        let env = world.env();
        let keys = world.run(wait_for_agent_ready(&env, &env.ctx, &agent, None));
        assert_eq!(keys.to_json(), "{}");
        assert!(world.dialer.dials().is_empty());
    }

    #[test]
    fn a_hanging_dial_is_followed_at_once_by_the_next_then_the_two_second_grid_resumes() {
        let (world, _, agent) = running_agent();
        world.dialer.plans(
            agent.id,
            vec![
                DialPlan::Hang,
                DialPlan::Fail("connection refused".into()),
                DialPlan::Fail("connection refused".into()),
                DialPlan::Succeed,
            ],
        );
        set_lifecycle(&world, &agent, LifecycleState::Ready);
        let env = world.env();
        let start = world.now();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(keys.to_json(), "{}");
        // The 5 s hang swallows the ticks at 2 and 4 s: one is kept and
        // delivered at once (5 s); the grid then resumes at 6 and 8 s.
        assert_eq!(dial_offsets(&world, start), [0, 5, 6, 8]);
    }

    #[test]
    fn fast_failing_dials_retry_every_two_seconds_and_the_deadline_wins_at_two_minutes() {
        let (world, _, agent) = running_agent();
        world.dialer.plan(
            agent.id,
            DialPlan::Fail("dial tcp: connection refused".into()),
        );
        let env = world.env();
        let start = world.now();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(
            keys.to_json(),
            r#"{"agent_error":"dial tcp: connection refused","agent_status":"not_ready"}"#
        );
        assert_eq!(elapsed(&world, start), AGENT_CONNECT_TIMEOUT);
        let offsets = dial_offsets(&world, start);
        assert_eq!(offsets.len(), 60);
        assert_eq!(offsets.first(), Some(&0));
        assert_eq!(offsets.last(), Some(&118));
        // Phase 2 never ran.
        assert_eq!(
            world
                .store
                .calls(Query::GetWorkspaceAgentLifecycleStateById),
            0
        );
    }

    #[test]
    fn hanging_dials_each_use_their_five_seconds_and_end_with_deadline_exceeded() {
        let (world, _, agent) = running_agent();
        world.dialer.plan(agent.id, DialPlan::Hang);
        let env = world.env();
        let start = world.now();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(
            keys.to_json(),
            r#"{"agent_error":"context deadline exceeded","agent_status":"not_ready"}"#
        );
        assert_eq!(elapsed(&world, start), AGENT_CONNECT_TIMEOUT);
        let offsets = dial_offsets(&world, start);
        assert_eq!(offsets, (0..24).map(|k| k * 5).collect::<Vec<u64>>());
    }

    #[test]
    fn a_dial_slower_than_its_attempt_deadline_is_abandoned_at_five_seconds() {
        let (world, _, agent) = running_agent();
        world.dialer.plans(
            agent.id,
            vec![DialPlan::SucceedAfter(secs(6)), DialPlan::Succeed],
        );
        set_lifecycle(&world, &agent, LifecycleState::Ready);
        let env = world.env();
        let start = world.now();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(keys.to_json(), "{}");
        assert_eq!(dial_offsets(&world, start), [0, 5]);
        assert_eq!(world.dialer.open_connections(), 0);
    }

    #[test]
    fn a_canceled_turn_in_phase_one_is_not_ready_with_context_canceled() {
        let (world, _, agent) = running_agent();
        world.dialer.plan(agent.id, DialPlan::Hang);
        let env = world.env();
        let (keys, ()) = world.run(join(
            wait_for_agent_ready(&env, &env.ctx, &agent, Some(&world.dialer)),
            world.cancel_after(secs(3)),
        ));
        assert_eq!(
            keys.to_json(),
            r#"{"agent_error":"context canceled","agent_status":"not_ready"}"#
        );
    }

    #[test]
    fn an_external_agent_that_never_connected_gets_the_start_it_yourself_guidance() {
        let (world, _, agent) = running_agent();
        make_external(&world, &agent);
        world.dialer.plan(agent.id, DialPlan::Hang);
        let env = world.env();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(
            keys.to_json(),
            r#"{"agent_error":"workspace uses an externally managed agent that has not connected yet. The user needs to start the workspace externally and make sure the external agent is connected, then try again","agent_status":"not_ready"}"#
        );
    }

    #[test]
    fn an_external_agent_that_connected_before_gets_the_reconnect_guidance() {
        let (world, _, agent) = running_agent();
        make_external(&world, &agent);
        let agent = WorkspaceAgent {
            first_connected_at: Some(world.now()),
            ..agent
        };
        world
            .dialer
            .plan(agent.id, DialPlan::Fail("offline".into()));
        let env = world.env();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(
            keys.to_json(),
            r#"{"agent_error":"workspace uses an externally managed agent that is currently offline. The user needs to reconnect the external agent on its host, then try again","agent_status":"not_ready"}"#
        );
    }

    #[test]
    fn the_raw_dial_error_stays_when_the_external_check_cannot_tell() {
        let (world, _, agent) = running_agent();
        make_external(&world, &agent);
        world
            .dialer
            .plan(agent.id, DialPlan::Fail("offline".into()));
        world.store.fail(
            Query::GetWorkspaceResourceById,
            StoreError::Other("db down".into()),
        );
        let env = world.env();
        let want = r#"{"agent_error":"offline","agent_status":"not_ready"}"#;
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(keys.to_json(), want);
        world.store.heal(Query::GetWorkspaceResourceById);
        let no_resource = WorkspaceAgent {
            resource_id: None,
            ..agent
        };
        assert!(!is_external_agent(world.store.as_ref(), &no_resource));
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &no_resource,
            Some(&world.dialer),
        ));
        assert_eq!(keys.to_json(), want);
    }

    #[test]
    fn a_late_successful_dial_clears_everything_even_for_an_external_agent() {
        let (world, _, agent) = running_agent();
        make_external(&world, &agent);
        let mut plans = vec![DialPlan::Fail("offline".into()); 50];
        plans.push(DialPlan::Succeed);
        world.dialer.plans(agent.id, plans);
        set_lifecycle(&world, &agent, LifecycleState::Ready);
        let env = world.env();
        let start = world.now();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(keys.to_json(), "{}");
        assert_eq!(elapsed(&world, start), secs(100));
    }

    // ---- waitForAgentReady: phase 2 (lifecycle) --------------------------

    #[test]
    fn every_state_past_starting_other_than_ready_is_a_startup_script_failure() {
        let states = [
            LifecycleState::StartTimeout,
            LifecycleState::StartError,
            LifecycleState::ShuttingDown,
            LifecycleState::ShutdownTimeout,
            LifecycleState::ShutdownError,
            LifecycleState::Off,
        ];
        for state in states {
            let (world, _, agent) = running_agent();
            set_lifecycle(&world, &agent, state);
            let env = world.env();
            let keys = world.run(wait_for_agent_ready(&env, &env.ctx, &agent, None));
            assert_eq!(
                keys.to_json(),
                format!(
                    r#"{{"lifecycle_state":"{}","startup_scripts":"startup_scripts_failed"}}"#,
                    state.as_str()
                )
            );
        }
    }

    #[test]
    fn created_and_starting_keep_polling_and_lifecycle_read_errors_are_ignored() {
        let (world, _, agent) = running_agent();
        world.store.fail_times(
            Query::GetWorkspaceAgentLifecycleStateById,
            2,
            StoreError::Other("db down".into()),
        );
        let env = world.env();
        let start = world.now();
        let scripts = async {
            world.clock.sleep(secs(5)).await;
            set_lifecycle(&world, &agent, LifecycleState::Starting);
            world.clock.sleep(secs(2)).await;
            set_lifecycle(&world, &agent, LifecycleState::Ready);
        };
        let (keys, ()) = world.run(join(
            wait_for_agent_ready(&env, &env.ctx, &agent, None),
            scripts,
        ));
        assert_eq!(keys.to_json(), "{}");
        // 0, 2 s: errors; 4 s: created; 6 s: starting; 8 s: ready.
        assert_eq!(elapsed(&world, start), secs(8));
        assert_eq!(
            world
                .store
                .calls(Query::GetWorkspaceAgentLifecycleStateById),
            5
        );
    }

    #[test]
    fn the_startup_script_window_is_ten_minutes_from_the_end_of_phase_one() {
        let (world, _, agent) = running_agent();
        let mut plans = vec![DialPlan::Fail("connection refused".into()); 10];
        plans.push(DialPlan::Succeed);
        world.dialer.plans(agent.id, plans);
        set_lifecycle(&world, &agent, LifecycleState::Starting);
        let env = world.env();
        let start = world.now();
        let keys = world.run(wait_for_agent_ready(
            &env,
            &env.ctx,
            &agent,
            Some(&world.dialer),
        ));
        assert_eq!(
            keys.to_json(),
            r#"{"startup_scripts":"startup_scripts_timeout"}"#
        );
        assert_eq!(elapsed(&world, start), secs(20) + STARTUP_SCRIPT_TIMEOUT);
        assert_eq!(
            world
                .store
                .calls(Query::GetWorkspaceAgentLifecycleStateById),
            300
        );
    }

    #[test]
    fn a_canceled_turn_in_phase_two_leaves_the_startup_scripts_unknown() {
        let (world, _, agent) = running_agent();
        world.connect_agent(agent.id);
        set_lifecycle(&world, &agent, LifecycleState::Starting);
        let env = world.env();
        let (keys, ()) = world.run(join(
            wait_for_agent_ready(&env, &env.ctx, &agent, Some(&world.dialer)),
            world.cancel_after(secs(7)),
        ));
        assert_eq!(
            keys.to_json(),
            r#"{"startup_scripts":"startup_scripts_unknown"}"#
        );
    }

    // ---- build failure results ----------------------------------------------

    /// A second workspace of the owner whose latest build costs `cost`.
    fn spend(world: &World, template: &TemplateIds, cost: i64) {
        let chat = world.chat_row();
        let (workspace, build) = world.workspace(template, Transition::Start, JobStatus::Succeeded);
        world.store.edit(|t| {
            t.build_mut(build.id).unwrap().daily_cost = cost;
            let row = t.chat_mut(chat.id).unwrap();
            row.workspace_id = chat.workspace_id;
            row.build_id = chat.build_id;
        });
        assert_ne!(Some(workspace), chat.workspace_id);
    }

    #[test]
    fn a_generic_failure_is_the_build_error_struct() {
        let world = World::new();
        let env = world.env();
        let build = Uuid::from_u128(7);
        let response = build_failure_response(
            &env,
            world.organization,
            BuildAction::Create,
            Some(build),
            "workspace build failed: terraform apply failed",
            "",
            true,
        );
        assert!(!response.is_error);
        assert_eq!(
            response.content,
            format!(
                r#"{{"error":"workspace build failed: terraform apply failed","build_id":"{build}"}}"#
            )
        );
        let response = build_failure_response(
            &env,
            world.organization,
            BuildAction::Create,
            None,
            "boom",
            "SOME_OTHER_CODE",
            true,
        );
        assert_eq!(response.content, r#"{"error":"boom"}"#);
    }

    #[test]
    fn the_quota_result_keeps_struct_order_and_carries_the_owners_quota() {
        let world = World::new();
        let template = world.template("go").create();
        spend(&world, &template, 3);
        world.quota_allowance(5);
        let env = world.env();
        let build = Uuid::from_u128(7);
        let response = build_failure_response(
            &env,
            world.organization,
            BuildAction::Create,
            Some(build),
            "workspace build failed: insufficient quota",
            INSUFFICIENT_QUOTA,
            true,
        );
        assert!(!response.is_error);
        assert_eq!(
            response.content,
            format!(
                r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"workspace build failed: insufficient quota","title":"Workspace quota reached","message":"Coder could not create this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.","build_id":"{build}","quota":{{"credits_consumed":3,"budget":5}}}}"#
            )
        );
        // Already the owner: no escalation.
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
    }

    #[test]
    fn the_quota_lookup_escalates_to_the_owner_exactly_once_when_not_the_owner() {
        let world = World::new();
        world.quota_allowance(5);
        let env = world.env();
        let response = build_failure_response(
            &env,
            world.organization,
            BuildAction::Start,
            None,
            "existing workspace build failed: insufficient quota",
            INSUFFICIENT_QUOTA,
            false,
        );
        assert_eq!(
            response.content,
            r#"{"error_code":"INSUFFICIENT_QUOTA","error":"existing workspace build failed: insufficient quota","title":"Workspace quota reached","message":"Coder could not start this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.","quota":{"credits_consumed":0,"budget":5}}"#
        );
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 1);
    }

    #[test]
    fn the_quota_details_are_omitted_whenever_they_cannot_be_read() {
        let without_quota = r#"{"error_code":"INSUFFICIENT_QUOTA","error":"e","title":"Workspace quota reached","message":"Coder could not create this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance."}"#;
        let failing = [
            Query::GetAuthorizationUserRoles,
            Query::GetQuotaConsumedForUser,
            Query::GetQuotaAllowanceForUser,
        ];
        for query in failing {
            let world = World::new();
            world.store.fail(query, StoreError::Other("db down".into()));
            let env = world.env();
            let response = build_failure_response(
                &env,
                world.organization,
                BuildAction::Create,
                None,
                "e",
                INSUFFICIENT_QUOTA,
                false,
            );
            assert_eq!(response.content, without_quota, "{query:?} failing");
            assert!(!response.is_error);
        }
        let world = World::new();
        let env = world.env();
        let nil_org = build_failure_response(
            &env,
            Uuid::nil(),
            BuildAction::Create,
            None,
            "e",
            INSUFFICIENT_QUOTA,
            true,
        );
        assert_eq!(nil_org.content, without_quota);
        let env = ToolEnv {
            owner_id: Uuid::nil(),
            ..world.env()
        };
        let nil_owner = build_failure_response(
            &env,
            world.organization,
            BuildAction::Create,
            None,
            "e",
            INSUFFICIENT_QUOTA,
            false,
        );
        assert_eq!(nil_owner.content, without_quota);
        assert_eq!(world.store.calls(Query::GetQuotaConsumedForUser), 0);
    }

    #[test]
    fn the_quota_message_names_the_action() {
        assert!(quota_message(BuildAction::Start).starts_with("Coder could not start this"));
        assert!(quota_message(BuildAction::Create).starts_with("Coder could not create this"));
    }

    #[test]
    fn timing_constants_follow_the_spec() {
        assert_eq!(BUILD_POLL_INTERVAL, 2 * SECOND);
        assert_eq!(BUILD_TIMEOUT, 600 * SECOND);
        assert_eq!(AGENT_CONNECT_TIMEOUT, 120 * SECOND);
        assert_eq!(AGENT_RETRY_INTERVAL, 2 * SECOND);
        assert_eq!(AGENT_ATTEMPT_TIMEOUT, 5 * SECOND);
        assert_eq!(STARTUP_SCRIPT_TIMEOUT, 600 * SECOND);
        assert_eq!(STARTUP_SCRIPT_POLL_INTERVAL, 2 * SECOND);
    }
}
