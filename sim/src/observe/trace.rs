//! The trace: one JSON line per event with its virtual time, in the order
//! the events happened. Same seed and transport → byte-identical trace; the
//! stable hash (FNV-1a 64 over the bytes) names a trace in one short string,
//! and [`Trace::first_difference`] points at the first line two runs differ.
//!
//! Lines are in the order events happened in the simulation. Hosts run one
//! after another within a tick, so two lines of different hosts in one tick
//! may carry times slightly out of order; within one host times never go
//! back. Wall time never enters a trace.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One event. Serialized as `{"t":"<secs.millis>","host":…,"ev":"<kind>",…}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// First line: what ran, on which transport.
    RunStart {
        transport: String,
        seed: u64,
        tick_ms: u64,
        /// Hosts polled in a seeded random order (a fuzz option).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        random_order: bool,
    },
    /// Last line: how the run ended (`ok` or the error).
    RunEnd { outcome: String },
    /// A scheduled fault took effect.
    Fault { name: String, params: Value },
    /// A scheduled fault had nothing to act on (e.g. its workspace does not exist).
    FaultSkipped { name: String, reason: String },
    /// The outer loop changed the infrastructure (crash, bounce, partition, …).
    Infra { action: String, target: String },
    /// What an ID names: the harness lists the world's organizations,
    /// users, templates, versions (`template/version`), presets
    /// (`template/version/preset`) and chats in the first lines; coderd
    /// adds versions an operator pushes.
    Entity {
        kind: String,
        name: String,
        id: String,
    },
    /// The driver began a turn (`name`: the scenario's name for it;
    /// `model`: the policy playing it, when not scripted).
    TurnStart {
        chat: String,
        turn: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// How a model turn ended: `done`, `told_user` (with `reason`) or
    /// `cap_exceeded`, after `calls` tool calls.
    ModelOutcome {
        turn: usize,
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        calls: usize,
    },
    /// The driver finished a turn (`done`, `timeout`, `lost: <error>`).
    TurnEnd { turn: usize, outcome: String },
    /// The driver sent a call (a tool, or a user API call named `api.<kind>`).
    ToolCall {
        turn: usize,
        call: usize,
        name: String,
        input: String,
    },
    /// The response the driver received.
    ToolResult {
        turn: usize,
        call: usize,
        name: String,
        is_error: bool,
        content: String,
    },
    /// A provisioner job changed state, as coderd recorded it.
    Job {
        workspace: String,
        build: String,
        number: i32,
        transition: String,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
    },
    /// coderd's build hook inserted a build and its pending job, on behalf
    /// of `by`: `chat:<name>` (the chat's tools), `user` (the user API) or
    /// `prebuild` (the reconciler). `hook` is `create`, `start` or `stop`;
    /// `external_agent` says whether the build's template version has an
    /// external agent.
    Enqueue {
        by: String,
        hook: String,
        workspace: String,
        workspace_id: String,
        build: String,
        number: i32,
        transition: String,
        template: String,
        version: String,
        external_agent: bool,
    },
    /// The provisioner committed a start build's cost; `ok: false` fails the
    /// build with `INSUFFICIENT_QUOTA`.
    QuotaCommit {
        build: String,
        daily_cost: i64,
        ok: bool,
    },
    /// A build-log line coderd stored for a build.
    BuildLog {
        build: String,
        stage: String,
        line: String,
    },
    /// coderd accepted an agent connection.
    AgentConnect { agent: String, name: String },
    /// coderd lost an agent connection: `eof` (recorded as `disconnected_at`)
    /// or `stale` (no heartbeat within the deadline; not recorded).
    AgentDisconnect { agent: String, reason: String },
    /// An agent reported a lifecycle state.
    AgentLifecycle { agent: String, state: String },
    /// The computed status of an agent of a latest build changed (or, while
    /// disconnected, its disconnected-since time did). `workspace` and
    /// `build` place the agent; `chat_agent` says whether it is the one
    /// the chat rule picks among its build's agents; `since` is the
    /// disconnected-since time (trace time) the status is computed from.
    AgentStatus {
        agent: String,
        name: String,
        from: String,
        to: String,
        #[serde(default)]
        workspace: String,
        #[serde(default)]
        build: String,
        #[serde(default)]
        chat_agent: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<String>,
    },
    /// coderd's dialer finished a dial (`ok`, `error`, or `abandoned` when
    /// its caller gave up first).
    Dial {
        agent: String,
        outcome: String,
        attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// `OnChatUpdated` fired with this binding.
    ChatUpdated {
        chat: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        build: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// The chat runtime built the turn's workspace context (`begin`) or
    /// pulled it mid-turn after `OnChatUpdated` (`mid_turn`).
    TurnContext {
        chat: String,
        turn: usize,
        phase: String,
        /// The system-prompt text (instruction, then the skill index).
        prompt: String,
    },
    /// An event the engine emitted through the `Events` port.
    Engine { kind: String, detail: String },
}

impl Event {
    /// The `ev` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunStart { .. } => "run_start",
            Event::RunEnd { .. } => "run_end",
            Event::Fault { .. } => "fault",
            Event::FaultSkipped { .. } => "fault_skipped",
            Event::Infra { .. } => "infra",
            Event::Entity { .. } => "entity",
            Event::TurnStart { .. } => "turn_start",
            Event::ModelOutcome { .. } => "model_outcome",
            Event::TurnEnd { .. } => "turn_end",
            Event::ToolCall { .. } => "tool_call",
            Event::ToolResult { .. } => "tool_result",
            Event::Job { .. } => "job",
            Event::Enqueue { .. } => "enqueue",
            Event::QuotaCommit { .. } => "quota_commit",
            Event::BuildLog { .. } => "build_log",
            Event::AgentConnect { .. } => "agent_connect",
            Event::AgentDisconnect { .. } => "agent_disconnect",
            Event::AgentLifecycle { .. } => "agent_lifecycle",
            Event::AgentStatus { .. } => "agent_status",
            Event::Dial { .. } => "dial",
            Event::ChatUpdated { .. } => "chat_updated",
            Event::TurnContext { .. } => "turn_context",
            Event::Engine { .. } => "engine",
        }
    }
}

