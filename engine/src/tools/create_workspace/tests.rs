//! Stories for create_workspace, one per step and branch of spec 1
//! §3.3–§3.12. Expected JSON is written out by hand with Go's key order:
//! maps sorted, structs (build error, quota) in field order.

use std::cell::RefCell;
use std::time::Duration;

use uuid::Uuid;

use super::*;
use crate::memory::{JobOutcome, Query, PREBUILDS_USER_ID};
use crate::model::{
    AgentSpec, BuildParameter, Chat, JobStatus, LifecycleState, Transition, Workspace,
    WorkspaceBuild, INSUFFICIENT_QUOTA,
};
use crate::ports::{Clock, Coderd, ResponseError, StoreError, Validation};
use crate::testkit::{AgentScript, DialPlan, Hook, RecordingCoderd, TemplateIds, World};

const QUOTA_MESSAGE_CREATE: &str = "Coder could not create this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.";
const QUOTA_MESSAGE_START: &str = "Coder could not start this workspace because your workspace quota is full. Delete a workspace you no longer need to free quota, or ask an administrator to raise your group quota allowance.";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn db_down() -> StoreError {
    StoreError::Other("db down".into())
}

/// `{"template_id": …, "name": "dev"}`.
fn named(template: &TemplateIds, name: &str) -> String {
    format!(
        r#"{{"template_id":"{}","name":"{name}"}}"#,
        template.template
    )
}

fn create(world: &World, input: &str) -> ToolResponse {
    let env = world.env();
    world.call(run(&env, input))
}

fn json(response: &ToolResponse) -> &str {
    assert!(!response.is_error, "expected JSON, got error {response:?}");
    &response.content
}

fn text_error(response: &ToolResponse) -> &str {
    assert!(response.is_error, "expected a text error, got {response:?}");
    &response.content
}

/// The newest workspace row and its latest build.
fn newest(world: &World) -> (Workspace, WorkspaceBuild) {
    let tables = world.store.tables();
    let workspace = tables.workspaces.last().expect("a workspace").clone();
    let build = tables.latest_build(workspace.id).expect("a build").clone();
    (workspace, build)
}

fn row_counts(world: &World) -> (usize, usize, usize) {
    let t = world.store.tables();
    (t.workspaces.len(), t.builds.len(), t.jobs.len())
}

fn updates(world: &World) -> Vec<Chat> {
    world.chat_updates.borrow().clone()
}

/// Another workspace of the owner (not bound to the chat) whose latest
/// build costs `cost` quota credits.
fn spend(world: &World, template: &TemplateIds, cost: i64) {
    let chat = world.chat_row();
    let (_, build) = world.workspace(template, Transition::Start, JobStatus::Succeeded);
    world.store.edit(|t| {
        t.build_mut(build.id).unwrap().daily_cost = cost;
        let row = t.chat_mut(chat.id).unwrap();
        row.workspace_id = chat.workspace_id;
        row.build_id = chat.build_id;
    });
}

fn create_with(world: &World, coderd: &dyn Coderd, input: &str) -> ToolResponse {
    let env = ToolEnv {
        coderd: Some(coderd),
        ..world.env()
    };
    world.call(run(&env, input))
}

// ===========================================================================
// Definition
// ===========================================================================

#[test]
fn the_definition_carries_the_primary_description_and_one_required_field() {
    let def = definition();
    assert_eq!(def.name, "create_workspace");
    assert!(def.description.starts_with(
        "Create a new workspace from a template only when workspace-backed file inspection"
    ));
    assert!(def.description.ends_with(
        "If the chat already has a workspace that is building or running, the existing workspace is returned."
    ));
    assert_eq!(
        def.description,
        "Create a new workspace from a template only when workspace-backed file inspection, \
         command execution, or file editing is required, or when the user explicitly asks for \
         one. Do not use this as a default first step for requests answerable from conversation \
         context, provider tools, or external MCP tools. Requires a template_id (from \
         list_templates). Optionally provide a name and parameter values (from read_template). If \
         no name is given, one will be generated. Provide a preset_id (from read_template) to \
         apply preset parameters and potentially claim a prebuilt workspace for faster startup. \
         This tool is idempotent. If the chat already has a workspace that is building or \
         running, the existing workspace is returned."
    );
    let fields: Vec<(&str, &str, bool)> = def
        .properties
        .iter()
        .map(|p| (p.name, p.type_, p.required))
        .collect();
    assert_eq!(
        fields,
        [
            ("template_id", "string", true),
            ("name", "string", false),
            ("parameters", "object", false),
            ("preset_id", "string", false),
        ]
    );
    assert_eq!(
        def.properties[0].description,
        "The UUIDv4 of the template to create the workspace from. Obtain this from list_templates."
    );
    assert_eq!(
        def.properties[1].description,
        "The name of the workspace to create. If not provided, a random name will be generated."
    );
    assert_eq!(
        def.properties[2].description,
        "Key-value pairs of template parameters to use when creating the workspace. Obtain \
         available parameters from read_template."
    );
    assert_eq!(
        def.properties[3].description,
        "The UUIDv4 of a template version preset to use. Obtain available presets from \
         read_template. When provided, the preset's parameters are applied automatically and the \
         workspace may claim a prebuilt instance for faster startup."
    );
    assert_eq!(
        def.input_schema().get("required").unwrap().to_json(),
        r#"["template_id"]"#
    );
}

// ===========================================================================
// Steps 1–5: cheap validation, then the lock
// ===========================================================================

#[test]
fn step_1_without_a_creator_the_tool_says_it_is_not_configured() {
    let world = World::new();
    let template = world.template("go").create();
    let env = ToolEnv {
        coderd: None,
        ..world.env()
    };
    let response = world.run(run(&env, &named(&template, "dev")));
    assert_eq!(text_error(&response), "workspace creator is not configured");
}

#[test]
fn step_2_a_missing_or_blank_template_id_points_at_list_templates() {
    let world = World::new();
    for input in [
        "",
        "{}",
        r#"{"template_id":null}"#,
        r#"{"template_id":"  \t\n"}"#,
        r#"{"name":"dev"}"#,
    ] {
        let response = create(&world, input);
        assert_eq!(
            text_error(&response),
            "template_id is required; use list_templates to find one",
            "input {input:?}"
        );
    }
    assert_eq!(world.store.calls(Query::GetChatById), 0);
}

#[test]
fn step_3_an_unparseable_template_id_quotes_gos_uuid_error() {
    let world = World::new();
    let cases = [
        ("not-a-uuid", "invalid template_id: invalid UUID length: 10"),
        (
            "6ba7b810x9dad-11d1-80b4-00c04fd430c8",
            "invalid template_id: invalid UUID format",
        ),
        (
            "urn:uid:x6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            "invalid template_id: invalid urn prefix: \"urn:uid:x\"",
        ),
        ("  ü  ", "invalid template_id: invalid UUID length: 2"),
        (
            // 45 bytes whose ninth byte starts `é`: Go's %q shows that byte.
            "urn:uuidé6ba7b810-9dad-11d1-80b4-00c04fd430c",
            "invalid template_id: invalid urn prefix: \"urn:uuid\\xc3\"",
        ),
    ];
    for (raw, want) in cases {
        let input = serde_json::json!({ "template_id": raw }).to_string();
        assert_eq!(text_error(&create(&world, &input)), want);
    }
}

