//! Retries and parallel calls: no second workspace and no second charge
//! while the first still serves.

use std::time::Duration;

use chatsim_engine::model::{JobStatus, Transition};

use super::{queries_failing, violation, Input, Violation, STATUS_SLACK};
use crate::observe::trace::Hook;
use crate::observe::view::{BuildView, CallView, TraceView};

/// A retried create makes no second workspace while the first serves.
pub const RETRY_NO_SECOND_WORKSPACE: &str = "retry_no_second_workspace";
/// A retried start makes no second charge.
pub const RETRY_NO_SECOND_CHARGE: &str = "retry_no_second_charge";
/// Parallel creates in one turn give one workspace.
pub const PARALLEL_CREATES_ONE_WORKSPACE: &str = "parallel_creates_one_workspace";

// ---- retry_no_second_workspace ----------------------------------------------

pub(super) fn retry_no_second_workspace(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for b in view.builds.iter().filter(|b| b.hook == Hook::Create) {
        let Some(chat) = b.by.chat() else { continue };
        // The binding the create replaced: the last one before its own.
        let before = b.enqueued.saturating_sub(Duration::from_millis(1));
        let Some(ws_id) = view.binding_at(chat, before) else {
            continue;
        };
        let Some(workspace) = view.workspace_names.get(ws_id) else {
            continue;
        };
        if workspace == &b.workspace {
            continue;
        }
        let Some(prev) = view.latest_build(workspace, before) else {
            continue;
        };
        if let Some(why) = create_not_allowed(view, prev, b.enqueued) {
            let message = format!(
                "chat {chat} created {} while its workspace {workspace} {why}",
                b.label()
            );
            out.push(violation(RETRY_NO_SECOND_WORKSPACE, b.enqueued, message));
        }
    }
    out
}

/// Why a create enqueued at `at` over a workspace whose latest build is
/// `prev` should have returned the existing one, if it should.
fn create_not_allowed(view: &TraceView, prev: &BuildView, at: Duration) -> Option<String> {
    // Spec 1 §3.4 steps 5, 6, 7c: a failed read of the latest build, its
    // job or its agents proceeds to create.
    if queries_failing(view, &EXISTING_WORKSPACE_READS, at) {
        return None;
    }
    still_usable(view, prev, at)
}

/// The reads of `checkExistingWorkspace` whose failure lets create proceed.
const EXISTING_WORKSPACE_READS: [&str; 3] = [
    "get_latest_workspace_build_by_workspace_id",
    "get_provisioner_job_by_id",
    "get_workspace_agents_in_latest_build_by_workspace_id",
];

/// Why a workspace whose latest build is `prev` still served the chat at
/// `at`, if it did: its build in flight or stopped, or a running start
/// whose chat agent was reachable.
fn still_usable(view: &TraceView, prev: &BuildView, at: Duration) -> Option<String> {
    let status = prev.status_at(at);
    if prev.in_flight_at(at) {
        return Some(format!("had build {} in flight", prev.label()));
    }
    if status != JobStatus::Succeeded {
        return None;
    }
    if prev.transition == Transition::Stop {
        return Some(format!("was stopped by {}", prev.label()));
    }
    let agent = view.chat_agent_of(&prev.id)?;
    let statuses = agent.statuses_during(at, at + STATUS_SLACK);
    let unreachable = statuses.iter().any(|s| s.status.is_unreachable());
    (!unreachable && !statuses.is_empty()).then(|| {
        format!(
            "was running {} with its chat agent {} {}",
            prev.label(),
            agent.name,
            statuses[0].status
        )
    })
}

// ---- retry_no_second_charge -------------------------------------------------

pub(super) fn retry_no_second_charge(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for b in view
        .builds
        .iter()
        .filter(|b| b.hook == Hook::Start && b.by.chat().is_some())
    {
        let before = view
            .builds
            .iter()
            .filter(|o| o.workspace == b.workspace && o.number < b.number)
            .max_by_key(|o| o.number);
        let Some(prev) = before else { continue };
        let status = prev.status_at(b.enqueued);
        let running = prev.transition == Transition::Start
            && matches!(
                status,
                JobStatus::Pending | JobStatus::Running | JobStatus::Succeeded
            );
        if running {
            let message = format!(
                "{} enqueued start build {} (a second charge) while start build {} was {}",
                b.by,
                b.label(),
                prev.label(),
                status.as_str()
            );
            out.push(violation(RETRY_NO_SECOND_CHARGE, b.enqueued, message));
        }
    }
    out
}

// ---- parallel_creates_one_workspace -----------------------------------------

/// Spec 1 §1.5 and §3.4: create takes the chat's workspace lock, so of
/// parallel `create_workspace` calls in one turn (calls whose executions
/// overlap in time, grouped transitively) the later ones see the first's
/// binding and return it ("already exists"). Among the create-hook
/// enqueues of that chat during the group's span, each after the first
/// is a violation — unless the chat was not bound to the earlier one's
/// workspace just before it (its binding write failed, spec 1 §3.3 step
/// 18), or the earlier workspace no longer served it (its build failed or
/// was canceled, its chat agent read unreachable, §3.4 step 7), or a read
/// of `checkExistingWorkspace` was failing (§3.4 steps 5–6, 7c).
pub(super) fn parallel_creates_one_workspace(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    for group in parallel_create_groups(view) {
        let Some(chat) = view.chat_of(group[0]) else {
            continue;
        };
        let from = group.iter().map(|c| c.sent).min().unwrap_or_default();
        let to = group
            .iter()
            .map(|c| c.result.as_ref().map_or(Duration::MAX, |r| r.at))
            .max()
            .unwrap_or_default();
        let enqueues: Vec<&BuildView> = view
            .builds
            .iter()
            .filter(|b| b.hook == Hook::Create && b.by.chat() == Some(chat))
            .filter(|b| b.enqueued >= from && b.enqueued <= to)
            .collect();
        for pair in enqueues.windows(2) {
            let (first, next) = (pair[0], pair[1]);
            let before = next.enqueued.saturating_sub(Duration::from_millis(1));
            if view.binding_at(chat, before) != Some(first.workspace_id.as_str()) {
                continue;
            }
            let Some(prev) = view.latest_build(&first.workspace, before) else {
                continue;
            };
            if let Some(why) = create_not_allowed(view, prev, next.enqueued) {
                let message = format!(
                    "{} parallel create_workspace calls of turn {} in chat {chat} enqueued {} and then {}, while {} {why}",
                    group.len(),
                    group[0].turn,
                    first.label(),
                    next.label(),
                    first.workspace
                );
                out.push(violation(
                    PARALLEL_CREATES_ONE_WORKSPACE,
                    next.enqueued,
                    message,
                ));
            }
        }
    }
    out
}

/// The groups (two or more) of `create_workspace` calls of one turn whose
/// executions overlap, transitively, in order of sending.
fn parallel_create_groups(view: &TraceView) -> Vec<Vec<&CallView>> {
    let mut groups: Vec<Vec<&CallView>> = Vec::new();
    let creates = view.calls.iter().filter(|c| c.name == "create_workspace");
    for call in creates {
        let joins = groups.last_mut().filter(|g| {
            g[0].turn == call.turn
                && g.iter()
                    .any(|o| o.result.as_ref().is_none_or(|r| r.at >= call.sent))
        });
        match joins {
            Some(group) => group.push(call),
            None => groups.push(vec![call]),
        }
    }
    groups.retain(|g| g.len() > 1);
    groups
}
