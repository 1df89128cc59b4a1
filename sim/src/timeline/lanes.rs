//! A trace read as lanes: per chat its turns, its tool calls and its
//! updates and prompts; per workspace its builds (each job status change a
//! tick); per agent its connection status, lifecycle and dials; one lane of
//! faults and infrastructure changes. Lanes appear in the order their
//! subject first shows up in the trace, items in trace order, so the
//! result is a function of the trace alone.

use std::collections::BTreeMap;
use std::time::Duration;

use chatsim_engine::model::JobStatus;
use serde::Serialize;
use serde_json::Value;

use super::{millis, Mark, Run};
use crate::observe::trace::{
    format_time, AgentStatusKind, DialOutcome, EngineEventKind, EntityKind, Event, InfraAction,
    Record, Trace, TurnEnding,
};
use crate::plan::parse_duration;

/// Everything the page draws.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// The run's name.
    pub title: String,
    /// The story, in a few sentences.
    pub description: String,
    /// `pass`, or `fail` when something is marked.
    pub verdict: &'static str,
    /// The command that replays the run.
    pub replay: String,
    /// FNV-1a 64 of the trace's text ([`Trace::hash`]).
    pub trace_hash: String,
    /// The transport the trace names.
    pub transport: String,
    /// The run's seed.
    pub seed: u64,
    /// The last record's time, in milliseconds.
    pub end_ms: u64,
    /// The lanes, top to bottom.
    pub lanes: Vec<Lane>,
    /// What the run broke, at its instant.
    pub marks: Vec<Mark>,
}

/// One horizontal band of the chart.
#[derive(Clone, Debug, Serialize)]
pub struct Lane {
    /// A stable name: `chat:<chat>:turns`, `chat:<chat>:calls`,
    /// `chat:<chat>:updates`, `workspace:<ws>:builds`, `agent:<id>`, `faults`.
    pub id: String,
    /// What the reader sees.
    pub label: String,
    /// How many rows its items use.
    pub rows: u32,
    /// Its items, in trace order.
    pub items: Vec<Item>,
}

/// A bar (with an end) or an instant (without).
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// What it shows.
    pub kind: ItemKind,
    /// When it began, in milliseconds.
    pub start_ms: u64,
    /// When it ended; `None` for an instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// Its row within the lane, from 0.
    pub row: u32,
    /// A short label.
    pub label: String,
    /// Its colour.
    pub tone: Tone,
    /// What a click shows (arguments, responses, prompts, …).
    pub details: Vec<Detail>,
    /// The bar this tick belongs to (its index in the lane): a job status
    /// or quota commit rides on its build's row.
    #[serde(skip)]
    on: Option<usize>,
    /// A bar whose end is not read yet: it runs to the end of the run
    /// unless its end comes.
    #[serde(skip)]
    open: bool,
}

/// One labelled text of an item's details.
#[derive(Clone, Debug, Serialize)]
pub struct Detail {
    /// What the text is.
    pub label: String,
    /// The text, shown as it is.
    pub text: String,
}

/// What an item shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A driver turn, start to end.
    Turn,
    /// A tool (or user API) call, sent to answered.
    Call,
    /// `OnChatUpdated` fired.
    ChatUpdate,
    /// coderd built a turn's prompt (workspace context).
    Prompt,
    /// A build, enqueued to its job's end.
    Build,
    /// A job status change.
    Job,
    /// A quota commit.
    Quota,
    /// An agent's connection status, from one change to the next.
    Status,
    /// An agent's reported lifecycle state.
    Lifecycle,
    /// coderd accepted an agent connection.
    Connect,
    /// coderd lost an agent connection.
    Disconnect,
    /// A dial of the agent, started to finished.
    Dial,
    /// A fault, from when it took effect to its end (if it has one).
    Fault,
    /// A fault that had nothing to act on.
    FaultSkipped,
    /// An infrastructure change (crash, start, partition, repair, …).
    Infra,
}

/// An item's colour: how it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Succeeded, connected, done.
    Ok,
    /// Failed, disconnected, an error result.
    Error,
    /// Under way or waiting: pending, connecting, unanswered.
    Open,
    /// Something done to the world (a fault, a crash).
    Fault,
    /// Neither good nor bad.
    Neutral,
}

