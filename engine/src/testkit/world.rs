//! World builders: a deployment with an organization, an owner and a chat in
//! one line; templates, workspaces and agents in one more.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{select, Either};
use futures::lock::Mutex;
use uuid::Uuid;

use super::dialer::{DialPlan, FakeDialer};
use super::executor::ManualClock;
use super::fakes::{RecordingEvents, SeqIds};
use crate::ctx::{Cancel, Ctx};
use crate::memory::{JobOutcome, MemCoderd, MemStore};
use crate::model::*;
use crate::ports::{Clock, Ids};
use crate::tools::{ToolEnv, ToolResponse};

/// The agent inactive-disconnect timeout worlds use (as upstream tests do).
pub const TEST_INACTIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// How the test provisioner and the agents it starts behave.
#[derive(Clone, Debug)]
pub struct ProvisionerScript {
    /// How long every job runs.
    pub build_duration: Duration,
    /// Outcomes of the next jobs, in order; then `Succeeded` (or the quota
    /// failure when the commit is refused).
    pub outcomes: Vec<JobOutcome>,
    /// Every job runs forever (a stuck provisioner).
    pub hang: bool,
    /// Per agent name; agents not listed connect after 1 s and are ready 2 s later.
    pub agents: BTreeMap<String, AgentScript>,
}

impl Default for ProvisionerScript {
    fn default() -> Self {
        ProvisionerScript {
            build_duration: Duration::from_secs(10),
            outcomes: Vec::new(),
            hang: false,
            agents: BTreeMap::new(),
        }
    }
}

/// How one agent behaves once its build succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentScript {
    /// `None`: never connects.
    pub connect_after: Option<Duration>,
    /// Lifecycle state reached once the startup scripts end.
    pub final_state: LifecycleState,
    /// How long the startup scripts run after the agent connects.
    pub scripts_duration: Duration,
}

impl Default for AgentScript {
    fn default() -> Self {
        AgentScript {
            connect_after: Some(Duration::from_secs(1)),
            final_state: LifecycleState::Ready,
            scripts_duration: Duration::from_secs(2),
        }
    }
}

/// Ids of a template built by `TemplateBuilder`.
#[derive(Clone, Debug)]
pub struct TemplateIds {
    /// The template.
    pub template: Uuid,
    /// Its active version.
    pub version: Uuid,
    /// Its presets, in the order they were added.
    pub presets: Vec<Uuid>,
}

