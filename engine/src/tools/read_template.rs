//! `read_template` (spec 1 §5.1, seed era): one template's details, its
//! active version's parameters and presets.
//!
//! Flow: validate and parse `template_id` → allowlist → owner authorization →
//! template (every failure reads `template not found`) → parameters →
//! presets → preset parameters → result.

use serde::Deserialize;

use super::{decode_args, truncate_runes, Property, ToolDefinition, ToolEnv, ToolResponse};
use crate::goid::parse_uuid;
use crate::gojson::Value;
use crate::model::{Preset, PresetParameter, Template, TemplateVersionParameter};

/// The tool's name.
pub const NAME: &str = "read_template";

/// The one text for a template the chat may not see, whatever the reason
/// (deliberately indistinguishable).
pub const TEMPLATE_NOT_FOUND: &str = "template not found";

/// A parameter description's cap (no ellipsis).
pub const PARAMETER_DESCRIPTION_MAX_RUNES: usize = 300;

const DESCRIPTION: &str = "Get details about a workspace template, including its configurable \
parameters and available presets. Use this after finding a template with list_templates and \
before creating a workspace with create_workspace.";

/// The tool's name, description and input schema (spec 1 §5.1): one
/// required `template_id`.
pub fn definition() -> ToolDefinition {
    ToolDefinition {
        name: NAME,
        description: DESCRIPTION,
        properties: vec![Property {
            name: "template_id",
            type_: "string",
            description: "The UUIDv4 of the template to read details for. Obtain this from \
                          list_templates.",
            required: true,
        }],
    }
}

/// The args struct; a missing or `null` `template_id` is Go's zero value.
#[derive(Debug, Default, Deserialize)]
struct Args {
    #[serde(default)]
    template_id: Option<String>,
}

/// Runs the tool with the model's raw JSON input (spec 1 §5.1).
pub async fn run(env: &ToolEnv<'_>, input: &str) -> ToolResponse {
    let args: Args = match decode_args(input) {
        Ok(args) => args,
        Err(response) => return response,
    };
    match read(env, args.template_id.as_deref().unwrap_or("")) {
        Ok(result) => ToolResponse::json(&result),
        Err(response) => response,
    }
}

/// Steps 1–12; every `Err` is the text error to return.
fn read(env: &ToolEnv<'_>, raw_template_id: &str) -> Result<Value, ToolResponse> {
    let template = load_template(env, raw_template_id)?;
    let version_id = template.active_version_id;
    let parameters = env
        .store
        .get_template_version_parameters(version_id)
        .map_err(|err| {
            ToolResponse::text_error(format!("failed to get template parameters: {err}"))
        })?;
    let presets = env
        .store
        .get_presets_by_template_version_id(version_id)
        .map_err(|err| {
            ToolResponse::text_error(format!("failed to get template presets: {err}"))
        })?;
    let mut result = Value::map();
    result.insert("template", template_object(&template));
    result.insert(
        "parameters",
        Value::Array(parameters.iter().map(parameter_object).collect()),
    );
    if !presets.is_empty() {
        let preset_parameters = env
            .store
            .get_preset_parameters_by_template_version_id(version_id)
            .map_err(|err| {
                ToolResponse::text_error(format!("failed to get preset parameters: {err}"))
            })?;
        let presets = presets
            .iter()
            .map(|p| preset_object(p, &preset_parameters))
            .collect();
        result.insert("presets", Value::Array(presets));
    }
    Ok(result)
}

/// Steps 1–6: the template the chat may read, or the text error.
fn load_template(env: &ToolEnv<'_>, raw_template_id: &str) -> Result<Template, ToolResponse> {
    let raw = raw_template_id.trim();
    if raw.is_empty() {
        return Err(ToolResponse::text_error("template_id is required"));
    }
    let template_id = parse_uuid(raw)
        .map_err(|err| ToolResponse::text_error(format!("invalid template_id: {err}")))?;
    if !env.is_template_allowed(template_id) {
        return Err(ToolResponse::text_error(TEMPLATE_NOT_FOUND));
    }
    env.as_owner()?;
    let template = env
        .store
        .get_template_by_id(template_id)
        .map_err(|_| ToolResponse::text_error(TEMPLATE_NOT_FOUND))?;
    // No special case for a nil organization (spec 1 §5.1 step 6).
    if template.organization_id != env.organization_id {
        return Err(ToolResponse::text_error(TEMPLATE_NOT_FOUND));
    }
    Ok(template)
}

