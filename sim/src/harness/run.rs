//! The harness: one world per run, driven step by step. Between steps it
//! applies due faults, moves due delayed commands into the control queue,
//! and drains the queue (first in, first out) into the world. The run ends
//! as soon as the story is over — the driver finished, no fault or command
//! pending — or fails at `max_duration`. An `after_call` fault is due once
//! the driver has received that many call results; one still waiting when
//! the driver is done is traced `fault_skipped`.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use chatsim_engine::memory::MemStore;
use chatsim_engine::Time;
use serde::Serialize;

use chatsim_engine::chat::{ChatSettings, ContextRefresh as EngineRefresh};

use super::faults::{self, Effect, FaultEnv};
use super::setup;
use crate::bounds::bound_exceeded;
use crate::control::{
    AgentAssignment, CallCount, Cloud, ControlQueue, InfraCmd, SlotKey, SlotState, SlotTable,
};
use crate::hosts::agent::{self, resolve_path, AgentCtx, HOME};
use crate::hosts::coderd::{self, CoderdCore, CoderdSettings};
use crate::hosts::driver::{self, DriverCtx, Inbox, TurnSource};
use crate::hosts::provisioner::{self, ProvisionerCtx};
use crate::hosts::{CODERD, DRIVER, PROVISIONER};
use crate::observe::invariants::{check_trace, findings, Finding, Violation};
use crate::observe::trace::{EntityKind, Event, InfraAction, RunEnding, Trace, Tracer};
use crate::plan::{ContextRefresh, RunConfig, ScheduledFault, Settings};
use crate::rng::{SeedIds, SharedRng, Stream};
use crate::transport::{
    FastConfig, FastWorld, Infra, Interrupt, Transport, TurmoilConfig, TurmoilWorld,
    TRANSPORT_TURMOIL,
};

/// The virtual epoch every run starts at: 2026-01-01T00:00:00Z.
pub const EPOCH: Time = Time::from_secs(1_767_225_600);

/// A repair's trace actions: done, or skipped (the link was not cut).
const REPAIR: (InfraAction, InfraAction) = (InfraAction::Repair, InfraAction::RepairSkipped);

/// The host name the harness writes trace events as.
pub const HARNESS: &str = "world";

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Every event of the run, in order.
    pub trace: Trace,
    /// The transport's name, as the trace records it.
    pub transport: &'static str,
    /// Virtual time the run took.
    pub elapsed: Duration,
    /// `None` = the story ended; otherwise why the run failed.
    pub error: Option<String>,
    /// The database at the end.
    pub summary: Summary,
}

impl RunOutcome {
    /// The trace's stable hash.
    pub fn hash(&self) -> String {
        self.trace.hash()
    }

    /// Whether the story ended (no run error).
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// Every always-on invariant checked over this run.
    pub fn violations(&self, settings: &Settings) -> Vec<Violation> {
        check_trace(&self.trace, settings, self.error.as_deref())
    }

    /// The truthfulness oracle's known upstream findings: responses that
    /// contradict the world because upstream does so by design. Reported,
    /// never failing the run.
    pub fn findings(&self) -> Vec<Finding> {
        findings(&self.trace)
    }
}

/// The database at the end of a run, in DB order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Every workspace, with its builds and latest agents.
    pub workspaces: Vec<WorkspaceSummary>,
    /// Every chat, with its binding.
    pub chats: Vec<ChatSummary>,
}

/// A workspace at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkspaceSummary {
    /// Its ID.
    pub id: String,
    /// Its owner's username.
    pub owner: String,
    /// Its name.
    pub name: String,
    /// Its builds, oldest first.
    pub builds: Vec<BuildSummary>,
    /// Agents of the latest build, with their computed status at the end.
    pub agents: Vec<AgentSummary>,
}