/// A deployment for one chat: in-memory store and coderd, manual clock,
/// scripted dialer and provisioner.
///
/// Two starting points:
///
/// | | [`World::new`] | [`World::ready`] |
/// |---|---|---|
/// | allowlist tools see | always `Some(&allowlist)` (empty = all) | `None` until `allowlist` has an entry |
/// | default dial | [`DialPlan::FollowStatus`] (hangs unless the agent reads connected) | [`DialPlan::Succeed`] |
/// | agents of a succeeded start build made by [`World::workspace`] / [`World::add_build`] | never connected | connected now and `ready` |
/// | agents the background provisioner starts (unscripted) | connect after 1 s, ready 2 s later | connect and are ready on the next tick |
/// | inactive timeout | [`TEST_INACTIVE_TIMEOUT`] | [`TEST_INACTIVE_TIMEOUT`] |
///
/// Both can change later: [`World::set_inactive_timeout`], the dialer's
/// plans, [`World::set_agent_status`].
pub struct World {
    /// The database (faults are injected here).
    pub store: Rc<MemStore>,
    /// Virtual time; moves only when the world runs or a test advances it.
    pub clock: ManualClock,
    /// Sequential IDs.
    pub ids: Rc<SeqIds>,
    /// Every event the engine emitted.
    pub events: Rc<RecordingEvents>,
    /// The build hooks and job API over `store`.
    pub coderd: MemCoderd,
    /// The scripted dialer (by default it follows the agents' status).
    pub dialer: FakeDialer,
    /// Organization `coder`.
    pub organization: Uuid,
    /// User `testuser`, a member of the organization.
    pub owner: Uuid,
    /// The owner's root chat, with no workspace at first.
    pub chat: Uuid,
    /// The chat template allowlist tools see (empty = every template).
    pub allowlist: BTreeSet<Uuid>,
    /// The per-chat lock tools share.
    pub workspace_mu: Mutex<()>,
    /// Every chat row `OnChatUpdated` was called with, in order.
    pub chat_updates: Rc<RefCell<Vec<Chat>>>,
    /// The turn's cancellation (`cancel_after` fires it).
    pub cancel: Cancel,
    /// How the background provisioner and agents behave.
    pub provisioner: RefCell<ProvisionerScript>,
    on_chat_updated: Box<dyn Fn(&Chat)>,
    inactive_timeout: Cell<Duration>,
    /// `World::new`: tools always see `Some(&allowlist)`.
    allowlist_always: bool,
    /// `World::ready`: agents of succeeded start builds connect at once.
    agents_ready_at_once: bool,
    /// How unscripted agents of the background provisioner behave.
    default_agent: AgentScript,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// Organization `coder`, owner `testuser` (member), Everyone group with
    /// no quota, and one root chat without a workspace.
    pub fn new() -> World {
        let store = Rc::new(MemStore::new());
        let clock = ManualClock::default();
        let ids = Rc::new(SeqIds::default());
        let (organization, owner, chat) = (ids.new_uuid(), ids.new_uuid(), ids.new_uuid());
        store.edit(|t| {
            t.organizations.push(Organization {
                id: organization,
                name: "coder".into(),
            });
            t.users.push(User {
                id: owner,
                username: "testuser".into(),
                roles: vec!["member".into()],
            });
            t.organization_members.push((organization, owner));
            t.groups.push(Group {
                id: organization,
                organization_id: organization,
                name: "Everyone".into(),
                quota_allowance: 0,
                members: vec![],
            });
            t.chats.push(Chat {
                id: chat,
                owner_id: owner,
                organization_id: organization,
                ..Chat::default()
            });
        });
        let clock_port: Rc<dyn Clock> = Rc::new(clock.clone());
        let ids_port: Rc<dyn Ids> = ids.clone();
        let coderd = MemCoderd::new(store.clone(), clock_port, ids_port);
        let dialer = FakeDialer::new(store.clone(), clock.clone(), TEST_INACTIVE_TIMEOUT);
        let chat_updates: Rc<RefCell<Vec<Chat>>> = Rc::default();
        let recorded = chat_updates.clone();
        World {
            store,
            clock,
            ids,
            events: Rc::default(),
            coderd,
            dialer,
            organization,
            owner,
            chat,
            allowlist: BTreeSet::new(),
            workspace_mu: Mutex::new(()),
            chat_updates,
            cancel: Cancel::new(),
            provisioner: RefCell::new(ProvisionerScript::default()),
            on_chat_updated: Box::new(move |c: &Chat| recorded.borrow_mut().push(c.clone())),
            inactive_timeout: Cell::new(TEST_INACTIVE_TIMEOUT),
            allowlist_always: true,
            agents_ready_at_once: false,
            default_agent: AgentScript::default(),
        }
    }

    /// The world a test writer expects by default: as [`World::new`], but
    /// with no allowlist (tools see `None` until `allowlist` has an entry),
    /// dials that succeed ([`DialPlan::Succeed`]), and agents connected and
    /// `ready` as soon as their start build succeeds. See the table on
    /// [`World`].
    pub fn ready() -> World {
        let mut world = World::new();
        world.allowlist_always = false;
        world.agents_ready_at_once = true;
        world.default_agent = AgentScript {
            connect_after: Some(Duration::ZERO),
            final_state: LifecycleState::Ready,
            scripts_duration: Duration::ZERO,
        };
        world.dialer.default_plan(DialPlan::Succeed);
        world
    }

    /// The agent inactive-disconnect timeout tools and the dialer use now.
    pub fn inactive_timeout(&self) -> Duration {
        self.inactive_timeout.get()
    }

