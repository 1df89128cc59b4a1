//! The in-memory coderd database: every row kind the tools read, in insertion
//! (DB) order, with injectable query errors so error branches are testable.

use std::cell::{Ref, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::model::*;
use crate::ports::{Store, StoreError, StoreResult, TemplateFilter};
use crate::time::Time;

use super::index::RowIndex;

/// Tables shorter than this are scanned: there a scan is cheaper than the
/// index (a short run never builds one). An agent looked up by ID among
/// about 30 costs the same either way; a workspace's latest build, which
/// the scan finds only by reading every row, gains from far fewer.
const SCAN_BELOW: usize = 16;

/// Whether a table of `rows` is scanned rather than indexed. Debug builds
/// use the index always, so every test checks its answers against the scan.
fn scanned(rows: usize) -> bool {
    !cfg!(debug_assertions) && rows < SCAN_BELOW
}

/// Every row, in insertion order. Public so world builders and the
/// simulation's coderd handlers can write rows directly.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    /// `users`.
    pub users: Vec<User>,
    /// `organizations`.
    pub organizations: Vec<Organization>,
    /// `(organization_id, user_id)` memberships.
    pub organization_members: Vec<(Uuid, Uuid)>,
    /// `groups` (quota allowances).
    pub groups: Vec<Group>,
    /// `chats` and their bindings.
    pub chats: Vec<Chat>,
    /// `chat_messages` (the prompt history context pulls persist into).
    pub chat_messages: Vec<ChatMessage>,
    /// `templates`.
    pub templates: Vec<Template>,
    /// `template_versions`.
    pub template_versions: Vec<TemplateVersion>,
    /// `template_version_parameters`.
    pub template_version_parameters: Vec<TemplateVersionParameter>,
    /// `template_version_presets`.
    pub presets: Vec<Preset>,
    /// `template_version_preset_parameters`.
    pub preset_parameters: Vec<PresetParameter>,
    /// `workspaces`.
    pub workspaces: Vec<Workspace>,
    /// `workspace_builds`.
    pub builds: Vec<WorkspaceBuild>,
    /// `provisioner_jobs`.
    pub jobs: Vec<ProvisionerJob>,
    /// `workspace_resources`.
    pub resources: Vec<WorkspaceResource>,
    /// `workspace_agents`.
    pub agents: Vec<WorkspaceAgent>,
    /// The deployment's chat workspace TTL setting (a Go duration string).
    pub chat_workspace_ttl: String,
    /// Lookups without scans (a cache over the rows above). Code that
    /// changes a row's key in place (a build's workspace or number, a
    /// resource's job, an agent's ID or resource, a workspace's name)
    /// calls `index.reset()`.
    pub index: RowIndex,
}

impl Tables {
    /// The chat row with this ID, to change in place.
    pub fn chat_mut(&mut self, id: Uuid) -> Option<&mut Chat> {
        self.chats.iter_mut().find(|c| c.id == id)
    }

    /// The template row with this ID, to change in place.
    pub fn template_mut(&mut self, id: Uuid) -> Option<&mut Template> {
        self.templates.iter_mut().find(|t| t.id == id)
    }

    /// The workspace row with this ID, to change in place.
    pub fn workspace_mut(&mut self, id: Uuid) -> Option<&mut Workspace> {
        self.workspaces.iter_mut().find(|w| w.id == id)
    }

    /// The build row with this ID, to change in place.
    pub fn build_mut(&mut self, id: Uuid) -> Option<&mut WorkspaceBuild> {
        self.builds.iter_mut().find(|b| b.id == id)
    }

    /// The job row with this ID, to change in place.
    pub fn job_mut(&mut self, id: Uuid) -> Option<&mut ProvisionerJob> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// The agent row with this ID, to change in place.
    #[inline]
    pub fn agent_mut(&mut self, id: Uuid) -> Option<&mut WorkspaceAgent> {
        if scanned(self.agents.len()) {
            return self.agents.iter_mut().find(|a| a.id == id);
        }
        self.agent_row(id).map(|i| &mut self.agents[i])
    }

