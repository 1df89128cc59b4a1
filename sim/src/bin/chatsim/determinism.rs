//! `chatsim determinism`: each generated seed runs twice; the traces must
//! match byte for byte and the run must hold every invariant. The first
//! run goes through the fuzzer's runner (`fuzz::check`: every invariant,
//! a panic caught as a `no_panic` violation).

use std::ops::RangeInclusive;
use std::process::ExitCode;
use std::time::Instant;

use chatsim::Transport;

use crate::output::{out, Bar, Style, Tally};

/// The command that replays one generated seed.
fn replay_line(seed: u64, transport: Transport) -> String {
    format!("replay: chatsim determinism --start {seed} --seeds 1 --transport {transport}")
}

pub fn determinism(seeds: RangeInclusive<u64>, transport: Transport) -> ExitCode {
    let style = Style::stdout();
    let total = seeds.end() - seeds.start() + 1;
    let bar = Bar::new(total, "determinism");
    let mut tally = Tally::default();
    for seed in seeds {
        bar.set_message(format!("seed {seed}"));
        let config = chatsim::gen::mixed(seed);
        #[allow(clippy::disallowed_methods)] // progress display: wall time around the runs
        let wall = Instant::now();
        let checked = chatsim::fuzz::check(&config, transport);
        let wall_a = wall.elapsed();
        let Some(a) = checked.outcome else {
            let violation = &checked.violations[0];
            bar.suspend(|| {
                out!(
                    "seed {seed}: {} {violation}\n  {}",
                    style.bad("PANIC"),
                    replay_line(seed, transport)
                )
            });
            tally.failed += 1;
            bar.inc();
            continue;
        };
        let b = chatsim::run_with(&config, transport);
        let wall_b = wall.elapsed() - wall_a;
        let violations = checked.violations;
        let virtual_secs = a.elapsed.as_secs_f64();
        let (wall_a, wall_b) = (wall_a.as_secs_f64(), wall_b.as_secs_f64());
        let ratio = |wall: f64| virtual_secs / wall.max(1e-9);
        let status = match &a.error {
            None => "ok".to_string(),
            Some(err) => format!("run error: {err}"),
        };
        let difference = a.trace.first_difference(&b.trace);
        let matched = difference.is_none();
        let mut text = match difference {
            None => format!(
                "seed {seed}: {} {} ({} lines, {status}, {transport}) virtual {virtual_secs:.1}s wall {wall_a:.4}s/{wall_b:.4}s ratio {:.0}x/{:.0}x",
                if violations.is_empty() {
                    style.good("match")
                } else {
                    style.bad("VIOLATION")
                },
                a.hash(),
                a.trace.len(),
                ratio(wall_a),
                ratio(wall_b),
            ),
            Some(diff) => format!(
                "seed {seed}: {} {} vs {} ({transport} transport)\n{diff}",
                style.bad("MISMATCH"),
                a.hash(),
                b.hash(),
            ),
        };
        for v in &violations {
            text += &format!("\n  {v}");
        }
        if matched && violations.is_empty() {
            tally.passed += 1;
        } else {
            tally.failed += 1;
            text += &format!("\n  {}", replay_line(seed, transport));
        }
        bar.suspend(|| out!("{text}"));
        bar.inc();
    }
    bar.finish();
    out!("{}", tally.line());
    tally.exit_code()
}
