//! A story builder for Rust tests, in the spirit of turmoil's `Builder`:
//! a world, a fault schedule and the chat's turns, written in the order
//! they happen, built into a [`RunConfig`].
//!
//! ```
//! use chatsim::story::*;
//!
//! let config = Story::new(7)
//!     .user("alice")
//!     .template("dev")
//!     .create_and_bind("ws1")
//!     .fault_at(mins(5), agent_oom("ws1", "main"))
//!     .turn_at(mins(7), execute("make test"))
//!     .wait_until(mins(30))
//!     .build();
//! assert_eq!(config.world.chats[0].name, "main");
//! assert_eq!(config.turns.len(), 3);
//! ```
//!
//! Defaults: one organization ([`DEFAULT_ORG`], Everyone grants nothing);
//! a user is a `member` of it; a template has one version `v1` with agent
//! `main`, costing nothing; a chat belongs to the story's first user. A
//! turn added before any chat adds chat `main`. Turns go to the first chat
//! unless [`Story::on`] names another. Nothing is checked here: the run's
//! validator (`harness::check`) reports what is wrong.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    AgentDef, Call, ChatSpec, Dur, Fault, OrgSpec, RunConfig, ScheduledFault, Settings,
    TemplateSpec, Turn, UserSpec, VersionSpec, WorldSpec, DEFAULT_ORG,
};

/// A [`RunConfig`] under construction (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Story {
    config: RunConfig,
    /// The chat later turns go to (`None`: the first chat).
    chat: Option<String>,
}

/// The chat a turn added before any chat creates.
pub const DEFAULT_CHAT: &str = "main";

impl Story {
    /// An empty story: the default organization, no users, templates,
    /// chats, faults or turns; default settings.
    pub fn new(seed: u64) -> Story {
        Story {
            config: RunConfig {
                seed,
                settings: Settings::default(),
                world: WorldSpec {
                    organizations: vec![OrgSpec {
                        name: DEFAULT_ORG.into(),
                        everyone_quota: 0,
                    }],
                    users: vec![],
                    templates: vec![],
                    chats: vec![],
                    chat_workspace_ttl: String::new(),
                },
                faults: vec![],
                turns: vec![],
            },
            chat: None,
        }
    }

    /// The settings of the run.
    pub fn settings(mut self, settings: Settings) -> Story {
        self.config.settings = settings;
        self
    }

    /// Replaces the whole world (for worlds written by hand).
    pub fn world(mut self, world: WorldSpec) -> Story {
        self.config.world = world;
        self
    }

    /// The quota the first organization's Everyone group grants.
    pub fn everyone_quota(mut self, quota: i64) -> Story {
        self.config.world.organizations[0].everyone_quota = quota;
        self
    }

    /// Adds a user: a name (a member of the default organization) or a
    /// [`UserSpec`] (see [`user`]).
    pub fn user(mut self, user: impl Into<UserSpec>) -> Story {
        self.config.world.users.push(user.into());
        self
    }

    /// Adds a template: a name (one version `v1`, agent `main`, free) or a
    /// [`TemplateSpec`] (see [`template`]).
    pub fn template(mut self, template: impl Into<TemplateSpec>) -> Story {
        self.config.world.templates.push(template.into());
        self
    }

    /// Adds a chat owned by the story's first user.
    pub fn chat(mut self, name: &str) -> Story {
        self.add_chat(name);
        self
    }

    fn add_chat(&mut self, name: &str) {
        let owner = self
            .config
            .world
            .users
            .first()
            .map(|u| u.name.clone())
            .expect("a chat needs a user: add one with .user() first");
        self.config.world.chats.push(ChatSpec {
            name: name.into(),
            owner,
            allowed_templates: vec![],
            parent: None,
        });
    }

    /// Later turns go to chat `name` (added with [`Story::chat`]).
    pub fn on(mut self, chat: &str) -> Story {
        self.chat = Some(chat.into());
        self
    }

    /// The chat the next turn goes to; adds [`DEFAULT_CHAT`] if the world
    /// has no chat yet.
    fn current_chat(&mut self) -> String {
        if let Some(chat) = &self.chat {
            return chat.clone();
        }
        if self.config.world.chats.is_empty() {
            self.add_chat(DEFAULT_CHAT);
        }
        self.config.world.chats[0].name.clone()
    }

