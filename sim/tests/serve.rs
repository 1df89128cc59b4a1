//! `chatsim serve --mcp` end to end: a scripted MCP client in this process
//! drives the real binary over stdio (newline-delimited JSON-RPC), reads
//! each response and picks its next call from it. It plays the OOM story
//! (`scenarios/oom-recovered-by-restart.toml`: the client is the model) —
//! once following the stop/start advice, once ignoring it, once with the
//! fault on a call count (`oom-after-bind-call.toml`) — and then `chatsim
//! run` replays each recording with the served run's trace hash.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_chatsim");

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A client speaking MCP to a `chatsim serve --mcp` child.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Client {
    fn start(scenario: &Path, record: &Path) -> Client {
        let mut child = Command::new(BIN)
            .args(["serve", "--mcp", "--scenario"])
            .arg(scenario)
            .arg("--record")
            .arg(record)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chatsim serve starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut client = Client {
            child,
            stdin,
            stdout,
            next_id: 0,
        };
        let init = client.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "scripted-client", "version": "0" }
            }),
        );
        assert_eq!(init["serverInfo"]["name"], "chatsim", "{init}");
        client.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        client
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{message}").expect("write to serve");
        stdin.flush().expect("flush");
    }

    /// Sends a request and reads lines until its response comes.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let read = self.stdout.read_line(&mut line).expect("read from serve");
            assert!(read > 0, "serve closed stdout before answering {method}");
            let message: Value = serde_json::from_str(&line).expect("a JSON-RPC line");
            if message["id"] == json!(id) {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// Calls a tool: (text, isError).
    fn call(&mut self, name: &str, arguments: Value) -> (String, bool) {
        let result = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert_eq!(result["content"][0]["type"], "text", "{result}");
        (text.to_string(), result["isError"] == json!(true))
    }

    /// Closes stdin (the end of the session) and waits for the exit code.
    fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        let out = self.child.wait_with_output().expect("serve exits");
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out.status.code().expect("an exit code")
    }
}

fn is_advice(text: &str) -> bool {
    text.contains("call stop_workspace to stop the workspace, then start_workspace")
}

/// The OOM story with the client as the model: it waits past the OOM, runs
/// the command until the tool gives recovery advice, then follows it (or
/// keeps running the command). Returns what it saw.
fn play_oom(client: &mut Client, follow: bool) -> Vec<String> {
    let mut seen = Vec::new();
    let tools = client.request("tools/list", json!({}));
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("a tool list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for want in [
        "list_templates",
        "stop_workspace",
        "start_workspace",
        "execute",
        "wait",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let (waited, _) = client.call("wait", json!({"duration": "5m"}));
    seen.push(waited);
    let command = json!({"command": "make test"});
    for _ in 0..10 {
        let (text, is_error) = client.call("execute", command.clone());
        seen.push(text.clone());
        if is_advice(&text) {
            if follow {
                let (stopped, stop_error) = client.call("stop_workspace", json!({}));
                assert!(!stop_error, "{stopped}");
                let (started, start_error) = client.call("start_workspace", json!({}));
                assert!(!start_error, "{started}");
                let (ran, ran_error) = client.call("execute", command.clone());
                assert!(!ran_error, "after recovery: {ran}");
                seen.push(ran);
            } else {
                let (again, _) = client.call("execute", command.clone());
                seen.push(again);
            }
            return seen;
        }
        assert!(is_error, "the agent died of OOM at 5m; execute got: {text}");
        // Not advice yet (the disconnect is younger than the threshold):
        // give it time and try again.
        client.call("wait", json!({"duration": "30s"}));
    }
    panic!("no recovery advice in 10 tries: {seen:?}");
}

fn summary_of(record: &Path) -> Value {
    let text = std::fs::read_to_string(beside(record, "summary.json")).expect("summary");
    serde_json::from_str(&text).expect("summary JSON")
}

/// `chatsim run --json RECORD`: (exit code, the result line).
fn replay(record: &Path) -> (i32, Value) {
    let out = Command::new(BIN)
        .args(["run", "--json"])
        .arg(record)
        .output()
        .expect("chatsim run");
    let line = String::from_utf8_lossy(&out.stdout);
    let result = serde_json::from_str(line.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("chatsim run --json: {e}: {line}"));
    (out.status.code().expect("an exit code"), result)
}

/// Removes a recording and the files beside it (kept when a test fails).
fn remove(record: &Path) {
    for path in [
        record.to_path_buf(),
        beside(record, "summary.json"),
        beside(record, "transcript.txt"),
    ] {
        let _ = std::fs::remove_file(path);
    }
}

fn temp_record(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chatsim-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{name}.toml"))
}

#[test]
fn a_client_following_the_advice_recovers_and_its_run_replays_byte_for_byte() {
    let scenario = workspace_root().join("scenarios/oom-recovered-by-restart.toml");
    let record = temp_record("followed");
    let mut client = Client::start(&scenario, &record);
    let seen = play_oom(&mut client, true);
    assert!(
        seen.last().is_some_and(|s| s.contains("make test")),
        "{seen:?}"
    );
    assert_eq!(client.finish(), 0, "the served run's invariants held");

    let summary = summary_of(&record);
    assert_eq!(summary["transport"], "fast");
    assert_eq!(
        summary["advice"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );
    assert_eq!(summary["advice"][0]["followed"], true, "{summary}");
    assert_eq!(summary["followed_all"], true);
    assert_eq!(summary["violations"], json!([]));

    let (code, result) = replay(&record);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["transport"], "fast");
    assert_eq!(
        result["trace_hash"], summary["trace_hash"],
        "the replay is the served run"
    );
    // `chatsim trace` of the recording runs on its own transport too: the
    // served run's trace, line for line.
    let traced = Command::new(BIN)
        .arg("trace")
        .arg(&record)
        .output()
        .expect("chatsim trace");
    let text = String::from_utf8(traced.stdout).expect("UTF-8 trace");
    let trace = chatsim::Trace::parse(&text).expect("a trace");
    assert_eq!(json!(trace.hash()), summary["trace_hash"]);
    let transcript =
        std::fs::read_to_string(beside(&record, "transcript.txt")).expect("transcript");
    assert!(
        transcript.contains("\"mcp-2\" in chat main"),
        "{transcript}"
    );
    assert!(transcript.contains("> stop_workspace"), "{transcript}");

    // The recording served again: its turns play first (the client's calls
    // included), and the new client's calls count on after them.
    let again = temp_record("followed-again");
    let mut client = Client::start(&record, &again);
    let (ran, is_error) = client.call("execute", json!({"command": "echo again"}));
    assert!(!is_error, "{ran}");
    assert_eq!(client.finish(), 0);
    let (code, result) = replay(&again);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["trace_hash"], summary_of(&again)["trace_hash"]);
    remove(&record);
    remove(&again);
}

