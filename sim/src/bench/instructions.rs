//! `chatsim bench --instructions`: instructions executed per run, counted
//! by callgrind.
//!
//! Wall time on a shared machine moves with its load; an instruction count
//! does not: the same story, seed and binary execute the same instructions
//! every time. Each count runs the bench's own child under
//! `valgrind --tool=callgrind`, collecting only inside [`COLLECTED`] (the
//! runs, not process start-up, argument parsing or the JSON answer), and reads the total `Ir` from the profile callgrind writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Budget, Mode};

/// The function whose calls callgrind counts: the child's measured runs
/// (and its few-hundred-instruction bookkeeping around them; the peak RSS
/// is read outside it).
pub const COLLECTED: &str = "chatsim::bench::measure";

/// Whether `valgrind` runs here.
pub fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Instructions of one run of `story` in `mode` (the mean over `runs`
/// runs, seeds 0.. in order), counted by callgrind in a child of `exe`.
pub fn count(exe: &Path, story: &str, mode: Mode, runs: u32) -> Result<u64, String> {
    let runs = runs.max(1);
    let out = profile_path(story, mode);
    let budget = Budget {
        // Long enough that `runs` bounds the loop, not the wall clock.
        min_wall: std::time::Duration::from_secs(1 << 30),
        max_runs: runs,
        virtual_cap: None,
    };
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!("--toggle-collect={COLLECTED}"))
        .arg(exe)
        .args(super::child_args(story, mode, budget))
        .output()
        .map_err(|e| format!("running valgrind: {e}"))?;
    let profile = std::fs::read_to_string(&out);
    let _ = std::fs::remove_file(&out);
    if !output.status.success() {
        return Err(format!(
            "{story} ({}) under callgrind failed: {}",
            mode.name(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let total = profile
        .map_err(|e| format!("reading {}: {e}", out.display()))
        .and_then(|text| total_ir(&text))?;
    if total == 0 {
        return Err(format!(
            "{story} ({}): callgrind counted nothing inside {COLLECTED}",
            mode.name()
        ));
    }
    Ok(total / u64::from(runs))
}

fn profile_path(story: &str, mode: Mode) -> PathBuf {
    std::env::temp_dir().join(format!(
        "chatsim-callgrind-{}-{story}-{}.out",
        std::process::id(),
        mode.name()
    ))
}

/// The total `Ir` of a callgrind profile (its `summary:` line, or
/// `totals:` when there is none).
pub fn total_ir(profile: &str) -> Result<u64, String> {
    let line = |key: &str| {
        profile
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    let value = line("summary:")
        .or_else(|| line("totals:"))
        .ok_or("a callgrind profile without a summary line")?;
    let first = value.split_whitespace().next().unwrap_or_default();
    first
        .parse()
        .map_err(|_| format!("a callgrind summary that is not a count: {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_gives_the_total() {
        let profile =
            "version: 1\nevents: Ir\nfn=(1) main\n3 7\nsummary: 15234567\ntotals: 15234567\n";
        assert_eq!(total_ir(profile), Ok(15_234_567));
        assert_eq!(total_ir("events: Ir\ntotals: 42\n"), Ok(42));
        assert!(total_ir("events: Ir\n").is_err());
        assert!(total_ir("summary: many\n").is_err());
    }
}
