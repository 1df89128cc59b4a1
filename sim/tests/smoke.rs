mod common;
use common::*;

#[test]
fn create_bind_exec_story() {
    let turns = vec![
        create_and_bind(),
        Turn::new(
            CHAT,
            vec![chatsim::Call::Exec {
                command: "echo hi".into(),
            }],
        ),
        wait_until(120),
    ];
    let outcome = chatsim::run(&config(1, world(0, 0), turns, vec![]));
    print_trace(&outcome);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
}
use chatsim::Turn;
