//! Shared story builders for the simulation tests.
#![allow(dead_code)]

use chatsim::{
    AgentDef, Call, ChatSpec, Dur, RunConfig, ScheduledFault, Settings, TemplateSpec, Turn,
    UserSpec, VersionSpec, WorldSpec,
};
use chatsim::{Fault, Record, RunOutcome};

pub const CHAT: &str = "main";
pub const WS: &str = "ws1";

/// One user `alice` (quota `quota`), one template `dev` with agent `main`
/// costing `cost`, one chat `main`.
pub fn world(cost: i64, quota: i64) -> WorldSpec {
    WorldSpec {
        organizations: vec![chatsim::OrgSpec {
            name: "coder".into(),
            everyone_quota: 0,
        }],
        users: vec![UserSpec {
            name: "alice".into(),
            organization: "coder".into(),
            roles: vec!["member".into()],
            quota,
        }],
        templates: vec![TemplateSpec {
            name: "dev".into(),
            organization: "coder".into(),
            display_name: "Dev".into(),
            description: "A dev box".into(),
            require_active_version: false,
            deprecated: false,
            versions: vec![VersionSpec {
                name: "v1".into(),
                parameters: vec![],
                presets: vec![],
                agents: vec![AgentDef::named("main")],
                daily_cost: cost,
            }],
        }],
        chats: vec![ChatSpec {
            name: CHAT.into(),
            owner: "alice".into(),
            allowed_templates: vec![],
            parent: None,
        }],
        chat_workspace_ttl: String::new(),
    }
}

/// Create `ws1` from `dev`, wait for the build, bind the chat to it.
pub fn create_and_bind() -> Turn {
    Turn::new(
        CHAT,
        vec![
            Call::CreateWorkspace {
                template: "dev".into(),
                name: WS.into(),
                parameters: Default::default(),
                preset: None,
            },
            Call::WaitBuild {
                workspace: WS.into(),
            },
            Call::BindChat {
                workspace: WS.into(),
            },
        ],
    )
}

pub fn config(
    seed: u64,
    world: WorldSpec,
    turns: Vec<Turn>,
    faults: Vec<(u64, Fault)>,
) -> RunConfig {
    RunConfig {
        seed,
        settings: Settings::default(),
        world,
        faults: faults
            .into_iter()
            .map(|(at, fault)| ScheduledFault {
                at: Dur::secs(at),
                fault,
            })
            .collect(),
        turns,
    }
}

pub fn at(turn: Turn, secs: u64) -> Turn {
    turn.at(Dur::secs(secs))
}

pub fn wait_until(secs: u64) -> Turn {
    Turn::wait_until(CHAT, Dur::secs(secs))
}

/// Records of one kind.
pub fn kind(outcome: &RunOutcome, kind: &str) -> Vec<Record> {
    outcome.trace.of_kind(kind)
}

/// The status changes of agent `name`, as (seconds, to).
pub fn statuses(outcome: &RunOutcome, name: &str) -> Vec<(f64, String)> {
    kind(outcome, "agent_status")
        .into_iter()
        .filter_map(|r| match &r.event {
            chatsim::Event::AgentStatus { name: n, to, .. } if n == name => {
                Some((r.at().as_secs_f64(), to.clone()))
            }
            _ => None,
        })
        .collect()
}

pub fn print_trace(outcome: &RunOutcome) {
    for line in outcome.trace.lines() {
        println!("{line}");
    }
}