    /// The user row with this ID.
    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The template row with this ID.
    pub fn template(&self, id: Uuid) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }

    /// The template version row with this ID.
    pub fn template_version(&self, id: Uuid) -> Option<&TemplateVersion> {
        self.template_versions.iter().find(|v| v.id == id)
    }

    /// The workspace row with this ID.
    pub fn workspace(&self, id: Uuid) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == id)
    }

    /// The first live (not deleted) workspace named `name`, in DB order,
    /// that `pick` accepts (an owner test, say). `pick` must not look
    /// anything up through the index: it runs while the index is borrowed.
    pub fn live_workspace_named(
        &self,
        name: &str,
        pick: impl Fn(&Workspace) -> bool,
    ) -> Option<&Workspace> {
        let live = |w: &Workspace| !w.deleted && pick(w);
        let scan = || {
            let mut rows = self.workspaces.iter();
            rows.position(|w| w.name == name && live(w))
        };
        let row = if scanned(self.workspaces.len()) {
            scan()
        } else {
            let row = self.index.workspace_named(&self.workspaces, name, live);
            debug_assert_eq!(row, scan());
            row
        };
        row.map(|i| &self.workspaces[i])
    }

    /// The build row with this ID.
    pub fn build(&self, id: Uuid) -> Option<&WorkspaceBuild> {
        self.builds.iter().find(|b| b.id == id)
    }

    /// The provisioner job row with this ID.
    pub fn job(&self, id: Uuid) -> Option<&ProvisionerJob> {
        if scanned(self.jobs.len()) {
            return self.jobs.iter().find(|j| j.id == id);
        }
        self.job_row(id).map(|i| &self.jobs[i])
    }

    /// The indexed lookup of [`Tables::job`] (checked against the scan in
    /// debug builds), out of line as [`Tables::agent_row`].
    #[inline(never)]
    fn job_row(&self, id: Uuid) -> Option<usize> {
        let row = self.index.job(&self.jobs, id);
        debug_assert_eq!(row, self.jobs.iter().position(|j| j.id == id));
        row
    }

    /// The build the job belongs to (each job has one).
    pub fn build_of_job(&self, job_id: Uuid) -> Option<&WorkspaceBuild> {
        if scanned(self.builds.len()) {
            return self.builds.iter().find(|b| b.job_id == job_id);
        }
        self.build_of_job_row(job_id).map(|i| &self.builds[i])
    }

    /// The indexed lookup of [`Tables::build_of_job`] (checked against the
    /// scan in debug builds), out of line as [`Tables::agent_row`].
    #[inline(never)]
    fn build_of_job_row(&self, job_id: Uuid) -> Option<usize> {
        let row = self.index.build_of_job(&self.builds, job_id);
        debug_assert_eq!(row, self.builds.iter().position(|b| b.job_id == job_id));
        row
    }

    /// The agent row with this ID.
    pub fn agent(&self, id: Uuid) -> Option<&WorkspaceAgent> {
        if scanned(self.agents.len()) {
            return self.agents.iter().find(|a| a.id == id);
        }
        self.agent_row(id).map(|i| &self.agents[i])
    }

    /// The indexed lookup of an agent's row (checked against the scan in
    /// debug builds). Out of line: the short-table scan of its callers
    /// stays as tight as it was.
    #[inline(never)]
    fn agent_row(&self, id: Uuid) -> Option<usize> {
        let row = self.index.agent(&self.agents, id);
        debug_assert_eq!(row, self.agents.iter().position(|a| a.id == id));
        row
    }

    /// The build with the highest build number of the workspace (the last
    /// such row on a tie).
    pub fn latest_build(&self, workspace_id: Uuid) -> Option<&WorkspaceBuild> {
        if scanned(self.builds.len()) {
            return self
                .builds
                .iter()
                .filter(|b| b.workspace_id == workspace_id)
                .max_by_key(|b| b.build_number);
        }
        self.latest_build_row(workspace_id).map(|i| &self.builds[i])
    }

    /// The indexed lookup of [`Tables::latest_build`] (checked against
    /// the scan in debug builds), out of line as [`Tables::agent_row`].
    #[inline(never)]
    fn latest_build_row(&self, workspace_id: Uuid) -> Option<usize> {
        let row = self.index.latest_build(&self.builds, workspace_id);
        debug_assert_eq!(
            row,
            self.builds
                .iter()
                .enumerate()
                .filter(|(_, b)| b.workspace_id == workspace_id)
                .max_by_key(|(_, b)| b.build_number)
                .map(|(i, _)| i)
        );
        row
    }

    /// Agents whose resource was created by the given job, in DB order.
    pub fn agents_of_job(&self, job_id: Uuid) -> Vec<WorkspaceAgent> {
        self.agent_rows_of_job(job_id).cloned().collect()
    }

    /// [`Tables::agents_of_job`], borrowed: for readers that need a few
    /// fields of each row, not copies.
    pub fn agent_rows_of_job(&self, job_id: Uuid) -> impl Iterator<Item = &WorkspaceAgent> {
        let rows = self.agent_row_numbers_of_job(job_id);
        rows.into_iter().map(move |i| &self.agents[i])
    }

    /// The positions in `agents` of [`Tables::agents_of_job`]'s rows: for
    /// readers that keep watching those rows (rows never move).
    pub fn agent_row_numbers_of_job(&self, job_id: Uuid) -> Vec<usize> {
        let scan = || {
            // A job creates a resource or two: a short list beats a set.
            let resources: Vec<Uuid> = self
                .resources
                .iter()
                .filter(|r| r.job_id == job_id)
                .map(|r| r.id)
                .collect();
            let agents = self.agents.iter().enumerate();
            agents
                .filter(|(_, a)| a.resource_id.is_some_and(|r| resources.contains(&r)))
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        if scanned(self.agents.len().max(self.resources.len())) {
            scan()
        } else {
            let rows = self
                .index
                .agents_of_job(&self.resources, &self.agents, job_id);
            debug_assert_eq!(rows, scan());
            rows
        }
    }

    /// Parameters of a template version, in DB order.
    pub fn version_parameters(&self, version_id: Uuid) -> Vec<TemplateVersionParameter> {
        self.template_version_parameters
            .iter()
            .filter(|p| p.template_version_id == version_id)
            .cloned()
            .collect()
    }

    fn is_org_member(&self, organization_id: Uuid, user_id: Uuid) -> bool {
        self.organization_members
            .iter()
            .any(|&(org, user)| org == organization_id && user == user_id)
    }
}

