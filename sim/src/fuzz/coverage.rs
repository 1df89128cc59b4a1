//! What a fuzz run reached, over all its cases: each reachability goal
//! with the first seed that reached it (or none), and each coverage cell
//! with its first seed. Built from the case lines sorted by seed, so no
//! `--jobs` or `--shard` split changes it; `--coverage FILE` writes it as
//! JSON, and a committed baseline of CI's fixed-seed pass is compared
//! against it ([`Coverage::against`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::report::CaseLine;
use crate::observe::coverage::Cell;
use crate::observe::reach::GOALS;

/// A cell and the first seed that reached it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeenCell {
    /// The cell.
    #[serde(flatten)]
    pub cell: Cell,
    /// The smallest seed whose run reached it.
    pub first_seed: u64,
}

/// A fuzz run's reachability report and coverage matrix.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Every goal (by name) → the first seed that reached it; `None`: never.
    pub goals: BTreeMap<String, Option<u64>>,
    /// Every cell reached, sorted by cell.
    pub cells: Vec<SeenCell>,
}

/// The file `--coverage FILE` writes: the run's range, then its coverage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoverageFile {
    /// The first seed of the range.
    pub start: u64,
    /// How many seeds the range has.
    pub seeds: u64,
    /// The transport the cases ran on.
    pub transport: String,
    /// Cases run.
    pub cases: u64,
    /// The goals and cells.
    #[serde(flatten)]
    pub coverage: Coverage,
}

impl Coverage {
    /// The coverage of `lines` (any order).
    pub fn of(lines: &[CaseLine]) -> Coverage {
        let mut goals: BTreeMap<String, Option<u64>> =
            GOALS.iter().map(|g| (g.name.to_string(), None)).collect();
        let mut cells: BTreeMap<&Cell, u64> = BTreeMap::new();
        for line in lines {
            for name in &line.reached {
                let first = goals.entry(name.clone()).or_default();
                *first = Some(first.map_or(line.seed, |s| s.min(line.seed)));
            }
            for cell in &line.cells {
                let first = cells.entry(cell).or_insert(line.seed);
                *first = (*first).min(line.seed);
            }
        }
        Coverage {
            goals,
            cells: cells
                .into_iter()
                .map(|(cell, first_seed)| SeenCell {
                    cell: cell.clone(),
                    first_seed,
                })
                .collect(),
        }
    }

    /// The cells `baseline` has and this lacks, and those this has and it
    /// lacks (first seeds ignored).
    pub fn against(&self, baseline: &Coverage) -> BaselineDiff {
        let ours: BTreeSet<&Cell> = self.cells.iter().map(|c| &c.cell).collect();
        let theirs: BTreeSet<&Cell> = baseline.cells.iter().map(|c| &c.cell).collect();
        BaselineDiff {
            lost: theirs.difference(&ours).map(|c| (*c).clone()).collect(),
            new: ours.difference(&theirs).map(|c| (*c).clone()).collect(),
        }
    }

    /// The report: goals reached with their first seed, those never
    /// reached, then the matrix's size and what each axis reached.
    pub fn summary(&self) -> String {
        let reached: Vec<String> = self
            .goals
            .iter()
            .filter_map(|(name, seed)| seed.map(|s| format!("{name} (seed {s})")))
            .collect();
        let never: Vec<&str> = self
            .goals
            .iter()
            .filter(|(_, seed)| seed.is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        let mut out = format!(
            "goals reached {}/{}: {}\n",
            reached.len(),
            self.goals.len(),
            reached.join(", ")
        );
        if !never.is_empty() {
            out += &format!("goals never reached: {}\n", never.join(", "));
        }
        let axis = |pick: fn(&Cell) -> &str| -> String {
            let values: BTreeSet<&str> = self.cells.iter().map(|c| pick(&c.cell)).collect();
            values.into_iter().collect::<Vec<_>>().join(" ")
        };
        out += &format!(
            "coverage: {} cells; workspace: {}; agent: {}; faults: {}; tools: {}\n",
            self.cells.len(),
            axis(|c| &c.workspace),
            axis(|c| &c.agent),
            axis(|c| &c.fault),
            axis(|c| &c.tool)
        );
        out
    }
}

/// A run's cells against a committed baseline's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaselineDiff {
    /// Cells the baseline has and the run did not reach: a failure.
    pub lost: Vec<Cell>,
    /// Cells the run reached beyond the baseline: the baseline is stale.
    pub new: Vec<Cell>,
}

impl BaselineDiff {
    /// What to tell the user: the lost cells, then the new ones with how to
    /// update the baseline (`update`: the command that rewrites it); empty
    /// when the sets are equal.
    pub fn report(&self, update: &str) -> String {
        let list =
            |cells: &[Cell]| -> String { cells.iter().map(|c| format!("  {c}\n")).collect() };
        let mut out = String::new();
        if !self.lost.is_empty() {
            out += &format!(
                "coverage lost {} baseline cell(s):\n{}",
                self.lost.len(),
                list(&self.lost)
            );
        }
        if !self.new.is_empty() {
            out += &format!(
                "coverage reached {} cell(s) beyond the baseline:\n{}",
                self.new.len(),
                list(&self.new)
            );
        }
        if !out.is_empty() {
            out += &format!("update the baseline if intended: {update}\n");
        }
        out
    }
}

