//! `chatsim serve --mcp`: a real model in the loop. An MCP client drives the
//! simulated deployment through the engine's tools while faults fire, and
//! its run becomes a scenario file that replays byte for byte.
//!
//! Two threads, one run: rmcp serves MCP on the main thread ([`mcp`]) and
//! hands each `tools/call` over a channel to the simulation thread, which
//! runs the scenario on the fast transport with the client as the driver's
//! [`TurnSource`](crate::hosts::driver::TurnSource) ([`source`]). The driver
//! plays the scenario's scripted turns first (its model turns are left out:
//! the client is the model), then asks the client: the simulation thread
//! blocks until a request comes, so virtual time passes only while a call
//! runs or during a `wait`. Each call becomes a scripted turn named
//! `mcp-N` (`at` unset: at once), each wait a wait turn until the instant it
//! ended; the recording ([`Served::record`]) lists exactly those turns, so
//! `chatsim run` of it takes the same path at the same virtual instants.
//! [`summary`] reports the advice the client was given and what it did.

pub mod mcp;
pub mod source;
pub mod summary;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc::Receiver;

use crate::fuzz::file_text;
use crate::harness::run_served;
use crate::plan::{format_duration, RunConfig};
use crate::scenario::{self, Expect, Scenario, ScenarioFile};
use crate::transport::Transport;

pub use mcp::McpServer;
pub use source::{ClientSource, Played, TURN_PREFIX};
pub use summary::{Advice, Summary};

/// The chatsim tool that lets virtual time pass.
pub const WAIT_TOOL: &str = "wait";

/// The world served without `--scenario`: one user, one template with one
/// agent, one chat (`main`), no faults.
pub const DEFAULT_WORLD: &str = r#"name = "default"
description = "chatsim serve's default world: one user (alice), one template (dev) with one agent (main), one chat (main), no faults."
seed = 0

[world]
users = [{ name = "alice", quota = 10 }]
chats = [{ name = "main", owner = "alice" }]

[[world.templates]]
name = "dev"
[[world.templates.versions]]
name = "v1"
daily_cost = 2
agents = [{ name = "main" }]
"#;

/// A request from the client to the simulation thread.
#[derive(Debug)]
pub enum Request {
    /// An engine tool call, with the client's arguments.
    Call {
        /// The tool's name (an engine tool).
        name: String,
        /// Its arguments (a JSON object).
        input: serde_json::Value,
        /// Where the answer goes.
        reply: tokio::sync::oneshot::Sender<Reply>,
    },
    /// Let virtual time pass.
    Wait {
        /// How long.
        duration: std::time::Duration,
        /// Where the answer goes.
        reply: tokio::sync::oneshot::Sender<Reply>,
    },
}

/// What the client is answered: a `ToolResponse`'s text and error flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The text the model reads.
    pub text: String,
    /// Whether it is an error result.
    pub is_error: bool,
}

impl Reply {
    /// A result.
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            is_error: false,
        }
    }

    /// An error result.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            is_error: true,
        }
    }
}

/// What a served run starts from: a scenario (its world, settings, faults
/// and scripted turns) and the chat the client talks in.
#[derive(Clone, Debug)]
pub struct Session {
    base: ScenarioFile,
    chat: String,
}

impl Session {
    /// A session on `scenario` (its seed unless `seed`); its model turns
    /// are left out, the client plays the model in its first chat.
    pub fn new(scenario: &Scenario, seed: Option<u64>) -> Result<Session, String> {
        let mut base = scenario.file.clone();
        base.seed = seed.unwrap_or(base.seed);
        base.turns.retain(|turn| turn.model.is_none());
        let chat = base
            .world
            .chats
            .first()
            .map(|c| c.name.clone())
            .ok_or_else(|| {
                format!(
                    "{}: no chat for the client to talk in",
                    scenario.path.display()
                )
            })?;
        Ok(Session { base, chat })
    }

    /// A session on [`DEFAULT_WORLD`].
    pub fn default_world(seed: Option<u64>) -> Session {
        let scenario = scenario::parse(Path::new("default"), DEFAULT_WORLD)
            .expect("the default world is a valid scenario");
        Session::new(&scenario, seed).expect("the default world has a chat")
    }

    /// The run served: the base scenario without its model turns.
    pub fn config(&self) -> RunConfig {
        self.base.run_config()
    }
}

/// The highest N of the turns `mcp-N` already in `config` (a recording
/// served again), so new turns count on from there; 0 when none.
fn last_served_number(config: &RunConfig) -> usize {
    config
        .turns
        .iter()
        .filter_map(|t| t.name.as_deref()?.strip_prefix(TURN_PREFIX)?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// A served run, ready to be written out.
#[derive(Clone, Debug)]
pub struct Served {
    /// The recording: a scenario file (`transport = "fast"`) with the
    /// client's calls as scripted turns.
    pub record: String,
    /// The run's transcript, in the snapshot form.
    pub transcript: String,
    /// Calls, errors, advice and whether it was followed, the verdict.
    pub summary: Summary,
}

/// Runs `session` with the client's `requests` (until the channel closes)
/// and records it; `record_path` is where the recording will be written
/// (the loader's errors about it name that file).
pub fn simulate(
    session: &Session,
    requests: Receiver<Request>,
    record_path: &Path,
) -> Result<Served, String> {
    let config = session.config();
    let played = Rc::new(RefCell::new(Vec::new()));
    let source = ClientSource::new(
        requests,
        &session.chat,
        config.settings.max_duration.0,
        played.clone(),
        last_served_number(&config),
    );
    let outcome = run_served(&config, Box::new(source));
    let played = played.borrow().clone();
    let mut turns = config.turns.clone();
    turns.extend(played.iter().map(|p| p.turn.clone()));
    let calls = played.iter().filter(|p| p.tool != WAIT_TOOL).count();
    let file = ScenarioFile {
        format: None,
        name: format!("{}-served", session.base.name),
        description: format!(
            "Recorded by chatsim serve --mcp from {}: its world, settings, faults and scripted \
turns, then the client's {calls} calls as turns {TURN_PREFIX}N (a wait is a turn that only \
marks time). Replays byte for byte with chatsim run.",
            session.base.name
        ),
        seed: config.seed,
        transport: Some(Transport::Fast),
        settings: config.settings.clone(),
        world: config.world.clone(),
        faults: config.faults.clone(),
        turns,
        expect: Expect::default(),
    };
    let mut record = file_text(&file)?;
    if !record.ends_with('\n') {
        record.push('\n');
    }
    // The recording is written even when it does not load back (say the
    // client passed an unknown `{{template:NAME}}` placeholder): the
    // summary says why, and `chatsim run` will too.
    let recording_errors = match scenario::parse(record_path, &record) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    };
    let recorded = Scenario {
        path: record_path.to_path_buf(),
        file: file.clone(),
        source: record.clone(),
        warnings: Vec::new(),
    };
    let transcript = scenario::transcript(&recorded, &outcome);
    let (calls, errors, waits) = summary::counts(&played);
    let advice = summary::advice(&played);
    let summary = Summary {
        scenario: file.name.clone(),
        seed: config.seed,
        transport: outcome.transport.to_string(),
        trace_hash: outcome.hash(),
        virtual_time: format_duration(outcome.elapsed),
        calls,
        errors,
        waits,
        followed_all: advice.iter().all(|a| a.followed),
        advice,
        run_error: outcome.error.clone(),
        recording_errors,
        violations: outcome
            .violations(&config.settings)
            .iter()
            .map(|v| v.to_string())
            .collect(),
    };
    Ok(Served {
        record,
        transcript,
        summary,
    })
}
