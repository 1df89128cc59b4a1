//! The reference model: a deterministic policy that plays the LLM by
//! following the guidance the tools return — the behaviour the tool texts are
//! written to produce. A story where it misbehaves is a story where the texts
//! mislead.
//!
//! It makes one call at a time, reads the response, and either calls again
//! or ends the turn by telling the user why. A hard cap bounds the calls per
//! turn; hitting it is a reported failure, never a hang.

use std::collections::BTreeMap;

use chatsim_engine::chat::{self, LAZY_VALIDATION_PREFIX};
use chatsim_engine::external_agent_unavailable_message;
use chatsim_engine::model::{WorkspaceAgent, INSUFFICIENT_QUOTA};
use chatsim_engine::tools::{create_workspace, start_workspace};
use chatsim_engine::Time;
use serde_json::{json, Value};

use crate::observe::trace::ModelOutcome;

pub use crate::plan::{Goal, DEFAULT_CALL_CAP};

/// A tool call the model makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// The raw JSON arguments.
    pub arguments: String,
}

impl ToolCall {
    /// A call of tool `name` with JSON `arguments`.
    pub fn new(name: &str, arguments: Value) -> ToolCall {
        ToolCall {
            name: name.to_string(),
            arguments: arguments.to_string(),
        }
    }
}

/// Why the model ended the turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The goal was reached.
    Done,
    /// The model told the user it cannot proceed, and why.
    ToldUser(Reason),
    /// The model ran out of calls for the turn: always a failure.
    CapExceeded,
}

/// What the model told the user (scenario files name it in snake_case,
/// as traces do).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The build needs more quota than the user has.
    Quota,
    /// The workspace's agent is external: a user must start it.
    ExternalAgent,
    /// The template needs parameter values the model does not have.
    ManualUpdate,
    /// The build failed.
    BuildFailed,
    /// Dials timed out again after a retry.
    DialTimeoutRepeated,
    /// The workspace did not recover after a restart.
    RecoveryFailed,
    /// No template to create from.
    NoTemplate,
    /// Any other error, passed on.
    Error,
}

impl Outcome {
    /// The outcome as traces and scenario files name it.
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The outcome as a `model_outcome` trace event names it.
    pub fn kind(&self) -> ModelOutcome {
        match self {
            Outcome::Done => ModelOutcome::Done,
            Outcome::ToldUser(_) => ModelOutcome::ToldUser,
            Outcome::CapExceeded => ModelOutcome::CapExceeded,
        }
    }

    /// What the model told the user, if it did.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Outcome::ToldUser(reason) => Some(*reason),
            _ => None,
        }
    }
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 8] = [
        Reason::Quota,
        Reason::ExternalAgent,
        Reason::ManualUpdate,
        Reason::BuildFailed,
        Reason::DialTimeoutRepeated,
        Reason::RecoveryFailed,
        Reason::NoTemplate,
        Reason::Error,
    ];

    /// The reason as traces and scenario files name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Quota => "quota",
            Reason::ExternalAgent => "external_agent",
            Reason::ManualUpdate => "manual_update",
            Reason::BuildFailed => "build_failed",
            Reason::DialTimeoutRepeated => "dial_timeout_repeated",
            Reason::RecoveryFailed => "recovery_failed",
            Reason::NoTemplate => "no_template",
            Reason::Error => "error",
        }
    }
}

/// The model's next move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Make this call next.
    Call(ToolCall),
    /// End the turn this way.
    End(Outcome),
}

/// What a tool response tells the model, by the texts and keys the spec
/// defines.
#[derive(Clone, Debug, PartialEq)]
enum Reading {
    Ok(Value),
    NoWorkspace,
    NoRunningAgent,
    RestartAdvised,
    DialTimeout,
    ExternalAgent,
    Quota,
    NeedsParameters { template_id: String },
    Stopped,
    Failed,
}

