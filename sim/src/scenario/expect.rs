//! Evaluating a scenario's `[expect]` against a finished run: the trace
//! (read back as a [`TraceView`]) and the database summary.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::file::{
    variant_name, Expect, ModelOutcomeName, PromptExpect, PromptPhase, ResponseExpect, TurnExpect,
    WorkspaceExpect,
};
use super::spans::FieldPath;
use super::transcript::agent_label;
use crate::harness::{Summary, WorkspaceSummary};
use crate::observe::invariants::is_recovery_advice;
use crate::observe::trace::{format_time, ContextPhase, Event, ModelOutcome};
use crate::observe::view::{CallView, TraceView};

/// An expectation that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Where it is written: `expect.turns[0].model`.
    pub path: FieldPath,
    /// What was expected and what happened, in a line.
    pub message: String,
    /// Expected and actual values too long for the line, unescaped (pretty
    /// JSON, with a short diff), or the response quoted; empty when the
    /// line says it all.
    pub detail: String,
    /// 1-based line and column of the expectation in its file, once judged
    /// against the file's text.
    pub at: Option<(usize, usize)>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expectation {} failed: {}", self.path, self.message)
    }
}

/// Checks every expectation; an empty list means all held.
pub fn evaluate(expect: &Expect, view: &TraceView, summary: &Summary) -> Vec<Failure> {
    let mut e = Evaluator {
        view,
        summary,
        failures: Vec::new(),
    };
    e.top(expect);
    for (name, want) in &expect.workspaces {
        let at = root().key("workspaces").key(name);
        let found = summary.workspaces.iter().find(|w| &w.name == name);
        e.workspace(at, found, want);
    }
    for (chat, want) in &expect.chats {
        let at = root().key("chats").key(chat);
        let bound = summary
            .chats
            .iter()
            .find(|c| &c.name == chat)
            .and_then(|c| c.workspace.as_ref());
        let found = bound.and_then(|id| summary.workspaces.iter().find(|w| &w.id == id));
        if let (Some(name), Some(w)) = (&want.name, found) {
            e.compare(at.key("name"), "the chat's workspace", name, &w.name);
        }
        if let Some(agent) = &want.bound_agent {
            e.bound_agent(at.key("bound_agent"), chat, agent);
        }
        e.workspace(at, found, want);
    }
    for (i, r) in expect.responses.iter().enumerate() {
        e.response(root().key("responses").index(i), r);
    }
    for (i, t) in expect.turns.iter().enumerate() {
        e.turn(root().key("turns").index(i), t);
    }
    if let Some(want) = &expect.dialed {
        e.dialed(want);
    }
    for (i, p) in expect.prompts.iter().enumerate() {
        e.prompt(root().key("prompts").index(i), p);
    }
    e.failures
}

fn root() -> FieldPath {
    FieldPath::root().key("expect")
}

/// A string as a message quotes it, unescaped where it can be: `"text"`,
/// else `'text'` (TOML's literal string) when it has double quotes.
fn shown(text: &str) -> String {
    let plain = !text.chars().any(char::is_control);
    if plain && !text.contains('"') {
        format!("\"{text}\"")
    } else if plain && !text.contains('\'') {
        format!("'{text}'")
    } else {
        format!("{text:?}")
    }
}

/// The most lines of a value a failure shows.
const DETAIL_LINES: usize = 40;

/// A response or prompt as a failure shows it below its line: pretty JSON
/// when it is JSON, else the text (long ones cut).
fn block(label: &str, text: &str) -> String {
    let body = match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => {
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_string())
        }
        _ => text.to_string(),
    };
    format!("{label}:\n{}", cut_lines(&body))
}

