//! Ready-made stories: small, named [`RunConfig`]s used by tests, examples
//! and benchmarks.

use std::collections::BTreeMap;

use crate::config::*;
use crate::faults::Fault;

/// One user `alice`, one template `dev` (agent `main`, cost `cost`), one
/// chat `main`; the organization's Everyone group grants `quota`.
pub fn one_user_world(cost: i64, quota: i64) -> WorldSpec {
    WorldSpec {
        organizations: vec![OrgSpec {
            name: DEFAULT_ORG.into(),
            everyone_quota: quota,
        }],
        users: vec![UserSpec {
            name: "alice".into(),
            organization: DEFAULT_ORG.into(),
            roles: vec!["member".into()],
            quota: 0,
        }],
        templates: vec![TemplateSpec {
            name: "dev".into(),
            organization: DEFAULT_ORG.into(),
            display_name: "Development".into(),
            description: "A Linux dev box".into(),
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
            name: "main".into(),
            owner: "alice".into(),
            allowed_templates: vec![],
            parent: None,
        }],
        chat_workspace_ttl: String::new(),
    }
}

/// The OOM story (~30 virtual minutes): create `ws1` and bind the chat;
/// the agent dies of OOM at 5 min while the workspace keeps running; the
/// model's `execute` at 7 min times out its dial and — the agent being
/// disconnected for over 90 s — gets the stop/start advice; it stops the
/// workspace at 10 min and starts it at 15 min; `execute` works again.
pub fn oom_story(seed: u64) -> RunConfig {
    let ws = || "ws1".to_string();
    let chat = "main";
    let exec = |c: &str| Call::tool("execute", serde_json::json!({ "command": c }));
    RunConfig {
        seed,
        settings: Settings::default(),
        world: {
            let mut world = one_user_world(0, 0);
            world.templates[0].versions[0].agents[0]
                .behaviour
                .files
                .insert("AGENTS.md".into(), "Run `make test` first.\n".into());
            world
        },
        faults: vec![ScheduledFault {
            at: Dur::mins(5),
            fault: Fault::AgentOom {
                workspace: ws(),
                agent: "main".into(),
            },
        }],
        turns: vec![
            Turn::new(
                chat,
                vec![
                    Call::tool("list_templates", serde_json::json!({})),
                    Call::CreateWorkspace {
                        template: "dev".into(),
                        name: ws(),
                        parameters: BTreeMap::new(),
                        preset: None,
                    },
                    Call::WaitBuild { workspace: ws() },
                    Call::BindChat { workspace: ws() },
                    exec("echo ready"),
                ],
            ),
            Turn::new(chat, vec![exec("echo still-there")]).at(Dur::mins(7)),
            Turn::new(
                chat,
                vec![
                    Call::StopWorkspace { workspace: ws() },
                    Call::WaitBuild { workspace: ws() },
                ],
            )
            .at(Dur::mins(10)),
            Turn::new(
                chat,
                vec![
                    Call::StartWorkspace {
                        workspace: ws(),
                        parameters: BTreeMap::new(),
                    },
                    Call::WaitBuild { workspace: ws() },
                    Call::BindChat { workspace: ws() },
                    exec("echo back"),
                ],
            )
            .at(Dur::mins(15)),
            Turn::wait_until(chat, Dur::mins(30)),
        ],
    }
}
