//! The client as the driver's turn source: when the driver has no turn, it
//! answers the client's previous request from the trace, then blocks the
//! simulation thread until the next request arrives, and turns it into a
//! turn — one scripted call, or a wait until a later virtual time.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::{Reply, Request};
use crate::hosts::driver::TurnSource;
use crate::observe::trace::{Event, Tracer};
use crate::plan::{format_duration, Call, Dur, Turn};

/// The prefix of a served turn's name; the number counts the client's calls.
pub const TURN_PREFIX: &str = "mcp-";

/// One request the client made, as it was played.
#[derive(Clone, Debug)]
pub struct Played {
    /// The turn it became (a wait turn for `wait`).
    pub turn: Turn,
    /// The tool it called (`wait` for a wait).
    pub tool: String,
    /// What the client was answered (`None`: the run ended first).
    pub reply: Option<Reply>,
}

/// What the client is waiting for an answer to.
struct Pending {
    reply: tokio::sync::oneshot::Sender<Reply>,
    /// Index into the played list.
    index: usize,
    /// When a wait started (a call: `None`).
    waited_from: Option<Duration>,
}

/// The client's requests as driver turns (see the module doc).
pub struct ClientSource {
    requests: Receiver<Request>,
    chat: String,
    max_duration: Duration,
    pending: Option<Pending>,
    played: Rc<RefCell<Vec<Played>>>,
    /// The last served turn number already in the scenario (serving a
    /// recording again): new names count on from there.
    named_before: usize,
}

impl ClientSource {
    /// Turns for `chat` from `requests`, recording each into `played`; a
    /// wait past `max_duration` is refused; names count on after
    /// `mcp-{named_before}`.
    pub fn new(
        requests: Receiver<Request>,
        chat: &str,
        max_duration: Duration,
        played: Rc<RefCell<Vec<Played>>>,
        named_before: usize,
    ) -> ClientSource {
        ClientSource {
            requests,
            chat: chat.to_string(),
            max_duration,
            pending: None,
            played,
            named_before,
        }
    }

    /// Answers the pending request from what the trace says of its turn.
    fn answer(&mut self, now: Duration, tracer: &Tracer) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let reply = match pending.waited_from {
            Some(from) => Reply::ok(format!(
                "waited {}; the virtual time is now {}",
                format_duration(now.saturating_sub(from)),
                format_duration(now)
            )),
            None => {
                let name = self.played.borrow()[pending.index].turn.name.clone();
                result_of(tracer, name.as_deref().unwrap_or_default())
            }
        };
        self.played.borrow_mut()[pending.index].reply = Some(reply.clone());
        // A client that went away no longer needs its answer.
        let _ = pending.reply.send(reply);
    }
}

/// The result of the served turn `name`: its call's tool result, or why
/// there was none.
fn result_of(tracer: &Tracer, name: &str) -> Reply {
    let trace = tracer.snapshot();
    let records = trace.records();
    let turn = records.iter().rev().find_map(|r| match &r.event {
        Event::TurnStart {
            turn,
            name: Some(n),
            ..
        } if n == name => Some(*turn),
        _ => None,
    });
    let Some(turn) = turn else {
        return Reply::error(format!("turn {name} never started"));
    };
    for record in records.iter().rev() {
        match &record.event {
            Event::ToolResult {
                turn: t,
                is_error,
                content,
                ..
            } if *t == turn => {
                return Reply {
                    text: content.clone(),
                    is_error: *is_error,
                }
            }
            Event::TurnStart { turn: t, .. } if *t == turn => break,
            _ => {}
        }
    }
    let ending = records.iter().rev().find_map(|r| match &r.event {
        Event::TurnEnd { turn: t, outcome } if *t == turn => Some(outcome.name().to_string()),
        _ => None,
    });
    Reply::error(format!(
        "the call got no result (the turn ended: {})",
        ending.unwrap_or_else(|| "unknown".into())
    ))
}

impl TurnSource for ClientSource {
    fn next_turn(&mut self, now: Duration, tracer: &Tracer) -> Option<Turn> {
        self.answer(now, tracer);
        loop {
            // Blocks the simulation thread: virtual time stands still
            // until the client asks for something.
            let request = self.requests.recv().ok()?;
            let index = self.played.borrow().len();
            let (turn, tool, reply, waited_from) = match request {
                Request::Call { name, input, reply } => {
                    let turn_name = format!("{TURN_PREFIX}{}", self.named_before + index + 1);
                    let call = Call::tool(&name, input);
                    (
                        Turn::new(&self.chat, vec![call]).named(&turn_name),
                        name,
                        reply,
                        None,
                    )
                }
                Request::Wait { duration, reply } => {
                    let until = ceil_millis(now + duration);
                    if until > self.max_duration {
                        let _ = reply.send(Reply::error(format!(
                            "cannot wait past the run's max_duration ({}); the virtual time is {}",
                            format_duration(self.max_duration),
                            format_duration(now)
                        )));
                        continue;
                    }
                    let turn = Turn::wait_until(&self.chat, Dur(until));
                    (turn, "wait".to_string(), reply, Some(now))
                }
            };
            self.played.borrow_mut().push(Played {
                turn: turn.clone(),
                tool,
                reply: None,
            });
            self.pending = Some(Pending {
                reply,
                index,
                waited_from,
            });
            return Some(turn);
        }
    }
}

/// `at` rounded up to whole milliseconds (what a scenario file can write),
/// so the recorded wait ends at the same instant as the served one.
fn ceil_millis(at: Duration) -> Duration {
    let whole = Duration::from_millis(at.as_millis() as u64);
    if whole < at {
        whole + Duration::from_millis(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_end_on_whole_milliseconds() {
        assert_eq!(
            ceil_millis(Duration::from_micros(1_500)),
            Duration::from_millis(2)
        );
        assert_eq!(
            ceil_millis(Duration::from_millis(7)),
            Duration::from_millis(7)
        );
    }
}