impl Timeline {
    /// The timeline of `run`.
    pub fn new(run: &Run<'_>) -> Timeline {
        let trace = run.trace;
        let (transport, seed) = trace
            .records()
            .iter()
            .find_map(|r| match &r.event {
                Event::RunStart {
                    transport, seed, ..
                } => Some((transport.name().to_string(), *seed)),
                _ => None,
            })
            .unwrap_or_default();
        let end_ms = trace.records().last().map_or(0, |r| millis(r.at));
        let mut marks = run.marks.clone();
        marks.sort_by_key(|m| m.at_ms);
        Timeline {
            title: run.title.to_string(),
            description: run.description.to_string(),
            verdict: if marks.is_empty() { "pass" } else { "fail" },
            replay: run.replay.to_string(),
            trace_hash: trace.hash(),
            transport,
            seed,
            end_ms,
            lanes: Reader::new(trace, end_ms).lanes(),
            marks,
        }
    }

    /// The lane named `id`.
    pub fn lane(&self, id: &str) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.id == id)
    }

    /// How many items of `kind` the lanes hold.
    pub fn count(&self, kind: ItemKind) -> usize {
        self.lanes
            .iter()
            .flat_map(|l| &l.items)
            .filter(|i| i.kind == kind)
            .count()
    }
}

/// Names the trace gives IDs: chats, workspaces, builds and agents.
#[derive(Default)]
struct Names {
    chats: BTreeMap<String, String>,
    workspaces: BTreeMap<String, String>,
    builds: BTreeMap<String, String>,
    agents: BTreeMap<String, String>,
}

impl Names {
    fn of(trace: &Trace) -> Names {
        let mut names = Names::default();
        for record in trace.records() {
            match &record.event {
                Event::Entity {
                    kind: EntityKind::Chat,
                    name,
                    id,
                } => {
                    names.chats.insert(id.clone(), name.clone());
                }
                Event::Enqueue {
                    workspace,
                    workspace_id,
                    build,
                    number,
                    ..
                } => {
                    names
                        .workspaces
                        .insert(workspace_id.clone(), workspace.clone());
                    names
                        .builds
                        .insert(build.clone(), format!("{workspace} #{number}"));
                }
                Event::AgentStatus {
                    agent,
                    name,
                    workspace,
                    build,
                    ..
                } => {
                    let placed = match names.builds.get(build) {
                        Some(build) => format!("{name} · {build}"),
                        None if workspace.is_empty() => name.clone(),
                        None => format!("{name} · {workspace}"),
                    };
                    names.agents.entry(agent.clone()).or_insert(placed);
                }
                Event::AgentConnect { agent, name } => {
                    names
                        .agents
                        .entry(agent.clone())
                        .or_insert_with(|| name.clone());
                }
                _ => {}
            }
        }
        names
    }

    /// `name (id)` when the ID has a name, else the ID.
    fn show(map: &BTreeMap<String, String>, id: &str) -> String {
        match map.get(id) {
            Some(name) => format!("{name} ({id})"),
            None => id.to_string(),
        }
    }
}

/// Reads a trace once, filling lanes by subject.
struct Reader<'t> {
    trace: &'t Trace,
    end_ms: u64,
    names: Names,
    /// Lane IDs in the order they were opened, and each lane.
    order: Vec<String>,
    lanes: BTreeMap<String, Lane>,
    /// turn → chat name.
    turn_chat: BTreeMap<usize, String>,
    /// (turn, call) → its item's index in its lane.
    open_calls: BTreeMap<(usize, usize), usize>,
    /// turn → its item's index in its lane.
    open_turns: BTreeMap<usize, usize>,
    /// build → (lane, index of its bar).
    build_bars: BTreeMap<String, (String, usize)>,
    /// agent → index of its open status item.
    open_status: BTreeMap<String, usize>,
    /// agent → indices of its dials not finished yet, oldest first.
    open_dials: BTreeMap<String, Vec<usize>>,
}

