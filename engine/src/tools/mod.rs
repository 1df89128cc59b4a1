//! The workspace tools: one module per tool, each with its definition and its
//! whole flow top to bottom. This module holds the envelope and the shared
//! plumbing of spec 1 §1; `build_wait` holds the build and agent waits and
//! the build-failure results that create, start and stop share (the chat
//! layer reads its external-agent check too); `registry` holds [`Tool`],
//! the one list definitions and dispatch read.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::lock::{Mutex, MutexGuard};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::gojson::Value;
use crate::model::{BuildParameter, Chat, ProvisionerJob, WorkspaceBuild};
use crate::ports::{
    AgentDialer, Clock, Coderd, Event, Events, Ids, ResponseError, Store, StoreError,
};

pub(crate) mod build_wait;
pub mod create_workspace;
pub mod list_templates;
pub mod read_template;
mod registry;
pub mod start_workspace;
pub mod stop_workspace;

pub(crate) use registry::unknown_tool;
pub use registry::{call, definitions, Tool};

/// A tool's answer: `Content` and `IsError`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResponse {
    /// The text the model reads: plain text or JSON.
    pub content: String,
    /// Set only by text errors; a JSON result (build failures included) is
    /// never an error, so its structured fields reach the model (spec 1 §1.2).
    pub is_error: bool,
}

impl ToolResponse {
    /// `NewTextErrorResponse`.
    pub fn text_error(message: impl Into<String>) -> ToolResponse {
        ToolResponse {
            content: message.into(),
            is_error: true,
        }
    }

    /// `NewTextResponse`.
    pub fn text(content: impl Into<String>) -> ToolResponse {
        ToolResponse {
            content: content.into(),
            is_error: false,
        }
    }

    /// `toolResponse` / `marshalToolResponse`: JSON, never an error.
    pub fn json(value: &Value) -> ToolResponse {
        ToolResponse::text(value.to_json())
    }
}

/// One property of a tool's input schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// The input field's name.
    pub name: &'static str,
    /// JSON schema type: `string`, `integer`, `object`.
    pub type_: &'static str,
    /// What the model is told the field is for.
    pub description: &'static str,
    /// A field without `omitempty` is required.
    pub required: bool,
}

/// A tool's name, model-facing description and input schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDefinition {
    /// The name the model calls the tool by.
    pub name: &'static str,
    /// What the model is told the tool does (a contract: exact text).
    pub description: &'static str,
    /// The input fields, in declared order.
    pub properties: Vec<Property>,
}

impl ToolDefinition {
    /// The JSON input schema (fantasy's rendering is library-defined; this is
    /// chatsim's: a JSON schema object, properties in declared order).
    pub fn input_schema(&self) -> Value {
        let properties = self
            .properties
            .iter()
            .map(|p| {
                let mut schema = vec![
                    ("type", Value::from(p.type_)),
                    ("description", Value::from(p.description)),
                ];
                if p.type_ == "object" {
                    schema.push((
                        "additionalProperties",
                        Value::Struct(vec![("type", Value::from("string"))]),
                    ));
                }
                (p.name, Value::Struct(schema))
            })
            .collect();
        let required = self
            .properties
            .iter()
            .filter(|p| p.required)
            .map(|p| Value::from(p.name))
            .collect();
        Value::Struct(vec![
            ("type", Value::from("object")),
            ("properties", Value::Struct(properties)),
            ("required", Value::Array(required)),
        ])
    }
}

/// Everything a tool call needs: the ports, the chat it runs for, and the
/// chat runtime's options.
pub struct ToolEnv<'a> {
    /// The coderd database.
    pub store: &'a dyn Store,
    /// The build hooks; `None` = not configured.
    pub coderd: Option<&'a dyn Coderd>,
    /// The agent dialer (`AgentConnFn`); `None` = not configured.
    pub dialer: Option<&'a dyn AgentDialer>,
    /// Virtual time for every wait.
    pub clock: &'a dyn Clock,
    /// IDs for generated workspace names.
    pub ids: &'a dyn Ids,
    /// Where log lines go.
    pub events: &'a dyn Events,
    /// The chat the tool runs for (its binding is read and written).
    pub chat_id: Uuid,
    /// The chat's organization: templates must belong to it.
    pub organization_id: Uuid,
    /// The chat's owner: `asOwner`'s subject and the hooks' initiator.
    pub owner_id: Uuid,
    /// The chat template allowlist; `None` or empty = every template.
    pub allowed_template_ids: Option<&'a BTreeSet<Uuid>>,
    /// Silence after which a connected agent reads disconnected (create's
    /// existing-workspace check, spec 1 §3.4).
    pub agent_inactive_disconnect_timeout: Duration,
    /// The per-chat lock shared by create, start and stop.
    pub workspace_mu: Option<&'a Mutex<()>>,
    /// `OnChatUpdated`.
    pub on_chat_updated: Option<&'a dyn Fn(&Chat)>,
    /// The tool call's context (the turn's cancellation).
    pub ctx: Ctx,
    /// The bug-zoo switch of the run (`None`: the correct tools).
    #[cfg(feature = "bugs")]
    pub bug: Option<crate::bugs::Bug>,
}