/// Step 9.
fn template_object(t: &Template) -> Value {
    let mut object = Value::map();
    object.insert("id", t.id);
    object.insert("name", t.name.as_str());
    object.insert("active_version_id", t.active_version_id);
    insert_trimmed(&mut object, "display_name", &t.display_name);
    insert_trimmed(&mut object, "description", &t.description);
    object
}

/// Step 10: one parameter in DB order.
fn parameter_object(p: &TemplateVersionParameter) -> Value {
    let mut object = Value::map();
    object.insert("name", p.name.as_str());
    object.insert("type", p.type_.as_str());
    object.insert("required", p.required);
    insert_non_empty(&mut object, "display_name", &p.display_name);
    let description = truncate_runes(p.description.trim(), PARAMETER_DESCRIPTION_MAX_RUNES);
    insert_non_empty(&mut object, "description", &description);
    insert_non_empty(&mut object, "default", &p.default_value);
    if p.mutable {
        object.insert("mutable", true);
    }
    if p.ephemeral {
        object.insert("ephemeral", true);
    }
    insert_non_empty(&mut object, "form_type", &p.form_type);
    if let Some(options) = decode_options(&p.options) {
        object.insert("options", options);
    }
    insert_non_empty(&mut object, "validation_regex", &p.validation_regex);
    if let Some(min) = p.validation_min {
        object.insert("validation_min", min);
    }
    if let Some(max) = p.validation_max {
        object.insert("validation_max", max);
    }
    object
}

/// The stored options JSON decoded as Go's `[]map[string]any` would be:
/// `None` when empty, unparseable, not an array of objects, or an empty
/// array. Re-encoding sorts each option's keys and reprints numbers as Go
/// float64s. A `null` element decodes to a nil map and prints `null`.
fn decode_options(stored: &str) -> Option<Value> {
    if stored.trim().is_empty() {
        return None;
    }
    let decoded: Vec<Option<serde_json::Map<String, serde_json::Value>>> =
        serde_json::from_str(stored).ok()?;
    if decoded.is_empty() {
        return None;
    }
    let options = decoded
        .into_iter()
        .map(|option| match option {
            Some(fields) => Value::from_decoded(&serde_json::Value::Object(fields)),
            None => Value::Null,
        })
        .collect();
    Some(Value::Array(options))
}

/// Step 11: one preset with its parameters, both in store order.
fn preset_object(p: &Preset, parameters: &[PresetParameter]) -> Value {
    let mut object = Value::map();
    object.insert("id", p.id);
    object.insert("name", p.name.as_str());
    object.insert("default", p.is_default);
    insert_trimmed(&mut object, "description", &p.description);
    insert_trimmed(&mut object, "icon", &p.icon);
    if let Some(desired) = p.desired_prebuild_instances.filter(|n| *n > 0) {
        object.insert("desired_prebuild_instances", desired);
    }
    let parameters = parameters
        .iter()
        .filter(|param| param.preset_id == p.id)
        .map(|param| {
            let mut pair = Value::map();
            pair.insert("name", param.name.as_str());
            pair.insert("value", param.value.as_str());
            pair
        })
        .collect();
    object.insert("parameters", Value::Array(parameters));
    object
}

fn insert_non_empty(object: &mut Value, key: &str, value: &str) {
    if !value.is_empty() {
        object.insert(key, value);
    }
}

