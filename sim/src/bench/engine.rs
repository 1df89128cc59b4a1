//! The practical limit: the reference stories' calls on the pure engine —
//! the testkit `World` (in-memory store and coderd hooks, manual clock, a
//! scripted provisioner and agents that tick every virtual second, a fake
//! dialer), no hosts, no network, no wire. The user's API calls become the
//! hooks they stand for; the model's calls go through a `ChatRuntime` as
//! coderd runs them.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::chat::{ChatPorts, ChatRuntime, ChatSettings, Turn};
use chatsim_engine::memory::MemCoderd;
use chatsim_engine::model::Chat;
use chatsim_engine::ports::{AgentDialer, Clock, Coderd, CreateWorkspaceRequest, Ids, Store};
use chatsim_engine::testkit::{TemplateIds, World, TEST_EPOCH};
use chatsim_engine::tools::ToolResponse;
use chatsim_engine::{find_chat_agent, Cancel, Ctx};
use serde_json::json;
use uuid::Uuid;

use crate::stories::CHURN_PERIOD;

/// How often a user's wait polls the build (as coderd's user API does).
const BUILD_POLL: Duration = Duration::from_secs(2);
/// Bound on the polls of one wait.
const MAX_POLLS: u32 = 1000;

/// One engine world: a template `dev`, chats by name, their runtimes.
pub struct EngineWorld {
    /// The testkit world: store, hooks, manual clock.
    pub world: World,
    template: TemplateIds,
    coderd: Rc<MemCoderd>,
    chats: BTreeMap<String, (Uuid, ChatRuntime)>,
    /// Tool responses seen, for a sanity check.
    pub responses: std::cell::RefCell<Vec<ToolResponse>>,
}

impl EngineWorld {
    /// Starts cost `cost`, organization quota `quota`, one chat per name
    /// (the first is the world's own chat).
    pub fn new(cost: i64, quota: i64, chats: &[&str]) -> EngineWorld {
        let world = World::new();
        world.quota_allowance(quota);
        let template = world.template("dev").daily_cost(cost).create();
        let clock: Rc<dyn Clock> = Rc::new(world.clock.clone());
        let ids: Rc<dyn Ids> = world.ids.clone();
        let coderd = Rc::new(MemCoderd::new(world.store.clone(), clock, ids));
        let mut runtimes = BTreeMap::new();
        for (i, name) in chats.iter().enumerate() {
            let id = if i == 0 {
                world.chat
            } else {
                let id = world.ids.new_uuid();
                let (owner, organization) = (world.owner, world.organization);
                world.store.edit(|t| {
                    t.chats.push(Chat {
                        id,
                        owner_id: owner,
                        organization_id: organization,
                        ..Chat::default()
                    })
                });
                id
            };
            let runtime = runtime(&world, &coderd, id);
            runtimes.insert(name.to_string(), (id, runtime));
        }
        EngineWorld {
            world,
            template,
            coderd,
            chats: runtimes,
            responses: Default::default(),
        }
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.world.now().since(TEST_EPOCH)
    }

    /// Waits until `at` (virtual time since the start).
    pub async fn until(&self, at: Duration) {
        self.world.clock.sleep_until(TEST_EPOCH + at).await;
    }

