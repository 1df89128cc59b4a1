//! Every `Store` call as a value: the log a [`StoreInterposer`] keeps.
//!
//! [`StoreInterposer`]: super::StoreInterposer

use uuid::Uuid;

use crate::memory::Query;
use crate::ports::TemplateFilter;
use crate::time::Time;

/// One call of the `Store` port with its arguments; one variant per method,
/// named as its [`Query`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are the method's arguments, named as there
pub enum StoreCall {
    /// `get_authorization_user_roles`.
    GetAuthorizationUserRoles { user_id: Uuid },
    /// `get_chat_by_id`.
    GetChatById { chat_id: Uuid },
    /// `update_chat_workspace_binding`.
    UpdateChatWorkspaceBinding {
        chat_id: Uuid,
        workspace_id: Option<Uuid>,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    },
    /// `update_chat_build_agent_binding`.
    UpdateChatBuildAgentBinding {
        chat_id: Uuid,
        build_id: Option<Uuid>,
        agent_id: Option<Uuid>,
    },
    /// `get_template_by_id`.
    GetTemplateById { template_id: Uuid },
    /// `get_templates_with_filter`.
    GetTemplatesWithFilter { filter: TemplateFilter },
    /// `get_workspace_unique_owner_count_by_template_ids`.
    GetWorkspaceUniqueOwnerCountByTemplateIds { template_ids: Vec<Uuid> },
    /// `get_template_version_by_id`.
    GetTemplateVersionById { version_id: Uuid },
    /// `get_template_version_parameters`.
    GetTemplateVersionParameters { version_id: Uuid },
    /// `get_presets_by_template_version_id`.
    GetPresetsByTemplateVersionId { version_id: Uuid },
    /// `get_preset_parameters_by_template_version_id`.
    GetPresetParametersByTemplateVersionId { version_id: Uuid },
    /// `get_workspace_by_id`.
    GetWorkspaceById { workspace_id: Uuid },
    /// `get_latest_workspace_build_by_workspace_id`.
    GetLatestWorkspaceBuildByWorkspaceId { workspace_id: Uuid },
    /// `get_workspace_build_by_id`.
    GetWorkspaceBuildById { build_id: Uuid },
    /// `get_provisioner_job_by_id`.
    GetProvisionerJobById { job_id: Uuid },
    /// `get_workspace_agents_in_latest_build_by_workspace_id`.
    GetWorkspaceAgentsInLatestBuildByWorkspaceId { workspace_id: Uuid },
    /// `get_workspace_agent_by_id`.
    GetWorkspaceAgentById { agent_id: Uuid },
    /// `get_workspace_agent_lifecycle_state_by_id`.
    GetWorkspaceAgentLifecycleStateById { agent_id: Uuid },
    /// `get_workspace_resource_by_id`.
    GetWorkspaceResourceById { resource_id: Uuid },
    /// `get_quota_consumed_for_user`.
    GetQuotaConsumedForUser {
        owner_id: Uuid,
        organization_id: Uuid,
    },
    /// `get_quota_allowance_for_user`.
    GetQuotaAllowanceForUser {
        user_id: Uuid,
        organization_id: Uuid,
    },
    /// `get_chat_workspace_ttl`.
    GetChatWorkspaceTtl,
    /// `get_chat_messages_for_prompt`.
    GetChatMessagesForPrompt { chat_id: Uuid },
    /// `insert_chat_message`.
    InsertChatMessage {
        chat_id: Uuid,
        role: String,
        content: String,
        now: Time,
    },
}

impl StoreCall {
    /// The query this call runs (what failures and changes match on).
    pub fn query(&self) -> Query {
        match self {
            StoreCall::GetAuthorizationUserRoles { .. } => Query::GetAuthorizationUserRoles,
            StoreCall::GetChatById { .. } => Query::GetChatById,
            StoreCall::UpdateChatWorkspaceBinding { .. } => Query::UpdateChatWorkspaceBinding,
            StoreCall::UpdateChatBuildAgentBinding { .. } => Query::UpdateChatBuildAgentBinding,
            StoreCall::GetTemplateById { .. } => Query::GetTemplateById,
            StoreCall::GetTemplatesWithFilter { .. } => Query::GetTemplatesWithFilter,
            StoreCall::GetWorkspaceUniqueOwnerCountByTemplateIds { .. } => {
                Query::GetWorkspaceUniqueOwnerCountByTemplateIds
            }
            StoreCall::GetTemplateVersionById { .. } => Query::GetTemplateVersionById,
            StoreCall::GetTemplateVersionParameters { .. } => Query::GetTemplateVersionParameters,
            StoreCall::GetPresetsByTemplateVersionId { .. } => Query::GetPresetsByTemplateVersionId,
            StoreCall::GetPresetParametersByTemplateVersionId { .. } => {
                Query::GetPresetParametersByTemplateVersionId
            }
            StoreCall::GetWorkspaceById { .. } => Query::GetWorkspaceById,
            StoreCall::GetLatestWorkspaceBuildByWorkspaceId { .. } => {
                Query::GetLatestWorkspaceBuildByWorkspaceId
            }
            StoreCall::GetWorkspaceBuildById { .. } => Query::GetWorkspaceBuildById,
            StoreCall::GetProvisionerJobById { .. } => Query::GetProvisionerJobById,
            StoreCall::GetWorkspaceAgentsInLatestBuildByWorkspaceId { .. } => {
                Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId
            }
            StoreCall::GetWorkspaceAgentById { .. } => Query::GetWorkspaceAgentById,
            StoreCall::GetWorkspaceAgentLifecycleStateById { .. } => {
                Query::GetWorkspaceAgentLifecycleStateById
            }
            StoreCall::GetWorkspaceResourceById { .. } => Query::GetWorkspaceResourceById,
            StoreCall::GetQuotaConsumedForUser { .. } => Query::GetQuotaConsumedForUser,
            StoreCall::GetQuotaAllowanceForUser { .. } => Query::GetQuotaAllowanceForUser,
            StoreCall::GetChatWorkspaceTtl => Query::GetChatWorkspaceTtl,
            StoreCall::GetChatMessagesForPrompt { .. } => Query::GetChatMessagesForPrompt,
            StoreCall::InsertChatMessage { .. } => Query::InsertChatMessage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_named_as_their_queries() {
        let call = StoreCall::GetChatWorkspaceTtl;
        assert_eq!(format!("{:?}", call.query()), "GetChatWorkspaceTtl");
        let call = StoreCall::GetChatById {
            chat_id: Uuid::nil(),
        };
        assert!(format!("{call:?}").starts_with(&format!("{:?}", call.query())));
    }
}