/// A build at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildSummary {
    /// Its ID.
    pub id: String,
    /// Its number within the workspace.
    pub number: i32,
    /// Start, stop or delete.
    pub transition: String,
    /// Its job's final status.
    pub status: String,
    /// Its job's error, if it failed.
    pub error: Option<String>,
    /// The error's code (e.g. `INSUFFICIENT_QUOTA`).
    pub error_code: Option<String>,
    /// The cost it committed per day.
    pub daily_cost: i64,
    /// The template version's name.
    pub template_version: String,
    /// The build's parameter values, by name.
    pub parameters: BTreeMap<String, String>,
    /// Build-log lines coderd kept, as `<stage>: <line>`.
    pub logs: Vec<String>,
}

/// An agent at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentSummary {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its computed connection status.
    pub status: String,
    /// Its last reported lifecycle state.
    pub lifecycle: String,
}

/// A chat at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatSummary {
    /// Its name.
    pub name: String,
    /// The bound workspace's ID.
    pub workspace: Option<String>,
    /// The bound build's ID.
    pub build: Option<String>,
    /// The bound agent's ID.
    pub agent: Option<String>,
}

/// Runs `config` on turmoil (the default transport).
pub fn run(config: &RunConfig) -> RunOutcome {
    run_with(config, Transport::Turmoil)
}

/// Runs `config` on the fast transport.
pub fn run_fast(config: &RunConfig) -> RunOutcome {
    run_with(config, Transport::Fast)
}

/// Runs `config` on `transport`.
pub fn run_with(config: &RunConfig, transport: Transport) -> RunOutcome {
    match transport {
        Transport::Turmoil => run_on(turmoil_world(config), config),
        Transport::Fast => run_on(FastWorld::new(FastConfig::new(config.seed)), config),
    }
}

/// Runs `config` on the fast transport with `source` handing the driver
/// its turns after the configured ones (`chatsim serve`).
pub fn run_served(config: &RunConfig, source: Box<dyn TurnSource>) -> RunOutcome {
    let world = FastWorld::new(FastConfig::new(config.seed));
    run_on_with(world, config, Some(source))
}

/// The turmoil world `config` asks for.
pub fn turmoil_world(config: &RunConfig) -> TurmoilWorld {
    let s = &config.settings;
    TurmoilWorld::new(TurmoilConfig {
        seed: config.seed,
        epoch: TurmoilWorld::default_epoch(),
        tick: s.tick.0,
        duration: s.max_duration.0 + s.tick.0 * 4,
        random_order: s.random_host_order,
    })
}

/// Runs `config` on any world.
pub fn run_on<W: Infra>(world: W, config: &RunConfig) -> RunOutcome {
    run_on_with(world, config, None)
}

fn run_on_with<W: Infra>(
    world: W,
    config: &RunConfig,
    source: Option<Box<dyn TurnSource>>,
) -> RunOutcome {
    let transport = world.transport();
    match Harness::new(world, config, source) {
        Ok(harness) => harness.run(),
        Err(error) => {
            let tracer = Tracer::new();
            start_event(&tracer, transport, config);
            let end = Event::RunEnd {
                outcome: RunEnding::Error(error.clone()),
            };
            tracer.emit(Duration::ZERO, HARNESS, end);
            RunOutcome {
                trace: tracer.finish(),
                transport,
                elapsed: Duration::ZERO,
                error: Some(error),
                summary: Summary::default(),
            }
        }
    }
}

fn start_event(tracer: &Tracer, transport: &str, config: &RunConfig) {
    // Only turmoil ticks and shuffles its hosts; the fast transport has
    // neither (its randomness is per-message latency).
    let turmoil = transport == TRANSPORT_TURMOIL;
    let event = Event::RunStart {
        transport: transport
            .parse::<Transport>()
            .expect("every world names a known transport"),
        seed: config.seed,
        tick_ms: if turmoil {
            config.settings.tick.0.as_millis() as u64
        } else {
            0
        },
        random_order: turmoil && config.settings.random_host_order,
    };
    tracer.emit(Duration::ZERO, HARNESS, event);
}

