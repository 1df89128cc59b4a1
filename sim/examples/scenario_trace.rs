//! Prints the trace of a scenario file on a transport:
//! `cargo run -p chatsim --example scenario_trace -- scenarios/<name>.toml [turmoil|fast]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().expect("a scenario file"));
    let transport: chatsim::Transport = args
        .next()
        .map(|t| t.parse().expect("a transport"))
        .unwrap_or_default();
    let scenario = chatsim::scenario::load(&path).unwrap_or_else(|errors| {
        errors.iter().for_each(|e| eprintln!("{e}"));
        std::process::exit(2)
    });
    let outcome = chatsim::run_with(&scenario.config(), transport);
    print!("{}", outcome.trace.text());
    eprintln!("hash {} error {:?}", outcome.hash(), outcome.error);
}