fn read(response: &str, is_error: bool) -> Reading {
    if is_error {
        return read_text_error(response);
    }
    let Ok(value) = serde_json::from_str::<Value>(response) else {
        return Reading::Ok(Value::String(response.to_string()));
    };
    if value["error_code"] == INSUFFICIENT_QUOTA {
        return Reading::Quota;
    }
    if let (Some(_), Some(template_id)) = (value.get("validations"), value["template_id"].as_str())
    {
        return Reading::NeedsParameters {
            template_id: template_id.to_string(),
        };
    }
    if value["agent_error"]
        .as_str()
        .is_some_and(is_external_agent_text)
    {
        return Reading::ExternalAgent;
    }
    if value.get("error").is_some() || value["agent_status"] == "not_ready" {
        return Reading::Failed;
    }
    if value["status"] == "stopped" {
        return Reading::Stopped;
    }
    Reading::Ok(value)
}

/// The engine's texts for an external agent that is offline or never
/// connected (the preflight error and `waitForAgentReady`'s `agent_error`).
fn external_agent_texts() -> [&'static str; 2] {
    let never = WorkspaceAgent::default();
    let offline = WorkspaceAgent {
        first_connected_at: Some(Time::ZERO),
        ..WorkspaceAgent::default()
    };
    [
        external_agent_unavailable_message(&never),
        external_agent_unavailable_message(&offline),
    ]
}

fn is_external_agent_text(text: &str) -> bool {
    text == create_workspace::EXTERNAL_AGENT_REFUSAL || external_agent_texts().contains(&text)
}

/// A text error with every `dial with lazy validation: ` prefix removed
/// (the engine keeps the inner text under it).
fn unwrap_lazy(mut text: &str) -> &str {
    while let Some(inner) = text.strip_prefix(LAZY_VALIDATION_PREFIX) {
        text = inner;
    }
    text
}

/// Reads a text error by the engine's exact texts.
fn read_text_error(text: &str) -> Reading {
    let text = unwrap_lazy(text);
    if is_external_agent_text(text) {
        Reading::ExternalAgent
    } else if [
        chat::NO_WORKSPACE,
        start_workspace::NO_WORKSPACE,
        start_workspace::WORKSPACE_DELETED,
    ]
    .contains(&text)
    {
        Reading::NoWorkspace
    } else if text == chat::NO_WORKSPACE_AGENT {
        Reading::NoRunningAgent
    } else if text == chat::AGENT_DISCONNECTED || text == chat::AGENT_NEVER_CONNECTED {
        Reading::RestartAdvised
    } else if text == chat::DIAL_TIMEOUT {
        Reading::DialTimeout
    } else {
        Reading::Failed
    }
}

/// The policy's memory within one turn.
#[derive(Clone, Debug)]
pub struct ReferenceModel {
    goal: Goal,
    cap: usize,
    calls: usize,
    /// Parameter values the user would give when asked (else `"chatsim"`).
    answers: BTreeMap<String, String>,
    dial_timeouts: u32,
    restarted: bool,
    parameters_supplied: bool,
    /// Calls queued by a plan (e.g. stop then start then retry).
    queued: Vec<ToolCall>,
    pending_start_template: Option<String>,
}

impl ReferenceModel {
    /// A model pursuing `goal` with at most `cap` calls; `answers` are the parameter values the user gives when asked.
    pub fn new(goal: Goal, cap: usize, answers: BTreeMap<String, String>) -> ReferenceModel {
        ReferenceModel {
            goal,
            cap,
            calls: 0,
            answers,
            dial_timeouts: 0,
            restarted: false,
            parameters_supplied: false,
            queued: Vec::new(),
            pending_start_template: None,
        }
    }

    /// Calls made so far this turn.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// The first move of the turn.
    pub fn start(&mut self) -> Step {
        let first = match &self.goal {
            Goal::RunCommand { command, .. } => execute(command),
            Goal::CreateWorkspace { template, .. } => list_templates(template),
            Goal::StartWorkspace => ToolCall::new("start_workspace", json!({})),
            Goal::StopWorkspace => ToolCall::new("stop_workspace", json!({})),
        };
        self.call(first)
    }