/// One value as compact JSON.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

impl CoverageFile {
    /// Whether `other` covers the same seeds on the same transport.
    pub fn same_range(&self, other: &CoverageFile) -> bool {
        (self.start, self.seeds, &self.transport) == (other.start, other.seeds, &other.transport)
    }

    /// Writes the file: JSON with one goal and one cell per line, sorted,
    /// so a changed baseline diffs line by line.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        std::fs::write(path, self.text())
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))
    }

    /// The text [`CoverageFile::write`] writes.
    pub fn text(&self) -> String {
        let goals: Vec<String> = self
            .coverage
            .goals
            .iter()
            .map(|(name, seed)| format!("    {}: {}", json(name), json(seed)))
            .collect();
        let cells: Vec<String> = self
            .coverage
            .cells
            .iter()
            .map(|c| format!("    {}", json(c)))
            .collect();
        format!(
            "{{\n  \"start\": {},\n  \"seeds\": {},\n  \"transport\": {},\n  \"cases\": {},\n  \"goals\": {{\n{}\n  }},\n  \"cells\": [\n{}\n  ]\n}}\n",
            self.start,
            self.seeds,
            json(&self.transport),
            self.cases,
            goals.join(",\n"),
            cells.join(",\n")
        )
    }

    /// Reads a file [`CoverageFile::write`] wrote.
    pub fn read(path: &Path) -> Result<CoverageFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a coverage file: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::reach::{QUOTA_ON_START, TURN_CANCELED};

    fn cell(tool: &str) -> Cell {
        Cell {
            workspace: "start.succeeded".into(),
            agent: "connected".into(),
            fault: "none".into(),
            tool: tool.into(),
        }
    }

    fn line(seed: u64, reached: &[&str], cells: &[Cell]) -> CaseLine {
        CaseLine {
            seed,
            verdict: "pass".into(),
            trace_hash: String::new(),
            virtual_ms: 0,
            faults_hit: vec![],
            enabled: vec![],
            persona: String::new(),
            persona_played: false,
            reached: reached.iter().map(|s| s.to_string()).collect(),
            cells: cells.to_vec(),
            findings: vec![],
            failure: None,
        }
    }

    /// First seeds are the minimum whatever the order lines arrive in, and
    /// every goal is listed, reached or not.
    #[test]
    fn first_seeds_are_the_smallest_in_any_order() {
        let lines = [
            line(9, &[QUOTA_ON_START], &[cell("execute"), cell("read_file")]),
            line(4, &[QUOTA_ON_START], &[cell("read_file")]),
            line(6, &[], &[cell("execute")]),
        ];
        let coverage = Coverage::of(&lines);
        let mut reversed = lines.to_vec();
        reversed.reverse();
        assert_eq!(Coverage::of(&reversed), coverage);
        assert_eq!(coverage.goals.len(), GOALS.len());
        assert_eq!(coverage.goals[QUOTA_ON_START], Some(4));
        assert_eq!(coverage.goals[TURN_CANCELED], None);
        let seeds: Vec<(String, u64)> = coverage
            .cells
            .iter()
            .map(|c| (c.cell.tool.clone(), c.first_seed))
            .collect();
        assert_eq!(seeds, [("execute".into(), 6), ("read_file".into(), 4)]);
        assert!(coverage.summary().contains("goals never reached: "));
    }

    #[test]
    fn a_baseline_diff_names_lost_and_new_cells() {
        let baseline = Coverage::of(&[line(0, &[], &[cell("execute"), cell("read_file")])]);
        let run = Coverage::of(&[line(0, &[], &[cell("execute"), cell("stop_workspace")])]);
        let diff = run.against(&baseline);
        assert_eq!(diff.lost, [cell("read_file")]);
        assert_eq!(diff.new, [cell("stop_workspace")]);
        let report = diff.report("do-this");
        assert!(report.contains("lost 1 baseline cell"), "{report}");
        assert!(report.contains("update the baseline if intended: do-this"));
        assert_eq!(run.against(&run), BaselineDiff::default());
        assert_eq!(run.against(&run).report("x"), "");
    }

    #[test]
    fn the_file_reads_back_as_written() {
        let file = CoverageFile {
            start: 3,
            seeds: 2,
            transport: "fast".into(),
            cases: 2,
            coverage: Coverage::of(&[line(3, &[QUOTA_ON_START], &[cell("execute")])]),
        };
        let back: CoverageFile = serde_json::from_str(&file.text()).unwrap();
        assert_eq!(back, file);
        assert!(
            file.text().contains("\n    {\"workspace\":"),
            "{}",
            file.text()
        );
    }
}