/// A query of the `Store` port, named for error injection: one variant per
/// `Store` method, named as the method is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Query {
    /// [`Store::get_authorization_user_roles`].
    GetAuthorizationUserRoles,
    /// [`Store::get_chat_by_id`].
    GetChatById,
    /// [`Store::update_chat_workspace_binding`].
    UpdateChatWorkspaceBinding,
    /// [`Store::update_chat_build_agent_binding`].
    UpdateChatBuildAgentBinding,
    /// [`Store::get_template_by_id`].
    GetTemplateById,
    /// [`Store::get_templates_with_filter`].
    GetTemplatesWithFilter,
    /// [`Store::get_workspace_unique_owner_count_by_template_ids`].
    GetWorkspaceUniqueOwnerCountByTemplateIds,
    /// [`Store::get_template_version_by_id`].
    GetTemplateVersionById,
    /// [`Store::get_template_version_parameters`].
    GetTemplateVersionParameters,
    /// [`Store::get_presets_by_template_version_id`].
    GetPresetsByTemplateVersionId,
    /// [`Store::get_preset_parameters_by_template_version_id`].
    GetPresetParametersByTemplateVersionId,
    /// [`Store::get_workspace_by_id`].
    GetWorkspaceById,
    /// [`Store::get_latest_workspace_build_by_workspace_id`].
    GetLatestWorkspaceBuildByWorkspaceId,
    /// [`Store::get_workspace_build_by_id`].
    GetWorkspaceBuildById,
    /// [`Store::get_provisioner_job_by_id`].
    GetProvisionerJobById,
    /// [`Store::get_workspace_agents_in_latest_build_by_workspace_id`].
    GetWorkspaceAgentsInLatestBuildByWorkspaceId,
    /// [`Store::get_workspace_agent_by_id`].
    GetWorkspaceAgentById,
    /// [`Store::get_workspace_agent_lifecycle_state_by_id`].
    GetWorkspaceAgentLifecycleStateById,
    /// [`Store::get_workspace_resource_by_id`].
    GetWorkspaceResourceById,
    /// [`Store::get_quota_consumed_for_user`].
    GetQuotaConsumedForUser,
    /// [`Store::get_quota_allowance_for_user`].
    GetQuotaAllowanceForUser,
    /// [`Store::get_chat_workspace_ttl`].
    GetChatWorkspaceTtl,
    /// [`Store::get_chat_messages_for_prompt`].
    GetChatMessagesForPrompt,
    /// [`Store::insert_chat_message`].
    InsertChatMessage,
}

impl Query {
    /// Every query, in declaration order.
    pub const ALL: [Query; 24] = [
        Query::GetAuthorizationUserRoles,
        Query::GetChatById,
        Query::UpdateChatWorkspaceBinding,
        Query::UpdateChatBuildAgentBinding,
        Query::GetTemplateById,
        Query::GetTemplatesWithFilter,
        Query::GetWorkspaceUniqueOwnerCountByTemplateIds,
        Query::GetTemplateVersionById,
        Query::GetTemplateVersionParameters,
        Query::GetPresetsByTemplateVersionId,
        Query::GetPresetParametersByTemplateVersionId,
        Query::GetWorkspaceById,
        Query::GetLatestWorkspaceBuildByWorkspaceId,
        Query::GetWorkspaceBuildById,
        Query::GetProvisionerJobById,
        Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
        Query::GetWorkspaceAgentById,
        Query::GetWorkspaceAgentLifecycleStateById,
        Query::GetWorkspaceResourceById,
        Query::GetQuotaConsumedForUser,
        Query::GetQuotaAllowanceForUser,
        Query::GetChatWorkspaceTtl,
        Query::GetChatMessagesForPrompt,
        Query::InsertChatMessage,
    ];

