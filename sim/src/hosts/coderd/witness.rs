//! What coderd writes down the instant it built a tool's response, for the
//! truthfulness oracle (`observe/truth.rs`): a `response` mark with the
//! call's turn and number, and — for the claims the rest of the trace
//! cannot rebuild — what the database held then: the owner's quota when
//! the response reports one, the template when the response describes one.
//! Read straight from the tables (no query faults): this is the world, not
//! what the engine could read of it.

use chatsim_engine::memory::Tables;
use serde_json::Value;
use uuid::Uuid;

use super::CoderdCore;
use crate::observe::trace::{Event, ParameterTruth, QuotaTruth, TemplateTruth};
use crate::transport::Net;

/// Traces the `response` mark of call `call` of turn `turn` in chat
/// `chat`, whose response is `content`.
pub(super) fn record<N: Net>(
    core: &CoderdCore<N>,
    chat: &str,
    turn: usize,
    call: usize,
    content: &str,
) {
    let claims = match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (quota, template) = {
        let t = core.store.tables();
        let chat_id = core.chat_names.get(chat).copied();
        let quota = claims
            .get("quota")
            .and(chat_id)
            .and_then(|chat_id| quota(&t, chat_id, &claims));
        let template = claims
            .get("template")
            .and_then(|tpl| tpl.get("id"))
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
            .and_then(|id| template(&t, id));
        (quota, template)
    };
    core.emit(Event::Response {
        turn,
        call,
        quota,
        template,
    });
}

/// The chat owner's quota in the organization of the workspace the
/// response's `build_id` names (start_workspace reads it there), else in
/// the chat's organization (create_workspace's).
fn quota(t: &Tables, chat_id: Uuid, claims: &serde_json::Map<String, Value>) -> Option<QuotaTruth> {
    let chat = t.chats.iter().find(|c| c.id == chat_id)?;
    let owner = chat.owner_id;
    let org = claims
        .get("build_id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .and_then(|id| t.build(id))
        .and_then(|b| t.workspace(b.workspace_id))
        .map_or(chat.organization_id, |w| w.organization_id);
    let credits_consumed = t
        .workspaces
        .iter()
        .filter(|w| w.owner_id == owner && w.organization_id == org && !w.deleted)
        .filter_map(|w| t.latest_build(w.id))
        .map(|b| b.daily_cost)
        .sum();
    let member = t.organization_members.contains(&(org, owner));
    let budget = t
        .groups
        .iter()
        .filter(|g| g.organization_id == org)
        .filter(|g| g.members.contains(&owner) || (g.id == org && member))
        .map(|g| g.quota_allowance)
        .sum();
    Some(QuotaTruth {
        credits_consumed,
        budget,
    })
}

/// The template's active version and that version's parameters.
fn template(t: &Tables, id: Uuid) -> Option<TemplateTruth> {
    let template = t.template(id)?;
    let parameters = t
        .version_parameters(template.active_version_id)
        .into_iter()
        .map(|p| ParameterTruth {
            name: p.name,
            required: p.required,
            default: p.default_value,
        })
        .collect();
    Some(TemplateTruth {
        id: id.to_string(),
        active_version_id: template.active_version_id.to_string(),
        parameters,
    })
}