fn insert_trimmed(object: &mut Value, key: &str, value: &str) {
    insert_non_empty(object, key, value.trim());
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::memory::Query;
    use crate::ports::StoreError;
    use crate::testkit::{TemplateIds, World};

    const TEMPLATE_ID: &str = "78dc0000-0000-0000-0000-000000000004";

    fn call(world: &World, input: &str) -> ToolResponse {
        world.run(run(&world.env(), input))
    }

    fn read_id(world: &World, template_id: &str) -> ToolResponse {
        call(
            world,
            &serde_json::json!({ "template_id": template_id }).to_string(),
        )
    }

    fn read(world: &World, template: &TemplateIds) -> ToolResponse {
        read_id(world, &template.template.to_string())
    }

    fn json(content: &str) -> ToolResponse {
        ToolResponse::text(content)
    }

    fn not_found() -> ToolResponse {
        ToolResponse::text_error("template not found")
    }

    /// A bare template: id 78dc…04, active version 1713…05.
    fn bare(world: &World) -> TemplateIds {
        let ids = world.template("bare").create();
        assert_eq!(ids.template.to_string(), TEMPLATE_ID);
        ids
    }

    fn parsed(response: &ToolResponse) -> serde_json::Value {
        assert!(!response.is_error, "{}", response.content);
        serde_json::from_str(&response.content).expect("json")
    }

    #[test]
    fn definition_has_the_seed_description_and_a_required_template_id() {
        let def = definition();
        assert_eq!(def.name, "read_template");
        assert_eq!(
            def.description,
            "Get details about a workspace template, including its configurable parameters and \
             available presets. Use this after finding a template with list_templates and before \
             creating a workspace with create_workspace."
        );
        assert_eq!(
            def.input_schema().to_json(),
            r#"{"type":"object","properties":{"template_id":{"type":"string","description":"The UUIDv4 of the template to read details for. Obtain this from list_templates."}},"required":["template_id"]}"#
        );
    }

    #[test]
    fn a_full_template_reads_back_with_sorted_keys_and_store_order() {
        let world = World::new();
        let ids = world
            .template("python")
            .edit(|t| {
                t.display_name = "  Python  ".into();
                t.description = "  Data science <stack> & notebooks ".into();
            })
            .parameter_row(TemplateVersionParameter {
                name: "region".into(),
                type_: "string".into(),
                required: true,
                display_name: "Region".into(),
                description: "  Where the workspace runs.  ".into(),
                form_type: "dropdown".into(),
                options: r#"[{"value":"us","name":"US East","icon":"/icon/us.svg","description":""},
                    {"value":"eu","name":"EU <West>","icon":"","description":"Frankfurt","weight":2.50,"rank":1e21}]"#
                    .into(),
                validation_regex: "^(us|eu)$".into(),
                ..TemplateVersionParameter::default()
            })
            .parameter_row(TemplateVersionParameter {
                name: "cpu".into(),
                type_: "number".into(),
                default_value: "2".into(),
                mutable: true,
                ephemeral: true,
                options: "[]".into(),
                validation_min: Some(0),
                validation_max: Some(8),
                ..TemplateVersionParameter::default()
            })
            .preset("Small", &[("region", "us"), ("cpu", "2")], Some(2))
            .preset("Bare", &[], Some(0))
            .create();
        world.store.edit(|t| {
            let small = t
                .presets
                .iter_mut()
                .find(|p| p.id == ids.presets[0])
                .unwrap();
            small.is_default = true;
            small.description = "  Two cores ".into();
            small.icon = " /icon/small.svg ".into();
        });
        // Another template's presets never leak in.
        world
            .template("other")
            .preset("Other", &[("region", "eu")], Some(1))
            .create();

        assert_eq!(
            read(&world, &ids),
            json(concat!(
                r#"{"parameters":["#,
                r#"{"description":"Where the workspace runs.","display_name":"Region","#,
                r#""form_type":"dropdown","name":"region","options":["#,
                r#"{"description":"","icon":"/icon/us.svg","name":"US East","value":"us"},"#,
                r#"{"description":"Frankfurt","icon":"","name":"EU \u003cWest\u003e","#,
                r#""rank":1e+21,"value":"eu","weight":2.5}],"#,
                r#""required":true,"type":"string","validation_regex":"^(us|eu)$"},"#,
                r#"{"default":"2","ephemeral":true,"mutable":true,"name":"cpu","#,
                r#""required":false,"type":"number","validation_max":8,"validation_min":0}"#,
                r#"],"presets":["#,
                r#"{"default":true,"description":"Two cores","desired_prebuild_instances":2,"#,
                r#""icon":"/icon/small.svg","id":"b54a0000-0000-0000-0000-000000000006","#,
                r#""name":"Small","parameters":[{"name":"region","value":"us"},"#,
                r#"{"name":"cpu","value":"2"}]},"#,
                r#"{"default":false,"id":"53810000-0000-0000-0000-000000000007","#,
                r#""name":"Bare","parameters":[]}"#,
                r#"],"template":{"active_version_id":"17130000-0000-0000-0000-000000000005","#,
                r#""description":"Data science \u003cstack\u003e \u0026 notebooks","#,
                r#""display_name":"Python","id":"78dc0000-0000-0000-0000-000000000004","#,
                r#""name":"python"}}"#
            ))
        );
    }

    #[test]
    fn a_template_without_parameters_or_presets_has_an_empty_array_and_no_presets_key() {
        let world = World::new();
        let ids = world
            .template("bare")
            .edit(|t| {
                t.display_name = " \t ".into();
                t.description = String::new();
            })
            .create();
        assert_eq!(
            read(&world, &ids),
            json(concat!(
                r#"{"parameters":[],"template":{"#,
                r#""active_version_id":"17130000-0000-0000-0000-000000000005","#,
                r#""id":"78dc0000-0000-0000-0000-000000000004","name":"bare"}}"#
            ))
        );
        assert_eq!(
            world
                .store
                .calls(Query::GetPresetParametersByTemplateVersionId),
            0
        );
    }

    #[test]
    fn the_active_version_is_read_after_a_template_update() {
        let world = World::new();
        let ids = bare(&world);
        let v2 = crate::testkit::new_active_version(&world, &ids, &["token"]);
        let response = parsed(&read(&world, &ids));
        assert_eq!(response["template"]["active_version_id"], v2.to_string());
        assert_eq!(
            response["parameters"].to_string(),
            r#"[{"name":"token","required":true,"type":"string"}]"#
        );
    }

    #[test]
    fn a_missing_template_id_is_required() {
        let world = World::new();
        bare(&world);
        for input in [
            "{}",
            "",
            r#"{"template_id":null}"#,
            r#"{"template_id":""}"#,
            r#"{"template_id":"  \n\t "}"#,
        ] {
            assert_eq!(
                call(&world, input),
                ToolResponse::text_error("template_id is required"),
                "{input}"
            );
        }
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
    }

    #[test]
    fn an_unparseable_template_id_reports_gos_uuid_error() {
        let world = World::new();
        bare(&world);
        let cases = [
            ("not-a-uuid", "invalid template_id: invalid UUID length: 10"),
            (
                "78dc0000x0000-0000-0000-000000000004",
                "invalid template_id: invalid UUID format",
            ),
            (
                "urn:uid:x78dc0000-0000-0000-0000-000000000004",
                "invalid template_id: invalid urn prefix: \"urn:uid:x\"",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                read_id(&world, input),
                ToolResponse::text_error(want),
                "{input}"
            );
        }
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
    }

    #[test]
    fn every_go_uuid_form_is_accepted_after_trimming() {
        let world = World::new();
        bare(&world);
        let want = read_id(&world, TEMPLATE_ID);
        assert!(!want.is_error);
        for input in [
            format!("  {TEMPLATE_ID}\n"),
            TEMPLATE_ID.to_uppercase(),
            format!("{{{TEMPLATE_ID}}}"),
            format!("URN:UUID:{TEMPLATE_ID}"),
            TEMPLATE_ID.replace('-', ""),
        ] {
            assert_eq!(read_id(&world, &input), want, "{input}");
        }
    }

    #[test]
    fn a_template_outside_the_allowlist_is_not_found_before_authorization() {
        let mut world = World::new();
        let ids = bare(&world);
        world.allowlist.insert(Uuid::from_u128(0xA110));
        assert_eq!(read(&world, &ids), not_found());
        assert_eq!(world.store.calls(Query::GetAuthorizationUserRoles), 0);
        assert_eq!(world.store.calls(Query::GetTemplateById), 0);

        world.allowlist.insert(ids.template);
        assert!(!read(&world, &ids).is_error);
    }

    #[test]
    fn a_failed_authorization_is_reported() {
        let world = World::new();
        let ids = bare(&world);
        world.store.fail(
            Query::GetAuthorizationUserRoles,
            StoreError::Other("roles unavailable".into()),
        );
        assert_eq!(
            read(&world, &ids),
            ToolResponse::text_error("load user authorization: roles unavailable")
        );
        assert_eq!(world.store.calls(Query::GetTemplateById), 0);
    }

    #[test]
    fn every_template_lookup_failure_reads_not_found() {
        let world = World::new();
        let ids = bare(&world);
        // Unknown id.
        assert_eq!(
            read_id(&world, "00000000-0000-0000-0000-00000000beef"),
            not_found()
        );
        // Any store error, e.g. RBAC forbidding the owner.
        world.store.fail_times(
            Query::GetTemplateById,
            1,
            StoreError::Other("unauthorized: rbac: forbidden".into()),
        );
        assert_eq!(read(&world, &ids), not_found());
        assert!(!read(&world, &ids).is_error);
    }

    #[test]
    fn a_template_of_another_organization_is_not_found() {
        let world = World::new();
        let theirs = world
            .template("theirs")
            .organization(Uuid::from_u128(0xE15E))
            .create();
        assert_eq!(read(&world, &theirs), not_found());
        assert_eq!(world.store.calls(Query::GetTemplateVersionParameters), 0);
    }

    #[test]
    fn a_nil_chat_organization_matches_no_template() {
        let world = World::new();
        let ids = bare(&world);
        let env = ToolEnv {
            organization_id: Uuid::nil(),
            ..world.env()
        };
        let input = format!(r#"{{"template_id":"{TEMPLATE_ID}"}}"#);
        assert_eq!(world.run(run(&env, &input)), not_found());
        let _ = ids;
    }

    #[test]
    fn store_errors_after_the_template_name_their_query() {
        let world = World::new();
        let ids = world
            .template("t")
            .preset("p", &[("a", "1")], None)
            .create();
        let cases = [
            (
                Query::GetTemplateVersionParameters,
                "failed to get template parameters: boom",
            ),
            (
                Query::GetPresetsByTemplateVersionId,
                "failed to get template presets: boom",
            ),
            (
                Query::GetPresetParametersByTemplateVersionId,
                "failed to get preset parameters: boom",
            ),
        ];
        for (query, want) in cases {
            world
                .store
                .fail_times(query, 1, StoreError::Other("boom".into()));
            assert_eq!(
                read(&world, &ids),
                ToolResponse::text_error(want),
                "{query:?}"
            );
        }
        assert!(!read(&world, &ids).is_error);
    }

    #[test]
    fn parameter_descriptions_are_trimmed_and_cut_at_300_runes_without_ellipsis() {
        let world = World::new();
        let long = format!("  {}{}", "ñ".repeat(300), "overflow");
        let ids = world
            .template("t")
            .parameter_row(TemplateVersionParameter {
                name: "long".into(),
                type_: "string".into(),
                description: long,
                ..TemplateVersionParameter::default()
            })
            .parameter_row(TemplateVersionParameter {
                name: "blank".into(),
                type_: "bool".into(),
                description: "   ".into(),
                display_name: String::new(),
                default_value: String::new(),
                ..TemplateVersionParameter::default()
            })
            .create();
        let response = parsed(&read(&world, &ids));
        assert_eq!(
            response["parameters"][0]["description"],
            "ñ".repeat(300).as_str()
        );
        assert_eq!(
            response["parameters"][1].to_string(),
            r#"{"name":"blank","required":false,"type":"bool"}"#
        );
    }

    #[test]
    fn options_appear_only_for_a_non_empty_array_of_objects() {
        let world = World::new();
        let mut builder = world.template("t");
        let stored = [
            "",
            "null",
            "[]",
            "  [ ]  ",
            "not json",
            "[1, 2]",
            r#"{"name":"a"}"#,
            r#"["a"]"#,
            r#"[{"value":"x","value":"y","b":true,"a":null,"n":-0.5e1,"nested":{"z":1,"y":[1.0,2.25]}}]"#,
            r#"[{"name":"A"}, null]"#,
            r#"[{}]"#,
        ];
        for (n, options) in stored.iter().enumerate() {
            builder = builder.parameter_row(TemplateVersionParameter {
                name: format!("p{n}"),
                type_: "string".into(),
                options: options.to_string(),
                ..TemplateVersionParameter::default()
            });
        }
        let ids = builder.create();
        let response = read(&world, &ids);
        let value = parsed(&response);
        let options: Vec<Option<String>> = value["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.get("options").map(|o| o.to_string()))
            .collect();
        assert_eq!(
            &options[..8],
            [None, None, None, None, None, None, None, None]
        );
        assert_eq!(options[9].as_deref(), Some(r#"[{"name":"A"},null]"#));
        assert_eq!(options[10].as_deref(), Some("[{}]"));
        // Byte-exact: keys sorted at every level, last duplicate wins, Go numbers.
        assert!(
            response.content.contains(concat!(
                r#""options":[{"a":null,"b":true,"n":-5,"#,
                r#""nested":{"y":[1,2.25],"z":1},"value":"y"}]"#
            )),
            "{}",
            response.content
        );
    }

    #[test]
    fn preset_optional_fields_follow_their_rules() {
        let world = World::new();
        let ids = world
            .template("t")
            .preset("none", &[], None)
            .preset("zero", &[], Some(0))
            .preset("negative", &[], Some(-1))
            .preset("blank", &[("k", "")], Some(1))
            .create();
        world.store.edit(|t| {
            let blank = t
                .presets
                .iter_mut()
                .find(|p| p.id == ids.presets[3])
                .unwrap();
            blank.description = " ".into();
            blank.icon = "\t".into();
        });
        let value = parsed(&read(&world, &ids));
        let presets: Vec<String> = value["presets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.as_object_mut().unwrap().remove("id");
                p.to_string()
            })
            .collect();
        assert_eq!(
            presets,
            [
                r#"{"default":false,"name":"none","parameters":[]}"#,
                r#"{"default":false,"name":"zero","parameters":[]}"#,
                r#"{"default":false,"name":"negative","parameters":[]}"#,
                r#"{"default":false,"desired_prebuild_instances":1,"name":"blank","parameters":[{"name":"k","value":""}]}"#,
            ]
        );
    }

    #[test]
    fn input_that_does_not_decode_is_a_text_error() {
        let world = World::new();
        bare(&world);
        for bad in [
            "{not json",
            r#"{"template_id":5}"#,
            r#"{"template_id":["x"]}"#,
            "\"78dc0000-0000-0000-0000-000000000004\"",
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
        let extra = format!(r#"{{"template_id":"{TEMPLATE_ID}","page":"ignored"}}"#);
        assert!(!call(&world, &extra).is_error);
    }

    #[test]
    fn a_template_id_repeated_in_another_case_takes_the_later_value_as_go_does() {
        // Go's decoder matches keys to fields case-insensitively and walks
        // the object in input order, so the later spelling wins.
        let world = World::new();
        bare(&world);
        let later_bad = format!(r#"{{"template_id":"{TEMPLATE_ID}","Template_ID":"not-a-uuid"}}"#);
        assert_eq!(
            call(&world, &later_bad),
            ToolResponse::text_error("invalid template_id: invalid UUID length: 10")
        );
        let later_good = format!(r#"{{"TEMPLATE_ID":"not-a-uuid","template_id":"{TEMPLATE_ID}"}}"#);
        assert!(!call(&world, &later_good).is_error);
    }

    #[test]
    fn keys_match_the_field_by_gos_unicode_folding() {
        // Go folds each key rune with ToUpper(ToLower(r)): the dotted and
        // the dotless i both fold to I.
        let world = World::new();
        bare(&world);
        for key in ["TEMPLATE_\u{130}D", "template_\u{131}d"] {
            let input = serde_json::json!({ key: TEMPLATE_ID }).to_string();
            let response = call(&world, &input);
            assert!(!response.is_error, "{key}: {}", response.content);
        }
        // A key that folds to no field is ignored.
        let input = serde_json::json!({ "template_\u{e9}d": TEMPLATE_ID }).to_string();
        assert_eq!(
            call(&world, &input),
            ToolResponse::text_error("template_id is required")
        );
    }

    #[test]
    fn option_numbers_are_decoded_exactly_and_reprinted_in_gos_shortest_form() {
        // Go parses a JSON number into the nearest float64; the re-encoded
        // option must print that float's shortest form.
        let world = World::new();
        let ids = world
            .template("nums")
            .parameter_row(TemplateVersionParameter {
                name: "n".into(),
                type_: "number".into(),
                options: r#"[{"value":1.2042364963206905e39,"name":"big","neg":-0,"tiny":2.5e-7}]"#
                    .into(),
                ..TemplateVersionParameter::default()
            })
            .create();
        let response = read(&world, &ids);
        assert!(!response.is_error, "{}", response.content);
        assert!(
            response.content.contains(
                r#""options":[{"name":"big","neg":-0,"tiny":2.5e-7,"value":1.2042364963206905e+39}]"#
            ),
            "{}",
            response.content
        );
    }
}