    /// A turn of chat `chat`: its context is built first, as coderd does.
    pub async fn turn(&self, chat: &str) -> Turn<'_> {
        let (_, runtime) = &self.chats[chat];
        let turn = runtime
            .turn(Ctx::new(Cancel::new()))
            .expect("the chat exists");
        turn.begin().await;
        turn
    }

    /// A model call in `turn`, then the mid-turn context pull.
    pub async fn tool(&self, turn: &Turn<'_>, name: &str, input: serde_json::Value) {
        let response = turn.call_tool(name, &input.to_string()).await;
        turn.before_model_step().await;
        self.responses.borrow_mut().push(response);
    }

    /// The model's `create_workspace` input for `name`.
    pub fn create_input(&self, name: &str) -> serde_json::Value {
        json!({ "template_id": self.template.template.to_string(), "name": name })
    }

    /// The user creates a workspace.
    pub fn create(&self, name: &str) -> Uuid {
        let request = CreateWorkspaceRequest {
            template_id: self.template.template,
            name: name.to_string(),
            ttl_ms: None,
            template_version_preset_id: None,
            rich_parameter_values: vec![],
        };
        let owner = self.world.owner;
        self.coderd
            .create_workspace(owner, &request)
            .expect("created")
            .id
    }

    /// The owner stops `workspace` (the stop hook).
    pub fn stop(&self, workspace: Uuid) {
        let owner = self.world.owner;
        self.coderd
            .stop_workspace(owner, workspace)
            .expect("stop enqueued");
    }

    /// The owner starts `workspace` (the start hook).
    pub fn start(&self, workspace: Uuid) {
        let owner = self.world.owner;
        self.coderd
            .start_workspace(owner, workspace, &[])
            .expect("start enqueued");
    }

    /// The user waits for the workspace's latest build to end.
    pub async fn wait_build(&self, workspace: Uuid) {
        let store = &self.world.store;
        for _ in 0..MAX_POLLS {
            let build = store
                .get_latest_workspace_build_by_workspace_id(workspace)
                .expect("a build");
            let job = store.get_provisioner_job_by_id(build.job_id).expect("job");
            if job.status.is_terminal() {
                return;
            }
            self.world.clock.sleep(BUILD_POLL).await;
        }
    }

    /// The user binds `turn`'s chat to the workspace and its chat agent.
    pub fn bind(&self, turn: &Turn<'_>, chat: &str, workspace: Uuid) {
        let store = &self.world.store;
        let build = store
            .get_latest_workspace_build_by_workspace_id(workspace)
            .ok()
            .map(|b| b.id);
        let agent = store
            .get_workspace_agents_in_latest_build_by_workspace_id(workspace)
            .ok()
            .and_then(|agents| find_chat_agent(&agents).ok())
            .map(|a| a.id);
        let chat_id = self.chats[chat].0;
        let chat = store
            .update_chat_workspace_binding(chat_id, Some(workspace), build, agent)
            .expect("bound");
        turn.on_chat_updated(&chat);
    }

    /// The agent of the workspace's latest build (named `main`).
    pub fn agent(&self, workspace: Uuid) -> Uuid {
        self.world.agents(workspace)[0].id
    }

    /// Runs `story` on virtual time beside the provisioner and agents.
    pub fn run<T>(&self, story: impl std::future::Future<Output = T>) -> T {
        self.world.drive(story)
    }
}

fn runtime(world: &World, coderd: &Rc<MemCoderd>, chat: Uuid) -> ChatRuntime {
    let dialer: Rc<dyn AgentDialer> = Rc::new(world.dialer.clone());
    let ports = ChatPorts {
        store: world.store.clone() as Rc<dyn Store>,
        coderd: Some(coderd.clone()),
        dialer: Some(dialer),
        clock: Rc::new(world.clock.clone()),
        ids: world.ids.clone(),
        events: world.events.clone(),
    };
    ChatRuntime::new(ports, ChatSettings::default(), chat)
}

fn exec(command: &str) -> serde_json::Value {
    json!({ "command": command })
}

/// What one engine run did.
pub struct EngineRun {
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// Tool calls the model made.
    pub tool_calls: usize,
    /// The model's responses, in call order.
    pub responses: Vec<ToolResponse>,
}

fn finish(w: &EngineWorld) -> EngineRun {
    let responses = w.responses.borrow().clone();
    EngineRun {
        virtual_time: w.elapsed(),
        tool_calls: responses.len(),
        responses,
    }
}

/// [`crate::stories::oom_story`] on the engine.
pub fn oom() -> EngineRun {
    let w = EngineWorld::new(0, 0, &["main"]);
    w.run(async {
        let turn = w.turn("main").await;
        w.tool(&turn, "list_templates", json!({})).await;
        let ws = w.create("ws1");
        w.wait_build(ws).await;
        w.bind(&turn, "main", ws);
        w.tool(&turn, "execute", exec("echo ready")).await;
        turn.close();
        w.until(Duration::from_secs(5 * 60)).await;
        w.world.disconnect_agent(w.agent(ws));
        w.until(Duration::from_secs(7 * 60)).await;
        let turn = w.turn("main").await;
        w.tool(&turn, "execute", exec("echo still-there")).await;
        turn.close();
        w.until(Duration::from_secs(10 * 60)).await;
        w.stop(ws);
        w.wait_build(ws).await;
        w.until(Duration::from_secs(15 * 60)).await;
        let turn = w.turn("main").await;
        w.start(ws);
        w.wait_build(ws).await;
        w.bind(&turn, "main", ws);
        w.tool(&turn, "execute", exec("echo back")).await;
        turn.close();
        w.until(Duration::from_secs(30 * 60)).await;
    });
    finish(&w)
}

