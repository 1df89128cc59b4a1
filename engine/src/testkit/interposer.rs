//! A `Store` that stands between the engine and a [`MemStore`]: it logs
//! every call as a [`StoreCall`] and, on the Nth call of a query, fails it,
//! edits the rows first, or changes what it returns.
//!
//! ```ignore
//! let interposer = Rc::new(StoreInterposer::new(world.store.clone()));
//! interposer
//!     .fail_nth(Query::GetChatById, 2, StoreError::Other("db down".into()))
//!     .change_nth(Query::UpdateChatBuildAgentBinding, 1, move |store, _written| {
//!         store.update_chat_workspace_binding(chat, Some(other_ws), None, None)
//!     });
//! let env = ToolEnv { store: interposer.as_ref(), ..world.env() };
//! ```

use std::any::{type_name, Any};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use uuid::Uuid;

use super::store_calls::StoreCall;
use crate::memory::{MemStore, Query, Tables};
use crate::model::*;
use crate::ports::{Store, StoreError, StoreResult, TemplateFilter};
use crate::time::Time;

type AnyChange = Box<dyn FnOnce(&MemStore, Box<dyn Any>) -> Box<dyn Any>>;

enum Action {
    Fail(StoreError),
    EditBefore(Box<dyn FnOnce(&mut Tables)>),
    Change { takes: &'static str, f: AnyChange },
}

struct Rule {
    query: Query,
    nth: u32,
    action: Action,
}

#[derive(Default)]
struct State {
    log: Vec<StoreCall>,
    counts: BTreeMap<Query, u32>,
    rules: Vec<Rule>,
}

/// A recording, fault-injecting `Store` over a [`MemStore`]. Calls are
/// counted per query from 1; a rule for the Nth call fires once.
pub struct StoreInterposer {
    inner: Rc<MemStore>,
    state: RefCell<State>,
}

impl StoreInterposer {
    /// Passes every call through to `inner` (logging it) until rules are added.
    pub fn new(inner: Rc<MemStore>) -> StoreInterposer {
        StoreInterposer {
            inner,
            state: RefCell::default(),
        }
    }

    /// The store behind the interposer.
    pub fn inner(&self) -> &Rc<MemStore> {
        &self.inner
    }

    /// Every call so far, in order (failed and changed calls included).
    pub fn calls(&self) -> Vec<StoreCall> {
        self.state.borrow().log.clone()
    }

    /// The calls of one query so far, in order.
    pub fn calls_of(&self, query: Query) -> Vec<StoreCall> {
        let state = self.state.borrow();
        state
            .log
            .iter()
            .filter(|c| c.query() == query)
            .cloned()
            .collect()
    }

    /// How many times `query` was called through the interposer.
    pub fn count(&self, query: Query) -> u32 {
        self.state.borrow().counts.get(&query).copied().unwrap_or(0)
    }

    /// The `nth` call of `query` (from 1) fails with `error`; the store
    /// behind is not reached (a failed write writes nothing).
    pub fn fail_nth(&self, query: Query, nth: u32, error: StoreError) -> &Self {
        self.add(query, nth, Action::Fail(error))
    }

    /// Right before the `nth` call of `query` runs, `edit` changes the rows
    /// (another writer got in first); the call sees the change.
    pub fn edit_before_nth(
        &self,
        query: Query,
        nth: u32,
        edit: impl FnOnce(&mut Tables) + 'static,
    ) -> &Self {
        self.add(query, nth, Action::EditBefore(Box::new(edit)))
    }

    /// The `nth` call of `query` (from 1) runs, then `change` gets the store
    /// and that call's result and returns what the caller sees instead. `T`
    /// must be the query's row type (e.g. `Chat` for `GetChatById`); a
    /// mismatch panics when the call is made.
    pub fn change_nth<T: 'static>(
        &self,
        query: Query,
        nth: u32,
        change: impl FnOnce(&MemStore, StoreResult<T>) -> StoreResult<T> + 'static,
    ) -> &Self {
        let takes = type_name::<StoreResult<T>>();
        let f: AnyChange = Box::new(move |store, result| {
            let result = *result
                .downcast::<StoreResult<T>>()
                .unwrap_or_else(|_| panic!("change_nth({query:?}) takes {takes}"));
            Box::new(change(store, result))
        });
        self.add(query, nth, Action::Change { takes, f })
    }

    fn add(&self, query: Query, nth: u32, action: Action) -> &Self {
        assert!(nth >= 1, "calls are counted from 1");
        let rule = Rule { query, nth, action };
        self.state.borrow_mut().rules.push(rule);
        self
    }

