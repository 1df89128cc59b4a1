//! Operator actions through coderd's handlers (what an admin does in the
//! dashboard): push a template version, toggle `require_active_version`,
//! change a user's quota, cancel a build. Faults use these; they never
//! write rows themselves.

use chatsim_engine::memory::{JobOutcome, Tables};
use chatsim_engine::model::{
    Group, JobStatus, Preset, PresetParameter, TemplateVersion, TemplateVersionParameter,
};
use chatsim_engine::ports::{Coderd, HookError, Ids};
use serde_json::{json, Value};
use uuid::Uuid;

use super::CoderdCore;
use crate::observe::trace::{EntityKind, Event};
use crate::transport::Net;

/// An operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// A new version of the template becomes active: the same plan and
    /// parameters, plus the named required parameters (no default).
    NewTemplateVersion {
        /// The template's name.
        template: String,
        /// Names of the new version's required parameters.
        required_parameters: Vec<String>,
    },
    /// Toggles the template's `require_active_version`.
    RequireActiveVersion {
        /// The template's name.
        template: String,
        /// On or off.
        enabled: bool,
    },
    /// The user's whole allowance becomes `allowance`: the Everyone groups
    /// of the user's organizations give 0, the user's own group the rest.
    SetQuota {
        /// The user's name.
        user: String,
        /// The user's new whole allowance.
        allowance: i64,
    },
    /// The workspace's latest build is canceled (the dashboard's Cancel
    /// button): a pending job ends `canceled` at once, a running one goes
    /// to `canceling` until its provisioner next reports (see
    /// `provisioner_api`).
    CancelBuild {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
    },
    /// The owner stops the workspace (the dashboard's Stop button).
    StopWorkspace {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
    },
    /// The owner starts the workspace (the dashboard's Start button).
    StartWorkspace {
        /// The workspace (`name` or `owner/name`).
        workspace: String,
    },
    /// The chat's turn in flight is canceled (the chat's Stop button).
    CancelTurn {
        /// The chat (by name).
        chat: String,
    },
}

impl<N: Net> CoderdCore<N> {
    /// Runs an operator action; the result describes what changed.
    pub fn admin(&self, action: &AdminAction) -> Result<Value, String> {
        match action {
            AdminAction::NewTemplateVersion {
                template,
                required_parameters,
            } => self.new_template_version(template, required_parameters),
            AdminAction::RequireActiveVersion { template, enabled } => {
                let id = self
                    .find_template(template)
                    .ok_or_else(|| format!("template {template:?} not found"))?;
                self.store.edit(|t| {
                    if let Some(tpl) = t.template_mut(id) {
                        tpl.require_active_version = *enabled;
                    }
                });
                Ok(json!({ "template": id.to_string(), "require_active_version": enabled }))
            }
            AdminAction::SetQuota { user, allowance } => self.set_quota(user, *allowance),
            AdminAction::CancelBuild { workspace } => self.cancel_build(workspace),
            AdminAction::CancelTurn { chat } => self.cancel_turn(chat),
            AdminAction::StopWorkspace { workspace } => self.dashboard_build(workspace, false),
            AdminAction::StartWorkspace { workspace } => self.dashboard_build(workspace, true),
        }
    }

    /// The owner's start (or stop) from the dashboard, through the same
    /// hook as the user API; a refusal (e.g. a build in flight) is `Err`.
    fn dashboard_build(&self, workspace: &str, start: bool) -> Result<Value, String> {
        let ws = self
            .find_workspace(workspace)
            .ok_or_else(|| format!("workspace {workspace:?} not found"))?;
        let result = if start {
            Coderd::start_workspace(self, ws.owner_id, ws.id, &[])
        } else {
            Coderd::stop_workspace(self, ws.owner_id, ws.id)
        };
        let build = result.map_err(|err| match err {
            HookError::Response(resp) => format!("refused: {}", resp.message),
            HookError::Other(message) => format!("refused: {message}"),
        })?;
        Ok(json!({ "build_id": build.id.to_string(), "transition": build.transition.as_str() }))
    }

    fn cancel_build(&self, workspace: &str) -> Result<Value, String> {
        let ws = self
            .find_workspace(workspace)
            .ok_or_else(|| format!("workspace {workspace:?} not found"))?;
        let (build, job, status) = {
            let t = self.store.tables();
            let build = t
                .latest_build(ws.id)
                .ok_or_else(|| format!("workspace {workspace:?} has no builds"))?;
            let job = t
                .job(build.job_id)
                .ok_or_else(|| format!("build {} has no job", build.id))?;
            (build.id, job.id, job.status)
        };
        match status {
            JobStatus::Pending => {
                self.complete_job(job, JobOutcome::Canceled);
            }
            JobStatus::Running => self.store.edit(|t| {
                if let Some(j) = t.job_mut(job) {
                    j.status = JobStatus::Canceling;
                }
            }),
            other => {
                return Err(format!(
                    "build {build} of {workspace:?} already ended ({})",
                    other.as_str()
                ))
            }
        }
        self.emit_job(job);
        Ok(json!({ "build": build.to_string(), "was": status.as_str() }))
    }