#[test]
fn step_3_the_template_id_is_trimmed_and_read_in_any_go_form() {
    let world = World::new();
    let template = world.template("go").create();
    let braced = format!(
        r#"{{"template_id":"  {{{}}} ","name":"dev"}}"#,
        template.template.to_string().to_uppercase()
    );
    let response = create(&world, &braced);
    assert!(json(&response).contains(r#""created":true"#));
}

#[test]
fn step_4_a_template_outside_the_allowlist_is_not_available() {
    let mut world = World::new();
    let template = world.template("go").create();
    let allowed = world.template("rust").create();
    world.allowlist.insert(allowed.template);
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        text_error(&response),
        "template not available for chat workspaces; use list_templates to find allowed templates"
    );
    assert_eq!(world.store.calls(Query::GetChatById), 0);
    let response = create(&world, &named(&allowed, "dev"));
    assert!(json(&response).contains(r#""created":true"#));
}

#[test]
fn step_5_validation_errors_answer_without_waiting_for_the_lock() {
    let world = World::new();
    let _held = world.workspace_mu.try_lock().expect("free lock");
    let env = world.env();
    // Nothing else runs: waiting for the lock would stall the executor.
    let response = world.run(run(&env, r#"{"template_id":"not-a-uuid"}"#));
    assert!(response.is_error);
}

#[test]
fn step_5_the_lock_is_taken_after_validation_and_held_for_the_whole_call() {
    let world = World::new();
    let template = world.template("go").create();
    let held = world.workspace_mu.try_lock().expect("free lock");
    let world_ref = &world;
    let story = async move {
        world_ref.clock.sleep(secs(5)).await;
        // Still waiting for the lock: checkExistingWorkspace has not run.
        assert_eq!(world_ref.store.calls(Query::GetChatById), 0);
        drop(held);
        world_ref.clock.sleep(secs(5)).await;
        // t = 10 s: the call is in its build wait and holds the lock.
        assert!(world_ref.workspace_mu.try_lock().is_none());
        world_ref.clock.sleep(secs(5)).await;
        // t = 15 s: in its agent wait, still holding it.
        assert!(world_ref.workspace_mu.try_lock().is_none());
    };
    let env = world.env();
    let response = world.call_while(run(&env, &named(&template, "dev")), story);
    assert!(json(&response).contains(r#""created":true"#));
    assert!(world.workspace_mu.try_lock().is_some());
}

#[test]
fn parallel_calls_in_one_turn_make_exactly_one_workspace() {
    let world = World::new();
    let template = world.template("go").create();
    let (first_env, second_env) = (world.env(), world.env());
    let input = named(&template, "dev");
    let (first, second) = world.drive(futures::future::join(
        run(&first_env, &input),
        run(&second_env, &input),
    ));
    let (workspace, build) = newest(&world);
    assert_eq!(world.store.tables().workspaces.len(), 1);
    assert_eq!(
        json(&first),
        format!(
            r#"{{"build_id":"{}","created":true,"workspace_name":"testuser/dev"}}"#,
            build.id
        )
    );
    assert_eq!(
        json(&second),
        r#"{"created":false,"message":"workspace is already running and recently connected","status":"already_exists","workspace_name":"dev"}"#
    );
    // Only the creating call fires callbacks: the binding and the post-ready one.
    let updates = updates(&world);
    assert_eq!(updates.len(), 2);
    assert!(updates.iter().all(|c| c.workspace_id == Some(workspace.id)));
}

// ===========================================================================
// Step 6: checkExistingWorkspace (§3.4)
// ===========================================================================

#[test]
fn existing_a_chat_read_error_is_a_load_chat_text_error() {
    let world = World::new();
    let template = world.template("go").create();
    world.store.fail(Query::GetChatById, db_down());
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(text_error(&response), "load chat: db down");
    assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
}

#[test]
fn existing_a_workspace_read_error_is_a_load_workspace_text_error() {
    let world = World::new();
    let template = world.template("go").create();
    world.store.edit(|t| {
        t.chat_mut(world.chat).unwrap().workspace_id = Some(Uuid::from_u128(0xdead));
    });
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        text_error(&response),
        "load workspace: sql: no rows in result set"
    );
}

#[test]
fn existing_a_deleted_workspace_is_replaced() {
    let world = World::new();
    let template = world.template("go").create();
    let (old, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
    world
        .store
        .edit(|t| t.workspace_mut(old).unwrap().deleted = true);
    let response = create(&world, &named(&template, "dev"));
    assert!(json(&response).contains(r#""created":true"#));
    let (new, _) = newest(&world);
    assert_ne!(new.id, old);
    assert_eq!(world.chat_row().workspace_id, Some(new.id));
}

#[test]
fn existing_unreadable_builds_and_jobs_silently_allow_a_new_workspace() {
    for query in [
        Query::GetLatestWorkspaceBuildByWorkspaceId,
        Query::GetProvisionerJobById,
    ] {
        let world = World::new();
        let template = world.template("go").create();
        world.workspace(&template, Transition::Start, JobStatus::Running);
        world.store.fail_times(query, 1, db_down());
        let response = create(&world, &named(&template, "dev"));
        assert!(
            json(&response).contains(r#""created":true"#),
            "{query:?}: {response:?}"
        );
        assert_eq!(world.store.tables().workspaces.len(), 2);
    }
}

#[test]
fn existing_pending_build_is_bound_waited_for_and_its_agent_readied() {
    let world = World::new();
    let template = world.template("go").create();
    let (workspace, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    world.store.edit(|t| {
        let chat = t.chat_mut(world.chat).unwrap();
        chat.build_id = None;
    });
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        format!(
            r#"{{"build_id":"{}","created":false,"message":"workspace build completed","status":"already_exists","workspace_name":"ws-1"}}"#,
            build.id
        )
    );
    // The binding callback, once; no post-ready callback on this path.
    let updates = updates(&world);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].workspace_id, Some(workspace));
    assert_eq!(updates[0].build_id, Some(build.id));
    assert_eq!(updates[0].agent_id, None);
    assert_eq!(world.store.tables().workspaces.len(), 1);
    assert_eq!(world.dialer.dials().len(), 1);
}

#[test]
fn existing_in_progress_binding_failure_is_logged_and_fires_no_callback() {
    let world = World::new();
    let template = world.template("go").create();
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    world
        .store
        .fail(Query::UpdateChatWorkspaceBinding, db_down());
    let response = create(&world, &named(&template, "dev"));
    assert!(json(&response).contains(&format!(r#""build_id":"{}""#, build.id)));
    assert!(updates(&world).is_empty());
    assert!(world
        .events
        .logs()
        .contains(&"failed to persist build ID on chat binding: db down".to_string()));
}

#[test]
fn existing_running_build_is_waited_for_too() {
    let world = World::new();
    let template = world.template("go").create();
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Running);
    // Nobody else will finish it: a provisioner that already holds it.
    let story = async {
        world.clock.sleep(secs(7)).await;
        world
            .coderd
            .complete_job(build.job_id, JobOutcome::Succeeded);
        let agent = world.agents(build.workspace_id).remove(0);
        world.connect_agent(agent.id);
    };
    let env = world.env();
    let start = world.now();
    let response = world.call_while(run(&env, &named(&template, "dev")), story);
    assert!(json(&response).contains(r#""message":"workspace build completed""#));
    assert_eq!(world.now().since(start), secs(8));
}

#[test]
fn existing_in_progress_build_without_agents_adds_no_agent_keys() {
    let world = World::new();
    let template = world.template("go").agents(vec![]).create();
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        format!(
            r#"{{"build_id":"{}","created":false,"message":"workspace build completed","status":"already_exists","workspace_name":"ws-1"}}"#,
            build.id
        )
    );
}

#[test]
fn existing_in_progress_build_whose_agents_cannot_be_read_adds_no_agent_keys() {
    let world = World::new();
    let template = world.template("go").create();
    world.dialer.default_plan(DialPlan::Forbidden);
    world.workspace(&template, Transition::Start, JobStatus::Pending);
    world.store.fail(
        Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
        db_down(),
    );
    let response = create(&world, &named(&template, "dev"));
    let content = json(&response);
    assert!(content.contains(r#""status":"already_exists""#));
    assert!(!content.contains("agent_status"));
}

fn two_chat_agents() -> Vec<AgentSpec> {
    // DB order puts `z-…` first; sorted order would put `a-…` first.
    vec![
        AgentSpec {
            name: "z-coderd-chat".into(),
            display_order: 1,
            ..AgentSpec::default()
        },
        AgentSpec {
            name: "a-coderd-chat".into(),
            display_order: 0,
            ..AgentSpec::default()
        },
    ]
}

#[test]
fn existing_in_progress_selection_error_falls_back_to_the_first_agent_in_db_order() {
    let world = World::new();
    let template = world.template("go").agents(two_chat_agents()).create();
    // Only `z-…` ever connects: waiting on `a-…` would end not_ready.
    world.provisioner.borrow_mut().agents.insert(
        "a-coderd-chat".into(),
        AgentScript {
            connect_after: None,
            ..AgentScript::default()
        },
    );
    let (workspace, _) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    let response = create(&world, &named(&template, "dev"));
    assert!(!json(&response).contains("agent_"), "{response:?}");
    let z = world
        .agents(workspace)
        .into_iter()
        .find(|a| a.name == "z-coderd-chat")
        .unwrap();
    assert!(world.dialer.dials().iter().all(|d| d.agent_id == z.id));
    assert!(world
        .events
        .logs()
        .iter()
        .any(|l| l.contains("multiple agents match the chat suffix")));
}

#[test]
fn existing_in_progress_build_failure_is_prefixed_and_keeps_its_build_id() {
    let world = World::new();
    let template = world.template("go").create();
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    world.provisioner.borrow_mut().outcomes = vec![JobOutcome::Failed {
        error: "terraform apply failed".into(),
        code: None,
    }];
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error":"existing workspace build failed: terraform apply failed","build_id":"{}"}}"#,
            build.id
        )
    );
    assert_eq!(updates(&world).len(), 1);
    assert_eq!(world.store.tables().workspaces.len(), 1);
}

#[test]
fn existing_in_progress_quota_failure_reads_the_owners_quota_as_owner_once() {
    let world = World::new();
    let template = world.template("go").daily_cost(10).create();
    spend(&world, &template, 2);
    world.quota_allowance(5);
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"existing workspace build failed: insufficient quota","title":"Workspace quota reached","message":"{QUOTA_MESSAGE_START}","build_id":"{}","quota":{{"credits_consumed":2,"budget":5}}}}"#,
            build.id
        )
    );
    assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 1);
    assert_eq!(updates(&world).len(), 1);
}

#[test]
fn existing_in_progress_stop_build_quota_failure_uses_the_create_wording() {
    let world = World::new();
    let template = world.template("go").create();
    let (_, build) = world.workspace(&template, Transition::Stop, JobStatus::Pending);
    world.provisioner.borrow_mut().outcomes = vec![JobOutcome::Failed {
        error: "insufficient quota".into(),
        code: Some(INSUFFICIENT_QUOTA.into()),
    }];
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"existing workspace build failed: insufficient quota","title":"Workspace quota reached","message":"{QUOTA_MESSAGE_CREATE}","build_id":"{}","quota":{{"credits_consumed":0,"budget":0}}}}"#,
            build.id
        )
    );
}

#[test]
fn existing_in_progress_quota_failure_omits_quota_when_the_owner_cannot_be_loaded() {
    let world = World::new();
    let template = world.template("go").daily_cost(10).create();
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    world
        .store
        .fail(Query::GetAuthorizationUserRoles, db_down());
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"existing workspace build failed: insufficient quota","title":"Workspace quota reached","message":"{QUOTA_MESSAGE_START}","build_id":"{}"}}"#,
            build.id
        )
    );
}

