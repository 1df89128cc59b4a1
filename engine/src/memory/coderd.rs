//! coderd's workspace build hooks over the in-memory store, and the job API a
//! provisioner uses to finish the builds they enqueue (spec 1 §3.9–§3.11,
//! spec 2 §2 and §4).

use std::rc::Rc;

use uuid::Uuid;

use crate::model::*;
use crate::names::name_valid;
use crate::ports::{
    Clock, Coderd, CreateWorkspaceRequest, CreatedWorkspace, HookError, Ids, ResponseError, Store,
    Validation,
};

use super::store::{MemStore, Tables};

/// The prebuilds system user that owns unclaimed prebuilt workspaces.
pub const PREBUILDS_USER_ID: Uuid = Uuid::from_u128(0xc42fdf75_3097_471c_8c33_fb52454d81c0);

/// The manual-update-required message (spec 2 §2).
pub const MANUAL_UPDATE_MESSAGE: &str = "The workspace needs the template's active version before it can start. Use read_template with this workspace's template_id to inspect the active version's required parameters, then retry start_workspace with a parameters object that supplies any missing or changed values.";

/// Message of a failed quota commit.
pub const INSUFFICIENT_QUOTA_MESSAGE: &str = "insufficient quota";

/// The in-memory coderd: build hooks plus the provisioner job API.
#[derive(Clone)]
pub struct MemCoderd {
    /// The database the hooks and the job API write.
    pub store: Rc<MemStore>,
    clock: Rc<dyn Clock>,
    ids: Rc<dyn Ids>,
    #[cfg(feature = "bugs")]
    bug: Option<crate::bugs::Bug>,
}

/// What a provisioner needs to run an acquired job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobAssignment {
    /// The job acquired (now running).
    pub job_id: Uuid,
    /// The build the job runs.
    pub build_id: Uuid,
    /// The workspace built.
    pub workspace_id: Uuid,
    /// The workspace's name.
    pub workspace_name: String,
    /// What the build does.
    pub transition: Transition,
    /// What the build's version provisions (agents, quota cost).
    pub plan: VersionPlan,
    /// A claimed prebuild: resources exist already, the build is short.
    pub claimed_prebuild: bool,
}

/// How a provisioner finished a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// The job succeeded (a start build gets its resources and agents).
    Succeeded,
    /// The job failed.
    Failed {
        /// The job's error message (what `waitForBuild` reports).
        error: String,
        /// The job's error code, e.g. `INSUFFICIENT_QUOTA`.
        code: Option<String>,
    },
    /// The job was canceled.
    Canceled,
}

fn bad_request(message: impl Into<String>, validations: Vec<Validation>) -> HookError {
    let detail = validations
        .first()
        .map(|v| v.detail.clone())
        .unwrap_or_default();
    HookError::Response(ResponseError {
        status: 400,
        message: message.into(),
        detail,
        validations,
    })
}

/// An HTTP-style hook error without a detail.
fn response_error(
    status: u16,
    message: impl Into<String>,
    validations: Vec<Validation>,
) -> HookError {
    HookError::Response(ResponseError {
        status,
        message: message.into(),
        detail: String::new(),
        validations,
    })
}

fn validation(field: &str, detail: impl Into<String>) -> Validation {
    Validation {
        field: field.to_string(),
        detail: detail.into(),
    }
}

