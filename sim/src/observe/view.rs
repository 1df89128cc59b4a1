//! A trace read back into the facts checks ask about: the calls with their
//! results, turns, builds with their job status timelines, agents with
//! their status timelines, chat bindings, and the names behind the IDs.
//! Invariants, expectations and transcripts all read a [`TraceView`].

use std::collections::BTreeMap;
use std::time::Duration;

use chatsim_engine::model::{JobStatus, Transition};
use serde_json::{Map, Value};

use crate::observe::trace::{
    AgentStatusKind, DialOutcome, EntityKind, Event, Hook, ModelOutcome, QuotaTruth, Record,
    Requester, RunEnding, TemplateTruth, Trace, TurnEnding,
};
use crate::plan::ModelKind;

/// One call the driver made and what came back.
#[derive(Clone, Debug, PartialEq)]
pub struct CallView {
    /// The turn's number in the run.
    pub turn: usize,
    /// The call's number within its turn.
    pub call: usize,
    /// The tool's name, or `api.<kind>` for a user call.
    pub name: String,
    /// The call's arguments as JSON text.
    pub input: String,
    /// When the driver sent it.
    pub sent: Duration,
    /// coderd's `response` mark: when it built the response, and what its
    /// database held then for the claims the trace cannot rebuild.
    pub built: Option<(Duration, WorldView)>,
    /// What came back; `None` if nothing did.
    pub result: Option<ResultView>,
}

/// What coderd's database held when it built a response (the `response`
/// mark's facts).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorldView {
    /// The owner's quota, when the response reports one.
    pub quota: Option<QuotaTruth>,
    /// The template, when the response describes one.
    pub template: Option<TemplateTruth>,
}

/// A call's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultView {
    /// When the driver received it.
    pub at: Duration,
    /// Whether it is an error result.
    pub is_error: bool,
    /// Its text as the model reads it.
    pub content: String,
    /// The text parsed, when it is a JSON object: parsed once, when the
    /// trace is read back, for every check that reads its keys.
    pub json: Option<Map<String, Value>>,
}

/// `content` as a JSON object, if it is one.
fn json_object(content: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

impl CallView {
    /// Whether the model made it (an engine tool, not a user call).
    pub fn is_tool(&self) -> bool {
        !self.name.starts_with("api.")
    }
}

/// One turn the driver played.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TurnView {
    /// The turn's number in the run.
    pub turn: usize,
    /// The chat's name.
    pub chat: String,
    /// The scenario's name for the turn.
    pub name: Option<String>,
    /// The policy that played it; `None` for a script.
    pub model: Option<ModelKind>,
    /// When it began.
    pub started: Duration,
    /// When and how it ended.
    pub ended: Option<(Duration, TurnEnding)>,
    /// The model's outcome, reason and call count (model turns).
    pub model_outcome: Option<(ModelOutcome, Option<String>, usize)>,
}

/// A build some hook enqueued, with its job's status changes.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildView {
    /// The build's ID.
    pub id: String,
    /// Who asked for it.
    pub by: Requester,
    /// The hook that inserted it.
    pub hook: Hook,
    /// The workspace's name.
    pub workspace: String,
    /// The workspace's ID.
    pub workspace_id: String,
    /// The build number within its workspace.
    pub number: i32,
    /// Start, stop or delete.
    pub transition: Transition,
    /// The template's name.
    pub template: String,
    /// Whether its version has an external agent.
    pub external_agent: bool,
    /// When it was enqueued.
    pub enqueued: Duration,
    /// (time, status, error code) in order.
    pub statuses: Vec<(Duration, JobStatus, Option<String>)>,
}

impl BuildView {
    /// The job status at `at` (`pending` from the enqueue on).
    pub fn status_at(&self, at: Duration) -> JobStatus {
        self.statuses
            .iter()
            .take_while(|(t, _, _)| *t <= at)
            .last()
            .map_or(JobStatus::Pending, |(_, s, _)| *s)
    }

    /// Whether the job had not ended at `at` (`canceling` counts as ended).
    pub fn in_flight_at(&self, at: Duration) -> bool {
        matches!(self.status_at(at), JobStatus::Pending | JobStatus::Running)
    }

    /// A short readable name: `ws1#2`.
    pub fn label(&self) -> String {
        format!("{}#{}", self.workspace, self.number)
    }
}

/// One status record of an agent of a latest build.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusView {
    /// When the status took effect.
    pub at: Duration,
    /// The computed status.
    pub status: AgentStatusKind,
    /// Disconnected-since, for `disconnected`.
    pub since: Option<Duration>,
}

