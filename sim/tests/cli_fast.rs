//! The command line's transport flag and `chatsim bench`.

use std::process::Command;

#[test]
fn determinism_runs_on_the_fast_transport_and_says_so() {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(["determinism", "--seeds", "2", "--transport", "fast"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.lines().next().unwrap().contains(", fast)"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("2 passed, 0 failed"));
}

#[test]
fn an_unknown_transport_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(["determinism", "--transport", "carrier-pigeon"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("unknown transport"), "{stderr}");
}

#[test]
fn bench_json_is_one_object_with_a_line_per_story_and_fuzz_throughput() {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args([
            "bench",
            "--json",
            "--story",
            "smoke",
            "--min-wall-ms",
            "0",
            "--fuzz-wall-ms",
            "0",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let stories = report["stories"].as_array().expect("a stories array");
    assert_eq!(stories.len(), 1);
    let story = &stories[0];
    assert_eq!(story["name"], "smoke");
    for key in [
        "virtual_seconds",
        "realtime_ratio",
        "turmoil_realtime_ratio",
        "speedup_vs_turmoil_default",
        "slowdown_vs_engine_limit",
        "peak_rss_bytes",
    ] {
        assert!(
            story[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {story}"
        );
    }
    let modes: Vec<&str> = story["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["fast", "turmoil", "turmoil-1ms", "engine"]);
    let rounds = story["slowdown_vs_engine_rounds"]
        .as_array()
        .expect("rounds");
    assert_eq!(
        rounds.len(),
        3,
        "fast and engine alternate three times: {story}"
    );
    assert!(rounds.iter().all(|r| r.as_f64().is_some_and(|r| r > 0.0)));
    for m in story["measurements"].as_array().unwrap() {
        let wall = |key: &str| m[key].as_f64().unwrap_or_else(|| panic!("{key}: {m}"));
        assert!(
            0.0 < wall("wall_min_seconds")
                && wall("wall_min_seconds") <= wall("wall_seconds")
                && wall("wall_seconds") <= wall("wall_max_seconds"),
            "min <= median <= max: {m}"
        );
    }
    if std::path::Path::new("/proc/loadavg").exists() {
        let start = report["load_average"]["start"].as_array().expect("3 loads");
        assert_eq!(start.len(), 3, "{report}");
    }
    assert!(
        report.get("instructions").is_none(),
        "only with --instructions"
    );
    assert!(report["fuzz_cases_per_sec_per_core"].as_f64().unwrap() > 0.0);
    assert!(report.get("scaling").is_none(), "only with --scaling");
}

#[test]
fn the_bench_child_refuses_an_unknown_story() {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args([
            "bench-child",
            "--story",
            "nope",
            "--mode",
            "fast",
            "--min-wall-ms",
            "0",
            "--max-runs",
            "1",
        ])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("unknown story"), "{stderr}");
}

#[test]
fn the_fast_transport_replays_the_same_trace_in_another_process() {
    let hash_line = || {
        let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
            .args([
                "determinism",
                "--seeds",
                "1",
                "--first",
                "9",
                "--transport",
                "fast",
            ])
            .output()
            .expect("runs");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(output.status.success(), "{stdout}");
        // "seed 9: match <hash> (...": everything before the wall times.
        let line = stdout.lines().next().unwrap().to_string();
        line.split(" wall ").next().unwrap().to_string()
    };
    assert_eq!(hash_line(), hash_line());
}