impl<'a> ToolEnv<'a> {
    /// Records a log line (`debug`, `warn` or `error`).
    pub(crate) fn log(&self, level: &'static str, message: impl Into<String>) {
        self.events.emit(Event::Log {
            level,
            message: message.into(),
        });
    }

    /// `asOwner`: loads the owner's roles; failure → `load user authorization: <err>`.
    pub(crate) fn as_owner(&self) -> Result<(), ToolResponse> {
        self.store
            .get_authorization_user_roles(self.owner_id)
            .map(|_| ())
            .map_err(|err| ToolResponse::text_error(format!("load user authorization: {err}")))
    }

    /// `isTemplateAllowed`.
    pub(crate) fn is_template_allowed(&self, template_id: Uuid) -> bool {
        match self.allowed_template_ids {
            None => true,
            Some(ids) => ids.is_empty() || ids.contains(&template_id),
        }
    }

    /// Takes the per-chat `WorkspaceMu` (spec 1 §1.5) that create, start and
    /// stop share, if configured. Hold the guard until the call returns.
    pub(crate) async fn lock_chat(&self) -> Option<MutexGuard<'a, ()>> {
        match self.workspace_mu {
            Some(mu) => Some(mu.lock().await),
            None => None,
        }
    }

    /// `latestWorkspaceBuildAndJob` (spec 1 §1.3), errors as text.
    pub(crate) fn latest_build_and_job(
        &self,
        workspace_id: Uuid,
    ) -> Result<(WorkspaceBuild, ProvisionerJob), ToolResponse> {
        let build = self
            .store
            .get_latest_workspace_build_by_workspace_id(workspace_id)
            .map_err(|err| ToolResponse::text_error(format!("get latest build: {err}")))?;
        let job = self
            .store
            .get_provisioner_job_by_id(build.job_id)
            .map_err(|err| ToolResponse::text_error(format!("get provisioner job: {err}")))?;
        Ok((build, job))
    }

    /// Calls `OnChatUpdated` with the chat row, if configured.
    pub(crate) fn fire_chat_updated(&self, chat: &Chat) {
        if let Some(callback) = self.on_chat_updated {
            callback(chat);
        }
    }

    /// Binds the chat to (workspace, build, no agent) and fires
    /// `OnChatUpdated` with the updated row. A failed write fires nothing;
    /// the caller logs it in its own words.
    pub(crate) fn bind_chat(
        &self,
        workspace_id: Uuid,
        build_id: Option<Uuid>,
    ) -> Result<(), StoreError> {
        let chat = self.store.update_chat_workspace_binding(
            self.chat_id,
            Some(workspace_id),
            build_id,
            None,
        )?;
        self.fire_chat_updated(&chat);
        Ok(())
    }

    /// `publishBuildBinding` (spec 1 §1.3): [`ToolEnv::bind_chat`]; a DB
    /// error is only logged.
    pub(crate) fn publish_build_binding(&self, workspace_id: Uuid, build_id: Option<Uuid>) {
        if let Err(err) = self.bind_chat(workspace_id, build_id) {
            self.log(
                "error",
                format!("failed to persist build ID on chat binding: {err}"),
            );
        }
    }

    /// Whether the run's bug-zoo switch is `bug` (the zoo's decisions in
    /// the tools ask only through this; false without the feature, where it
    /// compiles away).
    #[cfg(feature = "bugs")]
    pub(crate) fn bug(&self, bug: crate::bugs::Bug) -> bool {
        bug.on(self.bug)
    }

    /// Re-reads the chat and fires `OnChatUpdated` (the post-ready update).
    pub(crate) fn refire_chat_updated(&self) {
        if self.on_chat_updated.is_none() {
            return;
        }
        if let Ok(chat) = self.store.get_chat_by_id(self.chat_id) {
            self.fire_chat_updated(&chat);
        }
    }
}