#[test]
fn existing_in_progress_wait_canceled_by_the_user() {
    let world = World::new();
    let template = world.template("go").create();
    world.provisioner.borrow_mut().hang = true;
    let (_, build) = world.workspace(&template, Transition::Start, JobStatus::Pending);
    let env = world.env();
    let response = world.call_while(
        run(&env, &named(&template, "dev")),
        world.cancel_after(secs(30)),
    );
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error":"existing workspace build failed: timed out waiting for workspace build: context canceled","build_id":"{}"}}"#,
            build.id
        )
    );
}

#[test]
fn existing_stopped_workspace_points_at_start_workspace() {
    let world = World::new();
    let template = world.template("go").create();
    world.workspace(&template, Transition::Stop, JobStatus::Succeeded);
    let before = row_counts(&world);
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        r#"{"created":false,"message":"workspace is stopped; use start_workspace to start it","status":"stopped","workspace_name":"ws-1"}"#
    );
    assert_eq!(row_counts(&world), before);
    assert!(updates(&world).is_empty());
}

#[test]
fn existing_connected_agent_is_not_dialed_only_its_lifecycle_polled() {
    let world = World::new();
    let template = world.template("go").create();
    let (workspace, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
    let agent = world.agents(workspace).remove(0);
    world.connect_agent(agent.id);
    world.dialer.plan(agent.id, DialPlan::Forbidden);
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        r#"{"created":false,"message":"workspace is already running and recently connected","status":"already_exists","workspace_name":"ws-1"}"#
    );
    assert!(world.dialer.dials().is_empty());
    assert!(updates(&world).is_empty());
}

#[test]
fn existing_connected_agent_whose_startup_scripts_failed_says_so() {
    let world = World::new();
    let template = world.template("go").create();
    let (workspace, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
    let agent = world.agents(workspace).remove(0);
    world.connect_agent(agent.id);
    world.edit_agent(agent.id, |a| a.lifecycle_state = LifecycleState::StartError);
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        r#"{"created":false,"lifecycle_state":"start_error","message":"workspace is already running and recently connected","startup_scripts":"startup_scripts_failed","status":"already_exists","workspace_name":"ws-1"}"#
    );
}