/// A parsed trace line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Virtual time since the start of the run, `<secs>.<millis>`.
    pub t: String,
    pub host: String,
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// The virtual time as a duration.
    pub fn at(&self) -> Duration {
        parse_time(&self.t).unwrap_or_default()
    }
}

/// Formats a virtual time as the trace writes it.
pub fn format_time(at: Duration) -> String {
    let ms = at.as_millis();
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Parses a time as the trace writes it (`<secs>.<millis>`).
pub fn parse_time(text: &str) -> Option<Duration> {
    let (secs, millis) = text.split_once('.')?;
    Some(Duration::from_millis(
        secs.parse::<u64>().ok()? * 1000 + millis.parse::<u64>().ok()?,
    ))
}

/// A UUID as traces write it.
pub fn id(uuid: Uuid) -> String {
    uuid.to_string()
}

/// An optional UUID as traces write it.
pub fn opt_id(uuid: Option<Uuid>) -> Option<String> {
    uuid.map(id)
}

/// The writer every host shares (one thread, so `Rc`).
#[derive(Clone, Default)]
pub struct Tracer {
    lines: Rc<RefCell<Vec<String>>>,
}

impl Tracer {
    pub fn new() -> Tracer {
        Tracer::default()
    }

    /// Appends one event at virtual time `at`.
    pub fn emit(&self, at: Duration, host: &str, event: Event) {
        let record = Record {
            t: format_time(at),
            host: host.to_string(),
            event,
        };
        let line = serde_json::to_string(&record).expect("trace records serialize");
        self.lines.borrow_mut().push(line);
    }

    /// A copy of everything written so far.
    pub fn snapshot(&self) -> Trace {
        Trace {
            lines: self.lines.borrow().clone(),
        }
    }
}

/// A finished trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    lines: Vec<String>,
}