    /// The next move after `call` answered `response`.
    pub fn next(&mut self, call: &ToolCall, response: &str, is_error: bool) -> Step {
        let reading = read(response, is_error);
        match call.name.as_str() {
            "execute" => self.after_execute(reading),
            "list_templates" => self.after_list_templates(reading),
            "read_template" => self.after_read_template(reading),
            "create_workspace" => self.after_build(reading),
            "start_workspace" => self.after_start(reading),
            "stop_workspace" => self.after_stop(reading),
            _ => self.end(Outcome::ToldUser(Reason::Error)),
        }
    }

    fn call(&mut self, call: ToolCall) -> Step {
        if self.calls >= self.cap {
            return Step::End(Outcome::CapExceeded);
        }
        self.calls += 1;
        Step::Call(call)
    }

    fn end(&mut self, outcome: Outcome) -> Step {
        Step::End(outcome)
    }

    /// Runs the queued plan, else the goal's own next call, else ends.
    fn proceed(&mut self) -> Step {
        if !self.queued.is_empty() {
            let next = self.queued.remove(0);
            return self.call(next);
        }
        match &self.goal {
            Goal::RunCommand { command, .. } => {
                let retry = execute(command);
                self.call(retry)
            }
            _ => self.end(Outcome::Done),
        }
    }

    fn after_execute(&mut self, reading: Reading) -> Step {
        match reading {
            Reading::Ok(_) => self.end(Outcome::Done),
            Reading::NoWorkspace => {
                let template = match &self.goal {
                    Goal::RunCommand { template, .. } => template.clone().unwrap_or_default(),
                    _ => String::new(),
                };
                self.call(list_templates(&template))
            }
            Reading::NoRunningAgent => self.call(ToolCall::new("start_workspace", json!({}))),
            Reading::RestartAdvised if !self.restarted => {
                self.restarted = true;
                self.queued
                    .push(ToolCall::new("start_workspace", json!({})));
                self.call(ToolCall::new("stop_workspace", json!({})))
            }
            Reading::RestartAdvised => self.end(Outcome::ToldUser(Reason::RecoveryFailed)),
            Reading::DialTimeout if self.dial_timeouts == 0 => {
                self.dial_timeouts += 1;
                self.proceed()
            }
            Reading::DialTimeout => self.end(Outcome::ToldUser(Reason::DialTimeoutRepeated)),
            Reading::ExternalAgent => self.end(Outcome::ToldUser(Reason::ExternalAgent)),
            _ => self.end(Outcome::ToldUser(Reason::Error)),
        }
    }

    fn after_list_templates(&mut self, reading: Reading) -> Step {
        let Reading::Ok(value) = reading else {
            return self.end(Outcome::ToldUser(Reason::Error));
        };
        let wanted = match &self.goal {
            Goal::RunCommand { template, .. } => template.clone(),
            Goal::CreateWorkspace { template, .. } => Some(template.clone()),
            _ => None,
        };
        let templates = value["templates"].as_array().cloned().unwrap_or_default();
        let chosen = templates
            .iter()
            .find(|t| wanted.as_deref().is_none_or(|w| t["name"] == w))
            .and_then(|t| t["id"].as_str());
        let Some(template_id) = chosen else {
            return self.end(Outcome::ToldUser(Reason::NoTemplate));
        };
        let mut arguments = json!({ "template_id": template_id });
        if let Goal::CreateWorkspace { parameters, .. } = &self.goal {
            if !parameters.is_empty() {
                arguments["parameters"] = json!(parameters);
            }
        }
        self.call(ToolCall::new("create_workspace", arguments))
    }

    fn after_build(&mut self, reading: Reading) -> Step {
        match reading {
            Reading::Ok(_) => self.proceed(),
            Reading::Stopped => self.call(ToolCall::new("start_workspace", json!({}))),
            Reading::Quota => self.end(Outcome::ToldUser(Reason::Quota)),
            Reading::ExternalAgent => self.end(Outcome::ToldUser(Reason::ExternalAgent)),
            Reading::Failed => self.end(Outcome::ToldUser(Reason::BuildFailed)),
            _ => self.end(Outcome::ToldUser(Reason::Error)),
        }
    }

