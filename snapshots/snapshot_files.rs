//! `snapshots/` holds one snapshot per scenario file, and nothing else
//! insta could pick up: every `<stem>.snap` has its `scenarios/<stem>.toml`
//! (a renamed or deleted scenario leaves its old snapshot behind, which no
//! test reads any more).
//!
//! This test lives in `snapshots/` on purpose (it is `sim/Cargo.toml`'s
//! `snapshot_files` target): cargo-insta looks for pending snapshots only
//! in each package's directory and in the directories of its targets'
//! source files, so without a target here `cargo insta review`,
//! `accept`, `pending-snapshots` and `test` would never see
//! `snapshots/*.snap.new`. The scenario snapshots themselves are written by
//! `sim/tests/scenarios.rs`.

use std::path::Path;

#[test]
fn every_snapshot_has_its_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ has a parent");
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(root.join("snapshots")).expect("snapshots/ lists") {
        let path = entry.expect("a readable entry").path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".snap"))
        else {
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