    /// Changes the agent inactive-disconnect timeout for later `env()`s and
    /// for the dialer's [`DialPlan::FollowStatus`].
    pub fn set_inactive_timeout(&self, timeout: Duration) {
        self.inactive_timeout.set(timeout);
        self.dialer.set_inactive_timeout(timeout);
    }

    /// A tool environment with every port and option configured.
    pub fn env(&self) -> ToolEnv<'_> {
        ToolEnv {
            store: self.store.as_ref(),
            coderd: Some(&self.coderd),
            dialer: Some(&self.dialer),
            clock: &self.clock,
            ids: self.ids.as_ref(),
            events: self.events.as_ref(),
            chat_id: self.chat,
            organization_id: self.organization,
            owner_id: self.owner,
            allowed_template_ids: (self.allowlist_always || !self.allowlist.is_empty())
                .then_some(&self.allowlist),
            agent_inactive_disconnect_timeout: self.inactive_timeout(),
            workspace_mu: Some(&self.workspace_mu),
            on_chat_updated: Some(self.on_chat_updated.as_ref()),
            ctx: Ctx::new(self.cancel.clone()),
            #[cfg(feature = "bugs")]
            bug: None,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> crate::time::Time {
        self.clock.now()
    }

    /// Starts a template `name` of the organization: one `main` agent, no
    /// parameters, no presets, no cost.
    pub fn template(&self, name: &str) -> TemplateBuilder<'_> {
        TemplateBuilder::new(self, name)
    }

    /// Sets the Everyone group's quota allowance.
    pub fn quota_allowance(&self, allowance: i64) {
        let org = self.organization;
        self.store.edit(|t| {
            if let Some(g) = t.groups.iter_mut().find(|g| g.id == org) {
                g.quota_allowance = allowance;
            }
        });
    }

    /// The chat's row as stored now.
    pub fn chat_row(&self) -> Chat {
        self.store
            .tables()
            .chats
            .iter()
            .find(|c| c.id == self.chat)
            .cloned()
            .expect("chat")
    }

    /// Runs a future on virtual time; panics if it can never finish.
    pub fn run<T>(&self, future: impl Future<Output = T>) -> T {
        self.clock
            .run(future)
            .expect("future stalled on virtual time")
    }

    /// Runs a tool call while the test provisioner and agents do their work.
    pub fn call(&self, tool: impl Future<Output = ToolResponse>) -> ToolResponse {
        self.run(async {
            let background = pin!(self.background());
            match select(pin!(tool), background).await {
                Either::Left((response, _)) => response,
                Either::Right(_) => unreachable!("the background never ends"),
            }
        })
    }

    /// Runs any future (e.g. several tool calls joined) while the test
    /// provisioner and agents do their work.
    pub fn drive<T>(&self, future: impl Future<Output = T>) -> T {
        self.run(async {
            let background = pin!(self.background());
            match select(pin!(future), background).await {
                Either::Left((value, _)) => value,
                Either::Right(_) => unreachable!("the background never ends"),
            }
        })
    }

    /// Runs a tool call beside a scripted story (a user canceling, an agent
    /// becoming ready, a test holding a lock); the story's end does not end
    /// the call.
    pub fn call_while(
        &self,
        tool: impl Future<Output = ToolResponse>,
        story: impl Future<Output = ()>,
    ) -> ToolResponse {
        self.drive(async { futures::future::join(tool, story).await.0 })
    }

    /// Cancels the turn after `after` of virtual time (a story for
    /// `call_while`).
    pub async fn cancel_after(&self, after: Duration) {
        self.clock.sleep(after).await;
        self.cancel.cancel();
    }

    /// The provisioner and agent loop: every second, run pending jobs and
    /// move agents along their scripts.
    pub async fn background(&self) {
        let mut running: Vec<(crate::time::Time, Uuid)> = Vec::new();
        let mut agents_started: Vec<(crate::time::Time, WorkspaceAgent)> = Vec::new();
        loop {
            let now = self.clock.now();
            let script = self.provisioner.borrow().clone();
            while let Some(assignment) = self.coderd.acquire_job() {
                running.push((now + script.build_duration, assignment.job_id));
            }
            let (due, later): (Vec<_>, Vec<_>) =
                running.into_iter().partition(|(at, _)| *at <= now);
            running = later;
            for (_, job_id) in due {
                if script.hang {
                    running.push((crate::time::Time::from_micros(i64::MAX), job_id));
                    continue;
                }
                for agent in self.finish_job(job_id) {
                    agents_started.push((now, agent));
                }
            }
            for (started, agent) in &agents_started {
                self.advance_agent(*started, agent, now);
            }
            self.clock.sleep(Duration::from_secs(1)).await;
        }
    }

