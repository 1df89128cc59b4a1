//! coderd: owns the database (`MemStore`) and the build hooks (`MemCoderd`),
//! runs the engine's tools for the chat driver, serves the provisioner and
//! agent APIs, turns agent connections and heartbeats into agent rows, and
//! dials agents for the engine.
//!
//! Only coderd's handlers write rows. The database outlives the coderd
//! process (it is Postgres): a bounce keeps every row.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;

use chatsim_engine::chat::ChatSettings;
use chatsim_engine::memory::{JobOutcome, MemCoderd, MemStore, Tables};
use chatsim_engine::model::{BuildParameter, JobStatus, ProvisionerJob, Workspace, WorkspaceBuild};
use chatsim_engine::ports::{
    Clock, Coderd, CreateWorkspaceRequest, CreatedWorkspace, Event as EngineEvent, Events,
    HookError, Ids, LocalBoxFuture,
};
use chatsim_engine::{Cancel, Time};
use uuid::Uuid;

use crate::bounds::{panic_exceeded, Bounds};
use crate::control::Cloud;
use crate::observe::trace::{id, EngineEventKind, Event, Hook, Requester, Tracer};
use crate::rng::SeedIds;
use crate::transport::{HostFactory, Net};

mod admin;
mod agent_api;
mod chat_api;
mod dialer;
mod monitors;
mod provisioner_api;
mod statuses;
mod user_api;
mod witness;

pub use admin::{own_group_name, AdminAction};
pub use dialer::SimDialer;

use super::CODERD;

/// coderd's timing settings.
#[derive(Clone, Debug)]
pub struct CoderdSettings {
    /// `AgentInactiveDisconnectTimeout`.
    pub inactive_timeout: Duration,
    /// An agent connection silent this long is closed (not recorded as a
    /// disconnect: the status reads disconnected from `last_connected_at`).
    pub agent_stale_after: Duration,
    /// A running job without an update this long is failed as hung.
    pub job_hang_timeout: Duration,
    /// Deadline of a user-level exec dial.
    pub dial_timeout: Duration,
    /// The run's loop bounds.
    pub bounds: Bounds,
}

/// The virtual clock: the world's elapsed time plus a fixed epoch. Never
/// tokio's `Instant` (each runtime has its own origin, reset by a bounce)
/// and never the wall clock.
#[derive(Clone)]
pub struct SimClock<N: Net> {
    net: N,
    epoch: Time,
    /// Bound on the re-sleeps of one `sleep_until`.
    sleep_rounds: u32,
}

impl<N: Net> SimClock<N> {
    /// Virtual time on `net`'s clock, counted from `epoch`; one sleep
    /// re-sleeps at most `sleep_rounds` times.
    pub fn new(net: N, epoch: Time, sleep_rounds: u32) -> SimClock<N> {
        SimClock {
            net,
            epoch,
            sleep_rounds,
        }
    }

    /// The virtual time the run started at.
    pub fn epoch(&self) -> Time {
        self.epoch
    }
}

impl<N: Net> Clock for SimClock<N> {
    fn now(&self) -> Time {
        self.epoch + self.net.elapsed()
    }

    fn sleep_until(&self, deadline: Time) -> LocalBoxFuture<'static, ()> {
        let clock = self.clone();
        Box::pin(async move {
            for _ in 0..clock.sleep_rounds {
                let now = clock.now();
                if now >= deadline {
                    return;
                }
                clock.net.sleep(deadline.since(now)).await;
            }
            // The port returns nothing: a panic in a host fails the run.
            panic_exceeded("clock sleep rounds", clock.sleep_rounds);
        })
    }
}

/// coderd's in-process state (lost with the process, unlike the database).
#[derive(Default)]
struct CoderdState {
    /// The current connection generation of each connected agent.
    agent_conns: BTreeMap<Uuid, u64>,
    next_conn: u64,
    /// When each running job last reported progress.
    job_touched: BTreeMap<Uuid, Time>,
    /// How many jobs, from the first, are known to have ended (an ended
    /// job never runs again): see [`CoderdCore::open_jobs`].
    ended_jobs: usize,
    /// Build-log lines by build ID.
    build_logs: BTreeMap<Uuid, Vec<(String, String)>>,
    /// The status watcher's watched agents and the status it last traced
    /// for each.
    statuses: statuses::StatusWatch,
    /// The cancellation signal of each turn in flight, by (chat, turn). A
    /// turn whose driver went away may linger beside the next one.
    turn_cancels: BTreeMap<(Uuid, usize), Cancel>,
}

