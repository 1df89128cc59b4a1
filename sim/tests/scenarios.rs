//! One test per scenario file under `scenarios/` and transport (a
//! `harness = false` test on `libtest-mimic`), named
//! `scenarios::<file stem>::<transport>`, so a filter picks them:
//!
//! ```sh
//! cargo test -p chatsim --test scenarios -- oom          # the OOM story on both transports
//! cargo test -p chatsim --test scenarios -- ::fast       # every scenario on the fast transport
//! cargo test -p chatsim --test scenarios -- --list       # the names
//! ```
//!
//! - `::turmoil` runs the scenario twice on turmoil (the traces must match
//!   byte for byte), judges it (invariants and its `[expect]`) and compares
//!   its transcript with `snapshots/<file stem>.snap` (a failing scenario's
//!   transcript is compared too: its diff shows how).
//! - `::fast` runs it twice on the fast transport (byte for byte again),
//!   judges it, and checks that it tells turmoil's story: `Trace::story()`
//!   — every prompt coderd built, every call with its input and response
//!   byte for byte, the model's outcome, each turn's end and the run's —
//!   equal on both; only the string values of `*_at` JSON keys are masked
//!   (none appears in a response today), and times are not part of the
//!   story. Timings themselves differ (turmoil rounds each message to its
//!   tick, the fast transport draws 1–50 ms per message).
//!
//! - `regressions::<file stem>::<transport>` replays each case `chatsim
//!   fuzz` once found, committed shrunk under `sim/tests/regressions/`:
//!   twice byte for byte, every invariant and its `[expect]` (no snapshot).
//!
//! A failing test prints its problems once, each naming the scenario file
//! (and the replay command where there is one).
//!
//! A changed transcript fails `::turmoil` and, outside CI, leaves a
//! `snapshots/<file stem>.snap.new` beside the snapshot: review it with
//! `cargo insta review` (it sees `snapshots/` because `sim/Cargo.toml`'s
//! `snapshot_files` test lives there), or without cargo-insta rerun with
//! `INSTA_UPDATE=always` and read the diff in git. CI never writes
//! snapshots.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use chatsim::scenario::{discover, parse, run_scenario_on, transcript, Scenario};
use chatsim::Transport;
use libtest_mimic::{Arguments, Failed, Trial};

/// The workspace root (scenario paths in reports are relative to it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ has a parent")
        .to_path_buf()
}

