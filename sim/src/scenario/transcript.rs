//! A run as a reviewer reads it: each call with its arguments and its
//! response (JSON pretty-printed in the key order the engine emitted), and
//! between them the world events that matter — builds, agent statuses,
//! faults, chat bindings — each at its virtual time, with names instead of
//! IDs. The header carries the trace hash (the one `chatsim run` and
//! `chatsim report` print), so a change anywhere in the trace shows up in
//! the snapshot; the truthfulness oracle's known upstream findings follow
//! the events (only when there are any), and a legend at the end maps the
//! IDs the responses mention to names.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::load::Scenario;
use crate::harness::RunOutcome;
use chatsim_engine::model::JobStatus;

use crate::observe::trace::{format_time, Event, Record};
use crate::observe::view::TraceView;

/// The transcript of `outcome`, a run of `scenario`.
pub fn transcript(scenario: &Scenario, outcome: &RunOutcome) -> String {
    let view = TraceView::new(&outcome.trace);
    let names = Names::of(&view);
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", scenario.name());
    for line in scenario.file.description.trim().lines() {
        let _ = writeln!(out, "  {}", line.trim());
    }
    let _ = writeln!(
        out,
        "seed {} on {}, trace {} ({} lines)",
        scenario.seed(),
        outcome.transport,
        outcome.trace.hash(),
        outcome.trace.len()
    );
    let _ = writeln!(out);
    for record in view.records() {
        if let Some(text) = line(&names, &view, record) {
            let time = format!("{:>9}", format_time(record.at));
            let mut lines = text.lines();
            let _ = writeln!(out, "{time}  {}", lines.next().unwrap_or_default());
            for rest in lines {
                let _ = writeln!(out, "{:>9}  {rest}", "");
            }
        }
    }
    let findings = outcome.findings();
    if !findings.is_empty() {
        let _ = writeln!(out, "\nknown upstream findings:");
        for finding in findings {
            let _ = writeln!(out, "  {finding}");
        }
    }
    let legend = names.legend(&out);
    if !legend.is_empty() {
        let _ = writeln!(out, "\nids:");
        for (id, name) in legend {
            let _ = writeln!(out, "  {id} = {name}");
        }
    }
    out
}

/// IDs to readable names.
struct Names {
    names: BTreeMap<String, String>,
}

impl Names {
    fn of(view: &TraceView) -> Names {
        let mut names = BTreeMap::new();
        for (id, (kind, name)) in &view.entities {
            names.insert(id.clone(), format!("{kind} {name}"));
        }
        for (id, name) in &view.workspace_names {
            names.insert(id.clone(), format!("workspace {name}"));
        }
        for b in &view.builds {
            names.insert(b.id.clone(), format!("build {}", b.label()));
        }
        for a in &view.agents {
            names.insert(a.id.clone(), format!("agent {}", agent_label(view, &a.id)));
        }
        Names { names }
    }

    fn get<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, |n| {
            n.split_once(' ').map_or(n.as_str(), |(_, name)| name)
        })
    }

    /// The IDs that appear in `text`, with their names.
    fn legend(&self, text: &str) -> Vec<(String, String)> {
        self.names
            .iter()
            .filter(|(id, _)| text.contains(id.as_str()))
            .map(|(id, name)| (id.clone(), name.clone()))
            .collect()
    }
}

/// `ws1#2/main`.
pub(super) fn agent_label(view: &TraceView, id: &str) -> String {
    match view.agent(id) {
        Some(a) => {
            let build = view.build(&a.build).map_or(a.build.clone(), |b| b.label());
            format!("{build}/{}", a.name)
        }
        None => id.to_string(),
    }
}

