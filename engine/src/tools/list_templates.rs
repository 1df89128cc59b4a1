//! `list_templates` (spec 1 §4.1, seed era `03f10acc`): the organization's
//! templates a chat may use, most popular first, ten per page.
//!
//! Flow: owner authorization → store filter (org, not deleted or deprecated,
//! query, allowlist) → unique owner counts (errors ignored) → stable sort by
//! active developers, descending → page → items.

use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use super::{decode_args, truncate_with_ellipsis, Property, ToolDefinition, ToolEnv, ToolResponse};
use crate::gojson::Value;
use crate::model::Template;
use crate::ports::TemplateFilter;

pub const NAME: &str = "list_templates";

/// `listTemplatesPageSize`.
pub const PAGE_SIZE: usize = 10;

/// `templatepreview.ListDescriptionRunes`: an item's description cap.
pub const DESCRIPTION_MAX_RUNES: usize = 200;

/// An item's abstract cap.
pub const ABSTRACT_MAX_RUNES: usize = 500;

const DESCRIPTION: &str = "List available workspace templates. Optionally filter by a search \
query matching template name, display name, description, or abstract. Description is short UI \
text; abstract is richer selection context. Results are ordered by number of active developers \
(most popular first). Returns 10 per page. Use the page parameter to paginate through results.";

pub fn definition() -> ToolDefinition {
    ToolDefinition {
        name: NAME,
        description: DESCRIPTION,
        properties: vec![
            Property {
                name: "query",
                type_: "string",
                description: "Optional text to filter templates by name, display name, \
                              description, or abstract.",
                required: false,
            },
            Property {
                name: "page",
                type_: "integer",
                description: "Page number for pagination (starts at 1). Each page returns up \
                              to 10 templates.",
                required: false,
            },
        ],
    }
}

/// The args struct: both fields `omitempty`; a missing or `null` field is
/// Go's zero value.
#[derive(Debug, Default, Deserialize)]
struct Args {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

pub async fn run(env: &ToolEnv<'_>, input: &str) -> ToolResponse {
    let args: Args = match decode_args(input) {
        Ok(args) => args,
        Err(response) => return response,
    };
    if let Err(response) = env.as_owner() {
        return response;
    }
    let filter = template_filter(env, args.query.as_deref().unwrap_or(""));
    let templates = match env.store.get_templates_with_filter(&filter) {
        Ok(templates) => templates,
        Err(err) => return ToolResponse::text_error(err.to_string()),
    };
    let ranked = rank_by_active_developers(env, templates);
    ToolResponse::json(&page_result(&ranked, args.page.unwrap_or(0)))
}

/// Steps 2–3: org (nil ⇒ every org), trimmed query, allowlist keys.
fn template_filter(env: &ToolEnv<'_>, query: &str) -> TemplateFilter {
    let organization_id = (!env.organization_id.is_nil()).then_some(env.organization_id);
    let ids = env
        .allowed_template_ids
        .map(|ids| ids.iter().copied().collect())
        .unwrap_or_default();
    TemplateFilter {
        organization_id,
        query: query.trim().to_string(),
        ids,
    }
}

/// Steps 5–6: owner counts (a failed count query reads as all zero), then a
/// stable sort by count, descending; ties keep the store's order.
fn rank_by_active_developers(env: &ToolEnv<'_>, templates: Vec<Template>) -> Vec<(Template, i64)> {
    let mut counts: BTreeMap<Uuid, i64> = BTreeMap::new();
    if !templates.is_empty() {
        let ids: Vec<Uuid> = templates.iter().map(|t| t.id).collect();
        if let Ok(rows) = env
            .store
            .get_workspace_unique_owner_count_by_template_ids(&ids)
        {
            counts.extend(rows);
        }
    }
    let mut ranked: Vec<(Template, i64)> = templates
        .into_iter()
        .map(|t| {
            let count = counts.get(&t.id).copied().unwrap_or(0);
            (t, count)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1));
    ranked
}

/// Steps 7 and 9: the page (`page < 1` ⇒ 1; past the end ⇒ empty) and the
/// result map.
fn page_result(ranked: &[(Template, i64)], page: i64) -> Value {
    let page = page.max(1);
    let total = ranked.len();
    let total_pages = total.div_ceil(PAGE_SIZE).max(1);
    let start = usize::try_from(page - 1)
        .ok()
        .and_then(|p| p.checked_mul(PAGE_SIZE))
        .unwrap_or(usize::MAX)
        .min(total);
    let end = start.saturating_add(PAGE_SIZE).min(total);
    let items: Vec<Value> = ranked[start..end]
        .iter()
        .map(|(t, count)| item(t, *count))
        .collect();
    assert!(items.len() <= PAGE_SIZE, "a page holds at most {PAGE_SIZE}");
    let mut result = Value::map();
    result.insert("count", items.len());
    result.insert("page", page);
    result.insert("templates", Value::Array(items));
    result.insert("total_count", total);
    result.insert("total_pages", total_pages);
    result
}

/// Step 8: one template as a Go map.
fn item(t: &Template, active_developers: i64) -> Value {
    let mut item = Value::map();
    item.insert("id", t.id);
    item.insert("name", t.name.as_str());
    item.insert("organization_id", t.organization_id);
    let display_name = t.display_name.trim();
    if !display_name.is_empty() {
        item.insert("display_name", display_name);
    }
    let description = t.description.trim();
    if !description.is_empty() {
        let description = truncate_with_ellipsis(description, DESCRIPTION_MAX_RUNES);
        item.insert("description", description);
    }
    let abstract_text = t.abstract_text.trim();
    if !abstract_text.is_empty() {
        item.insert(
            "abstract",
            truncate_with_ellipsis(abstract_text, ABSTRACT_MAX_RUNES),
        );
    }
    if active_developers > 0 {
        item.insert("active_developers", active_developers);
    }
    item
}
