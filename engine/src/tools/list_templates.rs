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

/// The tool's name.
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

/// The tool's name, description and input schema (spec 1 §4.1): optional
/// `query` and `page`.
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

/// Runs the tool with the model's raw JSON input (spec 1 §4.1).
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
    // `sort_by_key` is stable: ties keep the store order.
    ranked.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::memory::Query;
    use crate::model::Workspace;
    use crate::ports::StoreError;
    use crate::testkit::{TemplateIds, World};

    fn call(world: &World, input: &str) -> ToolResponse {
        world.run(run(&world.env(), input))
    }

    fn json(content: &str) -> ToolResponse {
        ToolResponse::text(content)
    }

    /// `owners` distinct users each own one live workspace of the template.
    fn used_by(world: &World, template: &TemplateIds, owners: u128) {
        world.store.edit(|t| {
            for owner in 0..owners {
                t.workspaces.push(Workspace {
                    id: Uuid::from_u128(0x5000 + t.workspaces.len() as u128),
                    owner_id: Uuid::from_u128(0x1000 + owner),
                    organization_id: t.organizations[0].id,
                    template_id: template.template,
                    name: format!("ws-{owner}"),
                    ..Workspace::default()
                });
            }
        });
    }

    fn names(response: &ToolResponse) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(&response.content).expect("json");
        value["templates"]
            .as_array()
            .expect("templates array")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_string())
            .collect()
    }

    #[test]
    fn definition_has_the_seed_description_and_two_optional_properties() {
        let def = definition();
        assert_eq!(def.name, "list_templates");
        assert_eq!(
            def.description,
            "List available workspace templates. Optionally filter by a search query matching \
             template name, display name, description, or abstract. Description is short UI \
             text; abstract is richer selection context. Results are ordered by number of active \
             developers (most popular first). Returns 10 per page. Use the page parameter to \
             paginate through results."
        );
        assert_eq!(
            def.input_schema().to_json(),
            r#"{"type":"object","properties":{"query":{"type":"string","description":"Optional text to filter templates by name, display name, description, or abstract."},"page":{"type":"integer","description":"Page number for pagination (starts at 1). Each page returns up to 10 templates."}},"required":[]}"#
        );
    }

    #[test]
    fn a_busy_org_lists_most_popular_first_with_sorted_keys() {
        let world = World::new();
        // ids: template 4, 6, 8 (versions 5, 7, 9).
        let quiet = world
            .template("alpha")
            .edit(|t| {
                t.display_name = "  Alpha  ".into();
                t.description = "   ".into();
            })
            .create();
        let busy = world
            .template("beta")
            .edit(|t| {
                t.description = "  Go & <Rust> dev box \n".into();
                t.abstract_text = " Ideal for backend work. ".into();
            })
            .create();
        let middling = world.template("gamma").create();
        used_by(&world, &busy, 3);
        used_by(&world, &middling, 1);
        let _ = quiet;

        let response = call(&world, "{}");
        assert_eq!(
            response,
            json(concat!(
                r#"{"count":3,"page":1,"templates":["#,
                r#"{"abstract":"Ideal for backend work.","active_developers":3,"#,
                r#""description":"Go \u0026 \u003cRust\u003e dev box","#,
                r#""id":"b54a0000-0000-0000-0000-000000000006","name":"beta","#,
                r#""organization_id":"9e370000-0000-0000-0000-000000000001"},"#,
                r#"{"active_developers":1,"id":"f1b80000-0000-0000-0000-000000000008","#,
                r#""name":"gamma","organization_id":"9e370000-0000-0000-0000-000000000001"},"#,
                r#"{"display_name":"Alpha","id":"78dc0000-0000-0000-0000-000000000004","#,
                r#""name":"alpha","organization_id":"9e370000-0000-0000-0000-000000000001"}"#,
                r#"],"total_count":3,"total_pages":1}"#
            ))
        );
    }

    #[test]
    fn ties_keep_store_order_name_then_lowercase_id() {
        let world = World::new();
        let b = world.template("b").create(); // 78dc…04
        let a = world.template("a").create(); // b54a…06
        let dup_first = world.template("dup").create(); // f1b8…08
        let dup_second = world.template("dup").create(); // 2e26…0a
        used_by(&world, &b, 2);
        used_by(&world, &dup_first, 2);
        let _ = (a, dup_second);

        let response = call(&world, "");
        let ids: Vec<String> = serde_json::from_str::<serde_json::Value>(&response.content)
            .unwrap()["templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            ids,
            [
                "78dc0000-0000-0000-0000-000000000004", // b, 2 devs
                "f1b80000-0000-0000-0000-000000000008", // dup, 2 devs
                "b54a0000-0000-0000-0000-000000000006", // a, 0
                "2e260000-0000-0000-0000-00000000000a", // dup, 0
            ]
        );
    }

    #[test]
    fn active_developers_count_distinct_owners_of_live_workspaces() {
        let world = World::new();
        let t = world.template("solo").create();
        used_by(&world, &t, 1);
        used_by(&world, &t, 2); // owner 0x1000 again, plus 0x1001
        world.store.edit(|tables| {
            tables.workspaces.push(Workspace {
                id: Uuid::from_u128(0x9999),
                owner_id: Uuid::from_u128(0x2000),
                template_id: t.template,
                deleted: true,
                ..Workspace::default()
            });
        });
        let response = call(&world, "{}");
        assert!(
            response.content.contains(r#""active_developers":2,"#),
            "{}",
            response.content
        );
    }

    #[test]
    fn an_owner_without_roles_gets_the_authorization_error() {
        let world = World::new();
        world.template("alpha").create();
        world.store.fail(
            Query::GetAuthorizationUserRoles,
            StoreError::Other("pq: connection refused".into()),
        );
        assert_eq!(
            call(&world, "{}"),
            ToolResponse::text_error("load user authorization: pq: connection refused")
        );
        assert_eq!(world.store.calls(Query::GetTemplatesWithFilter), 0);

        let unknown_owner = World::new();
        unknown_owner.store.edit(|t| t.users.clear());
        assert_eq!(
            call(&unknown_owner, "{}"),
            ToolResponse::text_error("load user authorization: sql: no rows in result set")
        );
    }

    #[test]
    fn a_failed_template_query_is_returned_verbatim() {
        let world = World::new();
        world.template("alpha").create();
        world.store.fail(
            Query::GetTemplatesWithFilter,
            StoreError::Other("get templates: deadlock detected".into()),
        );
        assert_eq!(
            call(&world, "{}"),
            ToolResponse::text_error("get templates: deadlock detected")
        );
        assert_eq!(
            world
                .store
                .calls(Query::GetWorkspaceUniqueOwnerCountByTemplateIds),
            0
        );
    }

    #[test]
    fn a_failed_owner_count_reads_as_zero_for_everyone() {
        let world = World::new();
        let b = world.template("b").create();
        world.template("a").create();
        used_by(&world, &b, 5);
        world.store.fail(
            Query::GetWorkspaceUniqueOwnerCountByTemplateIds,
            StoreError::Other("timeout".into()),
        );
        let response = call(&world, "{}");
        assert!(!response.is_error);
        assert_eq!(names(&response), ["a", "b"]);
        assert!(!response.content.contains("active_developers"));
    }

    #[test]
    fn an_empty_org_returns_an_empty_array_and_one_page() {
        let world = World::new();
        assert_eq!(
            call(&world, "{}"),
            json(r#"{"count":0,"page":1,"templates":[],"total_count":0,"total_pages":1}"#)
        );
        assert_eq!(
            world
                .store
                .calls(Query::GetWorkspaceUniqueOwnerCountByTemplateIds),
            0
        );
    }

    #[test]
    fn pages_hold_ten_and_clamp_low_pages_to_one() {
        let world = World::new();
        for n in 0..23 {
            world.template(&format!("t{n:02}")).create();
        }
        let page = |input: &str| call(&world, input);

        let first = page(r#"{"page":1}"#);
        assert_eq!(
            names(&first),
            ["t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09"]
        );
        assert!(first
            .content
            .ends_with(r#"],"total_count":23,"total_pages":3}"#));
        assert!(first.content.starts_with(r#"{"count":10,"page":1,"#));
        for low in [r#"{"page":0}"#, r#"{"page":-7}"#, "{}", r#"{"page":null}"#] {
            assert_eq!(page(low), first, "{low}");
        }

        let third = page(r#"{"page":3}"#);
        assert_eq!(names(&third), ["t20", "t21", "t22"]);
        assert!(third.content.starts_with(r#"{"count":3,"page":3,"#));

        for past in [4, 1000, i64::MAX] {
            assert_eq!(
                page(&format!(r#"{{"page":{past}}}"#)),
                json(&format!(
                    r#"{{"count":0,"page":{past},"templates":[],"total_count":23,"total_pages":3}}"#
                ))
            );
        }
    }

    #[test]
    fn exactly_twenty_templates_make_two_pages() {
        let world = World::new();
        for n in 0..20 {
            world.template(&format!("t{n:02}")).create();
        }
        let second = call(&world, r#"{"page":2}"#);
        assert_eq!(names(&second).len(), 10);
        assert!(second
            .content
            .ends_with(r#""total_count":20,"total_pages":2}"#));
        let third = call(&world, r#"{"page":3}"#);
        assert_eq!(
            third,
            json(r#"{"count":0,"page":3,"templates":[],"total_count":20,"total_pages":2}"#)
        );
    }

    #[test]
    fn only_live_current_templates_of_the_chat_org_are_listed() {
        let world = World::new();
        let elsewhere = Uuid::from_u128(0xE15E);
        world.template("mine").create();
        world.template("theirs").organization(elsewhere).create();
        world.template("gone").edit(|t| t.deleted = true).create();
        world.template("old").edit(|t| t.deprecated = true).create();
        assert_eq!(names(&call(&world, "{}")), ["mine"]);
    }

    #[test]
    fn a_nil_organization_lists_every_organization() {
        let world = World::new();
        world.template("mine").create();
        world
            .template("theirs")
            .organization(Uuid::from_u128(0xE15E))
            .create();
        world.template("old").edit(|t| t.deprecated = true).create();
        let env = ToolEnv {
            organization_id: Uuid::nil(),
            ..world.env()
        };
        let response = world.run(run(&env, "{}"));
        assert_eq!(names(&response), ["mine", "theirs"]);
    }

    #[test]
    fn the_query_matches_texts_case_insensitively_and_names_without_spaces() {
        let world = World::new();
        world
            .template("go-dev")
            .edit(|t| t.display_name = "Go Development".into())
            .create();
        world
            .template("rust")
            .edit(|t| t.description = "Cargo and RUSTUP preinstalled".into())
            .create();
        world
            .template("gpu")
            .edit(|t| t.abstract_text = "CUDA 12 with 100% of an A100".into())
            .create();
        world
            .template("data_science")
            .edit(|t| t.display_name = "Jupyter\\Lab".into())
            .create();
        let query = |q: &str| {
            names(&call(
                &world,
                &serde_json::json!({ "query": q }).to_string(),
            ))
        };

        assert_eq!(query("development"), ["go-dev"]); // display name
        assert_eq!(query("rustup"), ["rust"]); // description
        assert_eq!(query("cuda"), ["gpu"]); // abstract
        assert_eq!(query("GO-DEV"), ["go-dev"]); // name
        assert_eq!(query("go - dev"), ["go-dev"]); // spaces dropped for the name
        assert_eq!(query("  Go Development \n"), ["go-dev"]); // trimmed
        assert_eq!(query("go rust"), Vec::<String>::new()); // not split into words
        assert_eq!(query("%"), ["gpu"]); // literal, not a wildcard
        assert_eq!(query("_"), ["data_science"]);
        assert_eq!(query("a_s"), ["data_science"]);
        assert_eq!(query("\\"), ["data_science"]);
        assert_eq!(query("r%t"), Vec::<String>::new());
        assert_eq!(query("   "), ["data_science", "go-dev", "gpu", "rust"]);
    }

    #[test]
    fn spaces_are_dropped_only_for_the_name() {
        let world = World::new();
        world
            .template("plain")
            .edit(|t| t.display_name = "Go Dev".into())
            .create();
        let query = |q: &str| {
            names(&call(
                &world,
                &serde_json::json!({ "query": q }).to_string(),
            ))
        };
        assert_eq!(query("go dev"), ["plain"]);
        assert_eq!(query("godev"), Vec::<String>::new());
        assert_eq!(query("pl ain"), ["plain"]);
    }

    #[test]
    fn a_non_empty_allowlist_restricts_the_list() {
        let mut world = World::new();
        let allowed = world.template("allowed").create();
        world.template("other").create();
        assert_eq!(names(&call(&world, "{}")), ["allowed", "other"]);
        world.allowlist.insert(allowed.template);
        world.allowlist.insert(Uuid::from_u128(0xDEAD)); // unknown ids are harmless
        assert_eq!(names(&call(&world, "{}")), ["allowed"]);
        let unset = ToolEnv {
            allowed_template_ids: None,
            ..world.env()
        };
        assert_eq!(names(&world.run(run(&unset, "{}"))), ["allowed", "other"]);
    }

    #[test]
    fn long_descriptions_and_abstracts_end_in_an_ellipsis() {
        let world = World::new();
        let exact_description = "é".repeat(200);
        let exact_abstract = "ü".repeat(500);
        world
            .template("exact")
            .edit(|t| {
                t.description = format!("  {exact_description}  ");
                t.abstract_text = exact_abstract.clone();
            })
            .create();
        // The 199th rune is a space: the cut is not re-trimmed.
        let long_description = format!("{} {}", "d".repeat(198), "x".repeat(50));
        let long_abstract = format!("{} tail", "a".repeat(499));
        world
            .template("long")
            .edit(|t| {
                t.description = long_description;
                t.abstract_text = long_abstract;
            })
            .create();
        let response: serde_json::Value =
            serde_json::from_str(&call(&world, "{}").content).unwrap();
        let items = response["templates"].as_array().unwrap();
        assert_eq!(items[0]["description"], exact_description.as_str());
        assert_eq!(items[0]["abstract"], exact_abstract.as_str());
        assert_eq!(
            items[1]["description"],
            format!("{} …", "d".repeat(198)).as_str()
        );
        assert_eq!(
            items[1]["abstract"],
            format!("{}…", "a".repeat(499)).as_str()
        );
    }

    #[test]
    fn input_that_does_not_decode_is_a_text_error() {
        let world = World::new();
        world.template("alpha").create();
        for bad in [
            "{not json",
            r#"{"page":"x"}"#,
            r#"{"page":1.5}"#,
            r#"{"query":5}"#,
            "[1]",
        ] {
            let response = call(&world, bad);
            assert!(response.is_error, "{bad}");
            assert!(
                response.content.starts_with("invalid parameters: "),
                "{bad}: {}",
                response.content
            );
        }
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
        // Null, missing and unknown fields read as zero values.
        assert_eq!(
            names(&call(&world, r#"{"query":null,"page":null,"extra":true}"#)),
            ["alpha"]
        );
    }
}