    /// The query's name in snake_case, e.g. `get_chat_by_id` (the name of
    /// its `Store` method), as scenario files write it.
    pub fn name(self) -> String {
        let mut name = String::new();
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if i > 0 && c.is_ascii_uppercase() {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        name
    }

    /// The query named `name` (see [`Query::name`]).
    pub fn from_name(name: &str) -> Option<Query> {
        Query::ALL.into_iter().find(|q| q.name() == name)
    }
}

#[derive(Clone, Debug)]
struct Injected {
    error: StoreError,
    /// `None` = every call fails; `Some(n)` = the next n calls fail.
    remaining: Option<u32>,
}

/// The in-memory `Store`.
#[derive(Default)]
pub struct MemStore {
    tables: RefCell<Tables>,
    failures: RefCell<BTreeMap<Query, Injected>>,
    /// Calls of each query, by its place in [`Query::ALL`].
    calls: RefCell<[u32; Query::ALL.len()]>,
}

impl MemStore {
    /// An empty database.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A database holding these rows.
    pub fn from_tables(tables: Tables) -> MemStore {
        MemStore {
            tables: RefCell::new(tables),
            ..MemStore::default()
        }
    }

    /// Reads the rows. Do not hold the guard across an await.
    pub fn tables(&self) -> Ref<'_, Tables> {
        self.tables.borrow()
    }

    /// Writes rows (the only way anything but the `Store` methods writes).
    /// Always inlined: hot callers (an agent's every tick) pay no call.
    #[inline(always)]
    pub fn edit<R>(&self, f: impl FnOnce(&mut Tables) -> R) -> R {
        f(&mut self.tables.borrow_mut())
    }

    /// Every later call of `query` fails with `error`.
    pub fn fail(&self, query: Query, error: StoreError) {
        self.failures.borrow_mut().insert(
            query,
            Injected {
                error,
                remaining: None,
            },
        );
    }

    /// The next `times` calls of `query` fail with `error`.
    pub fn fail_times(&self, query: Query, times: u32, error: StoreError) {
        self.failures.borrow_mut().insert(
            query,
            Injected {
                error,
                remaining: Some(times),
            },
        );
    }

    /// Removes an injected failure.
    pub fn heal(&self, query: Query) {
        self.failures.borrow_mut().remove(&query);
    }

    /// How many times `query` was called (failed calls included).
    pub fn calls(&self, query: Query) -> u32 {
        self.calls.borrow()[query as usize]
    }

    fn check(&self, query: Query) -> StoreResult<()> {
        self.calls.borrow_mut()[query as usize] += 1;
        let mut failures = self.failures.borrow_mut();
        if failures.is_empty() {
            return Ok(());
        }
        let Some(injected) = failures.get_mut(&query) else {
            return Ok(());
        };
        let error = injected.error.clone();
        match &mut injected.remaining {
            None => {}
            Some(0) => {
                failures.remove(&query);
                return Ok(());
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    failures.remove(&query);
                }
            }
        }
        Err(error)
    }

    /// Runs `query` as its `Store` method does (counted, failing as
    /// injected, `NotFound` on `None`) but answers with what `f` reads
    /// from the borrowed rows: for callers that need a few fields of the
    /// answer, not a copy of its row. `f` must read what the query reads.
    pub fn read<T>(&self, query: Query, f: impl FnOnce(&Tables) -> Option<T>) -> StoreResult<T> {
        self.check(query)?;
        f(&self.tables.borrow()).ok_or(StoreError::NotFound)
    }
}

/// Case-insensitive substring test used by the template query filter.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn template_matches(t: &Template, filter: &TemplateFilter) -> bool {
    if t.deleted || t.deprecated {
        return false;
    }
    if filter
        .organization_id
        .is_some_and(|org| org != t.organization_id)
    {
        return false;
    }
    if !filter.ids.is_empty() && !filter.ids.contains(&t.id) {
        return false;
    }
    let query = filter.query.trim();
    if query.is_empty() {
        return true;
    }
    let squashed: String = query.chars().filter(|c| *c != ' ').collect();
    contains_folded(&t.display_name, query)
        || contains_folded(&t.description, query)
        || contains_folded(&t.abstract_text, query)
        || contains_folded(&t.name, &squashed)
}

impl Store for MemStore {
    fn get_authorization_user_roles(&self, user_id: Uuid) -> StoreResult<Vec<String>> {
        self.read(Query::GetAuthorizationUserRoles, |t| {
            t.user(user_id).map(|u| u.roles.clone())
        })
    }

    fn get_chat_by_id(&self, chat_id: Uuid) -> StoreResult<Chat> {
        self.read(Query::GetChatById, |t| {
            t.chats.iter().find(|c| c.id == chat_id).cloned()
        })
    }