/// The chat runtime's settings for a run.
fn chat_settings(s: &crate::plan::Settings) -> ChatSettings {
    ChatSettings {
        dial_timeout: s.dial_timeout.0,
        recovery_threshold: s.recovery_threshold.0,
        never_connected_recovery: s.never_connected_recovery,
        context_refresh: match s.context_refresh {
            ContextRefresh::EveryTurn => EngineRefresh::EveryTurn,
            ContextRefresh::OnAgentChange => EngineRefresh::OnAgentChange,
        },
        agent_inactive_disconnect_timeout: s.agent_inactive_timeout.0,
        #[cfg(feature = "bugs")]
        bug: s.bug,
        ..ChatSettings::default()
    }
}

struct Harness<W: Infra> {
    world: W,
    /// The run's settings (the rest of its config went to the hosts).
    settings: crate::plan::Settings,
    tracer: Tracer,
    control: ControlQueue,
    slots: SlotTable,
    cloud: Cloud,
    coderd: Rc<CoderdCore<W::Net>>,
    inbox: Inbox,
    faults_done: Rc<Cell<bool>>,
    schedule: VecDeque<ScheduledFault>,
    /// `after_call` faults, by call number (stable).
    after_calls: VecDeque<ScheduledFault>,
    calls: CallCount,
    /// Commands due later: (time, sequence, command).
    delayed: Vec<(Duration, u64, InfraCmd)>,
    next_seq: u64,
    /// Timed cuts in force per link (a link heals when its count is 0).
    cuts: BTreeMap<(String, String), u32>,
}