    /// Logs the call and takes the rules for it, in the order they were added.
    fn record(&self, call: StoreCall) -> Vec<Action> {
        let mut state = self.state.borrow_mut();
        let query = call.query();
        state.log.push(call);
        let count = state.counts.entry(query).or_default();
        *count += 1;
        let nth = *count;
        let (due, kept): (Vec<Rule>, Vec<Rule>) = std::mem::take(&mut state.rules)
            .into_iter()
            .partition(|r| r.query == query && r.nth == nth);
        state.rules = kept;
        due.into_iter().map(|r| r.action).collect()
    }

    /// Runs one call through the rules due for it.
    fn intercept<T: 'static>(
        &self,
        call: StoreCall,
        run: impl FnOnce(&MemStore) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let query = call.query();
        let mut changes = Vec::new();
        let mut failure = None;
        for action in self.record(call) {
            match action {
                Action::EditBefore(edit) => self.inner.edit(edit),
                Action::Fail(error) => failure = failure.or(Some(error)),
                Action::Change { takes, f } => changes.push((takes, f)),
            }
        }
        let mut result = match failure {
            Some(error) => Err(error),
            None => run(&self.inner),
        };
        for (takes, change) in changes {
            let returned = change(&self.inner, Box::new(result));
            result = *returned.downcast::<StoreResult<T>>().unwrap_or_else(|_| {
                panic!(
                    "change_nth({query:?}) takes {takes}, the query returns {}",
                    type_name::<StoreResult<T>>()
                )
            });
        }
        result
    }
}

impl Store for StoreInterposer {
    fn get_authorization_user_roles(&self, user_id: Uuid) -> StoreResult<Vec<String>> {
        let call = StoreCall::GetAuthorizationUserRoles { user_id };
        self.intercept(call, |s| s.get_authorization_user_roles(user_id))
    }

    fn get_chat_by_id(&self, chat_id: Uuid) -> StoreResult<Chat> {
        let call = StoreCall::GetChatById { chat_id };
        self.intercept(call, |s| s.get_chat_by_id(chat_id))
    }

    fn update_chat_workspace_binding(
        &self,
        chat_id: Uuid,
        workspace_id: Option<Uuid>,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    ) -> StoreResult<Chat> {
        let call = StoreCall::UpdateChatWorkspaceBinding {
            chat_id,
            workspace_id,
            build_id,
            agent_id,
        };
        self.intercept(call, |s| {
            s.update_chat_workspace_binding(chat_id, workspace_id, build_id, agent_id)
        })
    }

    fn update_chat_build_agent_binding(
        &self,
        chat_id: Uuid,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    ) -> StoreResult<Chat> {
        let call = StoreCall::UpdateChatBuildAgentBinding {
            chat_id,
            build_id,
            agent_id,
        };
        self.intercept(call, |s| {
            s.update_chat_build_agent_binding(chat_id, build_id, agent_id)
        })
    }

    fn get_template_by_id(&self, template_id: Uuid) -> StoreResult<Template> {
        let call = StoreCall::GetTemplateById { template_id };
        self.intercept(call, |s| s.get_template_by_id(template_id))
    }

