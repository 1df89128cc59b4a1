//! The truthfulness oracle: every claim a lifecycle tool's response makes
//! is compared with the simulated world at the virtual instant coderd
//! built the response (its `response` mark; a trace without marks falls
//! back to the driver's receipt). A contradiction is a violation named
//! after the claim's kind, carrying both values ("claimed X, world Y").
//! Where upstream contradicts the world by design, the engine stays
//! faithful and the oracle returns a [`Finding`] instead: listed
//! separately, tied to the spec section, never silenced and never failing
//! a run. `docs/INVARIANTS.md` (truthfulness) lists every claim checked.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chatsim_engine::model::{JobStatus, LifecycleState, Transition};
use chatsim_engine::BUILD_POLL_INTERVAL;
use serde_json::{Map, Value};

use super::{violation, Input, Violation};
use crate::observe::trace::{format_time, Event, Trace};
use crate::observe::view::{BuildView, CallView, TraceView};

/// `started`, `created`, `stopped` and create's `status` name a build (or
/// the workspace's latest) in the state they say.
pub const TRUTHFUL_BUILD_STATE: &str = "truthful_build_state";
/// A build-failure result (`error` + `build_id`) names a build that ended
/// as the error says: failed with that error (and code), canceled, or
/// still running at a timeout.
pub const TRUTHFUL_BUILD_FAILURE: &str = "truthful_build_failure";
/// `no_agent`, a ready agent (no agent keys), `startup_scripts_failed`
/// with its `lifecycle_state`, and `startup_scripts_timeout` match the
/// build's chat agent.
pub const TRUTHFUL_AGENT: &str = "truthful_agent";
/// A quota result's `credits_consumed` and `budget` are the owner's.
pub const TRUTHFUL_QUOTA: &str = "truthful_quota";
/// read_template's active version and parameters are the template's.
pub const TRUTHFUL_TEMPLATE: &str = "truthful_template";

/// Known upstream finding: start_workspace joins an in-progress build
/// whatever its transition (spec 2 §1.2 step 6: pending/running, then the
/// agent wait and `started: true`), so joining a stop reports `started`.
pub const START_JOINS_STOP_BUILD: &str = "start_joins_stop_build";
/// Known upstream finding: create_workspace's existing-workspace check
/// waits for an in-progress build of any transition and reports
/// `already_exists` / `workspace build completed` (spec 1 §3.4 step 7c),
/// so a stop it waited for reads as an existing workspace.
pub const CREATE_JOINS_STOP_BUILD: &str = "create_joins_stop_build";
/// Known upstream finding: a result built from a read taken before a wait
/// (the agent wait of spec 2 §1.3 / spec 1 §3.8) is not re-read, so a
/// build someone else made meanwhile leaves the claim stale.
pub const CLAIM_READ_BEFORE_WAIT: &str = "claim_read_before_wait";

/// Every known-finding kind with its spec section.
pub const FINDINGS: [(&str, &str); 3] = [
    (START_JOINS_STOP_BUILD, "spec 2 §1.2 step 6"),
    (CREATE_JOINS_STOP_BUILD, "spec 1 §3.4 step 7c"),
    (CLAIM_READ_BEFORE_WAIT, "spec 2 §1.3, spec 1 §3.8"),
];

/// A response that contradicts the world because upstream does so by
/// design: reported, never a violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The finding's kind (one of [`FINDINGS`]).
    pub kind: &'static str,
    /// When coderd built the response.
    pub at: Duration,
    /// The claim and the world, in words.
    pub message: String,
}

impl Finding {
    /// The spec section that makes it upstream's behaviour.
    pub fn spec(&self) -> &'static str {
        FINDINGS
            .iter()
            .find(|(kind, _)| *kind == self.kind)
            .map_or("", |(_, spec)| spec)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "known upstream finding {} ({}) at {}s: {}",
            self.kind,
            self.spec(),
            format_time(self.at),
            self.message
        )
    }
}

/// The known upstream findings of a trace, in call order.
pub fn findings(trace: &Trace) -> Vec<Finding> {
    judge(&TraceView::new(trace)).1
}

pub(super) fn build_state(input: &Input<'_>) -> Vec<Violation> {
    named(input, TRUTHFUL_BUILD_STATE)
}

pub(super) fn build_failure(input: &Input<'_>) -> Vec<Violation> {
    named(input, TRUTHFUL_BUILD_FAILURE)
}

pub(super) fn agent(input: &Input<'_>) -> Vec<Violation> {
    named(input, TRUTHFUL_AGENT)
}

