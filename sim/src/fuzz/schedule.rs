//! A fuzz case as proptest strategies: the strategies generate the
//! structure — the world, which fault kinds are enabled (swarm testing),
//! the faults, the chat's turns — so that shrinking removes faults and
//! turns and simplifies each one (earlier times, first kinds and targets,
//! plainer worlds), never a seed mapped to an unrelated case.
//!
//! A fault's kind, target and time are drawn here; its remaining
//! parameters (durations, texts) come from its family's own draw
//! ([`crate::harness::faults::draw`], the one the generator uses too),
//! seeded by a number of the fault's own, so that one family file says
//! how every fault of it is drawn.
//!
//! Names are fixed so that faults and turns can refer to what the world
//! holds: user `alice`, chat `main`, templates `dev` (agent `main`, maybe a
//! second one) and `ext` (an external agent), workspaces `ws1` (the chat's)
//! and `ws2` (external).

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::harness::faults::{draw, DrawWorld};
use crate::plan::story::{
    bind_chat, create_and_bind, execute, start_workspace, stop_workspace, tool, wait_build,
};
use crate::plan::*;

/// The chat every case plays.
pub const CHAT: &str = "main";
/// The chat's workspace.
pub const WS: &str = "ws1";
/// The external-agent workspace.
pub const EXT_WS: &str = "ws2";
pub use crate::observe::invariants::LIVENESS_TURN;

/// Latest virtual time a fault or turn is drawn at (seconds).
const HORIZON_SECS: u64 = 900;
/// After the last fault has ended, the world is healed this much later and
/// the liveness turn starts.
const HEAL_AFTER_SECS: u64 = 30;

/// One generated case, before it becomes a [`RunConfig`].
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The deployment.
    pub world: WorldDraw,
    /// Fault kinds enabled in this case (swarm testing).
    pub enabled: Vec<FaultKind>,
    /// Drawn faults; those of kinds not enabled are left out of the run.
    pub faults: Vec<FaultDraw>,
    /// The chat's turns, in order.
    pub turns: Vec<TurnDraw>,
    /// Who plays the case's model turns (the liveness turn is always the
    /// reference model): the reference or a persona.
    pub persona: ModelKind,
}

/// A fault as drawn: its kind, target, time and the seed of its family's
/// draw of the remaining parameters.
#[derive(Clone, Debug)]
pub struct FaultDraw {
    /// Its kind.
    pub kind: FaultKind,
    /// When it happens, in seconds of virtual time.
    pub at_secs: u64,
    /// Which target it aims at (the chat agent, the second agent, the
    /// external agent).
    pub target: usize,
    /// Seeds its family's draw of the remaining parameters.
    pub params_seed: u64,
}

/// What a fault may aim at: the chat's workspace and each of its agents
/// (the main one first), then the external workspace's agent (so that an
/// agent fault can take an external agent offline once it connected), each
/// with the external workspace beside.
fn targets() -> Vec<DrawWorld> {
    let world = |workspace: &str, agent: &str| DrawWorld {
        chat: CHAT.into(),
        user: "alice".into(),
        template: "dev".into(),
        workspace: workspace.into(),
        agent: agent.into(),
        external: Some((EXT_WS.into(), "ext".into())),
    };
    vec![world(WS, "main"), world(WS, "helper"), world(EXT_WS, "ext")]
}

impl FaultDraw {
    /// The fault, drawn by its family (`None` when the target lacks what
    /// the kind needs).
    fn fault(&self) -> Option<ScheduledFault> {
        let targets = targets();
        let mut world = &targets[self.target % targets.len()];
        // Only an agent's own faults aim at the external agent: the rest
        // (dashboard, network, operator) keep aiming at the chat's workspace.
        if world.workspace == EXT_WS && !aims_at_an_agent(self.kind) {
            world = &targets[0];
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.params_seed);
        draw(self.kind, &mut rng, world)
            .map(|fault| ScheduledFault::at(Dur::secs(self.at_secs), fault))
    }
}

/// The deployment's knobs.
#[derive(Clone, Debug)]
pub struct WorldDraw {
    /// The user's quota allowance.
    pub user_quota: i64,
    /// What a start build of `dev` costs per day.
    pub daily_cost: i64,
    /// Whether starts of `dev` must use its active version.
    pub require_active_version: bool,
    /// A second agent of `dev` (`helper`, or one the chat rule prefers).
    pub second_agent: Option<&'static str>,
    /// Whether `main`'s startup scripts fail.
    pub startup_fails: bool,
    /// `main`'s connection timeout (0 = none).
    pub connection_timeout_secs: u64,
    /// Whether `dev` has a required parameter (with a default).
    pub required_parameter: bool,
    /// Whether the chat's allowlist names `dev`.
    pub allowlist: bool,
    /// When the chat runtime pulls the context.
    pub context_refresh: ContextRefresh,
    /// Whether a never-connected agent gets stop/start advice.
    pub never_connected_recovery: bool,
    /// turmoil polls hosts in a seeded random order (swarm testing of the
    /// schedule itself; the fast transport ignores it).
    pub random_host_order: bool,
}

