//! `chatsim run`, `check` and `list`: the scenario files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chatsim::observe::view::TraceView;
use chatsim::observe::{coverage, reach};
use chatsim::scenario::{self, results, Scenario, ScenarioError};
use chatsim::Transport;

use crate::output::{self, err, out, Bar, Style, Tally};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories of them.
    paths: Vec<PathBuf>,
    /// The transports, repeatable or comma-separated: `turmoil` (the
    /// default), `fast`. A file that names its `transport` runs on that one.
    #[arg(long, value_delimiter = ',', default_value = "turmoil")]
    transport: Vec<Transport>,
    /// One JSON object per scenario and transport on stdout instead of the
    /// lines (the tally goes to stderr).
    #[arg(long)]
    json: bool,
    /// Also write JUnit XML of the results to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// After each result, list the reachability goals and the coverage
    /// cells the run reached (as `chatsim fuzz` counts them).
    #[arg(long)]
    reach: bool,
    /// Run under the named bug-zoo switch (a build with `--features bugs`;
    /// `chatsim fuzz --list-bugs` lists them).
    #[arg(long, value_name = "NAME")]
    bug: Option<String>,
}

/// The scenario files `paths` name, or the exit code of a usage error
/// (an unreadable directory, or no file at all).
pub fn files(command: &str, paths: &[PathBuf]) -> Result<Vec<PathBuf>, ExitCode> {
    let files = scenario::discover(paths)
        .map_err(|e| output::usage(format!("chatsim {command}: cannot list scenarios: {e}")))?;
    if files.is_empty() {
        let where_ = if paths.is_empty() {
            scenario::SCENARIO_DIR.to_string()
        } else {
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        return Err(output::usage(format!(
            "chatsim {command}: no scenario files (*.toml) in {where_}"
        )));
    }
    Ok(files)
}

/// Loads `file`, writing its errors (or its warnings) to stderr.
pub fn load(file: &Path) -> Result<Scenario, Vec<ScenarioError>> {
    let loaded = scenario::load(file);
    let said = match &loaded {
        Ok(scenario) => &scenario.warnings,
        Err(errors) => errors,
    };
    for line in said {
        err!("{line}");
    }
    loaded
}

pub fn run(args: RunArgs) -> ExitCode {
    let bug = match args.bug.as_deref().map(crate::bugs::run_bug).transpose() {
        Ok(bug) => bug,
        Err(code) => return code,
    };
    let files = match files("run", &args.paths) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let mut transports: Vec<Transport> = Vec::new();
    for t in args.transport {
        if !transports.contains(&t) {
            transports.push(t);
        }
    }
    let style = Style::stdout();
    let bar = Bar::new((files.len() * transports.len()) as u64, "run");
    let mut junit = results::JUnit::new();
    let mut tally = Tally::default();
    for file in &files {
        let loaded = bar.suspend(|| load(file));
        let scenario = match loaded {
            Ok(scenario) => crate::bugs::under(scenario, bug),
            Err(errors) => {
                tally.load_errors += 1;
                for &transport in &transports {
                    tally.failed += 1;
                    junit.load_error(file, transport, &errors);
                    bar.suspend(|| {
                        if args.json {
                            out!(
                                "{}",
                                results::RunResult::of_load_error(file, transport, &errors).json()
                            );
                        } else {
                            out!(
                                "{} {}  transport {transport}  (does not load)",
                                style.bad("FAIL"),
                                file.display()
                            );
                        }
                    });
                    bar.inc();
                }
                continue;
            }
        };
        let source = std::fs::read_to_string(file).ok();
        let runs_on = scenario.transports(&transports);
        // A file that names its transport runs on that one alone: the bar
        // counts the runs it skips as done.
        for _ in runs_on.len()..transports.len() {
            bar.inc();
        }
        for transport in runs_on {
            bar.set_message(format!("{} ({transport})", scenario.name()));
            let report = scenario::run_scenario_on(&scenario, transport);
            if report.passed() {
                tally.passed += 1;
            } else {
                tally.failed += 1;
            }
            junit.report(&report, source.as_deref());
            bar.suspend(|| {
                if args.json {
                    out!(
                        "{}",
                        results::RunResult::of_report(&report, source.as_deref()).json()
                    );
                } else {
                    out!("{}", style.verdict(&report.line()));
                    output::raw(&report.details());
                    output::raw(&report.findings_text());
                }
                if args.reach && !args.json {
                    output::raw(&reach_lines(&report));
                }
            });
            bar.inc();
        }
    }
    bar.finish();
    if args.json {
        err!("{}", tally.line());
    } else {
        out!("{}", tally.line());
    }
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, junit.render()) {
            return output::usage(format!("chatsim run: cannot write {}: {e}", path.display()));
        }
    }
    tally.exit_code()
}

/// `--reach`: the goals and cells of a run, indented under its line.
fn reach_lines(report: &scenario::Report) -> String {
    let Some(outcome) = &report.outcome else {
        return String::new();
    };
    let view = TraceView::new(&outcome.trace);
    let goals = reach::reached(&view);
    let mut text = if goals.is_empty() {
        "  reached no goal\n".to_string()
    } else {
        format!("  reached: {}\n", goals.join(", "))
    };
    for cell in coverage::cells(&view) {
        text += &format!("  cell {cell}\n");
    }
    text
}

pub fn check(paths: &[PathBuf]) -> ExitCode {
    let files = match files("check", paths) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let mut tally = Tally::default();
    for file in &files {
        match load(file) {
            Ok(_) => {
                tally.passed += 1;
                out!("ok {}", file.display());
            }
            Err(_) => tally.load_errors += 1,
        }
    }
    tally.exit_code()
}

/// One line for `chatsim list`: name, description, fault kinds.
fn list_line(scenario: &Scenario) -> String {
    let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut kinds: Vec<&str> = Vec::new();
    for fault in &scenario.file.faults {
        let kind = fault.fault.kind().name();
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    format!(
        "{}\t{}\t{}",
        one_line(scenario.name()),
        one_line(&scenario.file.description),
        kinds.join(",")
    )
}

pub fn list(paths: &[PathBuf]) -> ExitCode {
    let files = match files("list", paths) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let mut tally = Tally::default();
    for file in &files {
        match load(file) {
            Ok(scenario) => {
                tally.passed += 1;
                out!("{}", list_line(&scenario));
            }
            Err(_) => tally.load_errors += 1,
        }
    }
    tally.exit_code()
}
