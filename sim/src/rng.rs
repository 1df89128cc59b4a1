//! One seed drives everything: the transport's runtime `rng_seed`
//! (turmoil's, or the fast world's tokio runtime) plus one ChaCha stream
//! per component, split from the same seed, so adding a draw in one
//! component never shifts another component's values.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::ports::Ids;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// The components that draw randomness, each on its own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    /// UUIDs and random name suffixes (the `Ids` port).
    Ids = 1,
    /// Provisioner stage durations and per-agent seeds.
    Provisioner = 2,
    /// Dial backoff jitter in coderd's dialer.
    Dialer = 3,
    /// The built-in mixed-fault generator.
    Generator = 4,
    /// Seeds of agent processes (one sub-seed per start).
    Agents = 5,
    /// Message latencies of the fast transport.
    Network = 6,
    /// The choices model personas make (`players::personas`).
    Players = 7,
}

/// A seeded random stream.
pub fn stream(seed: u64, which: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(which as u64);
    rng
}

/// A shared seeded stream (hosts on one thread share it through `Rc`).
#[derive(Clone)]
pub struct SharedRng(Rc<RefCell<ChaCha8Rng>>);

impl SharedRng {
    /// Stream `which` of `seed`.
    pub fn new(seed: u64, which: Stream) -> SharedRng {
        SharedRng(Rc::new(RefCell::new(stream(seed, which))))
    }

    /// Shares `rng`.
    pub fn from_rng(rng: ChaCha8Rng) -> SharedRng {
        SharedRng(Rc::new(RefCell::new(rng)))
    }

    /// The next random `u64`.
    pub fn u64(&self) -> u64 {
        self.0.borrow_mut().gen()
    }

    /// A duration uniformly in `[min, max]` at millisecond resolution.
    pub fn duration(&self, min: Duration, max: Duration) -> Duration {
        duration_between(&mut *self.0.borrow_mut(), min, max)
    }
}

/// A duration uniformly in `[min, max]` at millisecond resolution.
pub fn duration_between(rng: &mut impl Rng, min: Duration, max: Duration) -> Duration {
    let (lo, hi) = (min.as_millis() as u64, max.as_millis() as u64);
    if hi <= lo {
        return min;
    }
    Duration::from_millis(rng.gen_range(lo..=hi))
}

/// The `Ids` port: version-4 UUIDs from the seed.
#[derive(Clone)]
pub struct SeedIds(SharedRng);

impl SeedIds {
    /// IDs from `seed`'s own stream.
    pub fn new(seed: u64) -> SeedIds {
        SeedIds(SharedRng::new(seed, Stream::Ids))
    }
}

impl Ids for SeedIds {
    fn new_uuid(&self) -> Uuid {
        let bytes: [u8; 16] = self.0 .0.borrow_mut().gen();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_repeatable() {
        let a1: u64 = stream(7, Stream::Ids).gen();
        let a2: u64 = stream(7, Stream::Ids).gen();
        let b: u64 = stream(7, Stream::Provisioner).gen();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        let ids = SeedIds::new(7);
        let again = SeedIds::new(7);
        assert_eq!(ids.new_uuid(), again.new_uuid());
        assert_eq!(ids.new_uuid().get_version_num(), 4);
    }
}