#[test]
fn a_fault_after_the_nth_call_fires_in_a_served_run_and_replays() {
    // The agent dies right after the driver's third call result (the
    // scenario's scripted bind at 2m); the client then plays the model.
    let scenario = workspace_root().join("scenarios/oom-after-bind-call.toml");
    let record = temp_record("after-call");
    let mut client = Client::start(&scenario, &record);
    play_oom(&mut client, true);
    assert_eq!(client.finish(), 0);
    let summary = summary_of(&record);
    assert_eq!(summary["advice"][0]["followed"], true, "{summary}");
    let recording = std::fs::read_to_string(&record).expect("recording");
    assert!(recording.contains("after_call = 3"), "{recording}");
    let (code, result) = replay(&record);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["trace_hash"], summary["trace_hash"]);
    remove(&record);
}

#[test]
fn a_client_ignoring_the_advice_is_flagged_by_the_summary() {
    let scenario = workspace_root().join("scenarios/oom-recovered-by-restart.toml");
    let record = temp_record("ignored");
    let mut client = Client::start(&scenario, &record);
    let seen = play_oom(&mut client, false);
    assert!(seen.iter().any(|s| is_advice(s)), "{seen:?}");
    client.finish();

    let summary = summary_of(&record);
    let advice = summary["advice"].as_array().expect("advice");
    assert!(!advice.is_empty(), "{summary}");
    assert_eq!(advice[0]["followed"], false, "{summary}");
    assert_eq!(advice[0]["next"], json!(["execute"]), "{summary}");
    assert_eq!(summary["followed_all"], false);

    let (_, result) = replay(&record);
    assert_eq!(
        result["trace_hash"], summary["trace_hash"],
        "the replay is the served run"
    );
    remove(&record);
}

#[test]
fn bad_input_is_a_usage_error_naming_it() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("chatsim serve");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), stderr)
    };
    let (code, stderr) = run(&["serve"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--mcp"), "{stderr}");
    let (code, stderr) = run(&["serve", "--mcp", "--scenario", "/nonexistent/story.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/story.toml:1:1: cannot read the file"),
        "{stderr}"
    );
}

/// `OUT.<suffix>`: where serve writes the recording's side files.
fn beside(record: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = record.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    std::path::PathBuf::from(name)
}
