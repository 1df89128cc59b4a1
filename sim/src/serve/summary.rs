//! What the client did with the run: its calls, its errors, the stop/start
//! recovery advice it was given and whether it followed it — after the
//! advice, its next two workspace calls are `stop_workspace` then
//! `start_workspace` (reads of templates and waits do not count; a client
//! that made fewer than two more workspace calls did not follow it).

use serde::Serialize;

use super::source::Played;
use crate::observe::invariants::is_recovery_advice;

/// The tools that act on the chat's workspace (the ones advice is about).
const WORKSPACE_CALLS: [&str; 5] = [
    "create_workspace",
    "start_workspace",
    "stop_workspace",
    "execute",
    "read_file",
];

/// What recovery advice asks for next, in order.
const ADVISED: [&str; 2] = ["stop_workspace", "start_workspace"];

/// The summary `chatsim serve` prints to stderr and writes as JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The scenario the run served (its recording's name).
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// The transport (always `fast`).
    pub transport: String,
    /// The served run's trace hash (`chatsim run` of the recording gives the same).
    pub trace_hash: String,
    /// Virtual time the run took, as a duration (`"7m30s"`).
    pub virtual_time: String,
    /// The client's tool calls (waits excluded).
    pub calls: usize,
    /// Of those, the ones answered with an error result.
    pub errors: usize,
    /// The client's waits.
    pub waits: usize,
    /// Each stop/start advice the client was given.
    pub advice: Vec<Advice>,
    /// Every advice was followed (true when none was given).
    pub followed_all: bool,
    /// How the run ended: `None` = the story ended.
    pub run_error: Option<String>,
    /// Why the recording does not load back (empty: it does).
    pub recording_errors: Vec<String>,
    /// The invariants the run broke, one line each (empty: all held).
    pub violations: Vec<String>,
}

/// One piece of stop/start advice and what the client did next.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advice {
    /// The client's call (1-based, waits included) that was advised.
    pub call: usize,
    /// Its tool.
    pub tool: String,
    /// The advice's text.
    pub text: String,
    /// The client's next workspace calls (at most two).
    pub next: Vec<String>,
    /// Whether they were `stop_workspace` then `start_workspace`.
    pub followed: bool,
}

/// The advice in `played` and what followed each.
pub fn advice(played: &[Played]) -> Vec<Advice> {
    played
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let reply = p.reply.as_ref()?;
            if !is_recovery_advice(&reply.text) {
                return None;
            }
            let next: Vec<String> = played[i + 1..]
                .iter()
                .filter(|later| WORKSPACE_CALLS.contains(&later.tool.as_str()))
                .take(ADVISED.len())
                .map(|later| later.tool.clone())
                .collect();
            Some(Advice {
                call: i + 1,
                tool: p.tool.clone(),
                text: reply.text.clone(),
                followed: next == ADVISED,
                next,
            })
        })
        .collect()
}

/// The client's tool calls and error results (waits excluded): `(calls, errors)`.
pub fn counts(played: &[Played]) -> (usize, usize, usize) {
    let calls = played.iter().filter(|p| p.tool != "wait");
    let errors = calls
        .clone()
        .filter(|p| p.reply.as_ref().is_some_and(|r| r.is_error))
        .count();
    let waits = played.len() - calls.clone().count();
    (calls.count(), errors, waits)
}

impl Summary {
    /// The summary as the lines `chatsim serve` prints to stderr.
    pub fn lines(&self) -> String {
        let mut out = format!(
            "served {} (seed {}, {}): {} calls, {} errors, {} waits, virtual time {}, trace {}\n",
            self.scenario,
            self.seed,
            self.transport,
            self.calls,
            self.errors,
            self.waits,
            self.virtual_time,
            self.trace_hash
        );
        for a in &self.advice {
            let verdict = if a.followed {
                "followed"
            } else {
                "NOT followed"
            };
            out.push_str(&format!(
                "advice at call {} ({}): {verdict}; next workspace calls: [{}]\n",
                a.call,
                a.tool,
                a.next.join(", ")
            ));
        }
        match &self.run_error {
            Some(error) => out.push_str(&format!("run error: {error}\n")),
            None if self.violations.is_empty() => out.push_str("invariants: all held\n"),
            None => {}
        }
        for v in &self.violations {
            out.push_str(&format!("{v}\n"));
        }
        for e in &self.recording_errors {
            out.push_str(&format!("the recording does not load: {e}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Turn;
    use crate::serve::Reply;

    fn played(tool: &str, reply: &str, is_error: bool) -> Played {
        Played {
            turn: Turn::new("main", vec![]),
            tool: tool.into(),
            reply: Some(Reply {
                text: reply.into(),
                is_error,
            }),
        }
    }

    const ADVICE: &str = chatsim_engine::chat::AGENT_DISCONNECTED;

    #[test]
    fn advice_followed_by_stop_then_start_is_followed() {
        let run = [
            played("execute", ADVICE, true),
            played("list_templates", "[]", false),
            played("wait", "waited 1s", false),
            played("stop_workspace", "{}", false),
            played("start_workspace", "{}", false),
        ];
        let advice = advice(&run);
        assert_eq!(advice.len(), 1);
        assert!(advice[0].followed);
        assert_eq!(advice[0].call, 1);
        assert_eq!(counts(&run), (4, 1, 1));
    }

    #[test]
    fn advice_ignored_or_half_followed_is_not_followed() {
        let ignored = [
            played("execute", ADVICE, true),
            played("execute", ADVICE, true),
        ];
        let advice_ignored = advice(&ignored);
        assert_eq!(advice_ignored.len(), 2);
        assert!(!advice_ignored[0].followed);
        assert_eq!(advice_ignored[0].next, ["execute"]);
        let half = [
            played("execute", ADVICE, true),
            played("start_workspace", "{}", false),
            played("stop_workspace", "{}", false),
        ];
        assert!(!advice(&half)[0].followed);
    }
}
