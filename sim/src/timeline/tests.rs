//! The page builder's tests: the OOM story's lanes and counts, escaping of
//! hostile text, determinism, no external reference, fault lengths.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::html::{escape, json_for_script};
use super::{page, ItemKind, Mark, Run, Timeline, Tone};
use chatsim_engine::model::{JobStatus, Transition};

use crate::observe::trace::{Event, Hook, Record, Requester, Trace};
use crate::scenario::load;
use crate::transport::Transport;

fn oom_trace() -> Trace {
    let scenario = load(Path::new("../scenarios/oom-recovered-by-restart.toml"))
        .expect("the OOM scenario loads");
    crate::run_with(&scenario.config(), Transport::Fast).trace
}

fn run_of(trace: &Trace) -> Run<'_> {
    Run {
        title: "oom",
        description: "",
        trace,
        replay: "chatsim run x.toml",
        marks: Vec::new(),
    }
}

/// The JSON block of a page, read back.
fn data_of(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"timeline-data\">";
    let start = html.find(open).expect("the page has its data block") + open.len();
    let end = start + html[start..].find("</script>").expect("the block ends");
    serde_json::from_str(&html[start..end]).expect("the block is JSON")
}

#[test]
fn the_oom_story_has_its_lanes_and_every_call() {
    let trace = oom_trace();
    let timeline = Timeline::new(&run_of(&trace));
    let ids: Vec<&str> = timeline.lanes.iter().map(|l| l.id.as_str()).collect();
    for id in [
        "chat:main:turns",
        "chat:main:calls",
        "chat:main:updates",
        "workspace:ws1:builds",
        "faults",
    ] {
        assert!(ids.contains(&id), "lane {id} missing from {ids:?}");
    }
    assert_eq!(
        ids.iter().filter(|id| id.starts_with("agent:")).count(),
        2,
        "one lane per agent (the OOM-killed one and the restarted one): {ids:?}"
    );
    let calls = trace
        .records()
        .iter()
        .filter(|r| matches!(r.event, Event::ToolCall { .. }))
        .count();
    assert_eq!(timeline.count(ItemKind::Call), calls);
    assert_eq!(
        timeline.count(ItemKind::Call),
        7,
        "3 user calls, 4 tool calls"
    );

    // The crash, the disconnect, the stop and start builds, the last call.
    let faults = timeline.lane("faults").expect("faults lane");
    let oom = faults
        .items
        .iter()
        .find(|i| i.kind == ItemKind::Fault)
        .expect("the OOM fault");
    assert_eq!(
        (oom.label.as_str(), oom.start_ms, oom.end_ms),
        ("agent_oom", 300_000, None)
    );
    assert!(faults
        .items
        .iter()
        .any(|i| i.kind == ItemKind::Infra && i.label == "crash_agent"));
    assert_eq!(timeline.count(ItemKind::Disconnect), 1);
    let builds: Vec<(&str, Tone)> = timeline
        .lane("workspace:ws1:builds")
        .expect("builds lane")
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Build)
        .map(|i| (i.label.as_str(), i.tone))
        .collect();
    assert_eq!(
        builds,
        [
            ("#1 start", Tone::Ok),
            ("#2 stop", Tone::Ok),
            ("#3 start", Tone::Ok)
        ]
    );
    let calls = &timeline.lane("chat:main:calls").expect("calls lane").items;
    let last = calls.last().expect("a call");
    assert_eq!((last.label.as_str(), last.tone), ("execute", Tone::Ok));
    assert!(last
        .details
        .iter()
        .any(|d| d.text.contains("ran: make test")));
    let first_execute = calls
        .iter()
        .find(|i| i.label == "execute")
        .expect("execute");
    assert_eq!(first_execute.tone, Tone::Error, "the dial timed out");
    assert!(first_execute
        .details
        .iter()
        .any(|d| d.label == "response (error)" && d.text.contains("stop_workspace")));
    // Every bar ends, none before it starts.
    for lane in &timeline.lanes {
        for item in &lane.items {
            assert!(
                item.end_ms.is_none_or(|end| end >= item.start_ms),
                "{item:?}"
            );
            assert!(item.row < lane.rows);
        }
    }
    assert_eq!(timeline.trace_hash, trace.hash());
    assert_eq!(timeline.verdict, "pass");
}

#[test]
fn the_same_run_gives_the_same_bytes_and_no_external_reference() {
    let (a, b) = (oom_trace(), oom_trace());
    let (first, second) = (page(&run_of(&a)), page(&run_of(&b)));
    assert_eq!(first, second, "same run, same page");
    for banned in [
        "http://", "https://", "src=", "<link", "@import", "url(http",
    ] {
        assert!(!first.contains(banned), "the page contains {banned:?}");
    }
    let data = data_of(&first);
    assert_eq!(data["trace_hash"], json!(a.hash()));
    assert!(first.contains(&a.hash()), "the hash is on the page");
    assert!(
        first.contains("chatsim run x.toml"),
        "the replay command is on the page"
    );
}