/// The model's `parameters` as build parameters, sorted by name (a
/// `BTreeMap` iterates in key order) for determinism: create's request
/// (spec 1 §3.3) and start's hook call (spec 2 §1.2 step 8).
pub(crate) fn build_parameters(
    parameters: Option<&BTreeMap<String, String>>,
) -> Vec<BuildParameter> {
    parameters
        .into_iter()
        .flatten()
        .map(|(name, value)| BuildParameter {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// Text returned when the model's input does not decode into the tool's
/// arguments (fantasy's wording; chatsim-defined).
pub const INVALID_PARAMETERS_PREFIX: &str = "invalid parameters: ";

/// Decodes tool input as Go's `json.Unmarshal` into the args struct would:
/// unknown fields ignored, missing fields zero, a repeated key's last value
/// kept, and object keys matched to the (lower-case) field names without
/// regard to case. Empty input reads as `{}`.
pub(crate) fn decode_args<T: DeserializeOwned>(input: &str) -> Result<T, ToolResponse> {
    let invalid = |err: serde_json::Error| {
        ToolResponse::text_error(format!("{INVALID_PARAMETERS_PREFIX}{err}"))
    };
    let input = if input.trim().is_empty() { "{}" } else { input };
    let fields = match serde_json::from_str(input).map_err(invalid)? {
        // Go leaves the args struct zero for `null`.
        TopLevel::Null => Vec::new(),
        TopLevel::Object(fields) => fields,
        TopLevel::Other(kind) => {
            return Err(ToolResponse::text_error(format!(
                "{INVALID_PARAMETERS_PREFIX}json: cannot unmarshal {kind} into an object of tool arguments"
            )));
        }
    };
    // In input order, so a later key (in any case) overwrites an earlier one,
    // except where Go's decoder keeps what an earlier key decoded: a null has
    // no effect on a string or a number, and a second object is decoded into
    // the same map (merged).
    let mut folded = serde_json::Map::new();
    for (key, value) in fields {
        let key = fold_key(&key);
        match (folded.get_mut(&key), value) {
            (Some(serde_json::Value::Object(earlier)), serde_json::Value::Object(later)) => {
                earlier.extend(later);
            }
            (
                Some(
                    serde_json::Value::String(_)
                    | serde_json::Value::Number(_)
                    | serde_json::Value::Bool(_),
                ),
                serde_json::Value::Null,
            ) => {}
            (_, value) => {
                folded.insert(key, value);
            }
        }
    }
    serde_json::from_value(serde_json::Value::Object(folded)).map_err(invalid)
}

/// Deserializes a `map[string]string` argument as Go does: a `null` value
/// reads as `""` (null into a string has no effect on the zero value).
pub(crate) fn go_string_map<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let map: Option<BTreeMap<String, Option<String>>> =
        serde::Deserialize::deserialize(deserializer)?;
    Ok(map.map(|map| {
        map.into_iter()
            .map(|(name, value)| (name, value.unwrap_or_default()))
            .collect()
    }))
}

/// A JSON key folded for matching the (lower-case ASCII) field names the way
/// Go's decoder does: every rune becomes `ToUpper(ToLower(r))`, compared
/// here in lower case. The only non-ASCII runes that fold onto ASCII letters
/// are U+0130 and U+0131 (I), U+017F (S) and U+212A (K); any other rune
/// stays as it is and matches no field.
fn fold_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{130}' | '\u{131}' => 'i',
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The top level of a tool input, an object's keys kept in input order
/// (`serde_json::Map` would sort them).
enum TopLevel {
    Null,
    Object(Vec<(String, serde_json::Value)>),
    /// Any other JSON kind: `array`, `string`, `number` or `bool`.
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        struct TopLevelVisitor;

        impl<'de> Visitor<'de> for TopLevelVisitor {
            type Value = TopLevel;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_unit<E>(self) -> Result<TopLevel, E> {
                Ok(TopLevel::Null)
            }

            fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("bool"))
            }

            fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("number"))
            }

            fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("number"))
            }

            fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("number"))
            }

            fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("string"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TopLevel::Other("array"))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    fields.push(entry);
                }
                Ok(TopLevel::Object(fields))
            }
        }

        deserializer.deserialize_any(TopLevelVisitor)
    }
}

