//! `after_call` faults: due right after the driver's Nth call result, on
//! both transports; one the driver never reaches is traced as skipped.

use std::path::Path;

use chatsim::observe::trace::Event;
use chatsim::{run_with, Transport};

fn oom_after_bind() -> chatsim::RunConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/oom-after-bind-call.toml");
    chatsim::scenario::load(&path)
        .expect("the scenario loads")
        .config()
}

/// (the time of the 3rd call result, the time of the fault), from the trace.
fn result_and_fault(config: &chatsim::RunConfig, transport: Transport) -> (u128, Option<u128>) {
    let outcome = run_with(config, transport);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    let records = outcome.trace.records();
    let third = records
        .iter()
        .filter(|r| matches!(r.event, Event::ToolResult { .. }))
        .nth(2)
        .expect("three call results")
        .at;
    let fault = records
        .iter()
        .find(|r| matches!(r.event, Event::Fault { .. }))
        .map(|r| r.at.as_millis());
    (third.as_millis(), fault)
}

#[test]
fn the_fault_follows_the_third_result_at_once_on_both_transports() {
    let config = oom_after_bind();
    for transport in Transport::ALL {
        let (third, fault) = result_and_fault(&config, transport);
        let fault = fault.expect("the fault fired");
        // turmoil rounds to its 100 ms tick; the fast transport acts at the
        // same instant.
        assert!(
            fault >= third && fault <= third + 100,
            "{transport}: {third} -> {fault}"
        );
    }
}

#[test]
fn a_call_number_never_reached_is_skipped_with_its_reason() {
    let mut config = oom_after_bind();
    config.faults[0].after_call = Some(99);
    let outcome = run_with(&config, Transport::Fast);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    let records = outcome.trace.records();
    assert!(!records
        .iter()
        .any(|r| matches!(r.event, Event::Fault { .. })));
    let reason = records.iter().find_map(|r| match &r.event {
        Event::FaultSkipped { name, reason } if name == "agent_oom" => Some(reason.clone()),
        _ => None,
    });
    let reason = reason.expect("the fault is traced as skipped");
    assert!(reason.contains("never 99"), "{reason}");
}