    fn finish_job(&self, job_id: Uuid) -> Vec<WorkspaceAgent> {
        let scripted = {
            let mut script = self.provisioner.borrow_mut();
            (!script.outcomes.is_empty()).then(|| script.outcomes.remove(0))
        };
        match scripted {
            Some(outcome) => self.coderd.complete_job(job_id, outcome),
            None => {
                let cost = self.store.edit(|t| {
                    let build = t.builds.iter().find(|b| b.job_id == job_id)?;
                    let version = t.template_version(build.template_version_id)?;
                    Some(if build.transition == Transition::Start {
                        version.plan.daily_cost
                    } else {
                        0
                    })
                });
                let outcome = if self.coderd.commit_quota(job_id, cost.unwrap_or(0)) {
                    JobOutcome::Succeeded
                } else {
                    JobOutcome::Failed {
                        error: crate::memory::INSUFFICIENT_QUOTA_MESSAGE.into(),
                        code: Some(INSUFFICIENT_QUOTA.into()),
                    }
                };
                self.coderd.complete_job(job_id, outcome)
            }
        }
    }

    fn advance_agent(
        &self,
        started: crate::time::Time,
        agent: &WorkspaceAgent,
        now: crate::time::Time,
    ) {
        let script = self
            .provisioner
            .borrow()
            .agents
            .get(&agent.name)
            .cloned()
            .unwrap_or_else(|| self.default_agent.clone());
        let Some(connect_after) = script.connect_after else {
            return;
        };
        if now < started + connect_after {
            return;
        }
        let ready_at = started + connect_after + script.scripts_duration;
        self.store.edit(|t| {
            let Some(row) = t.agent_mut(agent.id) else {
                return;
            };
            if row.disconnected_at.is_some() {
                return; // killed by the test: stays down
            }
            row.first_connected_at.get_or_insert(now);
            row.last_connected_at = Some(now);
            row.lifecycle_state = if now >= ready_at {
                script.final_state
            } else {
                LifecycleState::Starting
            };
        });
    }

    /// A workspace for the chat's owner with one build in the given job
    /// state; agents of the template's plan exist when the build is a
    /// succeeded start. Binds the chat to it.
    pub fn workspace(
        &self,
        template: &TemplateIds,
        transition: Transition,
        status: JobStatus,
    ) -> (Uuid, WorkspaceBuild) {
        let name = format!("ws-{}", self.store.tables().workspaces.len() + 1);
        let workspace = Workspace {
            id: self.ids.new_uuid(),
            owner_id: self.owner,
            organization_id: self.organization,
            template_id: template.template,
            name,
            created_at: self.now(),
            ..Workspace::default()
        };
        self.store.edit(|t| t.workspaces.push(workspace.clone()));
        let build = self.add_build(workspace.id, template.version, transition, status);
        self.store.edit(|t| {
            let chat = t.chat_mut(self.chat).expect("chat");
            chat.workspace_id = Some(workspace.id);
            chat.build_id = Some(build.id);
        });
        (workspace.id, build)
    }

