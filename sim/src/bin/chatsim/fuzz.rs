//! `chatsim fuzz` and `chatsim fuzz merge`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatsim::fuzz::{self, CaseLine};
use chatsim::Transport;

use crate::output::{self, err, out, Bar, Style};

#[derive(clap::Args)]
pub struct FuzzArgs {
    #[command(subcommand)]
    action: Option<FuzzAction>,
    /// How many seeds (cases) to run.
    #[arg(long)]
    seeds: Option<u64>,
    /// The first seed.
    #[arg(long, visible_alias = "first", default_value_t = 0)]
    start: u64,
    /// Run one shard `i/n` of the range (0-based): the seeds s with s mod n = i.
    #[arg(long)]
    shard: Option<fuzz::Shard>,
    /// Worker threads (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// The transport: `fast` (the default) or `turmoil`.
    #[arg(long, default_value_t = Transport::Fast)]
    transport: Transport,
    /// Where shrunk failures are written as scenario files.
    #[arg(long, default_value = "target/chatsim-fuzz")]
    out: PathBuf,
    /// Print one JSON object on stdout (the tally line goes to stderr).
    #[arg(long)]
    json: bool,
    /// Stop taking new seeds after this much wall time (e.g. `30s`, `5m`).
    #[arg(long, value_parser = parse_budget)]
    time_budget: Option<Duration>,
    /// Do not re-run shrunk failures on turmoil.
    #[arg(long)]
    no_turmoil_check: bool,
    /// Also write each shrunk failure's timeline as an HTML page beside
    /// its scenario file (`fuzz-seed-N.html`; see `chatsim report`).
    #[arg(long)]
    report: bool,
    /// Write the reachability goals and the coverage matrix (each with its
    /// first seed) to this JSON file.
    #[arg(long, value_name = "FILE")]
    coverage: Option<PathBuf>,
    /// Compare the cells reached with a `--coverage` file of the same
    /// seeds: a cell it has and this run lacks fails the run; new cells
    /// print how to update it.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
}

/// Where a finished run's results go besides the summary.
#[derive(Default)]
struct Outputs<'a> {
    /// Print the tally as JSON on stdout.
    json: bool,
    /// Write the coverage file here.
    coverage: Option<&'a Path>,
    /// Compare with this baseline (its path, its contents).
    baseline: Option<(&'a Path, fuzz::CoverageFile)>,
}

#[derive(clap::Subcommand)]
enum FuzzAction {
    /// Combines the `--json` results of every shard of one range into the
    /// unsharded result.
    Merge {
        /// The shards' JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the JSON object instead of the summary.
        #[arg(long)]
        json: bool,
        /// Write the merged goals and coverage matrix to this JSON file.
        #[arg(long, value_name = "FILE")]
        coverage: Option<PathBuf>,
    },
}

fn parse_budget(text: &str) -> Result<Duration, String> {
    chatsim::plan::parse_duration(text)
}

/// Progress on stderr: a bar on a terminal, a plain line per tenth when
/// piped.
struct Progress {
    bar: Option<Bar>,
    started: Instant,
    failed: AtomicUsize,
}

impl fuzz::Progress for Progress {
    fn case_done(&self, done: usize, total: usize, line: &CaseLine) {
        if line.verdict != "pass" {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let failed = self.failed.load(Ordering::SeqCst);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.set_message(format!("{rate:.0} cases/s, {failed} failed"));
            }
            None => {
                if done == total || done.is_multiple_of((total / 10).max(1)) {
                    err!("fuzz: {done}/{total} cases, {rate:.0} cases/s, {failed} failed");
                }
            }
        }
    }
}

