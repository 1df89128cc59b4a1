//! Builds the database at time zero from a [`WorldSpec`]: organizations with
//! their Everyone groups, users, templates with their versions, parameters,
//! presets and plans, and chats. The cloud learns each version's agent
//! images. [`validate`] checks the run first (with the one validator);
//! unknown names are errors here too, not panics.

use std::collections::{BTreeMap, BTreeSet};

use chatsim_engine::memory::Tables;
use chatsim_engine::model::*;
use chatsim_engine::ports::Ids;
use uuid::Uuid;

use crate::control::Cloud;
use crate::hosts::coderd::own_group_name;
use crate::plan::{RunConfig, TemplateSpec, VersionSpec, WorldSpec};

/// The database and the names the run refers to.
pub struct Setup {
    /// The database rows at time zero.
    pub tables: Tables,
    /// Chat names → chat IDs.
    pub chat_names: BTreeMap<String, Uuid>,
    /// Template allowlists per chat (empty = every template).
    pub allowlists: BTreeMap<Uuid, BTreeSet<Uuid>>,
}

/// Checks the run with the one validator ([`super::check`]), at its setup
/// level ([`super::check::check_setup`]), before anything is built; the
/// problems, joined, are the run's error (`invalid run: path: message; …`).
pub fn validate(config: &RunConfig) -> Result<(), String> {
    let problems = super::check::check_setup(config);
    if problems.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Err(format!("invalid run: {}", all.join("; ")))
}

/// Builds the tables for `spec`, drawing IDs from `ids`.
pub fn build(spec: &WorldSpec, ids: &dyn Ids, cloud: &Cloud) -> Result<Setup, String> {
    let mut t = Tables {
        chat_workspace_ttl: spec.chat_workspace_ttl.clone(),
        ..Tables::default()
    };
    let mut orgs: BTreeMap<String, Uuid> = BTreeMap::new();
    for org in &spec.organizations {
        let id = ids.new_uuid();
        orgs.insert(org.name.clone(), id);
        t.organizations.push(Organization {
            id,
            name: org.name.clone(),
        });
        t.groups.push(Group {
            id,
            organization_id: id,
            name: "Everyone".into(),
            quota_allowance: org.everyone_quota,
            members: vec![],
        });
    }
    let org = |name: &str| {
        orgs.get(name)
            .copied()
            .ok_or_else(|| format!("unknown organization {name:?}"))
    };
    let mut users: BTreeMap<String, (Uuid, Uuid)> = BTreeMap::new();
    for user in &spec.users {
        let (id, org_id) = (ids.new_uuid(), org(&user.organization)?);
        users.insert(user.name.clone(), (id, org_id));
        t.users.push(User {
            id,
            username: user.name.clone(),
            roles: user.roles.clone(),
        });
        t.organization_members.push((org_id, id));
        if user.quota != 0 {
            t.groups.push(Group {
                id: ids.new_uuid(),
                organization_id: org_id,
                name: own_group_name(&user.name),
                quota_allowance: user.quota,
                members: vec![id],
            });
        }
    }
    let mut templates: BTreeMap<String, Uuid> = BTreeMap::new();
    for template in &spec.templates {
        let id = add_template(&mut t, template, org(&template.organization)?, ids, cloud)?;
        templates.insert(template.name.clone(), id);
    }
    let mut chat_names = BTreeMap::new();
    let mut allowlists = BTreeMap::new();
    for chat in &spec.chats {
        let &(owner, org_id) = users
            .get(&chat.owner)
            .ok_or_else(|| format!("chat {:?}: unknown owner {:?}", chat.name, chat.owner))?;
        let parent = match &chat.parent {
            None => None,
            Some(p) => Some(
                *chat_names
                    .get(p)
                    .ok_or_else(|| format!("chat {:?}: unknown parent {p:?}", chat.name))?,
            ),
        };
        let id = ids.new_uuid();
        let mut allowed = BTreeSet::new();
        for name in &chat.allowed_templates {
            allowed.insert(
                *templates
                    .get(name)
                    .ok_or_else(|| format!("chat {:?}: unknown template {name:?}", chat.name))?,
            );
        }
        chat_names.insert(chat.name.clone(), id);
        allowlists.insert(id, allowed);
        t.chats.push(Chat {
            id,
            owner_id: owner,
            organization_id: org_id,
            parent_chat_id: parent,
            ..Chat::default()
        });
    }
    Ok(Setup {
        tables: t,
        chat_names,
        allowlists,
    })
}

fn add_template(
    t: &mut Tables,
    spec: &TemplateSpec,
    org: Uuid,
    ids: &dyn Ids,
    cloud: &Cloud,
) -> Result<Uuid, String> {
    let id = ids.new_uuid();
    let mut active = None;
    for version in &spec.versions {
        active = Some(add_version(t, id, version, ids, cloud)?);
    }
    let active = active.ok_or_else(|| format!("template {:?} has no versions", spec.name))?;
    t.templates.push(Template {
        id,
        organization_id: org,
        name: spec.name.clone(),
        display_name: spec.display_name.clone(),
        description: spec.description.clone(),
        abstract_text: String::new(),
        active_version_id: active,
        deprecated: spec.deprecated,
        deleted: false,
        require_active_version: spec.require_active_version,
    });
    Ok(id)
}

fn add_version(
    t: &mut Tables,
    template: Uuid,
    spec: &VersionSpec,
    ids: &dyn Ids,
    cloud: &Cloud,
) -> Result<Uuid, String> {
    let id = ids.new_uuid();
    for p in &spec.parameters {
        t.template_version_parameters
            .push(TemplateVersionParameter {
                template_version_id: id,
                name: p.name.clone(),
                type_: p.type_.clone(),
                required: p.required,
                display_name: p.display_name.clone(),
                description: p.description.clone(),
                default_value: p.default.clone(),
                mutable: p.mutable,
                ephemeral: p.ephemeral,
                form_type: String::new(),
                options: p.options.clone(),
                validation_regex: String::new(),
                validation_min: None,
                validation_max: None,
            });
    }
    for preset in &spec.presets {
        let preset_id = ids.new_uuid();
        for (name, value) in &preset.parameters {
            t.preset_parameters.push(PresetParameter {
                preset_id,
                name: name.clone(),
                value: value.clone(),
            });
        }
        t.presets.push(Preset {
            id: preset_id,
            template_version_id: id,
            name: preset.name.clone(),
            is_default: preset.default,
            description: preset.description.clone(),
            icon: String::new(),
            desired_prebuild_instances: preset.desired_prebuilds,
        });
    }
    let mut agents = Vec::new();
    for agent in &spec.agents {
        if agents.iter().any(|a: &AgentSpec| a.name == agent.name) {
            return Err(format!(
                "version {:?}: agent {:?} twice",
                spec.name, agent.name
            ));
        }
        cloud.set_image(id, &agent.name, agent.behaviour.clone());
        agents.push(AgentSpec {
            name: agent.name.clone(),
            display_order: agent.display_order,
            parent: agent.parent.clone(),
            external: agent.external,
            connection_timeout_seconds: agent.connection_timeout.0.as_secs() as i32,
            operating_system: agent.operating_system.clone(),
            directory: agent.directory.clone(),
        });
    }
    let has_external = agents.iter().any(|a| a.external);
    t.template_versions.push(TemplateVersion {
        id,
        template_id: template,
        name: spec.name.clone(),
        has_external_agent: Some(has_external),
        plan: VersionPlan {
            agents,
            daily_cost: spec.daily_cost,
        },
    });
    Ok(id)
}