/// Everything coderd owns.
pub struct CoderdCore<N: Net> {
    /// coderd's network handle.
    pub net: N,
    /// The database (Postgres: it outlives coderd's process).
    pub store: Rc<MemStore>,
    /// The build hooks over the database.
    pub hooks: MemCoderd,
    /// The virtual clock the engine reads.
    pub clock: SimClock<N>,
    /// Seeded ID generator.
    pub ids: SeedIds,
    /// Where coderd's events go.
    pub tracer: Tracer,
    /// The cloud the provisioner provisions into.
    pub cloud: Cloud,
    /// coderd's timing settings.
    pub settings: CoderdSettings,
    /// Chat names (as turns name them) → chat IDs.
    pub chat_names: BTreeMap<String, Uuid>,
    /// The chat runtime's settings (the allowlist is set per chat).
    pub chat_settings: ChatSettings,
    /// Template allowlists per chat (empty = every template).
    pub allowlists: BTreeMap<Uuid, BTreeSet<Uuid>>,
    state: RefCell<CoderdState>,
    /// A job changed state (`provisioner job posted`): wakes waiting acquires.
    jobs_posted: Notify,
    /// Rows an agent's status depends on changed: wakes the status watcher.
    statuses_dirty: Notify,
}

impl<N: Net> CoderdCore<N> {
    /// coderd's state over `store`, at virtual `epoch`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        net: N,
        store: Rc<MemStore>,
        epoch: Time,
        ids: SeedIds,
        tracer: Tracer,
        cloud: Cloud,
        settings: CoderdSettings,
        chat_settings: ChatSettings,
        chat_names: BTreeMap<String, Uuid>,
        allowlists: BTreeMap<Uuid, BTreeSet<Uuid>>,
    ) -> CoderdCore<N> {
        let clock = SimClock::new(net.clone(), epoch, settings.bounds.clock_sleep_rounds);
        let hooks = MemCoderd::new(store.clone(), Rc::new(clock.clone()), Rc::new(ids.clone()));
        #[cfg(feature = "bugs")]
        let hooks = hooks.with_bug(chat_settings.bug);
        CoderdCore {
            net,
            store,
            hooks,
            clock,
            ids,
            tracer,
            cloud,
            settings,
            chat_settings,
            chat_names,
            allowlists,
            state: RefCell::default(),
            jobs_posted: Notify::new(),
            statuses_dirty: Notify::new(),
        }
    }

    /// The jobs past the leading run of ended ones, in DB order: every
    /// job that is still pending, running or canceling is among them, and
    /// after a long run the ended ones are nearly all the rest.
    pub(crate) fn open_jobs<'t>(&self, t: &'t Tables) -> &'t [ProvisionerJob] {
        let mut state = self.state.borrow_mut();
        let ended = &mut state.ended_jobs;
        *ended = (*ended).min(t.jobs.len());
        while t.jobs.get(*ended).is_some_and(|j| j.status.is_terminal()) {
            *ended += 1;
        }
        &t.jobs[*ended..]
    }

    /// Tells the status watcher that agent or build rows changed.
    pub fn poke_statuses(&self) {
        self.statuses_dirty.notify_waiters();
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.clock.now()
    }

    /// Writes a trace event as coderd, now.
    pub fn emit(&self, event: Event) {
        self.tracer.emit(self.net.elapsed(), CODERD, event);
    }

    /// Traces the current state of a job (by job ID), and tells whoever
    /// waits on jobs (acquires, the status watcher).
    pub fn emit_job(&self, job_id: Uuid) {
        self.jobs_posted.notify_waiters();
        self.poke_statuses();
        let event = {
            let t = self.store.tables();
            let Some(job) = t.job(job_id) else {
                return;
            };
            let Some(build) = t.build_of_job(job_id) else {
                return;
            };
            let workspace = t
                .workspace(build.workspace_id)
                .map(|w| w.name.clone())
                .unwrap_or_default();
            Event::Job {
                workspace,
                build: id(build.id),
                number: build.build_number,
                transition: build.transition,
                status: job.status,
                error: job.error.clone(),
                error_code: job.error_code.clone(),
            }
        };
        self.emit(event);
    }

    /// The build-log lines coderd stored for a build, in order.
    pub fn build_logs(&self, build_id: Uuid) -> Vec<(String, String)> {
        self.state
            .borrow()
            .build_logs
            .get(&build_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Finishes a job through the hooks unless it already ended (a job the
    /// hang detector failed stays failed). Returns the agents created, or
    /// `None` when the job was not running.
    pub fn finish_job(
        &self,
        job_id: Uuid,
        outcome: JobOutcome,
    ) -> Option<Vec<chatsim_engine::model::WorkspaceAgent>> {
        let running = self
            .store
            .tables()
            .job(job_id)
            .is_some_and(|j| j.status == JobStatus::Running);
        if !running {
            return None;
        }
        let agents = self.complete_job(job_id, outcome);
        self.state.borrow_mut().job_touched.remove(&job_id);
        self.emit_job(job_id);
        Some(agents)
    }

    /// Records the cancellation signal of a turn in flight.
    pub(crate) fn turn_started(&self, chat: Uuid, turn: usize, cancel: Cancel) {
        let previous = self
            .state
            .borrow_mut()
            .turn_cancels
            .insert((chat, turn), cancel);
        assert!(previous.is_none(), "turn {turn} of a chat began twice");
    }

    /// A turn is over: nothing left to cancel.
    pub(crate) fn turn_ended(&self, chat: Uuid, turn: usize) {
        self.state.borrow_mut().turn_cancels.remove(&(chat, turn));
    }

    /// The user stops `chat` (by name) mid-turn: every turn of it in
    /// flight is canceled; `Err` when there is none.
    pub(crate) fn cancel_turn(&self, chat: &str) -> Result<serde_json::Value, String> {
        let id = *self
            .chat_names
            .get(chat)
            .ok_or_else(|| format!("chat {chat:?} not found"))?;
        let state = self.state.borrow();
        let turns: Vec<(usize, Cancel)> = state
            .turn_cancels
            .range((id, 0)..=(id, usize::MAX))
            .map(|(&(_, turn), cancel)| (turn, cancel.clone()))
            .collect();
        drop(state);
        if turns.is_empty() {
            return Err(format!("chat {chat:?} has no turn in flight"));
        }
        for (_, cancel) in &turns {
            cancel.cancel();
        }
        let canceled: Vec<usize> = turns.iter().map(|(turn, _)| *turn).collect();
        Ok(serde_json::json!({ "chat": chat, "turns": canceled }))
    }

    /// Completes a job: only from pending, running or canceling (callers
    /// check; a finished job never finishes again).
    pub fn complete_job(
        &self,
        job_id: Uuid,
        outcome: JobOutcome,
    ) -> Vec<chatsim_engine::model::WorkspaceAgent> {
        let status = self.store.tables().job(job_id).map(|j| j.status);
        assert!(
            matches!(
                status,
                Some(JobStatus::Pending | JobStatus::Running | JobStatus::Canceling)
            ),
            "job {job_id} completed from state {status:?}"
        );
        self.hooks.complete_job(job_id, outcome)
    }

    /// Finds a live workspace by `name` or `owner/name` (first in DB order).
    pub fn find_workspace(&self, reference: &str) -> Option<Workspace> {
        let t = self.store.tables();
        WorkspaceRef::parse(reference).find(&t).cloned()
    }

    /// The ID of [`CoderdCore::find_workspace`]'s workspace (no copy of
    /// its row).
    pub fn find_workspace_id(&self, reference: WorkspaceRef<'_>) -> Option<Uuid> {
        reference.find(&self.store.tables()).map(|w| w.id)
    }

    /// Finds a template by name (first in DB order).
    pub fn find_template(&self, name: &str) -> Option<Uuid> {
        let t = self.store.tables();
        t.templates
            .iter()
            .find(|tpl| !tpl.deleted && tpl.name == name)
            .map(|tpl| tpl.id)
    }
}

/// A workspace reference as users write it, `name` or `owner/name`, split
/// once (a build wait looks it up every poll).
#[derive(Clone, Copy, Debug)]
pub struct WorkspaceRef<'a> {
    owner: Option<&'a str>,
    name: &'a str,
}

impl<'a> WorkspaceRef<'a> {
    /// Splits `owner/name`; a reference without `/` is a name of any owner.
    pub fn parse(reference: &'a str) -> WorkspaceRef<'a> {
        match reference.split_once('/') {
            Some((owner, name)) => WorkspaceRef {
                owner: Some(owner),
                name,
            },
            None => WorkspaceRef {
                owner: None,
                name: reference,
            },
        }
    }

    /// The first live workspace, in DB order, this reference names.
    fn find<'t>(&self, t: &'t Tables) -> Option<&'t Workspace> {
        let owned_by = |w: &Workspace| {
            self.owner
                .is_none_or(|o| t.user(w.owner_id).is_some_and(|u| u.username == o))
        };
        t.live_workspace_named(self.name, owned_by)
    }
}