#[test]
fn existing_connecting_agent_is_dialed_and_waited_for() {
    let world = World::new();
    let template = world.template("go").create();
    let (workspace, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
    let agent = world.agents(workspace).remove(0);
    let story = async {
        world.clock.sleep(secs(3)).await;
        world.connect_agent(agent.id);
    };
    let env = world.env();
    let start = world.now();
    let response = world.call_while(run(&env, &named(&template, "dev")), story);
    assert_eq!(
        json(&response),
        r#"{"created":false,"message":"workspace exists and the agent is still connecting","status":"already_exists","workspace_name":"ws-1"}"#
    );
    // The first dial hangs its 5 s; the next one (at once) connects.
    let offsets: Vec<u64> = world
        .dialer
        .dials()
        .iter()
        .map(|d| d.at.since(start).as_secs())
        .collect();
    assert_eq!(offsets, [0, 5]);
    assert_eq!(world.store.tables().workspaces.len(), 1);
}

#[test]
fn existing_external_agent_that_never_connects_gets_the_external_guidance() {
    let world = World::new();
    let template = world.template("go").external().create();
    let (workspace, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
    let start = world.now();
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        r#"{"agent_error":"workspace uses an externally managed agent that has not connected yet. The user needs to start the workspace externally and make sure the external agent is connected, then try again","agent_status":"not_ready","created":false,"message":"workspace exists and the agent is still connecting","status":"already_exists","workspace_name":"ws-1"}"#
    );
    assert_eq!(world.now().since(start), secs(120));
    assert_eq!(world.agents(workspace).len(), 1);
}

#[test]
fn existing_disconnected_or_timed_out_agents_get_a_new_workspace() {
    type Breaker = fn(&World, Uuid);
    let breakers: [(&str, Breaker); 3] = [
        ("explicit disconnect", |w, id| {
            w.connect_agent(id);
            w.advance(secs(1));
            w.disconnect_agent(id);
        }),
        ("silent past the inactive timeout", |w, id| {
            w.connect_agent(id);
            w.advance(secs(31));
        }),
        ("never connected past its connection timeout", |w, _| {
            w.advance(secs(121));
        }),
    ];
    for (story, break_agent) in breakers {
        let world = World::new();
        let template = world.template("go").create();
        let (old, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
        let agent = world.agents(old).remove(0);
        break_agent(&world, agent.id);
        world.dialer.plan(agent.id, DialPlan::Forbidden);
        let response = create(&world, &named(&template, "dev"));
        let (new, build) = newest(&world);
        assert_eq!(
            json(&response),
            format!(
                r#"{{"build_id":"{}","created":true,"workspace_name":"testuser/dev"}}"#,
                build.id
            ),
            "{story}"
        );
        assert_ne!(new.id, old, "{story}");
        assert_eq!(world.chat_row().workspace_id, Some(new.id), "{story}");
    }
}

#[test]
fn existing_running_workspace_without_readable_agents_gets_a_new_workspace() {
    for broken in ["no agents", "agents unreadable"] {
        let world = World::new();
        let template = world.template("go").create();
        let empty = world.template("empty").agents(vec![]).create();
        let bound = if broken == "no agents" {
            &empty
        } else {
            &template
        };
        world.workspace(bound, Transition::Start, JobStatus::Succeeded);
        if broken == "agents unreadable" {
            world.store.fail_times(
                Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
                1,
                db_down(),
            );
        }
        let response = create(&world, &named(&template, "dev"));
        assert!(
            json(&response).contains(r#""created":true"#),
            "{broken}: {response:?}"
        );
        assert_eq!(world.store.tables().workspaces.len(), 2, "{broken}");
    }
}

#[test]
fn existing_running_workspace_selection_error_falls_back_to_the_first_agent() {
    let world = World::new();
    let template = world.template("go").agents(two_chat_agents()).create();
    let (workspace, _) = world.workspace(&template, Transition::Start, JobStatus::Succeeded);
    let agents = world.agents(workspace);
    assert_eq!(agents[0].name, "z-coderd-chat");
    // `z-…` (DB first) is connected; `a-…` never connected (connecting, so
    // it would be dialed and the message would differ).
    world.connect_agent(agents[0].id);
    world.dialer.default_plan(DialPlan::Forbidden);
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        r#"{"created":false,"message":"workspace is already running and recently connected","status":"already_exists","workspace_name":"ws-1"}"#
    );
}

#[test]
fn existing_failed_canceled_and_canceling_builds_allow_a_new_workspace() {
    for status in [JobStatus::Failed, JobStatus::Canceled, JobStatus::Canceling] {
        let world = World::new();
        let template = world.template("go").create();
        let (old, _) = world.workspace(&template, Transition::Start, status);
        let response = create(&world, &named(&template, "dev"));
        assert!(json(&response).contains(r#""created":true"#), "{status:?}");
        let (new, _) = newest(&world);
        assert_ne!(new.id, old);
        assert_eq!(world.chat_row().workspace_id, Some(new.id));
    }
}

// ===========================================================================
// Steps 7–11: owner, template, organization, external agents
// ===========================================================================

#[test]
fn step_7_an_unloadable_owner_is_a_text_error() {
    let world = World::new();
    let template = world.template("go").create();
    world
        .store
        .fail(Query::GetAuthorizationUserRoles, db_down());
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(text_error(&response), "load user authorization: db down");
}

#[test]
fn step_8_an_unknown_template_is_a_lookup_error() {
    let world = World::new();
    let input = format!(r#"{{"template_id":"{}"}}"#, Uuid::from_u128(0xdead));
    let response = create(&world, &input);
    assert_eq!(
        text_error(&response),
        "look up template: sql: no rows in result set"
    );
}

#[test]
fn step_9_a_template_of_another_organization_is_refused() {
    let world = World::new();
    let template = world
        .template("go")
        .organization(Uuid::from_u128(0x0a))
        .create();
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        text_error(&response),
        "template belongs to a different organization than this chat; use list_templates to find templates in the correct organization"
    );
}

#[test]
fn step_11_external_agent_templates_are_refused_before_any_build() {
    let world = World::new();
    let template = world.template("go").external().create();
    let recorder = RecordingCoderd::over(&world);
    let before = row_counts(&world);
    let response = create_with(&world, &recorder, &named(&template, "dev"));
    assert_eq!(
        text_error(&response),
        "create_workspace cannot create workspaces from templates with externally managed agents. Use list_templates to choose a different template, or if the user wants to use an external workspace, they should create it and start it up fully themselves first, then attach it to this chat"
    );
    assert!(recorder.create_requests().is_empty());
    assert_eq!(row_counts(&world), before);
    assert!(updates(&world).is_empty());
}

#[test]
fn step_11_a_missing_active_version_counts_as_not_external() {
    let world = World::new();
    let template = world
        .template("go")
        .edit(|t| t.active_version_id = Uuid::from_u128(0xdead))
        .create();
    let response = create(&world, &named(&template, "dev"));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"agent_status":"no_agent","build_id":"{}","created":true,"workspace_name":"testuser/dev"}}"#,
            build.id
        )
    );
}

#[test]
fn step_11_a_failed_version_read_is_a_text_error() {
    let world = World::new();
    let template = world.template("go").create();
    world.store.fail(Query::GetTemplateVersionById, db_down());
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(text_error(&response), "look up template version: db down");
}

// ===========================================================================
// Steps 12–16: TTL, preset, name, parameters
// ===========================================================================

#[test]
fn step_12_the_chat_workspace_ttl_setting_becomes_ttl_millis() {
    let cases: [(&str, Option<i64>, Option<&str>); 7] = [
        ("", None, None),
        ("0s", None, None),
        ("1h", Some(3_600_000), None),
        ("1h30m", Some(5_400_000), None),
        ("1.5s", Some(1_500), None),
        ("-1h", None, Some("invalid chat workspace TTL")),
        ("bogus", None, Some("time: invalid duration \"bogus\"")),
    ];
    for (setting, want, log) in cases {
        let world = World::new();
        let template = world.template("go").create();
        world
            .store
            .edit(|t| t.chat_workspace_ttl = setting.to_string());
        let recorder = RecordingCoderd::over(&world);
        create_with(&world, &recorder, &named(&template, "dev"));
        assert_eq!(recorder.create_requests()[0].ttl_ms, want, "{setting:?}");
        assert_eq!(newest(&world).0.ttl_ms, want, "{setting:?}");
        if let Some(log) = log {
            assert!(
                world.events.logs().iter().any(|l| l.contains(log)),
                "{setting:?}: {:?}",
                world.events.logs()
            );
        }
    }
}