pub(super) fn quota(input: &Input<'_>) -> Vec<Violation> {
    named(input, TRUTHFUL_QUOTA)
}

pub(super) fn template(input: &Input<'_>) -> Vec<Violation> {
    named(input, TRUTHFUL_TEMPLATE)
}

/// The oracle's violations of the invariant `name` (judged once per run,
/// in [`super::check_view`]).
fn named(input: &Input<'_>, name: &str) -> Vec<Violation> {
    input
        .truth
        .iter()
        .filter(|v| v.invariant == name)
        .cloned()
        .collect()
}

/// The lifecycle tools, whose responses make claims about the world.
const LIFECYCLE_TOOLS: [&str; 4] = [
    "create_workspace",
    "start_workspace",
    "stop_workspace",
    "read_template",
];

/// Every violation and finding of a trace.
pub(super) fn judge(view: &TraceView) -> (Vec<Violation>, Vec<Finding>) {
    let world = World::of(view);
    let mut out = Judged::default();
    for call in &view.calls {
        if !LIFECYCLE_TOOLS.contains(&call.name.as_str()) {
            continue;
        }
        let Some(result) = &call.result else { continue };
        let Some(claims) = &result.json else {
            continue;
        };
        let at = call.built.as_ref().map_or(result.at, |(t, _)| *t);
        let mut response = Response {
            world: &world,
            call,
            claims,
            at,
            out: &mut out,
        };
        response.judge();
    }
    (out.violations, out.findings)
}

#[derive(Default)]
struct Judged {
    violations: Vec<Violation>,
    findings: Vec<Finding>,
}

/// What the trace says of the world beyond the view: job errors and agent
/// lifecycle reports.
struct World<'v> {
    view: &'v TraceView,
    /// Build ID → its failed job's error text (`None`: no text).
    failures: BTreeMap<&'v str, Option<&'v str>>,
    /// Agent ID → (time, reported lifecycle state), in order.
    lifecycles: BTreeMap<&'v str, Vec<(Duration, LifecycleState)>>,
    /// Build ID → its template version's name.
    versions: BTreeMap<&'v str, &'v str>,
}