fn main() {
    let args = Arguments::from_args();
    quiet_snapshot_panics();
    let files = discover(&[root().join("scenarios")]).expect("scenarios/ lists");
    assert!(!files.is_empty(), "no scenarios in scenarios/");
    let mut trials = Vec::new();
    for path in files {
        let stem = file_stem(&path).to_string();
        for transport in Transport::ALL {
            let path = path.clone();
            trials.push(Trial::test(
                format!("scenarios::{stem}::{transport}"),
                move || match transport {
                    Transport::Turmoil => on_turmoil(&path),
                    Transport::Fast => on_fast(&path),
                },
            ));
        }
    }
    let regressions = discover(&[root().join("sim/tests/regressions")]).unwrap_or_default();
    for path in regressions {
        let stem = file_stem(&path).to_string();
        for transport in Transport::ALL {
            let path = path.clone();
            trials.push(Trial::test(
                format!("regressions::{stem}::{transport}"),
                move || replay(&path, transport),
            ));
        }
    }
    for transport in Transport::ALL {
        trials.push(Trial::test(
            format!("readme_example::{transport}"),
            move || readme_example(transport),
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}

fn file_stem(path: &Path) -> &str {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario")
}

/// The scenario at `path` (absolute), or its errors (each `FILE:LINE:COLUMN: message`).
fn load(path: &Path) -> Result<Scenario, Failed> {
    let relative = path.strip_prefix(root()).unwrap_or(path);
    let source = std::fs::read_to_string(path)
        .map_err(|err| format!("{}: cannot read the file: {err}", relative.display()))?;
    parse(relative, &source).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        lines.join("\n").into()
    })
}

/// `Ok` when there are no problems, else all of them in one message.
fn verdict(problems: Vec<String>) -> Result<(), Failed> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

/// Replays on turmoil, judges, and compares the transcript with its snapshot.
fn on_turmoil(path: &Path) -> Result<(), Failed> {
    let scenario = load(path)?;
    let report = run_scenario_on(&scenario, Transport::Turmoil);
    let Some(outcome) = report.outcome.as_ref() else {
        return Err(format!("{}\n{}", report.line(), report.details()).into());
    };
    let mut problems = Vec::new();
    if !report.passed() {
        problems.push(format!("{}\n{}", report.line(), report.details()));
    }
    show_findings(&report);
    let again = chatsim::run(&scenario.config());
    if let Some(diff) = outcome.trace.first_difference(&again.trace) {
        problems.push(format!(
            "{} is not deterministic ({} vs {}): {diff}\n  replay: {}",
            scenario.path.display(),
            outcome.hash(),
            again.hash(),
            scenario.replay_command_on(Transport::Turmoil)
        ));
    }
    // One snapshot per scenario, `snapshots/<file stem>.snap`; its header
    // names this file, the expression below and the scenario file.
    let name = file_stem(path);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(path);
    let compared =
        quietly(|| settings.bind(|| insta::assert_snapshot!(name, transcript(&scenario, outcome))));
    if let Err(message) = compared {
        problems.push(format!(
            "{}: its transcript differs from snapshots/{name}.snap (diff above; {message}); \
             outside CI that wrote snapshots/{name}.snap.new: review it with `cargo insta review`",
            scenario.path.display()
        ));
    }
    verdict(problems)
}

/// Prints the oracle's known upstream findings of a run (they never fail it).
fn show_findings(report: &chatsim::scenario::Report) {
    if !report.findings.is_empty() {
        eprint!(
            "{}: known upstream findings:\n{}",
            report.scenario.path.display(),
            report.findings_text()
        );
    }
}

/// Replays on the fast transport, judges, and compares its story with turmoil's.
fn on_fast(path: &Path) -> Result<(), Failed> {
    let scenario = load(path)?;
    let config = scenario.config();
    let report = run_scenario_on(&scenario, Transport::Fast);
    let Some(fast) = report.outcome.as_ref() else {
        return Err(format!("{}\n{}", report.line(), report.details()).into());
    };
    let mut problems = Vec::new();
    if !report.passed() {
        problems.push(format!("{}\n{}", report.line(), report.details()));
    }
    let again = chatsim::run_with(&config, Transport::Fast);
    if let Some(diff) = fast.trace.first_difference(&again.trace) {
        problems.push(format!(
            "{} is not deterministic on the fast transport: {diff}\n  replay: {}",
            scenario.path.display(),
            scenario.replay_command_on(Transport::Fast)
        ));
    }
    let turmoil = chatsim::run_with(&config, Transport::Turmoil).trace.story();
    let story = fast.trace.story();
    let longest = turmoil.len().max(story.len());
    if let Some(i) = (0..longest).find(|&i| turmoil.get(i) != story.get(i)) {
        problems.push(format!(
            "{} tells another story on the fast transport at line {}:\n  turmoil: {:?}\n  fast:    {:?}\n  replay: {}",
            scenario.path.display(),
            i + 1,
            turmoil.get(i),
            story.get(i),
            scenario.replay_command_on(Transport::Fast)
        ));
    }
    verdict(problems)
}

/// Replays a committed fuzz regression twice on `transport` and judges it.
fn replay(path: &Path, transport: Transport) -> Result<(), Failed> {
    let scenario = load(path)?;
    let report = run_scenario_on(&scenario, transport);
    show_findings(&report);
    let mut problems = Vec::new();
    if !report.passed() {
        problems.push(format!("{}\n{}", report.line(), report.details()));
    }
    if let Some(outcome) = report.outcome.as_ref() {
        let again = chatsim::run_with(&scenario.config(), transport);
        if let Some(diff) = outcome.trace.first_difference(&again.trace) {
            problems.push(format!(
                "{} is not deterministic on {transport}: {diff}",
                scenario.path.display()
            ));
        }
    }
    verdict(problems)
}

/// The annotated example in `scenarios/README.md` is a real scenario.
fn readme_example(transport: Transport) -> Result<(), Failed> {
    let readme = std::fs::read_to_string(root().join("scenarios/README.md"))
        .map_err(|err| format!("scenarios/README.md: {err}"))?;
    let example: String = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .ok_or("scenarios/README.md: no ```toml block")?
        .to_string();
    let scenario = parse(Path::new("scenarios/README.md"), &example).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        lines.join("\n")
    })?;
    let report = run_scenario_on(&scenario, transport);
    if report.passed() {
        Ok(())
    } else {
        Err(format!("{}\n{}", report.line(), report.details()).into())
    }
}

thread_local! {
    /// Set while a snapshot assertion runs on this thread.
    static ASSERTING: Cell<bool> = const { Cell::new(false) };
}

/// insta has already printed a mismatching snapshot's diff when it panics;
/// the panic's own message goes into the test's failure (printed once), so
/// the default hook stays quiet for it. Every other panic prints as usual.
fn quiet_snapshot_panics() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !ASSERTING.with(Cell::get) {
            default(info);
        }
    }));
}

/// Runs a snapshot assertion; its panic, if any, as a message.
fn quietly(assertion: impl FnOnce()) -> Result<(), String> {
    ASSERTING.with(|a| a.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(assertion));
    ASSERTING.with(|a| a.set(false));
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic with no message".to_string())
    })
}
