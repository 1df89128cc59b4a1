//! The fake agent connection and its tracker: which connections the
//! [`FakeDialer`] handed out, the headers set on each, and how many times
//! each was released (it must be exactly once by the end of a test).
//!
//! [`FakeDialer`]: super::FakeDialer

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use uuid::Uuid;

use crate::ports::{AgentConn, AgentContext, ExecOutput, LocalBoxFuture};

/// Headers as `set_extra_headers` receives them.
pub type Headers = Vec<(String, String)>;

/// One connection a dial handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRecord {
    /// The agent it reaches.
    pub agent_id: Uuid,
    /// The dial that made it (1 = the first dial of the dialer).
    pub dial: usize,
    /// Every `set_extra_headers` call on it, in order.
    pub headers: Vec<Headers>,
    /// How many times it was released (dropped): 0 while held, then 1.
    pub released: u32,
}

#[derive(Default)]
struct TrackerState {
    conns: Vec<ConnRecord>,
    /// `(connection index, headers)` in call order across connections.
    header_log: Vec<(usize, Headers)>,
}

/// Shared record of every fake connection.
#[derive(Clone, Default)]
pub(super) struct ConnTracker(Rc<RefCell<TrackerState>>);

impl ConnTracker {
    /// A new tracked connection to `agent_id` made by dial number `dial`.
    pub fn open(
        &self,
        agent_id: Uuid,
        dial: usize,
        context: AgentContext,
        commands: BTreeMap<String, ExecOutput>,
    ) -> FakeConn {
        let mut state = self.0.borrow_mut();
        state.conns.push(ConnRecord {
            agent_id,
            dial,
            headers: Vec::new(),
            released: 0,
        });
        FakeConn {
            index: state.conns.len() - 1,
            tracker: self.clone(),
            context,
            commands,
        }
    }

    /// Every connection so far, in the order they were made.
    pub fn connections(&self) -> Vec<ConnRecord> {
        self.0.borrow().conns.clone()
    }

    /// Every header set, in call order across connections.
    pub fn headers_sent(&self) -> Vec<Headers> {
        let state = self.0.borrow();
        state.header_log.iter().map(|(_, h)| h.clone()).collect()
    }

    /// Connections handed out and not yet released.
    pub fn open_count(&self) -> i64 {
        let state = self.0.borrow();
        let released: i64 = state.conns.iter().map(|c| i64::from(c.released)).sum();
        state.conns.len() as i64 - released
    }

    fn set_headers(&self, index: usize, headers: &[(String, String)]) {
        let mut state = self.0.borrow_mut();
        state.conns[index].headers.push(headers.to_vec());
        state.header_log.push((index, headers.to_vec()));
    }

    fn release(&self, index: usize) {
        self.0.borrow_mut().conns[index].released += 1;
    }
}

/// A connection answering from the dialer's scripted contexts and commands.
pub(super) struct FakeConn {
    index: usize,
    tracker: ConnTracker,
    context: AgentContext,
    commands: BTreeMap<String, ExecOutput>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.tracker.release(self.index);
    }
}

impl AgentConn for FakeConn {
    fn execute<'a>(&'a self, command: &'a str) -> LocalBoxFuture<'a, Result<ExecOutput, String>> {
        let output = self.commands.get(command).cloned().unwrap_or(ExecOutput {
            output: String::new(),
            exit_code: 0,
        });
        Box::pin(async move { Ok(output) })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> LocalBoxFuture<'a, Result<String, String>> {
        let found = self
            .context
            .files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.content.clone());
        Box::pin(
            async move { found.ok_or_else(|| format!("open {path}: no such file or directory")) },
        )
    }

    fn context<'a>(&'a self) -> LocalBoxFuture<'a, Result<AgentContext, String>> {
        let context = self.context.clone();
        Box::pin(async move { Ok(context) })
    }

    fn set_extra_headers(&self, headers: &[(String, String)]) {
        self.tracker.set_headers(self.index, headers);
    }
}
