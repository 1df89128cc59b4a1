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

pub const NAME: &str = "read_template";

/// The one text for a template the chat may not see, whatever the reason
/// (deliberately indistinguishable).
pub const TEMPLATE_NOT_FOUND: &str = "template not found";

/// A parameter description's cap (no ellipsis).
pub const PARAMETER_DESCRIPTION_MAX_RUNES: usize = 300;

const DESCRIPTION: &str = "Get details about a workspace template, including its configurable \
parameters and available presets. Use this after finding a template with list_templates and \
before creating a workspace with create_workspace.";

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
        .map_err(|err| ToolResponse::text_error(format!("failed to get template presets: {err}")))?;
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
