//! What getWorkspaceConn can fail with, and the exact model-facing texts
//! (spec 3 §3.1). `Display` is Go's `err.Error()`.

use std::fmt;

use crate::ctx::CtxError;

/// `errChatHasNoWorkspaceAgent`.
pub const NO_WORKSPACE_AGENT: &str = "workspace has no running agent: the workspace is likely stopped. Use the start_workspace tool to start it";
/// `errChatAgentDisconnected`.
pub const AGENT_DISCONNECTED: &str = "workspace agent has been disconnected for at least 90 seconds and cannot execute tools. To recover, call stop_workspace to stop the workspace, then start_workspace to start it again";
/// `errChatAgentNeverConnected`.
pub const AGENT_NEVER_CONNECTED: &str = "workspace agent never connected and its connection timeout has elapsed, so it cannot execute tools. To recover, call stop_workspace to stop the workspace, then start_workspace to start it again";
/// `errChatDialTimeout`.
pub const DIAL_TIMEOUT: &str =
    "connection to the workspace agent timed out. The agent may still be reachable on the next attempt.";
/// `errChatExternalAgentUnavailable` (a match target; the real message is
/// `ExternalAgentUnavailableMessage(agent)`).
pub const EXTERNAL_AGENT_UNAVAILABLE: &str = "external workspace agent unavailable";
/// The resolver's text when the chat has no workspace.
pub const NO_WORKSPACE: &str =
    "no workspace is associated with this chat. Use the create_workspace tool to create one";
/// getWorkspaceConn without a dialer.
pub const CONNECTOR_NOT_CONFIGURED: &str = "workspace agent connector is not configured";
/// Both getWorkspaceConn attempts saw the workspace change.
pub const WORKSPACE_CHANGED_WHILE_CONNECTING: &str = "chat workspace changed while connecting";
/// Both resolver attempts saw the workspace change.
pub const WORKSPACE_CHANGED_WHILE_RESOLVING: &str = "chat workspace changed while resolving agent";
/// Prefix of every lazy-validation dial or validation error.
pub const LAZY_VALIDATION_PREFIX: &str = "dial with lazy validation: ";
/// Prefix of agent-selection errors in chatd's own resolver.
pub const FIND_CHAT_AGENT_PREFIX: &str = "find chat agent: ";

/// chatsim-defined prefix: re-reading the chat row failed.
pub const LOAD_CHAT_PREFIX: &str = "load chat: ";
/// chatsim-defined prefix: listing the latest build's agents failed.
pub const GET_AGENTS_PREFIX: &str = "get workspace agents in latest build: ";
/// chatsim-defined prefix: reading the workspace's latest build failed.
pub const GET_LATEST_BUILD_PREFIX: &str = "get latest workspace build: ";
/// chatsim-defined prefix: reading an agent row failed.
pub const GET_AGENT_PREFIX: &str = "get workspace agent: ";
/// chatsim-defined prefix: writing the chat's build/agent binding failed.
pub const PERSIST_BINDING_PREFIX: &str = "persist chat build agent binding: ";

/// Why a workspace connection could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnError {
    /// `workspace agent connector is not configured`.
    NotConfigured,
    /// The chat has no workspace.
    NoWorkspace,
    /// `errChatHasNoWorkspaceAgent`.
    NoAgent,
    /// `chat workspace changed while connecting`.
    WorkspaceChangedWhileConnecting,
    /// `chat workspace changed while resolving agent`.
    WorkspaceChangedWhileResolving,
    /// `errChatAgentDisconnected` (recovery gate passed).
    AgentDisconnected,
    /// `errChatAgentNeverConnected` (only with the never-connected setting).
    AgentNeverConnected,
    /// `errChatDialTimeout`.
    DialTimeout,
    /// `chatExternalAgentUnavailableError`: matches
    /// `errChatExternalAgentUnavailable`, prints `message`.
    ExternalAgentUnavailable {
        /// `ExternalAgentUnavailableMessage(agent)`.
        message: &'static str,
    },
    /// The caller's context ended (`context canceled`); passed through.
    Ctx(CtxError),
    /// A dial's own error text.
    Dial(String),
    /// `dial with lazy validation: <inner>`.
    LazyValidation(Box<ConnError>),
    /// Any other failure, already worded: database reads and writes
    /// (chatsim-defined prefixes below) and `find chat agent: <text>`.
    Other(String),
}

impl ConnError {
    /// `errors.Is(err, errChatHasNoWorkspaceAgent)`, through wrapping.
    pub fn is_no_agent(&self) -> bool {
        match self {
            ConnError::NoAgent => true,
            ConnError::LazyValidation(inner) => inner.is_no_agent(),
            _ => false,
        }
    }