#[test]
fn step_12_an_unreadable_ttl_setting_falls_back_to_the_template_default() {
    let world = World::new();
    let template = world.template("go").create();
    world.store.fail(Query::GetChatWorkspaceTtl, db_down());
    let recorder = RecordingCoderd::over(&world);
    let response = create_with(&world, &recorder, &named(&template, "dev"));
    assert!(json(&response).contains(r#""created":true"#));
    assert_eq!(recorder.create_requests()[0].ttl_ms, None);
    assert!(world
        .events
        .logs()
        .contains(&"failed to get chat workspace TTL: db down".to_string()));
}

#[test]
fn step_14_an_unparseable_preset_id_is_refused_after_the_template_checks() {
    let world = World::new();
    let template = world.template("go").create();
    let recorder = RecordingCoderd::over(&world);
    let input = format!(
        r#"{{"template_id":"{}","preset_id":" abc "}}"#,
        template.template
    );
    let response = create_with(&world, &recorder, &input);
    assert_eq!(
        text_error(&response),
        "invalid preset_id: invalid UUID length: 3"
    );
    assert!(recorder.create_requests().is_empty());
    assert_eq!(world.store.calls(Query::GetTemplateVersionById), 1);
    // An external template is refused before the preset is looked at.
    let external = world.template("ext").external().create();
    let input = format!(
        r#"{{"template_id":"{}","preset_id":"abc"}}"#,
        external.template
    );
    let response = create_with(&world, &recorder, &input);
    assert!(text_error(&response).starts_with("create_workspace cannot create"));
}

#[test]
fn step_14_a_preset_and_parameters_are_both_forwarded_untouched() {
    let world = World::new();
    let template = world
        .template("go")
        .parameter("region", true, "")
        .parameter("size", false, "small")
        .preset("eu", &[("region", "eu"), ("size", "large")], None)
        .create();
    let preset = template.presets[0];
    let recorder = RecordingCoderd::over(&world);
    let input = format!(
        r#"{{"template_id":"{}","name":"dev","preset_id":" {preset} ","parameters":{{"size":"medium"}}}}"#,
        template.template
    );
    let response = create_with(&world, &recorder, &input);
    assert!(json(&response).contains(r#""created":true"#));
    let request = &recorder.create_requests()[0];
    assert_eq!(request.template_version_preset_id, Some(preset));
    assert_eq!(
        request.rich_parameter_values,
        [BuildParameter {
            name: "size".into(),
            value: "medium".into()
        }]
    );
    // Merging is coderd's job: explicit values win over the preset's.
    let (_, build) = newest(&world);
    let values: Vec<(&str, &str)> = build
        .rich_parameters
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(values, [("region", "eu"), ("size", "medium")]);
}

#[test]
fn step_14_a_preset_with_a_ready_prebuild_is_claimed_with_the_same_result_shape() {
    let world = World::new();
    let template = world.template("go").preset("fast", &[], Some(1)).create();
    let preset = template.presets[0];
    let input = format!(
        r#"{{"template_id":"{}","name":"claimed","preset_id":"{preset}"}}"#,
        template.template
    );
    let env = world.env();
    let response = world.drive(async {
        world.coderd.reconcile_prebuilds();
        world.clock.sleep(secs(30)).await; // the pool member builds and gets ready
        run(&env, &input).await
    });
    let (workspace, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"build_id":"{}","created":true,"workspace_name":"testuser/claimed"}}"#,
            build.id
        )
    );
    let tables = world.store.tables();
    assert_eq!(tables.workspaces.len(), 1, "the prebuild was claimed");
    assert_eq!(workspace.owner_id, world.owner);
    assert_ne!(workspace.owner_id, PREBUILDS_USER_ID);
    assert_eq!(build.build_number, 2);
}

#[test]
fn step_14_a_preset_of_another_template_is_refused_by_coderd_and_never_claimed() {
    // The tool forwards any parseable preset_id; version membership is
    // coderd's check (spec 1 §3.3 step 14), so a ready prebuild of another
    // template must not be handed out.
    let world = World::new();
    let go = world.template("go").create();
    let py = world.template("py").preset("fast", &[], Some(1)).create();
    let preset = py.presets[0];
    let input = format!(
        r#"{{"template_id":"{}","name":"dev","preset_id":"{preset}"}}"#,
        go.template
    );
    let env = world.env();
    let response = world.drive(async {
        world.coderd.reconcile_prebuilds();
        world.clock.sleep(secs(30)).await; // the pool member builds and gets ready
        run(&env, &input).await
    });
    assert_eq!(
        json(&response),
        format!(
            r#"{{"detail":"preset {preset} does not belong to the template's active version","error":"Preset does not belong to the template version.","validations":[{{"field":"template_version_preset_id","detail":"preset {preset} does not belong to the template's active version"}}]}}"#
        )
    );
    let tables = world.store.tables();
    assert!(
        tables
            .workspaces
            .iter()
            .all(|w| w.owner_id == PREBUILDS_USER_ID),
        "nothing created, nothing claimed"
    );
    assert_eq!(world.chat_row().workspace_id, None);
}

#[test]
fn step_15_names_are_trimmed_kept_when_valid_and_generated_otherwise() {
    let world = World::new();
    let template = world.template("go-dev").create();
    let recorder = RecordingCoderd::over(&world);
    let cases = [
        (r#""name":"  my-ws  ","#, "my-ws"),
        ("", "go-dev-"),
        (r#""name":"   ","#, "go-dev-"),
        (r#""name":"My WS!","#, "my-ws-"),
        (r#""name":"ws--1","#, "ws-1-"),
    ];
    for (name_field, want) in cases {
        // Each case in a fresh chat binding: unbind the previous workspace.
        world
            .store
            .edit(|t| t.chat_mut(world.chat).unwrap().workspace_id = None);
        let input = format!(r#"{{{name_field}"template_id":"{}"}}"#, template.template);
        let response = create_with(&world, &recorder, &input);
        assert!(json(&response).contains(r#""created":true"#), "{input}");
        let name = recorder.create_requests().last().unwrap().name.clone();
        assert!(name_valid(&name), "{name}");
        if want.ends_with('-') {
            let suffix = name.strip_prefix(want).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(suffix.len(), 4, "{name}");
            assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        } else {
            assert_eq!(name, want);
        }
    }
}

#[test]
fn step_16_parameters_are_forwarded_sorted_by_name() {
    let world = World::new();
    let template = world.template("go").create();
    let recorder = RecordingCoderd::over(&world);
    let input = format!(
        r#"{{"template_id":"{}","name":"dev","parameters":{{"zone":"b","Arch":"arm","region":"eu"}}}}"#,
        template.template
    );
    create_with(&world, &recorder, &input);
    let names: Vec<String> = recorder.create_requests()[0]
        .rich_parameter_values
        .iter()
        .map(|p| format!("{}={}", p.name, p.value))
        .collect();
    assert_eq!(names, ["Arch=arm", "region=eu", "zone=b"]);
}

#[test]
fn step_16_parameters_decode_as_gos_json_does() {
    // A null value reads as "" (null into a string has no effect), and a
    // repeated `parameters` object is decoded into the same map (merged).
    let world = World::new();
    let template = world.template("go").create();
    let recorder = RecordingCoderd::over(&world);
    let input = format!(
        r#"{{"template_id":"{}","name":"dev","parameters":{{"zone":null,"region":"eu"}},"Parameters":{{"arch":"arm","region":"us"}}}}"#,
        template.template
    );
    let response = create_with(&world, &recorder, &input);
    assert!(!response.is_error, "{}", response.content);
    let names: Vec<String> = recorder.create_requests()[0]
        .rich_parameter_values
        .iter()
        .map(|p| format!("{}={}", p.name, p.value))
        .collect();
    assert_eq!(names, ["arch=arm", "region=us", "zone="]);
}

#[test]
fn a_later_null_leaves_an_earlier_string_argument_as_go_does() {
    // Go: "unmarshaling a JSON null into any other Go value has no effect".
    let world = World::new();
    let template = world.template("go").create();
    let recorder = RecordingCoderd::over(&world);
    let input = format!(
        r#"{{"template_id":"{}","name":"dev","NAME":null}}"#,
        template.template
    );
    let response = create_with(&world, &recorder, &input);
    assert!(!response.is_error, "{}", response.content);
    assert_eq!(recorder.create_requests()[0].name, "dev");
}

// ===========================================================================
// Step 17: the create hook and its name-conflict retry (§3.9)
// ===========================================================================

#[test]
fn step_17_a_responder_error_is_a_json_result_not_an_error() {
    let world = World::new();
    let template = world.template("go").parameter("region", true, "").create();
    let response = create(&world, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        r#"{"detail":"region must be set before the workspace can be created","error":"Unable to validate parameters.","validations":[{"field":"region","detail":"region must be set before the workspace can be created"}]}"#
    );
    assert!(updates(&world).is_empty());
    assert_eq!(world.chat_row().workspace_id, None);
}

#[test]
fn step_17_a_responder_without_message_reads_request_failed() {
    let world = World::new();
    let template = world.template("go").create();
    let recorder = RecordingCoderd::over(&world);
    let error = HookError::Response(ResponseError {
        status: 500,
        message: String::new(),
        detail: String::new(),
        validations: vec![],
    });
    recorder.fail_nth(Hook::CreateWorkspace, 1, error);
    let response = create_with(&world, &recorder, &named(&template, "dev"));
    assert_eq!(json(&response), r#"{"error":"request failed"}"#);
}

#[test]
fn step_17_any_other_hook_error_is_its_text_verbatim() {
    let world = World::new();
    let template = world.template("go").create();
    let recorder = RecordingCoderd::over(&world);
    let error = HookError::Other("creation stopped by test".into());
    recorder.fail_nth(Hook::CreateWorkspace, 1, error);
    let response = create_with(&world, &recorder, &named(&template, "dev"));
    assert_eq!(text_error(&response), "creation stopped by test");
    assert_eq!(recorder.create_requests().len(), 1);
}

#[test]
fn step_17_a_taken_name_is_retried_once_with_a_generated_name() {
    let world = World::new();
    let template = world.template("go").create();
    world.store.edit(|t| {
        t.workspaces.push(Workspace {
            id: Uuid::from_u128(0xd0),
            owner_id: world.owner,
            organization_id: world.organization,
            template_id: template.template,
            name: "my-workspace".into(),
            ..Workspace::default()
        })
    });
    let recorder = RecordingCoderd::over(&world);
    let response = create_with(&world, &recorder, &named(&template, "my-workspace"));
    let names: Vec<String> = recorder
        .create_requests()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], "my-workspace");
    let suffix = names[1].strip_prefix("my-workspace-").expect("retry name");
    assert!(suffix.len() == 4 && suffix.bytes().all(|b| b.is_ascii_hexdigit()));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"build_id":"{}","created":true,"workspace_name":"testuser/{}"}}"#,
            build.id, names[1]
        )
    );
}

#[test]
fn step_17_only_one_retry_is_made_even_if_the_generated_name_is_taken_too() {
    let world = World::new();
    let template = world.template("go").create();
    let conflict = || {
        HookError::Response(ResponseError {
            status: 409,
            message: "Workspace \"dev\" already exists.".into(),
            detail: "This value is already in use and should be unique.".into(),
            validations: vec![Validation {
                field: "name".into(),
                detail: "This value is already in use and should be unique.".into(),
            }],
        })
    };
    let recorder = RecordingCoderd::over(&world);
    recorder
        .fail_nth(Hook::CreateWorkspace, 1, conflict())
        .fail_nth(Hook::CreateWorkspace, 2, conflict());
    let response = create_with(&world, &recorder, &named(&template, "dev"));
    assert_eq!(recorder.create_requests().len(), 2);
    assert_eq!(
        json(&response),
        r#"{"detail":"This value is already in use and should be unique.","error":"Workspace \"dev\" already exists.","validations":[{"field":"name","detail":"This value is already in use and should be unique."}]}"#
    );
}

#[test]
fn step_17_other_conflicts_and_non_409_name_errors_are_not_retried() {
    let answers = [
        ResponseError {
            status: 409,
            message: "Insufficient quota.".into(),
            detail: String::new(),
            validations: vec![Validation {
                field: "quota".into(),
                detail: "over budget".into(),
            }],
        },
        ResponseError {
            status: 400,
            message: "Invalid workspace name.".into(),
            detail: String::new(),
            validations: vec![Validation {
                field: "name".into(),
                detail: "bad".into(),
            }],
        },
    ];
    for answer in answers {
        let world = World::new();
        let template = world.template("go").create();
        let recorder = RecordingCoderd::over(&world);
        let error = HookError::Response(answer.clone());
        recorder.fail_nth(Hook::CreateWorkspace, 1, error);
        let response = create_with(&world, &recorder, &named(&template, "dev"));
        assert_eq!(recorder.create_requests().len(), 1, "{answer:?}");
        assert_eq!(
            json(&response),
            response_error_result(&answer).to_json(),
            "{answer:?}"
        );
    }
}

// ===========================================================================
// Steps 18–24: binding, build wait, result, agent, callbacks (§3.12)
// ===========================================================================

#[test]
fn steps_18_to_24_a_fresh_workspace_binds_waits_and_fires_two_callbacks_in_order() {
    let world = World::new();
    let template = world.template("go").create();
    let log: RefCell<Vec<(Duration, Chat, usize)>> = RefCell::default();
    let start = world.now();
    let record = |chat: &Chat| {
        let agents = world
            .store
            .tables()
            .agents
            .iter()
            .filter(|a| a.lifecycle_state == LifecycleState::Ready)
            .count();
        log.borrow_mut()
            .push((world.now().since(start), chat.clone(), agents));
    };
    let env = ToolEnv {
        on_chat_updated: Some(&record),
        ..world.env()
    };
    let response = world.call(run(&env, &named(&template, "dev")));
    let (workspace, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"build_id":"{}","created":true,"workspace_name":"testuser/dev"}}"#,
            build.id
        )
    );
    let log = log.borrow();
    assert_eq!(log.len(), 2);
    // #1 at once, with the build for log streaming and no agent.
    assert_eq!(log[0].0, Duration::ZERO);
    assert_eq!(log[0].1.workspace_id, Some(workspace.id));
    assert_eq!(log[0].1.build_id, Some(build.id));
    assert_eq!(log[0].1.agent_id, None);
    assert_eq!(log[0].2, 0);
    // #2 after the agent is ready: build done at 10 s, seen at 12 s, the
    // agent connects at 11 s and its scripts finish at 13 s (seen at 14 s).
    assert_eq!(log[1].0, secs(14));
    assert_eq!(log[1].1.workspace_id, Some(workspace.id));
    assert_eq!(log[1].2, 1);
    // The agent is not written to the binding by the tool.
    assert_eq!(world.chat_row().agent_id, None);
}

