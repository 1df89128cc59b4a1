//! coderd's agent API: an agent connects (`first_connected_at`,
//! `last_connected_at`), heartbeats (`last_connected_at`), reports its
//! lifecycle, and disconnects. End of stream — the agent process died — is
//! recorded at once as `disconnected_at`; a connection that merely goes
//! silent is closed after `agent_stale_after` without recording anything,
//! so the agent reads disconnected from `last_connected_at` once the
//! inactive timeout passes.

use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::memory::Tables;
use chatsim_engine::model::{AgentStatus, LifecycleState, WorkspaceAgent};
use chatsim_engine::Time;
use uuid::Uuid;

use super::CoderdCore;
use crate::hosts::proto::{AgentDown, AgentUp, FrameConn, AGENT_API_PORT};
use crate::hosts::within;
use crate::observe::trace::{id, DisconnectReason, Event};
use crate::transport::time::Sleep;
use crate::transport::{HostResult, Listener, Net};

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn serve<N: Net>(core: Rc<CoderdCore<N>>) -> HostResult {
    let listener = core.net.bind(AGENT_API_PORT).await?;
    loop {
        let stream = listener.accept().await?;
        core.net.spawn(session(core.clone(), stream));
    }
}

async fn session<N: Net>(core: Rc<CoderdCore<N>>, stream: N::Stream) {
    let mut conn = FrameConn::new(stream);
    let agent = match within(&core.net, HELLO_TIMEOUT, conn.recv::<AgentUp>()).await {
        Ok(Some(AgentUp::Hello { agent })) => agent,
        _ => return,
    };
    let Some((generation, row)) = connect(&core, agent) else {
        let reject = AgentDown::Reject {
            reason: format!("agent {agent} not found"),
        };
        let _ = conn.send(&reject).await;
        return;
    };
    if conn.send(&AgentDown::Welcome).await.is_err() {
        disconnect(&core, agent, generation);
        return;
    }
    let stale_after = core.settings.agent_stale_after;
    let net = &core.net;
    let mut last_frame = net.now();
    // The silence deadline is re-armed lazily: when it fires, frames that
    // came since move it on (instead of a new timer per frame).
    let mut silence = net.sleep_until(last_frame + stale_after);
    loop {
        tokio::select! {
            biased;
            frame = conn.recv::<AgentUp>() => {
                let reply = match frame {
                    Ok(Some(AgentUp::Heartbeat)) => heartbeat(&core, agent, row),
                    Ok(Some(AgentUp::Lifecycle { state })) => lifecycle(&core, agent, row, &state),
                    Ok(Some(AgentUp::Hello { .. })) => AgentDown::Ack,
                    Ok(None) | Err(_) => {
                        disconnect(&core, agent, generation);
                        return;
                    }
                };
                last_frame = net.now();
                if conn.send(&reply).await.is_err() {
                    disconnect(&core, agent, generation);
                    return;
                }
            }
            _ = &mut silence => {
                let deadline = last_frame + stale_after;
                if net.now() < deadline {
                    silence.reset(deadline);
                    continue;
                }
                forget(&core, agent, generation);
                core.emit(Event::AgentDisconnect { agent: id(agent), reason: DisconnectReason::Stale });
                return;
            }
        }
    }
}

/// Records a connection: its generation and the agent's row; `None` when
/// no such agent exists.
fn connect<N: Net>(core: &CoderdCore<N>, agent: Uuid) -> Option<(u64, usize)> {
    let now = core.now();
    let (name, row) = core.store.edit(|t| {
        // The agent's first row, as `agent_mut` finds it; found once per
        // connection, so its heartbeats need no lookup.
        let i = t.agents.iter().position(|a| a.id == agent)?;
        let row = &mut t.agents[i];
        row.first_connected_at.get_or_insert(now);
        row.last_connected_at = Some(now);
        Some((row.name.clone(), i))
    })?;
    let generation = {
        let mut state = core.state.borrow_mut();
        state.next_conn += 1;
        let generation = state.next_conn;
        state.agent_conns.insert(agent, generation);
        generation
    };
    core.emit(Event::AgentConnect {
        agent: id(agent),
        name,
    });
    core.poke_statuses();
    Some((generation, row))
}

/// The agent's row: `row`, found at connect (rows never move), while it
/// still holds the agent.
fn agent_at(t: &mut Tables, agent: Uuid, row: usize) -> Option<&mut WorkspaceAgent> {
    if t.agents.get(row).is_some_and(|a| a.id == agent) {
        return t.agents.get_mut(row);
    }
    t.agent_mut(agent)
}

/// Records contact now; pokes the status watcher when the agent did not
/// read connected (a heartbeat after silence brings it back).
fn contact<N: Net>(core: &CoderdCore<N>, row: &mut WorkspaceAgent, now: Time) {
    let was = row.status(now, core.settings.inactive_timeout);
    row.last_connected_at = Some(now);
    if was != AgentStatus::Connected {
        core.poke_statuses();
    }
}

fn heartbeat<N: Net>(core: &CoderdCore<N>, agent: Uuid, row: usize) -> AgentDown {
    let now = core.now();
    core.store.edit(|t| {
        if let Some(row) = agent_at(t, agent, row) {
            contact(core, row, now);
        }
    });
    AgentDown::Ack
}

fn lifecycle<N: Net>(core: &CoderdCore<N>, agent: Uuid, row: usize, state: &str) -> AgentDown {
    let Some(state) = LifecycleState::parse(state) else {
        return AgentDown::Ack;
    };
    let now = core.now();
    let changed = core.store.edit(|t| {
        let row = agent_at(t, agent, row)?;
        contact(core, row, now);
        let changed = row.lifecycle_state != state;
        row.lifecycle_state = state;
        Some(changed)
    });
    if changed == Some(true) {
        core.emit(Event::AgentLifecycle {
            agent: id(agent),
            state,
        });
    }
    AgentDown::Ack
}

/// Forgets a connection; true if it was the agent's current one.
fn forget<N: Net>(core: &CoderdCore<N>, agent: Uuid, generation: u64) -> bool {
    let mut state = core.state.borrow_mut();
    let current = state.agent_conns.get(&agent) == Some(&generation);
    if current {
        state.agent_conns.remove(&agent);
    }
    current
}

/// The agent's connection ended: recorded when it was the current one (an
/// older connection closing late must not mark a reconnected agent down).
fn disconnect<N: Net>(core: &CoderdCore<N>, agent: Uuid, generation: u64) {
    if !forget(core, agent, generation) {
        return;
    }
    let now = core.now();
    core.store.edit(|t| {
        if let Some(row) = t.agent_mut(agent) {
            row.disconnected_at = Some(now);
        }
    });
    core.emit(Event::AgentDisconnect {
        agent: id(agent),
        reason: DisconnectReason::Eof,
    });
    core.poke_statuses();
}