    /// A turn right after the previous one.
    pub fn turn(mut self, calls: impl IntoCalls) -> Story {
        let chat = self.current_chat();
        self.config.turns.push(Turn::new(&chat, calls.into_calls()));
        self
    }

    /// A turn that starts at `at` (or right after the previous one, if
    /// that ends later).
    pub fn turn_at(self, at: Dur, calls: impl IntoCalls) -> Story {
        self.turn(calls).map_last(|t| t.at(at))
    }

    /// Adds a turn as written (a model turn, a named turn, …).
    pub fn push(mut self, turn: Turn) -> Story {
        self.config.turns.push(turn);
        self
    }

    /// The previous turn's calls are sent at once (parallel tool calls).
    pub fn parallel(self) -> Story {
        self.map_last(Turn::parallel)
    }

    /// Names the previous turn (for expectations and traces).
    pub fn named(self, name: &str) -> Story {
        self.map_last(|t| t.named(name))
    }

    fn map_last(mut self, f: impl FnOnce(Turn) -> Turn) -> Story {
        let last = self.config.turns.pop().expect("no turn yet");
        self.config.turns.push(f(last));
        self
    }

    /// The user creates `workspace` from the story's first template, waits
    /// for the build and binds the chat to it.
    pub fn create_and_bind(self, workspace: &str) -> Story {
        let template = self
            .config
            .world
            .templates
            .first()
            .map(|t| t.name.clone())
            .expect("create_and_bind needs a template: add one with .template() first");
        self.turn(create_and_bind(&template, workspace))
    }

    /// The chat stays open (nothing is sent) until `at`.
    pub fn wait_until(mut self, at: Dur) -> Story {
        let chat = self.current_chat();
        self.config.turns.push(Turn::wait_until(&chat, at));
        self
    }

    /// `fault` happens at `at`.
    pub fn fault_at(mut self, at: Dur, fault: Fault) -> Story {
        self.config.faults.push(ScheduledFault::at(at, fault));
        self
    }

    /// The run.
    pub fn build(self) -> RunConfig {
        self.config
    }
}

/// One call or several, as a turn's calls.
pub trait IntoCalls {
    /// The calls, in order.
    fn into_calls(self) -> Vec<Call>;
}

impl IntoCalls for Call {
    fn into_calls(self) -> Vec<Call> {
        vec![self]
    }
}

impl IntoCalls for Vec<Call> {
    fn into_calls(self) -> Vec<Call> {
        self
    }
}

impl<const N: usize> IntoCalls for [Call; N] {
    fn into_calls(self) -> Vec<Call> {
        self.into()
    }
}

impl From<&str> for UserSpec {
    fn from(name: &str) -> UserSpec {
        user(name)
    }
}

impl From<&str> for TemplateSpec {
    fn from(name: &str) -> TemplateSpec {
        template(name)
    }
}

/// A `member` of the default organization, with no quota of their own.
pub fn user(name: &str) -> UserSpec {
    UserSpec {
        name: name.into(),
        organization: DEFAULT_ORG.into(),
        roles: vec!["member".into()],
        quota: 0,
    }
}

impl UserSpec {
    /// The quota the user's own group grants (added to Everyone's).
    pub fn with_quota(mut self, quota: i64) -> UserSpec {
        self.quota = quota;
        self
    }
}

/// A template of the default organization with one version `v1` (agent
/// `main`, costing nothing), no display name or description.
pub fn template(name: &str) -> TemplateSpec {
    TemplateSpec {
        name: name.into(),
        organization: DEFAULT_ORG.into(),
        display_name: String::new(),
        description: String::new(),
        require_active_version: false,
        deprecated: false,
        versions: vec![VersionSpec {
            name: "v1".into(),
            parameters: vec![],
            presets: vec![],
            agents: vec![AgentDef::named("main")],
            daily_cost: 0,
        }],
    }
}

impl TemplateSpec {
    /// The display name and description the template lists with.
    pub fn titled(mut self, display_name: &str, description: &str) -> TemplateSpec {
        self.display_name = display_name.into();
        self.description = description.into();
        self
    }