    /// Adds a build with a job in `status` (agents created for a succeeded start).
    pub fn add_build(
        &self,
        workspace_id: Uuid,
        version: Uuid,
        transition: Transition,
        status: JobStatus,
    ) -> WorkspaceBuild {
        let now = self.now();
        let job = ProvisionerJob {
            id: self.ids.new_uuid(),
            status,
            error: (status == JobStatus::Failed).then(|| "terraform apply failed".to_string()),
            error_code: None,
            created_at: now,
            started_at: None,
            completed_at: None,
        };
        let build = self.store.edit(|t| {
            let build = WorkspaceBuild {
                id: self.ids.new_uuid(),
                workspace_id,
                build_number: t
                    .latest_build(workspace_id)
                    .map_or(1, |b| b.build_number + 1),
                transition,
                template_version_id: version,
                job_id: job.id,
                initiator_id: self.owner,
                created_at: now,
                rich_parameters: vec![],
                daily_cost: 0,
            };
            t.jobs.push(job.clone());
            t.builds.push(build.clone());
            build
        });
        if status == JobStatus::Succeeded && transition == Transition::Start {
            // Re-run the success path for its agents, keeping the status.
            self.store
                .edit(|t| t.job_mut(job.id).expect("job").status = JobStatus::Running);
            let agents = self.coderd.complete_job(job.id, JobOutcome::Succeeded);
            if self.agents_ready_at_once {
                agents.iter().for_each(|a| self.connect_agent(a.id));
            }
        }
        build
    }

    /// The agents of a workspace's latest build.
    pub fn agents(&self, workspace_id: Uuid) -> Vec<WorkspaceAgent> {
        let t = self.store.tables();
        t.latest_build(workspace_id)
            .map(|b| t.agents_of_job(b.job_id))
            .unwrap_or_default()
    }

    /// A workspace's builds, oldest first.
    pub fn builds(&self, workspace_id: Uuid) -> Vec<WorkspaceBuild> {
        let tables = self.store.tables();
        let mut builds: Vec<WorkspaceBuild> = tables
            .builds
            .iter()
            .filter(|b| b.workspace_id == workspace_id)
            .cloned()
            .collect();
        builds.sort_by_key(|b| b.build_number);
        builds
    }

    /// A workspace's latest build (panics if it has none).
    pub fn latest_build(&self, workspace_id: Uuid) -> WorkspaceBuild {
        self.builds(workspace_id).pop().expect("a build")
    }

    /// The build ID of every chat row `OnChatUpdated` was called with, in
    /// order.
    pub fn chat_update_build_ids(&self) -> Vec<Option<Uuid>> {
        self.chat_updates
            .borrow()
            .iter()
            .map(|c| c.build_id)
            .collect()
    }

    /// Marks an agent connected now and ready.
    pub fn connect_agent(&self, agent_id: Uuid) {
        let now = self.now();
        self.edit_agent(agent_id, |a| {
            a.first_connected_at.get_or_insert(now);
            a.last_connected_at = Some(now);
            a.disconnected_at = None;
            a.lifecycle_state = LifecycleState::Ready;
        });
    }

    /// Records an explicit disconnect now.
    pub fn disconnect_agent(&self, agent_id: Uuid) {
        let now = self.now();
        self.edit_agent(agent_id, |a| a.disconnected_at = Some(now));
    }

    /// Changes an agent row in place (panics if there is none).
    pub fn edit_agent(&self, agent_id: Uuid, f: impl FnOnce(&mut WorkspaceAgent)) {
        self.store
            .edit(|t| f(t.agent_mut(agent_id).expect("agent")));
    }

    /// Moves virtual time forward and fires due timers (nothing is polled).
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// Builds a template with its active version, parameters, presets and plan.
pub struct TemplateBuilder<'w> {
    world: &'w World,
    template: Template,
    version: TemplateVersion,
    parameters: Vec<TemplateVersionParameter>,
    presets: Vec<(Preset, Vec<(String, String)>)>,
}

impl<'w> TemplateBuilder<'w> {
    fn new(world: &'w World, name: &str) -> Self {
        let template_id = world.ids.new_uuid();
        let version_id = world.ids.new_uuid();
        TemplateBuilder {
            world,
            template: Template {
                id: template_id,
                organization_id: world.organization,
                name: name.to_string(),
                active_version_id: version_id,
                ..Template::default()
            },
            version: TemplateVersion {
                id: version_id,
                template_id,
                name: "v1".into(),
                has_external_agent: Some(false),
                plan: VersionPlan {
                    agents: vec![AgentSpec {
                        name: "main".into(),
                        connection_timeout_seconds: 120,
                        operating_system: "linux".into(),
                        directory: "/home/coder".into(),
                        ..AgentSpec::default()
                    }],
                    daily_cost: 0,
                },
            },
            parameters: Vec::new(),
            presets: Vec::new(),
        }
    }