/// The transcript line(s) of one record, if it is one a reader needs.
fn line(names: &Names, view: &TraceView, record: &Record) -> Option<String> {
    Some(match &record.event {
        Event::TurnStart {
            chat,
            turn,
            name,
            model,
        } => {
            let name = name.as_ref().map_or(String::new(), |n| format!(" {n:?}"));
            let by = model
                .as_ref()
                .map_or("scripted".to_string(), |m| format!("model {}", m.as_str()));
            format!("turn {turn}{name} in chat {chat} ({by})")
        }
        Event::TurnEnd { turn, outcome } => format!("turn {turn} ends: {outcome}"),
        Event::ModelOutcome {
            outcome,
            reason,
            calls,
            ..
        } => {
            let reason = reason.as_ref().map_or(String::new(), |r| format!(" ({r})"));
            let plural = if *calls == 1 { "" } else { "s" };
            format!("model: {outcome}{reason} after {calls} call{plural}")
        }
        Event::ToolCall {
            turn,
            call,
            name,
            input,
        } => {
            let tag = call_tag(view, *turn, *call);
            format!("> {name}{tag} {}", compact_input(name, input))
        }
        Event::ToolResult {
            turn,
            call,
            name,
            is_error,
            content,
        } => {
            let tag = call_tag(view, *turn, *call);
            let marker = if *is_error { " (is_error)" } else { "" };
            format!("< {name}{tag}{marker}\n{}", indent(&pretty(content)))
        }
        Event::CallAbandoned { turn, call, name } => {
            let tag = call_tag(view, *turn, *call);
            format!("model gave up waiting on {name}{tag}")
        }
        Event::Fault { name, params } => format!("! fault {name} {params}"),
        Event::FaultSkipped { name, reason } => format!("! fault {name} skipped: {reason}"),
        Event::Enqueue {
            by,
            build,
            transition,
            template,
            version,
            ..
        } => {
            let label = view.build(build).map_or(build.clone(), |b| b.label());
            let transition = transition.as_str();
            format!("- build {label} {transition} enqueued by {by} ({template} {version})")
        }
        Event::Job {
            workspace,
            number,
            transition,
            status,
            error,
            error_code,
            ..
        } => {
            if *status == JobStatus::Pending {
                return None;
            }
            let (transition, status) = (transition.as_str(), status.as_str());
            let mut text = format!("- build {workspace}#{number} {transition} {status}");
            if let Some(e) = error {
                let _ = write!(text, ": {e}");
            }
            if let Some(c) = error_code {
                let _ = write!(text, " [{c}]");
            }
            text
        }
        Event::QuotaCommit {
            build,
            daily_cost,
            ok: false,
        } => {
            format!(
                "- quota commit of build {} (cost {daily_cost}) over budget",
                names.get(build)
            )
        }
        Event::AgentStatus {
            agent,
            from,
            to,
            since,
            ..
        } => {
            let since = since.map_or(String::new(), |s| format!(" since {}", format_time(s)));
            let from = from.map_or("none", |s| s.as_str());
            format!("- agent {} {from} -> {to}{since}", agent_label(view, agent))
        }
        Event::ChatUpdated {
            chat,
            workspace,
            build,
            agent,
        } => {
            let chat = names.get(chat);
            match workspace {
                None => format!("- chat {chat} unbound"),
                Some(ws) => {
                    let mut text = format!("- chat {chat} bound to {}", names.get(ws));
                    if let Some(b) = build {
                        let _ = write!(text, ", build {}", names.get(b));
                    }
                    if let Some(a) = agent {
                        let _ = write!(text, ", agent {}", names.get(a));
                    }
                    text
                }
            }
        }
        // The workspace context the model's prompt carries (context files
        // and skills); an empty prompt is not shown.
        Event::TurnContext { phase, prompt, .. } if !prompt.is_empty() => {
            format!("~ prompt ({phase})\n{}", indent(prompt))
        }
        Event::RunEnd { outcome } => format!("run ends: {outcome}"),
        _ => return None,
    })
}

/// ` [call N]` (the call's place in its turn, from 1) when calls of the turn
/// overlapped, so a result can be matched to its call.
fn call_tag(view: &TraceView, turn: usize, call: usize) -> String {
    let calls: Vec<_> = view.calls.iter().filter(|c| c.turn == turn).collect();
    let overlapped = calls.iter().enumerate().any(|(i, c)| {
        calls[..i]
            .iter()
            .any(|earlier| earlier.result.as_ref().is_none_or(|r| r.at > c.sent))
    });
    if overlapped {
        format!(" [call {}]", call + 1)
    } else {
        String::new()
    }
}

/// A tool's input as sent; a user call without its redundant `call` tag.
fn compact_input(name: &str, input: &str) -> String {
    if !name.starts_with("api.") {
        return input.to_string();
    }
    match serde_json::from_str::<serde_json::Value>(input) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove("call");
            map.retain(|_, v| !v.is_null() && v != &serde_json::json!({}));
            serde_json::Value::Object(map).to_string()
        }
        _ => input.to_string(),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// JSON objects and arrays pretty-printed, keys in the order written and
/// strings byte for byte as written (`\u003c` stays `\u003c`); any other
/// text as it is.
pub fn pretty(text: &str) -> String {
    let trimmed = text.trim_start();
    let structured = trimmed.starts_with('{') || trimmed.starts_with('[');
    if !structured || serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return text.to_string();
    }
    reformat(text)
}

/// Re-lays out valid JSON without parsing it into a map.
fn reformat(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                out.extend(&chars[start..=i.min(chars.len() - 1)]);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let next = chars[i + 1..].iter().position(|c| !c.is_whitespace());
                if next.is_some_and(|n| chars[i + 1 + n] == close) {
                    out.push(c);
                    out.push(close);
                    i += 1 + next.unwrap_or(0);
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_keeps_key_order_and_escapes() {
        let text = r#"{"z":1,"a":{"q":"\u003c\"x\"","e":[]},"m":[1,{"k":null}],"o":{}}"#;
        assert_eq!(
            pretty(text),
            "{\n  \"z\": 1,\n  \"a\": {\n    \"q\": \"\\u003c\\\"x\\\"\",\n    \"e\": []\n  },\n  \"m\": [\n    1,\n    {\n      \"k\": null\n    }\n  ],\n  \"o\": {}\n}"
        );
    }

    #[test]
    fn text_that_is_not_json_stays_as_it_is() {
        for text in ["workspace agent timed out", "{not json", "42", ""] {
            assert_eq!(pretty(text), text);
        }
    }
}