/// A turn: how long after the previous one, and what it does.
#[derive(Clone, Debug)]
pub struct TurnDraw {
    /// Seconds after the previous turn.
    pub gap_secs: u64,
    /// What it does.
    pub action: Action,
}

/// What a turn of the chat (or its user, through the API) does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The user creates `ws1` through the API, waits and binds the chat.
    CreateAndBind,
    /// `list_templates` and `read_template`, maybe in parallel.
    Discover {
        /// Both calls in one message.
        parallel: bool,
    },
    /// The model's `create_workspace`.
    CreateTool,
    /// Two `create_workspace` calls in one message.
    ParallelCreates,
    /// The model's `execute`.
    Execute,
    /// The model's `read_file` of AGENTS.md.
    ReadFile,
    /// The model's `stop_workspace`.
    StopTool,
    /// The model's `start_workspace`.
    StartTool,
    /// The user stops `ws1` from the dashboard and waits.
    StopApi,
    /// The user starts `ws1` from the dashboard, waits and rebinds.
    StartApi,
    /// The reference model runs a command.
    Model,
    /// The user creates `ws2` from the external-agent template, binds the
    /// chat to it, and the model runs a command there: the external-agent
    /// preflight's path (nobody starts the agent unless a fault does).
    UseExternal,
    /// The model's `create_workspace` of the external-agent template (the
    /// refusal's path when the chat has no workspace that serves it).
    CreateExternal,
    /// The model runs a long command, then another: the second call finds
    /// the turn's cached connection (the cache-hit check's path when a
    /// fault hit the agent meanwhile).
    ExecuteLong,
}

impl Schedule {
    /// The run this case describes, with the liveness phase appended: once
    /// the last fault has ended, cut links are repaired and the reference
    /// model is asked to run a command ([`LIVENESS_TURN`]).
    pub fn config(&self, seed: u64) -> RunConfig {
        let settings = Settings {
            context_refresh: self.world.context_refresh,
            never_connected_recovery: self.world.never_connected_recovery,
            random_host_order: self.world.random_host_order,
            ..Settings::default()
        };
        let mut faults = self.active_faults();
        let heal_at = Dur::secs(self.quiet_after_secs() + HEAL_AFTER_SECS);
        for (a, b) in self.cut_links() {
            faults.push(ScheduledFault::at(heal_at, Fault::Repair { a, b }));
        }
        let mut turns = Vec::new();
        let mut at = 0;
        for draw in &self.turns {
            at += draw.gap_secs;
            turns.push(draw.action.turn(self.persona).at(Dur::secs(at)));
        }
        let liveness = Turn::reference(
            CHAT,
            Goal::RunCommand {
                command: "echo alive".into(),
                template: Some("dev".into()),
            },
        );
        turns.push(liveness.named(LIVENESS_TURN).at(heal_at));
        RunConfig {
            seed,
            settings,
            world: self.world.spec(),
            faults,
            turns,
        }
    }

    /// The faults of enabled kinds, as the run gets them.
    pub fn active_faults(&self) -> Vec<ScheduledFault> {
        self.faults
            .iter()
            .filter(|f| self.enabled.contains(&f.kind))
            .filter_map(FaultDraw::fault)
            .collect()
    }

    /// When every fault has ended (the latest start plus its duration).
    fn quiet_after_secs(&self) -> u64 {
        let turns_end: u64 = self.turns.iter().map(|t| t.gap_secs).sum();
        self.active_faults()
            .iter()
            .map(|f| f.at.0.as_secs() + fault_duration_secs(&f.fault))
            .chain([turns_end])
            .max()
            .unwrap_or(0)
    }

    /// Every link a fault cuts, each once, in first-cut order.
    fn cut_links(&self) -> Vec<(String, String)> {
        let mut links: Vec<(String, String)> = Vec::new();
        for scheduled in &self.active_faults() {
            if let Fault::Partition { a, b, .. } | Fault::Hold { a, b, .. } = &scheduled.fault {
                let link = (a.clone(), b.clone());
                if !links.contains(&link) {
                    links.push(link);
                }
            }
        }
        links
    }

    /// How many elements the case has (faults + turns + calls): the size
    /// shrinking reduces.
    pub fn size(&self) -> usize {
        self.active_faults().len() + self.turns.len()
    }
}

