//! `chatsim report`: runs scenario files and writes each run's timeline as
//! one self-contained HTML page, `DIR/<file stem>.html`; `chatsim fuzz
//! --report` writes one beside each shrunk failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chatsim::scenario::{self, Report};
use chatsim::timeline::{self, Mark, Run};
use chatsim::Transport;

use crate::output::{self, err, out, Style, Tally};
use crate::scenarios::{files, load};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Scenario files or directories of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The directory the pages go to (made if missing).
    #[arg(long, value_name = "DIR", required = true)]
    out: PathBuf,
    /// The transport: `turmoil` (the default) or `fast`.
    #[arg(long, default_value_t = Transport::Turmoil)]
    transport: Transport,
}

/// Writes one page per scenario file. Exit 0 once every page is written
/// (also when a run failed: the page shows why); 2 when a file does not
/// load, two files share a stem, or a page cannot be written.
pub fn report(args: ReportArgs) -> ExitCode {
    let mut files = match files("report", &args.paths) {
        Ok(files) => files,
        Err(code) => return code,
    };
    // A file named twice is reported once.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|file| seen.insert(file.clone()));
    let mut stems: BTreeMap<String, &Path> = BTreeMap::new();
    for file in &files {
        let stem = page_name(file);
        if let Some(first) = stems.insert(stem.clone(), file) {
            return output::usage(format!(
                "chatsim report: {} and {} would both write {stem}",
                first.display(),
                file.display()
            ));
        }
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        return output::usage(format!(
            "chatsim report: cannot make {}: {e}",
            args.out.display()
        ));
    }
    let style = Style::stdout();
    let mut tally = Tally::default();
    for file in &files {
        let Ok(scenario) = load(file) else {
            tally.load_errors += 1;
            continue;
        };
        let report = scenario::run_scenario_on(&scenario, args.transport);
        let replay = scenario.replay_command_on(args.transport);
        let target = args.out.join(page_name(file));
        match write_page(&report, &replay, &target) {
            Ok(()) => {
                tally.passed += 1;
                let verdict = if report.passed() { "PASS" } else { "FAIL" };
                out!(
                    "{} {}  transport {}  wrote {}",
                    style.verdict(verdict),
                    file.display(),
                    args.transport,
                    target.display()
                );
            }
            Err(message) => {
                err!("chatsim report: {message}");
                tally.load_errors += 1;
            }
        }
    }
    tally.exit_code()
}

/// `<file stem>.html`.
pub fn page_name(file: &Path) -> String {
    let stem = file.file_stem().map_or_else(
        || "scenario".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    format!("{stem}.html")
}

/// Writes the page of a judged run to `target`.
pub fn write_page(report: &Report, replay: &str, target: &Path) -> Result<(), String> {
    let html = page(report, replay);
    std::fs::write(target, html).map_err(|e| format!("cannot write {}: {e}", target.display()))
}

/// The page of a judged run: its invariant violations at their instants,
/// failed expectations and a panic at the run's end (where they were
/// judged).
pub fn page(report: &Report, replay: &str) -> String {
    let empty = chatsim::Trace::default();
    let trace = report.outcome.as_ref().map_or(&empty, |o| &o.trace);
    let end = report.elapsed();
    let mut marks: Vec<Mark> = report.violations.iter().map(Mark::violation).collect();
    for failure in &report.failures {
        let (line, column) = failure.at.unwrap_or((1, 1));
        let mut message = format!(
            "{} (judged at the end of the run; {}:{line}:{column})",
            failure.message,
            report.scenario.path.display()
        );
        if !failure.detail.is_empty() {
            message.push('\n');
            message.push_str(&failure.detail);
        }
        marks.push(Mark::new(
            end,
            format!("expectation {}", failure.path),
            message,
        ));
    }
    if let Some(panic) = &report.panic {
        marks.push(Mark::new(
            end,
            "invariant run_completes",
            format!("the harness panicked: {panic}"),
        ));
    }
    timeline::page(&Run {
        title: report.scenario.name(),
        description: &report.scenario.file.description,
        trace,
        replay,
        marks,
    })
}

/// `chatsim fuzz --report`: the page of each shrunk failure, replayed from
/// its scenario file on `transport`, beside that file. Whether every page
/// was written (errors go to stderr).
pub fn fuzz_failures(tally: &chatsim::fuzz::Tally, transport: Transport) -> bool {
    let mut all_written = true;
    for failure in tally
        .results
        .iter()
        .filter_map(|line| line.failure.as_ref())
    {
        let file = Path::new(&failure.scenario);
        let Ok(scenario) = load(file) else {
            err!("chatsim fuzz --report: no page for {}", failure.scenario);
            all_written = false;
            continue;
        };
        let report = scenario::run_scenario_on(&scenario, transport);
        let target = file.with_extension("html");
        match write_page(&report, &failure.replay, &target) {
            Ok(()) => err!("report: {}", target.display()),
            Err(message) => {
                err!("chatsim fuzz --report: {message}");
                all_written = false;
            }
        }
    }
    all_written
}