#[test]
fn step_18_a_failed_binding_is_logged_and_skips_only_the_first_callback() {
    let world = World::new();
    let template = world.template("go").create();
    world
        .store
        .fail(Query::UpdateChatWorkspaceBinding, db_down());
    let response = create(&world, &named(&template, "dev"));
    assert!(json(&response).contains(r#""created":true"#));
    assert!(world
        .events
        .logs()
        .contains(&"failed to persist chat workspace association: db down".to_string()));
    let updates = updates(&world);
    assert_eq!(updates.len(), 1, "only the post-ready callback");
    assert_eq!(updates[0].workspace_id, None);
}

#[test]
fn step_19_a_failed_build_is_reported_with_its_build_id_and_no_agent_wait() {
    let world = World::new();
    let template = world.template("go").create();
    world.dialer.default_plan(DialPlan::Forbidden);
    world.provisioner.borrow_mut().outcomes = vec![JobOutcome::Failed {
        error: "terraform apply failed".into(),
        code: None,
    }];
    let response = create(&world, &named(&template, "dev"));
    let (workspace, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error":"workspace build failed: terraform apply failed","build_id":"{}"}}"#,
            build.id
        )
    );
    assert_eq!(updates(&world).len(), 1);
    // The binding is kept; the next call sees the failed build and creates.
    assert_eq!(world.chat_row().workspace_id, Some(workspace.id));
    world.dialer.default_plan(DialPlan::FollowStatus);
    let again = create(&world, &named(&template, "dev2"));
    assert!(json(&again).contains(r#""created":true"#));
    assert_eq!(world.store.tables().workspaces.len(), 2);
}

#[test]
fn step_19_an_empty_job_error_leaves_a_trailing_space_and_a_cancel_reads_canceled() {
    let cases = [
        (
            JobOutcome::Failed {
                error: String::new(),
                code: None,
            },
            "workspace build failed: ",
        ),
        (
            JobOutcome::Canceled,
            "workspace build failed: build was canceled",
        ),
    ];
    for (outcome, want) in cases {
        let world = World::new();
        let template = world.template("go").create();
        world.provisioner.borrow_mut().outcomes = vec![outcome];
        let response = create(&world, &named(&template, "dev"));
        let (_, build) = newest(&world);
        assert_eq!(
            json(&response),
            format!(r#"{{"error":"{want}","build_id":"{}"}}"#, build.id)
        );
    }
}

#[test]
fn step_19_a_stuck_build_times_out_after_ten_minutes() {
    let world = World::new();
    let template = world.template("go").create();
    world.provisioner.borrow_mut().hang = true;
    let start = world.now();
    let response = create(&world, &named(&template, "dev"));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error":"workspace build failed: timed out waiting for workspace build: context deadline exceeded","build_id":"{}"}}"#,
            build.id
        )
    );
    assert_eq!(world.now().since(start), secs(600));
}

#[test]
fn step_19_a_user_cancel_during_the_build_reads_context_canceled() {
    let world = World::new();
    let template = world.template("go").create();
    let env = world.env();
    let start = world.now();
    let response = world.call_while(
        run(&env, &named(&template, "dev")),
        world.cancel_after(secs(5)),
    );
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error":"workspace build failed: timed out waiting for workspace build: context canceled","build_id":"{}"}}"#,
            build.id
        )
    );
    assert_eq!(world.now().since(start), secs(5));
    assert_eq!(updates(&world).len(), 1);
}

