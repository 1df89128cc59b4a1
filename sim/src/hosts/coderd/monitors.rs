//! coderd's background loops: the agent-status watcher (traces every change
//! of the computed status of a latest build's agent), the hung-job detector,
//! and the prebuild reconciler.
//!
//! The status watcher does no per-second polling: a status changes either
//! when a row changes (a connection, a disconnect, a heartbeat or
//! lifecycle report after silence, a build — each pokes the watcher) or
//! when time crosses a threshold (an agent's connection timeout, its
//! inactive timeout since the last contact), which the watcher computes
//! and sleeps until. Changes are traced at the instant they happen.

use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::memory::JobOutcome;
use chatsim_engine::model::JobStatus;
use chatsim_engine::Time;
use uuid::Uuid;

use super::CoderdCore;
use crate::bounds::bound_exceeded;
use crate::observe::trace::{Hook, Requester};
use crate::transport::time::Interval;
use crate::transport::{HostResult, Net};

const HANG_CHECK_INTERVAL: Duration = Duration::from_secs(10);
const PREBUILD_INTERVAL: Duration = Duration::from_secs(30);
/// A time-driven status change happens just after its threshold (the
/// status compares with `>`): the watcher wakes this much later.
const PAST_THRESHOLD: Duration = Duration::from_millis(1);

pub(super) async fn run<N: Net>(core: Rc<CoderdCore<N>>) -> HostResult {
    // Polls both, the watcher first, as `join!` did; ends on the watcher's
    // error (`periodic` never ends).
    let periodic = async {
        periodic(&core).await;
        Ok::<(), String>(())
    };
    futures::future::try_join(status_watcher(&core), periodic).await?;
    Ok(())
}

async fn periodic<N: Net>(core: &CoderdCore<N>) {
    let mut hang = core.net.interval(HANG_CHECK_INTERVAL);
    let mut prebuilds = core.net.interval(PREBUILD_INTERVAL);
    loop {
        tokio::select! {
            biased;
            _ = hang.tick() => fail_hung_jobs(core),
            _ = prebuilds.tick() => reconcile_prebuilds(core),
        }
    }
}

/// Traces status changes as rows change and as thresholds pass.
async fn status_watcher<N: Net>(core: &CoderdCore<N>) -> Result<(), String> {
    let rounds = core.settings.bounds.status_watch_rounds;
    for _ in 0..rounds {
        let dirty = core.statuses_dirty.notified();
        let mut dirty = std::pin::pin!(dirty);
        dirty.as_mut().enable();
        watch_statuses(core);
        match next_status_change(core) {
            Some(at) => {
                let wait = at.since(core.now()) + PAST_THRESHOLD;
                tokio::select! {
                    biased;
                    _ = dirty => {}
                    _ = core.net.sleep(wait) => {}
                }
            }
            None => dirty.await,
        }
    }
    Err(bound_exceeded("status watch rounds", rounds))
}

/// When the status of an agent of a live workspace's latest build next
/// changes with time alone, as of the last [`watch_statuses`].
fn next_status_change<N: Net>(core: &CoderdCore<N>) -> Option<Time> {
    core.state.borrow().statuses.next_change()
}

/// Traces each change of the computed status (or disconnected-since time)
/// of every agent of every live workspace's latest build.
fn watch_statuses<N: Net>(core: &CoderdCore<N>) {
    let changes = {
        let t = core.store.tables();
        let mut state = core.state.borrow_mut();
        let timeout = core.settings.inactive_timeout;
        state
            .statuses
            .look(&t, core.now(), timeout, core.clock.epoch())
    };
    changes.into_iter().for_each(|e| core.emit(e));
}

/// Fails every running job that has not reported for the hang timeout.
fn fail_hung_jobs<N: Net>(core: &CoderdCore<N>) {
    let now = core.now();
    let timeout = core.settings.job_hang_timeout;
    let hung: Vec<Uuid> = {
        let t = core.store.tables();
        let open = core.open_jobs(&t);
        let state = core.state.borrow();
        open.iter()
            .filter(|j| j.status == JobStatus::Running)
            .filter(|j| {
                let touched = state
                    .job_touched
                    .get(&j.id)
                    .copied()
                    .or(j.started_at)
                    .unwrap_or(j.created_at);
                now.since(touched) >= timeout
            })
            .map(|j| j.id)
            .collect()
    };
    let minutes = timeout.as_secs() / 60;
    for job in hung {
        let error = format!(
            "Build has been detected as hung for {minutes} minutes and will be terminated."
        );
        core.finish_job(job, JobOutcome::Failed { error, code: None });
    }
}

fn reconcile_prebuilds<N: Net>(core: &CoderdCore<N>) {
    let wanted = core
        .store
        .tables()
        .presets
        .iter()
        .any(|p| p.desired_prebuild_instances.unwrap_or(0) > 0);
    if !wanted {
        return;
    }
    for build in core.hooks.reconcile_prebuilds() {
        core.emit_enqueued(&Requester::Prebuild, Hook::Create, build.id);
    }
}