    /// `errors.Is(err, errChatExternalAgentUnavailable)`.
    pub fn is_external_agent_unavailable(&self) -> bool {
        matches!(self, ConnError::ExternalAgentUnavailable { .. })
    }

    /// Whether the caller's context ended (through wrapping).
    pub fn is_ctx(&self) -> bool {
        match self {
            ConnError::Ctx(_) => true,
            ConnError::LazyValidation(inner) => inner.is_ctx(),
            _ => false,
        }
    }

    /// Wraps as `dial with lazy validation: <self>`.
    pub(crate) fn lazy(self) -> ConnError {
        ConnError::LazyValidation(Box::new(self))
    }
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::NotConfigured => f.write_str(CONNECTOR_NOT_CONFIGURED),
            ConnError::NoWorkspace => f.write_str(NO_WORKSPACE),
            ConnError::NoAgent => f.write_str(NO_WORKSPACE_AGENT),
            ConnError::WorkspaceChangedWhileConnecting => {
                f.write_str(WORKSPACE_CHANGED_WHILE_CONNECTING)
            }
            ConnError::WorkspaceChangedWhileResolving => {
                f.write_str(WORKSPACE_CHANGED_WHILE_RESOLVING)
            }
            ConnError::AgentDisconnected => f.write_str(AGENT_DISCONNECTED),
            ConnError::AgentNeverConnected => f.write_str(AGENT_NEVER_CONNECTED),
            ConnError::DialTimeout => f.write_str(DIAL_TIMEOUT),
            ConnError::ExternalAgentUnavailable { message } => f.write_str(message),
            ConnError::Ctx(err) => write!(f, "{err}"),
            ConnError::Dial(text) | ConnError::Other(text) => f.write_str(text),
            ConnError::LazyValidation(inner) => write!(f, "{LAZY_VALIDATION_PREFIX}{inner}"),
        }
    }
}

impl std::error::Error for ConnError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_errors_print_their_prefix_and_still_match() {
        let err = ConnError::NoAgent.lazy();
        assert_eq!(
            err.to_string(),
            format!("dial with lazy validation: {NO_WORKSPACE_AGENT}")
        );
        assert!(err.is_no_agent());
        let dial = ConnError::Dial("connection refused".into()).lazy();
        assert_eq!(
            dial.to_string(),
            "dial with lazy validation: connection refused"
        );
        assert!(!dial.is_no_agent());
    }

    #[test]
    fn the_dial_timeout_text_never_advises_stop_or_start() {
        for word in ["stop_workspace", "start_workspace", "ask_user_question"] {
            assert!(!DIAL_TIMEOUT.contains(word));
        }
        for text in [AGENT_DISCONNECTED, AGENT_NEVER_CONNECTED] {
            assert!(text.contains("stop_workspace") && text.contains("start_workspace"));
            assert!(!text.contains("ask_user_question"));
        }
    }

    #[test]
    fn context_errors_print_like_go() {
        assert_eq!(
            ConnError::Ctx(CtxError::Canceled).to_string(),
            "context canceled"
        );
        assert!(ConnError::Ctx(CtxError::Canceled).is_ctx());
    }

    #[test]
    fn every_sentinel_prints_the_spec_text_byte_for_byte() {
        let cases = [
            (ConnError::NotConfigured, "workspace agent connector is not configured"),
            (
                ConnError::NoWorkspace,
                "no workspace is associated with this chat. Use the create_workspace tool to create one",
            ),
            (
                ConnError::NoAgent,
                "workspace has no running agent: the workspace is likely stopped. Use the start_workspace tool to start it",
            ),
            (
                ConnError::WorkspaceChangedWhileConnecting,
                "chat workspace changed while connecting",
            ),
            (
                ConnError::WorkspaceChangedWhileResolving,
                "chat workspace changed while resolving agent",
            ),
            (
                ConnError::AgentDisconnected,
                "workspace agent has been disconnected for at least 90 seconds and cannot execute tools. To recover, call stop_workspace to stop the workspace, then start_workspace to start it again",
            ),
            (
                ConnError::AgentNeverConnected,
                "workspace agent never connected and its connection timeout has elapsed, so it cannot execute tools. To recover, call stop_workspace to stop the workspace, then start_workspace to start it again",
            ),
            (
                ConnError::DialTimeout,
                "connection to the workspace agent timed out. The agent may still be reachable on the next attempt.",
            ),
            (
                ConnError::Ctx(CtxError::DeadlineExceeded).lazy(),
                "dial with lazy validation: context deadline exceeded",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
        // The match target is never printed, but its text is the spec's.
        assert_eq!(
            EXTERNAL_AGENT_UNAVAILABLE,
            "external workspace agent unavailable"
        );
        assert_eq!(FIND_CHAT_AGENT_PREFIX, "find chat agent: ");
    }
}
