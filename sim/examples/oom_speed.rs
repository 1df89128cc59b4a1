//! Measures the create → OOM → stop → start story (~30 virtual minutes):
//! `cargo run -p chatsim --release --example oom_speed -- [runs]`.
//! Wall time is printed beside the run, never put in its trace.

use std::time::Instant;

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut ratios = Vec::new();
    for seed in 0..runs {
        let config = chatsim::stories::oom_story(seed);
        let wall = Instant::now();
        let outcome = chatsim::run(&config);
        let wall = wall.elapsed().as_secs_f64();
        let ratio = outcome.elapsed.as_secs_f64() / wall;
        ratios.push(ratio);
        println!(
            "seed {seed}: {} virtual {:.1}s wall {wall:.3}s ratio {ratio:.0}x ({} trace lines, {:?})",
            outcome.hash(),
            outcome.elapsed.as_secs_f64(),
            outcome.trace.lines().len(),
            outcome.error
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio {:.0}x", ratios[ratios.len() / 2]);
}
