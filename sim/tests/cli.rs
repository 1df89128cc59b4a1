//! The `chatsim` binary's contract.

use std::process::Command;

#[test]
fn determinism_ends_with_the_tally_and_exits_zero_when_all_match() {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(["determinism", "--seeds", "2", "--first", "40"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"2 passed, 0 failed"));
    assert!(lines[0].starts_with("seed 40: match "), "{}", lines[0]);
    assert!(
        lines[0].contains("virtual ")
            && lines[0].contains(" wall ")
            && lines[0].contains(" ratio ")
    );
}
