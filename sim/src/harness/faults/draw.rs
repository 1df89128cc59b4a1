//! What a family draws from: the names of the generated world (its chat,
//! user, template, the workspace the chat creates and its agent, an
//! external agent if any) and small seeded helpers.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::plan::Dur;

/// The names of a generated world a fault may aim at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawWorld {
    /// The chat the turns run in.
    pub chat: String,
    /// The chat's owner.
    pub user: String,
    /// The template the chat's workspace is built from.
    pub template: String,
    /// The workspace the chat creates by name.
    pub workspace: String,
    /// That workspace's chat agent.
    pub agent: String,
    /// The workspace and agent of an external agent, when the run has one.
    pub external: Option<(String, String)>,
}

impl DrawWorld {
    /// The host of the workspace's agent (`agent:<workspace>/<agent>`).
    pub fn agent_host(&self) -> String {
        format!("agent:{}/{}", self.workspace, self.agent)
    }
}

/// One of `items` (non-empty).
pub fn pick<T: Clone>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items
        .choose(rng)
        .expect("pick from a non-empty list")
        .clone()
}

/// Whole seconds in `lo..=hi`.
pub fn secs(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> Dur {
    Dur::secs(rng.gen_range(lo..=hi))
}