/// `responseErrorResult`: `error`, `detail?`, `validations?` as a Go map.
pub(crate) fn response_error_result(resp: &ResponseError) -> Value {
    let mut result = Value::map();
    let message = if resp.message.is_empty() {
        "request failed"
    } else {
        &resp.message
    };
    result.insert("error", message);
    if !resp.detail.is_empty() {
        result.insert("detail", resp.detail.as_str());
    }
    if !resp.validations.is_empty() {
        let validations = resp
            .validations
            .iter()
            .map(|v| {
                Value::Struct(vec![
                    ("field", Value::from(v.field.as_str())),
                    ("detail", Value::from(v.detail.as_str())),
                ])
            })
            .collect();
        result.insert("validations", Value::Array(validations));
    }
    result
}

/// `buildErrorResult`: `{"error", "build_id"?}` in struct order.
pub(crate) fn build_error_result(message: &str, build_id: Option<Uuid>) -> Value {
    let mut fields = vec![("error", Value::from(message))];
    if let Some(id) = build_id.filter(|id| !id.is_nil()) {
        fields.push(("build_id", Value::from(id)));
    }
    Value::Struct(fields)
}

/// `setBuildID`: adds `build_id` when the ID is not nil.
pub(crate) fn set_build_id(result: &mut Value, build_id: Option<Uuid>) {
    if let Some(id) = build_id.filter(|id| !id.is_nil()) {
        result.insert("build_id", id);
    }
}

/// `setNoBuild`: adds `no_build: true` when there is no build ID.
pub(crate) fn set_no_build(result: &mut Value, build_id: Option<Uuid>) {
    if build_id.filter(|id| !id.is_nil()).is_none() {
        result.insert("no_build", true);
    }
}

/// `truncateRunes`: the first `n` characters, no ellipsis.
pub(crate) fn truncate_runes(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Truncates to `n` characters: longer text becomes its first `n - 1`
/// characters plus `…`.
pub(crate) fn truncate_with_ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Validation;

    #[test]
    fn response_error_result_defaults_the_message_and_keeps_validation_field_order() {
        let resp = ResponseError {
            status: 400,
            message: String::new(),
            detail: String::new(),
            validations: vec![Validation {
                field: "region".into(),
                detail: "required".into(),
            }],
        };
        assert_eq!(
            response_error_result(&resp).to_json(),
            r#"{"error":"request failed","validations":[{"field":"region","detail":"required"}]}"#
        );
    }

    #[test]
    fn build_error_result_omits_nil_build_ids() {
        assert_eq!(
            build_error_result("boom", Some(Uuid::nil())).to_json(),
            r#"{"error":"boom"}"#
        );
        assert_eq!(
            build_error_result("boom", Some(Uuid::from_u128(1))).to_json(),
            r#"{"error":"boom","build_id":"00000000-0000-0000-0000-000000000001"}"#
        );
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_runes("héllo", 2), "hé");
        assert_eq!(truncate_runes("", 3), "");
        assert_eq!(truncate_with_ellipsis("abcdef", 4), "abc…");
        assert_eq!(truncate_with_ellipsis("abcd", 4), "abcd");
    }

    #[test]
    fn bad_json_input_is_a_clear_text_error() {
        #[derive(serde::Deserialize, Debug)]
        struct Args {
            #[serde(default)]
            _x: Option<String>,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Named {
            #[serde(default)]
            template_id: String,
        }
        let named: Named = decode_args(r#"{"Template_ID":"a","template_id":"b"}"#).unwrap();
        assert_eq!(named.template_id, "b");
        let shouted: Named = decode_args(r#"{"TEMPLATE_ID":"c"}"#).unwrap();
        assert_eq!(shouted.template_id, "c");
        let repeated: Named = decode_args(r#"{"template_id":"a","template_id":"b"}"#).unwrap();
        assert_eq!(repeated.template_id, "b");
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Preset {
            #[serde(default)]
            preset_id: String,
            #[serde(default)]
            kind: String,
        }
        // Go's fold: the long s folds to S, the Kelvin sign to K.
        let folded: Preset =
            decode_args("{\"pre\u{17f}et_id\":\"p\",\"\u{212a}ind\":\"k\"}").unwrap();
        assert_eq!(
            folded,
            Preset {
                preset_id: "p".into(),
                kind: "k".into()
            }
        );
        let err = decode_args::<Args>("{not json").unwrap_err();
        assert!(err.is_error);
        assert!(err.content.starts_with(INVALID_PARAMETERS_PREFIX));
        assert!(decode_args::<Args>("").is_ok());
        assert!(decode_args::<Args>("null").is_ok());
        assert_eq!(
            decode_args::<Args>("[]").unwrap_err().content,
            "invalid parameters: json: cannot unmarshal array into an object of tool arguments"
        );
    }
}