/// An agent of some build, with its status changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentView {
    /// The agent's ID.
    pub id: String,
    /// The agent's name.
    pub name: String,
    /// Its workspace's name.
    pub workspace: String,
    /// Its build's ID.
    pub build: String,
    /// Whether the chat rule picks this agent.
    pub chat_agent: bool,
    /// Its status records, in order.
    pub statuses: Vec<StatusView>,
}

impl AgentView {
    /// The status records in effect at some moment of `[from, to]`.
    pub fn statuses_during(&self, from: Duration, to: Duration) -> Vec<&StatusView> {
        let mut out: Vec<&StatusView> = Vec::new();
        for (i, s) in self.statuses.iter().enumerate() {
            let next = self.statuses.get(i + 1).map(|n| n.at);
            let starts_before_end = s.at <= to;
            let ends_after_start = next.is_none_or(|n| n > from);
            if starts_before_end && ends_after_start {
                out.push(s);
            }
        }
        out
    }

    /// When the status record `s` stopped being in effect (`None` = never).
    pub fn end_of(&self, s: &StatusView) -> Option<Duration> {
        let i = self.statuses.iter().position(|x| x == s)?;
        self.statuses.get(i + 1).map(|n| n.at)
    }
}

/// A trace read back.
#[derive(Clone, Debug, Default)]
pub struct TraceView {
    /// The trace read (cheap to clone: its records are shared).
    pub trace: Trace,
    /// Chat ID → name.
    pub chat_names: BTreeMap<String, String>,
    /// Every named ID (organizations, users, templates, versions, presets,
    /// chats) → (kind, name).
    pub entities: BTreeMap<String, (EntityKind, String)>,
    /// Every call, in order.
    pub calls: Vec<CallView>,
    /// Every turn, in order.
    pub turns: Vec<TurnView>,
    /// Builds in enqueue order.
    pub builds: Vec<BuildView>,
    /// Agents in the order first seen.
    pub agents: Vec<AgentView>,
    /// Per chat name: (time, bound workspace ID) in order.
    pub bindings: BTreeMap<String, Vec<(Duration, Option<String>)>>,
    /// Workspace ID → name.
    pub workspace_names: BTreeMap<String, String>,
    /// `(time, agent ID)` of every dial that was abandoned (its caller
    /// gave up first: the engine's dial timeout).
    pub abandoned_dials: Vec<(Duration, String)>,
    /// How the run said it ended.
    pub run_end: Option<RunEnding>,
}

impl TraceView {
    /// Reads `trace` back.
    pub fn new(trace: &Trace) -> TraceView {
        let mut view = TraceView {
            trace: trace.clone(),
            ..TraceView::default()
        };
        for record in trace.records() {
            view.add(record);
        }
        view
    }

    /// The trace's records, in order.
    pub fn records(&self) -> &[Record] {
        self.trace.records()
    }

    fn add(&mut self, record: &Record) {
        let at = record.at;
        match &record.event {
            Event::Entity { kind, name, id } => {
                if *kind == EntityKind::Chat {
                    self.chat_names.insert(id.clone(), name.clone());
                }
                self.entities.insert(id.clone(), (*kind, name.clone()));
            }
            Event::TurnStart {
                chat,
                turn,
                name,
                model,
            } => self.turns.push(TurnView {
                turn: *turn,
                chat: chat.clone(),
                name: name.clone(),
                model: *model,
                started: at,
                ..TurnView::default()
            }),
            Event::TurnEnd { turn, outcome } => {
                if let Some(t) = self.turn_mut(*turn) {
                    t.ended = Some((at, outcome.clone()));
                }
            }
            Event::ModelOutcome {
                turn,
                outcome,
                reason,
                calls,
            } => {
                if let Some(t) = self.turn_mut(*turn) {
                    t.model_outcome = Some((*outcome, reason.clone(), *calls));
                }
            }
            Event::ToolCall {
                turn,
                call,
                name,
                input,
            } => self.calls.push(CallView {
                turn: *turn,
                call: *call,
                name: name.clone(),
                input: input.clone(),
                sent: at,
                built: None,
                result: None,
            }),
            Event::Response {
                turn,
                call,
                quota,
                template,
            } => {
                let found = self
                    .calls
                    .iter_mut()
                    .rev()
                    .find(|c| c.turn == *turn && c.call == *call);
                if let Some(c) = found {
                    let world = WorldView {
                        quota: quota.clone(),
                        template: template.clone(),
                    };
                    c.built = Some((at, world));
                }
            }
            Event::ToolResult {
                turn,
                call,
                is_error,
                content,
                ..
            } => {
                let found = self
                    .calls
                    .iter_mut()
                    .find(|c| c.turn == *turn && c.call == *call);
                if let Some(c) = found {
                    c.result = Some(ResultView {
                        at,
                        is_error: *is_error,
                        content: content.clone(),
                        json: json_object(content),
                    });
                }
            }
            Event::RunEnd { outcome } => self.run_end = Some(outcome.clone()),
            _ => self.add_world(at, &record.event),
        }
    }

