//! The truthfulness oracle on real runs: every response gets coderd's
//! `response` mark no later than the driver's result, a bundled run read
//! back from its text has no contradiction, and the same trace with a
//! response rewritten to lie gives the named violation.

use std::path::Path;

use chatsim::observe::invariants::{
    check_trace, findings, Violation, START_JOINS_STOP_BUILD, TRUTHFUL_AGENT, TRUTHFUL_BUILD_STATE,
    TRUTHFUL_TEMPLATE,
};
use chatsim::observe::trace::{Event, Record, Trace};
use chatsim::scenario::load;
use chatsim::Transport;
use serde_json::Value;

/// A bundled scenario's run on `transport`, read back from its text.
fn replayed(name: &str, transport: Transport) -> (Trace, chatsim::plan::Settings) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scenario = load(&root.join("scenarios").join(name)).expect("a bundled scenario loads");
    let outcome = chatsim::run_with(&scenario.config(), transport);
    let trace = Trace::parse(&outcome.trace.text()).expect("a trace reads back");
    (trace, scenario.file.settings.clone())
}

fn truth_violations(trace: &Trace, settings: &chatsim::plan::Settings) -> Vec<Violation> {
    check_trace(trace, settings, None)
        .into_iter()
        .filter(|v| v.invariant.starts_with("truthful_"))
        .collect()
}

/// A rewrite of a response's claims.
type Lie = fn(&mut serde_json::Map<String, Value>);

/// `trace` with the result of the first `tool` call rewritten by `lie`.
fn lying(trace: &Trace, tool: &str, lie: impl Fn(&mut serde_json::Map<String, Value>)) -> Trace {
    let mut records: Vec<Record> = trace.records().to_vec();
    let result = records.iter_mut().find_map(|r| match &mut r.event {
        Event::ToolResult { name, content, .. } if name == tool => Some(content),
        _ => None,
    });
    let content = result.expect("the run has the call's result");
    let mut claims: serde_json::Map<String, Value> =
        serde_json::from_str(content).expect("a JSON result");
    lie(&mut claims);
    *content = Value::Object(claims).to_string();
    Trace::from_records(records)
}

#[test]
fn every_result_follows_its_response_mark() {
    for transport in Transport::ALL {
        let (trace, _) = replayed("create-happy-path.toml", transport);
        let mut marks = Vec::new();
        let mut results = 0;
        for r in trace.records() {
            match &r.event {
                Event::Response { turn, call, .. } => marks.push((*turn, *call, r.at)),
                Event::ToolResult { turn, call, .. } => {
                    results += 1;
                    let mark = marks.iter().find(|m| (m.0, m.1) == (*turn, *call));
                    let (_, _, built) = mark.expect("a mark before the result");
                    assert!(*built <= r.at);
                }
                _ => {}
            }
        }
        assert_eq!(results, 4, "{transport}");
        assert_eq!(marks.len(), 4, "{transport}");
    }
}

#[test]
fn bundled_runs_tell_the_truth() {
    for name in [
        "create-happy-path.toml",
        "start-auto-updates-active-version.toml",
        "quota-failure-on-start.toml",
        "startup-script-fails.toml",
        "stop-waits-for-build-in-progress.toml",
    ] {
        let (trace, settings) = replayed(name, Transport::Fast);
        assert_eq!(truth_violations(&trace, &settings), vec![], "{name}");
        assert_eq!(findings(&trace), vec![], "{name}");
    }
}

#[test]
fn a_rewritten_response_is_caught() {
    let (trace, settings) = replayed("create-happy-path.toml", Transport::Fast);
    let cases: [(&str, &str, Lie); 3] = [
        ("read_template", TRUTHFUL_TEMPLATE, |c| {
            c.insert("parameters".into(), Value::Array(vec![]));
        }),
        ("create_workspace", TRUTHFUL_AGENT, |c| {
            c.insert("agent_status".into(), "no_agent".into());
        }),
        ("create_workspace", TRUTHFUL_BUILD_STATE, |c| {
            c.insert(
                "build_id".into(),
                "00000000-0000-4000-8000-000000000000".into(),
            );
        }),
    ];
    for (tool, invariant, lie) in cases {
        let lied = Trace::parse(&lying(&trace, tool, lie).text()).unwrap();
        let found = truth_violations(&lied, &settings);
        assert_eq!(found.len(), 1, "{tool}: {found:?}");
        assert_eq!(found[0].invariant, invariant, "{}", found[0]);
        assert!(found[0].message.contains("claimed"), "{}", found[0]);
        assert!(found[0].message.contains("world: "), "{}", found[0]);
    }
}

#[test]
fn start_joining_a_stop_is_a_known_finding_on_both_transports() {
    for transport in Transport::ALL {
        let (trace, settings) = replayed("start-joins-stop-build.toml", transport);
        assert_eq!(truth_violations(&trace, &settings), vec![], "{transport}");
        let found = findings(&trace);
        let kinds: Vec<&str> = found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![START_JOINS_STOP_BUILD], "{transport}");
        assert!(
            found[0]
                .message
                .contains("is a stop whose job is succeeded"),
            "{}",
            found[0]
        );
    }
}
