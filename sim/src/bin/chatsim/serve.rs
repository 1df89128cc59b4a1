//! `chatsim serve --mcp`: an MCP server over stdio on a simulated
//! deployment (the library's `serve` module). stdout carries MCP only;
//! the summary goes to stderr. When stdin closes, the recording, its
//! transcript and the summary are written next to `--record`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;

use chatsim::scenario;
use chatsim::serve::{self, McpServer, Served, Session};
use rmcp::ServiceExt;

use crate::output::{self, err};

/// Where the recording goes without `--record`.
const DEFAULT_RECORD: &str = "chatsim-serve.toml";

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Speak MCP (newline-delimited JSON-RPC) over stdin/stdout; the only
    /// protocol `serve` has.
    #[arg(long, required = true)]
    mcp: bool,
    /// The scenario to serve (its world, settings, faults and scripted
    /// turns; its model turns are left out). Default: the `default` world.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// The run's seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Where to write the recording when stdin closes; the transcript and
    /// the summary go beside it as OUT.transcript.txt and
    /// OUT.summary.json.
    #[arg(long, value_name = "OUT", default_value = DEFAULT_RECORD)]
    record: PathBuf,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    let session = match &args.scenario {
        Some(file) => match scenario::load(file) {
            Ok(loaded) => match Session::new(&loaded, args.seed) {
                Ok(session) => session,
                Err(message) => return output::usage(format!("chatsim serve: {message}")),
            },
            Err(errors) => {
                for error in errors {
                    err!("{error}");
                }
                return ExitCode::from(2);
            }
        },
        None => Session::default_world(args.seed),
    };
    let (requests, inbox) = mpsc::channel();
    let record = args.record.clone();
    // The run stays on one thread (it is all `Rc`); this thread exists so
    // that the MCP I/O, outside the run, can wait on stdin meanwhile.
    #[allow(clippy::disallowed_methods)]
    let simulation = std::thread::spawn(move || serve::simulate(&session, inbox, &record));
    if let Err(message) = speak_mcp(McpServer::new(requests)) {
        err!("chatsim serve: {message}");
    }
    let served = match simulation.join() {
        Ok(Ok(served)) => served,
        Ok(Err(message)) => {
            err!("chatsim serve: {message}");
            return ExitCode::FAILURE;
        }
        Err(_) => {
            err!("chatsim serve: the simulation thread panicked");
            return ExitCode::FAILURE;
        }
    };
    if let Err(message) = write(&args.record, &served) {
        return output::usage(format!("chatsim serve: {message}"));
    }
    output::raw_err(&served.summary.lines());
    err!(
        "recorded {} (replay: chatsim run {})",
        args.record.display(),
        args.record.display()
    );
    let summary = &served.summary;
    let passed = summary.run_error.is_none()
        && summary.violations.is_empty()
        && summary.recording_errors.is_empty();
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Serves MCP on stdio until stdin closes; dropping the server then closes
/// the simulation's channel, which ends the run.
fn speak_mcp(server: McpServer) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the MCP runtime: {e}"))?;
    runtime.block_on(async {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| format!("MCP initialization failed: {e}"))?;
        running
            .waiting()
            .await
            .map(|_| ())
            .map_err(|e| format!("the MCP service failed: {e}"))
    })
}

/// `OUT.<suffix>`: a side file of the recording `OUT` (`run.toml.summary.json`).
pub fn beside(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn write(out: &Path, served: &Served) -> Result<(), String> {
    let summary = serde_json::to_string_pretty(&served.summary).map_err(|e| e.to_string())? + "\n";
    for (path, text) in [
        (out.to_path_buf(), &served.record),
        (beside(out, "transcript.txt"), &served.transcript),
        (beside(out, "summary.json"), &summary),
    ] {
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