    fn get_templates_with_filter(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>> {
        let call = StoreCall::GetTemplatesWithFilter {
            filter: filter.clone(),
        };
        self.intercept(call, |s| s.get_templates_with_filter(filter))
    }

    fn get_workspace_unique_owner_count_by_template_ids(
        &self,
        template_ids: &[Uuid],
    ) -> StoreResult<Vec<(Uuid, i64)>> {
        let call = StoreCall::GetWorkspaceUniqueOwnerCountByTemplateIds {
            template_ids: template_ids.to_vec(),
        };
        self.intercept(call, |s| {
            s.get_workspace_unique_owner_count_by_template_ids(template_ids)
        })
    }

    fn get_template_version_by_id(&self, version_id: Uuid) -> StoreResult<TemplateVersion> {
        let call = StoreCall::GetTemplateVersionById { version_id };
        self.intercept(call, |s| s.get_template_version_by_id(version_id))
    }

    fn get_template_version_parameters(
        &self,
        version_id: Uuid,
    ) -> StoreResult<Vec<TemplateVersionParameter>> {
        let call = StoreCall::GetTemplateVersionParameters { version_id };
        self.intercept(call, |s| s.get_template_version_parameters(version_id))
    }

    fn get_presets_by_template_version_id(&self, version_id: Uuid) -> StoreResult<Vec<Preset>> {
        let call = StoreCall::GetPresetsByTemplateVersionId { version_id };
        self.intercept(call, |s| s.get_presets_by_template_version_id(version_id))
    }

    fn get_preset_parameters_by_template_version_id(
        &self,
        version_id: Uuid,
    ) -> StoreResult<Vec<PresetParameter>> {
        let call = StoreCall::GetPresetParametersByTemplateVersionId { version_id };
        self.intercept(call, |s| {
            s.get_preset_parameters_by_template_version_id(version_id)
        })
    }

    fn get_workspace_by_id(&self, workspace_id: Uuid) -> StoreResult<Workspace> {
        let call = StoreCall::GetWorkspaceById { workspace_id };
        self.intercept(call, |s| s.get_workspace_by_id(workspace_id))
    }

    fn get_latest_workspace_build_by_workspace_id(
        &self,
        workspace_id: Uuid,
    ) -> StoreResult<WorkspaceBuild> {
        let call = StoreCall::GetLatestWorkspaceBuildByWorkspaceId { workspace_id };
        self.intercept(call, |s| {
            s.get_latest_workspace_build_by_workspace_id(workspace_id)
        })
    }

    fn get_workspace_build_by_id(&self, build_id: Uuid) -> StoreResult<WorkspaceBuild> {
        let call = StoreCall::GetWorkspaceBuildById { build_id };
        self.intercept(call, |s| s.get_workspace_build_by_id(build_id))
    }

    fn get_provisioner_job_by_id(&self, job_id: Uuid) -> StoreResult<ProvisionerJob> {
        let call = StoreCall::GetProvisionerJobById { job_id };
        self.intercept(call, |s| s.get_provisioner_job_by_id(job_id))
    }

    fn get_workspace_agents_in_latest_build_by_workspace_id(
        &self,
        workspace_id: Uuid,
    ) -> StoreResult<Vec<WorkspaceAgent>> {
        let call = StoreCall::GetWorkspaceAgentsInLatestBuildByWorkspaceId { workspace_id };
        self.intercept(call, |s| {
            s.get_workspace_agents_in_latest_build_by_workspace_id(workspace_id)
        })
    }

    fn get_workspace_agent_by_id(&self, agent_id: Uuid) -> StoreResult<WorkspaceAgent> {
        let call = StoreCall::GetWorkspaceAgentById { agent_id };
        self.intercept(call, |s| s.get_workspace_agent_by_id(agent_id))
    }

    fn get_workspace_agent_lifecycle_state_by_id(
        &self,
        agent_id: Uuid,
    ) -> StoreResult<LifecycleState> {
        let call = StoreCall::GetWorkspaceAgentLifecycleStateById { agent_id };
        self.intercept(call, |s| {
            s.get_workspace_agent_lifecycle_state_by_id(agent_id)
        })
    }

    fn get_workspace_resource_by_id(&self, resource_id: Uuid) -> StoreResult<WorkspaceResource> {
        let call = StoreCall::GetWorkspaceResourceById { resource_id };
        self.intercept(call, |s| s.get_workspace_resource_by_id(resource_id))
    }

    fn get_quota_consumed_for_user(
        &self,
        owner_id: Uuid,
        organization_id: Uuid,
    ) -> StoreResult<i64> {
        let call = StoreCall::GetQuotaConsumedForUser {
            owner_id,
            organization_id,
        };
        self.intercept(call, |s| {
            s.get_quota_consumed_for_user(owner_id, organization_id)
        })
    }

    fn get_quota_allowance_for_user(
        &self,
        user_id: Uuid,
        organization_id: Uuid,
    ) -> StoreResult<i64> {
        let call = StoreCall::GetQuotaAllowanceForUser {
            user_id,
            organization_id,
        };
        self.intercept(call, |s| {
            s.get_quota_allowance_for_user(user_id, organization_id)
        })
    }

    fn get_chat_workspace_ttl(&self) -> StoreResult<String> {
        self.intercept(StoreCall::GetChatWorkspaceTtl, |s| {
            s.get_chat_workspace_ttl()
        })
    }

    fn get_chat_messages_for_prompt(&self, chat_id: Uuid) -> StoreResult<Vec<ChatMessage>> {
        let call = StoreCall::GetChatMessagesForPrompt { chat_id };
        self.intercept(call, |s| s.get_chat_messages_for_prompt(chat_id))
    }

    fn insert_chat_message(
        &self,
        chat_id: Uuid,
        role: &str,
        content: &str,
        now: Time,
    ) -> StoreResult<ChatMessage> {
        let call = StoreCall::InsertChatMessage {
            chat_id,
            role: role.to_string(),
            content: content.to_string(),
            now,
        };
        self.intercept(call, |s| s.insert_chat_message(chat_id, role, content, now))
    }
}
