//! Same seed and transport → byte-identical trace; different seeds →
//! different stories.

use chatsim::{gen, run, run_with, stories, Transport};

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
fn the_oom_story_replays_byte_for_byte_on_each_transport() {
    for transport in Transport::ALL {
        let config = stories::oom_story(3);
        let (a, b) = (run_with(&config, transport), run_with(&config, transport));
        assert!(a.is_ok(), "{transport}: {:?}", a.error);
        assert_eq!(a.trace.first_difference(&b.trace), None, "{transport}");
    }
}

#[test]
fn different_seeds_tell_different_stories() {
    let a = run(&gen::mixed(100));
    let b = run(&gen::mixed(101));
    assert_ne!(a.hash(), b.hash());
}

#[test]
fn every_trace_names_its_transport_and_ends_with_the_outcome() {
    for transport in Transport::ALL {
        let outcome = run_with(&gen::mixed(7), transport);
        assert_eq!(outcome.transport, transport.name());
        let records = outcome.trace.records();
        assert!(records[0].event.kind().eq("run_start"));
        let named = format!(r#""transport":"{transport}""#);
        assert!(outcome.trace.lines()[0].contains(&named), "{transport}");
        assert_eq!(records.last().unwrap().event.kind(), "run_end");
    }
}

#[test]
fn random_host_order_is_seeded_and_announced() {
    let mut config = gen::mixed(5);
    config.settings.random_host_order = true;
    let (a, b) = (run(&config), run(&config));
    assert!(a.is_ok(), "{:?}", a.error);
    assert_eq!(a.trace.first_difference(&b.trace), None);
    assert!(a.trace.lines()[0].contains(r#""random_order":true"#));
    // The fast transport has no host order to shuffle and says so.
    let fast = run_with(&config, Transport::Fast);
    assert!(!fast.trace.lines()[0].contains("random_order"));
}