/// Where two traces first differ (1-based line; `None` = that trace ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub line: usize,
    pub left: Option<String>,
    pub right: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "<end of trace>".into());
        write!(
            f,
            "first difference at line {}:\n  - {}\n  + {}",
            self.line,
            show(&self.left),
            show(&self.right)
        )
    }
}

impl Trace {
    pub fn from_lines(lines: Vec<String>) -> Trace {
        Trace { lines }
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The trace as JSON lines, each ending in `\n`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// FNV-1a 64 over [`Trace::text`], as 16 hex digits.
    pub fn hash(&self) -> String {
        format!("{:016x}", fnv1a64(self.text().as_bytes()))
    }

    /// The first line where `self` and `other` differ, if any.
    pub fn first_difference(&self, other: &Trace) -> Option<Difference> {
        let longest = self.lines.len().max(other.lines.len());
        (0..longest)
            .find(|&i| self.lines.get(i) != other.lines.get(i))
            .map(|i| Difference {
                line: i + 1,
                left: self.lines.get(i).cloned(),
                right: other.lines.get(i).cloned(),
            })
    }

    /// Every line parsed back (a line that does not parse is skipped).
    pub fn records(&self) -> Vec<Record> {
        self.lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The story the model and the user saw, without the clock: per turn,
    /// the prompts coderd built (`turn_context`, numbered in order), every
    /// call with its input and its response (keyed by turn and call, so
    /// parallel calls that finish in another order still compare equal),
    /// the model's outcome and the turn's end; then the run's outcome.
    /// Time-valued JSON fields are masked by [`mask_times`]. Two
    /// transports telling the same story give equal stories even though
    /// their timings differ.
    pub fn story(&self) -> Vec<String> {
        // (turn, part, index, sub): prompts, calls, model outcome, end.
        let mut turns: BTreeMap<(usize, u8, usize, u8), String> = BTreeMap::new();
        let mut prompts: BTreeMap<usize, usize> = BTreeMap::new();
        let mut lines = Vec::new();
        for record in self.records() {
            let (key, line) = match record.event {
                Event::TurnContext {
                    turn,
                    phase,
                    prompt,
                    ..
                } => {
                    let n = prompts.entry(turn).or_default();
                    *n += 1;
                    (
                        (turn, 0, *n, 0),
                        format!("prompt {n} ({phase}): {prompt:?}"),
                    )
                }
                Event::ToolCall {
                    turn,
                    call,
                    name,
                    input,
                } => (
                    (turn, 1, call, 0),
                    format!("call {call} > {name} {}", mask_times(&input)),
                ),
                Event::ToolResult {
                    turn,
                    call,
                    name,
                    is_error,
                    content,
                } => {
                    let status = if is_error { "error" } else { "ok" };
                    let content = mask_times(&content);
                    (
                        (turn, 1, call, 1),
                        format!("call {call} < {name} {status}: {content}"),
                    )
                }
                Event::ModelOutcome {
                    turn,
                    outcome,
                    reason,
                    calls,
                } => {
                    let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    (
                        (turn, 2, 0, 0),
                        format!("model: {outcome}{reason} after {calls} calls"),
                    )
                }
                Event::TurnEnd { turn, outcome } => ((turn, 3, 0, 0), format!("end: {outcome}")),
                Event::RunEnd { outcome } => {
                    lines.push(format!("run: {outcome}"));
                    continue;
                }
                _ => continue,
            };
            turns.insert(key, line);
        }
        let mut story: Vec<String> = turns
            .into_iter()
            .map(|((turn, ..), line)| format!("turn {turn} {line}"))
            .collect();
        story.extend(lines);
        story
    }

    /// The events of one kind (the `ev` tag), in order.
    pub fn of_kind(&self, kind: &str) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.event.kind() == kind)
            .collect()
    }
}

/// JSON keys whose values are times, masked in [`Trace::story`]: any key
/// ending in `_at` whose value is a string (an RFC 3339 timestamp). No
/// tool or user-API response carries one today (durations in texts are
/// configured thresholds, not measured times); the mask keeps the
/// comparison about the story, not the clock, should one appear.
pub const TIME_KEY_SUFFIX: &str = "_at";