    fn after_start(&mut self, reading: Reading) -> Step {
        match reading {
            Reading::NeedsParameters { template_id } if !self.parameters_supplied => {
                self.parameters_supplied = true;
                self.pending_start_template = Some(template_id.clone());
                self.call(ToolCall::new(
                    "read_template",
                    json!({ "template_id": template_id }),
                ))
            }
            Reading::NeedsParameters { .. } => self.end(Outcome::ToldUser(Reason::ManualUpdate)),
            other => self.after_build(other),
        }
    }

    fn after_read_template(&mut self, reading: Reading) -> Step {
        let Reading::Ok(value) = reading else {
            return self.end(Outcome::ToldUser(Reason::ManualUpdate));
        };
        let mut parameters = BTreeMap::new();
        for param in value["parameters"].as_array().into_iter().flatten() {
            let Some(name) = param["name"].as_str() else {
                continue;
            };
            if param["required"] == true {
                let answer = self.answers.get(name).cloned();
                parameters.insert(name.to_string(), answer.unwrap_or_else(|| "chatsim".into()));
            }
        }
        self.pending_start_template = None;
        self.call(ToolCall::new(
            "start_workspace",
            json!({ "parameters": parameters }),
        ))
    }

    fn after_stop(&mut self, reading: Reading) -> Step {
        match reading {
            Reading::Ok(_) => self.proceed(),
            _ => self.end(Outcome::ToldUser(Reason::RecoveryFailed)),
        }
    }
}

fn execute(command: &str) -> ToolCall {
    ToolCall::new("execute", json!({ "command": command }))
}