/// How long a fault lasts once it starts (0 = it is an instant).
fn fault_duration_secs(fault: &Fault) -> u64 {
    let secs = |d: &Option<Dur>| d.map_or(0, |d| d.0.as_secs());
    match fault {
        Fault::AgentRespawn { down_for, .. } => down_for.0.as_secs(),
        Fault::AgentWedged { duration, .. }
        | Fault::Partition { duration, .. }
        | Fault::Hold { duration, .. }
        | Fault::DbQueryFails { duration, .. } => secs(duration),
        Fault::ProvisionerCrash { restart_after } => secs(restart_after),
        _ => 0,
    }
}

impl WorldDraw {
    fn spec(&self) -> WorldSpec {
        let mut main = AgentDef::named("main");
        main.connection_timeout = Dur::secs(self.connection_timeout_secs);
        main.behaviour.startup_fails = self.startup_fails;
        main.behaviour.files = BTreeMap::from([(
            "AGENTS.md".to_string(),
            "Run `make test` before committing.\n".to_string(),
        )]);
        let files = main.behaviour.files.clone();
        let mut agents = vec![main];
        // Every agent has the context file, so whichever is the chat agent
        // has instructions to persist and to edit.
        agents.extend(self.second_agent.map(|name| {
            let mut agent = AgentDef::named(name);
            agent.behaviour.files = files.clone();
            agent
        }));
        let mut ext = AgentDef::named("ext");
        ext.external = true;
        let mut parameters = vec![ParameterSpec::new("region", false, "eu")];
        if self.required_parameter {
            parameters.push(ParameterSpec::new("size", true, "small"));
        }
        WorldSpec {
            organizations: vec![OrgSpec {
                name: DEFAULT_ORG.into(),
                everyone_quota: 0,
            }],
            users: vec![UserSpec {
                name: "alice".into(),
                organization: DEFAULT_ORG.into(),
                roles: vec!["member".into()],
                quota: self.user_quota,
            }],
            templates: vec![
                template("dev", self.require_active_version, agents, parameters)
                    .with_cost(self.daily_cost),
                template("ext", false, vec![ext], vec![]),
            ],
            chats: vec![ChatSpec {
                name: CHAT.into(),
                owner: "alice".into(),
                allowed_templates: if self.allowlist {
                    vec!["dev".into()]
                } else {
                    vec![]
                },
                parent: None,
            }],
            chat_workspace_ttl: String::new(),
        }
    }
}

fn template(
    name: &str,
    require_active_version: bool,
    agents: Vec<AgentDef>,
    parameters: Vec<ParameterSpec>,
) -> TemplateSpec {
    TemplateSpec {
        name: name.into(),
        organization: DEFAULT_ORG.into(),
        display_name: String::new(),
        description: format!("The {name} template"),
        require_active_version,
        deprecated: false,
        versions: vec![VersionSpec {
            name: "v1".into(),
            parameters,
            presets: vec![],
            agents,
            daily_cost: 0,
        }],
    }
}

trait WithCost {
    fn with_cost(self, cost: i64) -> Self;
}

impl WithCost for TemplateSpec {
    fn with_cost(mut self, cost: i64) -> TemplateSpec {
        for version in &mut self.versions {
            version.daily_cost = cost;
        }
        self
    }
}

impl Action {
    /// The turn; a model turn is played by `persona`.
    fn turn(&self, persona: ModelKind) -> Turn {
        let calls = |calls: Vec<Call>| Turn::new(CHAT, calls);
        let dev = || json!({ "template_id": "{{template:dev}}", "name": WS });
        match self {
            Action::CreateAndBind => calls(create_and_bind("dev", WS)),
            Action::Discover { parallel } => {
                let read = json!({ "template_id": "{{template:dev}}" });
                let turn = calls(vec![
                    tool("list_templates", json!({})),
                    tool("read_template", read),
                ]);
                if *parallel {
                    turn.parallel()
                } else {
                    turn
                }
            }
            Action::CreateTool => calls(vec![tool("create_workspace", dev())]),
            Action::ParallelCreates => calls(vec![
                tool("create_workspace", dev()),
                tool("create_workspace", dev()),
            ])
            .parallel(),
            Action::Execute => calls(vec![execute("make test")]),
            Action::ReadFile => calls(vec![tool(
                "read_file",
                json!({ "path": "/home/coder/AGENTS.md" }),
            )]),
            // Stopped, then asked again (the idempotent path, or a retry
            // after a failed stop).
            Action::StopTool => calls(vec![
                tool("stop_workspace", json!({})),
                tool("stop_workspace", json!({})),
            ]),
            Action::StartTool => calls(vec![tool("start_workspace", json!({}))]),
            Action::StopApi => calls(vec![stop_workspace(WS), wait_build(WS)]),
            Action::UseExternal => {
                let mut steps = create_and_bind("ext", EXT_WS);
                steps.push(execute("hostname"));
                calls(steps)
            }
            Action::StartApi => calls(vec![start_workspace(WS), wait_build(WS), bind_chat(WS)]),
            Action::CreateExternal => calls(vec![tool(
                "create_workspace",
                json!({ "template_id": "{{template:ext}}", "name": "ws3" }),
            )]),
            Action::ExecuteLong => calls(vec![execute("sleep 60"), execute("make test")]),
            Action::Model => Turn::reference(
                CHAT,
                Goal::RunCommand {
                    command: "make test".into(),
                    template: Some("dev".into()),
                },
            )
            .played_by(persona),
        }
    }
}

