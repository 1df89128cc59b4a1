//! Prints the trace of a generated mixed-fault seed:
//! `cargo run -p chatsim --example trace -- <seed>`.

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let config = chatsim::gen::mixed(seed);
    let outcome = chatsim::run(&config);
    print!("{}", outcome.trace.text());
    eprintln!("hash {} error {:?}", outcome.hash(), outcome.error);
}