/// At most [`DETAIL_LINES`] lines of at most 200 characters, indented.
fn cut_lines(text: &str) -> String {
    let mut out: Vec<String> = text
        .lines()
        .take(DETAIL_LINES)
        .map(|l| {
            if l.chars().count() > 200 {
                format!("  {}…", l.chars().take(200).collect::<String>())
            } else {
                format!("  {l}")
            }
        })
        .collect();
    let total = text.lines().count();
    if total > DETAIL_LINES {
        out.push(format!("  … ({} more lines)", total - DETAIL_LINES));
    }
    out.join("\n")
}

/// The lines of `want` and `got` that differ, `-` expected and `+` actual
/// (a longest-common-subsequence diff; both sides when too long for one).
fn diff(want: &str, got: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    if a.len() * b.len() > 250_000 {
        return String::new();
    }
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("  - {}", a[i]));
            i += 1;
        } else {
            out.push(format!("  + {}", b[j]));
            j += 1;
        }
    }
    let more = out.len().saturating_sub(DETAIL_LINES);
    out.truncate(DETAIL_LINES);
    if more > 0 {
        out.push(format!("  … ({more} more lines)"));
    }
    format!("diff (- expected, + actual):\n{}", out.join("\n"))
}

struct Evaluator<'a> {
    view: &'a TraceView,
    summary: &'a Summary,
    failures: Vec<Failure>,
}

