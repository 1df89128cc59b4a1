//! Every scenario under `scenarios/` is run twice (the traces must match
//! byte for byte), judged (invariants and its `[expect]`), and its
//! transcript compared with `snapshots/<file stem>.snap`.
//!
//! A changed transcript fails the test and, outside CI, leaves a
//! `.snap.new` beside the snapshot: review it with `cargo insta review`
//! (or, without cargo-insta, rerun with `INSTA_UPDATE=always` and read the
//! diff in git). CI never writes snapshots.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use chatsim::scenario::{parse, run_scenario, transcript};

/// The workspace root (scenario paths in reports are relative to it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ has a parent")
        .to_path_buf()
}

#[test]
fn scenarios_replay_hold_and_match_their_snapshots() {
    let failures = RefCell::new(Vec::new());
    let fail = |text: String| {
        println!("{text}");
        failures.borrow_mut().push(text);
    };
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("../../scenarios", "*.toml", |path| {
            let relative = path.strip_prefix(root()).unwrap_or(path);
            let source = std::fs::read_to_string(path).expect("readable scenario");
            let scenario = match parse(relative, &source) {
                Ok(scenario) => scenario,
                Err(errors) => {
                    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                    return fail(lines.join("\n"));
                }
            };
            let report = run_scenario(&scenario);
            let Some(outcome) = report.outcome.as_ref() else {
                return fail(format!("{}\n{}", report.line(), report.details()));
            };
            let again = chatsim::run(&scenario.config());
            if let Some(diff) = outcome.trace.first_difference(&again.trace) {
                fail(format!(
                    "{} is not deterministic ({} vs {}): {diff}\n  replay: {}",
                    relative.display(),
                    outcome.hash(),
                    again.hash(),
                    scenario.replay_command()
                ));
            }
            if !report.passed() {
                fail(format!("{}\n{}", report.line(), report.details()));
            }
            // One snapshot per scenario, named after its file (a failing
            // scenario's transcript is compared too: its diff shows how).
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("scenario");
            let mut named = insta::Settings::clone_current();
            named.remove_snapshot_suffix();
            named.bind(|| insta::assert_snapshot!(name, transcript(&scenario, outcome)));
        });
    });
    let failures = failures.into_inner();
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The annotated example in `scenarios/README.md` is a real scenario.
#[test]
fn the_readme_example_loads_and_passes() {
    let readme = std::fs::read_to_string(root().join("scenarios/README.md")).expect("README");
    let example: String = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block")
        .to_string();
    let scenario = parse(Path::new("scenarios/README.md"), &example).unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("{}", lines.join("\n"))
    });
    let report = run_scenario(&scenario);
    assert!(report.passed(), "{}\n{}", report.line(), report.details());
}