pub fn fuzz(args: FuzzArgs) -> ExitCode {
    if let Some(FuzzAction::Merge {
        files,
        json,
        coverage,
    }) = args.action
    {
        return merge(&files, json, coverage.as_deref());
    }
    let Some(seeds) = args.seeds else {
        return output::usage(
            "chatsim fuzz: --seeds N is required (e.g. chatsim fuzz --seeds 1000)",
        );
    };
    if let Err(message) = crate::seed_range("fuzz", args.start, seeds) {
        return output::usage(message);
    }
    let options = fuzz::FuzzOptions {
        start: args.start,
        seeds,
        shard: args.shard,
        jobs: args.jobs.max(1),
        transport: args.transport,
        out: args.out,
        time_budget: args.time_budget,
        confirm_on_turmoil: !args.no_turmoil_check,
    };
    let cases = match options.seed_list() {
        Ok(list) => list.len() as u64,
        Err(e) => return output::usage(format!("chatsim fuzz: {e}")),
    };
    if let Some(message) = args.coverage.as_deref().and_then(missing_directory) {
        return output::usage(message);
    }
    let baseline = match args.baseline.as_deref().map(|p| read_baseline(p, &options)) {
        None => None,
        Some(Ok(file)) => Some(file),
        Some(Err(message)) => return output::usage(format!("chatsim fuzz: --baseline {message}")),
    };
    #[allow(clippy::disallowed_methods)] // progress display: wall time outside every run
    let progress = Progress {
        bar: output::stderr_is_terminal().then(|| Bar::new(cases, "fuzz")),
        started: Instant::now(),
        failed: AtomicUsize::new(0),
    };
    let result = fuzz::fuzz(&options, &progress);
    if let Some(bar) = &progress.bar {
        bar.finish();
    }
    let outputs = Outputs {
        json: args.json,
        coverage: args.coverage.as_deref(),
        baseline: args.baseline.as_deref().zip(baseline),
    };
    match result {
        Ok(tally) if args.report => {
            let written = crate::report::fuzz_failures(&tally, args.transport);
            let code = finish(&tally, &outputs);
            if written {
                code
            } else {
                ExitCode::from(2)
            }
        }
        Ok(tally) => finish(&tally, &outputs),
        Err(e) => output::usage(format!("chatsim fuzz: {e}")),
    }
}

/// The baseline file, if it covers the seeds about to run.
fn read_baseline(path: &Path, options: &fuzz::FuzzOptions) -> Result<fuzz::CoverageFile, String> {
    let file = fuzz::CoverageFile::read(path)?;
    let wanted = (options.start, options.seeds, options.transport.to_string());
    if options.shard.is_some() || (file.start, file.seeds, file.transport.clone()) != wanted {
        return Err(format!(
            "{}: covers seeds {}..{} on {}, not this run's (start {} seeds {} on {}{})",
            path.display(),
            file.start,
            file.start.saturating_add(file.seeds),
            file.transport,
            wanted.0,
            wanted.1,
            wanted.2,
            if options.shard.is_some() {
                ", sharded"
            } else {
                ""
            }
        ));
    }
    Ok(file)
}

fn finish(tally: &fuzz::Tally, outputs: &Outputs) -> ExitCode {
    let style = Style::stdout();
    if outputs.json {
        out!(
            "{}",
            serde_json::to_string(tally).expect("a tally serializes")
        );
        output::raw_err(&tally.summary());
        err!("{}", tally.tally_line());
    } else {
        output::raw(&color_failures(&style, &tally.summary()));
        out!("{}", tally.tally_line());
    }
    let verdict = output::Tally {
        passed: tally.passed,
        failed: tally.failed,
        load_errors: 0,
    };
    if tally.passed + tally.failed == 0 {
        err!("chatsim fuzz: no case ran");
    }
    if let Some(path) = outputs.coverage {
        if let Err(e) = tally.coverage_file().write(path) {
            return output::usage(format!("chatsim fuzz: --coverage {e}"));
        }
    }
    if let Some((path, baseline)) = &outputs.baseline {
        let diff = tally.coverage.against(&baseline.coverage);
        let update = format!(
            "chatsim fuzz --start {} --seeds {} --transport {} --coverage {}",
            tally.start,
            tally.seeds,
            tally.transport,
            path.display()
        );
        output::raw_err(&diff.report(&update));
        // A lost cell fails a green run; a worse verdict (2, or failed cases) stands.
        if !diff.lost.is_empty() && tally.failed == 0 && tally.cases > 0 {
            return ExitCode::FAILURE;
        }
    }
    verdict.exit_code()
}

/// The summary with each `: FAIL ` coloured.
fn color_failures(style: &Style, summary: &str) -> String {
    summary.replace(": FAIL ", &format!(": {} ", style.bad("FAIL")))
}

/// Checked before a run, so a long run is not lost to a typo: the
/// directory `--coverage FILE` writes into must exist.
fn missing_directory(path: &Path) -> Option<String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    (!dir.is_dir()).then(|| {
        format!(
            "chatsim fuzz: --coverage {}: directory {} does not exist",
            path.display(),
            dir.display()
        )
    })
}

fn merge(files: &[PathBuf], json: bool, coverage: Option<&Path>) -> ExitCode {
    let parts: Result<Vec<fuzz::Tally>, String> =
        files.iter().map(|f| fuzz::Tally::read(f)).collect();
    match parts.and_then(fuzz::Tally::merge) {
        Ok(tally) => finish(
            &tally,
            &Outputs {
                json,
                coverage,
                ..Outputs::default()
            },
        ),
        Err(e) => output::usage(format!("chatsim fuzz merge: {e}")),
    }
}