fn list_templates(query: &str) -> ToolCall {
    if query.is_empty() {
        ToolCall::new("list_templates", json!({}))
    } else {
        ToolCall::new("list_templates", json!({ "query": query }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chatsim_engine::chat::{AGENT_DISCONNECTED as DISCONNECTED, DIAL_TIMEOUT};

    fn run_command() -> ReferenceModel {
        let goal = Goal::RunCommand {
            command: "make test".into(),
            template: Some("docker".into()),
        };
        ReferenceModel::new(goal, DEFAULT_CALL_CAP, BTreeMap::new())
    }

    fn name(step: &Step) -> &str {
        match step {
            Step::Call(call) => &call.name,
            Step::End(_) => "<end>",
        }
    }

    #[test]
    fn a_disconnected_agent_is_stopped_then_started_then_retried() {
        let mut model = run_command();
        let first = model.start();
        let Step::Call(exec) = first.clone() else {
            panic!()
        };
        let stop = model.next(&exec, DISCONNECTED, true);
        assert_eq!(name(&stop), "stop_workspace");
        let Step::Call(stop) = stop else { panic!() };
        let start = model.next(
            &stop,
            r#"{"build_id":"b","stopped":true,"workspace_name":"w"}"#,
            false,
        );
        assert_eq!(name(&start), "start_workspace");
        let Step::Call(start) = start else { panic!() };
        let retry = model.next(
            &start,
            r#"{"build_id":"b","started":true,"workspace_name":"w"}"#,
            false,
        );
        assert_eq!(retry, first);
        assert_eq!(
            model.next(&exec, r#"{"output":"ok","exit_code":0}"#, false),
            Step::End(Outcome::Done)
        );
        assert_eq!(model.calls(), 4);
    }

    #[test]
    fn a_dial_timeout_is_retried_once_then_reported() {
        let mut model = run_command();
        let Step::Call(exec) = model.start() else {
            panic!()
        };
        assert_eq!(name(&model.next(&exec, DIAL_TIMEOUT, true)), "execute");
        assert_eq!(
            model.next(&exec, DIAL_TIMEOUT, true),
            Step::End(Outcome::ToldUser(Reason::DialTimeoutRepeated))
        );
    }

    #[test]
    fn a_validation_error_leads_to_read_template_then_start_with_parameters() {
        let goal = Goal::StartWorkspace;
        let answers = BTreeMap::from([("region".to_string(), "eu".to_string())]);
        let mut model = ReferenceModel::new(goal, DEFAULT_CALL_CAP, answers);
        let Step::Call(start) = model.start() else {
            panic!()
        };
        let refusal = r#"{"detail":"region must be set before the workspace can start","error":"The workspace needs…","template_id":"t-1","validations":[{"field":"region","detail":"region must be set before the workspace can start"}]}"#;
        let Step::Call(read) = model.next(&start, refusal, false) else {
            panic!()
        };
        assert_eq!(read.arguments, r#"{"template_id":"t-1"}"#);
        let template = r#"{"parameters":[{"name":"region","required":true,"type":"string"},{"name":"size","required":false,"type":"string"}],"template":{}}"#;
        let Step::Call(retry) = model.next(&read, template, false) else {
            panic!()
        };
        assert_eq!(retry.name, "start_workspace");
        assert_eq!(retry.arguments, r#"{"parameters":{"region":"eu"}}"#);
        assert_eq!(
            model.next(&retry, refusal, false),
            Step::End(Outcome::ToldUser(Reason::ManualUpdate))
        );
    }

    #[test]
    fn quota_and_external_agents_are_told_to_the_user() {
        let mut model = run_command();
        let Step::Call(exec) = model.start() else {
            panic!()
        };
        let Step::Call(list) = model.next(&exec, "no workspace is associated with this chat. Use the create_workspace tool to create one", true) else { panic!() };
        let Step::Call(create) = model.next(&list, r#"{"count":1,"page":1,"templates":[{"id":"t-1","name":"docker"}],"total_count":1,"total_pages":1}"#, false) else { panic!() };
        assert_eq!(create.arguments, r#"{"template_id":"t-1"}"#);
        let quota = r#"{"error_code":"INSUFFICIENT_QUOTA","error":"workspace build failed: insufficient quota"}"#;
        assert_eq!(
            model.clone().next(&create, quota, false),
            Step::End(Outcome::ToldUser(Reason::Quota))
        );
        assert_eq!(
            model.next(&create, create_workspace::EXTERNAL_AGENT_REFUSAL, true),
            Step::End(Outcome::ToldUser(Reason::ExternalAgent))
        );
    }

    /// The model reads the engine's own texts (through the lazy-validation
    /// prefix too), not look-alike substrings.
    #[test]
    fn classification_follows_the_engine_texts() {
        use chatsim_engine::chat::{AGENT_NEVER_CONNECTED, NO_WORKSPACE, NO_WORKSPACE_AGENT};
        let lazy = |text: &str| format!("{LAZY_VALIDATION_PREFIX}{text}");
        assert_eq!(
            read_text_error(&lazy(NO_WORKSPACE_AGENT)),
            Reading::NoRunningAgent
        );
        assert_eq!(
            read_text_error(AGENT_NEVER_CONNECTED),
            Reading::RestartAdvised
        );
        assert_eq!(read_text_error(DISCONNECTED), Reading::RestartAdvised);
        assert_eq!(read_text_error(DIAL_TIMEOUT), Reading::DialTimeout);
        for text in [
            NO_WORKSPACE,
            start_workspace::NO_WORKSPACE,
            start_workspace::WORKSPACE_DELETED,
        ] {
            assert_eq!(read_text_error(text), Reading::NoWorkspace, "{text}");
        }
        for text in external_agent_texts() {
            assert_eq!(read_text_error(text), Reading::ExternalAgent, "{text}");
            let ready = json!({ "agent_error": text, "agent_status": "not_ready" });
            assert_eq!(read(&ready.to_string(), false), Reading::ExternalAgent);
        }
        // A text that merely mentions a phrase is not the engine's text.
        assert_eq!(
            read_text_error("connection to the workspace agent timed out"),
            Reading::Failed
        );
    }

    #[test]
    fn the_call_cap_ends_the_turn_as_a_failure() {
        let goal = Goal::RunCommand {
            command: "ls".into(),
            template: None,
        };
        let mut model = ReferenceModel::new(goal, 1, BTreeMap::new());
        let Step::Call(exec) = model.start() else {
            panic!()
        };
        assert_eq!(
            model.next(&exec, DIAL_TIMEOUT, true),
            Step::End(Outcome::CapExceeded)
        );
    }
}