fn link_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl<W: Infra> Harness<W> {
    fn new(
        mut world: W,
        config: &RunConfig,
        source: Option<Box<dyn TurnSource>>,
    ) -> Result<Harness<W>, String> {
        let tracer = Tracer::new();
        start_event(&tracer, world.transport(), config);
        setup::validate(config)?;
        let s = &config.settings;
        let ids = SeedIds::new(config.seed);
        let cloud = Cloud::default();
        let built = setup::build(&config.world, &ids, &cloud)?;
        for (kind, name, id) in entities(&built) {
            let event = Event::Entity {
                kind,
                name,
                id: crate::observe::trace::id(id),
            };
            tracer.emit(Duration::ZERO, HARNESS, event);
        }
        let store = Rc::new(MemStore::from_tables(built.tables));
        let settings = CoderdSettings {
            inactive_timeout: s.agent_inactive_timeout.0,
            agent_stale_after: s.agent_inactive_timeout.0,
            job_hang_timeout: s.job_hang_timeout.0,
            dial_timeout: s.dial_timeout.0,
            bounds: s.bounds,
        };
        let coderd = Rc::new(CoderdCore::new(
            world.net(CODERD),
            store,
            EPOCH,
            ids,
            tracer.clone(),
            cloud.clone(),
            settings,
            chat_settings(s),
            built.chat_names,
            built.allowlists,
        ));
        let control = ControlQueue::new();
        world.add_host(CODERD, coderd::host(coderd.clone()));
        let provisioner = ProvisionerCtx {
            net: world.net(PROVISIONER),
            control: control.clone(),
            cloud: cloud.clone(),
            rng: SharedRng::new(config.seed, Stream::Provisioner),
            settings: s.clone(),
        };
        world.add_host(PROVISIONER, provisioner::host(provisioner));
        let inbox = Inbox::default();
        let (mut after_calls, mut schedule): (Vec<_>, Vec<_>) = config
            .faults
            .iter()
            .cloned()
            .partition(|f| f.after_call.is_some());
        let faults_done = Rc::new(Cell::new(schedule.is_empty()));
        let calls = CallCount::default();
        let driver = DriverCtx {
            net: world.net(DRIVER),
            tracer: tracer.clone(),
            turns: config.turns.clone(),
            inbox: inbox.clone(),
            faults_done: faults_done.clone(),
            turn_timeout: s.turn_timeout.0,
            bounds: s.bounds,
            seed: config.seed,
            calls: calls.clone(),
            source,
        };
        world.add_client(DRIVER, driver::client(driver));
        schedule.sort_by_key(|f| f.at);
        after_calls.sort_by_key(|f| f.after_call);
        Ok(Harness {
            world,
            settings: config.settings.clone(),
            tracer,
            control,
            slots: SlotTable::default(),
            cloud,
            coderd,
            inbox,
            faults_done,
            schedule: schedule.into(),
            after_calls: after_calls.into(),
            calls,
            delayed: Vec::new(),
            next_seq: 0,
            cuts: BTreeMap::new(),
        })
    }

    fn emit(&self, event: Event) {
        self.tracer.emit(self.world.elapsed(), HARNESS, event);
    }

    /// When the harness must act next: the next fault, the next delayed
    /// command, or the end of the allowed duration.
    fn next_deadline(&self) -> Duration {
        let max = self.settings.max_duration.0;
        let fault = self.schedule.front().map(|f| f.at.0);
        let delayed = self.delayed.iter().map(|(at, _, _)| *at).min();
        [fault, delayed]
            .into_iter()
            .flatten()
            .fold(max, Duration::min)
    }

    fn run(mut self) -> RunOutcome {
        let max = self.settings.max_duration.0;
        let mut driver_done = false;
        let mut stalled = 0u32;
        let error = loop {
            self.apply_due_faults();
            self.release_due_commands();
            while let Some(cmd) = self.control.pop() {
                self.apply(cmd);
            }
            let nothing_pending = self.schedule.is_empty() && self.delayed.is_empty();
            if nothing_pending && !self.faults_done.replace(true) {
                // The driver may be waiting for turns that can no longer come.
                self.inbox.wake();
            }
            self.faults_done.set(nothing_pending);
            if driver_done && nothing_pending && self.control.is_empty() {
                self.skip_unreached_after_calls();
                break None;
            }
            if self.world.elapsed() >= max {
                break Some(format!("the story was not over after {max:?}"));
            }
            let before = self.world.elapsed();
            let deadline = self.next_deadline();
            let wake = Wake {
                control: &self.control,
                calls: &self.calls,
                next_call: self.after_calls.front().and_then(|f| f.after_call),
            };
            match self.world.step_until(deadline, &wake) {
                Ok(done) => driver_done = done,
                Err(err) => break Some(err),
            }
            stalled = if self.world.elapsed() > before {
                0
            } else {
                stalled + 1
            };
            let bound = self.settings.bounds.steps_without_progress;
            if stalled > bound {
                break Some(bound_exceeded("steps without progress", bound));
            }
        };
        let outcome = match &error {
            None => RunEnding::Ok,
            Some(err) => RunEnding::Error(err.clone()),
        };
        self.emit(Event::RunEnd { outcome });
        RunOutcome {
            trace: self.tracer.finish(),
            transport: self.world.transport(),
            elapsed: self.world.elapsed(),
            error,
            summary: summarize(&self.coderd),
        }
    }

    fn apply_due_faults(&mut self) {
        let now = self.world.elapsed();
        loop {
            let calls = self.calls.get();
            let scheduled = if self.schedule.front().is_some_and(|f| f.at.0 <= now) {
                self.schedule.pop_front()
            } else if self
                .after_calls
                .front()
                .is_some_and(|f| f.after_call.is_some_and(|nth| nth <= calls))
            {
                self.after_calls.pop_front()
            } else {
                break;
            };
            let scheduled = scheduled.expect("front exists");
            let env = FaultEnv {
                coderd: &*self.coderd,
                cloud: &self.cloud,
                inbox: &self.inbox,
            };
            let fault = &scheduled.fault;
            match faults::apply(fault, &env) {
                Ok(effects) => {
                    self.emit(Event::Fault {
                        name: fault.name(),
                        params: fault.params(),
                    });
                    for effect in effects {
                        match effect {
                            Effect::Now(cmd) => self.control.push(cmd),
                            Effect::After(delay, cmd) => {
                                self.delayed.push((now + delay, self.next_seq, cmd));
                                self.next_seq += 1;
                            }
                        }
                    }
                }
                Err(reason) => self.emit(Event::FaultSkipped {
                    name: fault.name(),
                    reason,
                }),
            }
        }
    }

    /// The driver is done: the `after_call` faults it never reached.
    fn skip_unreached_after_calls(&mut self) {
        let calls = self.calls.get();
        for f in std::mem::take(&mut self.after_calls) {
            let reason = format!(
                "the driver received {calls} call results, never {}",
                f.after_call.unwrap_or_default()
            );
            self.emit(Event::FaultSkipped {
                name: f.fault.name(),
                reason,
            });
        }
    }

    fn release_due_commands(&mut self) {
        let now = self.world.elapsed();
        self.delayed.sort_by_key(|(at, seq, _)| (*at, *seq));
        let due = self
            .delayed
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .count();
        for (_, _, cmd) in self.delayed.drain(..due) {
            self.control.push(cmd);
        }
    }

    fn infra(&self, action: InfraAction, target: String) {
        self.emit(Event::Infra { action, target });
    }

    /// Applies one command of the control queue to the world.
    fn apply(&mut self, cmd: InfraCmd) {
        match cmd {
            InfraCmd::Crash(host) => {
                self.crash(host, InfraAction::Crash, InfraAction::CrashSkipped)
            }
            InfraCmd::Bounce(host) => {
                if self.world.is_registered(&host) {
                    self.world.bounce(&host);
                    self.infra(InfraAction::Bounce, host);
                } else {
                    self.infra(InfraAction::BounceSkipped, host);
                }
            }
            InfraCmd::Partition(a, b) => {
                let done = self.world.partition(&a, &b);
                self.count_cut(done, &a, &b);
                let action = (InfraAction::Partition, InfraAction::PartitionSkipped);
                self.link(action, done, a, b);
            }
            InfraCmd::Hold(a, b) => {
                let done = self.world.hold(&a, &b);
                self.count_cut(done, &a, &b);
                let action = (InfraAction::Hold, InfraAction::HoldSkipped);
                self.link(action, done, a, b);
            }
            InfraCmd::Repair(a, b) => {
                self.cuts.remove(&link_key(&a, &b));
                let done = self.world.repair(&a, &b);
                self.link(REPAIR, done, a, b);
            }
            InfraCmd::Heal(a, b) => self.heal(a, b),
            InfraCmd::RestoreQuery(query) => {
                self.coderd.store.heal(query);
                self.infra(InfraAction::RestoreQuery, format!("{query:?}"));
            }
            slot_cmd => self.apply_to_slot(slot_cmd),
        }
    }

    /// Applies a command that acts on an agent slot.
    fn apply_to_slot(&mut self, cmd: InfraCmd) {
        match cmd {
            InfraCmd::StartAgent { slot, agent } => self.assign(&slot, agent, true),
            InfraCmd::AssignAgent { slot, agent } => self.assign(&slot, agent, false),
            InfraCmd::CrashAgent { slot } => self.crash(
                slot.host_name(),
                InfraAction::CrashAgent,
                InfraAction::CrashAgentSkipped,
            ),
            InfraCmd::BounceAgent { slot } => {
                let (state, _) = self.slots.get_or_create(&slot);
                if state.assignment.borrow().is_none() {
                    self.infra(InfraAction::BounceAgentSkipped, slot.host_name());
                    return;
                }
                self.start_slot(&state, InfraAction::BounceAgent);
            }
            InfraCmd::WedgeAgent { slot, wedged } => {
                let (state, _) = self.slots.get_or_create(&slot);
                state.wedged.set(wedged);
                let action = if wedged {
                    InfraAction::WedgeAgent
                } else {
                    InfraAction::UnwedgeAgent
                };
                self.infra(action, slot.host_name());
            }
            InfraCmd::BreakNextAgentStart { slot } => {
                let (state, _) = self.slots.get_or_create(&slot);
                state.break_next_start.set(true);
                self.infra(InfraAction::BreakNextAgentStart, slot.host_name());
            }
            InfraCmd::WriteFile {
                slot,
                path,
                content,
            } => {
                let (state, _) = self.slots.get_or_create(&slot);
                let directory = state
                    .assignment
                    .borrow()
                    .as_ref()
                    .map_or(HOME.to_string(), |a| a.directory.clone());
                let full = resolve_path(&directory, &path);
                state.disk.borrow_mut().insert(full.clone(), content);
                self.infra(
                    InfraAction::WriteFile,
                    format!("{}:{full}", slot.host_name()),
                );
            }
            other => unreachable!("not a slot command: {other}"),
        }
    }

    /// Ends one timed cut of a link; the link heals when none is left.
    fn heal(&mut self, a: String, b: String) {
        let key = link_key(&a, &b);
        let Some(count) = self.cuts.get_mut(&key) else {
            return;
        };
        assert!(*count > 0, "link {a}<->{b}: a cut count of 0 in the table");
        *count -= 1;
        if *count > 0 {
            self.infra(InfraAction::HealDeferred, format!("{a}<->{b}"));
            return;
        }
        self.cuts.remove(&key);
        let done = self.world.repair(&a, &b);
        self.link(REPAIR, done, a, b);
    }

    fn count_cut(&mut self, done: bool, a: &str, b: &str) {
        if done {
            *self.cuts.entry(link_key(a, b)).or_default() += 1;
        }
    }

    /// Traces a link command: `(done, skipped)` actions.
    fn link(&self, action: (InfraAction, InfraAction), done: bool, a: String, b: String) {
        let action = if done { action.0 } else { action.1 };
        self.infra(action, format!("{a}<->{b}"));
    }

    fn crash(&mut self, host: String, action: InfraAction, skipped: InfraAction) {
        // A crashed host may be crashed again (a no-op in both transports).
        if self.world.is_registered(&host) {
            self.world.crash(&host);
            self.infra(action, host);
        } else {
            self.infra(skipped, host);
        }
    }

    /// Records a start's assignment in its slot (and starts the agent).
    fn assign(&mut self, slot: &SlotKey, mut agent: AgentAssignment, start: bool) {
        let (state, _) = self.slots.get_or_create(slot);
        if state.break_next_start.replace(false) {
            agent.behaviour.never_connects = true;
        }
        if state.assignment.borrow().is_none() {
            let mut disk = state.disk.borrow_mut();
            for (path, content) in &agent.behaviour.files {
                disk.entry(resolve_path(&agent.directory, path))
                    .or_insert_with(|| content.clone());
            }
        }
        *state.assignment.borrow_mut() = Some(agent);
        if start {
            self.start_slot(&state, InfraAction::StartAgent);
        } else {
            self.infra(InfraAction::AssignAgent, slot.host_name());
        }
    }

    /// Starts a slot's host: registered at its first start, bounced after.
    /// A (re)started process is not stalled.
    fn start_slot(&mut self, state: &Rc<SlotState>, action: InfraAction) {
        let host = state.key.host_name();
        state.wedged.set(false);
        if self.world.is_registered(&host) {
            self.world.bounce(&host);
        } else {
            let ctx = AgentCtx {
                net: self.world.net(&host),
                slot: state.clone(),
                heartbeat_interval: self.settings.agent_heartbeat_interval.0,
                bounds: self.settings.bounds,
            };
            self.world.add_host(&host, agent::host(ctx));
        }
        self.infra(action, host);
    }
}