/// The trace-backed `Events` port: `ChatUpdated` becomes a
/// `chat_updated` record, everything else an `engine` record.
pub struct TraceEvents<N: Net> {
    tracer: Tracer,
    net: N,
}

impl<N: Net> TraceEvents<N> {
    /// Events written into `tracer` at `net`'s time.
    pub fn new(tracer: Tracer, net: N) -> TraceEvents<N> {
        TraceEvents { tracer, net }
    }
}

impl<N: Net> Events for TraceEvents<N> {
    fn emit(&self, event: EngineEvent) {
        let record = match event {
            EngineEvent::ChatUpdated(chat) => chat_updated_event(&chat),
            EngineEvent::ChatStatusChange { chat_id } => Event::Engine {
                kind: EngineEventKind::ChatStatusChange,
                detail: format!("chat={chat_id}"),
            },
            EngineEvent::Dial { agent_id } => Event::Engine {
                kind: EngineEventKind::DialStart,
                detail: format!("agent={agent_id}"),
            },
            EngineEvent::Log { level, message } => Event::Engine {
                kind: EngineEventKind::Log,
                detail: format!("{level}: {message}"),
            },
        };
        self.tracer.emit(self.net.elapsed(), CODERD, record);
    }
}

/// The trace event of an `OnChatUpdated`.
pub fn chat_updated_event(chat: &chatsim_engine::model::Chat) -> Event {
    Event::ChatUpdated {
        chat: chat.id.to_string(),
        workspace: crate::observe::trace::opt_id(chat.workspace_id),
        build: crate::observe::trace::opt_id(chat.build_id),
        agent: crate::observe::trace::opt_id(chat.agent_id),
    }
}