    fn new_template_version(&self, template: &str, required: &[String]) -> Result<Value, String> {
        let template_id = self
            .find_template(template)
            .ok_or_else(|| format!("template {template:?} not found"))?;
        let new_id = self.ids.new_uuid();
        let old_presets = {
            let t = self.store.tables();
            let active = t.template(template_id).map(|tpl| tpl.active_version_id);
            t.presets
                .iter()
                .filter(|p| Some(p.template_version_id) == active)
                .count()
        };
        let preset_ids: Vec<_> = (0..old_presets).map(|_| self.ids.new_uuid()).collect();
        let old_id = self.store.edit(|t| {
            let old_id = t.template(template_id)?.active_version_id;
            let old = t.template_version(old_id)?.clone();
            let count = t
                .template_versions
                .iter()
                .filter(|v| v.template_id == template_id)
                .count();
            let mut params = t.version_parameters(old_id);
            for p in &mut params {
                p.template_version_id = new_id;
            }
            for name in required {
                params.retain(|p| &p.name != name);
                params.push(TemplateVersionParameter {
                    template_version_id: new_id,
                    name: name.clone(),
                    type_: "string".into(),
                    required: true,
                    mutable: true,
                    ..TemplateVersionParameter::default()
                });
            }
            copy_presets(t, old_id, new_id, &preset_ids);
            let name = format!("v{}", count + 1);
            t.template_versions.push(TemplateVersion {
                id: new_id,
                name: name.clone(),
                ..old
            });
            t.template_version_parameters.extend(params);
            t.template_mut(template_id)?.active_version_id = new_id;
            Some((old_id, name))
        });
        let (old_id, name) =
            old_id.ok_or_else(|| format!("template {template:?} has no active version"))?;
        self.cloud.copy_images(old_id, new_id);
        self.emit(Event::Entity {
            kind: EntityKind::Version,
            name: format!("{template}/{name}"),
            id: new_id.to_string(),
        });
        Ok(json!({
            "template": template_id.to_string(),
            "active_version": new_id.to_string(),
            "required_parameters": required,
        }))
    }

    fn set_quota(&self, user: &str, allowance: i64) -> Result<Value, String> {
        let group_id = self.ids.new_uuid();
        self.store.edit(|t| {
            let user_id = t
                .users
                .iter()
                .find(|u| u.username == user)
                .map(|u| u.id)
                .ok_or_else(|| format!("user {user:?} not found"))?;
            let orgs: Vec<_> = t
                .organization_members
                .iter()
                .filter(|(_, u)| *u == user_id)
                .map(|(o, _)| *o)
                .collect();
            let own_name = own_group_name(user);
            for group in t.groups.iter_mut() {
                let everyone = orgs.contains(&group.id);
                let own = group.name == own_name;
                if everyone || (group.members.contains(&user_id) && !own) {
                    group.quota_allowance = 0;
                }
            }
            let Some(&org) = orgs.first() else {
                return Err(format!("user {user:?} is in no organization"));
            };
            match t.groups.iter_mut().find(|g| g.name == own_name) {
                Some(group) => group.quota_allowance = allowance,
                None => t.groups.push(Group {
                    id: group_id,
                    organization_id: org,
                    name: own_name,
                    quota_allowance: allowance,
                    members: vec![user_id],
                }),
            }
            Ok(json!({ "user": user, "allowance": allowance }))
        })
    }
}

/// Copies a version's presets (and their parameter values) to a new
/// version, under the given new IDs (one per preset, in DB order).
fn copy_presets(t: &mut Tables, from: Uuid, to: Uuid, new_ids: &[Uuid]) {
    let old: Vec<Preset> = t
        .presets
        .iter()
        .filter(|p| p.template_version_id == from)
        .cloned()
        .collect();
    for (preset, &id) in old.into_iter().zip(new_ids) {
        let values: Vec<PresetParameter> = t
            .preset_parameters
            .iter()
            .filter(|p| p.preset_id == preset.id)
            .map(|p| PresetParameter {
                preset_id: id,
                ..p.clone()
            })
            .collect();
        t.preset_parameters.extend(values);
        t.presets.push(Preset {
            id,
            template_version_id: to,
            ..preset
        });
    }
}

/// The name of a user's own quota group.
pub fn own_group_name(user: &str) -> String {
    format!("{user}-quota")
}