/// What ends a step early: a command in the control queue, or the driver's
/// call count reaching the next `after_call` fault.
struct Wake<'a> {
    control: &'a ControlQueue,
    calls: &'a CallCount,
    next_call: Option<u32>,
}

impl Interrupt for Wake<'_> {
    fn poll_pushed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let reached = match self.next_call {
            Some(nth) => self.calls.poll_reached(nth, cx),
            None => Poll::Pending,
        };
        if reached.is_ready() {
            return Poll::Ready(());
        }
        self.control.poll_pushed(cx)
    }
}

/// What the world's IDs name, in table order: (kind, name, ID).
fn entities(built: &setup::Setup) -> Vec<(EntityKind, String, uuid::Uuid)> {
    let t = &built.tables;
    let template_name = |id| {
        t.templates
            .iter()
            .find(|tpl| tpl.id == id)
            .map_or(String::new(), |tpl| tpl.name.clone())
    };
    let version_name = |id| {
        t.template_versions
            .iter()
            .find(|v| v.id == id)
            .map_or(String::new(), |v| {
                format!("{}/{}", template_name(v.template_id), v.name)
            })
    };
    let mut out = Vec::new();
    for o in &t.organizations {
        out.push((EntityKind::Organization, o.name.clone(), o.id));
    }
    for u in &t.users {
        out.push((EntityKind::User, u.username.clone(), u.id));
    }
    for tpl in &t.templates {
        out.push((EntityKind::Template, tpl.name.clone(), tpl.id));
    }
    for v in &t.template_versions {
        out.push((EntityKind::Version, version_name(v.id), v.id));
    }
    for p in &t.presets {
        let name = format!("{}/{}", version_name(p.template_version_id), p.name);
        out.push((EntityKind::Preset, name, p.id));
    }
    for (name, id) in &built.chat_names {
        out.push((EntityKind::Chat, name.clone(), *id));
    }
    out
}

