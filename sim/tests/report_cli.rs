//! `chatsim report`'s contract: `DIR/<file stem>.html` per scenario, the
//! same bytes for the same run, exit 2 with a clear message on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

const OOM: &str = "scenarios/oom-recovered-by-restart.toml";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// A fresh directory under cargo's temp dir for tests.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// Runs chatsim from the workspace root: (exit code, stdout, stderr).
fn chatsim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("chatsim runs");
    (
        output.status.code().expect("an exit code, not a signal"),
        String::from_utf8(output.stdout).expect("utf-8"),
        String::from_utf8(output.stderr).expect("utf-8"),
    )
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn writes_dir_stem_html_and_the_same_bytes_again() {
    let dir = fresh_dir("oom");
    let (code, stdout, stderr) = chatsim(&["report", OOM, "--out", text(&dir)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let page = dir.join("oom-recovered-by-restart.html");
    assert!(
        stdout.contains("PASS") && stdout.contains(text(&page)),
        "{stdout}"
    );
    let first = std::fs::read_to_string(&page).expect("the page");
    assert!(first.starts_with("<!DOCTYPE html>"));
    assert!(first.contains(
        "cargo run -p chatsim -- run --transport turmoil scenarios/oom-recovered-by-restart.toml"
    ));
    let (code, _, _) = chatsim(&["report", OOM, OOM, "--out", text(&dir)]);
    assert_eq!(code, 0, "a file named twice is reported once");
    let second = std::fs::read_to_string(&page).expect("the page");
    assert!(first == second, "the same run wrote different bytes");
}

#[test]
fn a_failed_expectation_is_marked_and_the_page_still_written() {
    let dir = fresh_dir("failing");
    let source = std::fs::read_to_string(workspace_root().join(OOM)).expect("the OOM scenario");
    let wrong = source.replace("builds = 3", "builds = 4");
    assert_ne!(wrong, source);
    let file = dir.join("wrong-builds.toml");
    std::fs::write(&file, wrong).expect("written");
    let (code, stdout, stderr) = chatsim(&[
        "report",
        text(&file),
        "--out",
        text(&dir),
        "--transport",
        "fast",
    ]);
    assert_eq!(
        code, 0,
        "a failed run still gets its page: {stdout}{stderr}"
    );
    assert!(stdout.starts_with("FAIL "), "{stdout}");
    let page = std::fs::read_to_string(dir.join("wrong-builds.html")).expect("the page");
    assert!(page.contains("<span class=\"verdict fail\">FAIL</span>"));
    assert!(
        page.contains("expectation expect.chats.main.builds"),
        "the failure is on the page"
    );
    assert!(
        page.contains("--transport fast"),
        "the replay names the transport"
    );
}

#[test]
fn bad_arguments_and_unreadable_scenarios_exit_2() {
    let dir = fresh_dir("bad");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nseed = [\n").expect("written");
    let missing = dir.join("missing.toml");
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, "").expect("written");
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).expect("a dir");
    let same_stem = copy.join("oom-recovered-by-restart.toml");
    std::fs::copy(workspace_root().join(OOM), &same_stem).expect("copied");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["report", OOM], "--out".into()),
        (vec!["report", "--out", text(&dir)], "PATHS".into()),
        (
            vec!["report", text(&missing), "--out", text(&dir)],
            format!("{}:1:1: cannot read the file", text(&missing)),
        ),
        (
            vec!["report", text(&bad), "--out", text(&dir)],
            format!("{}:3:1:", text(&bad)),
        ),
        (
            vec!["report", OOM, "--out", text(&blocker)],
            "chatsim report: cannot make".into(),
        ),
        (
            vec!["report", OOM, "--out", text(&dir), "--transport", "warp"],
            "warp".into(),
        ),
        (
            vec!["report", OOM, text(&same_stem), "--out", text(&dir)],
            "would both write oom-recovered-by-restart.html".into(),
        ),
    ];
    for (args, says) in cases {
        let (code, stdout, stderr) = chatsim(&args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&says),
            "{args:?} should say {says:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(
        !dir.join("bad.html").exists(),
        "no page for a file that does not load"
    );
}

#[test]
fn fuzz_report_writes_nothing_when_every_case_passes() {
    let dir = fresh_dir("fuzz");
    let (code, stdout, stderr) =
        chatsim(&["fuzz", "--seeds", "2", "--report", "--out", text(&dir)]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let pages = std::fs::read_dir(&dir).expect("the out dir").count();
    assert_eq!(pages, 0, "no failure, no page");
}
