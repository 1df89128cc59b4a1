//! `preflight_spares_connecting_agents`.

use super::super::recovery::external_agent_unavailable_texts;
use super::*;

/// An `execute` whose result is the not-yet-connected external text, at
/// `at` (the story's agent is `connecting` from 17 s to 20 s).
fn preflight_story(at: f64, disconnect: bool, dial_timeout: bool) -> Trace {
    let s = Story::new();
    if disconnect {
        s.status(50.0, "a1", "b1", AgentStatusKind::Disconnected, Some(45.0));
    }
    s.turn(1, at).call(at + 0.1, 1, 0, "execute");
    if dial_timeout {
        s.dial_abandoned(at + 0.2, "a1");
    }
    let text = external_agent_unavailable_texts()[0];
    s.result(at + 0.3, 1, 0, "execute", true, text);
    s.end(at + 1.0)
}

#[test]
fn the_preflight_never_fails_a_connecting_agent() {
    let name = PREFLIGHT_SPARES_CONNECTING_AGENTS;
    let v = broken(name, &preflight_story(17.5, false, false));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].message.contains("read [connecting]"), "{}", v[0]);
    // An unreachable agent fails fast; after a dial timeout the text is
    // the classification's external override, whatever the status.
    assert_eq!(broken(name, &preflight_story(100.0, true, false)), vec![]);
    assert_eq!(broken(name, &preflight_story(17.5, false, true)), vec![]);
}
