//! The fuzz campaign examples under `docs/examples/` run as written, with a
//! tiny seed count: every shard's `chatsim fuzz` line (its shard index
//! filled in as the CI matrix or the Indexed Job would), then `chatsim fuzz
//! merge` over their JSON, which must equal the unsharded run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Enough seeds that each of 8 shards gets some (an empty shard is a usage error).
const SEEDS: &str = "16";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The example's `chatsim fuzz …` shard command line.
fn shard_command(example: &str) -> String {
    let text = std::fs::read_to_string(root().join("docs/examples").join(example)).unwrap();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.starts_with('#') && l.contains("chatsim fuzz --"))
        .unwrap_or_else(|| panic!("{example}: no `chatsim fuzz` line"));
    let from = line.find("chatsim fuzz").unwrap();
    line[from..].to_string()
}

/// Runs `chatsim` with `args` (the first word, `chatsim`, dropped); `>`
/// redirects stdout into a file as the shell would.
fn run(words: &[String]) -> (i32, String) {
    let (args, redirect) = match words.iter().position(|w| w == ">") {
        Some(i) => (&words[1..i], Some(&words[i + 1])),
        None => (&words[1..], None),
    };
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(args)
        .output()
        .expect("chatsim runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    if let Some(file) = redirect {
        std::fs::write(file, &stdout).unwrap();
    }
    (output.status.code().unwrap_or(-1), stdout)
}

fn digest(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).expect("one JSON object");
    value["digest"].as_str().unwrap().to_string()
}

fn campaign(example: &str, index_placeholder: &str) {
    let dir =
        std::env::temp_dir().join(format!("chatsim-example-{}-{example}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let line = shard_command(example);
    let count: u64 = line
        .split_once(&format!("{index_placeholder}/"))
        .and_then(|(_, n)| n.split_whitespace().next())
        .expect("--shard <index>/<count>")
        .parse()
        .unwrap();
    let mut files = Vec::new();
    for index in 0..count {
        let words: Vec<String> = line
            .replace(index_placeholder, &index.to_string())
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let shard: Vec<String> = words
            .iter()
            .enumerate()
            .map(
                |(i, w)| match words.get(i.wrapping_sub(1)).map(String::as_str) {
                    Some("--seeds") => SEEDS.to_string(),
                    Some("--out") => dir.join("failures").display().to_string(),
                    Some(">") => {
                        let name = Path::new(w).file_name().unwrap();
                        dir.join(name).display().to_string()
                    }
                    _ => w.clone(),
                },
            )
            .collect();
        let (code, _) = run(&shard);
        assert_eq!(code, 0, "{example}: {shard:?}");
        files.push(shard.last().unwrap().clone());
    }
    let mut merge = vec![
        "chatsim".into(),
        "fuzz".into(),
        "merge".into(),
        "--json".into(),
    ];
    merge.extend(files);
    let (code, merged) = run(&merge);
    assert_eq!(code, 0, "{merge:?}");
    let whole: Vec<String> = [
        "chatsim", "fuzz", "--start", "0", "--seeds", SEEDS, "--json",
    ]
    .map(String::from)
    .to_vec();
    let (code, unsharded) = run(&whole);
    assert_eq!(code, 0);
    assert_eq!(digest(&merged), digest(&unsharded), "{example}");
}

#[test]
fn the_github_actions_matrix_runs_and_merges() {
    campaign("github-actions-fuzz.yml", "${{ matrix.shard }}");
}

#[test]
fn the_kubernetes_indexed_job_runs_and_merges() {
    campaign("k8s-fuzz-job.yaml", "$JOB_COMPLETION_INDEX");
}