impl<'v> World<'v> {
    fn of(view: &'v TraceView) -> World<'v> {
        let mut world = World {
            view,
            failures: BTreeMap::new(),
            lifecycles: BTreeMap::new(),
            versions: BTreeMap::new(),
        };
        for r in view.records() {
            match &r.event {
                Event::Job {
                    build,
                    status: JobStatus::Failed,
                    error,
                    ..
                } => {
                    world.failures.insert(build, error.as_deref());
                }
                Event::Enqueue { build, version, .. } => {
                    world.versions.insert(build, version);
                }
                Event::AgentLifecycle { agent, state } => {
                    world
                        .lifecycles
                        .entry(agent)
                        .or_default()
                        .push((r.at, *state));
                }
                _ => {}
            }
        }
        world
    }

    /// The lifecycle state an agent last reported by `at`.
    fn lifecycle_at(&self, agent: &str, at: Duration) -> Option<LifecycleState> {
        self.lifecycles
            .get(agent)?
            .iter()
            .take_while(|(t, _)| *t <= at)
            .last()
            .map(|(_, s)| *s)
    }

    /// Whether a database fault was in effect at some moment of `[from, to]`
    /// (a failing read makes the tools omit or keep polling, spec 1 §3.3
    /// step 21 and §3.8 phase 2).
    fn db_faulted(&self, from: Duration, to: Duration) -> bool {
        self.view.records().iter().any(|r| match &r.event {
            Event::Fault { name, params } if name == "db_query_fails" && r.at <= to => params
                .get("duration")
                .and_then(Value::as_str)
                .and_then(|d| crate::plan::parse_duration(d).ok())
                .is_none_or(|d| from <= r.at + d),
            _ => false,
        })
    }
}

/// One response being judged.
struct Response<'a, 'v> {
    world: &'a World<'v>,
    call: &'a CallView,
    claims: &'a Map<String, Value>,
    /// When coderd built it.
    at: Duration,
    out: &'a mut Judged,
}

/// The error prefixes of a failed build wait (spec 1 §3.3 step 19, §3.4
/// step 7b; spec 2 §1.2 steps 6b and 10, §3.2 steps 5d and 10).
const WAIT_PREFIXES: [&str; 5] = [
    "workspace build failed: ",
    "existing workspace build failed: ",
    "waiting for in-progress build: ",
    "workspace start build failed: ",
    "workspace stop build failed: ",
];

impl Response<'_, '_> {
    fn judge(&mut self) {
        if self.claims.contains_key("error") {
            self.build_failure();
            self.quota();
            return;
        }
        if self.call.name == "read_template" {
            self.template();
            return;
        }
        let flag = |key: &str| self.claims.get(key) == Some(&Value::Bool(true));
        let status = self.text("status");
        if flag("started") {
            self.started();
        } else if flag("created") {
            self.named_build(Transition::Start, "created", None);
        } else if flag("stopped") {
            match self.build_id() {
                Some(_) => self.named_build(Transition::Stop, "stopped", None),
                None => {
                    self.latest_is(Transition::Stop, "stopped");
                }
            }
        } else if status == Some("stopped") {
            self.latest_is(Transition::Stop, "status stopped");
        } else if status == Some("already_exists") {
            match self.build_id() {
                Some(_) => self.named_build(
                    Transition::Start,
                    "already_exists",
                    Some(CREATE_JOINS_STOP_BUILD),
                ),
                None => {
                    if let Some(build) = self.latest_is(Transition::Start, "already_exists") {
                        self.agent(&build);
                    }
                }
            }
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.claims.get(key).and_then(Value::as_str)
    }

    fn build_id(&self) -> Option<&str> {
        self.text("build_id")
    }

    /// The bare name of the workspace the response names.
    fn workspace(&self) -> &str {
        let name = self.text("workspace_name").unwrap_or_default();
        name.rsplit('/').next().unwrap_or(name)
    }

    fn who(&self) -> String {
        format!(
            "{} (turn {}, call {})",
            self.call.name, self.call.turn, self.call.call
        )
    }

    fn violate(&mut self, invariant: &'static str, claimed: String, world: String) {
        let message = format!("{} claimed {claimed}, world: {world}", self.who());
        self.out
            .violations
            .push(violation(invariant, self.at, message));
    }

    fn find(&mut self, kind: &'static str, claimed: String, world: String) {
        let message = format!("{} claimed {claimed}, world: {world}", self.who());
        self.out.findings.push(Finding {
            kind,
            at: self.at,
            message,
        });
    }

    /// A build's state in words.
    fn state(&self, b: &BuildView) -> String {
        format!(
            "{} is a {} whose job is {}",
            b.label(),
            b.transition.as_str(),
            b.status_at(self.at).as_str()
        )
    }

    /// `started: true`: the build it names (or, with `no_build`, the
    /// latest) is a succeeded start; then the agent claims.
    fn started(&mut self) {
        if self.build_id().is_some() {
            self.named_build(Transition::Start, "started", Some(START_JOINS_STOP_BUILD));
        } else if let Some(build) = self.latest_is(Transition::Start, "started (no build)") {
            self.agent(&build);
        }
    }

    /// The named build is a succeeded `transition`; a succeeded build of
    /// the other transition is `joined` (a known finding) when given.
    /// A succeeded start goes on to the agent claims.
    fn named_build(&mut self, transition: Transition, claim: &str, joined: Option<&'static str>) {
        let id = self.build_id().unwrap_or_default().to_string();
        let claimed = format!("{claim} (build {id})");
        let Some(b) = self.world.view.build(&id) else {
            let world = "no such build was ever enqueued".to_string();
            return self.violate(TRUTHFUL_BUILD_STATE, claimed, world);
        };
        if let Some(name) = self.text("workspace_name") {
            let bare = self.workspace();
            if bare != b.workspace {
                let claimed = format!("workspace {name:?} (build {id})");
                let world = format!("{} is a build of workspace {:?}", b.label(), b.workspace);
                return self.violate(TRUTHFUL_BUILD_STATE, claimed, world);
            }
        }
        if self.claims.get("updated_to_active_version") == Some(&Value::Bool(true)) {
            self.updated(b);
        }
        let succeeded = b.status_at(self.at) == JobStatus::Succeeded;
        match (succeeded, b.transition == transition, joined) {
            (true, true, _) => {
                if transition == Transition::Start {
                    let b = b.clone();
                    self.agent(&b);
                }
            }
            (true, false, Some(kind)) => {
                let world = self.state(b);
                self.find(kind, claimed, world);
            }
            _ => {
                let world = self.state(b);
                self.violate(TRUTHFUL_BUILD_STATE, claimed, world);
            }
        }
    }

    /// `updated_to_active_version`: the build's template version differs
    /// from the workspace's previous build's (spec 2 §1.2 step 12).
    fn updated(&mut self, b: &BuildView) {
        let view = self.world.view;
        let version = |id: &str| self.world.versions.get(id).copied().unwrap_or("?");
        let previous = view
            .builds
            .iter()
            .find(|p| p.workspace == b.workspace && p.number == b.number - 1);
        let Some(previous) = previous else { return };
        let (now, before) = (version(&b.id), version(&previous.id));
        if now == before {
            let claimed = format!("updated_to_active_version (build {})", b.label());
            let world = format!(
                "{} and {} are both of version {now}",
                previous.label(),
                b.label()
            );
            self.violate(TRUTHFUL_BUILD_STATE, claimed, world);
        }
    }

    /// The workspace's latest build is a succeeded `transition` at the
    /// response; if it was only earlier in the call (someone else's build
    /// came meanwhile), a [`CLAIM_READ_BEFORE_WAIT`] finding. Returns the
    /// build the claim was true of.
    fn latest_is(&mut self, transition: Transition, claim: &str) -> Option<BuildView> {
        let view = self.world.view;
        let workspace = self.workspace().to_string();
        let holds = |at: Duration| {
            view.latest_build(&workspace, at)
                .filter(|b| b.transition == transition && b.status_at(at) == JobStatus::Succeeded)
        };
        let claimed = format!("{claim} for workspace {workspace:?}");
        let world = view.latest_build(&workspace, self.at).map_or_else(
            || "the workspace has no build".to_string(),
            |b| format!("its latest build {}", self.state(b)),
        );
        if let Some(b) = holds(self.at) {
            return Some(b.clone());
        }
        // Every instant the answer could change: the call's start, each
        // enqueue and job change of the workspace's builds within the call.
        let (from, to) = (self.call.sent, self.at);
        let moments = view
            .builds
            .iter()
            .filter(|b| b.workspace == workspace)
            .flat_map(|b| std::iter::once(b.enqueued).chain(b.statuses.iter().map(|s| s.0)))
            .filter(|t| (from..=to).contains(t));
        let earlier = std::iter::once(from)
            .chain(moments)
            .filter_map(|t| holds(t).cloned())
            .next_back();
        match earlier {
            Some(b) => {
                self.find(CLAIM_READ_BEFORE_WAIT, claimed, world);
                Some(b)
            }
            None => {
                self.violate(TRUTHFUL_BUILD_STATE, claimed, world);
                None
            }
        }
    }

    /// The agent claims of a succeeded start build's result.
    fn agent(&mut self, build: &BuildView) {
        let view = self.world.view;
        let agent_status = self.text("agent_status");
        let scripts = self.text("startup_scripts");
        if agent_status == Some("no_agent") {
            // A failing agents read also reads as none (spec 2 §1.3), and
            // the read is of the workspace's latest build.
            let latest = view.latest_build(&build.workspace, self.at);
            if self.world.db_faulted(self.call.sent, self.at)
                || latest.is_some_and(|l| l.id != build.id)
            {
                return;
            }
            let seen = view.agents.iter().find(|a| {
                a.build == build.id && a.statuses.first().is_some_and(|s| s.at <= self.at)
            });
            if let Some(a) = seen {
                let claimed = format!("no_agent for build {}", build.label());
                let world = format!("its agent {} existed", a.name);
                self.violate(TRUTHFUL_AGENT, claimed, world);
            }
            return;
        }
        if agent_status.is_some() {
            return; // not_ready, selection_error: the engine's own observation
        }
        // A failing read leaves the keys out or keeps polling.
        if self.world.db_faulted(self.call.sent, self.at) {
            return;
        }
        let Some(agent) = view.chat_agent_of(&build.id) else {
            return;
        };
        let state = self.world.lifecycle_at(&agent.id, self.at);
        let shown = state.map_or("none", LifecycleState::as_str);
        let (ok, claimed) = match scripts {
            None => (
                state == Some(LifecycleState::Ready),
                "agent ready".to_string(),
            ),
            Some("startup_scripts_failed") => {
                let said = self.text("lifecycle_state").unwrap_or_default();
                (
                    state.is_some_and(|s| s.as_str() == said),
                    format!("startup_scripts_failed in lifecycle {said}"),
                )
            }
            Some("startup_scripts_timeout") => (
                matches!(
                    state,
                    None | Some(LifecycleState::Created | LifecycleState::Starting)
                ),
                "startup_scripts_timeout".to_string(),
            ),
            Some(_) => return,
        };
        if !ok {
            let claimed = format!("{claimed} (build {})", build.label());
            let world = format!("agent {} last reported lifecycle {shown}", agent.name);
            self.violate(TRUTHFUL_AGENT, claimed, world);
        }
    }

    /// A failed build wait names a build that ended as the error says.
    fn build_failure(&mut self) {
        let Some(id) = self.build_id().map(str::to_string) else {
            return;
        };
        let error = self.text("error").unwrap_or_default().to_string();
        let Some(inner) = WAIT_PREFIXES.iter().find_map(|p| error.strip_prefix(p)) else {
            return;
        };
        let claimed = format!("{error:?} (build {id})");
        let Some(b) = self.world.view.build(&id) else {
            let world = "no such build was ever enqueued".to_string();
            return self.violate(TRUTHFUL_BUILD_FAILURE, claimed, world);
        };
        let status = b.status_at(self.at);
        let quota = self.text("error_code");
        let ok = if inner == "build was canceled" {
            status == JobStatus::Canceled
        } else if inner.starts_with("timed out waiting for workspace build: ") {
            // The wait's last poll may be up to one interval old.
            let polled = self.at.saturating_sub(BUILD_POLL_INTERVAL);
            !matches!(
                b.status_at(polled),
                JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
            )
        } else if inner.starts_with("get build: ")
            || inner.starts_with("get provisioner job: ")
            || inner.starts_with("unexpected job status: ")
        {
            true // a read failed: no claim about the build
        } else {
            let text = self.world.failures.get(id.as_str()).copied().flatten();
            let code = b
                .statuses
                .iter()
                .rev()
                .find(|s| s.1 == JobStatus::Failed)
                .and_then(|s| s.2.as_deref());
            status == JobStatus::Failed
                && text.unwrap_or("build failed") == inner
                && quota.is_none_or(|q| Some(q) == code)
        };
        if !ok {
            let text = self.world.failures.get(id.as_str()).copied().flatten();
            let world = match text {
                Some(text) if status == JobStatus::Failed => {
                    format!("{} with error {text:?}", self.state(b))
                }
                _ => self.state(b),
            };
            self.violate(TRUTHFUL_BUILD_FAILURE, claimed, world);
        }
    }

    /// A quota result's numbers are what the database held.
    fn quota(&mut self) {
        let Some(said) = self.claims.get("quota") else {
            return;
        };
        let Some((_, world)) = &self.call.built else {
            return;
        };
        let Some(truth) = &world.quota else { return };
        let consumed = said.get("credits_consumed").and_then(Value::as_i64);
        let budget = said.get("budget").and_then(Value::as_i64);
        if consumed != Some(truth.credits_consumed) || budget != Some(truth.budget) {
            let claimed = format!("quota {said}");
            let world = format!(
                "credits_consumed {} of budget {}",
                truth.credits_consumed, truth.budget
            );
            self.violate(TRUTHFUL_QUOTA, claimed, world);
        }
    }

    /// read_template's active version and parameters are the template's.
    fn template(&mut self) {
        let Some((_, world)) = &self.call.built else {
            return;
        };
        let Some(truth) = world.template.clone() else {
            return;
        };
        let version = self
            .claims
            .get("template")
            .and_then(|t| t.get("active_version_id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if version != truth.active_version_id {
            let claimed = format!("active version {version}");
            let world = format!("active version {}", truth.active_version_id);
            self.violate(TRUTHFUL_TEMPLATE, claimed, world);
        }
        let said: Vec<String> = self
            .claims
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(parameter_text).collect())
            .unwrap_or_default();
        let real: Vec<String> = truth
            .parameters
            .iter()
            .map(|p| {
                let default = if p.default.is_empty() {
                    String::new()
                } else {
                    format!("={}", p.default)
                };
                let required = if p.required { " (required)" } else { "" };
                format!("{}{default}{required}", p.name)
            })
            .collect();
        if said != real {
            let claimed = format!("parameters [{}]", said.join(", "));
            let world = format!("parameters [{}]", real.join(", "));
            self.violate(TRUTHFUL_TEMPLATE, claimed, world);
        }
    }
}

/// A read_template parameter as `name[=default][ (required)]`.
fn parameter_text(p: &Value) -> String {
    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
    let default = p
        .get("default")
        .and_then(Value::as_str)
        .map_or(String::new(), |d| format!("={d}"));
    let required = if p.get("required") == Some(&Value::Bool(true)) {
        " (required)"
    } else {
        ""
    };
    format!("{name}{default}{required}")
}
