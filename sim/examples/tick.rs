//! The OOM story at another tick: `cargo run -p chatsim --release --example tick -- 250`.

use std::time::Instant;

fn main() {
    let tick_ms: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut config = chatsim::stories::oom_story(0);
    config.settings.tick = chatsim::Dur::millis(tick_ms);
    #[allow(clippy::disallowed_methods)] // measures the run's wall time from outside it
    let wall = Instant::now();
    let outcome = chatsim::run(&config);
    let wall = wall.elapsed().as_secs_f64();
    println!(
        "tick {tick_ms}ms: {} virtual {:.1}s wall {wall:.3}s ratio {:.0}x error {:?}",
        outcome.hash(),
        outcome.elapsed.as_secs_f64(),
        outcome.elapsed.as_secs_f64() / wall,
        outcome.error
    );
    for (name, ok, content) in outcome
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            chatsim::Event::ToolResult {
                name,
                is_error,
                content,
                ..
            } if name == "execute" => Some((name, !is_error, content)),
            _ => None,
        })
    {
        println!("  {name} ok={ok} {}", &content[..content.len().min(80)]);
    }
}
