//! `model_facing_text_is_clean`.

use super::*;

fn result_story(is_error: bool, content: &str) -> Trace {
    let s = Story::new();
    s.turn(1, 100.0).call(100.1, 1, 0, "execute");
    s.result(101.0, 1, 0, "execute", is_error, content);
    s.end(102.0)
}

#[test]
fn no_debug_panic_or_unlisted_prefix_reaches_the_model() {
    let name = MODEL_FACING_TEXT_IS_CLEAN;
    for bad in [
        "Err(Timeout)",
        "load chat: StoreError::Other(\"x\")",
        "thread 'main' panicked at src/lib.rs:1:1",
        "Conn { agent: 1 }",
        "query chat row: statement timeout",
        "dial with lazy validation: resolve agent: boom",
    ] {
        let v = broken(name, &result_story(true, bad));
        assert_eq!(v.len(), 1, "{bad}: {v:?}");
    }
    let json =
        r#"{"agent_error":"probe agent: refused","agent_status":"not_ready","created":true}"#;
    assert_eq!(broken(name, &result_story(false, json)).len(), 1);
    for good in [
        "dial with lazy validation: get workspace agents in latest build: statement timeout",
        "load chat: sql: no rows in result set",
        AGENT_DISCONNECTED,
        "dial with lazy validation: dial agent a1: gave up after 3 attempts: refused",
        r#"{"build_id":"b2","error":"workspace start build failed: terraform apply failed"}"#,
    ] {
        assert_eq!(broken(name, &result_story(true, good)), vec![], "{good}");
    }
}

#[test]
fn a_fault_error_text_may_end_a_chain_and_prompts_are_read_too() {
    let name = MODEL_FACING_TEXT_IS_CLEAN;
    let s = Story::new();
    s.ev(
        50.0,
        Event::Fault {
            name: "db_query_fails".into(),
            params: serde_json::json!({"query": "get_chat_by_id", "error": "pq: deadlock detected"}),
        },
    );
    s.turn(1, 100.0).call(100.1, 1, 0, "start_workspace");
    s.result(
        101.0,
        1,
        0,
        "start_workspace",
        true,
        "load chat: pq: deadlock detected",
    );
    s.ev(
        101.5,
        Event::TurnContext {
            chat: "main".into(),
            turn: 1,
            phase: crate::observe::trace::ContextPhase::Begin,
            prompt: "stack backtrace:\n 0: main".into(),
        },
    );
    let v = broken(name, &s.end(102.0));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].message.contains("the prompt of turn 1"), "{}", v[0]);
}
