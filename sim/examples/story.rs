//! Prints the trace of a ready-made story:
//! `cargo run -p chatsim --example story -- oom [seed] [turmoil|fast]`.

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
        other => {
            eprintln!("unknown story {other:?} (known: oom)");
            std::process::exit(2);
        }
    };
    let outcome = chatsim::run_with(&config, transport);
    print!("{}", outcome.trace.text());
    eprintln!("hash {} error {:?}", outcome.hash(), outcome.error);
}
