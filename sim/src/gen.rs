//! The built-in generator: a seed becomes a mixed-fault run — a small
//! deployment, a chat script that creates, uses, stops and restarts a
//! workspace (through tools and through the user API), and two to five
//! faults from the catalog at seeded times, each drawn by its family in the
//! fault registry ([`crate::harness::faults`]), so every kind can appear.
//! `chatsim determinism` and `chatsim trace --seed` run it; the fuzzer
//! (`chatsim fuzz`) draws its own structured schedules instead.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::harness::faults::{self, DrawWorld};
use crate::plan::story::{template, user};
use crate::plan::*;
use crate::rng::{stream, Stream};

const CHAT: &str = "main";
const WS: &str = "ws1";
const EXT_WS: &str = "ws2";

/// A mixed-fault run for `seed`.
pub fn mixed(seed: u64) -> RunConfig {
    let mut rng = stream(seed, Stream::Generator);
    let story = world(seed, &mut rng);
    let external = rng.gen_bool(0.3);
    let turns = turns(&mut rng, external);
    let faults = faults(&mut rng, external);
    let story = turns.into_iter().fold(story, Story::push);
    faults
        .into_iter()
        .fold(story, |story, f| story.fault_at(f.at, f.fault))
        .build()
}

fn pick<T: Clone>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items.choose(rng).expect("non-empty").clone()
}

fn secs(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> Dur {
    Dur::secs(rng.gen_range(lo..=hi))
}

/// One user `alice`, templates `dev` (drawn cost, agents, active-version
/// rule) and `ext` (an external agent), chat `main`; drawn quotas.
fn world(seed: u64, rng: &mut ChaCha8Rng) -> Story {
    let cost = pick(rng, &[0, 0, 5, 10]);
    let quota = pick(rng, &[0, 10, 20, 100]);
    let mut main = AgentDef::named("main");
    main.behaviour.startup_fails = rng.gen_bool(0.1);
    main.behaviour.files = BTreeMap::from([(
        "AGENTS.md".to_string(),
        "Run `make test` before committing.\n".to_string(),
    )]);
    let mut agents = vec![main];
    match rng.gen_range(0..3) {
        0 => agents.push(AgentDef::named("helper")),
        1 => agents.push(AgentDef::named("dev-coderd-chat")),
        _ => {}
    }
    let mut ext = AgentDef::named("ext");
    ext.external = true;
    let everyone_quota = pick(rng, &[0, 10]);
    let require_active_version = rng.gen_bool(0.3);
    Story::new(seed)
        .everyone_quota(everyone_quota)
        .user(user("alice").with_quota(quota))
        .template(
            template("dev")
                .titled("Development", "A Linux dev box")
                .requiring_active_version(require_active_version)
                .parameter(ParameterSpec::new("region", false, "eu"))
                .agents(agents)
                .cost(cost),
        )
        .template(
            template("ext")
                .titled("External", "Bring your own machine")
                .agents(vec![ext]),
        )
        .chat(CHAT)
}

fn ws() -> String {
    WS.to_string()
}

fn turns(rng: &mut ChaCha8Rng, external: bool) -> Vec<Turn> {
    let discover = Turn::new(
        CHAT,
        vec![
            Call::tool("list_templates", json!({})),
            Call::tool(
                "read_template",
                json!({ "template_id": "{{template:dev}}" }),
            ),
        ],
    );
    let discover = if rng.gen_bool(0.5) {
        discover.parallel()
    } else {
        discover
    };
    let mut create = vec![
        Call::CreateWorkspace {
            template: "dev".into(),
            name: ws(),
            parameters: BTreeMap::new(),
            preset: None,
        },
        Call::WaitBuild { workspace: ws() },
        Call::BindChat { workspace: ws() },
    ];
    if external {
        create.push(Call::CreateWorkspace {
            template: "ext".into(),
            name: EXT_WS.into(),
            parameters: BTreeMap::new(),
            preset: None,
        });
        create.push(Call::WaitBuild {
            workspace: EXT_WS.into(),
        });
    }
    let use_it = vec![
        Call::tool("execute", json!({ "command": "echo hello" })),
        Call::Exec {
            command: "echo hello".into(),
        },
        Call::tool(
            "create_workspace",
            json!({ "template_id": "{{template:dev}}", "name": "tool-ws" }),
        ),
    ];
    let stop = vec![
        Call::StopWorkspace { workspace: ws() },
        Call::WaitBuild { workspace: ws() },
        Call::tool("stop_workspace", json!({})),
    ];
    let start = vec![
        Call::StartWorkspace {
            workspace: ws(),
            parameters: BTreeMap::new(),
        },
        Call::WaitBuild { workspace: ws() },
        Call::BindChat { workspace: ws() },
        Call::tool("start_workspace", json!({})),
        Call::tool("read_file", json!({ "path": "/home/coder/AGENTS.md" })),
    ];
    vec![
        discover,
        Turn::new(CHAT, create),
        Turn::new(CHAT, use_it).at(secs(rng, 60, 120)),
        Turn::new(
            CHAT,
            vec![
                Call::Inspect { workspace: ws() },
                Call::tool("execute", json!({ "command": "cat AGENTS.md" })),
            ],
        )
        .at(secs(rng, 200, 300)),
        Turn::new(CHAT, stop).at(secs(rng, 360, 420)),
        Turn::new(CHAT, start).at(secs(rng, 480, 540)),
        Turn::wait_until(CHAT, secs(rng, 660, 720)),
    ]
}

/// The names of the generated world a fault may aim at.
fn draw_world(external: bool) -> DrawWorld {
    DrawWorld {
        chat: CHAT.into(),
        user: "alice".into(),
        template: "dev".into(),
        workspace: ws(),
        agent: "main".into(),
        external: external.then(|| (EXT_WS.to_string(), "ext".to_string())),
    }
}

/// One fault of the catalog, drawn by its family: a seeded kind, or the
/// next kind in catalog order the world has what it needs for.
fn fault(rng: &mut ChaCha8Rng, world: &DrawWorld) -> Fault {
    let start = rng.gen_range(0..FaultKind::ALL.len());
    for offset in 0..FaultKind::ALL.len() {
        let kind = FaultKind::ALL[(start + offset) % FaultKind::ALL.len()];
        if let Some(fault) = faults::draw(kind, rng, world) {
            return fault;
        }
    }
    unreachable!("some fault kind needs nothing but the workspace")
}

fn faults(rng: &mut ChaCha8Rng, external: bool) -> Vec<ScheduledFault> {
    let world = draw_world(external);
    let count = rng.gen_range(2..=5);
    (0..count)
        .map(|_| ScheduledFault::at(secs(rng, 30, 600), fault(rng, &world)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_run() {
        assert_eq!(mixed(11), mixed(11));
        assert_ne!(mixed(11), mixed(12));
    }

    #[test]
    fn generated_runs_round_trip_through_toml() {
        let config = mixed(3);
        let text = toml::to_string(&config).expect("serializes");
        let back: RunConfig = toml::from_str(&text).expect("parses");
        assert_eq!(back, config);
    }
}
