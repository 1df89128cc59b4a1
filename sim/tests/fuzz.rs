//! The fuzzer: a short pass over the correct engine finds nothing; results
//! do not depend on `--jobs` or sharding; a planted violation shrinks to a
//! small schedule that replays the same way.

use std::path::Path;

use chatsim::fuzz::{self, Checked, CoverageFile, FuzzOptions, Quiet, Shard, Tally};
use chatsim::observe::invariants::Violation;
use chatsim::{Event, RunConfig, Transport};

fn options(start: u64, seeds: u64) -> FuzzOptions {
    FuzzOptions {
        start,
        seeds,
        shard: None,
        jobs: 1,
        transport: Transport::Fast,
        out: std::env::temp_dir().join(format!("chatsim-fuzz-test-{}", std::process::id())),
        time_budget: None,
        confirm_on_turmoil: true,
    }
}

/// Every CI run fuzzes: a short pass on the correct engine is green.
#[test]
fn a_short_fuzz_pass_finds_nothing() {
    let tally = fuzz::fuzz(&options(0, 120), &Quiet).expect("runs");
    assert_eq!(tally.cases, 120);
    assert_eq!(tally.failed, 0, "{}", tally.summary());
    let hit = tally.fault_kinds.values().filter(|k| k.hit > 0).count();
    assert!(hit >= tally.fault_kinds.len() - 2, "{}", tally.summary());
    keeps_the_coverage_baseline(&tally);
}

/// The coverage baseline: the exact cell set of the pass above.
const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/coverage-baseline.json");
/// The one command that rewrites it (from the repository's root).
const UPDATE_BASELINE: &str =
    "cargo run -p chatsim -- fuzz --seeds 120 --coverage sim/tests/coverage-baseline.json";

/// A baseline cell the pass no longer reaches fails; a new cell passes and
/// prints how to update the baseline.
fn keeps_the_coverage_baseline(tally: &Tally) {
    let baseline = CoverageFile::read(Path::new(BASELINE)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        baseline.same_range(&tally.coverage_file()),
        "{BASELINE} is not of this pass; {UPDATE_BASELINE}"
    );
    let diff = tally.coverage.against(&baseline.coverage);
    let report = diff.report(UPDATE_BASELINE);
    assert!(diff.lost.is_empty(), "{report}");
    if !diff.new.is_empty() {
        eprintln!("{report}");
    }
}

#[test]
fn jobs_and_shards_give_the_same_digest_and_merge_to_the_whole() {
    let whole = fuzz::fuzz(&options(500, 40), &Quiet).unwrap();
    let two_jobs = fuzz::fuzz(
        &FuzzOptions {
            jobs: 2,
            ..options(500, 40)
        },
        &Quiet,
    )
    .unwrap();
    assert_eq!(whole.digest, two_jobs.digest);
    assert_eq!(whole.results, two_jobs.results);
    assert_eq!(whole.coverage, two_jobs.coverage);
    assert!(!whole.coverage.cells.is_empty());
    let shard = |index| {
        let opts = FuzzOptions {
            shard: Some(Shard { index, count: 2 }),
            ..options(500, 40)
        };
        fuzz::fuzz(&opts, &Quiet).unwrap()
    };
    let (a, b) = (shard(0), shard(1));
    assert!(a.results.iter().all(|r| r.seed % 2 == 0));
    assert_eq!(a.cases + b.cases, 40);
    let merged = Tally::merge(vec![b.clone(), a.clone()]).unwrap();
    assert_eq!(merged.digest, whole.digest);
    assert_eq!(merged.results, whole.results);
    assert_eq!(merged.coverage, whole.coverage);
    assert_eq!((merged.passed, merged.failed), (whole.passed, whole.failed));
    let err = Tally::merge(vec![a.clone(), a]).unwrap_err();
    assert!(err.contains("appears twice"), "{err}");
    assert!(Tally::merge(vec![b]).unwrap_err().contains("do not cover"));
}

#[test]
fn shard_arguments_are_checked() {
    assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
    for bad in ["4/4", "1/0", "x/2", "1", "-1/2"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    let past_the_end = FuzzOptions {
        seeds: 2,
        ..options(u64::MAX, 2)
    };
    assert!(past_the_end
        .seed_list()
        .unwrap_err()
        .contains("past the last seed"));
}

/// A planted invariant — "no agent is ever OOM-killed" — is violated by a
/// large generated schedule; shrinking brings it down to the one fault
/// and the liveness turn, and the shrunk config replays the violation.
#[test]
fn a_planted_violation_shrinks_to_a_small_schedule() {
    let planted = |config: &RunConfig| {
        let outcome = chatsim::run_fast(config);
        let oom = outcome
            .trace
            .records()
            .iter()
            .find(|r| matches!(&r.event, Event::Fault { name, .. } if name == "agent_oom"));
        let violations = oom
            .map(|r| Violation {
                invariant: "planted_no_oom",
                at: r.at,
                message: "an agent was OOM-killed".into(),
            })
            .into_iter()
            .collect();
        Checked {
            outcome: Some(outcome),
            view: None,
            violations,
            findings: Vec::new(),
        }
    };
    let large = |seed: &u64| {
        let (schedule, _) = fuzz::draw(*seed).unwrap();
        schedule.active_faults().len() >= 4 && schedule.turns.len() >= 4
    };
    let result = (0..2000)
        .filter(large)
        .map(|seed| fuzz::run_case_with(seed, &planted).unwrap())
        .find(|result| result.checked.failure().is_some())
        .expect("some large schedule OOM-kills an agent");
    assert_eq!(result.checked.failure(), Some("planted_no_oom"));
    let shrunk = result.shrunk.expect("shrunk");
    assert!(result.schedule.size() >= 8, "{}", result.schedule.size());
    assert!(shrunk.schedule.size() <= 3, "{:#?}", shrunk.schedule);
    let faults = shrunk.schedule.active_faults();
    assert!(faults.len() == 1, "{faults:?}");
    assert_eq!(planted(&shrunk.config).failure(), Some("planted_no_oom"));
    // The shrunk case replays byte for byte.
    let again = chatsim::run_fast(&shrunk.config);
    let first = shrunk.checked.outcome.as_ref().unwrap();
    assert_eq!(again.hash(), first.hash());
}