    /// Whether starts must use the active version.
    pub fn requiring_active_version(mut self, require: bool) -> TemplateSpec {
        self.require_active_version = require;
        self
    }

    fn active(&mut self) -> &mut VersionSpec {
        self.versions.last_mut().expect("a template has a version")
    }

    /// The quota a start of the active version commits.
    pub fn cost(mut self, daily_cost: i64) -> TemplateSpec {
        self.active().daily_cost = daily_cost;
        self
    }

    /// The active version's agents (replacing `main`).
    pub fn agents(mut self, agents: Vec<AgentDef>) -> TemplateSpec {
        self.active().agents = agents;
        self
    }

    /// A file every agent of the active version has in its directory.
    pub fn file(mut self, path: &str, text: &str) -> TemplateSpec {
        for agent in &mut self.active().agents {
            agent.behaviour.files.insert(path.into(), text.into());
        }
        self
    }

    /// Adds a parameter to the active version.
    pub fn parameter(mut self, parameter: super::ParameterSpec) -> TemplateSpec {
        self.active().parameters.push(parameter);
        self
    }
}

/// `n` virtual minutes.
pub const fn mins(n: u64) -> Dur {
    Dur::mins(n)
}

/// `n` virtual seconds.
pub const fn secs(n: u64) -> Dur {
    Dur::secs(n)
}

/// `n` virtual milliseconds.
pub const fn millis(n: u64) -> Dur {
    Dur::millis(n)
}

/// The agent process dies of OOM; the workspace keeps running.
pub fn agent_oom(workspace: &str, agent: &str) -> Fault {
    Fault::AgentOom {
        workspace: workspace.into(),
        agent: agent.into(),
    }
}

/// The model calls tool `name` with `input`.
pub fn tool(name: &str, input: Value) -> Call {
    Call::tool(name, input)
}

/// The model's `execute` tool (through the chat runtime).
pub fn execute(command: &str) -> Call {
    tool("execute", serde_json::json!({ "command": command }))
}

/// The user's direct probe of the bound agent (no chat runtime).
pub fn exec(command: &str) -> Call {
    Call::Exec {
        command: command.into(),
    }
}

/// The user creates `name` from `template` (no parameters, no preset).
pub fn create_workspace(template: &str, name: &str) -> Call {
    Call::CreateWorkspace {
        template: template.into(),
        name: name.into(),
        parameters: BTreeMap::new(),
        preset: None,
    }
}

/// The user waits for `workspace`'s latest build to end.
pub fn wait_build(workspace: &str) -> Call {
    Call::WaitBuild {
        workspace: workspace.into(),
    }
}

/// The user binds the chat to `workspace`.
pub fn bind_chat(workspace: &str) -> Call {
    Call::BindChat {
        workspace: workspace.into(),
    }
}

/// The user stops `workspace`.
pub fn stop_workspace(workspace: &str) -> Call {
    Call::StopWorkspace {
        workspace: workspace.into(),
    }
}

/// The user starts `workspace` (no new parameter values).
pub fn start_workspace(workspace: &str) -> Call {
    Call::StartWorkspace {
        workspace: workspace.into(),
        parameters: BTreeMap::new(),
    }
}

/// Create `workspace` from `template`, wait for the build, bind the chat.
pub fn create_and_bind(template: &str, workspace: &str) -> Vec<Call> {
    vec![
        create_workspace(template, workspace),
        wait_build(workspace),
        bind_chat(workspace),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_before_any_chat_adds_chat_main_of_the_first_user() {
        let config = Story::new(1).user("bob").turn(exec("true")).build();
        assert_eq!(config.world.chats.len(), 1);
        assert_eq!(config.world.chats[0].owner, "bob");
        assert_eq!(config.turns[0].chat, DEFAULT_CHAT);
    }

    #[test]
    fn turns_go_to_the_chat_on_names() {
        let config = Story::new(1)
            .user("alice")
            .chat("main")
            .chat("side")
            .turn(exec("a"))
            .on("side")
            .turn_at(mins(2), exec("b"))
            .parallel()
            .build();
        assert_eq!(config.turns[0].chat, "main");
        assert_eq!(config.turns[1].chat, "side");
        assert_eq!(config.turns[1].at, Some(mins(2)));
        assert!(config.turns[1].parallel);
    }
}
