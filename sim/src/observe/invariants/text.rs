//! Model-facing text: what a tool returns and the prompts coderd builds
//! carry no Rust `Debug` forms, no panic or backtrace text, and no error
//! prefix outside the spec's `<prefix>: <err>` chains.

use std::collections::BTreeSet;
use std::time::Duration;

use chatsim_engine::chat::{
    FIND_CHAT_AGENT_PREFIX, GET_AGENTS_PREFIX, GET_AGENT_PREFIX, GET_LATEST_BUILD_PREFIX,
    LAZY_VALIDATION_PREFIX, LOAD_CHAT_PREFIX, NO_WORKSPACE_AGENT, PERSIST_BINDING_PREFIX,
};
use chatsim_engine::tools::start_workspace::{IN_PROGRESS_PREFIX, START_FAILED_PREFIX};
use chatsim_engine::tools::stop_workspace::STOP_FAILED_PREFIX;
use chatsim_engine::tools::INVALID_PARAMETERS_PREFIX;
use serde_json::Value;

use super::{violation, Input, Violation};
use crate::observe::trace::Event;
use crate::observe::view::{ResultView, TraceView};

/// Model-facing text is free of debug, panic and unlisted error prefixes.
pub const MODEL_FACING_TEXT_IS_CLEAN: &str = "model_facing_text_is_clean";

/// The error prefixes of the spec's `<prefix>: <err>` chains (spec 1 §1.3,
/// §1.4, §1.6, §3.3, §3.4, §3.5, §5; spec 2 §1.2, §3.2; spec 3 §2.2, §2.4,
/// §3.1), and the chatsim-defined ones the engine names as constants (its
/// database-error prefixes and the input-decoding prefix standing in for
/// fantasy's library-defined text).
pub const SPEC_ERROR_PREFIXES: [&str; 32] = [
    "invalid template_id: ",
    "invalid preset_id: ",
    "invalid urn prefix: ",
    "invalid UUID length: ",
    LOAD_CHAT_PREFIX,
    "load workspace: ",
    "load user authorization: ",
    "look up template: ",
    "look up template version: ",
    "get latest build: ",
    "get provisioner job: ",
    "get build: ",
    "workspace build failed: ",
    "existing workspace build failed: ",
    "timed out waiting for workspace build: ",
    "unexpected job status: ",
    "failed to get template parameters: ",
    "failed to get template presets: ",
    "failed to get preset parameters: ",
    "start workspace: ",
    "stop workspace: ",
    IN_PROGRESS_PREFIX,
    START_FAILED_PREFIX,
    STOP_FAILED_PREFIX,
    LAZY_VALIDATION_PREFIX,
    FIND_CHAT_AGENT_PREFIX,
    GET_AGENTS_PREFIX,
    GET_LATEST_BUILD_PREFIX,
    GET_AGENT_PREFIX,
    PERSIST_BINDING_PREFIX,
    INVALID_PARAMETERS_PREFIX,
    // Go's `sql.ErrNoRows` text (`look up template: sql: no rows in result set`).
    "sql: ",
];

/// Spec texts that contain `: ` without being a chain.
const SPEC_TEXTS_WITH_COLON: [&str; 1] = [NO_WORKSPACE_AGENT];

/// Prefixes of texts the simulated world makes and the spec passes through
/// unchanged ("every other dial error is returned as is", spec 3 §2.2
/// step 8; the workspace tools return a connection's error text as is):
/// the simulated dialer's and agent connection's own errors. What follows
/// them is not read for prefixes.
pub const WORLD_ERROR_PREFIXES: [&str; 4] =
    ["dial agent ", "agent connection lost", "open ", "cat: "];

/// Text no model-facing message may carry: Rust `Debug` forms, panics,
/// backtraces.
pub const FORBIDDEN_FRAGMENTS: [&str; 10] = [
    "Some(",
    "Ok(",
    "Err(",
    "None)",
    "StoreError::",
    "Error::",
    "panicked at",
    "RUST_BACKTRACE",
    "stack backtrace",
    "unexpected response",
];