/// [`crate::stories::quota_story`] on the engine.
pub fn quota() -> EngineRun {
    let w = EngineWorld::new(10, 10, &["main", "side"]);
    w.run(async {
        let turn = w.turn("main").await;
        w.tool(&turn, "list_templates", json!({})).await;
        w.tool(&turn, "create_workspace", w.create_input("ws1"))
            .await;
        turn.close();
        w.until(Duration::from_secs(2 * 60)).await;
        let turn = w.turn("side").await;
        w.tool(&turn, "create_workspace", w.create_input("ws2"))
            .await;
        turn.close();
        w.until(Duration::from_secs(10 * 60)).await;
    });
    finish(&w)
}

/// [`crate::stories::parallel_create_story`] on the engine.
pub fn parallel_create() -> EngineRun {
    let w = EngineWorld::new(0, 0, &["main"]);
    w.run(async {
        let turn = w.turn("main").await;
        futures::join!(
            w.tool(&turn, "create_workspace", w.create_input("ws-a")),
            w.tool(&turn, "create_workspace", w.create_input("ws-b")),
        );
        turn.close();
        w.until(Duration::from_secs(60)).await;
        let turn = w.turn("main").await;
        w.tool(&turn, "execute", exec("pwd")).await;
        turn.close();
        w.until(Duration::from_secs(5 * 60)).await;
    });
    finish(&w)
}

/// The bench's smoke story on the engine: the parallel create, then a
/// minute of waiting.
pub fn smoke() -> EngineRun {
    let w = EngineWorld::new(0, 0, &["main"]);
    w.run(async {
        let turn = w.turn("main").await;
        futures::join!(
            w.tool(&turn, "create_workspace", w.create_input("ws-a")),
            w.tool(&turn, "create_workspace", w.create_input("ws-b")),
        );
        turn.close();
        w.until(Duration::from_secs(60)).await;
    });
    finish(&w)
}

/// [`crate::stories::churn_story`] on the engine.
pub fn churn(workspaces: usize, duration: Duration) -> EngineRun {
    let w = EngineWorld::new(0, 0, &["main"]);
    w.run(async {
        let ids: Vec<Uuid> = (1..=workspaces)
            .map(|i| w.create(&format!("ws{i}")))
            .collect();
        for &ws in &ids {
            w.wait_build(ws).await;
        }
        let turn = w.turn("main").await;
        w.bind(&turn, "main", ids[0]);
        w.tool(&turn, "execute", exec("echo tick")).await;
        turn.close();
        let cycles = (duration.as_secs() / CHURN_PERIOD.as_secs()).saturating_sub(1);
        for cycle in 0..cycles {
            w.until(CHURN_PERIOD * (cycle as u32 + 1)).await;
            let ws = ids[cycle as usize % workspaces];
            let turn = w.turn("main").await;
            w.stop(ws);
            w.wait_build(ws).await;
            w.start(ws);
            w.wait_build(ws).await;
            if ws == ids[0] {
                w.bind(&turn, "main", ws);
            }
            w.tool(&turn, "execute", exec("echo tick")).await;
            turn.close();
        }
        w.until(duration).await;
    });
    finish(&w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatsim_engine::chat::AGENT_DISCONNECTED;

    #[test]
    fn the_oom_story_on_the_engine_reads_as_on_the_hosts() {
        let run = oom();
        assert_eq!(run.virtual_time, Duration::from_secs(30 * 60));
        let texts: Vec<&str> = run.responses.iter().map(|r| r.content.as_str()).collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(!run.responses[1].is_error, "{texts:?}");
        assert_eq!(texts[2], AGENT_DISCONNECTED, "the stop/start advice");
        assert!(
            !run.responses[3].is_error,
            "works after the restart: {texts:?}"
        );
    }

    #[test]
    fn the_quota_story_on_the_engine_fails_at_the_commit() {
        let run = quota();
        let last = run.responses.last().expect("a response");
        assert!(
            last.content.contains("INSUFFICIENT_QUOTA"),
            "{}",
            last.content
        );
    }

    #[test]
    fn the_churn_story_on_the_engine_restarts_every_period() {
        let run = churn(2, Duration::from_secs(20 * 60));
        assert_eq!(run.virtual_time, Duration::from_secs(20 * 60));
        // The first execute, then one per churn cycle (every 5 min, 3 cycles).
        assert_eq!(run.tool_calls, 4);
        assert!(run.responses.iter().all(|r| !r.is_error));
    }
}
