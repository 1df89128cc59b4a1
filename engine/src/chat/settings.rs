//! The connection layer's settings (spec 3 §7 and "chatsim's choices").

use std::collections::BTreeSet;
use std::time::Duration;

use uuid::Uuid;

/// `defaultDialTimeout`: the bound on one dial (lazy validation included).
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// `workspaceDialValidationDelay`: how long a pending dial runs before the
/// latest chat agent is looked up.
pub const DEFAULT_DIAL_VALIDATION_DELAY: Duration = Duration::from_secs(5);
/// `agentDisconnectedRecoveryThreshold`: the minimum DB-confirmed disconnect
/// before stop/start advice.
pub const DEFAULT_RECOVERY_THRESHOLD: Duration = Duration::from_secs(90);
/// `agentInactiveDisconnectTimeout` as upstream tests (and Coder's default)
/// set it.
pub const DEFAULT_INACTIVE_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// `homeInstructionLookupTimeout`: the budget of one context pull (dial and
/// fetch together).
pub const DEFAULT_INSTRUCTION_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// When a turn pulls instruction files and skills from the workspace
/// (spec 3 §4.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContextRefresh {
    /// Pull on every turn of a chat with a bound workspace (the default).
    #[default]
    EveryTurn,
    /// Pull only when the history has no persisted instruction files or the
    /// agent changed.
    OnAgentChange,
}

impl ContextRefresh {
    /// The setting's name as scenario files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextRefresh::EveryTurn => "every_turn",
            ContextRefresh::OnAgentChange => "on_agent_change",
        }
    }

    /// Parses `every_turn` / `on_agent_change`.
    pub fn parse(s: &str) -> Option<ContextRefresh> {
        [ContextRefresh::EveryTurn, ContextRefresh::OnAgentChange]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Deployment settings of the chat runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSettings {
    /// Bound on one dial including lazy validation (default 30 s).
    pub dial_timeout: Duration,
    /// Delay before a pending dial is validated (default 5 s).
    pub dial_validation_delay: Duration,
    /// Minimum confirmed disconnect of the latest chat agent before
    /// stop/start advice (default 90 s; zero = any disconnected agent).
    pub recovery_threshold: Duration,
    /// Whether a never-connected (`timeout`) agent gets
    /// `errChatAgentNeverConnected` after a dial timeout (default off: the
    /// soft dial-timeout text).
    pub never_connected_recovery: bool,
    /// When a turn pulls the workspace context (default every turn).
    pub context_refresh: ContextRefresh,
    /// Silence after which a connected agent reads disconnected.
    pub agent_inactive_disconnect_timeout: Duration,
    /// Budget of one context pull (default 5 s).
    pub instruction_lookup_timeout: Duration,
    /// The chat template allowlist handed to the tools; empty = every template.
    pub allowed_template_ids: BTreeSet<Uuid>,
    /// The bug-zoo switch this runtime runs with (`None`: the correct
    /// engine).
    #[cfg(feature = "bugs")]
    pub bug: Option<crate::bugs::Bug>,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            dial_validation_delay: DEFAULT_DIAL_VALIDATION_DELAY,
            recovery_threshold: DEFAULT_RECOVERY_THRESHOLD,
            never_connected_recovery: false,
            context_refresh: ContextRefresh::EveryTurn,
            agent_inactive_disconnect_timeout: DEFAULT_INACTIVE_DISCONNECT_TIMEOUT,
            instruction_lookup_timeout: DEFAULT_INSTRUCTION_LOOKUP_TIMEOUT,
            allowed_template_ids: BTreeSet::new(),
            #[cfg(feature = "bugs")]
            bug: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let s = ChatSettings::default();
        assert_eq!(s.dial_timeout, Duration::from_secs(30));
        assert_eq!(s.dial_validation_delay, Duration::from_secs(5));
        assert_eq!(s.recovery_threshold, Duration::from_secs(90));
        assert!(!s.never_connected_recovery);
        assert_eq!(s.context_refresh, ContextRefresh::EveryTurn);
        assert_eq!(s.instruction_lookup_timeout, Duration::from_secs(5));
    }

    #[test]
    fn context_refresh_names_round_trip() {
        for v in [ContextRefresh::EveryTurn, ContextRefresh::OnAgentChange] {
            assert_eq!(ContextRefresh::parse(v.as_str()), Some(v));
        }
        assert_eq!(ContextRefresh::parse("never"), None);
    }
}
