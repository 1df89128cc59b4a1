//! coderd's provisioner daemon API: acquire a job, stream its log lines,
//! commit its quota, complete or fail it. A job that stops reporting is
//! failed by the hang detector (see `monitors`), as coderd's is.
//!
//! Acquiring is a long poll, as coderd's `AcquireJobWithCancel` is: with no
//! pending job the request waits until a job is posted (coderd's acquirer
//! listens for `provisioner job posted`), or answers "no job" after
//! [`ACQUIRE_WAIT`] so the daemon asks again. An idle daemon costs one
//! round trip per [`ACQUIRE_WAIT`], not one per poll interval.

use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::memory::JobOutcome;
use chatsim_engine::model::{JobStatus, Transition};
use uuid::Uuid;

use super::CoderdCore;
use crate::hosts::proto::{
    FrameConn, ProvRequest, ProvResponse, WireAgent, WireAgentSpec, WireJob, WireOutcome,
    PROVISIONER_PORT,
};
use crate::hosts::within;
use crate::observe::trace::{id, Event};
use crate::transport::{HostResult, Listener, Net};

/// A provisioner connection idle this long is closed (an idle daemon asks
/// for a job every [`ACQUIRE_WAIT`]).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an acquire waits for a job to be posted (below the daemon's
/// request timeout).
pub const ACQUIRE_WAIT: Duration = Duration::from_secs(20);

pub(super) async fn serve<N: Net>(core: Rc<CoderdCore<N>>) -> HostResult {
    let listener = core.net.bind(PROVISIONER_PORT).await?;
    loop {
        let stream = listener.accept().await?;
        core.net.spawn(session(core.clone(), stream));
    }
}