/// Resolves a version's parameters: the request's value, else the previous
/// build's, else the default. Required parameters with none are missing.
fn resolve_parameters(
    params: &[TemplateVersionParameter],
    requested: &[BuildParameter],
    previous: &[BuildParameter],
) -> Result<Vec<BuildParameter>, Vec<String>> {
    let lookup = |list: &[BuildParameter], name: &str| {
        list.iter()
            .find(|p| p.name == name)
            .map(|p| p.value.clone())
    };
    let mut resolved = Vec::new();
    let mut missing = Vec::new();
    for param in params {
        let value = lookup(requested, &param.name)
            .or_else(|| lookup(previous, &param.name))
            .or_else(|| {
                (!param.required || !param.default_value.is_empty())
                    .then(|| param.default_value.clone())
            });
        match value {
            Some(value) => resolved.push(BuildParameter {
                name: param.name.clone(),
                value,
            }),
            None => missing.push(param.name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(resolved)
    } else {
        Err(missing)
    }
}

impl MemCoderd {
    /// Hooks over `store`, stamping rows with `clock`'s time and `ids`' IDs.
    pub fn new(store: Rc<MemStore>, clock: Rc<dyn Clock>, ids: Rc<dyn Ids>) -> MemCoderd {
        MemCoderd {
            store,
            clock,
            ids,
            #[cfg(feature = "bugs")]
            bug: None,
        }
    }

    /// The same hooks running under the bug-zoo switch `bug`.
    #[cfg(feature = "bugs")]
    pub fn with_bug(mut self, bug: Option<crate::bugs::Bug>) -> MemCoderd {
        self.bug = bug;
        self
    }

    /// Inserts a build and its pending job; returns the build.
    fn enqueue_build(
        &self,
        t: &mut Tables,
        workspace_id: Uuid,
        transition: Transition,
        version_id: Uuid,
        initiator: Uuid,
        parameters: Vec<BuildParameter>,
    ) -> WorkspaceBuild {
        let now = self.clock.now();
        let job = ProvisionerJob {
            id: self.ids.new_uuid(),
            status: JobStatus::Pending,
            error: None,
            error_code: None,
            created_at: now,
            started_at: None,
            completed_at: None,
        };
        let build_number = t
            .latest_build(workspace_id)
            .map_or(1, |b| b.build_number + 1);
        let build = WorkspaceBuild {
            id: self.ids.new_uuid(),
            workspace_id,
            build_number,
            transition,
            template_version_id: version_id,
            job_id: job.id,
            initiator_id: initiator,
            created_at: now,
            rich_parameters: parameters,
            daily_cost: 0,
        };
        t.jobs.push(job);
        t.builds.push(build.clone());
        build
    }

    fn active_build_conflict(t: &Tables, workspace_id: Uuid) -> Option<HookError> {
        let build = t.latest_build(workspace_id)?;
        let job = t.job(build.job_id)?;
        matches!(job.status, JobStatus::Pending | JobStatus::Running)
            .then(|| response_error(409, "A workspace build is already active.", vec![]))
    }

    /// A running, ready prebuilt workspace of the preset, if any.
    fn ready_prebuild(t: &Tables, preset_id: Uuid) -> Option<Uuid> {
        prebuild_pool(t, preset_id)
            .find(|w| {
                let Some(build) = t.latest_build(w.id) else {
                    return false;
                };
                let succeeded = t
                    .job(build.job_id)
                    .is_some_and(|j| j.status == JobStatus::Succeeded);
                let agents = t.agents_of_job(build.job_id);
                build.transition == Transition::Start
                    && succeeded
                    && agents
                        .iter()
                        .all(|a| a.lifecycle_state == LifecycleState::Ready)
            })
            .map(|w| w.id)
    }

    /// The reconciler: tops every preset's prebuild pool up to its desired
    /// size with new workspaces owned by the prebuilds user. Returns the
    /// builds it enqueued.
    pub fn reconcile_prebuilds(&self) -> Vec<WorkspaceBuild> {
        self.store.edit(|t| {
            let presets: Vec<Preset> = t.presets.clone();
            let mut enqueued = Vec::new();
            for preset in presets {
                let desired = preset.desired_prebuild_instances.unwrap_or(0).max(0) as usize;
                let pool = prebuild_pool(t, preset.id).count();
                let Some(version) = t.template_version(preset.template_version_id).cloned() else {
                    continue;
                };
                let Some(template) = t.template(version.template_id).cloned() else {
                    continue;
                };
                for n in pool..desired {
                    let name = format!("prebuild-{}-{n}", preset.name.to_lowercase());
                    let workspace =
                        self.new_workspace(PREBUILDS_USER_ID, &template, name, Some(preset.id));
                    let preset_values = preset_values(t, preset.id);
                    let params = t.version_parameters(version.id);
                    let parameters =
                        resolve_parameters(&params, &preset_values, &[]).unwrap_or_default();
                    t.workspaces.push(workspace.clone());
                    enqueued.push(self.enqueue_build(
                        t,
                        workspace.id,
                        Transition::Start,
                        version.id,
                        PREBUILDS_USER_ID,
                        parameters,
                    ));
                }
            }
            enqueued
        })
    }

    /// Moves the oldest pending job to running and describes it.
    pub fn acquire_job(&self) -> Option<JobAssignment> {
        let now = self.clock.now();
        self.store.edit(|t| {
            let job_id = t.jobs.iter().find(|j| j.status == JobStatus::Pending)?.id;
            let build = build_of_job(t, job_id)?.clone();
            let workspace = t.workspace(build.workspace_id)?.clone();
            let plan = version_plan(t, build.template_version_id);
            let job = t.job_mut(job_id)?;
            job.status = JobStatus::Running;
            job.started_at = Some(now);
            let claimed_prebuild = is_prebuild_claim(t, &build);
            Some(JobAssignment {
                job_id,
                build_id: build.id,
                workspace_id: workspace.id,
                workspace_name: workspace.name,
                transition: build.transition,
                plan,
                claimed_prebuild,
            })
        })
    }

    /// The quota commit: a start build costing more than the owner has left
    /// is refused. On success the build's cost is recorded.
    pub fn commit_quota(&self, job_id: Uuid, daily_cost: i64) -> bool {
        let Some((build_id, owner, org)) = self.store.edit(|t| {
            let build = build_of_job(t, job_id)?;
            let ws = t.workspace(build.workspace_id)?;
            Some((build.id, ws.owner_id, ws.organization_id))
        }) else {
            return false;
        };
        if daily_cost > 0 {
            let consumed = self
                .store
                .get_quota_consumed_for_user(owner, org)
                .unwrap_or(0);
            let budget = self
                .store
                .get_quota_allowance_for_user(owner, org)
                .unwrap_or(0);
            if consumed + daily_cost > budget {
                return false;
            }
        }
        self.store.edit(|t| {
            if let Some(build) = t.build_mut(build_id) {
                build.daily_cost = daily_cost;
            }
        });
        true
    }

    /// Finishes a job. A successful start build creates the plan's resources
    /// and agents (or, for a claimed prebuild, keeps the running ones).
    /// Returns the agents the build created.
    pub fn complete_job(&self, job_id: Uuid, outcome: JobOutcome) -> Vec<WorkspaceAgent> {
        let now = self.clock.now();
        self.store.edit(|t| {
            let Some(job) = t.job_mut(job_id) else {
                return vec![];
            };
            job.completed_at = Some(now);
            match outcome {
                JobOutcome::Succeeded => job.status = JobStatus::Succeeded,
                JobOutcome::Failed { error, code } => {
                    job.status = JobStatus::Failed;
                    job.error = Some(error);
                    job.error_code = code;
                    return vec![];
                }
                JobOutcome::Canceled => {
                    job.status = JobStatus::Canceled;
                    return vec![];
                }
            }
            let Some(build) = build_of_job(t, job_id).cloned() else {
                return vec![];
            };
            if build.transition != Transition::Start {
                return vec![];
            }
            if is_prebuild_claim(t, &build) {
                // The claim keeps the prebuild's running resources and agents.
                adopt_previous_resources(t, &build);
                return vec![];
            }
            self.provision_agents(t, &build, now)
        })
    }

    fn provision_agents(
        &self,
        t: &mut Tables,
        build: &WorkspaceBuild,
        now: crate::time::Time,
    ) -> Vec<WorkspaceAgent> {
        let plan = version_plan(t, build.template_version_id);
        let mut created: Vec<WorkspaceAgent> = Vec::new();
        for spec in &plan.agents {
            let resource = WorkspaceResource {
                id: self.ids.new_uuid(),
                job_id: build.job_id,
                type_: if spec.external {
                    EXTERNAL_AGENT_RESOURCE_TYPE.to_string()
                } else {
                    "docker_container".to_string()
                },
                name: spec.name.clone(),
                daily_cost: 0,
            };
            let parent_id = spec
                .parent
                .as_ref()
                .and_then(|p| created.iter().find(|a| &a.name == p).map(|a| a.id));
            let agent = WorkspaceAgent {
                id: self.ids.new_uuid(),
                resource_id: Some(resource.id),
                name: spec.name.clone(),
                parent_id,
                display_order: spec.display_order,
                created_at: now,
                connection_timeout_seconds: spec.connection_timeout_seconds,
                operating_system: spec.operating_system.clone(),
                directory: spec.directory.clone(),
                ..WorkspaceAgent::default()
            };
            t.resources.push(resource);
            t.agents.push(agent.clone());
            created.push(agent);
        }
        created
    }

    /// A test provisioner: acquires the job, commits its quota, and finishes
    /// it successfully (or with the quota failure). Returns the outcome.
    pub fn provision(&self, job_id: Uuid) -> JobOutcome {
        let assignment = self.acquire_job();
        debug_assert_eq!(assignment.as_ref().map(|a| a.job_id), Some(job_id));
        let cost = assignment
            .filter(|a| a.transition == Transition::Start)
            .map_or(0, |a| a.plan.daily_cost);
        let outcome = if self.commit_quota(job_id, cost) {
            JobOutcome::Succeeded
        } else {
            JobOutcome::Failed {
                error: INSUFFICIENT_QUOTA_MESSAGE.to_string(),
                code: Some(INSUFFICIENT_QUOTA.to_string()),
            }
        };
        self.complete_job(job_id, outcome.clone());
        outcome
    }
}

/// The unclaimed, live prebuilt workspaces of a preset.
fn prebuild_pool(t: &Tables, preset_id: Uuid) -> impl Iterator<Item = &Workspace> {
    t.workspaces.iter().filter(move |w| {
        w.owner_id == PREBUILDS_USER_ID && !w.deleted && w.preset_id == Some(preset_id)
    })
}

/// What a start build of the version provisions (empty for an unknown version).
fn version_plan(t: &Tables, version_id: Uuid) -> VersionPlan {
    t.template_version(version_id)
        .map(|v| v.plan.clone())
        .unwrap_or_default()
}

/// The build a provisioner job belongs to.
fn build_of_job(t: &Tables, job_id: Uuid) -> Option<&WorkspaceBuild> {
    t.builds.iter().find(|b| b.job_id == job_id)
}

/// The build before `build` on the same workspace.
fn previous_build<'t>(t: &'t Tables, build: &WorkspaceBuild) -> Option<&'t WorkspaceBuild> {
    t.builds
        .iter()
        .filter(|b| b.workspace_id == build.workspace_id && b.build_number < build.build_number)
        .max_by_key(|b| b.build_number)
}

