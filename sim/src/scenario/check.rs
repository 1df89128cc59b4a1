//! Checks of a parsed scenario: the run's own checks (the one validator,
//! [`crate::harness::check`]), then what only a scenario file has — its
//! name and `[expect]`: every tool, call, workspace, chat and turn an
//! expectation names exists. Each problem names the field path it is
//! about, so the loader can point at it.

use super::file::{unsupported_format, Expect, ModelOutcomeName, ScenarioFile, TurnExpect, FORMAT};
use crate::harness::check::{known, root, Checker};
use crate::plan::path::FieldPath;

pub use crate::harness::check::{tool_names, Problem, API_CALLS};

/// Checks a parsed scenario; an empty list means it is sound.
pub fn check(file: &ScenarioFile) -> Vec<Problem> {
    let config = file.run_config();
    let mut c = Checker::new(&config);
    c.top(&file.name, file.format);
    c.run();
    c.expect(&file.expect);
    c.problems
}

/// The scenario's own checks, on the run's checker.
impl Checker<'_> {
    fn top(&mut self, name: &str, format: Option<u32>) {
        if let Some(version) = format.filter(|v| *v != FORMAT) {
            self.problem(root().key("format"), unsupported_format(version));
        }
        if name.trim().is_empty() {
            self.problem(root().key("name"), "name must not be empty");
        }
    }

    fn expect(&mut self, e: &Expect) {
        let at = root().key("expect");
        for (i, name) in e.tool_order.iter().flatten().enumerate() {
            let tools = tool_names();
            if !tools.contains(&name.as_str()) {
                let message = format!("unknown tool {name:?} (tool_order lists the model's tools only); known tools: {}", tools.join(", "));
                self.problem(at.key("tool_order").index(i), message);
            }
        }
        for name in e.tool_calls.keys() {
            self.tool_or_call_key(at.key("tool_calls").key(name), name);
        }
        for name in e.workspaces.keys() {
            if !self.names.workspaces.contains(name) {
                let message = format!(
                    "unknown workspace {name:?}; {} (use [expect.chats.NAME] for a workspace the model names)",
                    known("workspaces", &self.names.workspaces)
                );
                self.key_problem(at.key("workspaces").key(name), message);
            }
        }
        for (chat, w) in &e.chats {
            if !self.names.chats.contains(chat) {
                let message = format!(
                    "unknown chat {chat:?}; {}",
                    known("chats", &self.names.chats)
                );
                self.key_problem(at.key("chats").key(chat), message);
            }
            if let Some(name) = &w.name {
                self.workspace(at.key("chats").key(chat).key("name"), name);
            }
        }
        for (name, w) in &e.workspaces {
            if w.name.is_some() {
                self.key_problem(
                    at.key("workspaces").key(name).key("name"),
                    "`name` is for [expect.chats.*]: here the key names the workspace",
                );
            }
            if w.bound_agent.is_some() {
                self.key_problem(
                    at.key("workspaces").key(name).key("bound_agent"),
                    "`bound_agent` is for [expect.chats.*]: a chat binds an agent, a workspace does not",
                );
            }
        }
        for (i, r) in e.responses.iter().enumerate() {
            let here = at.key("responses").index(i);
            self.tool_or_call(here.key("tool"), &r.tool);
            if r.nth == Some(0) {
                self.problem(
                    here.key("nth"),
                    "nth counts from 1 (first) or -1 (last); 0 is neither",
                );
            }
            if let Some(took) = r.took {
                self.range(here.key("took"), took);
            }
        }
        for (i, t) in e.turns.iter().enumerate() {
            self.turn_expect(at.key("turns").index(i), t);
        }
        for (i, p) in e.prompts.iter().enumerate() {
            self.known_turn(at.key("prompts").index(i).key("turn"), &p.turn);
        }
    }

    /// Reports `turn` unless some turn has that `name`.
    fn known_turn(&mut self, at: FieldPath, turn: &str) {
        let turns = self.names.turns.clone();
        if !turns.iter().any(|t| t == turn) {
            let message = format!(
                "unknown turn {turn:?}; {} (give a turn a `name` to refer to it)",
                known("turns", &turns)
            );
            self.problem(at, message);
        }
    }

    fn tool_or_call_key(&mut self, at: FieldPath, name: &str) {
        let before = self.problems.len();
        self.tool_or_call(at, name);
        for p in &mut self.problems[before..] {
            p.at_key = true;
        }
    }

    fn turn_expect(&mut self, at: FieldPath, t: &TurnExpect) {
        let turns = self.names.turns.clone();
        if !turns.contains(&t.turn) {
            let message = format!(
                "unknown turn {:?}; {} (give a turn a `name` to refer to it)",
                t.turn,
                known("turns", &turns)
            );
            self.problem(at.key("turn"), message);
        }
        if let Some(outcome) = &t.outcome {
            if !["done", "timeout", "lost"].contains(&outcome.as_str()) {
                self.problem(
                    at.key("outcome"),
                    format!("unknown turn outcome {outcome:?}; outcomes: done, timeout, lost"),
                );
            }
        }
        if t.reason.is_some() && t.model != Some(ModelOutcomeName::ToldUser) {
            self.problem(at.key("reason"), "`reason` needs model = \"told_user\"");
        }
        if let Some(by) = t.ends_by {
            self.time(at.key("ends_by"), by, "ends_by");
        }
        let is_model = self
            .config
            .turns
            .iter()
            .find(|turn| turn.name.as_deref() == Some(t.turn.as_str()))
            .is_some_and(|turn| turn.model.is_some());
        if (t.model.is_some() || t.calls.is_some()) && !is_model && turns.contains(&t.turn) {
            self.problem(
                at.key("model"),
                format!(
                    "turn {:?} is scripted: `model` and `calls` check model turns",
                    t.turn
                ),
            );
        }
    }
}
