//! Measures the create → OOM → stop → start story (~30 virtual minutes):
//! `cargo run -p chatsim --release --example oom_speed -- [runs] [turmoil|fast]`.
//! Wall time is printed beside the run, never put in its trace.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let transport: chatsim::Transport = args
        .next()
        .map(|t| t.parse().expect("a transport"))
        .unwrap_or_default();
    let mut ratios = Vec::new();
    for seed in 0..runs {
        let config = chatsim::stories::oom_story(seed);
        #[allow(clippy::disallowed_methods)] // measures the run's wall time from outside it
        let wall = Instant::now();
        let outcome = chatsim::run_with(&config, transport);
        let wall = wall.elapsed().as_secs_f64();
        let ratio = outcome.elapsed.as_secs_f64() / wall;
        ratios.push(ratio);
        println!(
            "seed {seed} ({transport}): {} virtual {:.1}s wall {wall:.4}s ratio {ratio:.0}x ({} trace lines, {:?})",
            outcome.hash(),
            outcome.elapsed.as_secs_f64(),
            outcome.trace.len(),
            outcome.error
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio {:.0}x", ratios[ratios.len() / 2]);
}