/// The database at the end of a run.
fn summarize<N: crate::transport::Net>(core: &CoderdCore<N>) -> Summary {
    let now = core.now();
    let timeout = core.settings.inactive_timeout;
    let t = core.store.tables();
    let workspaces = t
        .workspaces
        .iter()
        .map(|w| {
            let mut builds: Vec<_> = t.builds.iter().filter(|b| b.workspace_id == w.id).collect();
            builds.sort_by_key(|b| b.build_number);
            let builds = builds
                .into_iter()
                .map(|b| {
                    let job = t.job(b.job_id);
                    BuildSummary {
                        id: b.id.to_string(),
                        number: b.build_number,
                        transition: b.transition.as_str().to_string(),
                        status: job.map(|j| j.status.as_str()).unwrap_or("").to_string(),
                        error: job.and_then(|j| j.error.clone()),
                        error_code: job.and_then(|j| j.error_code.clone()),
                        daily_cost: b.daily_cost,
                        template_version: b.template_version_id.to_string(),
                        parameters: b
                            .rich_parameters
                            .iter()
                            .map(|p| (p.name.clone(), p.value.clone()))
                            .collect(),
                        logs: core
                            .build_logs(b.id)
                            .into_iter()
                            .map(|(stage, line)| format!("{stage}: {line}"))
                            .collect(),
                    }
                })
                .collect();
            let agents = t
                .latest_build(w.id)
                .map(|b| t.agents_of_job(b.job_id))
                .unwrap_or_default()
                .into_iter()
                .map(|a| AgentSummary {
                    id: a.id.to_string(),
                    name: a.name.clone(),
                    status: a.status(now, timeout).as_str().to_string(),
                    lifecycle: a.lifecycle_state.as_str().to_string(),
                })
                .collect();
            WorkspaceSummary {
                id: w.id.to_string(),
                owner: t
                    .user(w.owner_id)
                    .map(|u| u.username.clone())
                    .unwrap_or_default(),
                name: w.name.clone(),
                builds,
                agents,
            }
        })
        .collect();
    let chats = core
        .chat_names
        .iter()
        .filter_map(|(name, id)| {
            let chat = t.chats.iter().find(|c| c.id == *id)?;
            Some(ChatSummary {
                name: name.clone(),
                workspace: chat.workspace_id.map(|w| w.to_string()),
                build: chat.build_id.map(|b| b.to_string()),
                agent: chat.agent_id.map(|a| a.to_string()),
            })
        })
        .collect();
    Summary { workspaces, chats }
}
