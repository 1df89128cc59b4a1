//! One story, two transports: the same run on turmoil and on the fast
//! transport gives the model and the user the same story (`Trace::story`:
//! per turn the prompts coderd built, every call with its input and its
//! response byte for byte, keyed by turn and call, the model's outcome and
//! the turn's end, then the run's outcome; the string values of `*_at`
//! JSON keys masked — see `trace::mask_times`). Only timings differ. The
//! fault tests (`tests/faults.rs`) and every scenario
//! (`tests/scenarios.rs`) compare their stories the same way.
//!
//! A generated seed whose fault or parallel call lands within a second or
//! so of a racing event can resolve that race differently on the two
//! transports — turmoil rounds every message to its 100 ms tick (a round
//! trip ≈ 0.2 s), the fast transport draws 1–50 ms per message. Of seeds
//! 0..200 (with the registry's fault mix, which draws every kind, the
//! user's turn cancellation included), 7 do: 24, 38, 54, 110, 168, 193,
//! 197. The races seen in such seeds: a wedged agent recovers just as
//! `create_workspace` asks whether ws1 was recently connected; a respawned
//! agent's startup script times out just before or after `start_workspace`
//! reads it; `inspect` right after a dashboard restart reads lifecycle
//! `starting` or `ready`; coderd hands a job to an acquire request of a
//! provisioner that just crashed, or whose link is held (the job succeeds
//! on turmoil and is failed as hung on fast).
//! The seeds below are a fixed range that tells the same story.

use chatsim::{gen, run, run_with, stories, RunConfig, Transport};

fn assert_same_story(name: &str, config: &RunConfig) {
    let turmoil = run_with(config, Transport::Turmoil);
    let fast = run_with(config, Transport::Fast);
    assert!(turmoil.is_ok(), "{name} on turmoil: {:?}", turmoil.error);
    assert!(fast.is_ok(), "{name} on fast: {:?}", fast.error);
    let (a, b) = (turmoil.trace.story(), fast.trace.story());
    if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        panic!(
            "{name} tells another story on the fast transport at line {}:\n  turmoil: {:?}\n  fast:    {:?}",
            i + 1,
            a.get(i),
            b.get(i)
        );
    }
    assert!(a.len() > 2, "{name}: a story with calls");
}

#[test]
fn the_reference_stories_are_the_same_on_both_transports() {
    for seed in 0..3 {
        assert_same_story(&format!("oom seed {seed}"), &stories::oom_story(seed));
        let quota = stories::quota_story(seed);
        assert_same_story(&format!("quota seed {seed}"), &quota);
        let parallel = stories::parallel_create_story(seed);
        assert_same_story(&format!("parallel create seed {seed}"), &parallel);
    }
    let churn = stories::churn_story(1, 3, std::time::Duration::from_secs(20 * 60));
    assert_same_story("churn 3 workspaces 20 min", &churn);
}

#[test]
fn generated_seeds_are_the_same_story_on_both_transports() {
    for seed in 0..24 {
        assert_same_story(&format!("mixed seed {seed}"), &gen::mixed(seed));
    }
}

#[test]
fn generated_seeds_replay_byte_for_byte_on_each_transport() {
    for transport in Transport::ALL {
        for seed in 0..4 {
            let config = gen::mixed(seed);
            let (a, b) = (run_with(&config, transport), run_with(&config, transport));
            assert!(a.is_ok(), "seed {seed} on {transport}: {:?}", a.error);
            if let Some(diff) = a.trace.first_difference(&b.trace) {
                panic!("seed {seed} is not deterministic on {transport}: {diff}");
            }
            assert_eq!(a.hash(), b.hash());
            assert_eq!(a.summary, b.summary);
            assert_eq!(a.elapsed, b.elapsed);
        }
    }
}

#[test]
fn the_reference_stories_replay_byte_for_byte_on_each_transport() {
    for transport in Transport::ALL {
        for config in [stories::oom_story(3), stories::parallel_create_story(3)] {
            let (a, b) = (run_with(&config, transport), run_with(&config, transport));
            assert!(a.is_ok(), "{transport}: {:?}", a.error);
            assert_eq!(a.trace.first_difference(&b.trace), None, "{transport}");
        }
    }
}

#[test]
fn every_trace_names_its_transport() {
    for transport in Transport::ALL {
        let outcome = run_with(&gen::mixed(7), transport);
        assert_eq!(outcome.transport, transport.name());
        let named = format!(r#""transport":"{transport}""#);
        assert!(outcome.trace.lines()[0].contains(&named), "{transport}");
    }
}

#[test]
fn only_turmoil_shuffles_hosts_and_the_trace_says_which() {
    let mut config = gen::mixed(5);
    config.settings.random_host_order = true;
    assert!(run(&config).trace.lines()[0].contains(r#""random_order":true"#));
    let fast = run_with(&config, Transport::Fast);
    assert!(fast.is_ok(), "{:?}", fast.error);
    assert!(!fast.trace.lines()[0].contains("random_order"));
    assert!(fast.trace.lines()[0].contains(r#""tick_ms":0"#));
}