/// The whole case: world, swarm, faults, turns.
pub fn schedule() -> impl Strategy<Value = Schedule> {
    let kinds = FaultKind::ALL.to_vec();
    let enabled = subsequence(kinds.clone(), 1..=kinds.len());
    let faults = prop::collection::vec(fault(), 0..=MAX_FAULTS);
    // The persona is drawn last, so the other parts of a seed's case are
    // the ones it drew before personas existed.
    let persona = select(ModelKind::ALL.to_vec());
    (world(), enabled, faults, turns(), persona).prop_map(
        |(world, enabled, faults, turns, persona)| Schedule {
            world,
            enabled,
            faults,
            turns,
            persona,
        },
    )
}

/// The kinds whose target is one agent (the ones that may take the
/// external agent offline).
fn aims_at_an_agent(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::AgentOom
            | FaultKind::AgentRespawn
            | FaultKind::AgentWedged
            | FaultKind::AgentNeverConnects
    )
}

/// Drawn faults per case (those of kinds not enabled drop out).
const MAX_FAULTS: usize = 10;

fn fault() -> impl Strategy<Value = FaultDraw> {
    (
        select(FaultKind::ALL.to_vec()),
        10..=HORIZON_SECS,
        0..targets().len(),
        any::<u64>(),
    )
        .prop_map(|(kind, at_secs, target, params_seed)| FaultDraw {
            kind,
            at_secs,
            target,
            params_seed,
        })
}

fn world() -> impl Strategy<Value = WorldDraw> {
    (
        (
            select(vec![0i64, 10, 20, 100]),
            select(vec![0i64, 5, 10]),
            prop::bool::weighted(0.5),
            select(vec![None, Some("helper"), Some("dev-coderd-chat")]),
            prop::bool::weighted(0.1),
        ),
        (
            select(vec![120u64, 0, 30]),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            // The default three times in four (shrinks to the default).
            prop::bool::weighted(0.25).prop_map(|variant| match variant {
                false => ContextRefresh::EveryTurn,
                true => ContextRefresh::OnAgentChange,
            }),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.3),
        ),
    )
        .prop_map(|(a, b)| WorldDraw {
            user_quota: a.0,
            daily_cost: a.1,
            require_active_version: a.2,
            second_agent: a.3,
            startup_fails: a.4,
            connection_timeout_secs: b.0,
            required_parameter: b.1,
            allowlist: b.2,
            context_refresh: b.3,
            never_connected_recovery: b.4,
            random_host_order: b.5,
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Execute),
        2 => any::<bool>().prop_map(|parallel| Action::Discover { parallel }),
        1 => Just(Action::CreateTool),
        1 => Just(Action::ParallelCreates),
        1 => Just(Action::ReadFile),
        1 => Just(Action::StopTool),
        1 => Just(Action::StartTool),
        1 => Just(Action::StopApi),
        1 => Just(Action::StartApi),
        2 => Just(Action::Model),
        1 => Just(Action::UseExternal),
        1 => Just(Action::CreateExternal),
        1 => Just(Action::ExecuteLong),
    ]
}

/// The chat's turns: usually a workspace created and bound first, then a
/// few more at drawn gaps.
fn turns() -> impl Strategy<Value = Vec<TurnDraw>> {
    let first = prop::option::weighted(
        0.9,
        (0..=60u64).prop_map(|gap_secs| TurnDraw {
            gap_secs,
            action: Action::CreateAndBind,
        }),
    );
    let rest = prop::collection::vec(
        (0..=240u64, action()).prop_map(|(gap_secs, action)| TurnDraw { gap_secs, action }),
        0..=6,
    );
    (first, rest).prop_map(|(first, rest)| first.into_iter().chain(rest).collect())
}