#[test]
fn step_19_a_quota_failure_is_the_structured_quota_result_for_the_chats_org() {
    let world = World::new();
    let template = world.template("go").daily_cost(10).create();
    spend(&world, &template, 3);
    world.quota_allowance(5);
    let response = create(&world, &named(&template, "dev"));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"workspace build failed: insufficient quota","title":"Workspace quota reached","message":"{QUOTA_MESSAGE_CREATE}","build_id":"{}","quota":{{"credits_consumed":3,"budget":5}}}}"#,
            build.id
        )
    );
    // asOwner ran once (step 7); the quota lookup did not escalate again.
    assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 1);
    assert_eq!(updates(&world).len(), 1);
}

#[test]
fn step_19_the_quota_details_are_omitted_when_a_quota_query_fails() {
    for query in [
        Query::GetQuotaConsumedForUser,
        Query::GetQuotaAllowanceForUser,
    ] {
        let world = World::new();
        let template = world.template("go").daily_cost(10).create();
        world.quota_allowance(5);
        world.store.fail(query, db_down());
        let response = create(&world, &named(&template, "dev"));
        let (_, build) = newest(&world);
        assert_eq!(
            json(&response),
            format!(
                r#"{{"error_code":"INSUFFICIENT_QUOTA","error":"workspace build failed: insufficient quota","title":"Workspace quota reached","message":"{QUOTA_MESSAGE_CREATE}","build_id":"{}"}}"#,
                build.id
            ),
            "{query:?}"
        );
    }
}

#[test]
fn step_19_an_error_text_that_merely_mentions_quota_is_a_generic_failure() {
    let world = World::new();
    let template = world.template("go").create();
    world.provisioner.borrow_mut().outcomes = vec![JobOutcome::Failed {
        error: "provider error: insufficient quota for instance type".into(),
        code: None,
    }];
    let response = create(&world, &named(&template, "dev"));
    assert!(json(&response).starts_with(
        r#"{"error":"workspace build failed: provider error: insufficient quota for instance type","build_id":"#
    ));
}

#[test]
fn steps_19_20_without_a_build_id_the_wait_is_skipped_and_a_missing_owner_name_reads_slash_name() {
    let world = World::new();
    let template = world.template("go").create();
    let recorder = RecordingCoderd::over(&world);
    recorder.create_answer_nth(
        1,
        CreatedWorkspace {
            id: Uuid::from_u128(0xabc),
            name: "x".into(),
            owner_name: String::new(),
            latest_build_id: Some(Uuid::nil()),
        },
    );
    let response = create_with(&world, &recorder, &named(&template, "dev"));
    assert_eq!(
        json(&response),
        r#"{"agent_status":"no_agent","created":true,"workspace_name":"/x"}"#
    );
    assert_eq!(world.store.calls(Query::GetWorkspaceBuildById), 0);
    let first = &updates(&world)[0];
    assert_eq!(first.workspace_id, Some(Uuid::from_u128(0xabc)));
    assert_eq!(first.build_id, None);
}

#[test]
fn step_21_a_template_without_agents_reads_no_agent() {
    let world = World::new();
    let template = world.template("go").agents(vec![]).create();
    let response = create(&world, &named(&template, "dev"));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"agent_status":"no_agent","build_id":"{}","created":true,"workspace_name":"testuser/dev"}}"#,
            build.id
        )
    );
    assert_eq!(updates(&world).len(), 2);
}

#[test]
fn step_21_an_agent_read_error_adds_no_agent_keys() {
    let world = World::new();
    let template = world.template("go").create();
    world.store.fail(
        Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
        db_down(),
    );
    world.dialer.default_plan(DialPlan::Forbidden);
    let response = create(&world, &named(&template, "dev"));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"build_id":"{}","created":true,"workspace_name":"testuser/dev"}}"#,
            build.id
        )
    );
}

#[test]
fn step_21_a_selection_error_is_reported_raw_and_nothing_is_dialed() {
    let world = World::new();
    let template = world
        .template("go")
        .agents(vec![
            AgentSpec {
                name: "b-coderd-chat".into(),
                ..AgentSpec::default()
            },
            AgentSpec {
                name: "a-coderd-chat".into(),
                ..AgentSpec::default()
            },
        ])
        .create();
    world.dialer.default_plan(DialPlan::Forbidden);
    let response = create(&world, &named(&template, "test-selection-error"));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"agent_error":"multiple agents match the chat suffix \"-coderd-chat\": a-coderd-chat, b-coderd-chat; only one agent should use this suffix","agent_status":"selection_error","build_id":"{}","created":true,"workspace_name":"testuser/test-selection-error"}}"#,
            build.id
        )
    );
    assert!(world.dialer.dials().is_empty());
    assert_eq!(updates(&world).len(), 2);
}

#[test]
fn step_21_the_chat_agent_is_chosen_over_display_order() {
    let world = World::new();
    let template = world
        .template("go")
        .agents(vec![
            AgentSpec {
                name: "main".into(),
                display_order: 0,
                ..AgentSpec::default()
            },
            AgentSpec {
                name: "dev-coderd-chat".into(),
                display_order: 9,
                ..AgentSpec::default()
            },
        ])
        .create();
    let response = create(&world, &named(&template, "dev"));
    assert!(!json(&response).contains("agent_"));
    let chat_agent = world
        .store
        .tables()
        .agents
        .iter()
        .find(|a| a.name == "dev-coderd-chat")
        .unwrap()
        .id;
    let dials = world.dialer.dials();
    assert!(!dials.is_empty());
    assert!(dials.iter().all(|d| d.agent_id == chat_agent));
}

#[test]
fn step_22_an_agent_that_never_connects_is_not_ready_and_the_call_still_succeeds() {
    let world = World::new();
    let template = world.template("go").create();
    world.provisioner.borrow_mut().agents.insert(
        "main".into(),
        AgentScript {
            connect_after: None,
            ..AgentScript::default()
        },
    );
    let start = world.now();
    let response = create(&world, &named(&template, "dev"));
    let (_, build) = newest(&world);
    assert_eq!(
        json(&response),
        format!(
            r#"{{"agent_error":"context deadline exceeded","agent_status":"not_ready","build_id":"{}","created":true,"workspace_name":"testuser/dev"}}"#,
            build.id
        )
    );
    // Build seen at 12 s, then the 2-minute dial window.
    assert_eq!(world.now().since(start), secs(12 + 120));
    assert_eq!(updates(&world).len(), 2);
}

#[test]
fn step_22_dial_attempts_follow_the_ticker_after_a_hanging_dial() {
    let world = World::new();
    let template = world.template("go").create();
    world.dialer.default_plan(DialPlan::Hang);
    let story = async {
        // The build is seen at 12 s; the first dial hangs until 17 s.
        world.clock.sleep(secs(13)).await;
        world
            .dialer
            .default_plan(DialPlan::Fail("connection refused".into()));
        world.clock.sleep(secs(4)).await;
        world.clock.sleep(secs(2)).await;
        world.dialer.default_plan(DialPlan::Succeed);
    };
    let env = world.env();
    let start = world.now();
    let response = world.call_while(run(&env, &named(&template, "dev")), story);
    assert!(!json(&response).contains("agent_"));
    let offsets: Vec<u64> = world
        .dialer
        .dials()
        .iter()
        .map(|d| d.at.since(start).as_secs())
        .collect();
    // 12 (hangs 5 s), 17 at once, then on the grid: 18 (fails), 20 (succeeds).
    assert_eq!(offsets, [12, 17, 18, 20]);
}

#[test]
fn step_22_failed_and_slow_startup_scripts_are_reported() {
    let cases = [
        (
            LifecycleState::StartError,
            r#""lifecycle_state":"start_error","startup_scripts":"startup_scripts_failed""#,
            secs(14),
        ),
        (
            LifecycleState::StartTimeout,
            r#""lifecycle_state":"start_timeout","startup_scripts":"startup_scripts_failed""#,
            secs(14),
        ),
        (
            LifecycleState::Starting,
            r#""startup_scripts":"startup_scripts_timeout""#,
            secs(12 + 600),
        ),
    ];
    for (final_state, keys, took) in cases {
        let world = World::new();
        let template = world.template("go").create();
        world.provisioner.borrow_mut().agents.insert(
            "main".into(),
            AgentScript {
                final_state,
                ..AgentScript::default()
            },
        );
        let start = world.now();
        let response = create(&world, &named(&template, "dev"));
        let (_, build) = newest(&world);
        assert_eq!(
            json(&response),
            format!(
                r#"{{"build_id":"{}","created":true,{keys},"workspace_name":"testuser/dev"}}"#,
                build.id
            )
        );
        assert_eq!(world.now().since(start), took, "{final_state:?}");
        assert_eq!(updates(&world).len(), 2);
    }
}

