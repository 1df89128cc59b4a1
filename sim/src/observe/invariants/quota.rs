//! Quota: `INSUFFICIENT_QUOTA` comes only from the provisioner's quota
//! commit, and the commit decides it before apply.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chatsim_engine::model::{JobStatus, INSUFFICIENT_QUOTA};
use serde_json::Value;

use super::{violation, Input, Violation};
use crate::observe::trace::{format_time, Event};

/// `INSUFFICIENT_QUOTA` only from the quota commit, never from error text.
pub const INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT: &str = "insufficient_quota_only_from_commit";
/// A quota failure is decided at the commit, before apply.
pub const QUOTA_DECIDED_AT_COMMIT: &str = "quota_decided_at_commit";

/// A build's cost is charged at most once: one successful quota commit per
/// build.
pub const QUOTA_CHARGED_ONCE_PER_BUILD: &str = "quota_charged_once_per_build";

/// The build-log stage the provisioner applies in.
const APPLY_STAGE: &str = "apply";

// ---- insufficient_quota_only_from_commit ----------------------------------

pub(super) fn insufficient_quota_only_from_commit(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut out = Vec::new();
    let mut failed_commits: BTreeSet<&str> = BTreeSet::new();
    let mut quota_failed_builds: BTreeMap<&str, Duration> = BTreeMap::new();
    for record in view.records() {
        match &record.event {
            Event::QuotaCommit {
                build, ok: false, ..
            } => {
                failed_commits.insert(build);
            }
            Event::Job {
                workspace,
                build,
                number,
                error_code: Some(code),
                ..
            } if code == INSUFFICIENT_QUOTA => {
                quota_failed_builds.insert(build, record.at);
                if !failed_commits.contains(build.as_str()) {
                    let message = format!(
                        "build {workspace}#{number} failed with {INSUFFICIENT_QUOTA} without a failed quota commit"
                    );
                    out.push(violation(
                        INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT,
                        record.at,
                        message,
                    ));
                }
            }
            _ => {}
        }
    }
    for call in view.calls.iter().filter(|c| c.is_tool()) {
        let Some(result) = &call.result else { continue };
        let Some(obj) = &result.json else {
            continue;
        };
        if obj.get("error_code").and_then(Value::as_str) != Some(INSUFFICIENT_QUOTA) {
            continue;
        }
        let build = obj.get("build_id").and_then(Value::as_str);
        let from_commit =
            build.is_some_and(|b| quota_failed_builds.get(b).is_some_and(|t| *t <= result.at));
        if !from_commit {
            let message = format!(
                "{} (turn {}, call {}) reported {INSUFFICIENT_QUOTA} for build {:?}, which did not fail at the quota commit",
                call.name,
                call.turn,
                call.call,
                build.unwrap_or("<none>")
            );
            out.push(violation(
                INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT,
                result.at,
                message,
            ));
        }
    }
    out
}

// ---- quota_decided_at_commit -------------------------------------------------

/// Spec 2 §2 step 3 and the provisioner (init → plan → quota commit → apply): a
/// failed quota commit of a build (`quota_commit ok:false`) comes while the
/// build's job has not ended (no terminal job record of the build before
/// it), no `apply`-stage build log of that build follows it, and the job
/// never succeeds after it. The failure itself (the job failing with
/// `INSUFFICIENT_QUOTA`) may be preempted by a cancel or the hang detector,
/// so only its order is checked ([`INSUFFICIENT_QUOTA_ONLY_FROM_COMMIT`]).
pub(super) fn quota_decided_at_commit(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let records = view.records();
    let mut out = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let Event::QuotaCommit {
            build, ok: false, ..
        } = &record.event
        else {
            continue;
        };
        let label = view.build(build).map_or(build.clone(), |b| b.label());
        let mut fail = |at: Duration, why: String| {
            let message = format!(
                "the quota commit of build {label} failed at {}s, but {why}",
                format_time(record.at)
            );
            out.push(violation(QUOTA_DECIDED_AT_COMMIT, at, message));
        };
        let ended_before = records[..i].iter().find_map(|r| match &r.event {
            Event::Job {
                build: b, status, ..
            } if b == build && is_terminal(*status) => Some((r.at, *status)),
            _ => None,
        });
        if let Some((at, status)) = ended_before {
            fail(
                record.at,
                format!(
                    "its job had already ended {} at {}s",
                    status.as_str(),
                    format_time(at)
                ),
            );
        }
        for later in &records[i + 1..] {
            match &later.event {
                Event::BuildLog {
                    build: b, stage, ..
                } if b == build && stage == APPLY_STAGE => {
                    fail(later.at, "an apply-stage log line followed it".to_string());
                }
                Event::Job {
                    build: b,
                    status: JobStatus::Succeeded,
                    ..
                } if b == build => {
                    fail(later.at, "its job succeeded afterwards".to_string());
                }
                _ => {}
            }
        }
    }
    out
}

fn is_terminal(status: JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
    )
}

// ---- quota_charged_once_per_build ----------------------------------------------

/// The provisioner commits a start build's cost once, before apply; the
/// owner's consumption counts it from then on. However the model repeats,
/// duplicates or abandons its calls, no build is charged twice: at most one
/// successful `quota_commit` per build.
pub(super) fn quota_charged_once_per_build(input: &Input<'_>) -> Vec<Violation> {
    let view = input.view;
    let mut charged: BTreeMap<&str, Duration> = BTreeMap::new();
    let mut out = Vec::new();
    for record in view.records() {
        let Event::QuotaCommit {
            build, ok: true, ..
        } = &record.event
        else {
            continue;
        };
        match charged.get(build.as_str()) {
            Some(first) => {
                let label = view.build(build).map_or(build.clone(), |b| b.label());
                let message = format!(
                    "build {label} was charged again at {}s (first charged at {}s)",
                    format_time(record.at),
                    format_time(*first)
                );
                out.push(violation(QUOTA_CHARGED_ONCE_PER_BUILD, record.at, message));
            }
            None => {
                charged.insert(build, record.at);
            }
        }
    }
    out
}
