//! `chatsim fuzz` and `chatsim fuzz merge`.

use std::path::PathBuf;
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
    /// The bug zoo (`--list-bugs`, `--bug`, `--findability`, `--kill-matrix`).
    #[command(flatten)]
    zoo: crate::bugs::ZooArgs,
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
                if done == total || done % (total / 10).max(1) == 0 {
                    err!("fuzz: {done}/{total} cases, {rate:.0} cases/s, {failed} failed");
                }
            }
        }
    }
}

pub fn fuzz(args: FuzzArgs) -> ExitCode {
    if let Some(FuzzAction::Merge { files, json }) = args.action {
        return merge(&files, json);
    }
    if args.zoo.any() {
        if args.shard.is_some() || args.json || args.time_budget.is_some() {
            return output::usage(
                "chatsim fuzz: --shard, --json and --time-budget do not apply to the bug zoo's flags",
            );
        }
        let context = crate::bugs::FuzzContext {
            start: args.start,
            seeds: args.seeds,
            jobs: args.jobs.max(1),
            transport: args.transport,
            out: args.out,
        };
        return crate::bugs::fuzz("fuzz", &args.zoo, context);
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
    match result {
        Ok(tally) => finish(&tally, args.json),
        Err(e) => output::usage(format!("chatsim fuzz: {e}")),
    }
}

fn finish(tally: &fuzz::Tally, json: bool) -> ExitCode {
    let style = Style::stdout();
    if json {
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
    verdict.exit_code()
}

/// The summary with each `: FAIL ` coloured.
fn color_failures(style: &Style, summary: &str) -> String {
    summary.replace(": FAIL ", &format!(": {} ", style.bad("FAIL")))
}

fn merge(files: &[PathBuf], json: bool) -> ExitCode {
    let parts: Result<Vec<fuzz::Tally>, String> =
        files.iter().map(|f| fuzz::Tally::read(f)).collect();
    match parts.and_then(fuzz::Tally::merge) {
        Ok(tally) => finish(&tally, json),
        Err(e) => output::usage(format!("chatsim fuzz merge: {e}")),
    }
}
