//! `snapshots/` holds one snapshot per scenario file, and nothing else
//! insta could pick up: every `<stem>.snap` has its `scenarios/<stem>.toml`
//! (a renamed or deleted scenario leaves its old snapshot behind, which no
//! test reads any more), and no `.snap.new` or `.pending-snap` is left
//! unreviewed (CI has no cargo-insta: this plain test is what catches one).
//!
//! This test lives in `snapshots/` on purpose (it is `sim/Cargo.toml`'s
//! `snapshot_files` target): cargo-insta looks for pending snapshots only
//! in each package's directory and in the directories of its targets'
//! source files, so without a target here `cargo insta review`,
//! `accept`, `pending-snapshots` and `test` would never see
//! `snapshots/*.snap.new`. The scenario snapshots themselves are written by
//! `sim/tests/scenarios.rs`.

use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ has a parent")
        .to_path_buf()
}

/// The file names in `snapshots/`.
fn snapshot_dir_names() -> Vec<String> {
    let dir = std::fs::read_dir(root().join("snapshots")).expect("snapshots/ lists");
    let mut names: Vec<String> = dir
        .map(|entry| entry.expect("a readable entry").file_name())
        .filter_map(|name| name.to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn no_pending_snapshot_is_left_behind() {
    let pending: Vec<String> = snapshot_dir_names()
        .into_iter()
        .filter(|n| n.ends_with(".snap.new") || n.ends_with(".pending-snap"))
        .map(|n| format!("snapshots/{n}: review it (`cargo insta review`) or delete it"))
        .collect();
    assert!(pending.is_empty(), "{}", pending.join("\n"));
}

#[test]
fn every_snapshot_has_its_scenario() {
    let root = root();
    let mut orphans = Vec::new();
    for name in snapshot_dir_names() {
        let Some(stem) = name.strip_suffix(".snap") else {
            continue;
        };
        if !root
            .join("scenarios")
            .join(format!("{stem}.toml"))
            .is_file()
        {
            orphans.push(format!(
                "snapshots/{stem}.snap: no scenarios/{stem}.toml (delete the snapshot, or `git mv` it with its renamed scenario)"
            ));
        }
    }
    orphans.sort();
    assert!(orphans.is_empty(), "{}", orphans.join("\n"));
}
