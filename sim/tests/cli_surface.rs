//! The `chatsim` command line as its peers' (cargo, nextest): `--version`,
//! quiet on a closed stdout, errors on stderr, exit codes (2 usage or load
//! error or nothing ran, 1 a failure, 0 all passed), `--start` for every
//! seed range, `run --json` / `--junit`, `list` and `trace`. Everything
//! here runs on the fast transport to stay quick.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fresh directory in the temp directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("chatsim-cli-surface-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn chatsim(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(args)
        .current_dir(workspace_root())
        .env_remove("NO_COLOR")
        .output()
        .expect("runs");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The scenario files under scenarios/, sorted.
fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// create-happy-path with a wrong expected workspace count (line 34).
fn failing_scenario(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(workspace_root().join("scenarios/create-happy-path.toml"))
        .unwrap()
        .replace("workspace_count = 1", "workspace_count = 2");
    let path = dir.join("wrong-count.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn version_prints_the_package_version() {
    let out = chatsim(&["--version"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("chatsim {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Starts `args` with stdout a pipe whose read end is already closed (as
/// after `| head -1`): every write fails, and the command ends quietly
/// (exit 0, no panic on stderr).
fn ends_quietly_when_stdout_closes(args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(args)
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    ends_quietly_when_stdout_closes(&["trace", "--seed", "3", "--transport", "fast"]);
    ends_quietly_when_stdout_closes(&["run", "--transport", "fast"]);
    ends_quietly_when_stdout_closes(&["determinism", "--seeds", "3", "--transport", "fast"]);
    ends_quietly_when_stdout_closes(&["list"]);
    ends_quietly_when_stdout_closes(&["check", "scenarios"]);
    let out = std::env::temp_dir().join(format!("chatsim-cli-surface-{}-fuzz", std::process::id()));
    ends_quietly_when_stdout_closes(&["fuzz", "--seeds", "2", "--out", out.to_str().unwrap()]);
}

#[test]
fn nothing_to_run_exits_two_with_the_reason_on_stderr() {
    let empty = temp_dir("empty");
    let empty = empty.to_str().unwrap();
    for command in ["run", "check", "list"] {
        let out = chatsim(&[command, empty]);
        assert_eq!(out.code, Some(2), "{command}: {}", out.stdout);
        assert!(out.stdout.is_empty(), "{command}: {}", out.stdout);
        assert!(
            out.stderr.contains("no scenario files") && out.stderr.contains(empty),
            "{command}: {}",
            out.stderr
        );
    }
    for args in [
        &["determinism", "--seeds", "0"][..],
        &["fuzz", "--seeds", "0"],
    ] {
        let out = chatsim(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stdout);
        assert!(out.stderr.contains("--seeds 0"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn a_seed_range_past_the_last_seed_is_refused_naming_it() {
    for args in [
        &[
            "determinism",
            "--first",
            "18446744073709551615",
            "--seeds",
            "2",
        ][..],
        &[
            "determinism",
            "--start",
            "18446744073709551610",
            "--seeds",
            "7",
        ],
        &["fuzz", "--start", "18446744073709551615", "--seeds", "2"],
        &["fuzz", "--first", "18446744073709551615", "--seeds", "2"],
    ] {
        let out = chatsim(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stdout);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains(&format!("--seeds {}", args[4]))
                && out.stderr.contains(args[2])
                && out.stderr.contains("runs past the last seed"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn start_names_the_first_seed_of_determinism_and_first_is_its_alias() {
    let start = chatsim(&[
        "determinism",
        "--start",
        "5",
        "--seeds",
        "1",
        "--transport",
        "fast",
    ]);
    let first = chatsim(&[
        "determinism",
        "--first",
        "5",
        "--seeds",
        "1",
        "--transport",
        "fast",
    ]);
    assert_eq!(start.code, Some(0), "{}", start.stdout);
    assert!(
        start.stdout.starts_with("seed 5: match "),
        "{}",
        start.stdout
    );
    let hash = |s: &str| s.split(" wall ").next().unwrap().to_string();
    assert_eq!(hash(&start.stdout), hash(&first.stdout));
    assert_eq!(start.stdout.lines().last(), Some("1 passed, 0 failed"));
}

#[test]
fn a_file_that_does_not_load_exits_two_with_its_errors_on_stderr() {
    let dir = temp_dir("load");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\nseed = \"x\"\n").unwrap();
    let good = workspace_root().join("scenarios/create-happy-path.toml");
    let out = chatsim(&[
        "run",
        "--transport",
        "fast",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("{}:2:", bad.display())),
        "{}",
        out.stderr
    );
    assert!(
        !out.stdout.contains(":2:"),
        "errors on stderr: {}",
        out.stdout
    );
    assert!(
        out.stdout.starts_with(&format!(
            "FAIL {}  transport fast  (does not load)",
            bad.display()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().last(), Some("1 passed, 1 failed"));
    let out = chatsim(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = chatsim(&["run", dir.join("missing.toml").to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot read the file"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_failing_scenario_exits_one_and_piped_output_has_no_colour() {
    let dir = temp_dir("fail");
    let path = failing_scenario(&dir);
    let good = workspace_root().join("scenarios/create-happy-path.toml");
    let out = chatsim(&[
        "run",
        "--transport",
        "fast",
        path.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(!out.stdout.contains('\x1b'), "{}", out.stdout);
    assert!(out.stdout.starts_with("FAIL "), "{}", out.stdout);
    assert_eq!(out.stdout.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn run_json_is_one_object_per_scenario_and_transport_with_located_failures() {
    let dir = temp_dir("json");
    let path = failing_scenario(&dir);
    let good = workspace_root().join("scenarios/create-happy-path.toml");
    let junit = dir.join("junit.xml");
    let out = chatsim(&[
        "run",
        "--json",
        "--transport",
        "fast,turmoil",
        "--junit",
        junit.to_str().unwrap(),
        path.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stderr.lines().last(), Some("2 passed, 2 failed"));
    let objects: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 4, "{}", out.stdout);
    let transports: Vec<&str> = objects
        .iter()
        .map(|o| o["transport"].as_str().unwrap())
        .collect();
    assert_eq!(transports, ["fast", "turmoil", "fast", "turmoil"]);
    for o in &objects {
        for key in [
            "file",
            "name",
            "transport",
            "seed",
            "passed",
            "trace_hash",
            "failures",
        ] {
            assert!(o.get(key).is_some(), "{key}: {o}");
        }
        assert_eq!(o["name"], "create-happy-path");
        assert_eq!(o["seed"], 1);
        assert_eq!(o["trace_hash"].as_str().unwrap().len(), 16, "{o}");
    }
    let failed = &objects[0];
    assert_eq!(failed["file"], path.display().to_string());
    assert_eq!(failed["passed"], false);
    let failure = &failed["failures"][0];
    assert_eq!(failure["path"], "expect.workspace_count");
    assert_eq!(
        (failure["line"].as_u64(), failure["column"].as_u64()),
        (Some(34), Some(1))
    );
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("workspaces at the end: expected 2, got 1"),
        "{failure}"
    );
    assert!(failed["replay"]
        .as_str()
        .unwrap()
        .contains("--transport fast"));
    let passed = &objects[2];
    assert_eq!(passed["passed"], true);
    assert_eq!(passed["failures"], serde_json::json!([]));
    // The same run replays the same trace on each transport.
    assert_eq!(objects[0]["trace_hash"], objects[2]["trace_hash"]);

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "),
        "{xml}"
    );
    assert!(
        xml.contains("tests=\"4\" failures=\"2\" errors=\"0\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert_eq!(xml.matches("<failure message=").count(), 2, "{xml}");
    assert!(
        xml.contains("classname=\"chatsim.fast\" name=\"create-happy-path\""),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "{}:34:1: expectation expect.workspace_count failed",
            path.display()
        )),
        "{xml}"
    );
    assert_well_formed(&xml);
}

/// Tags nest and close, attributes are quoted, `&` starts an entity.
fn assert_well_formed(xml: &str) {
    let body = xml.split_once("?>").expect("an XML declaration").1;
    let mut open: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
                "bad entity {entity:?}"
            );
        }
        let end = rest[start..].find('>').expect("a tag ends") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "{tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "{tag}");
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap()
            .to_string();
        if tag.starts_with('/') {
            assert_eq!(open.pop(), Some(name), "closing {tag}");
        } else if !tag.ends_with('/') {
            open.push(name);
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "unclosed {open:?}");
}

#[test]
fn junit_escapes_what_a_name_or_message_holds() {
    let dir = temp_dir("escape");
    let text = std::fs::read_to_string(failing_scenario(&dir))
        .unwrap()
        .replace(
            "name = \"create-happy-path\"",
            "name = \"a<b> & \\\"c\\\"\"",
        );
    let path = dir.join("escape.toml");
    std::fs::write(&path, text).unwrap();
    let junit = dir.join("junit.xml");
    let out = chatsim(&[
        "run",
        "--transport",
        "fast",
        "--junit",
        junit.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"a&lt;b&gt; &amp; &quot;c&quot;\""),
        "{xml}"
    );
    assert_well_formed(&xml);
}

#[test]
fn list_prints_name_description_and_fault_kinds_tab_separated() {
    let out = chatsim(&["list"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), scenario_files().len(), "{}", out.stdout);
    for line in &lines {
        assert_eq!(line.split('\t').count(), 3, "{line:?}");
    }
    assert!(
        lines.iter().any(|l| l.starts_with(
            "create-happy-path\tThe model lists templates, reads one, creates a workspace from it and runs a command: one build, a connected agent, the chat bound to the workspace.\t"
        ) && l.ends_with('\t')),
        "{}",
        out.stdout
    );
    let oom = lines
        .iter()
        .find(|l| l.starts_with("oom-recovered-by-restart\t"))
        .expect("listed");
    assert!(
        oom.split('\t')
            .nth(2)
            .unwrap()
            .split(',')
            .any(|k| k == "agent_oom"),
        "{oom}"
    );
}

#[test]
fn trace_prints_the_json_lines_of_a_scenario_or_a_seed() {
    let out = chatsim(&[
        "trace",
        "scenarios/create-happy-path.toml",
        "--transport",
        "fast",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.lines().count() > 10, "{}", out.stdout);
    for line in out.stdout.lines() {
        let _: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    }
    let out = chatsim(&["trace", "--seed", "7", "--transport", "fast"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let expected = chatsim::run_with(&chatsim::gen::mixed(7), chatsim::Transport::Fast);
    assert_eq!(out.stdout, expected.trace.text());
    let out = chatsim(&["trace"]);
    assert_eq!(out.code, Some(2), "usage: {}", out.stderr);
    let out = chatsim(&["trace", "scenarios/create-happy-path.toml", "--seed", "1"]);
    assert_eq!(out.code, Some(2), "usage: {}", out.stderr);
}

/// `fuzz --coverage FILE` writes the goals and cells; `--baseline FILE`
/// passes against its own coverage and refuses another range (exit 2), as
/// it refuses a `--coverage` directory that does not exist, before running.
#[test]
fn fuzz_writes_coverage_and_checks_a_baseline() {
    let dir = temp_dir("coverage");
    let file = dir.join("cov.json");
    let path = file.to_str().unwrap();
    let out = chatsim(&["fuzz", "--seeds", "3", "--coverage", path]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("goals reached "), "{}", out.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(json["seeds"], 3);
    assert_eq!(
        json["goals"].as_object().unwrap().len(),
        chatsim::observe::reach::GOALS.len()
    );
    assert!(json["cells"][0]["first_seed"].is_u64(), "{json}");

    let same = chatsim(&["fuzz", "--seeds", "3", "--baseline", path]);
    assert_eq!(same.code, Some(0), "{}", same.stderr);
    assert!(
        !same.stderr.contains("update the baseline"),
        "{}",
        same.stderr
    );
    let other = chatsim(&["fuzz", "--seeds", "4", "--baseline", path]);
    assert_eq!(other.code, Some(2), "{}", other.stdout);
    assert!(
        other.stderr.contains("covers seeds 0..3"),
        "{}",
        other.stderr
    );

    let missing = dir.join("no-such-dir").join("cov.json");
    let out = chatsim(&[
        "fuzz",
        "--seeds",
        "3",
        "--coverage",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "ran anyway: {}", out.stdout);
}

/// `run --reach` lists what a scenario's run reached under its line.
#[test]
fn run_reach_lists_goals_and_cells() {
    let file = workspace_root().join("scenarios/quota-failure-on-start.toml");
    let out = chatsim(&[
        "run",
        "--reach",
        "--transport",
        "fast",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("\n  reached: quota.on_start\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\n  cell "), "{}", out.stdout);
}