/// The build hooks as the user API calls them: `MemCoderd`'s, with every
/// enqueued build traced as the user's.
impl<N: Net> Coderd for CoderdCore<N> {
    fn create_workspace(
        &self,
        owner_id: Uuid,
        request: &CreateWorkspaceRequest,
    ) -> Result<CreatedWorkspace, HookError> {
        self.create_workspace_by(&Requester::User, owner_id, request)
    }

    fn start_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
        parameters: &[BuildParameter],
    ) -> Result<WorkspaceBuild, HookError> {
        self.start_workspace_by(&Requester::User, owner_id, workspace_id, parameters)
    }

    fn stop_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
    ) -> Result<WorkspaceBuild, HookError> {
        self.stop_workspace_by(&Requester::User, owner_id, workspace_id)
    }
}

/// The build hooks as one chat's runtime calls them: every build it
/// enqueues is traced as `chat:<name>`'s.
pub struct ChatHooks<N: Net> {
    core: Rc<CoderdCore<N>>,
    by: Requester,
}

impl<N: Net> ChatHooks<N> {
    /// The hooks of chat `chat`.
    pub fn new(core: Rc<CoderdCore<N>>, chat: &str) -> ChatHooks<N> {
        ChatHooks {
            core,
            by: Requester::Chat(chat.to_string()),
        }
    }
}

