//! Prints the trace of a ready-made story:
//! `cargo run -p chatsim --example story -- oom|quota|parallel|churn [seed] [turmoil|fast]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "oom".into());
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let transport: chatsim::Transport = match args.next().map(|t| t.parse()) {
        None => chatsim::Transport::default(),
        Some(Ok(t)) => t,
        Some(Err(err)) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    let config = match name.as_str() {
        "oom" => chatsim::stories::oom_story(seed),
        "quota" => chatsim::stories::quota_story(seed),
        "parallel" => chatsim::stories::parallel_create_story(seed),
        "churn" => chatsim::stories::churn_story(seed, 10, std::time::Duration::from_secs(7200)),
        other => {
            eprintln!("unknown story {other:?} (known: oom, quota, parallel, churn)");
            std::process::exit(2);
        }
    };
    let outcome = chatsim::run_with(&config, transport);
    print!("{}", outcome.trace.text());
    eprintln!("hash {} error {:?}", outcome.hash(), outcome.error);
}