/// Tool results of engine and workspace tools (not the user's API
/// calls) and every prompt: no [`FORBIDDEN_FRAGMENTS`] and no struct
/// `Debug` form (`Name { field: …`); the error text of a result (a text
/// error's content, a JSON result's `error` and `agent_error`) is a chain
/// of [`SPEC_ERROR_PREFIXES`] ending in a text without an error prefix
/// (`<lowercase words>: `), a spec text, a world text
/// ([`WORLD_ERROR_PREFIXES`]) or the error text of a fault in the trace.
pub(super) fn model_facing_text_is_clean(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let world = fault_texts(view);
    let mut out = Vec::new();
    let mut fail = |at: Duration, what: String, why: String| {
        let message = format!("{what} {why}");
        out.push(violation(MODEL_FACING_TEXT_IS_CLEAN, at, message));
    };
    for call in view.calls.iter().filter(|c| c.is_tool()) {
        let Some(result) = &call.result else { continue };
        let what = || format!("{} (turn {}, call {})", call.name, call.turn, call.call);
        if let Some(why) = unclean(&result.content) {
            fail(result.at, what(), why);
        }
        for text in error_texts(result) {
            if let Some(prefix) = unlisted_prefix(&text, &world) {
                fail(
                    result.at,
                    what(),
                    format!("returned the error {text:?}, whose prefix {prefix:?} the spec does not list"),
                );
            }
        }
    }
    for record in view.records() {
        if let Event::TurnContext {
            chat, turn, prompt, ..
        } = &record.event
        {
            if let Some(why) = unclean(prompt) {
                fail(
                    record.at,
                    format!("the prompt of turn {turn} of chat {chat}"),
                    why,
                );
            }
        }
    }
    out
}

/// Why a text is not clean, if it is not.
fn unclean(text: &str) -> Option<String> {
    if let Some(f) = FORBIDDEN_FRAGMENTS.iter().find(|f| text.contains(*f)) {
        return Some(format!("carries {f:?}: {}", excerpt(text, f)));
    }
    struct_debug(text).map(|at| format!("carries a struct Debug form: {}", excerpt(text, at)))
}

/// A Rust struct `Debug` form (`Name { field: `), if the text has one.
fn struct_debug(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(i) = rest.find(" { ") {
        let before = &rest[..i];
        let name = before
            .rsplit(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default();
        let after = &rest[i + 3..];
        let field: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let capitalised = name.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        if capitalised && !field.is_empty() && after[field.len()..].starts_with(": ") {
            return Some(&rest[i - name.len()..]);
        }
        rest = &rest[i + 3..];
    }
    None
}

fn excerpt<'t>(text: &'t str, at: &str) -> &'t str {
    let start = text.find(at).unwrap_or(0);
    let mut end = (start + 80).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[start..end]
}

/// The error texts of a result: a text error's content, a JSON result's
/// `error` and `agent_error`.
fn error_texts(result: &ResultView) -> Vec<String> {
    if let Some(obj) = &result.json {
        return ["error", "agent_error"]
            .iter()
            .filter_map(|k| obj.get(*k).and_then(Value::as_str).map(str::to_string))
            .collect();
    }
    if result.is_error {
        vec![result.content.clone()]
    } else {
        vec![]
    }
}

/// The error texts faults put into the world (a failing query's error, a
/// provider failure): what a chain may end in.
fn fault_texts(view: &TraceView) -> BTreeSet<String> {
    view.records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::Fault { params, .. } => params
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        })
        .collect()
}

/// The first error prefix of `text`'s chain that the spec does not list.
fn unlisted_prefix(text: &str, world: &BTreeSet<String>) -> Option<String> {
    let mut rest = text;
    loop {
        if SPEC_TEXTS_WITH_COLON.contains(&rest)
            || WORLD_ERROR_PREFIXES.iter().any(|p| rest.starts_with(p))
            || world.iter().any(|w| rest.starts_with(w.as_str()))
        {
            return None;
        }
        match SPEC_ERROR_PREFIXES.iter().find(|p| rest.starts_with(*p)) {
            Some(p) => rest = &rest[p.len()..],
            None => return error_prefix(rest).map(str::to_string),
        }
    }
}

/// A leading `<lowercase words>: ` — how Go error chains start.
fn error_prefix(text: &str) -> Option<&str> {
    let (head, _) = text.split_once(": ")?;
    let wordy = head.len() <= 60
        && head.starts_with(|c: char| c.is_ascii_lowercase())
        && head
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || " _-".contains(c));
    wordy.then_some(head)
}
