//! `quota_decided_at_commit`.

use super::*;

/// Build `b2` of `ws1` fails its quota commit at 108 s; `apply_after`
/// adds an apply-stage log after it, `ended_first` ends its job before it.
fn quota_story(apply_after: bool, ended_first: bool) -> Trace {
    let s = Story::new();
    s.enqueue(
        100.0,
        chat_main(),
        Hook::Start,
        "b2",
        2,
        Transition::Start,
        false,
    );
    s.job(101.0, "b2", 2, Transition::Start, JobStatus::Running, None);
    if ended_first {
        s.job(
            105.0,
            "b2",
            2,
            Transition::Start,
            JobStatus::Failed,
            Some("INSUFFICIENT_QUOTA"),
        );
    }
    s.ev(
        108.0,
        Event::QuotaCommit {
            build: "b2".into(),
            daily_cost: 5,
            ok: false,
        },
    );
    let log = |at: f64, stage: &str, line: &str| {
        s.ev(
            at,
            Event::BuildLog {
                build: "b2".into(),
                stage: stage.into(),
                line: line.into(),
            },
        );
    };
    log(108.1, "plan", "Error: insufficient quota");
    if apply_after {
        log(109.0, "apply", "Apply complete!");
    }
    if !ended_first {
        s.job(
            110.0,
            "b2",
            2,
            Transition::Start,
            JobStatus::Failed,
            Some("INSUFFICIENT_QUOTA"),
        );
    }
    s.end(111.0)
}

#[test]
fn a_quota_failure_is_decided_at_the_commit_before_apply() {
    let name = QUOTA_DECIDED_AT_COMMIT;
    assert_eq!(broken(name, &quota_story(false, false)), vec![]);
    let applied = broken(name, &quota_story(true, false));
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert!(
        applied[0]
            .message
            .contains("an apply-stage log line followed it"),
        "{}",
        applied[0]
    );
    let late = broken(name, &quota_story(false, true));
    assert_eq!(late.len(), 1, "{late:?}");
    assert!(
        late[0].message.contains("had already ended failed"),
        "{}",
        late[0]
    );
}

/// Start build `b2` of `ws1` is charged at 108 s; `again` commits it a
/// second time at 109 s (a re-run commit would count its cost twice).
fn charge_story(again: bool) -> Trace {
    let s = Story::new();
    s.enqueue(
        100.0,
        chat_main(),
        Hook::Start,
        "b2",
        2,
        Transition::Start,
        false,
    );
    s.job(101.0, "b2", 2, Transition::Start, JobStatus::Running, None);
    let commit = |at: f64| {
        s.ev(
            at,
            Event::QuotaCommit {
                build: "b2".into(),
                daily_cost: 5,
                ok: true,
            },
        );
    };
    commit(108.0);
    if again {
        commit(109.0);
    }
    s.job(
        110.0,
        "b2",
        2,
        Transition::Start,
        JobStatus::Succeeded,
        None,
    );
    s.end(111.0)
}

#[test]
fn a_build_is_charged_at_most_once() {
    let name = QUOTA_CHARGED_ONCE_PER_BUILD;
    assert_eq!(broken(name, &charge_story(false)), vec![]);
    let twice = broken(name, &charge_story(true));
    assert_eq!(twice.len(), 1, "{twice:?}");
    assert!(
        twice[0].message.contains("charged again at 109"),
        "{}",
        twice[0]
    );
}