    /// Records of the world (builds, agents, bindings, dials).
    fn add_world(&mut self, at: Duration, event: &Event) {
        match event {
            Event::Enqueue {
                by,
                hook,
                workspace,
                workspace_id,
                build,
                number,
                transition,
                template,
                external_agent,
                ..
            } => {
                self.workspace_names
                    .insert(workspace_id.clone(), workspace.clone());
                self.builds.push(BuildView {
                    id: build.clone(),
                    by: by.clone(),
                    hook: *hook,
                    workspace: workspace.clone(),
                    workspace_id: workspace_id.clone(),
                    number: *number,
                    transition: *transition,
                    template: template.clone(),
                    external_agent: *external_agent,
                    enqueued: at,
                    statuses: Vec::new(),
                });
            }
            Event::Job {
                build,
                status,
                error_code,
                ..
            } => {
                if let Some(b) = self.builds.iter_mut().find(|b| &b.id == build) {
                    b.statuses.push((at, *status, error_code.clone()));
                }
            }
            Event::AgentStatus {
                agent,
                name,
                to,
                workspace,
                build,
                chat_agent,
                since,
                ..
            } => {
                let status = StatusView {
                    at,
                    status: *to,
                    since: *since,
                };
                match self.agents.iter_mut().find(|a| &a.id == agent) {
                    Some(a) => a.statuses.push(status),
                    None => self.agents.push(AgentView {
                        id: agent.clone(),
                        name: name.clone(),
                        workspace: workspace.clone(),
                        build: build.clone(),
                        chat_agent: *chat_agent,
                        statuses: vec![status],
                    }),
                }
            }
            Event::ChatUpdated {
                chat, workspace, ..
            } => {
                let name = self.chat_names.get(chat).cloned().unwrap_or(chat.clone());
                self.bindings
                    .entry(name)
                    .or_default()
                    .push((at, workspace.clone()));
            }
            Event::Dial {
                agent,
                outcome: DialOutcome::Abandoned,
                ..
            } => {
                self.abandoned_dials.push((at, agent.clone()));
            }
            _ => {}
        }
    }

    fn turn_mut(&mut self, turn: usize) -> Option<&mut TurnView> {
        self.turns.iter_mut().rev().find(|t| t.turn == turn)
    }

    /// The turn a call belongs to.
    pub fn turn(&self, turn: usize) -> Option<&TurnView> {
        self.turns.iter().rev().find(|t| t.turn == turn)
    }

    /// The chat a call was made in.
    pub fn chat_of(&self, call: &CallView) -> Option<&str> {
        self.turn(call.turn).map(|t| t.chat.as_str())
    }

    /// The workspace ID a chat was bound to at `at` (`None`: none yet).
    pub fn binding_at(&self, chat: &str, at: Duration) -> Option<&str> {
        self.bindings
            .get(chat)?
            .iter()
            .take_while(|(t, _)| *t <= at)
            .last()
            .and_then(|(_, ws)| ws.as_deref())
    }

    /// The latest build of a workspace (by name) enqueued by `at`.
    pub fn latest_build(&self, workspace: &str, at: Duration) -> Option<&BuildView> {
        self.builds
            .iter()
            .filter(|b| b.workspace == workspace && b.enqueued <= at)
            .max_by_key(|b| b.number)
    }

    /// The build with ID `id`.
    pub fn build(&self, id: &str) -> Option<&BuildView> {
        self.builds.iter().find(|b| b.id == id)
    }

    /// The agent with ID `id`.
    pub fn agent(&self, id: &str) -> Option<&AgentView> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The chat agent of a build, as coderd's watcher saw it.
    pub fn chat_agent_of(&self, build: &str) -> Option<&AgentView> {
        self.agents
            .iter()
            .find(|a| a.build == build && a.chat_agent)
    }

    /// The calls named `name` that got a result, in the order they were
    /// sent (parallel calls: the order the model wrote them).
    pub fn results_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a CallView> + 'a {
        self.calls
            .iter()
            .filter(move |c| c.name == name && c.result.is_some())
    }
}