/// A claim: an owner's start build right after the prebuilds user's build.
fn is_prebuild_claim(t: &Tables, build: &WorkspaceBuild) -> bool {
    build.transition == Transition::Start
        && build.initiator_id != PREBUILDS_USER_ID
        && previous_build(t, build).is_some_and(|b| b.initiator_id == PREBUILDS_USER_ID)
}

/// Moves the previous build's resources (and so its agents) to `build`.
fn adopt_previous_resources(t: &mut Tables, build: &WorkspaceBuild) {
    let Some(previous_job) = previous_build(t, build).map(|b| b.job_id) else {
        return;
    };
    for resource in t.resources.iter_mut().filter(|r| r.job_id == previous_job) {
        resource.job_id = build.job_id;
    }
    // A resource changed job: the job → resources index is stale.
    t.index.reset();
}

fn preset_values(t: &Tables, preset_id: Uuid) -> Vec<BuildParameter> {
    t.preset_parameters
        .iter()
        .filter(|p| p.preset_id == preset_id)
        .map(|p| BuildParameter {
            name: p.name.clone(),
            value: p.value.clone(),
        })
        .collect()
}

/// The create hook's name checks: valid, and not taken by another live
/// workspace of the owner (spec 1 §3.9 retries on the 409).
fn check_workspace_name(t: &Tables, owner_id: Uuid, name: &str) -> Result<(), HookError> {
    if !name_valid(name) {
        return Err(bad_request(
            "Invalid workspace name.",
            vec![validation("name", "Name must be a valid workspace name.")],
        ));
    }
    let taken = t
        .live_workspace_named(name, |w| w.owner_id == owner_id)
        .is_some();
    if taken {
        return Err(response_error(
            409,
            format!("Workspace \"{name}\" already exists."),
            vec![validation(
                "name",
                "This value is already in use and should be unique.",
            )],
        ));
    }
    Ok(())
}

