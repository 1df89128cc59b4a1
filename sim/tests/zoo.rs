//! The bug zoo (`--features bugs`): the fuzzer finds every switch from seed
//! 0 within 1,000 cases, the kill matrix is as committed in
//! `docs/kill-matrix.txt`, and the command line's contract.

/// A build without the feature has the flags, and says what to do.
#[cfg(not(feature = "bugs"))]
#[test]
fn without_the_feature_every_zoo_flag_is_a_usage_error() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    for args in [
        &["fuzz", "--list-bugs"][..],
        &["fuzz", "--bug", "quota-from-text", "--seeds", "5"],
        &["fuzz", "--kill-matrix"],
        &[
            "run",
            "--bug",
            "quota-from-text",
            "scenarios/create-happy-path.toml",
        ],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_chatsim"))
            .current_dir(root)
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("--features bugs"), "{args:?}: {stderr}");
    }
}

#[cfg(feature = "bugs")]
mod zoo {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use chatsim::scenario;
    use chatsim::zoo::{kill, search, Bug};
    use chatsim::Transport;

    /// The budget the issue sets: each switch is found within this many cases.
    const CASES: u64 = 1_000;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// One test per switch (they run in parallel): the fuzzer's search from
    /// seed 0 — the schedule a plain `chatsim fuzz` draws, nothing hand-picked —
    /// finds it within [`CASES`].
    fn found_from_seed_zero(bug: Bug) {
        let seeds: Vec<u64> = (0..CASES).collect();
        let find = search::first_find(bug, &seeds, 1, Transport::Fast)
            .expect("the schedule draws")
            .unwrap_or_else(|| panic!("{bug}: not found in seeds 0..{CASES}"));
        assert!(find.rank <= CASES);
        assert!(find.checked.failure().is_some());
        // Without the switch, the same case passes: the switch is what fails it.
        let (schedule, _) = chatsim::fuzz::draw(find.seed).unwrap();
        let clean = chatsim::fuzz::check(&schedule.config(find.seed), Transport::Fast);
        assert_eq!(
            clean.failure(),
            None,
            "{bug}: seed {} fails without the switch",
            find.seed
        );
    }

    macro_rules! found {
        ($($test:ident => $bug:expr),* $(,)?) => {$(
            #[test]
            fn $test() {
                found_from_seed_zero($bug);
            }
        )*};
    }

    found! {
        finds_single_signal_recovery => Bug::SingleSignalRecovery,
        finds_cache_hit_sentinel => Bug::CacheHitSentinel,
        finds_bound_agent_classification => Bug::BoundAgentClassification,
        finds_stop_idempotent_after_failure => Bug::StopIdempotentAfterFailure,
        finds_external_agent_built => Bug::ExternalAgentBuilt,
        finds_early_chat_update => Bug::EarlyChatUpdate,
        finds_no_active_version_pin => Bug::NoActiveVersionPin,
        finds_stale_context_files => Bug::StaleContextFiles,
        finds_quota_from_text => Bug::QuotaFromText,
        finds_never_connected_recovery => Bug::NeverConnectedRecovery,
        finds_preflight_on_connecting => Bug::PreflightOnConnecting,
    }

    #[test]
    fn the_kill_matrix_is_as_committed() {
        let files = scenario::discover(&[root().join("scenarios")]).unwrap();
        let scenarios: Vec<_> = files.iter().map(|f| scenario::load(f).unwrap()).collect();
        let rows = kill::kill_matrix(&scenarios, Transport::Fast);
        let committed = std::fs::read_to_string(root().join("docs/kill-matrix.txt")).unwrap();
        assert_eq!(
            kill::render(&rows),
            committed,
            "regenerate with: cargo run -p chatsim --features bugs -- fuzz --kill-matrix > docs/kill-matrix.txt"
        );
    }

    fn chatsim(args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
            .current_dir(root())
            .args(args)
            .output()
            .expect("runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    #[test]
    fn list_bugs_prints_one_name_per_line() {
        let (code, stdout, _) = chatsim(&["fuzz", "--list-bugs"]);
        assert_eq!(code, 0);
        let names: Vec<&str> = stdout
            .lines()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        let all: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        assert_eq!(names, all);
    }

    #[test]
    fn an_unknown_bug_or_a_missing_seed_count_is_a_usage_error() {
        let (code, _, stderr) = chatsim(&["fuzz", "--bug", "no-such-bug", "--seeds", "5"]);
        assert_eq!(code, 2);
        assert!(stderr.contains("unknown bug \"no-such-bug\""), "{stderr}");
        let (code, _, stderr) = chatsim(&["fuzz", "--bug", "quota-from-text"]);
        assert_eq!(code, 2);
        assert!(stderr.contains("--seeds"), "{stderr}");
        let (code, _, stderr) =
            chatsim(&["run", "--bug", "nope", "scenarios/create-happy-path.toml"]);
        assert_eq!(code, 2);
        assert!(stderr.contains("unknown bug"), "{stderr}");
        let (code, _, stderr) =
            chatsim(&["fuzz", "--bug", "quota-from-text", "--seeds", "5", "--json"]);
        assert_eq!(code, 2);
        assert!(stderr.contains("do not apply"), "{stderr}");
    }

    /// `fuzz --bug` exits 1 at its find, says after how many cases (the same
    /// for any `--jobs`), writes the shrunk case, and `run --bug` replays it
    /// and fails — while the same file passes without the switch.
    #[test]
    fn fuzz_bug_finds_writes_and_run_bug_replays() {
        let bug = "stop-idempotent-after-failure";
        let out = std::env::temp_dir().join(format!("chatsim-zoo-{}", std::process::id()));
        let out_s = out.to_str().unwrap();
        let mut found_lines = Vec::new();
        for jobs in ["1", "2"] {
            let (code, stdout, stderr) = chatsim(&[
                "fuzz", "--bug", bug, "--seeds", "1000", "--jobs", jobs, "--out", out_s,
            ]);
            assert_eq!(code, 1, "{stdout}{stderr}");
            let lines: Vec<&str> = stdout.lines().collect();
            let found = lines
                .iter()
                .position(|l| l.starts_with("found after "))
                .expect("a find");
            let tally = lines
                .iter()
                .position(|l| l.ends_with(" passed, 1 failed"))
                .expect("a tally");
            assert!(found < tally, "{stdout}");
            found_lines.push(lines[found].to_string());
        }
        assert_eq!(
            found_lines[0], found_lines[1],
            "the rank does not depend on --jobs"
        );
        let file = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&format!("bug-{bug}-"))
            })
            .expect("the shrunk case is written");
        let file_s = file.to_str().unwrap();
        let (code, stdout, _) = chatsim(&["run", "--bug", bug, file_s, "--transport", "fast"]);
        assert_eq!(code, 1, "{stdout}");
        let (code, stdout, _) = chatsim(&["run", file_s, "--transport", "fast"]);
        assert_eq!(code, 0, "without the switch it passes: {stdout}");
        std::fs::remove_dir_all(&out).ok();
    }
}
