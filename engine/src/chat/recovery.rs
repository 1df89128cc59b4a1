//! What the model is told when the agent cannot be reached (spec 3 §3):
//! the latest-agent lookup, the recovery classification after a dial
//! timeout, and the external-agent preflight before a dial (§2.2 step 5).

use uuid::Uuid;

use super::env::ChatEnv;
use super::errors::{ConnError, FIND_CHAT_AGENT_PREFIX, GET_AGENTS_PREFIX};
use crate::agent_select::find_chat_agent;
use crate::model::{AgentStatus, WorkspaceAgent};
use crate::time::Time;
use crate::tools::build_wait::{external_agent_unavailable_message, is_external_agent};

/// `latestWorkspaceAgentID`: the chat agent of the workspace's latest build
/// (the row as listed). No agents → `errChatHasNoWorkspaceAgent`.
pub(crate) fn latest_workspace_agent(
    env: &ChatEnv,
    workspace_id: Uuid,
) -> Result<WorkspaceAgent, ConnError> {
    let agents = env
        .store()
        .get_workspace_agents_in_latest_build_by_workspace_id(workspace_id)
        .map_err(|err| ConnError::Other(format!("{GET_AGENTS_PREFIX}{err}")))?;
    if agents.is_empty() {
        return Err(ConnError::NoAgent);
    }
    find_chat_agent(&agents)
        .map_err(|err| ConnError::Other(format!("{FIND_CHAT_AGENT_PREFIX}{err}")))
}

/// `latestWorkspaceAgentRecoveryError`: called only after a real dial
/// timeout with the caller's context alive. Only a fresh read showing the
/// latest agent disconnected for at least the threshold (or, with the
/// setting, never connected past its timeout) gives stop/start advice.
pub(crate) fn latest_workspace_agent_recovery_error(
    env: &ChatEnv,
    workspace_id: Uuid,
    #[cfg_attr(not(feature = "bugs"), allow(unused_variables))] bound_agent_id: Uuid,
) -> ConnError {
    #[cfg(feature = "bugs")]
    if crate::bugs::Bug::BoundAgentClassification.on(env.settings.bug) {
        return classify_bound_agent(env, bound_agent_id);
    }
    let latest = match latest_workspace_agent(env, workspace_id) {
        Ok(agent) => agent,
        Err(err) if err.is_no_agent() => return ConnError::NoAgent,
        Err(err) => {
            env.log(
                "warn",
                format!("failed to resolve latest agent for timeout classification: {err}"),
            );
            return ConnError::DialTimeout;
        }
    };
    let agent = match env.store().get_workspace_agent_by_id(latest.id) {
        Ok(agent) => agent,
        Err(err) => {
            env.log(
                "warn",
                format!("failed to load latest agent for timeout classification: {err}"),
            );
            return ConnError::DialTimeout;
        }
    };
    let picked = classify(env, &agent, env.now());
    if is_external_agent(env.store(), &agent) {
        return external_unavailable(&agent);
    }
    picked
}

/// [`Bug::BoundAgentClassification`](crate::bugs::Bug): steps 2–4 on the
/// agent the chat is bound to (the one just dialed), not the latest.
#[cfg(feature = "bugs")]
fn classify_bound_agent(env: &ChatEnv, bound_agent_id: Uuid) -> ConnError {
    match env.store().get_workspace_agent_by_id(bound_agent_id) {
        Ok(agent) if is_external_agent(env.store(), &agent) => external_unavailable(&agent),
        Ok(agent) => classify(env, &agent, env.now()),
        Err(_) => ConnError::DialTimeout,
    }
}

/// Step 3 of the classification: the computed status against the gate.
fn classify(env: &ChatEnv, agent: &WorkspaceAgent, now: Time) -> ConnError {
    let settings = &env.settings;
    let status = agent.status(now, settings.agent_inactive_disconnect_timeout);
    #[cfg(feature = "bugs")]
    {
        use crate::bugs::Bug;
        match status {
            AgentStatus::Disconnected { .. } if Bug::SingleSignalRecovery.on(settings.bug) => {
                return ConnError::AgentDisconnected;
            }
            AgentStatus::Timeout if Bug::NeverConnectedRecovery.on(settings.bug) => {
                return ConnError::AgentNeverConnected;
            }
            _ => {}
        }
    }
    match status {
        AgentStatus::Timeout if settings.never_connected_recovery => ConnError::AgentNeverConnected,
        AgentStatus::Disconnected { since: Some(since) }
            if now.since(since) >= settings.recovery_threshold =>
        {
            ConnError::AgentDisconnected
        }
        _ => ConnError::DialTimeout,
    }
}

fn external_unavailable(agent: &WorkspaceAgent) -> ConnError {
    ConnError::ExternalAgentUnavailable {
        message: external_agent_unavailable_message(agent),
    }
}

/// `externalAgentPreflightError`: an external agent that reads
/// disconnected or timed out AND is still the latest chat agent fails at
/// once, without a dial. Everything else (connecting agents, normal agents,
/// a stale binding, lookup errors) dials.
pub(crate) fn external_agent_preflight(
    env: &ChatEnv,
    workspace_id: Option<Uuid>,
    agent: &WorkspaceAgent,
) -> Option<ConnError> {
    let status = agent.status(env.now(), env.settings.agent_inactive_disconnect_timeout);
    let fails_fast = status.is_unreachable();
    #[cfg(feature = "bugs")]
    let fails_fast = fails_fast
        || (crate::bugs::Bug::PreflightOnConnecting.on(env.settings.bug)
            && matches!(status, crate::model::AgentStatus::Connecting));
    if !fails_fast || !is_external_agent(env.store(), agent) {
        return None;
    }
    let latest = latest_workspace_agent(env, workspace_id?).ok()?;
    (latest.id == agent.id).then(|| external_unavailable(agent))
}