async fn session<N: Net>(core: Rc<CoderdCore<N>>, stream: N::Stream) {
    let mut conn = FrameConn::new(stream);
    loop {
        let request = match within(&core.net, IDLE_TIMEOUT, conn.recv::<ProvRequest>()).await {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let response = match request {
            ProvRequest::Acquire => ProvResponse::Job(acquire_waiting(&core).await),
            other => handle(&core, other),
        };
        if conn.send(&response).await.is_err() {
            return;
        }
    }
}

/// Acquires a job, waiting up to [`ACQUIRE_WAIT`] for one to be posted.
async fn acquire_waiting<N: Net>(core: &CoderdCore<N>) -> Option<WireJob> {
    let deadline = core.net.now() + ACQUIRE_WAIT;
    // Bounded: each round either acquires, or waits for a posting.
    for _ in 0..MAX_ACQUIRE_ROUNDS {
        let posted = core.jobs_posted.notified();
        let mut posted = std::pin::pin!(posted);
        posted.as_mut().enable();
        if let Some(job) = acquire(core) {
            return Some(job);
        }
        tokio::select! {
            biased;
            _ = posted => {}
            _ = core.net.sleep_until(deadline) => return acquire(core),
        }
    }
    acquire(core)
}

/// Bound on the postings one acquire sees before answering.
const MAX_ACQUIRE_ROUNDS: u32 = 1000;

fn handle<N: Net>(core: &CoderdCore<N>, request: ProvRequest) -> ProvResponse {
    if let Some(response) = stop_if_canceling(core, &request) {
        return response;
    }
    match request {
        ProvRequest::Acquire => ProvResponse::Job(acquire(core)),
        ProvRequest::Log { job, stage, line } => log(core, job, stage, line),
        ProvRequest::CommitQuota { job, daily_cost } => {
            if !running(core, job) {
                return not_running(job);
            }
            touch(core, job);
            let ok = core.hooks.commit_quota(job, daily_cost);
            let build = core.store.tables().build_of_job(job).map(|b| b.id);
            if let Some(build) = build {
                core.emit(Event::QuotaCommit {
                    build: id(build),
                    daily_cost,
                    ok,
                });
            }
            ProvResponse::Quota { ok }
        }
        ProvRequest::Complete { job, outcome } => {
            let outcome = match outcome {
                WireOutcome::Succeeded => JobOutcome::Succeeded,
                WireOutcome::Failed { error, code } => JobOutcome::Failed { error, code },
            };
            match core.finish_job(job, outcome) {
                Some(agents) => ProvResponse::Completed {
                    agents: agents
                        .into_iter()
                        .map(|a| WireAgent {
                            id: a.id,
                            name: a.name,
                        })
                        .collect(),
                },
                None => not_running(job),
            }
        }
    }
}

/// A report about a job the user canceled: coderd records it `canceled`
/// and tells the provisioner to stop (it abandons the job, as it does one
/// that is no longer running).
fn stop_if_canceling<N: Net>(core: &CoderdCore<N>, request: &ProvRequest) -> Option<ProvResponse> {
    let job = match request {
        ProvRequest::Acquire => return None,
        ProvRequest::Log { job, .. }
        | ProvRequest::CommitQuota { job, .. }
        | ProvRequest::Complete { job, .. } => *job,
    };
    let canceling = core
        .store
        .tables()
        .job(job)
        .is_some_and(|j| j.status == chatsim_engine::model::JobStatus::Canceling);
    if !canceling {
        return None;
    }
    core.complete_job(job, JobOutcome::Canceled);
    core.state.borrow_mut().job_touched.remove(&job);
    core.emit_job(job);
    Some(ProvResponse::Error {
        message: format!("job {job} was canceled"),
    })
}

fn not_running(job: Uuid) -> ProvResponse {
    ProvResponse::Error {
        message: format!("job {job} is not running"),
    }
}

fn running<N: Net>(core: &CoderdCore<N>, job: Uuid) -> bool {
    core.store
        .tables()
        .job(job)
        .is_some_and(|j| j.status == chatsim_engine::model::JobStatus::Running)
}

fn touch<N: Net>(core: &CoderdCore<N>, job: Uuid) {
    let now = core.now();
    core.state.borrow_mut().job_touched.insert(job, now);
}

fn acquire<N: Net>(core: &CoderdCore<N>) -> Option<WireJob> {
    // Most calls (every posting wakes every waiting acquire) find no
    // pending job; saying so needs no walk over every ended job.
    let pending = {
        let t = core.store.tables();
        let open = core.open_jobs(&t);
        open.iter().any(|j| j.status == JobStatus::Pending)
    };
    if !pending {
        return None;
    }
    let assignment = core.hooks.acquire_job()?;
    touch(core, assignment.job_id);
    core.emit_job(assignment.job_id);
    let version = core
        .store
        .tables()
        .build(assignment.build_id)
        .map(|b| b.template_version_id)
        .unwrap_or_default();
    let daily_cost = match assignment.transition {
        Transition::Start => assignment.plan.daily_cost,
        _ => 0,
    };
    Some(WireJob {
        job: assignment.job_id,
        build: assignment.build_id,
        workspace: assignment.workspace_id,
        workspace_name: assignment.workspace_name,
        transition: assignment.transition.as_str().to_string(),
        version,
        agents: assignment
            .plan
            .agents
            .iter()
            .map(|a| WireAgentSpec {
                name: a.name.clone(),
                external: a.external,
                directory: a.directory.clone(),
            })
            .collect(),
        daily_cost,
        claimed_prebuild: assignment.claimed_prebuild,
    })
}

fn log<N: Net>(core: &CoderdCore<N>, job: Uuid, stage: String, line: String) -> ProvResponse {
    if !running(core, job) {
        return not_running(job);
    }
    touch(core, job);
    let build = core.store.tables().build_of_job(job).map(|b| b.id);
    let Some(build) = build else {
        return not_running(job);
    };
    core.state
        .borrow_mut()
        .build_logs
        .entry(build)
        .or_default()
        .push((stage.clone(), line.clone()));
    core.emit(Event::BuildLog {
        build: id(build),
        stage,
        line,
    });
    ProvResponse::Ok
}
