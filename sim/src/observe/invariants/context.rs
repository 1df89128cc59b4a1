//! Context refresh: under `every_turn`, an edited AGENTS.md reaches the
//! next turn's prompt when the fetch provably succeeded, and a turn whose
//! fetch provably failed falls back to what was persisted.

use std::time::Duration;

use chatsim_engine::chat::{sanitize_context_content, DEFAULT_INSTRUCTION_LOOKUP_TIMEOUT};

use super::{violation, Input, Violation, STATUS_SLACK};
use crate::observe::trace::{
    format_time, AgentStatusKind, ContextPhase, DialOutcome, EngineEventKind, Event, InfraAction,
};
use crate::observe::view::{AgentView, TraceView, TurnView};
use crate::plan::ContextRefresh;
use crate::plan::HOME;

/// A context-file edit is in the next turn's prompt under `every_turn`.
pub const CONTEXT_REFRESH_EVERY_TURN: &str = "context_refresh_every_turn";

/// The agent truncates a context file past this many bytes; longer edits
/// are not checked.
const CONTEXT_FILE_LIMIT: usize = 64 * 1024;

/// One file write on an agent slot's disk (`infra write_file`).
struct Write<'t> {
    at: Duration,
    host: &'t str,
    path: &'t str,
    content: String,
}

/// Spec 3 "chatsim's choices" (context refresh) and §4.2.1 steps 3–4:
/// under `every_turn`, a turn of a chat with a bound workspace pulls the
/// workspace's context files; a successful pull renders the turn's
/// instruction from the fresh parts, a failed one falls back to the
/// persisted parts.
///
/// For each turn's `begin` prompt, take the latest `context_files_changed`
/// write (the `infra write_file` record) on the slot of the chat agent of
/// the bound workspace's latest build before the turn began, to a context
/// file (`~/.coder/AGENTS.md`, or `<dir>/AGENTS.md` for the working
/// directory the prompt names), with content no longer than the agent's
/// 64 KiB limit. Then:
/// - the pull provably succeeded — the agent read `connected` throughout
///   the turn's preparation (watcher slack included), a dial of it ended
///   `ok` then, the prompt came within the instruction-lookup budget, no
///   infrastructure action touched the agent's host (and none left it
///   wedged), no database query fault was in effect, and the file was not
///   written again meanwhile: the prompt carries `Source: <path>` followed
///   by the (sanitised) content;
/// - the pull provably failed — the agent read unreachable throughout and
///   no dial of the workspace's agents ended `ok`: the prompt may carry
///   the new content only if an earlier prompt of the chat did (only a
///   pull that was shown in a prompt can have persisted it).
///
/// - the pull was skipped — the agent read `connected` throughout, nothing
///   touched its host or the database, and no dial of the connection layer
///   started before the prompt: the prompt must still show the content
///   (from an earlier pull), else the turn reused stale files.
///
/// Otherwise (`on_agent_change`, no edit, any doubt) the check is vacuous.
pub(super) fn context_refresh_every_turn(input: &Input<'_>) -> Vec<Violation> {
    if input.settings.context_refresh != ContextRefresh::EveryTurn {
        return vec![];
    }
    let view = input.view;
    let mut out = Vec::new();
    for (ctx_at, chat, turn_no, prompt) in begin_prompts(view) {
        let Some(turn) = view.turn(turn_no).filter(|t| t.chat == chat) else {
            continue;
        };
        let Some(ws_id) = view.binding_at(chat, turn.started) else {
            continue;
        };
        let Some(workspace) = view.workspace_names.get(ws_id) else {
            continue;
        };
        let Some(build) = view.latest_build(workspace, turn.started) else {
            continue;
        };
        let Some(agent) = view.chat_agent_of(&build.id) else {
            continue;
        };
        let host = slot_host(ws_id, &agent.name);
        let Some(write) = latest_write(view, &host, turn.started) else {
            continue;
        };
        if !is_context_file(write.path, prompt)
            || write.content.is_empty()
            || write.content.len() > CONTEXT_FILE_LIMIT
            || written_during(view, &write, turn.started, ctx_at)
        {
            continue;
        }
        let expected = format!("Source: {}\n{}", write.path, write.content);
        let shown = prompt.contains(&expected);
        let fetch = Window {
            view,
            turn,
            agent,
            host: &host,
            until: ctx_at,
        };
        if fetch.provably_skipped() && !shown {
            let message = format!(
                "turn {turn_no} of chat {chat} never dialed {}'s connected agent {} to pull its context (every_turn), and its prompt lacks the {} written at {}s",
                workspace,
                agent.name,
                write.path,
                format_time(write.at)
            );
            out.push(violation(CONTEXT_REFRESH_EVERY_TURN, ctx_at, message));
        } else if fetch.provably_succeeded() && !shown {
            let message = format!(
                "turn {turn_no} of chat {chat} fetched {}'s context from its connected agent {} within {}s, but its prompt lacks the {} written at {}s",
                workspace,
                agent.name,
                format_time(ctx_at.saturating_sub(turn.started)),
                write.path,
                format_time(write.at)
            );
            out.push(violation(CONTEXT_REFRESH_EVERY_TURN, ctx_at, message));
        } else if fetch.provably_failed(workspace)
            && prompt.contains(&write.content)
            && !shown_before(view, chat, ctx_at, &write.content)
        {
            let message = format!(
                "turn {turn_no} of chat {chat} could not reach {}'s agent {}, yet its prompt carries the {} written at {}s, which no earlier prompt showed (nothing persisted it)",
                workspace,
                agent.name,
                write.path,
                format_time(write.at)
            );
            out.push(violation(CONTEXT_REFRESH_EVERY_TURN, ctx_at, message));
        }
    }
    out
}