impl<N: Net> Coderd for ChatHooks<N> {
    fn create_workspace(
        &self,
        owner_id: Uuid,
        request: &CreateWorkspaceRequest,
    ) -> Result<CreatedWorkspace, HookError> {
        self.core.create_workspace_by(&self.by, owner_id, request)
    }

    fn start_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
        parameters: &[BuildParameter],
    ) -> Result<WorkspaceBuild, HookError> {
        self.core
            .start_workspace_by(&self.by, owner_id, workspace_id, parameters)
    }

    fn stop_workspace(
        &self,
        owner_id: Uuid,
        workspace_id: Uuid,
    ) -> Result<WorkspaceBuild, HookError> {
        self.core
            .stop_workspace_by(&self.by, owner_id, workspace_id)
    }
}

impl<N: Net> CoderdCore<N> {
    fn create_workspace_by(
        &self,
        by: &Requester,
        owner_id: Uuid,
        request: &CreateWorkspaceRequest,
    ) -> Result<CreatedWorkspace, HookError> {
        let created = self.hooks.create_workspace(owner_id, request)?;
        if let Some(build) = created.latest_build_id {
            self.emit_enqueued(by, Hook::Create, build);
        }
        Ok(created)
    }

    fn start_workspace_by(
        &self,
        by: &Requester,
        owner_id: Uuid,
        workspace_id: Uuid,
        parameters: &[BuildParameter],
    ) -> Result<WorkspaceBuild, HookError> {
        let build = self
            .hooks
            .start_workspace(owner_id, workspace_id, parameters)?;
        self.emit_enqueued(by, Hook::Start, build.id);
        Ok(build)
    }

    fn stop_workspace_by(
        &self,
        by: &Requester,
        owner_id: Uuid,
        workspace_id: Uuid,
    ) -> Result<WorkspaceBuild, HookError> {
        let build = self.hooks.stop_workspace(owner_id, workspace_id)?;
        self.emit_enqueued(by, Hook::Stop, build.id);
        Ok(build)
    }

    /// Traces a build a hook just inserted (`enqueue`), then its job.
    pub fn emit_enqueued(&self, by: &Requester, hook: Hook, build_id: Uuid) {
        let event = {
            let t = self.store.tables();
            let Some(build) = t.build(build_id) else {
                return;
            };
            let workspace = t.workspace(build.workspace_id);
            let version = t.template_version(build.template_version_id);
            let template = version.and_then(|v| t.template(v.template_id));
            Event::Enqueue {
                by: by.clone(),
                hook,
                workspace: workspace.map(|w| w.name.clone()).unwrap_or_default(),
                workspace_id: id(build.workspace_id),
                build: id(build.id),
                number: build.build_number,
                transition: build.transition,
                template: template.map(|t| t.name.clone()).unwrap_or_default(),
                version: version.map(|v| v.name.clone()).unwrap_or_default(),
                external_agent: version.is_some_and(|v| v.plan.agents.iter().any(|a| a.external)),
            }
        };
        self.emit(event);
        let job = self.store.tables().build(build_id).map(|b| b.job_id);
        if let Some(job) = job {
            self.emit_job(job);
        }
    }

    /// The clock as the engine's port.
    pub fn clock_port(&self) -> &dyn Clock {
        &self.clock
    }

    /// The ids as the engine's port.
    pub fn ids_port(&self) -> &dyn Ids {
        &self.ids
    }
}

/// coderd's software: every API server and background loop, joined. The
/// factory is called again on a bounce; the database survives.
pub fn host<N: Net>(core: Rc<CoderdCore<N>>) -> HostFactory {
    Box::new(move || {
        let core = core.clone();
        Box::pin(async move {
            tokio::task::yield_now().await;
            // The servers in the same poll order as before; a monitor's
            // error (a loop bound hit) ends coderd at once.
            let servers = async {
                let (a, b, c) = futures::join!(
                    provisioner_api::serve(core.clone()),
                    agent_api::serve(core.clone()),
                    chat_api::serve(core.clone()),
                );
                a.and(b).and(c)
            };
            futures::try_join!(servers, monitors::run(core.clone()))?;
            Ok(())
        })
    })
}