/// The preset exists and belongs to the template's active version:
/// version membership is coderd's check too (spec 1 §3.3 step 14), so a
/// preset of another version is never applied or claimed.
fn check_preset(t: &Tables, template: &Template, preset_id: Uuid) -> Result<(), HookError> {
    const FIELD: &str = "template_version_preset_id";
    let Some(preset) = t.presets.iter().find(|p| p.id == preset_id) else {
        return Err(bad_request(
            "Preset not found.",
            vec![validation(
                FIELD,
                format!("preset {preset_id} does not exist"),
            )],
        ));
    };
    if preset.template_version_id != template.active_version_id {
        return Err(bad_request(
            "Preset does not belong to the template version.",
            vec![validation(
                FIELD,
                format!("preset {preset_id} does not belong to the template's active version"),
            )],
        ));
    }
    Ok(())
}

/// The new workspace's parameters: the request's values, then the preset's
/// for names the request leaves out (explicit values win), resolved
/// against the active version.
fn creation_parameters(
    t: &Tables,
    template: &Template,
    request: &CreateWorkspaceRequest,
    preset_params: Vec<BuildParameter>,
) -> Result<Vec<BuildParameter>, HookError> {
    let mut requested = request.rich_parameter_values.clone();
    for p in preset_params {
        if !requested.iter().any(|r| r.name == p.name) {
            requested.push(p);
        }
    }
    let params = t.version_parameters(template.active_version_id);
    resolve_parameters(&params, &requested, &[]).map_err(|missing| {
        bad_request(
            "Unable to validate parameters.",
            missing_parameters(&missing, "be created"),
        )
    })
}