#[test]
fn step_22_a_user_cancel_during_the_agent_wait_reads_canceled_or_unknown() {
    // (when the agent connects, what its scripts reach, the keys expected)
    let cases = [
        // Canceled at 20 s in the dial phase (the agent would connect at 70 s).
        (
            secs(60),
            LifecycleState::Ready,
            r#""agent_error":"context canceled","agent_status":"not_ready","build_id":"{b}","created":true,"#,
        ),
        // Canceled at 20 s in the lifecycle phase (scripts never finish).
        (
            secs(1),
            LifecycleState::Starting,
            r#""build_id":"{b}","created":true,"startup_scripts":"startup_scripts_unknown","#,
        ),
    ];
    for (connect_after, final_state, keys) in cases {
        let world = World::new();
        let template = world.template("go").create();
        world.provisioner.borrow_mut().agents.insert(
            "main".into(),
            AgentScript {
                connect_after: Some(connect_after),
                final_state,
                ..AgentScript::default()
            },
        );
        let env = world.env();
        let response = world.call_while(
            run(&env, &named(&template, "dev")),
            world.cancel_after(secs(20)),
        );
        let (_, build) = newest(&world);
        let keys = keys.replace("{b}", &build.id.to_string());
        assert_eq!(
            json(&response),
            format!(r#"{{{keys}"workspace_name":"testuser/dev"}}"#)
        );
    }
}

#[test]
fn step_23_an_unreadable_chat_after_the_wait_skips_the_second_callback() {
    let world = World::new();
    let template = world.template("go").create();
    let story = async {
        world.clock.sleep(secs(1)).await; // past checkExistingWorkspace
        world.store.fail(Query::GetChatById, db_down());
    };
    let env = world.env();
    let response = world.call_while(run(&env, &named(&template, "dev")), story);
    assert!(json(&response).contains(r#""created":true"#));
    assert_eq!(updates(&world).len(), 1);
}

#[test]
fn step_23_without_a_callback_the_chat_is_not_re_read() {
    let world = World::new();
    let template = world.template("go").create();
    let env = ToolEnv {
        on_chat_updated: None,
        ..world.env()
    };
    let response = world.call(run(&env, &named(&template, "dev")));
    assert!(json(&response).contains(r#""created":true"#));
    assert_eq!(world.store.calls(Query::GetChatById), 1);
}

#[test]
fn without_a_lock_or_a_dialer_the_call_still_completes() {
    let world = World::new();
    let template = world.template("go").create();
    let env = ToolEnv {
        workspace_mu: None,
        dialer: None,
        ..world.env()
    };
    let response = world.call(run(&env, &named(&template, "dev")));
    assert!(json(&response).contains(r#""created":true"#));
    assert!(world.dialer.dials().is_empty());
}

// ===========================================================================
// Bad input never panics
// ===========================================================================

#[test]
fn bad_input_is_answered_never_panicking() {
    let world = World::new();
    let template = world.template("go").create();
    let id = template.template;
    let decode_errors = [
        "{not json".to_string(),
        "[]".to_string(),
        "\"template_id\"".to_string(),
        "42".to_string(),
        r#"{"template_id":5}"#.to_string(),
        r#"{"template_id":["x"]}"#.to_string(),
        format!(r#"{{"template_id":"{id}","parameters":{{"a":1}}}}"#),
        format!(r#"{{"template_id":"{id}","parameters":"a=b"}}"#),
        format!(r#"{{"template_id":"{id}","name":false}}"#),
        format!(r#"{{"template_id":"{id}","preset_id":{{}}}}"#),
        "{\"template_id\":\"\u{0}\"".to_string(),
    ];
    for input in &decode_errors {
        let response = create(&world, input);
        assert!(
            text_error(&response).starts_with(crate::tools::INVALID_PARAMETERS_PREFIX),
            "{input}: {response:?}"
        );
    }
    let odd_but_valid = [
        (
            r#"{"template_id":"\u0000"}"#.to_string(),
            "invalid template_id: invalid UUID length: 1",
        ),
        (
            r#"{"template_id":"😀😀😀😀😀😀😀😀😀"}"#.to_string(),
            "invalid template_id: invalid UUID format",
        ),
        (
            format!(
                r#"{{"template_id":"{id}","preset_id":"{}"}}"#,
                "x".repeat(45)
            ),
            "invalid preset_id: invalid urn prefix: \"xxxxxxxxx\"",
        ),
    ];
    for (input, want) in &odd_but_valid {
        assert_eq!(text_error(&create(&world, input)), *want, "{input}");
    }
    // Unknown fields are ignored, as Go's decoder does.
    let response = create(
        &world,
        &format!(r#"{{"template_id":"{id}","name":"dev","extra":[1,2]}}"#),
    );
    assert!(json(&response).contains(r#""created":true"#));
    assert_eq!(world.store.tables().workspaces.len(), 1);
}

// ===========================================================================
// Go's time.ParseDuration (the TTL setting)
// ===========================================================================

#[test]
fn go_durations_parse_like_go() {
    const S: i64 = 1_000_000_000;
    let ok: [(&str, i64); 17] = [
        ("0", 0),
        ("+0", 0),
        ("-0", 0),
        ("1h", 3600 * S),
        ("1h30m", 5400 * S),
        ("1.5h", 5400 * S),
        ("90m", 5400 * S),
        ("300ms", 300_000_000),
        ("1us", 1_000),
        ("1\u{b5}s", 1_000),
        ("1\u{3bc}s", 1_000),
        ("2ns", 2),
        ("1.s", S),
        (".5s", S / 2),
        ("-1.5s", -3 * S / 2),
        ("9223372036854775807ns", i64::MAX),
        ("-9223372036854775808ns", i64::MIN),
    ];
    for (input, want) in ok {
        assert_eq!(go_duration::parse(input), Ok(want), "{input}");
    }
    let errors = [
        ("", "time: invalid duration \"\""),
        ("-", "time: invalid duration \"-\""),
        ("1", "time: missing unit in duration \"1\""),
        ("1x", "time: unknown unit \"x\" in duration \"1x\""),
        ("1h 30m", "time: unknown unit \"h \" in duration \"1h 30m\""),
        (".s", "time: invalid duration \".s\""),
        ("h", "time: invalid duration \"h\""),
        (
            "9223372036854775808ns",
            "time: invalid duration \"9223372036854775808ns\"",
        ),
        ("2562048h", "time: invalid duration \"2562048h\""),
        (
            "1é",
            "time: unknown unit \"\\xc3\\xa9\" in duration \"1\\xc3\\xa9\"",
        ),
    ];
    for (input, want) in errors {
        assert_eq!(go_duration::parse(input), Err(want.to_string()), "{input}");
    }
}

#[test]
fn the_ttl_setting_is_empty_for_default_and_never_negative() {
    assert_eq!(parse_chat_workspace_ttl(""), Ok(0));
    assert_eq!(parse_chat_workspace_ttl("2h"), Ok(7_200_000_000_000));
    assert!(parse_chat_workspace_ttl("-1s").is_err());
    assert!(parse_chat_workspace_ttl(" 1h").is_err());
    // Sub-millisecond durations truncate like Go's Milliseconds().
    let world = World::new();
    world.store.edit(|t| t.chat_workspace_ttl = "1500us".into());
    assert_eq!(chat_workspace_ttl_ms(&world.env()), Some(1));
    world.store.edit(|t| t.chat_workspace_ttl = "500us".into());
    assert_eq!(chat_workspace_ttl_ms(&world.env()), Some(0));
}
