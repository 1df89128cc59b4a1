//! Every scenario under `scenarios/` is run twice on each transport (the
//! traces must match byte for byte), judged on each (invariants and its
//! `[expect]`), and its turmoil transcript compared with
//! `snapshots/<file stem>.snap`. The fast transport must tell turmoil's
//! story: `Trace::story()` — every prompt coderd built, every call with
//! its input and response byte for byte, the model's outcome, each turn's
//! end and the run's — equal on both; only the string values of `*_at`
//! JSON keys are masked (none appears in a response today), and times are
//! not part of the story. Timings themselves differ (turmoil rounds each
//! message to its tick, the fast transport draws 1–50 ms per message).
//!
//! A changed transcript fails the test and, outside CI, leaves a
//! `.snap.new` beside the snapshot: review it with `cargo insta review`
//! (or, without cargo-insta, rerun with `INSTA_UPDATE=always` and read the
//! diff in git). CI never writes snapshots.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use chatsim::scenario::{discover, parse, run_scenario, run_scenario_on, transcript};
use chatsim::Transport;

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
                    scenario.replay_command_on(Transport::Turmoil)
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

#[test]
fn every_scenario_holds_replays_and_tells_turmoils_story_on_the_fast_transport() {
    let files = discover(&[root().join("scenarios")]).expect("scenarios/ lists");
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(root()).unwrap_or(path);
        let source = std::fs::read_to_string(path).expect("readable scenario");
        let scenario = match parse(relative, &source) {
            Ok(scenario) => scenario,
            Err(errors) => {
                let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                failures.push(lines.join("\n"));
                continue;
            }
        };
        let path = relative;
        let config = scenario.config();
        let report = run_scenario_on(&scenario, Transport::Fast);
        let Some(fast) = report.outcome.as_ref() else {
            failures.push(format!("{}\n{}", report.line(), report.details()));
            continue;
        };
        if !report.passed() {
            failures.push(format!("{}\n{}", report.line(), report.details()));
        }
        let again = chatsim::run_with(&config, Transport::Fast);
        if let Some(diff) = fast.trace.first_difference(&again.trace) {
            failures.push(format!(
                "{} is not deterministic on the fast transport: {diff}\n  replay: {}",
                path.display(),
                scenario.replay_command_on(Transport::Fast)
            ));
        }
        let turmoil = chatsim::run_with(&config, Transport::Turmoil).trace.story();
        let story = fast.trace.story();
        let longest = turmoil.len().max(story.len());
        if let Some(i) = (0..longest).find(|&i| turmoil.get(i) != story.get(i)) {
            failures.push(format!(
                "{} tells another story on the fast transport at line {}:\n  turmoil: {:?}\n  fast:    {:?}\n  replay: {}",
                path.display(),
                i + 1,
                turmoil.get(i),
                story.get(i),
                scenario.replay_command_on(Transport::Fast)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) on the fast transport:\n{}",
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
    for transport in Transport::ALL {
        let report = run_scenario_on(&scenario, transport);
        assert!(report.passed(), "{}\n{}", report.line(), report.details());
    }
}