    fn update_chat_workspace_binding(
        &self,
        chat_id: Uuid,
        workspace_id: Option<Uuid>,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    ) -> StoreResult<Chat> {
        self.check(Query::UpdateChatWorkspaceBinding)?;
        self.edit(|t| {
            let chat = t.chat_mut(chat_id).ok_or(StoreError::NotFound)?;
            chat.workspace_id = workspace_id;
            chat.build_id = build_id;
            chat.agent_id = agent_id;
            Ok(chat.clone())
        })
    }

    fn update_chat_build_agent_binding(
        &self,
        chat_id: Uuid,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    ) -> StoreResult<Chat> {
        self.check(Query::UpdateChatBuildAgentBinding)?;
        self.edit(|t| {
            let chat = t.chat_mut(chat_id).ok_or(StoreError::NotFound)?;
            chat.build_id = build_id;
            chat.agent_id = agent_id;
            Ok(chat.clone())
        })
    }

    fn get_template_by_id(&self, template_id: Uuid) -> StoreResult<Template> {
        self.read(Query::GetTemplateById, |t| t.template(template_id).cloned())
    }

    fn get_templates_with_filter(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>> {
        self.check(Query::GetTemplatesWithFilter)?;
        let tables = self.tables.borrow();
        let mut found: Vec<Template> = tables
            .templates
            .iter()
            .filter(|t| template_matches(t, filter))
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            (a.name.as_bytes(), a.id.to_string()).cmp(&(b.name.as_bytes(), b.id.to_string()))
        });
        Ok(found)
    }

    fn get_workspace_unique_owner_count_by_template_ids(
        &self,
        template_ids: &[Uuid],
    ) -> StoreResult<Vec<(Uuid, i64)>> {
        self.check(Query::GetWorkspaceUniqueOwnerCountByTemplateIds)?;
        let tables = self.tables.borrow();
        Ok(template_ids
            .iter()
            .map(|&id| {
                let owners: BTreeSet<Uuid> = tables
                    .workspaces
                    .iter()
                    .filter(|w| w.template_id == id && !w.deleted)
                    .map(|w| w.owner_id)
                    .collect();
                (id, owners.len() as i64)
            })
            .collect())
    }

    fn get_template_version_by_id(&self, version_id: Uuid) -> StoreResult<TemplateVersion> {
        self.read(Query::GetTemplateVersionById, |t| {
            t.template_version(version_id).cloned()
        })
    }

    fn get_template_version_parameters(
        &self,
        version_id: Uuid,
    ) -> StoreResult<Vec<TemplateVersionParameter>> {
        self.check(Query::GetTemplateVersionParameters)?;
        Ok(self.tables.borrow().version_parameters(version_id))
    }

    fn get_presets_by_template_version_id(&self, version_id: Uuid) -> StoreResult<Vec<Preset>> {
        self.check(Query::GetPresetsByTemplateVersionId)?;
        Ok(self
            .tables
            .borrow()
            .presets
            .iter()
            .filter(|p| p.template_version_id == version_id)
            .cloned()
            .collect())
    }

    fn get_preset_parameters_by_template_version_id(
        &self,
        version_id: Uuid,
    ) -> StoreResult<Vec<PresetParameter>> {
        self.check(Query::GetPresetParametersByTemplateVersionId)?;
        let tables = self.tables.borrow();
        let presets: BTreeSet<Uuid> = tables
            .presets
            .iter()
            .filter(|p| p.template_version_id == version_id)
            .map(|p| p.id)
            .collect();
        Ok(tables
            .preset_parameters
            .iter()
            .filter(|p| presets.contains(&p.preset_id))
            .cloned()
            .collect())
    }

    fn get_workspace_by_id(&self, workspace_id: Uuid) -> StoreResult<Workspace> {
        self.read(Query::GetWorkspaceById, |t| {
            t.workspace(workspace_id).cloned()
        })
    }

    fn get_latest_workspace_build_by_workspace_id(
        &self,
        workspace_id: Uuid,
    ) -> StoreResult<WorkspaceBuild> {
        self.read(Query::GetLatestWorkspaceBuildByWorkspaceId, |t| {
            t.latest_build(workspace_id).cloned()
        })
    }

    fn get_workspace_build_by_id(&self, build_id: Uuid) -> StoreResult<WorkspaceBuild> {
        self.read(Query::GetWorkspaceBuildById, |t| t.build(build_id).cloned())
    }

    fn get_provisioner_job_by_id(&self, job_id: Uuid) -> StoreResult<ProvisionerJob> {
        self.read(Query::GetProvisionerJobById, |t| t.job(job_id).cloned())
    }

    fn get_workspace_agents_in_latest_build_by_workspace_id(
        &self,
        workspace_id: Uuid,
    ) -> StoreResult<Vec<WorkspaceAgent>> {
        self.check(Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId)?;
        let tables = self.tables.borrow();
        Ok(tables
            .latest_build(workspace_id)
            .map(|b| tables.agents_of_job(b.job_id))
            .unwrap_or_default())
    }

    fn get_workspace_agent_by_id(&self, agent_id: Uuid) -> StoreResult<WorkspaceAgent> {
        self.read(Query::GetWorkspaceAgentById, |t| t.agent(agent_id).cloned())
    }

    fn get_workspace_agent_lifecycle_state_by_id(
        &self,
        agent_id: Uuid,
    ) -> StoreResult<LifecycleState> {
        self.read(Query::GetWorkspaceAgentLifecycleStateById, |t| {
            t.agent(agent_id).map(|a| a.lifecycle_state)
        })
    }

    fn get_workspace_resource_by_id(&self, resource_id: Uuid) -> StoreResult<WorkspaceResource> {
        self.read(Query::GetWorkspaceResourceById, |t| {
            t.resources.iter().find(|r| r.id == resource_id).cloned()
        })
    }

    fn get_quota_consumed_for_user(
        &self,
        owner_id: Uuid,
        organization_id: Uuid,
    ) -> StoreResult<i64> {
        self.check(Query::GetQuotaConsumedForUser)?;
        let tables = self.tables.borrow();
        Ok(tables
            .workspaces
            .iter()
            .filter(|w| {
                w.owner_id == owner_id && w.organization_id == organization_id && !w.deleted
            })
            .filter_map(|w| tables.latest_build(w.id))
            .map(|b| b.daily_cost)
            .sum())
    }

    fn get_quota_allowance_for_user(
        &self,
        user_id: Uuid,
        organization_id: Uuid,
    ) -> StoreResult<i64> {
        self.check(Query::GetQuotaAllowanceForUser)?;
        let tables = self.tables.borrow();
        Ok(tables
            .groups
            .iter()
            .filter(|g| g.organization_id == organization_id)
            .filter(|g| {
                let everyone = g.id == organization_id;
                g.members.contains(&user_id)
                    || (everyone && tables.is_org_member(organization_id, user_id))
            })
            .map(|g| g.quota_allowance)
            .sum())
    }

    fn get_chat_workspace_ttl(&self) -> StoreResult<String> {
        self.check(Query::GetChatWorkspaceTtl)?;
        Ok(self.tables.borrow().chat_workspace_ttl.clone())
    }

    fn get_chat_messages_for_prompt(&self, chat_id: Uuid) -> StoreResult<Vec<ChatMessage>> {
        self.check(Query::GetChatMessagesForPrompt)?;
        Ok(self
            .tables
            .borrow()
            .chat_messages
            .iter()
            .filter(|m| m.chat_id == chat_id)
            .cloned()
            .collect())
    }

    fn insert_chat_message(
        &self,
        chat_id: Uuid,
        role: &str,
        content: &str,
        now: Time,
    ) -> StoreResult<ChatMessage> {
        self.check(Query::InsertChatMessage)?;
        self.edit(|t| {
            let message = ChatMessage {
                id: t.chat_messages.len() as i64 + 1,
                chat_id,
                role: role.to_string(),
                content: content.to_string(),
                created_at: now,
            };
            t.chat_messages.push(message.clone());
            Ok(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A pending job with nothing else set.
    fn pending_job(id: Uuid) -> ProvisionerJob {
        ProvisionerJob {
            id,
            status: JobStatus::Pending,
            error: None,
            error_code: None,
            created_at: Time::ZERO,
            started_at: None,
            completed_at: None,
        }
    }

    #[test]
    fn query_names_are_the_store_methods_in_snake_case_and_round_trip() {
        assert_eq!(Query::GetChatById.name(), "get_chat_by_id");
        assert_eq!(
            Query::GetWorkspaceUniqueOwnerCountByTemplateIds.name(),
            "get_workspace_unique_owner_count_by_template_ids"
        );
        for query in Query::ALL {
            assert_eq!(Query::from_name(&query.name()), Some(query));
        }
        // The call counters are indexed by a query's place in ALL.
        for (i, query) in Query::ALL.into_iter().enumerate() {
            assert_eq!(query as usize, i, "{query:?}");
        }
        let distinct: BTreeSet<Query> = Query::ALL.into_iter().collect();
        assert_eq!(distinct.len(), Query::ALL.len());
        assert_eq!(Query::from_name("get_user_roles"), None);
    }

    #[test]
    fn injected_failures_fire_the_given_number_of_times() {
        let store = MemStore::new();
        store.edit(|t| {
            t.chats.push(Chat {
                id: id(1),
                ..Chat::default()
            })
        });
        store.fail_times(
            Query::GetChatById,
            1,
            StoreError::Other("connection reset".into()),
        );
        assert_eq!(
            store.get_chat_by_id(id(1)).unwrap_err().to_string(),
            "connection reset"
        );
        assert_eq!(store.get_chat_by_id(id(1)).unwrap().id, id(1));
        assert_eq!(store.calls(Query::GetChatById), 2);
    }

    #[test]
    fn missing_rows_read_as_sql_no_rows() {
        let store = MemStore::new();
        assert_eq!(
            store.get_template_by_id(id(9)).unwrap_err().to_string(),
            "sql: no rows in result set"
        );
    }

    #[test]
    fn template_query_matches_case_insensitively_and_squashes_spaces_for_names() {
        let store = MemStore::new();
        store.edit(|t| {
            for (n, name, display) in [(1, "go-dev", "Go Development"), (2, "rust", "Rust 100%")] {
                t.templates.push(Template {
                    id: id(n),
                    name: name.into(),
                    display_name: display.into(),
                    ..Template::default()
                });
            }
        });
        let names = |query: &str| -> Vec<String> {
            let filter = TemplateFilter {
                query: query.into(),
                ..TemplateFilter::default()
            };
            store
                .get_templates_with_filter(&filter)
                .unwrap()
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        assert_eq!(names("DEVELOPMENT"), ["go-dev"]);
        assert_eq!(names("go- dev"), ["go-dev"]);
        assert_eq!(names("%"), ["rust"]);
        assert_eq!(names(""), ["go-dev", "rust"]);
    }

    #[test]
    fn quota_sums_latest_builds_of_live_workspaces_and_everyone_group() {
        let (org, owner) = (id(100), id(200));
        let store = MemStore::new();
        store.edit(|t| {
            t.organization_members.push((org, owner));
            t.groups.push(Group {
                id: org,
                organization_id: org,
                name: "Everyone".into(),
                quota_allowance: 10,
                members: vec![],
            });
            t.groups.push(Group {
                id: id(101),
                organization_id: org,
                name: "devs".into(),
                quota_allowance: 5,
                members: vec![owner],
            });
            for (ws, deleted) in [(1, false), (2, true)] {
                t.workspaces.push(Workspace {
                    id: id(ws),
                    owner_id: owner,
                    organization_id: org,
                    deleted,
                    ..Workspace::default()
                });
                for (n, cost) in [(1, 100), (2, 3)] {
                    t.builds.push(WorkspaceBuild {
                        id: id(ws * 10 + n),
                        workspace_id: id(ws),
                        build_number: n as i32,
                        transition: Transition::Start,
                        template_version_id: id(0),
                        job_id: id(0),
                        initiator_id: owner,
                        created_at: Time::ZERO,
                        rich_parameters: vec![],
                        daily_cost: cost,
                    });
                }
            }
        });
        assert_eq!(store.get_quota_consumed_for_user(owner, org).unwrap(), 3);
        assert_eq!(store.get_quota_allowance_for_user(owner, org).unwrap(), 15);
    }

    #[test]
    fn indexed_lookups_answer_as_the_scans_as_rows_grow_and_move() {
        let build = |n: u128, ws: u128, number: i32| WorkspaceBuild {
            id: id(n),
            workspace_id: id(ws),
            build_number: number,
            transition: Transition::Start,
            template_version_id: id(0),
            job_id: id(n),
            initiator_id: id(0),
            created_at: Time::ZERO,
            rich_parameters: vec![],
            daily_cost: 0,
        };
        let mut t = Tables::default();
        // Out-of-order numbers and a tie (the last row wins, as max_by_key).
        for (n, ws, number) in [(1, 1, 1), (2, 2, 1), (3, 1, 3), (4, 1, 2), (5, 1, 3)] {
            t.builds.push(build(n, ws, number));
        }
        assert_eq!(t.latest_build(id(1)).map(|b| b.id), Some(id(5)));
        t.builds.push(build(6, 2, 7));
        assert_eq!(t.latest_build(id(2)).map(|b| b.id), Some(id(6)));
        assert_eq!(t.latest_build(id(9)), None);
        // Job 10 has resources 100 and 101; agents in DB order across both.
        for (resource, job) in [(100, 10), (101, 10), (102, 11)] {
            t.resources.push(WorkspaceResource {
                id: id(resource),
                job_id: id(job),
                ..WorkspaceResource::default()
            });
        }
        for (agent, resource) in [(1000, 101), (1001, 102), (1002, 100), (1003, 101)] {
            t.agents.push(WorkspaceAgent {
                id: id(agent),
                resource_id: Some(id(resource)),
                ..WorkspaceAgent::default()
            });
        }
        let agents = |t: &Tables, job: u128| -> Vec<Uuid> {
            t.agent_rows_of_job(id(job)).map(|a| a.id).collect()
        };
        assert_eq!(agents(&t, 10), [id(1000), id(1002), id(1003)]);
        assert_eq!(agents(&t, 11), [id(1001)]);
        assert_eq!(
            t.agent(id(1002)).map(|a| a.resource_id),
            Some(Some(id(100)))
        );
        // A prebuild claim moves resources to another job, then resets.
        t.resources[2].job_id = id(10);
        t.index.reset();
        assert_eq!(agents(&t, 10), [id(1000), id(1001), id(1002), id(1003)]);
        assert!(agents(&t, 11).is_empty());
        // A shrunk table is re-indexed, not misread.
        t.agents.truncate(1);
        assert_eq!(t.agent(id(1002)), None);
        assert_eq!(agents(&t, 10), [id(1000)]);
        // Jobs by ID, and the build each job belongs to (every build above
        // has the job of its own number).
        for n in [3, 1, 2] {
            t.jobs.push(pending_job(id(n)));
        }
        assert_eq!(t.job(id(1)).map(|j| j.id), Some(id(1)));
        assert_eq!(t.job(id(9)), None);
        assert_eq!(t.build_of_job(id(4)).map(|b| b.workspace_id), Some(id(1)));
        assert_eq!(t.build_of_job(id(6)).map(|b| b.id), Some(id(6)));
        assert_eq!(t.build_of_job(id(7)), None);
        t.jobs.truncate(1);
        assert_eq!(t.job(id(1)), None);
        assert_eq!(t.job(id(3)).map(|j| j.id), Some(id(3)));
        // Workspaces by name: the first live one the pick accepts, in DB
        // order; a deletion (in place) and a rename (then a reset) count.
        for (n, name, owner) in [(1, "a", 1), (2, "b", 1), (3, "a", 2), (4, "a", 1)] {
            t.workspaces.push(Workspace {
                id: id(n),
                name: name.into(),
                owner_id: id(owner),
                ..Workspace::default()
            });
        }
        let named = |t: &Tables, name: &str, owner: Option<u128>| -> Option<Uuid> {
            let owned = |w: &Workspace| owner.is_none_or(|o| w.owner_id == id(o));
            t.live_workspace_named(name, owned).map(|w| w.id)
        };
        assert_eq!(named(&t, "a", None), Some(id(1)));
        assert_eq!(named(&t, "a", Some(2)), Some(id(3)));
        assert_eq!(named(&t, "c", None), None);
        t.workspaces[0].deleted = true;
        assert_eq!(named(&t, "a", Some(1)), Some(id(4)));
        t.workspaces[1].name = "c".into();
        t.index.reset();
        assert_eq!(named(&t, "c", Some(1)), Some(id(2)));
        assert_eq!(named(&t, "b", None), None);
        t.workspaces.truncate(2);
        assert_eq!(named(&t, "a", None), None);
    }

    #[test]
    fn indexed_lookups_answer_as_the_scans_over_many_rows_in_no_id_order() {
        // IDs scattered over the key space, so the index inserts anywhere.
        let scattered = |n: u128| id(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
        let mut t = Tables::default();
        for n in 0..300u128 {
            t.builds.push(WorkspaceBuild {
                id: scattered(n),
                workspace_id: scattered(1000 + n % 23),
                build_number: (n % 7) as i32,
                transition: Transition::Start,
                template_version_id: id(0),
                job_id: scattered(2000 + n),
                initiator_id: id(0),
                created_at: Time::ZERO,
                rich_parameters: vec![],
                daily_cost: 0,
            });
            t.jobs.push(pending_job(scattered(2000 + (n * 7) % 300)));
            t.workspaces.push(Workspace {
                id: scattered(n),
                name: format!("ws{}", n % 41),
                deleted: n % 3 == 0,
                ..Workspace::default()
            });
        }
        for n in 0..320u128 {
            let ws = scattered(1000 + n % 25);
            let latest = t.builds.iter().filter(|b| b.workspace_id == ws);
            let latest = latest.max_by_key(|b| b.build_number).map(|b| b.id);
            assert_eq!(t.latest_build(ws).map(|b| b.id), latest);
            let job = scattered(2000 + n);
            let row = t.jobs.iter().position(|j| j.id == job);
            assert_eq!(
                t.job(job).map(|j| j as *const _),
                row.map(|i| &t.jobs[i] as *const _)
            );
            let build = t.builds.iter().find(|b| b.job_id == job).map(|b| b.id);
            assert_eq!(t.build_of_job(job).map(|b| b.id), build);
            let name = format!("ws{}", n % 45);
            let live = t.workspaces.iter().find(|w| w.name == name && !w.deleted);
            let live = live.map(|w| w.id);
            assert_eq!(t.live_workspace_named(&name, |_| true).map(|w| w.id), live);
        }
    }
}