impl Evaluator<'_> {
    fn fail(&mut self, path: FieldPath, message: impl Into<String>) {
        self.fail_with(path, message, String::new());
    }

    fn fail_with(&mut self, path: FieldPath, message: impl Into<String>, detail: String) {
        self.failures.push(Failure {
            path,
            message: message.into(),
            detail,
            at: None,
        });
    }

    /// A failure quoting `text` (a response, a prompt) below its line.
    fn fail_quoting(&mut self, path: FieldPath, message: String, label: &str, text: &str) {
        self.fail_with(path, message, block(label, text));
    }

    /// Short values on the failure's line; long ones below it, pretty, with
    /// a diff.
    fn compare<T: PartialEq + fmt::Debug + serde::Serialize + ?Sized>(
        &mut self,
        path: FieldPath,
        what: &str,
        want: &T,
        got: &T,
    ) {
        if want == got {
            return;
        }
        let (w, g) = (format!("{want:?}"), format!("{got:?}"));
        if w.chars().count() + g.chars().count() <= 160 {
            return self.fail(path, format!("{what}: expected {w}, got {g}"));
        }
        let pretty = |v: &T| serde_json::to_string_pretty(v).unwrap_or_default();
        let (w, g) = (pretty(want), pretty(got));
        let detail = format!(
            "expected:\n{}\nactual:\n{}\n{}",
            cut_lines(&w),
            cut_lines(&g),
            diff(&w, &g)
        );
        self.fail_with(
            path,
            format!("{what}: not as expected (below)"),
            detail.trim_end().to_string(),
        );
    }

    fn top(&mut self, expect: &Expect) {
        if let Some(want) = expect.recovery_advice {
            let advised: Vec<&CallView> = self
                .view
                .calls
                .iter()
                .filter(|c| {
                    c.result
                        .as_ref()
                        .is_some_and(|r| is_recovery_advice(&r.content))
                })
                .collect();
            if want == advised.is_empty() {
                let message = match advised.first() {
                    Some(c) => format!(
                        "expected no stop/start advice, but {} (turn {}) got it at {}s",
                        c.name,
                        c.turn,
                        format_time(c.result.as_ref().map_or(c.sent, |r| r.at))
                    ),
                    None => "expected stop/start advice, but no result gave it".to_string(),
                };
                self.fail(root().key("recovery_advice"), message);
            }
        }
        if let Some(want) = expect.workspace_count {
            let got = self.summary.workspaces.len();
            self.compare(
                root().key("workspace_count"),
                "workspaces at the end",
                &want,
                &got,
            );
        }
        if let Some(want) = &expect.tool_order {
            let got: Vec<String> = self
                .view
                .calls
                .iter()
                .filter(|c| c.is_tool())
                .map(|c| c.name.clone())
                .collect();
            self.compare(
                root().key("tool_order"),
                "the model's tool calls",
                want,
                &got,
            );
        }
        for (name, want) in &expect.tool_calls {
            let got = self.view.calls.iter().filter(|c| &c.name == name).count();
            self.compare(
                root().key("tool_calls").key(name),
                &format!("{name} calls"),
                want,
                &got,
            );
        }
    }

    fn workspace(
        &mut self,
        at: FieldPath,
        found: Option<&WorkspaceSummary>,
        want: &WorkspaceExpect,
    ) {
        let Some(w) = found else {
            return self.fail(at, "no such workspace at the end of the run");
        };
        let latest = w.builds.last();
        if let Some(t) = want.transition {
            let got = latest.map_or("none", |b| b.transition.as_str());
            self.compare(
                at.key("transition"),
                "the latest build's transition",
                variant_name(&t).as_str(),
                got,
            );
        }
        if let Some(s) = want.status {
            let got = latest.map_or("none", |b| b.status.as_str());
            self.compare(
                at.key("status"),
                "the latest build's job status",
                variant_name(&s).as_str(),
                got,
            );
        }
        if let Some(a) = want.agent {
            let got = self.chat_agent_status(w);
            self.compare(
                at.key("agent"),
                "the chat agent's status",
                variant_name(&a).as_str(),
                got.as_str(),
            );
        }
        if let Some(n) = want.builds {
            self.compare(at.key("builds"), "builds", &n, &w.builds.len());
        }
        if let Some(p) = &want.parameters {
            let none = BTreeMap::new();
            let got = latest.map_or(&none, |b| &b.parameters);
            self.compare(
                at.key("parameters"),
                "the latest build's parameters",
                p,
                got,
            );
        }
    }

    /// The computed status of the latest build's chat agent at the end
    /// (`none`: no agents).
    fn chat_agent_status(&self, w: &WorkspaceSummary) -> String {
        let chat_agent = w
            .builds
            .last()
            .and_then(|b| self.view.chat_agent_of(&b.id))
            .map(|a| a.id.clone());
        let agent = w
            .agents
            .iter()
            .find(|a| Some(&a.id) == chat_agent.as_ref())
            .or(w.agents.first());
        agent.map_or("none".to_string(), |a| a.status.clone())
    }

    fn response(&mut self, at: FieldPath, r: &ResponseExpect) {
        let results: Vec<&CallView> = self.view.results_of(&r.tool).collect();
        let chosen: Vec<(usize, &CallView)> = match r.nth {
            None => results.iter().copied().enumerate().collect(),
            Some(n) => {
                let index = if n > 0 {
                    n - 1
                } else {
                    results.len() as i64 + n
                };
                match usize::try_from(index)
                    .ok()
                    .and_then(|i| results.get(i).map(|c| (i, *c)))
                {
                    Some(one) => vec![one],
                    None => vec![],
                }
            }
        };
        if chosen.is_empty() {
            let which = r.nth.map_or("any".to_string(), |n| format!("response {n}"));
            let message = format!(
                "{} returned {} response(s); wanted {which}",
                r.tool,
                results.len()
            );
            return self.fail(at, message);
        }
        for (i, call) in chosen {
            let label = format!("{} response {}", r.tool, i + 1);
            self.one_response(&at, &label, call, r);
        }
    }

    fn one_response(&mut self, at: &FieldPath, label: &str, call: &CallView, r: &ResponseExpect) {
        let Some(result) = &call.result else { return };
        let text = &result.content;
        if let Some(want) = r.is_error {
            if want != result.is_error {
                self.fail_quoting(
                    at.key("is_error"),
                    format!("{label}: is_error {}, expected {want}", result.is_error),
                    "the response",
                    text,
                );
            }
        }
        if let Some(want) = &r.equals {
            if want != text {
                let detail = format!("{}\n{}", block("the response", text), diff(want, text));
                self.fail_with(at.key("equals"), format!("{label} differs (below)"), detail);
            }
        }
        if let Some(range) = r.took {
            let took = result.at.saturating_sub(call.sent);
            if took < range.min.0 || took > range.max.0 {
                self.fail(
                    at.key("took"),
                    format!(
                        "{label} took {}s (sent at {}s), expected {} to {}",
                        format_time(took),
                        format_time(call.sent),
                        range.min,
                        range.max
                    ),
                );
            }
        }
        for s in &r.contains {
            if !text.contains(s.as_str()) {
                self.fail_quoting(
                    at.key("contains"),
                    format!("{label} lacks {}", shown(s)),
                    "the response",
                    text,
                );
            }
        }
        for s in &r.lacks {
            if text.contains(s.as_str()) {
                self.fail_quoting(
                    at.key("lacks"),
                    format!("{label} contains {}", shown(s)),
                    "the response",
                    text,
                );
            }
        }
        if r.keys.is_empty() && r.lacks_keys.is_empty() {
            return;
        }
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
            return self.fail_quoting(
                at.key("keys"),
                format!("{label} is not a JSON object"),
                "the response",
                text,
            );
        };
        for k in &r.keys {
            if !map.contains_key(k) {
                self.fail_quoting(
                    at.key("keys"),
                    format!("{label} has no key {}", shown(k)),
                    "the response",
                    text,
                );
            }
        }
        for k in &r.lacks_keys {
            if map.contains_key(k) {
                self.fail_quoting(
                    at.key("lacks_keys"),
                    format!("{label} has key {}", shown(k)),
                    "the response",
                    text,
                );
            }
        }
    }

    /// The chat's bound agent at the end, as `workspace#build/agent`.
    fn bound_agent(&mut self, at: FieldPath, chat: &str, want: &str) {
        let got = self
            .summary
            .chats
            .iter()
            .find(|c| c.name == chat)
            .and_then(|c| c.agent.as_deref())
            .map_or("none".to_string(), |id| agent_label(self.view, id));
        self.compare(at, "the chat's bound agent", want, got.as_str());
    }

    /// The distinct agents dialed, in the order first dialed.
    fn dialed(&mut self, want: &[String]) {
        let mut got: Vec<String> = Vec::new();
        for record in self.view.records() {
            if let Event::Dial { agent, .. } = &record.event {
                let label = agent_label(self.view, agent);
                if !got.contains(&label) {
                    got.push(label);
                }
            }
        }
        self.compare(root().key("dialed"), "the agents dialed", want, &got);
    }

    /// The prompt a named turn was built with, in the phase asked for.
    fn prompt(&mut self, at: FieldPath, p: &PromptExpect) {
        let Some(turn) = self
            .view
            .turns
            .iter()
            .find(|v| v.name.as_deref() == Some(p.turn.as_str()))
        else {
            return self.fail(at.key("turn"), format!("turn {:?} never started", p.turn));
        };
        let phase = context_phase(p.phase);
        let found = self.view.records().iter().find_map(|r| match &r.event {
            Event::TurnContext {
                chat,
                turn: n,
                phase: ph,
                prompt,
            } if *n == turn.turn && chat == &turn.chat && *ph == phase => {
                Some((r.at, prompt.clone()))
            }
            _ => None,
        });
        let Some((built, text)) = found else {
            let message = match p.phase {
                PromptPhase::Begin => format!("turn {:?} built no prompt", p.turn),
                PromptPhase::MidTurn => format!(
                    "turn {:?} pulled no workspace context mid-turn (no OnChatUpdated led to a pull that found context)",
                    p.turn
                ),
            };
            return self.fail(at.key("phase"), message);
        };
        let label = format!("the {phase} prompt of turn {:?}", p.turn);
        if let Some(within) = p.within {
            let took = built.saturating_sub(turn.started);
            if took > within.0 {
                self.fail(
                    at.key("within"),
                    format!(
                        "{label} was built {}s after the turn began, expected within {within}",
                        format_time(took)
                    ),
                );
            }
        }
        if let Some(want) = &p.equals {
            if want != &text {
                let detail = format!("{}\n{}", block("the prompt", &text), diff(want, &text));
                self.fail_with(at.key("equals"), format!("{label} differs (below)"), detail);
            }
        }
        for s in &p.contains {
            if !text.contains(s.as_str()) {
                self.fail_quoting(
                    at.key("contains"),
                    format!("{label} lacks {}", shown(s)),
                    "the prompt",
                    &text,
                );
            }
        }
        for s in &p.lacks {
            if text.contains(s.as_str()) {
                self.fail_quoting(
                    at.key("lacks"),
                    format!("{label} contains {}", shown(s)),
                    "the prompt",
                    &text,
                );
            }
        }
    }

    fn turn(&mut self, at: FieldPath, t: &TurnExpect) {
        let Some(turn) = self
            .view
            .turns
            .iter()
            .find(|v| v.name.as_deref() == Some(t.turn.as_str()))
        else {
            return self.fail(at.key("turn"), format!("turn {:?} never started", t.turn));
        };
        let ended = turn.ended.clone();
        if let Some(want) = &t.outcome {
            let got = ended.as_ref().map_or("unfinished", |(_, o)| o.name());
            self.compare(at.key("outcome"), "the turn's outcome", want.as_str(), got);
        }
        let end_at = ended.as_ref().map(|(at, _)| *at);
        if let Some(within) = t.ends_within {
            let took = end_at.map(|e| e.saturating_sub(turn.started));
            if took.is_none_or(|d| d > within.0) {
                let got = took.map_or("it never ended".to_string(), |d| {
                    format!("it took {}s", format_time(d))
                });
                self.fail(
                    at.key("ends_within"),
                    format!("turn {:?} should end within {within}; {got}", t.turn),
                );
            }
        }
        if let Some(by) = t.ends_by {
            if end_at.is_none_or(|e| e > by.0) {
                let got = end_at.map_or("it never ended".to_string(), |e| {
                    format!("it ended at {}s", format_time(e))
                });
                self.fail(
                    at.key("ends_by"),
                    format!("turn {:?} should end by {by}; {got}", t.turn),
                );
            }
        }
        let model = turn.model_outcome.clone();
        if let Some(want) = t.model {
            let want = model_outcome(want);
            let got = model.as_ref().map(|(o, _, _)| *o);
            if got != Some(want) {
                let got = got.map_or("none", ModelOutcome::as_str);
                self.fail(
                    at.key("model"),
                    format!(
                        "the model's outcome: expected {:?}, got {got:?}",
                        want.as_str()
                    ),
                );
            }
        }
        if let Some(want) = t.reason {
            let got = model
                .as_ref()
                .and_then(|(_, r, _)| r.clone())
                .unwrap_or_else(|| "none".into());
            self.compare(
                at.key("reason"),
                "what the model told the user",
                variant_name(&want).as_str(),
                got.as_str(),
            );
        }
        if let Some(want) = t.calls {
            let got = model.as_ref().map_or(0, |(_, _, c)| *c);
            self.compare(at.key("calls"), "the model's tool calls", &want, &got);
        }
    }
}

/// The trace's name for a scenario's prompt phase.
fn context_phase(phase: PromptPhase) -> ContextPhase {
    match phase {
        PromptPhase::Begin => ContextPhase::Begin,
        PromptPhase::MidTurn => ContextPhase::MidTurn,
    }
}

/// The trace's name for a scenario's model outcome.
fn model_outcome(outcome: ModelOutcomeName) -> ModelOutcome {
    match outcome {
        ModelOutcomeName::Done => ModelOutcome::Done,
        ModelOutcomeName::ToldUser => ModelOutcome::ToldUser,
        ModelOutcomeName::CapExceeded => ModelOutcome::CapExceeded,
    }
}
