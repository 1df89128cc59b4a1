//! Putting rows into a given state: an agent into any computed status
//! (spec 1 §3.4 "Agent connection status rules") and a job finished with a
//! NULL error.

use std::time::Duration;

use uuid::Uuid;

use super::world::World;
use crate::memory::JobOutcome;
use crate::model::{AgentStatus, JobStatus, WorkspaceAgent};
use crate::time::Time;

/// The connection timeout given to a never-connected agent put in `timeout`
/// when its row has none (the template builder's default).
const TIMEOUT_SECONDS_IF_UNSET: i32 = 120;

impl World {
    /// Rewrites the agent's connection columns so that its computed status
    /// reads `status` now (with the world's inactive timeout); lifecycle
    /// state is left alone. Panics if the row would not read so.
    ///
    /// - `Connecting`: never connected, created now.
    /// - `Timeout`: never connected, created one second past its connection
    ///   timeout (120 s when the row has none).
    /// - `Connected`: last heartbeat now, no disconnect.
    /// - `Disconnected { since: Some(t) }`: connected and explicitly
    ///   disconnected at `t` (`t` must not be after now).
    /// - `Disconnected { since: None }`: connected once, with neither a last
    ///   heartbeat nor a disconnect time.
    pub fn set_agent_status(&self, agent_id: Uuid, status: AgentStatus) {
        let now = self.now();
        self.edit_agent(agent_id, |a| put_in_status(a, status, now));
        let row = self.store.tables().agent(agent_id).cloned().expect("agent");
        assert_eq!(
            row.status(now, self.inactive_timeout()),
            status,
            "agent {agent_id} could not be put in {status:?}"
        );
    }

    /// Finishes a job as failed with a NULL `error` and `error_code` (a
    /// provisioner that reported no message).
    pub fn finish_job_with_null_error(&self, job_id: Uuid) {
        let outcome = JobOutcome::Failed {
            error: String::new(),
            code: None,
        };
        self.coderd.complete_job(job_id, outcome);
        self.store.edit(|t| {
            let job = t.job_mut(job_id).expect("job");
            assert_eq!(job.status, JobStatus::Failed, "job {job_id} was finished");
            job.error = None;
            job.error_code = None;
        });
    }
}

/// Sets the columns the status rules read.
fn put_in_status(agent: &mut WorkspaceAgent, status: AgentStatus, now: Time) {
    let never_connected = |a: &mut WorkspaceAgent| {
        a.first_connected_at = None;
        a.last_connected_at = None;
        a.disconnected_at = None;
    };
    match status {
        AgentStatus::Connecting => {
            never_connected(agent);
            agent.created_at = now;
        }
        AgentStatus::Timeout => {
            never_connected(agent);
            if agent.connection_timeout_seconds <= 0 {
                agent.connection_timeout_seconds = TIMEOUT_SECONDS_IF_UNSET;
            }
            let timeout = agent.connection_timeout_seconds as u64;
            agent.created_at = now - Duration::from_secs(timeout + 1);
        }
        AgentStatus::Connected => {
            agent.first_connected_at.get_or_insert(now);
            agent.last_connected_at = Some(now);
            agent.disconnected_at = None;
        }
        AgentStatus::Disconnected { since: Some(since) } => {
            agent.first_connected_at =
                Some(agent.first_connected_at.map_or(since, |t| t.min(since)));
            agent.last_connected_at = Some(since);
            agent.disconnected_at = Some(since);
        }
        AgentStatus::Disconnected { since: None } => {
            agent.first_connected_at.get_or_insert(now);
            agent.last_connected_at = None;
            agent.disconnected_at = None;
        }
    }
}