/// The `begin` prompts: (time, chat, turn, prompt).
fn begin_prompts(view: &TraceView) -> Vec<(Duration, &str, usize, &str)> {
    view.records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::TurnContext {
                chat,
                turn,
                phase: ContextPhase::Begin,
                prompt,
            } => Some((r.at, chat.as_str(), *turn, prompt.as_str())),
            _ => None,
        })
        .collect()
}

/// The host name of a workspace's agent slot (`SlotKey::host_name`).
fn slot_host(workspace_id: &str, agent: &str) -> String {
    let simple: String = workspace_id.chars().filter(|c| *c != '-').collect();
    format!("agent-{}-{agent}", &simple[..simple.len().min(12)])
}

/// The writes on a slot host's disk, in order.
fn writes<'t>(view: &'t TraceView, host: &str) -> Vec<Write<'t>> {
    let mut out = Vec::new();
    let records = view.records();
    for (i, r) in records.iter().enumerate() {
        let Event::Infra {
            action: InfraAction::WriteFile,
            target,
        } = &r.event
        else {
            continue;
        };
        let Some((h, path)) = target.split_once(':') else {
            continue;
        };
        if h != host {
            continue;
        }
        // The fault that asked for it is the last context_files_changed
        // before it; its content is what was written.
        let content = records[..i].iter().rev().find_map(|f| match &f.event {
            Event::Fault { name, params } if name == "context_files_changed" => params
                .get("content")
                .and_then(|c| c.as_str())
                .map(sanitize_context_content),
            _ => None,
        });
        if let Some(content) = content {
            out.push(Write {
                at: r.at,
                host: h,
                path,
                content,
            });
        }
    }
    out
}

fn latest_write<'t>(view: &'t TraceView, host: &str, before: Duration) -> Option<Write<'t>> {
    writes(view, host).into_iter().rfind(|w| w.at < before)
}

/// Whether the same file was written again in `[from, to]`.
fn written_during(view: &TraceView, write: &Write<'_>, from: Duration, to: Duration) -> bool {
    writes(view, write.host)
        .iter()
        .any(|w| w.path == write.path && w.at >= from && w.at <= to)
}

