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

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A scenario file in the temp directory.
fn temp_scenario(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chatsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn chatsim(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("runs");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// `chatsim run` over every scenario (turmoil unless `transport` names
/// one): each passes, its line names the transport, the tally ends it.
fn run_all_passes_on(transport: Option<&str>) {
    let mut args = vec!["run"];
    if let Some(t) = transport {
        args.extend(["--transport", t]);
    }
    let (ok, stdout, _) = chatsim(&args);
    // Known upstream findings print under their verdict and fail nothing:
    // start-joins-stop-build has the one.
    let (findings, lines): (Vec<&str>, Vec<&str>) = stdout
        .lines()
        .partition(|l| l.starts_with("  known upstream finding "));
    assert_eq!(findings.len(), 1, "{stdout}");
    assert!(findings[0].contains(" start_joins_stop_build (spec 2 §1.2 step 6) at "));
    let count = std::fs::read_dir(workspace_root().join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert!(ok, "{stdout}");
    assert_eq!(
        lines.last(),
        Some(&format!("{count} passed, 0 failed").as_str())
    );
    assert_eq!(lines.len(), count + 1, "{stdout}");
    let named = format!("  transport {}  virtual ", transport.unwrap_or("turmoil"));
    for line in &lines[..count] {
        assert!(line.starts_with("PASS scenarios/"), "{line}");
        assert!(
            line.contains(&named) && line.contains(" wall ") && line.ends_with(" user calls"),
            "{line}"
        );
    }
}

#[test]
fn run_without_paths_runs_every_scenario_and_ends_with_the_tally() {
    run_all_passes_on(None);
}

#[test]
fn run_on_the_fast_transport_passes_every_scenario_and_says_so() {
    run_all_passes_on(Some("fast"));
}

#[test]
fn a_failure_on_the_fast_transport_replays_on_it() {
    let text = std::fs::read_to_string(workspace_root().join("scenarios/create-happy-path.toml"))
        .unwrap()
        .replace("workspace_count = 1", "workspace_count = 2");
    let path = temp_scenario("wrong-count-fast.toml", &text);
    let (ok, stdout, _) = chatsim(&["run", "--transport", "fast", path.to_str().unwrap()]);
    assert!(!ok, "{stdout}");
    assert!(stdout.starts_with(&format!("FAIL {}  transport fast  ", path.display())));
    assert!(stdout.contains(", transport fast)"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "replay: cargo run -p chatsim -- run --transport fast {}",
            path.display()
        )),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("0 passed, 1 failed"));
}

#[test]
fn a_failing_scenario_names_what_broke_the_seed_and_the_replay_command() {
    let text = std::fs::read_to_string(workspace_root().join("scenarios/create-happy-path.toml"))
        .unwrap()
        .replace("workspace_count = 1", "workspace_count = 2")
        .replace("seed = 1", "seed = 41");
    let path = temp_scenario("wrong-count.toml", &text);
    let (ok, stdout, _) = chatsim(&["run", path.to_str().unwrap()]);
    assert!(!ok, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("FAIL "), "{stdout}");
    assert!(
        stdout.contains(
            "expectation expect.workspace_count failed: workspaces at the end: expected 2, got 1"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("(seed 41, transport turmoil)"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "replay: cargo run -p chatsim -- run --transport turmoil {}",
            path.display()
        )),
        "{stdout}"
    );
    assert_eq!(lines.last(), Some(&"0 passed, 1 failed"));
}

#[test]
fn check_prints_file_line_column_on_stderr_and_fails_on_a_bad_file() {
    let bad = temp_scenario(
        "bad.toml",
        "name = \"bad\"\nseed = 1\n[world]\nusers = []\nchats = []\n[settings]\ntick = \"fast\"\n",
    );
    let (ok, _, stderr) = chatsim(&["check", bad.to_str().unwrap(), "scenarios"]);
    assert!(!ok);
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!(
            "{}:7:8: settings.tick: invalid duration \"fast\"; expected a duration like \"90s\", \"12m\", \"1h30m\" or \"250ms\"",
            bad.display()
        )
    );
    let (ok, stdout, stderr) = chatsim(&["check", "scenarios"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.lines().all(|l| l.starts_with("ok scenarios/")),
        "{stdout}"
    );
}