fn missing_parameters(missing: &[String], suffix: &str) -> Vec<Validation> {
    missing
        .iter()
        .map(|name| {
            validation(
                name,
                format!("{name} must be set before the workspace can {suffix}"),
            )
        })
        .collect()
}

impl Coderd for MemCoderd {
    fn create_workspace(
        &self,
        owner_id: Uuid,
        request: &CreateWorkspaceRequest,
    ) -> Result<CreatedWorkspace, HookError> {
        self.store.edit(|t| {
            let owner = t
                .user(owner_id)
                .cloned()
                .ok_or_else(|| HookError::Other("user not found".to_string()))?;
            let template = t
                .template(request.template_id)
                .cloned()
                .ok_or_else(|| response_error(404, "Template not found.", vec![]))?;
            check_workspace_name(t, owner_id, &request.name)?;
            let mut preset_params = Vec::new();
            if let Some(preset_id) = request.template_version_preset_id {
                check_preset(t, &template, preset_id)?;
                if let Some(claimed) = Self::ready_prebuild(t, preset_id) {
                    return Ok(self.claim_prebuild(t, claimed, &owner, request));
                }
                preset_params = preset_values(t, preset_id);
            }
            let parameters = creation_parameters(t, &template, request, preset_params)?;
            let mut workspace = self.new_workspace(
                owner_id,
                &template,
                request.name.clone(),
                request.template_version_preset_id,
            );
            workspace.ttl_ms = request.ttl_ms;
            t.workspaces.push(workspace.clone());
            let build = self.enqueue_build(
                t,
                workspace.id,
                Transition::Start,
                template.active_version_id,
                owner_id,
                parameters,
            );
            Ok(CreatedWorkspace {
                id: workspace.id,
                name: workspace.name,
                owner_name: owner.username,
                latest_build_id: Some(build.id),
            })
        })
    }

