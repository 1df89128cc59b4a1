//! Prints the trace of a generated mixed-fault seed:
//! `cargo run -p chatsim --example trace -- <seed> [turmoil|fast]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let transport: chatsim::Transport = args
        .next()
        .map(|t| t.parse().expect("a transport"))
        .unwrap_or_default();
    let config = chatsim::gen::mixed(seed);
    let outcome = chatsim::run_with(&config, transport);
    print!("{}", outcome.trace.text());
    eprintln!("hash {} error {:?}", outcome.hash(), outcome.error);
}
