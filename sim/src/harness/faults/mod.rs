//! The fault registry: one family per file, each owning its kinds' effect
//! (how the fault acts through the world), reference checks (the names it
//! refers to, for the scenario checker) and draw (how the generator makes
//! one). The data lives in [`crate::plan::Fault`]; [`family`] ties every
//! [`FaultKind`] to its family with one exhaustive match, so a new variant
//! does not compile until its kind names a family, and the registry tests
//! fail until that family applies, checks and draws it.

use rand_chacha::ChaCha8Rng;

use crate::plan::{Fault, FaultKind};

mod agent;
mod chat;
mod cloud;
mod dashboard;
mod database;
mod draw;
mod env;
mod files;
mod network;
mod operator;
mod refs;

pub use draw::DrawWorld;
pub use env::{Effect, FaultCoderd, FaultEnv};
pub use refs::{Named, Ref};

/// One family of faults: the effect, the references and the draw of each
/// kind it owns (see [`family`]).
pub trait FaultFamily {
    /// The family's name, for messages.
    fn name(&self) -> &'static str;

    /// The kinds this family owns, in catalog order.
    fn kinds(&self) -> &'static [FaultKind];

    /// Applies `fault`: acts through coderd, the cloud or the driver's
    /// inbox at once, and returns the infrastructure commands to run.
    /// `Err` = nothing to act on (the reason is traced).
    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String>;

    /// The names `fault` refers to and the calls it injects, field by field.
    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>>;

    /// A fault of `kind` with seeded parameters, aimed at `world`'s names;
    /// `None` when the world lacks what it needs (e.g. an external agent).
    fn draw(&self, kind: FaultKind, rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault>;
}

/// The family that owns `kind`: the registry, one exhaustive match.
pub fn family(kind: FaultKind) -> &'static dyn FaultFamily {
    use FaultKind as K;
    match kind {
        K::AgentOom
        | K::AgentRespawn
        | K::AgentWedged
        | K::AgentNeverConnects
        | K::ExternalAgentStarted => &agent::Agent,
        K::Partition | K::Hold | K::Repair => &network::Network,
        K::ProvisionerCrash | K::BuildFailure => &cloud::Cloud,
        K::QuotaExhausted | K::NewTemplateVersion | K::RequireActiveVersion => &operator::Operator,
        K::ContextFilesChanged => &files::Files,
        K::ParallelToolCalls | K::UserCancelsTurn => &chat::Chat,
        K::UserRestartsWorkspace
        | K::UserStopsWorkspace
        | K::UserStartsWorkspace
        | K::BuildCanceled => &dashboard::Dashboard,
        K::DbQueryFails => &database::Database,
    }
}

/// Applies `fault` through its family (see [`FaultFamily::apply`]).
pub fn apply(fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
    family(fault.kind()).apply(fault, env)
}

/// The references of `fault` (see [`FaultFamily::refs`]).
pub fn refs(fault: &Fault) -> Vec<Ref<'_>> {
    family(fault.kind()).refs(fault)
}

/// A fault of `kind` drawn by its family (see [`FaultFamily::draw`]).
pub fn draw(kind: FaultKind, rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
    let fault = family(kind).draw(kind, rng, world)?;
    assert_eq!(
        fault.kind(),
        kind,
        "the {} family drew another kind",
        family(kind).name()
    );
    Some(fault)
}

/// A family was handed a fault of another family: the registry is wrong.
fn misrouted(family: &dyn FaultFamily, kind: FaultKind) -> ! {
    panic!(
        "fault registry: the {} family does not own {kind}",
        family.name()
    )
}

#[cfg(test)]
mod tests;