    fn start_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
        parameters: &[BuildParameter],
    ) -> Result<WorkspaceBuild, HookError> {
        self.store.edit(|t| {
            let workspace = t
                .workspace(workspace_id)
                .cloned()
                .ok_or_else(|| HookError::Other("workspace not found".to_string()))?;
            let template = t
                .template(workspace.template_id)
                .cloned()
                .ok_or_else(|| HookError::Other("template not found".to_string()))?;
            if let Some(conflict) = Self::active_build_conflict(t, workspace_id) {
                return Err(conflict);
            }
            let previous = t.latest_build(workspace_id).cloned();
            let version_id = match (&previous, template.require_active_version) {
                (Some(prev), false) => prev.template_version_id,
                _ => template.active_version_id,
            };
            #[cfg(feature = "bugs")]
            if let Some(refused) = self.unpinned_start_refusal(&template, previous.as_ref()) {
                return Err(refused);
            }
            let previous_values = previous.map(|b| b.rich_parameters).unwrap_or_default();
            let params = t.version_parameters(version_id);
            let resolved =
                resolve_parameters(&params, parameters, &previous_values).map_err(|missing| {
                    bad_request(MANUAL_UPDATE_MESSAGE, missing_parameters(&missing, "start"))
                })?;
            Ok(self.enqueue_build(
                t,
                workspace_id,
                Transition::Start,
                version_id,
                owner_id,
                resolved,
            ))
        })
    }

    fn stop_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
    ) -> Result<WorkspaceBuild, HookError> {
        self.store.edit(|t| {
            if t.workspace(workspace_id).is_none() {
                return Err(HookError::Other("workspace not found".to_string()));
            }
            if let Some(conflict) = Self::active_build_conflict(t, workspace_id) {
                return Err(conflict);
            }
            let previous = t
                .latest_build(workspace_id)
                .cloned()
                .ok_or_else(|| HookError::Other("workspace has no builds".to_string()))?;
            Ok(self.enqueue_build(
                t,
                workspace_id,
                Transition::Stop,
                previous.template_version_id,
                owner_id,
                previous.rich_parameters,
            ))
        })
    }
}

impl MemCoderd {
    /// [`Bug::NoActiveVersionPin`](crate::bugs::Bug): the start build asks
    /// for the previous version, which coderd refuses (403) when the
    /// template requires the active one and the previous is not it.
    #[cfg(feature = "bugs")]
    fn unpinned_start_refusal(
        &self,
        template: &Template,
        previous: Option<&WorkspaceBuild>,
    ) -> Option<HookError> {
        let previous = previous?;
        let unpinned = crate::bugs::Bug::NoActiveVersionPin.on(self.bug)
            && template.require_active_version
            && previous.template_version_id != template.active_version_id;
        unpinned.then(|| response_error(403, crate::bugs::FORBIDDEN_OLD_VERSION, vec![]))
    }

    /// A new workspace row of the template (not yet inserted).
    fn new_workspace(
        &self,
        owner_id: Uuid,
        template: &Template,
        name: String,
        preset_id: Option<Uuid>,
    ) -> Workspace {
        Workspace {
            id: self.ids.new_uuid(),
            owner_id,
            organization_id: template.organization_id,
            template_id: template.id,
            name,
            created_at: self.clock.now(),
            preset_id,
            ..Workspace::default()
        }
    }

    /// Hands a prebuilt workspace to the owner under the requested name and
    /// enqueues the claim's start build (its agents keep running).
    fn claim_prebuild(
        &self,
        t: &mut Tables,
        workspace_id: Uuid,
        owner: &User,
        request: &CreateWorkspaceRequest,
    ) -> CreatedWorkspace {
        let previous = t.latest_build(workspace_id).cloned();
        if let Some(ws) = t.workspace_mut(workspace_id) {
            ws.owner_id = owner.id;
            ws.name = request.name.clone();
            ws.ttl_ms = request.ttl_ms;
        }
        // A workspace's name changed: the name → workspaces index is stale.
        t.index.reset();
        let (version_id, parameters) = previous
            .map(|b| (b.template_version_id, b.rich_parameters))
            .unwrap_or_default();
        let build = self.enqueue_build(
            t,
            workspace_id,
            Transition::Start,
            version_id,
            owner.id,
            parameters,
        );
        CreatedWorkspace {
            id: workspace_id,
            name: request.name.clone(),
            owner_name: owner.username.clone(),
            latest_build_id: Some(build.id),
        }
    }
}
