//! Ready-made stories: small, named [`RunConfig`]s used by tests, examples
//! and benchmarks. The four reference stories of `chatsim bench` are
//! [`oom_story`], [`quota_story`], [`parallel_create_story`] and
//! [`churn_story`] (10 workspaces, 2 virtual hours).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::plan::Fault;
use crate::plan::*;

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

fn tool(name: &str, input: serde_json::Value) -> Call {
    Call::tool(name, input)
}

fn create_tool(name: &str) -> Call {
    tool(
        "create_workspace",
        serde_json::json!({ "template_id": "{{template:dev}}", "name": name }),
    )
}

/// A quota failure (~10 virtual minutes): every start costs 10 and the
/// organization grants 10. Chat `main` creates `ws1` with the model's
/// `create_workspace` (it commits the whole allowance); at 2 min chat
/// `side` creates `ws2`, whose build fails at the quota commit with
/// `INSUFFICIENT_QUOTA`, and the model reads why.
pub fn quota_story(seed: u64) -> RunConfig {
    let mut world = one_user_world(10, 10);
    world.chats.push(ChatSpec {
        name: "side".into(),
        owner: "alice".into(),
        allowed_templates: vec![],
        parent: None,
    });
    RunConfig {
        seed,
        settings: Settings::default(),
        world,
        faults: vec![],
        turns: vec![
            Turn::new(
                "main",
                vec![
                    tool("list_templates", serde_json::json!({})),
                    create_tool("ws1"),
                ],
            ),
            Turn::new("side", vec![create_tool("ws2")]).at(Dur::mins(2)),
            Turn::wait_until("main", Dur::mins(10)),
        ],
    }
}

/// Parallel tool calls (~5 virtual minutes): the model sends two
/// `create_workspace` calls in one message; they race for the chat's
/// workspace lock, one creates and the other finds the chat bound. Then
/// `execute` runs on the workspace.
pub fn parallel_create_story(seed: u64) -> RunConfig {
    RunConfig {
        seed,
        settings: Settings::default(),
        world: one_user_world(0, 0),
        faults: vec![],
        turns: vec![
            Turn::new("main", vec![create_tool("ws-a"), create_tool("ws-b")]).parallel(),
            Turn::new(
                "main",
                vec![tool("execute", serde_json::json!({ "command": "pwd" }))],
            )
            .at(Dur::mins(1)),
            Turn::wait_until("main", Dur::mins(5)),
        ],
    }
}

/// How often [`churn_story`] restarts a workspace.
pub const CHURN_PERIOD: Duration = Duration::from_secs(5 * 60);

/// Start/stop churn in a `workspaces`-workspace world for `duration`
/// (at least 10 virtual minutes): the user creates `ws1`…`wsN` at once
/// (one provisioner builds them in turn) and binds chat `main` to `ws1`;
/// then every [`CHURN_PERIOD`] the next workspace in turn is stopped and
/// started again (`ws1` is rebound), and the model runs `execute` on
/// `ws1`. Every running agent heartbeats all along, so the cost grows with
/// workspaces × virtual time.
pub fn churn_story(seed: u64, workspaces: usize, duration: Duration) -> RunConfig {
    assert!(workspaces >= 1, "at least one workspace");
    let names: Vec<String> = (1..=workspaces).map(|i| format!("ws{i}")).collect();
    let ws1 = names[0].clone();
    let execute = || tool("execute", serde_json::json!({ "command": "echo tick" }));
    let mut turns = vec![
        Turn::new(
            "main",
            names
                .iter()
                .map(|name| Call::CreateWorkspace {
                    template: "dev".into(),
                    name: name.clone(),
                    parameters: BTreeMap::new(),
                    preset: None,
                })
                .collect(),
        )
        .parallel(),
        Turn::new(
            "main",
            names
                .iter()
                .map(|name| Call::WaitBuild {
                    workspace: name.clone(),
                })
                .collect(),
        )
        .parallel(),
        Turn::new(
            "main",
            vec![
                Call::BindChat {
                    workspace: ws1.clone(),
                },
                execute(),
            ],
        ),
    ];
    let cycles = (duration.as_secs() / CHURN_PERIOD.as_secs()).saturating_sub(1);
    for cycle in 0..cycles {
        let name = names[cycle as usize % workspaces].clone();
        let mut calls = vec![
            Call::StopWorkspace {
                workspace: name.clone(),
            },
            Call::WaitBuild {
                workspace: name.clone(),
            },
            Call::StartWorkspace {
                workspace: name.clone(),
                parameters: BTreeMap::new(),
            },
            Call::WaitBuild {
                workspace: name.clone(),
            },
        ];
        if name == ws1 {
            calls.push(Call::BindChat {
                workspace: ws1.clone(),
            });
        }
        calls.push(execute());
        let at = CHURN_PERIOD * (cycle as u32 + 1);
        turns.push(Turn::new("main", calls).at(Dur(at)));
    }
    turns.push(Turn::wait_until("main", Dur(duration)));
    let settings = Settings {
        max_duration: Dur(duration + Duration::from_secs(3600)),
        turn_timeout: Dur::mins(60),
        ..Settings::default()
    };
    RunConfig {
        seed,
        settings,
        world: one_user_world(0, 0),
        faults: vec![],
        turns,
    }
}
