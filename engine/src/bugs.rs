//! The bug zoo (feature `bugs`): named switches that each re-introduce one
//! bug the upstream history fixed, by flipping one decision at a named spec
//! step. A switch is a value carried in the settings of one run
//! (`ChatSettings::bug`, `MemCoderd::with_bug`, the
//! simulation's run settings) — never a global — so parallel runs never see
//! each other's. Nothing that judges a run (invariants, oracles, strategies)
//! reads it: a switch is found only by what it does.
//!
//! Each switch lives in the crate where its decision lives: the engine's
//! tools, connection layer and in-memory coderd here; `quota-from-text` in
//! the simulation's provisioner. This enum is the one list of names.

use std::fmt;

/// One switch of the bug zoo. Each variant's doc names the spec step whose
/// decision it flips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bug {
    /// Spec 3 §3.2 step 3: recovery advice on the DB read alone — any
    /// disconnected reading of the latest chat agent gives stop/start advice
    /// after a dial timeout, without the recovery threshold (a heartbeat
    /// blip during a slow dial triggers stop/start).
    SingleSignalRecovery,
    /// Spec 3 §2.2 step 3 (the cache hit; §3.4): a cached connection whose
    /// agent now reads disconnected returns the disconnected recovery text
    /// at once, instead of dropping the cache and dialing fresh.
    CacheHitSentinel,
    /// Spec 3 §3.2 step 1: the timeout classification reads the chat's
    /// bound agent instead of the latest build's chat agent.
    BoundAgentClassification,
    /// Spec 2 §3.2 step 6: stop reports success (`stopped: true`,
    /// `no_build`) when the latest build is a stop whatever its job's
    /// outcome, a failed or canceled stop included.
    StopIdempotentAfterFailure,
    /// Spec 1 §3.3 step 11: create skips the external-agent refusal,
    /// enqueues a build of the external-agent template and waits it out.
    ExternalAgentBuilt,
    /// Spec 1 §3.3 step 23 / spec 2 §1.2 step 13: the second `OnChatUpdated`
    /// of create and start fires before the call's agent wait, right after
    /// the build succeeded.
    EarlyChatUpdate,
    /// Spec 2 §2 step 1: coderd's start hook does not pin a
    /// `require_active_version` template's active version; the build asks
    /// for the previous version and coderd refuses it
    /// ([`FORBIDDEN_OLD_VERSION`]), so the workspace cannot be started
    /// (upstream's model looped between create and start; the simulation's
    /// reference model gives up with `build_failed`).
    NoActiveVersionPin,
    /// Spec 3 §4.2.1 step 2: under `context_refresh = every_turn` a turn
    /// pulls only as `on_agent_change` would (no persisted files, or a new
    /// agent); later turns reuse the persisted context files.
    StaleContextFiles,
    /// The simulated provisioner (spec 1 §3.7: the code comes only from the
    /// quota commit) classifies a provider error whose text mentions quota
    /// as `INSUFFICIENT_QUOTA`.
    QuotaFromText,
    /// Spec 3 §3.2 step 3 (the Timeout branch): a never-connected
    /// (`timeout`) agent gets stop/start advice even with the
    /// never-connected setting at its default (excluded).
    NeverConnectedRecovery,
    /// Spec 3 §2.2 step 5: the external-agent preflight fails a
    /// `connecting` external agent without dialing it.
    PreflightOnConnecting,
}

/// The start hook's refusal under [`Bug::NoActiveVersionPin`] (HTTP 403):
/// chatsim's text for coderd refusing a start of a non-active version when
/// the template requires active versions and the owner may not update.
pub const FORBIDDEN_OLD_VERSION: &str =
    "Forbidden: the template requires the active version; this workspace's version is not active.";

impl Bug {
    /// Every switch, in declaration order (what `chatsim fuzz --list-bugs`
    /// prints).
    pub const ALL: [Bug; 11] = [
        Bug::SingleSignalRecovery,
        Bug::CacheHitSentinel,
        Bug::BoundAgentClassification,
        Bug::StopIdempotentAfterFailure,
        Bug::ExternalAgentBuilt,
        Bug::EarlyChatUpdate,
        Bug::NoActiveVersionPin,
        Bug::StaleContextFiles,
        Bug::QuotaFromText,
        Bug::NeverConnectedRecovery,
        Bug::PreflightOnConnecting,
    ];

    /// The switch's kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Bug::SingleSignalRecovery => "single-signal-recovery",
            Bug::CacheHitSentinel => "cache-hit-sentinel",
            Bug::BoundAgentClassification => "bound-agent-classification",
            Bug::StopIdempotentAfterFailure => "stop-idempotent-after-failure",
            Bug::ExternalAgentBuilt => "external-agent-built",
            Bug::EarlyChatUpdate => "early-chat-update",
            Bug::NoActiveVersionPin => "no-active-version-pin",
            Bug::StaleContextFiles => "stale-context-files",
            Bug::QuotaFromText => "quota-from-text",
            Bug::NeverConnectedRecovery => "never-connected-recovery",
            Bug::PreflightOnConnecting => "preflight-on-connecting",
        }
    }

    /// The switch named `name`, if any.
    pub fn parse(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether `active` (a run's switch) is this one.
    pub fn on(self, active: Option<Bug>) -> bool {
        active == Some(self)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for bug in Bug::ALL {
            assert_eq!(Bug::parse(bug.name()), Some(bug));
        }
        let mut names: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Bug::ALL.len());
        assert_eq!(Bug::parse("no-such-bug"), None);
    }

    #[test]
    fn a_switch_is_on_only_for_itself() {
        assert!(Bug::QuotaFromText.on(Some(Bug::QuotaFromText)));
        assert!(!Bug::QuotaFromText.on(Some(Bug::CacheHitSentinel)));
        assert!(!Bug::QuotaFromText.on(None));
    }
}
