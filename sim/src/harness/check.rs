//! The one validator of a run: every name a fault, turn or call refers to
//! exists, times fit in the run, settings make sense together, turns are
//! either scripted or played by a model, names are unique. Each problem
//! names the field path it is about: a run built in Rust fails at setup
//! with the problems as its error ([`super::setup::validate`]); a scenario
//! file's loader adds its own checks (`scenario::check`: the name and
//! `[expect]`) and points each problem at its file, line and column.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::faults::{self, Named, Ref};
use crate::hosts::{CODERD, DRIVER, PROVISIONER};
use crate::plan::path::FieldPath;
use crate::plan::Fault;
use crate::plan::{Call, Dur, DurRange, Goal, RunConfig, Turn};

/// One problem: where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field the problem is at.
    pub path: FieldPath,
    /// Point at the key rather than the value (a name that is wrong as a
    /// name, e.g. an unknown workspace in `[expect.workspaces.NAME]`).
    pub at_key: bool,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for Problem {
    /// `path: message` (the message alone at the root).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_root() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The tools a model can call: the engine's five and its workspace tools.
pub fn tool_names() -> Vec<&'static str> {
    // The engine's one registry (tools and workspace tools), as the chat
    // runtime dispatches them.
    chatsim_engine::chat::ChatRuntime::tool_names().collect()
}

/// The user calls, as traces name them.
pub const API_CALLS: [&str; 7] = [
    "api.create_workspace",
    "api.start_workspace",
    "api.stop_workspace",
    "api.wait_build",
    "api.bind_chat",
    "api.exec",
    "api.inspect",
];

/// Names the run defines, for lookups and hints.
pub(crate) struct Names {
    pub(crate) users: Vec<String>,
    pub(crate) organizations: Vec<String>,
    pub(crate) templates: Vec<String>,
    pub(crate) chats: Vec<String>,
    /// Workspaces the scenario creates by name (user calls, tool inputs).
    pub(crate) workspaces: Vec<String>,
    /// Agent names of every template version.
    pub(crate) agents: Vec<String>,
    pub(crate) turns: Vec<String>,
}

pub(crate) fn unique(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// `known: a, b, c` (or `none are defined`).
pub(crate) fn known(what: &str, names: &[String]) -> String {
    if names.is_empty() {
        format!("no {what} are defined")
    } else {
        format!("known {what}: {}", names.join(", "))
    }
}

/// Every call of the scenario with its path: turns' and injected ones.
fn all_calls(file: &RunConfig) -> Vec<(FieldPath, &Call)> {
    let mut out = Vec::new();
    for (i, turn) in file.turns.iter().enumerate() {
        for (j, call) in turn.calls.iter().enumerate() {
            out.push((
                FieldPath::root()
                    .key("turns")
                    .index(i)
                    .key("calls")
                    .index(j),
                call,
            ));
        }
    }
    for (i, f) in file.faults.iter().enumerate() {
        for r in faults::refs(&f.fault) {
            if let Ref::Calls { field, calls } = r {
                for (j, call) in calls.iter().enumerate() {
                    let at = FieldPath::root().key("faults").index(i).key(field);
                    out.push((at.index(j), call));
                }
            }
        }
    }
    out
}

fn created_workspaces(file: &RunConfig) -> Vec<String> {
    let mut names = Vec::new();
    for (_, call) in all_calls(file) {
        match call {
            Call::CreateWorkspace { name, .. } => names.push(name.clone()),
            Call::Tool { name, input } if name == "create_workspace" => {
                if let Some(n) = input.get("name").and_then(Value::as_str) {
                    names.push(n.to_string());
                }
            }
            _ => {}
        }
    }
    unique(names)
}

impl Names {
    fn of(file: &RunConfig) -> Names {
        let w = &file.world;
        let agents = w
            .templates
            .iter()
            .flat_map(|t| &t.versions)
            .flat_map(|v| &v.agents)
            .map(|a| a.name.clone())
            .collect();
        Names {
            users: unique(w.users.iter().map(|u| u.name.clone()).collect()),
            organizations: unique(w.organizations.iter().map(|o| o.name.clone()).collect()),
            templates: unique(w.templates.iter().map(|t| t.name.clone()).collect()),
            chats: unique(w.chats.iter().map(|c| c.name.clone()).collect()),
            workspaces: created_workspaces(file),
            agents: unique(agents),
            turns: unique(file.turns.iter().filter_map(|t| t.name.clone()).collect()),
        }
    }
}

/// Checks a run with every check a scenario file gets; an empty list
/// means it is sound.
pub fn check(config: &RunConfig) -> Vec<Problem> {
    let mut c = Checker::new(config);
    c.run();
    c.problems
}

/// The checks setup refuses a run for: settings that cannot work together,
/// a world that cannot be built (unknown organizations, owners, templates
/// or parents; a template without versions; an agent twice in a version),
/// turns and faults in chats the world lacks. A run built in Rust may name
/// what never comes to be — a fault on a workspace nobody created, a
/// shrunk fuzz case whose creating turn is gone — and the run tolerates
/// it (the fault does nothing), so the other checks are for files only.
pub fn check_setup(config: &RunConfig) -> Vec<Problem> {
    let mut c = Checker::new(config);
    c.all = false;
    c.run();
    c.problems
}

/// The checks, and the problems found so far (the scenario checker adds
/// its own checks to it).
pub(crate) struct Checker<'a> {
    pub(crate) config: &'a RunConfig,
    pub(crate) names: Names,
    pub(crate) problems: Vec<Problem>,
    /// Every check ([`check`]), or only setup's ([`check_setup`]).
    pub(crate) all: bool,
}