impl<'t> Reader<'t> {
    fn new(trace: &'t Trace, end_ms: u64) -> Reader<'t> {
        Reader {
            trace,
            end_ms,
            names: Names::of(trace),
            order: Vec::new(),
            lanes: BTreeMap::new(),
            turn_chat: BTreeMap::new(),
            open_calls: BTreeMap::new(),
            open_turns: BTreeMap::new(),
            build_bars: BTreeMap::new(),
            open_status: BTreeMap::new(),
            open_dials: BTreeMap::new(),
        }
    }

    fn lanes(mut self) -> Vec<Lane> {
        for record in self.trace.records() {
            self.read(record);
        }
        let mut lanes = self.lanes;
        let mut out: Vec<Lane> = self
            .order
            .iter()
            .filter_map(|id| lanes.remove(id))
            .collect();
        for lane in &mut out {
            stack(&mut lane.items, self.end_ms);
            lane.rows = lane.items.iter().map(|i| i.row + 1).max().unwrap_or(1);
        }
        out
    }

    /// The lane `id`, opened (labelled `label`) on first use.
    fn lane(&mut self, id: String, label: impl FnOnce() -> String) -> &mut Lane {
        if !self.lanes.contains_key(&id) {
            self.order.push(id.clone());
            let lane = Lane {
                id: id.clone(),
                label: label(),
                rows: 1,
                items: Vec::new(),
            };
            self.lanes.insert(id.clone(), lane);
        }
        self.lanes.get_mut(&id).expect("the lane was just opened")
    }

    /// Adds `item` to lane `id`; its index there.
    fn push(&mut self, id: String, label: impl FnOnce() -> String, item: Item) -> usize {
        let lane = self.lane(id, label);
        lane.items.push(item);
        lane.items.len() - 1
    }

    fn item_mut(&mut self, lane: &str, index: usize) -> Option<&mut Item> {
        self.lanes.get_mut(lane)?.items.get_mut(index)
    }

    fn chat_of_turn(&self, turn: usize) -> String {
        self.turn_chat
            .get(&turn)
            .cloned()
            .unwrap_or_else(|| "?".to_string())
    }

    /// Routes a record to the reader of its lanes; the match is
    /// exhaustive, so a new event must say where it is drawn.
    fn read(&mut self, record: &Record) {
        match &record.event {
            Event::TurnStart { .. }
            | Event::ModelOutcome { .. }
            | Event::TurnEnd { .. }
            | Event::ToolCall { .. }
            | Event::ToolResult { .. }
            | Event::CallAbandoned { .. }
            | Event::ChatUpdated { .. }
            | Event::TurnContext { .. } => self.read_chat(record),
            Event::Enqueue { .. }
            | Event::Job { .. }
            | Event::QuotaCommit { .. }
            | Event::BuildLog { .. } => self.read_build(record),
            Event::AgentStatus { .. }
            | Event::AgentLifecycle { .. }
            | Event::AgentConnect { .. }
            | Event::AgentDisconnect { .. }
            | Event::Dial { .. }
            | Event::Engine {
                kind: EngineEventKind::DialStart,
                ..
            } => self.read_agent(record),
            Event::Fault { .. } | Event::FaultSkipped { .. } | Event::Infra { .. } => {
                self.read_fault(record)
            }
            // What the header says (run start and end), names (entities),
            // engine logs and coderd's response marks (the call's bar ends
            // at its result) are not drawn.
            Event::RunStart { .. }
            | Event::RunEnd { .. }
            | Event::Entity { .. }
            | Event::Engine { .. }
            | Event::Response { .. } => {}
        }
    }

    /// Turns, tool calls, chat updates and prompts: the chat's lanes.
    fn read_chat(&mut self, record: &Record) {
        let at = millis(record.at);
        match &record.event {
            Event::TurnStart {
                chat,
                turn,
                name,
                model,
            } => {
                self.turn_chat.insert(*turn, chat.clone());
                let mut details = vec![detail("chat", chat)];
                if let Some(model) = model {
                    details.push(detail("model", model.as_str()));
                }
                let label = name.clone().unwrap_or_else(|| format!("turn {turn}"));
                let chat = chat.clone();
                let index = self.push(
                    format!("chat:{chat}:turns"),
                    || format!("chat {chat} · turns"),
                    open(ItemKind::Turn, at, label, details),
                );
                self.open_turns.insert(*turn, index);
            }
            Event::ModelOutcome {
                turn,
                outcome,
                reason,
                calls,
            } => {
                let lane = format!("chat:{}:turns", self.chat_of_turn(*turn));
                if let Some(&index) = self.open_turns.get(turn) {
                    if let Some(item) = self.item_mut(&lane, index) {
                        item.details.push(detail(
                            "model outcome",
                            format!("{outcome} after {calls} calls"),
                        ));
                        if let Some(reason) = reason {
                            item.details.push(detail("told the user", reason));
                        }
                    }
                }
            }
            Event::TurnEnd { turn, outcome } => {
                let lane = format!("chat:{}:turns", self.chat_of_turn(*turn));
                if let Some(index) = self.open_turns.remove(turn) {
                    if let Some(item) = self.item_mut(&lane, index) {
                        item.end_ms = Some(at);
                        item.tone = match outcome {
                            TurnEnding::Done => Tone::Ok,
                            TurnEnding::Timeout | TurnEnding::Lost(_) => Tone::Error,
                        };
                        item.details.push(detail("ended", outcome.to_string()));
                    }
                }
            }
            Event::ToolCall {
                turn,
                call,
                name,
                input,
            } => {
                let chat = self.chat_of_turn(*turn);
                let details = vec![
                    detail("turn, call", format!("{turn}, {call}")),
                    detail("arguments", pretty(input)),
                ];
                let index = self.push(
                    format!("chat:{chat}:calls"),
                    || format!("chat {chat} · tool calls"),
                    open(ItemKind::Call, at, name.clone(), details),
                );
                self.open_calls.insert((*turn, *call), index);
            }
            Event::ToolResult {
                turn,
                call,
                is_error,
                content,
                ..
            } => {
                let lane = format!("chat:{}:calls", self.chat_of_turn(*turn));
                if let Some(index) = self.open_calls.remove(&(*turn, *call)) {
                    if let Some(item) = self.item_mut(&lane, index) {
                        item.end_ms = Some(at);
                        item.tone = if *is_error { Tone::Error } else { Tone::Ok };
                        let what = if *is_error {
                            "response (error)"
                        } else {
                            "response"
                        };
                        item.details.push(detail(what, pretty(content)));
                    }
                }
            }
            // The model stopped waiting; the call runs on to its result.
            Event::CallAbandoned { turn, call, .. } => {
                let lane = format!("chat:{}:calls", self.chat_of_turn(*turn));
                if let Some(&index) = self.open_calls.get(&(*turn, *call)) {
                    if let Some(item) = self.item_mut(&lane, index) {
                        let when = format!("{}s", format_time(record.at));
                        item.details
                            .push(detail("the model gave up waiting at", when));
                    }
                }
            }
            Event::ChatUpdated {
                chat,
                workspace,
                build,
                agent,
            } => {
                let name = self
                    .names
                    .chats
                    .get(chat)
                    .cloned()
                    .unwrap_or_else(|| chat.clone());
                let show = |map: &BTreeMap<String, String>, id: &Option<String>| {
                    id.as_deref()
                        .map_or_else(|| "none".to_string(), |id| Names::show(map, id))
                };
                let details = vec![
                    detail("workspace", show(&self.names.workspaces, workspace)),
                    detail("build", show(&self.names.builds, build)),
                    detail("agent", show(&self.names.agents, agent)),
                ];
                self.push(
                    format!("chat:{name}:updates"),
                    || format!("chat {name} · updates & prompts"),
                    instant(
                        ItemKind::ChatUpdate,
                        at,
                        "chat updated",
                        Tone::Neutral,
                        details,
                    ),
                );
            }
            Event::TurnContext {
                chat,
                turn,
                phase,
                prompt,
            } => {
                let text = if prompt.is_empty() {
                    "(empty)".to_string()
                } else {
                    prompt.clone()
                };
                let details = vec![detail("turn", turn.to_string()), detail("prompt", text)];
                let chat = chat.clone();
                self.push(
                    format!("chat:{chat}:updates"),
                    || format!("chat {chat} · updates & prompts"),
                    instant(
                        ItemKind::Prompt,
                        at,
                        format!("prompt ({phase})"),
                        Tone::Neutral,
                        details,
                    ),
                );
            }
            _ => {}
        }
    }

    /// Builds, their jobs, quota commits and logs: the workspace's lane.
    fn read_build(&mut self, record: &Record) {
        let at = millis(record.at);
        match &record.event {
            Event::Enqueue {
                by,
                hook,
                workspace,
                build,
                number,
                transition,
                template,
                version,
                ..
            } => {
                let details = vec![
                    detail("build", format!("{workspace} #{number} ({build})")),
                    detail("enqueued by", format!("{by} ({hook} hook)")),
                    detail("template", format!("{template}/{version}")),
                ];
                let lane = format!("workspace:{workspace}:builds");
                let ws = workspace.clone();
                let index = self.push(
                    lane.clone(),
                    || format!("workspace {ws} · builds"),
                    open(
                        ItemKind::Build,
                        at,
                        format!("#{number} {}", transition.as_str()),
                        details,
                    ),
                );
                self.build_bars.insert(build.clone(), (lane, index));
            }
            Event::Job {
                workspace,
                build,
                number,
                transition,
                status,
                error,
                error_code,
            } => {
                let ws = workspace.clone();
                let label = move || format!("workspace {ws} · builds");
                let (lane, bar) = match self.build_bars.get(build) {
                    Some(found) => found.clone(),
                    None => {
                        // A build coderd enqueued before the trace names it
                        // (none today): its bar starts at its first status.
                        let lane = format!("workspace:{workspace}:builds");
                        let details =
                            vec![detail("build", format!("{workspace} #{number} ({build})"))];
                        let title = format!("#{number} {}", transition.as_str());
                        let bar = open(ItemKind::Build, at, title, details);
                        let index = self.push(lane.clone(), label.clone(), bar);
                        self.build_bars.insert(build.clone(), (lane.clone(), index));
                        (lane, index)
                    }
                };
                let mut text = status.as_str().to_string();
                if let Some(error) = error {
                    text.push_str(&format!(": {error}"));
                }
                if let Some(code) = error_code {
                    text.push_str(&format!(" ({code})"));
                }
                let tone = job_tone(*status);
                if let Some(item) = self.item_mut(&lane, bar) {
                    item.details
                        .push(detail(format!("job at {}s", format_time(record.at)), &text));
                    if is_final(*status) {
                        item.end_ms = Some(at);
                        item.tone = tone;
                    }
                }
                let details = vec![
                    detail("build", format!("{workspace} #{number} ({build})")),
                    detail("status", text),
                ];
                let tick = Item {
                    on: Some(bar),
                    ..instant(ItemKind::Job, at, status.as_str(), tone, details)
                };
                self.push(lane, label, tick);
            }
            Event::QuotaCommit {
                build,
                daily_cost,
                ok,
            } => {
                if let Some((lane, bar)) = self.build_bars.get(build).cloned() {
                    let details = vec![
                        detail("build", Names::show(&self.names.builds, build)),
                        detail("daily cost", daily_cost.to_string()),
                        detail("allowed", ok.to_string()),
                    ];
                    let tone = if *ok { Tone::Ok } else { Tone::Error };
                    let label = if *ok { "quota ok" } else { "quota refused" };
                    let tick = Item {
                        on: Some(bar),
                        ..instant(ItemKind::Quota, at, label, tone, details)
                    };
                    self.push(lane, String::new, tick);
                }
            }
            Event::BuildLog { build, stage, line } => {
                if let Some((lane, index)) = self.build_bars.get(build).cloned() {
                    if let Some(bar) = self.item_mut(&lane, index) {
                        bar.details.push(detail(
                            format!("log at {}s ({stage})", format_time(record.at)),
                            line,
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    /// Statuses, lifecycle, connections and dials: the agent's lane.
    fn read_agent(&mut self, record: &Record) {
        let at = millis(record.at);
        match &record.event {
            Event::AgentStatus {
                agent, to, since, ..
            } => {
                if let Some(index) = self.open_status.remove(agent) {
                    let lane = format!("agent:{agent}");
                    if let Some(item) = self.item_mut(&lane, index) {
                        item.end_ms = Some(at);
                    }
                }
                let mut details = vec![detail("agent", Names::show(&self.names.agents, agent))];
                if let Some(since) = since {
                    details.push(detail(
                        "disconnected since",
                        format!("{}s", format_time(*since)),
                    ));
                }
                let item = Item {
                    tone: status_tone(*to),
                    ..open(ItemKind::Status, at, to.as_str(), details)
                };
                let index = self.push_agent(agent, item);
                self.open_status.insert(agent.clone(), index);
            }
            Event::AgentLifecycle { agent, state } => {
                let details = vec![detail("agent", Names::show(&self.names.agents, agent))];
                let item = instant(
                    ItemKind::Lifecycle,
                    at,
                    state.as_str(),
                    Tone::Neutral,
                    details,
                );
                self.push_agent(agent, item);
            }
            Event::AgentConnect { agent, .. } => {
                let details = vec![detail("agent", Names::show(&self.names.agents, agent))];
                let item = instant(ItemKind::Connect, at, "connect", Tone::Ok, details);
                self.push_agent(agent, item);
            }
            Event::AgentDisconnect { agent, reason } => {
                let details = vec![
                    detail("agent", Names::show(&self.names.agents, agent)),
                    detail("reason", reason.as_str()),
                ];
                let item = instant(ItemKind::Disconnect, at, "disconnect", Tone::Error, details);
                self.push_agent(agent, item);
            }
            Event::Engine {
                kind: EngineEventKind::DialStart,
                detail: text,
            } => {
                if let Some(agent) = text.strip_prefix("agent=") {
                    let details = vec![detail("agent", Names::show(&self.names.agents, agent))];
                    let index = self.push_agent(agent, open(ItemKind::Dial, at, "dial", details));
                    self.open_dials
                        .entry(agent.to_string())
                        .or_default()
                        .push(index);
                }
            }
            Event::Dial {
                agent,
                outcome,
                attempts,
                error,
            } => {
                let mut text = format!("{outcome} after {attempts} attempt(s)");
                if let Some(error) = error {
                    text.push_str(&format!(": {error}"));
                }
                let tone = match outcome {
                    DialOutcome::Ok => Tone::Ok,
                    DialOutcome::Error | DialOutcome::Abandoned => Tone::Error,
                };
                let started = self
                    .open_dials
                    .get_mut(agent)
                    .filter(|open| !open.is_empty())
                    .map(|open| open.remove(0));
                match started {
                    Some(index) => {
                        let lane = format!("agent:{agent}");
                        if let Some(item) = self.item_mut(&lane, index) {
                            item.end_ms = Some(at);
                            item.tone = tone;
                            item.label = format!("dial {outcome}");
                            item.details.push(detail("outcome", text));
                        }
                    }
                    None => {
                        let details = vec![
                            detail("agent", Names::show(&self.names.agents, agent)),
                            detail("outcome", text),
                        ];
                        let item =
                            instant(ItemKind::Dial, at, format!("dial {outcome}"), tone, details);
                        self.push_agent(agent, item);
                    }
                }
            }
            _ => {}
        }
    }

    /// Faults and infrastructure changes: the faults lane.
    fn read_fault(&mut self, record: &Record) {
        let at = millis(record.at);
        match &record.event {
            Event::Fault { name, params } => {
                let mut details = vec![detail("parameters", pretty_value(params))];
                let mut item = instant(ItemKind::Fault, at, name.clone(), Tone::Fault, Vec::new());
                match fault_length(params) {
                    FaultLength::Instant => {}
                    FaultLength::For(length) => {
                        let end = record.at + length;
                        item.end_ms = Some(millis(end));
                        details.push(detail("ends", format!("{}s", format_time(end))));
                    }
                    FaultLength::ForGood => {
                        item.open = true;
                        details.push(detail("ends", "never (for good)"));
                    }
                }
                item.details = details;
                self.push_fault(item);
            }
            Event::FaultSkipped { name, reason } => {
                let details = vec![detail("why", reason)];
                let item = instant(
                    ItemKind::FaultSkipped,
                    at,
                    format!("{name} (skipped)"),
                    Tone::Neutral,
                    details,
                );
                self.push_fault(item);
            }
            Event::Infra { action, target } => {
                let details = vec![detail("target", target)];
                let item = instant(
                    ItemKind::Infra,
                    at,
                    action.as_str(),
                    infra_tone(*action),
                    details,
                );
                self.push_fault(item);
            }
            _ => {}
        }
    }

    fn push_agent(&mut self, agent: &str, item: Item) -> usize {
        let label = self
            .names
            .agents
            .get(agent)
            .map_or_else(|| format!("agent {agent}"), |name| format!("agent {name}"));
        self.push(format!("agent:{agent}"), || label, item)
    }

    fn push_fault(&mut self, item: Item) -> usize {
        self.push(
            "faults".to_string(),
            || "faults & infrastructure".to_string(),
            item,
        )
    }
}

/// Gives each item a row, first fit in trace order: a bar takes the first
/// row of its kind whose last bar ended by its start; an instant rides on
/// its kind's first row (overlapping ticks are fine, a row per tick is
/// not); a job status or quota tick takes its build's row. A bar the run
/// ended before its end closes at `end_ms`. Rows are made in order of
/// first use, so an agent's status stays on top.
fn stack(items: &mut [Item], end_ms: u64) {
    // Per row: the kind it holds and where its last bar ends.
    let mut rows: Vec<(ItemKind, Option<u64>)> = Vec::new();
    for index in 0..items.len() {
        if let Some(bar) = items[index].on.filter(|&bar| bar < index) {
            items[index].row = items[bar].row;
            continue;
        }
        let item = &mut items[index];
        if item.open && item.end_ms.is_none() {
            item.end_ms = Some(end_ms.max(item.start_ms));
        }
        let group = row_kind(item.kind);
        let start = item.start_ms;
        let fits = |(kind, last): &(ItemKind, Option<u64>)| {
            *kind == group && (item.end_ms.is_none() || last.is_none_or(|last| last <= start))
        };
        let row = rows.iter().position(fits).unwrap_or_else(|| {
            rows.push((group, None));
            rows.len() - 1
        });
        if let Some(end) = item.end_ms {
            rows[row].1 = Some(end.max(rows[row].1.unwrap_or(0)));
        }
        item.row = u32::try_from(row).unwrap_or(u32::MAX);
    }
}

/// Items that share rows: a build's ticks ride on its bars' row.
fn row_kind(kind: ItemKind) -> ItemKind {
    match kind {
        ItemKind::Job | ItemKind::Quota => ItemKind::Build,
        ItemKind::Connect | ItemKind::Disconnect => ItemKind::Lifecycle,
        ItemKind::FaultSkipped => ItemKind::Fault,
        other => other,
    }
}

fn detail(label: impl Into<String>, text: impl Into<String>) -> Detail {
    Detail {
        label: label.into(),
        text: text.into(),
    }
}

/// A bar not ended yet (it ends when its end is read, or with the run).
fn open(kind: ItemKind, at: u64, label: impl Into<String>, details: Vec<Detail>) -> Item {
    Item {
        open: true,
        ..instant(kind, at, label, Tone::Open, details)
    }
}

/// An instant.
fn instant(
    kind: ItemKind,
    at: u64,
    label: impl Into<String>,
    tone: Tone,
    details: Vec<Detail>,
) -> Item {
    Item {
        kind,
        start_ms: at,
        end_ms: None,
        row: 0,
        label: label.into(),
        tone,
        details,
        on: None,
        open: false,
    }
}

/// JSON text pretty-printed; other text as it is.
fn pretty(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => pretty_value(&value),
        _ => text.to_string(),
    }
}

fn pretty_value(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// How long a fault lasts.
enum FaultLength {
    /// It acts once (a crash, a new template version).
    Instant,
    /// It is undone after this long.
    For(Duration),
    /// Its length parameter is unset: it lasts for good.
    ForGood,
}

/// Reads the length a fault's record names: `duration`, `down_for` or
/// `restart_after` (null: for good); none of them: an instant.
fn fault_length(params: &Value) -> FaultLength {
    let Some(value) = ["duration", "down_for", "restart_after"]
        .iter()
        .find_map(|key| params.get(key))
    else {
        return FaultLength::Instant;
    };
    match value.as_str().map(parse_duration) {
        Some(Ok(length)) => FaultLength::For(length),
        _ if value.is_null() => FaultLength::ForGood,
        _ => FaultLength::Instant,
    }
}

fn is_final(status: JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
    )
}

fn job_tone(status: JobStatus) -> Tone {
    match status {
        JobStatus::Succeeded => Tone::Ok,
        JobStatus::Failed | JobStatus::Canceled => Tone::Error,
        JobStatus::Pending | JobStatus::Running | JobStatus::Canceling => Tone::Open,
    }
}

fn status_tone(status: AgentStatusKind) -> Tone {
    match status {
        AgentStatusKind::Connected => Tone::Ok,
        AgentStatusKind::Connecting => Tone::Open,
        AgentStatusKind::Disconnected | AgentStatusKind::Timeout => Tone::Error,
    }
}

fn infra_tone(action: InfraAction) -> Tone {
    match action {
        InfraAction::Crash
        | InfraAction::Partition
        | InfraAction::Hold
        | InfraAction::CrashAgent
        | InfraAction::WedgeAgent
        | InfraAction::BreakNextAgentStart => Tone::Fault,
        _ => Tone::Neutral,
    }
}