/// Whether the agent reads `path` as a context file: `~/.coder/AGENTS.md`,
/// or `AGENTS.md` in the working directory the prompt names.
fn is_context_file(path: &str, prompt: &str) -> bool {
    if path == format!("{HOME}/.coder/AGENTS.md") {
        return true;
    }
    prompt
        .lines()
        .filter_map(|l| l.strip_prefix("Working Directory: "))
        .any(|dir| path == format!("{}/AGENTS.md", dir.trim_end_matches('/')))
}

/// Whether an earlier prompt of the chat carried `content`.
fn shown_before(view: &TraceView, chat: &str, before: Duration, content: &str) -> bool {
    view.records().iter().any(|r| {
        r.at < before
            && matches!(&r.event, Event::TurnContext { chat: c, prompt, .. }
                if c == chat && prompt.contains(content))
    })
}

/// A turn's preparation: from its start to its `begin` prompt.
struct Window<'a> {
    view: &'a TraceView,
    turn: &'a TurnView,
    agent: &'a AgentView,
    host: &'a str,
    until: Duration,
}

impl Window<'_> {
    fn statuses(&self) -> Vec<AgentStatusKind> {
        let from = self.turn.started.saturating_sub(STATUS_SLACK);
        self.agent
            .statuses_during(from, self.until + STATUS_SLACK)
            .iter()
            .map(|s| s.status)
            .collect()
    }

    fn dialed_ok(&self, agent: impl Fn(&str) -> bool) -> bool {
        self.view.records().iter().any(|r| {
            r.at >= self.turn.started
                && r.at <= self.until
                && matches!(&r.event, Event::Dial { agent: a, outcome: DialOutcome::Ok, .. } if agent(a))
        })
    }

    fn provably_succeeded(&self) -> bool {
        let statuses = self.statuses();
        !statuses.is_empty()
            && statuses.iter().all(|s| *s == AgentStatusKind::Connected)
            && self.dialed_ok(|a| a == self.agent.id)
            && self.until.saturating_sub(self.turn.started) <= DEFAULT_INSTRUCTION_LOOKUP_TIMEOUT
            && !self.host_touched()
            && !self.db_faulted()
    }

    /// The turn did not even try: its chat agent read `connected`
    /// throughout, nothing touched its host or the database, and yet no
    /// dial of the connection layer started before the prompt.
    fn provably_skipped(&self) -> bool {
        let statuses = self.statuses();
        let dial_started = self.view.records().iter().any(|r| {
            r.at >= self.turn.started
                && r.at <= self.until
                && matches!(
                    &r.event,
                    Event::Engine {
                        kind: EngineEventKind::DialStart,
                        ..
                    }
                )
        });
        !statuses.is_empty()
            && statuses.iter().all(|s| *s == AgentStatusKind::Connected)
            && !dial_started
            && !self.host_touched()
            && !self.db_faulted()
    }

    fn provably_failed(&self, workspace: &str) -> bool {
        let statuses = self.statuses();
        !statuses.is_empty()
            && statuses.iter().all(|s| s.is_unreachable())
            && !self.dialed_ok(|a| self.view.agent(a).is_none_or(|v| v.workspace == workspace))
    }

    /// An infrastructure action on the agent's host during the window, or
    /// a wedge still in effect.
    fn host_touched(&self) -> bool {
        let mut wedged = false;
        for r in self.view.records().iter().filter(|r| r.at <= self.until) {
            let Event::Infra { action, target } = &r.event else {
                continue;
            };
            if !target.contains(self.host) || *action == InfraAction::WriteFile {
                continue;
            }
            match action {
                InfraAction::WedgeAgent => wedged = true,
                InfraAction::UnwedgeAgent => wedged = false,
                _ => {}
            }
            if r.at >= self.turn.started {
                return true;
            }
        }
        wedged
    }

    /// Whether a database query fault was in effect at some moment of the
    /// window.
    fn db_faulted(&self) -> bool {
        let started = self.turn.started;
        super::queries_failing(self.view, &[], started)
            || self.view.records().iter().any(|r| {
                r.at >= started
                    && r.at <= self.until
                    && matches!(&r.event, Event::Fault { name, .. } if name == "db_query_fails")
            })
    }
}
