//! `parallel_creates_one_workspace`.

use super::*;

/// Two `create_workspace` calls of turn 1 sent together at 100 s; the
/// first enqueues `ws1` (`b1`), bound at once; its build ends `first_end`
/// at 115 s; the second enqueues `ws2` at 130.5 s.
fn parallel_story(first_end: JobStatus) -> Trace {
    let s = Story {
        tracer: Tracer::new(),
    };
    s.ev(
        0.0,
        Event::Entity {
            kind: EntityKind::Chat,
            name: "main".into(),
            id: "c1".into(),
        },
    );
    s.turn(1, 100.0)
        .call(100.0, 1, 0, "create_workspace")
        .call(100.0, 1, 1, "create_workspace");
    s.enqueue(
        100.2,
        chat_main(),
        Hook::Create,
        "b1",
        1,
        Transition::Start,
        false,
    );
    updated(&s, 100.3, "w1", "b1");
    s.job(101.0, "b1", 1, Transition::Start, JobStatus::Running, None);
    s.job(115.0, "b1", 1, Transition::Start, first_end, None);
    if first_end == JobStatus::Succeeded {
        s.status(116.0, "a1", "b1", AgentStatusKind::Connected, None);
    }
    s.result(130.0, 1, 0, "create_workspace", false, "{}");
    s.ev(
        130.5,
        Event::Enqueue {
            by: chat_main(),
            hook: Hook::Create,
            workspace: "ws2".into(),
            workspace_id: "w2".into(),
            build: "b9".into(),
            number: 1,
            transition: Transition::Start,
            template: "dev".into(),
            version: "v1".into(),
            external_agent: false,
        },
    );
    updated(&s, 130.6, "w2", "b9");
    s.result(150.0, 1, 1, "create_workspace", false, "{}");
    s.end(151.0)
}

#[test]
fn parallel_creates_in_one_turn_make_one_workspace() {
    let name = PARALLEL_CREATES_ONE_WORKSPACE;
    let v = broken(name, &parallel_story(JobStatus::Succeeded));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].message.contains("enqueued ws1#1 and then ws2#1"),
        "{}",
        v[0]
    );
    // The first build failed: the second may create (spec 1 §3.4).
    assert_eq!(broken(name, &parallel_story(JobStatus::Failed)), vec![]);
}