#[test]
fn hostile_text_stays_text() {
    let hostile = "</script><img src=x onerror=alert(1)>&amp;\u{2028}'\"";
    let trace = Trace::from_records(vec![
        record(
            0,
            Event::TurnStart {
                chat: "main".into(),
                turn: 0,
                name: None,
                model: None,
            },
        ),
        record(
            100,
            Event::ToolCall {
                turn: 0,
                call: 0,
                name: "execute".into(),
                input: hostile.into(),
            },
        ),
        record(
            200,
            Event::ToolResult {
                turn: 0,
                call: 0,
                name: "execute".into(),
                is_error: false,
                content: hostile.into(),
            },
        ),
    ]);
    let html = page(&Run {
        title: hostile,
        description: hostile,
        trace: &trace,
        replay: hostile,
        marks: vec![Mark::new(Duration::from_millis(150), hostile, hostile)],
    });
    assert!(
        !html.contains("<img"),
        "markup from the run reached the page"
    );
    assert_eq!(
        html.matches("</script>").count(),
        3,
        "only the page's own three scripts close"
    );
    let data = data_of(&html);
    assert_eq!(
        data["title"],
        json!(hostile),
        "the JSON block reads back the text"
    );
    let call = &data["lanes"][1]["items"][0];
    assert_eq!(call["details"][1]["text"], json!(hostile));
    assert_eq!(call["details"][2]["text"], json!(hostile));
    assert_eq!(
        escape("<a href='x'>&</a>"),
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    );
    let json = json_for_script(&Timeline::new(&run_of(&trace)));
    assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
}

#[test]
fn faults_last_as_long_as_their_parameters_say() {
    let fault = |at, params: Value| {
        record(
            at,
            Event::Fault {
                name: "link_partition".into(),
                params,
            },
        )
    };
    let trace = Trace::from_records(vec![
        fault(
            1_000,
            json!({ "a": "coderd", "b": "agent", "duration": "30s" }),
        ),
        fault(
            2_000,
            json!({ "a": "coderd", "b": "agent", "duration": null }),
        ),
        fault(3_000, json!({ "workspace": "ws1" })),
        record(
            50_000,
            Event::FaultSkipped {
                name: "agent_oom".into(),
                reason: "no such workspace".into(),
            },
        ),
    ]);
    let timeline = Timeline::new(&run_of(&trace));
    let faults = &timeline.lane("faults").expect("faults lane").items;
    let ends: Vec<Option<u64>> = faults.iter().map(|i| i.end_ms).collect();
    assert_eq!(ends, [Some(31_000), Some(50_000), None, None]);
    // The overlapping bars take two rows; the instants ride on the first.
    let rows: Vec<u32> = faults.iter().map(|i| i.row).collect();
    assert_eq!(rows, [0, 1, 0, 0]);
}

#[test]
fn a_violation_is_marked_at_its_instant() {
    let trace = oom_trace();
    let mut run = run_of(&trace);
    run.marks = vec![
        Mark::new(Duration::from_secs(400), "expectation tool_order", "late"),
        Mark::new(Duration::from_secs(300), "invariant run_completes", "early"),
    ];
    let html = page(&run);
    let data = data_of(&html);
    assert_eq!(data["verdict"], json!("fail"));
    assert_eq!(
        data["marks"][0]["at_ms"],
        json!(300_000),
        "marks in time order"
    );
    assert!(html.contains("<ol id=\"marks\">"));
    assert!(html.contains("invariant run_completes at 300.000s: early"));
}

#[test]
fn job_ticks_ride_on_their_builds_row_and_a_failure_says_why() {
    let enqueue = |at, build: &str, number| {
        record(
            at,
            Event::Enqueue {
                by: Requester::Chat("main".into()),
                hook: Hook::Start,
                workspace: "ws1".into(),
                workspace_id: "w-1".into(),
                build: build.into(),
                number,
                transition: Transition::Start,
                template: "dev".into(),
                version: "v1".into(),
                external_agent: false,
            },
        )
    };
    let job = |at, build: &str, number, status, error: Option<&str>| {
        record(
            at,
            Event::Job {
                workspace: "ws1".into(),
                build: build.into(),
                number,
                transition: Transition::Start,
                status,
                error: error.map(str::to_string),
                error_code: error.map(|_| "INSUFFICIENT_QUOTA".to_string()),
            },
        )
    };
    let trace = Trace::from_records(vec![
        enqueue(1_000, "b-1", 1),
        job(1_000, "b-1", 1, JobStatus::Running, None),
        enqueue(2_000, "b-2", 2),
        job(2_000, "b-2", 2, JobStatus::Running, None),
        record(
            3_000,
            Event::QuotaCommit {
                build: "b-2".into(),
                daily_cost: 5,
                ok: false,
            },
        ),
        job(3_500, "b-2", 2, JobStatus::Failed, Some("quota")),
        job(9_000, "b-1", 1, JobStatus::Succeeded, None),
    ]);
    let timeline = Timeline::new(&run_of(&trace));
    let items = &timeline.lane("workspace:ws1:builds").expect("builds").items;
    let seen: Vec<(ItemKind, &str, u32, Option<u64>)> = items
        .iter()
        .map(|i| (i.kind, i.label.as_str(), i.row, i.end_ms))
        .collect();
    assert_eq!(
        seen,
        [
            (ItemKind::Build, "#1 start", 0, Some(9_000)),
            (ItemKind::Job, "running", 0, None),
            (ItemKind::Build, "#2 start", 1, Some(3_500)),
            (ItemKind::Job, "running", 1, None),
            (ItemKind::Quota, "quota refused", 1, None),
            (ItemKind::Job, "failed", 1, None),
            (ItemKind::Job, "succeeded", 0, None),
        ]
    );
    assert_eq!(items[2].tone, Tone::Error);
    assert!(items[2]
        .details
        .iter()
        .any(|d| d.text == "failed: quota (INSUFFICIENT_QUOTA)"));
    assert_eq!(
        timeline.lane("workspace:ws1:builds").map(|l| l.rows),
        Some(2)
    );
}

fn record(at_ms: u64, event: Event) -> Record {
    Record {
        at: Duration::from_millis(at_ms),
        host: "driver".into(),
        event,
    }
}