    /// Changes the template row.
    pub fn edit(mut self, f: impl FnOnce(&mut Template)) -> Self {
        f(&mut self.template);
        self
    }

    /// Puts the template in another organization.
    pub fn organization(mut self, organization: Uuid) -> Self {
        self.template.organization_id = organization;
        self
    }

    /// Turns on `require_active_version`.
    pub fn require_active_version(mut self) -> Self {
        self.template.require_active_version = true;
        self
    }

    /// A parameter; `default` empty and `required` true makes it mandatory.
    pub fn parameter(mut self, name: &str, required: bool, default: &str) -> Self {
        self.parameters.push(TemplateVersionParameter {
            template_version_id: self.version.id,
            name: name.to_string(),
            type_: "string".into(),
            required,
            default_value: default.to_string(),
            mutable: true,
            ..TemplateVersionParameter::default()
        });
        self
    }

    /// A parameter given as a whole row (its version is set here).
    pub fn parameter_row(mut self, mut row: TemplateVersionParameter) -> Self {
        row.template_version_id = self.version.id;
        self.parameters.push(row);
        self
    }

    /// A preset with its values and, optionally, a prebuild pool size.
    pub fn preset(
        mut self,
        name: &str,
        params: &[(&str, &str)],
        desired_prebuilds: Option<i32>,
    ) -> Self {
        let preset = Preset {
            id: self.world.ids.new_uuid(),
            template_version_id: self.version.id,
            name: name.to_string(),
            desired_prebuild_instances: desired_prebuilds,
            ..Preset::default()
        };
        let params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.presets.push((preset, params));
        self
    }

    /// Replaces the plan's agents.
    pub fn agents(mut self, agents: Vec<AgentSpec>) -> Self {
        self.version.plan.agents = agents;
        self
    }

    /// The version's only agent runs outside Coder.
    pub fn external(mut self) -> Self {
        self.version.has_external_agent = Some(true);
        for agent in &mut self.version.plan.agents {
            agent.external = true;
        }
        self
    }

    /// The quota cost of a start build.
    pub fn daily_cost(mut self, cost: i64) -> Self {
        self.version.plan.daily_cost = cost;
        self
    }

    /// Writes the template, its version, parameters and presets.
    pub fn create(self) -> TemplateIds {
        let ids = TemplateIds {
            template: self.template.id,
            version: self.version.id,
            presets: self.presets.iter().map(|(p, _)| p.id).collect(),
        };
        self.world.store.edit(|t| {
            t.templates.push(self.template);
            t.template_versions.push(self.version);
            t.template_version_parameters.extend(self.parameters);
            for (preset, params) in self.presets {
                for (name, value) in params {
                    t.preset_parameters.push(PresetParameter {
                        preset_id: preset.id,
                        name,
                        value,
                    });
                }
                t.presets.push(preset);
            }
        });
        ids
    }
}

/// Adds a new active version to a template (same plan unless edited).
pub fn new_active_version(world: &World, template: &TemplateIds, extra_required: &[&str]) -> Uuid {
    let version_id = world.ids.new_uuid();
    world.store.edit(|t| {
        let old = t
            .template_version(template.version)
            .cloned()
            .expect("version");
        let mut params = t.version_parameters(template.version);
        for p in &mut params {
            p.template_version_id = version_id;
        }
        for name in extra_required {
            params.push(TemplateVersionParameter {
                template_version_id: version_id,
                name: name.to_string(),
                type_: "string".into(),
                required: true,
                ..TemplateVersionParameter::default()
            });
        }
        t.template_versions.push(TemplateVersion {
            id: version_id,
            name: "v2".into(),
            ..old
        });
        t.template_version_parameters.extend(params);
        t.template_mut(template.template)
            .expect("template")
            .active_version_id = version_id;
    });
    version_id
}
