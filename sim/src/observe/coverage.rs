//! The coverage matrix: which (lifecycle state × fault kind × tool) cells a
//! run reached. One cell per model tool call and fault kind, read from the
//! trace at the moment the driver sent the call:
//!
//! - `workspace`: the latest build of the workspace the chat was bound to,
//!   as `<transition>.<job status>` (`start.running`, `stop.succeeded`, …),
//!   or `none` when the chat had no workspace (or no build of it was seen);
//! - `agent`: the status coderd's watcher last recorded for that build's
//!   chat agent (`connecting`, `connected`, `disconnected`, `timeout`), or
//!   `none` when it had recorded none (no build, the build not done, or an
//!   agent never seen);
//! - `fault`: each fault kind that took effect after the previous model
//!   tool call was sent and before this call's result (while it was in
//!   flight, or since the call before it), one cell per kind; `none` when
//!   no fault did;
//! - `tool`: the tool called.
//!
//! A user's API calls (`api.*`) are not cells.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observe::trace::Event;
use crate::observe::view::{CallView, TraceView};

/// The word for an axis with nothing to name.
pub const NONE: &str = "none";

/// One cell of the matrix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cell {
    /// The bound workspace's latest build: `<transition>.<job status>`.
    pub workspace: String,
    /// Its chat agent's last recorded status.
    pub agent: String,
    /// A fault kind that took effect around the call.
    pub fault: String,
    /// The tool called.
    pub tool: String,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} × {} × {}",
            self.workspace, self.agent, self.fault, self.tool
        )
    }
}

/// The cells `view`'s run reached, sorted.
pub fn cells(view: &TraceView) -> BTreeSet<Cell> {
    let faults: Vec<(Duration, &str)> = view
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::Fault { name, .. } => Some((r.at, name.as_str())),
            _ => None,
        })
        .collect();
    let mut out = BTreeSet::new();
    let mut previous_sent: Option<Duration> = None;
    for call in view.calls.iter().filter(|c| c.is_tool()) {
        let (workspace, agent) = state_at(view, call);
        let end = call.result.as_ref().map_or(Duration::MAX, |r| r.at);
        let mut kinds: BTreeSet<&str> = faults
            .iter()
            .filter(|(at, _)| previous_sent.is_none_or(|p| *at > p) && *at <= end)
            .map(|(_, name)| *name)
            .collect();
        if kinds.is_empty() {
            kinds.insert(NONE);
        }
        for fault in kinds {
            out.insert(Cell {
                workspace: workspace.clone(),
                agent: agent.clone(),
                fault: fault.to_string(),
                tool: call.name.clone(),
            });
        }
        previous_sent = Some(call.sent);
    }
    out
}

/// The workspace and agent axes when `call` was sent.
fn state_at(view: &TraceView, call: &CallView) -> (String, String) {
    let at = call.sent;
    let build = view
        .chat_of(call)
        .and_then(|chat| view.binding_at(chat, at))
        .and_then(|id| view.workspace_names.get(id))
        .and_then(|name| view.latest_build(name, at));
    let Some(build) = build else {
        return (NONE.into(), NONE.into());
    };
    let workspace = format!(
        "{}.{}",
        build.transition.as_str(),
        build.status_at(at).as_str()
    );
    let agent = view
        .chat_agent_of(&build.id)
        .and_then(|a| a.statuses.iter().take_while(|s| s.at <= at).last())
        .map_or(NONE.to_string(), |s| s.status.as_str().to_string());
    (workspace, agent)
}