pub(crate) fn root() -> FieldPath {
    FieldPath::root()
}

impl<'a> Checker<'a> {
    pub(crate) fn new(config: &'a RunConfig) -> Checker<'a> {
        Checker {
            config,
            names: Names::of(config),
            problems: Vec::new(),
            all: true,
        }
    }

    /// Every check of the run itself.
    pub(crate) fn run(&mut self) {
        self.settings();
        self.world();
        self.faults();
        self.turns();
    }
}

impl Checker<'_> {
    pub(crate) fn problem(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            at_key: false,
            message: message.into(),
        });
    }

    pub(crate) fn key_problem(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            at_key: true,
            message: message.into(),
        });
    }

    /// Reports `name` at `path` unless it is one of `names`.
    pub(crate) fn refers(&mut self, path: FieldPath, what: &str, name: &str, names: &[String]) {
        if !names.iter().any(|n| n == name) {
            let singular = what.trim_end_matches('s');
            let message = format!("unknown {singular} {name:?}; {}", known(what, names));
            self.problem(path, message);
        }
    }

    /// Reports the second and later uses of a name in a list.
    fn unique_names<'n>(
        &mut self,
        list: FieldPath,
        what: &str,
        names: impl Iterator<Item = &'n str>,
    ) {
        // Setup keys agents by name within a version; other names only
        // confuse a reader.
        if !self.all && what != "agent" {
            return;
        }
        let mut seen = BTreeSet::new();
        for (i, name) in names.enumerate() {
            if !seen.insert(name) {
                let message = format!("duplicate {what} name {name:?}: names must be unique");
                self.problem(list.index(i).key("name"), message);
            }
        }
    }

    pub(crate) fn max(&self) -> Dur {
        self.config.settings.max_duration
    }

    fn settings(&mut self) {
        let s = &self.config.settings;
        let at = root().key("settings");
        if s.tick.0.is_zero() {
            self.problem(at.key("tick"), "tick must be positive");
        } else if s.tick > Dur::mins(1) || s.tick > s.max_duration {
            let message = format!(
                "tick ({}) must be at most 1m and at most max_duration ({})",
                s.tick, s.max_duration
            );
            self.problem(at.key("tick"), message);
        }
        if s.agent_heartbeat_interval.0.is_zero()
            || s.agent_heartbeat_interval >= s.agent_inactive_timeout
        {
            let message = format!(
                "agent_heartbeat_interval ({}) must be positive and shorter than agent_inactive_timeout ({})",
                s.agent_heartbeat_interval, s.agent_inactive_timeout
            );
            self.problem(at.key("agent_heartbeat_interval"), message);
        }
        let ranges = [
            ("plan_duration", s.plan_duration),
            ("apply_duration", s.apply_duration),
            ("claim_duration", s.claim_duration),
        ];
        for (name, range) in ranges {
            self.range(at.key(name), range);
        }
    }

    pub(crate) fn range(&mut self, at: FieldPath, range: DurRange) {
        if !self.all {
            return;
        }
        if range.min > range.max {
            let message = format!("min ({}) is longer than max ({})", range.min, range.max);
            self.problem(at.key("min"), message);
        }
    }

    fn world(&mut self) {
        let w = &self.config.world;
        let at = root().key("world");
        self.unique_names(
            at.key("organizations"),
            "organization",
            w.organizations.iter().map(|o| o.name.as_str()),
        );
        self.unique_names(
            at.key("users"),
            "user",
            w.users.iter().map(|u| u.name.as_str()),
        );
        self.unique_names(
            at.key("templates"),
            "template",
            w.templates.iter().map(|t| t.name.as_str()),
        );
        self.unique_names(
            at.key("chats"),
            "chat",
            w.chats.iter().map(|c| c.name.as_str()),
        );
        let orgs = self.names.organizations.clone();
        for (i, u) in w.users.iter().enumerate() {
            self.refers(
                at.key("users").index(i).key("organization"),
                "organizations",
                &u.organization,
                &orgs,
            );
        }
        for (i, t) in w.templates.iter().enumerate() {
            self.template(at.key("templates").index(i), t, &orgs);
        }
        let (users, templates, chats) = (
            self.names.users.clone(),
            self.names.templates.clone(),
            self.names.chats.clone(),
        );
        for (i, c) in w.chats.iter().enumerate() {
            let here = at.key("chats").index(i);
            self.refers(here.key("owner"), "users", &c.owner, &users);
            for (j, t) in c.allowed_templates.iter().enumerate() {
                self.refers(
                    here.key("allowed_templates").index(j),
                    "templates",
                    t,
                    &templates,
                );
            }
            if let Some(parent) = &c.parent {
                self.refers(here.key("parent"), "chats", parent, &chats);
            }
        }
    }

    fn template(&mut self, at: FieldPath, t: &crate::plan::TemplateSpec, orgs: &[String]) {
        self.refers(
            at.key("organization"),
            "organizations",
            &t.organization,
            orgs,
        );
        if t.versions.is_empty() {
            self.problem(
                at.key("versions"),
                format!(
                    "template {:?} needs at least one version (the last is active)",
                    t.name
                ),
            );
        }
        self.unique_names(
            at.key("versions"),
            "version",
            t.versions.iter().map(|v| v.name.as_str()),
        );
        for (j, v) in t.versions.iter().enumerate() {
            let here = at.key("versions").index(j);
            self.unique_names(
                here.key("agents"),
                "agent",
                v.agents.iter().map(|a| a.name.as_str()),
            );
            self.unique_names(
                here.key("parameters"),
                "parameter",
                v.parameters.iter().map(|p| p.name.as_str()),
            );
            self.unique_names(
                here.key("presets"),
                "preset",
                v.presets.iter().map(|p| p.name.as_str()),
            );
            let agent_names: Vec<String> = v.agents.iter().map(|a| a.name.clone()).collect();
            for (k, a) in v.agents.iter().enumerate() {
                let agent = here.key("agents").index(k);
                if let (true, Some(parent)) = (self.all, &a.parent) {
                    self.refers(agent.key("parent"), "agents", parent, &agent_names);
                }
                let b = &a.behaviour;
                self.range(agent.key("behaviour").key("connect_delay"), b.connect_delay);
                self.range(
                    agent.key("behaviour").key("startup_script"),
                    b.startup_script,
                );
            }
        }
    }

    pub(crate) fn time(&mut self, at: FieldPath, time: Dur, what: &str) {
        if !self.all {
            return;
        }
        if time > self.max() {
            let message = format!(
                "{what} at {time} is after settings.max_duration ({}); raise max_duration or move it earlier",
                self.max()
            );
            self.problem(at, message);
        }
    }

    fn faults(&mut self) {
        for (i, f) in self.config.faults.iter().enumerate() {
            let at = root().key("faults").index(i);
            match f.after_call {
                Some(0) => self.problem(
                    at.key("after_call"),
                    "after_call must be a call number from 1 (1 = after the first call's result)",
                ),
                Some(_) => {}
                None => self.time(at.key("at"), f.at, "the fault"),
            }
            self.fault(&at, &f.fault);
        }
    }

    pub(crate) fn workspace(&mut self, at: FieldPath, reference: &str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        if !self.names.workspaces.iter().any(|w| w == name) {
            let message = format!(
                "unknown workspace {reference:?}; {} (a workspace is known once a turn creates it by name)",
                known("workspaces", &self.names.workspaces)
            );
            self.problem(at, message);
        }
    }

    fn host(&mut self, at: FieldPath, host: &str) {
        if [CODERD, PROVISIONER, DRIVER].contains(&host) {
            return;
        }
        let Some((workspace, agent)) = host.strip_prefix("agent:").and_then(|t| t.rsplit_once('/'))
        else {
            let message = format!("unknown host {host:?}; hosts are coderd, provisioner, driver or agent:<workspace>/<agent>");
            return self.problem(at, message);
        };
        let known_ws = self.names.workspaces.iter().any(|w| w == workspace);
        let known_agent = self.names.agents.iter().any(|a| a == agent);
        if !known_ws || !known_agent {
            let message = format!(
                "unknown agent host {host:?}; {}; {}",
                known("workspaces", &self.names.workspaces),
                known("agents", &self.names.agents)
            );
            self.problem(at, message);
        }
    }

    /// The names the fault's family says it refers to, and the calls it
    /// injects.
    fn fault(&mut self, at: &FieldPath, fault: &Fault) {
        if let Fault::Partition { a, b, .. } | Fault::Hold { a, b, .. } | Fault::Repair { a, b } =
            fault
        {
            if a == b {
                let message = format!("a link joins two hosts: `a` and `b` are both {a:?}");
                self.problem(at.key("b"), message);
            }
        }
        for r in faults::refs(fault) {
            match r {
                Ref::Name { field, named, name } => self.named(at.key(field), named, name),
                Ref::Calls { field, calls } => {
                    for (j, call) in calls.iter().enumerate() {
                        self.call(at.key(field).index(j), call);
                    }
                }
            }
        }
    }

    /// Reports `name` at `path` unless the scenario defines such a thing.
    fn named(&mut self, path: FieldPath, named: Named, name: &str) {
        if !self.all && !matches!(named, Named::Chat) {
            return;
        }
        let names = match named {
            Named::Workspace => return self.workspace(path, name),
            Named::Host => return self.host(path, name),
            Named::Agent => ("agents", self.names.agents.clone()),
            Named::User => ("users", self.names.users.clone()),
            Named::Template => ("templates", self.names.templates.clone()),
            Named::Chat => ("chats", self.names.chats.clone()),
        };
        self.refers(path, names.0, name, &names.1);
    }

    fn turns(&mut self) {
        let turns = &self.config.turns;
        self.unique_names(
            root().key("turns"),
            "turn",
            turns.iter().filter_map(|t| t.name.as_deref()),
        );
        for (i, turn) in turns.iter().enumerate() {
            let at = root().key("turns").index(i);
            let chats = self.names.chats.clone();
            self.refers(at.key("chat"), "chats", &turn.chat, &chats);
            if let Some(time) = turn.at {
                self.time(at.key("at"), time, "the turn");
            }
            match turn.model {
                Some(_) => self.model_turn(&at, turn),
                None => self.scripted_turn(&at, turn),
            }
            for (j, call) in turn.calls.iter().enumerate() {
                self.call(at.key("calls").index(j), call);
            }
        }
    }

    fn model_turn(&mut self, at: &FieldPath, turn: &Turn) {
        if !self.all {
            return;
        }
        if !turn.calls.is_empty() {
            self.problem(at.key("calls"), "a model turn has no scripted calls: the model chooses them (drop `calls` or `model`)");
        }
        if turn.parallel {
            self.problem(
                at.key("parallel"),
                "`parallel` is for scripted calls, not model turns",
            );
        }
        if turn.call_cap == Some(0) {
            self.problem(at.key("call_cap"), "call_cap must be at least 1");
        }
        let templates = self.names.templates.clone();
        match &turn.goal {
            None => self.key_problem(at.key("model"), "a model turn needs a `goal`, e.g. goal = { kind = \"run_command\", command = \"make test\" }"),
            Some(Goal::RunCommand { template: Some(t), .. }) | Some(Goal::CreateWorkspace { template: t, .. }) => {
                self.refers(at.key("goal").key("template"), "templates", t, &templates)
            }
            Some(_) => {}
        }
    }

    fn scripted_turn(&mut self, at: &FieldPath, turn: &Turn) {
        if !self.all {
            return;
        }
        let stray = [
            ("goal", turn.goal.is_some()),
            ("call_cap", turn.call_cap.is_some()),
            ("answers", !turn.answers.is_empty()),
        ];
        for (field, set) in stray {
            if set {
                let message = format!(
                    "`{field}` belongs to a model turn; add model = \"reference\" or drop it"
                );
                self.key_problem(at.key(field), message);
            }
        }
    }

    fn call(&mut self, at: FieldPath, call: &Call) {
        if !self.all {
            return;
        }
        let templates = self.names.templates.clone();
        match call {
            Call::Tool { name, input } => {
                let tools = tool_names();
                if !tools.contains(&name.as_str()) {
                    let message =
                        format!("unknown tool {name:?}; known tools: {}", tools.join(", "));
                    self.problem(at.key("name"), message);
                }
                self.placeholders(at.key("input"), input);
            }
            Call::CreateWorkspace {
                template, preset, ..
            } => {
                self.refers(at.key("template"), "templates", template, &templates);
                if let Some(preset) = preset {
                    self.preset(at.key("preset"), template, preset);
                }
            }
            Call::StartWorkspace { workspace, .. }
            | Call::StopWorkspace { workspace }
            | Call::WaitBuild { workspace }
            | Call::BindChat { workspace }
            | Call::Inspect { workspace } => self.workspace(at.key("workspace"), workspace),
            Call::Exec { .. } => {}
        }
    }

    fn preset(&mut self, at: FieldPath, template: &str, preset: &str) {
        let presets: Vec<String> = self
            .config
            .world
            .templates
            .iter()
            .filter(|t| t.name == template)
            .flat_map(|t| &t.versions)
            .flat_map(|v| &v.presets)
            .map(|p| p.name.clone())
            .collect();
        self.refers(at, "presets", preset, &unique(presets));
    }

    /// `{{template:NAME}}`, `{{version:TEMPLATE}}`, `{{preset:TEMPLATE/NAME}}`
    /// anywhere in a tool's input.
    fn placeholders(&mut self, at: FieldPath, value: &Value) {
        match value {
            Value::String(text) => self.placeholder(at, text),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.placeholders(at.index(i), v);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    self.placeholders(at.key(k), v);
                }
            }
            _ => {}
        }
    }

    fn placeholder(&mut self, at: FieldPath, text: &str) {
        let Some(inner) = text.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) else {
            let kinds = ["{{template:", "{{version:", "{{preset:"];
            if kinds.iter().any(|k| text.contains(k)) {
                let message = format!(
                    "unterminated or embedded placeholder {text:?}: a placeholder is the whole string, {{{{template:NAME}}}}, {{{{version:TEMPLATE}}}} or {{{{preset:TEMPLATE/NAME}}}}"
                );
                self.problem(at, message);
            }
            return;
        };
        let templates = self.names.templates.clone();
        match inner.split_once(':') {
            Some(("template" | "version", name)) => self.refers(at, "templates", name, &templates),
            Some(("preset", reference)) => match reference.split_once('/') {
                Some((template, preset)) if templates.iter().any(|t| t == template) => {
                    self.preset(at, template, preset)
                }
                Some((template, _)) => self.refers(at, "templates", template, &templates),
                None => self.problem(at, format!("placeholder {text:?} needs {{{{preset:TEMPLATE/NAME}}}}")),
            },
            _ => self.problem(
                at,
                format!("unknown placeholder {text:?}; placeholders are {{{{template:NAME}}}}, {{{{version:TEMPLATE}}}} and {{{{preset:TEMPLATE/NAME}}}}"),
            ),
        }
    }

    pub(crate) fn tool_or_call(&mut self, at: FieldPath, name: &str) {
        let tools = tool_names();
        if !tools.contains(&name) && !API_CALLS.contains(&name) {
            let message = format!(
                "unknown tool or call {name:?}; tools: {}; user calls: {}",
                tools.join(", "),
                API_CALLS.join(", ")
            );
            self.problem(at, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::story::*;

    #[test]
    fn a_run_built_in_rust_fails_at_setup_with_its_problems() {
        let config = Story::new(1)
            .user("alice")
            .template("dev")
            .chat("main")
            .push(Turn::new("mian", vec![]))
            .fault_at(mins(5), agent_oom("ws9", "main"))
            .build();
        let problems = check(&config);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0]
            .to_string()
            .starts_with("faults[0].workspace: unknown workspace \"ws9\""));
        // Setup tolerates the fault on a workspace never created, not the
        // turn in a chat the world lacks.
        assert_eq!(
            crate::harness::setup::validate(&config).unwrap_err(),
            "invalid run: turns[0].chat: unknown chat \"mian\"; known chats: main"
        );
    }

    #[test]
    fn the_settings_are_checked_together() {
        let mut config = Story::new(1).user("alice").chat("main").build();
        config.settings.tick = Dur::ZERO;
        let problems = check(&config);
        assert_eq!(
            problems[0].to_string(),
            "settings.tick: tick must be positive"
        );
    }
}