/// What [`Trace::story`] writes in place of a masked value.
pub const MASKED: &str = "<time>";

/// A response's text with the string value of every `*_at` key replaced by
/// `"<time>"`. Everything else — key order, escapes such as `\u003c`,
/// spacing, text that is not JSON — is kept byte for byte, so a story
/// still tells a changed key order or escape apart.
pub fn mask_times(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    // The last string literal seen, if it may be a key awaiting its value.
    let mut time_key = false;
    while let Some(start) = rest.find('"') {
        let (before, literal) = rest.split_at(start);
        let Some(len) = string_literal_len(literal) else {
            break; // unterminated: keep the rest as it is
        };
        let (literal, after) = literal.split_at(len);
        let value_of_time_key = time_key && before.trim() == ":";
        out.push_str(before);
        if value_of_time_key {
            out.push('"');
            out.push_str(MASKED);
            out.push('"');
        } else {
            out.push_str(literal);
        }
        let key = &literal[1..literal.len() - 1];
        time_key = !value_of_time_key && key.ends_with(TIME_KEY_SUFFIX);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The length of the JSON string literal `text` starts with (its opening
/// quote to its closing quote), or `None` when it is not closed.
fn string_literal_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// FNV-1a, 64 bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn time_fields_are_masked_and_other_text_kept() {
        assert_eq!(
            mask_times(r#"{"z":{"created_at":"2026-01-01T00:00:00Z","n":1},"b_at":null}"#),
            r#"{"z":{"created_at":"<time>","n":1},"b_at":null}"#
        );
        // Key order, escapes and a value merely ending in `_at` are kept.
        let kept = r#"{"z":"\u003cx\"_at\u003e","a":"look_at","m_at":["x"],"k":"v"}"#;
        assert_eq!(mask_times(kept), kept);
        assert_eq!(
            mask_times(r#"{"stop_at": "1s", "x": 1}"#),
            r#"{"stop_at": "<time>", "x": 1}"#
        );
        assert_eq!(mask_times("plain text at 12:00"), "plain text at 12:00");
        assert_eq!(
            mask_times(r#"{"open_at":"unterminated"#),
            r#"{"open_at":"unterminated"#
        );
    }

    #[test]
    fn the_story_keys_calls_by_turn_and_call() {
        let tracer = Tracer::new();
        let result = |call: usize, content: &str| Event::ToolResult {
            turn: 0,
            call,
            name: "execute".into(),
            is_error: false,
            content: content.into(),
        };
        tracer.emit(Duration::from_millis(5), "driver", result(1, "second"));
        tracer.emit(Duration::from_millis(9), "driver", result(0, "first"));
        let end = Event::TurnEnd {
            turn: 0,
            outcome: "done".into(),
        };
        tracer.emit(Duration::from_millis(9), "driver", end);
        assert_eq!(
            tracer.snapshot().story(),
            [
                "turn 0 call 0 < execute ok: first",
                "turn 0 call 1 < execute ok: second",
                "turn 0 end: done"
            ]
        );
    }

    #[test]
    fn records_round_trip_and_differences_are_located() {
        let tracer = Tracer::new();
        tracer.emit(
            Duration::from_millis(1500),
            "coderd",
            Event::AgentDisconnect {
                agent: "a".into(),
                reason: "eof".into(),
            },
        );
        let trace = tracer.snapshot();
        assert_eq!(
            trace.lines()[0],
            r#"{"t":"1.500","host":"coderd","ev":"agent_disconnect","agent":"a","reason":"eof"}"#
        );
        let record = &trace.records()[0];
        assert_eq!(record.at(), Duration::from_millis(1500));
        assert_eq!(record.event.kind(), "agent_disconnect");

        let mut other = trace.lines().to_vec();
        other.push("extra".into());
        let diff = trace.first_difference(&Trace::from_lines(other)).unwrap();
        assert_eq!(diff.line, 2);
        assert_eq!(diff.left, None);
        assert!(trace.first_difference(&trace.clone()).is_none());
        assert_eq!(trace.hash().len(), 16);
    }
}
