//! Per-turn context refresh, Generation B (spec 3 §4.2, §4.2.1): when a
//! turn pulls instruction files and skills from the workspace, what it
//! persists as message parts, the fallbacks to persisted parts, the
//! mid-turn pull after `OnChatUpdated`, and the reload after compaction.

use super::env::ChatEnv;
use super::errors::ConnError;
use super::instruction::{
    format_system_instructions, instruction_from_context_files, render_skill_index,
    select_skill_metas_for_instruction_refresh, skills_from_parts,
};
use super::parts::{
    encode_parts, ContextFilePart, History, MessagePart, SkillPart,
    AGENT_CHAT_CONTEXT_SENTINEL_PATH,
};
use super::runtime::Turn;
use super::settings::ContextRefresh;
use crate::model::WorkspaceAgent;
use crate::ports::{AgentContext, SkillMeta, StoreError};

/// The debug log line of a failed context pull begins with this (the
/// turn then falls back to the persisted parts under `every_turn`).
pub const CONTEXT_PULL_FAILED_LOG: &str = "workspace context pull failed";

/// Role of the message a pull persists (visible to the model and the user).
pub const CONTEXT_MESSAGE_ROLE: &str = "user";

/// A turn's workspace instruction (`<workspace-context>` block) and skills.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TurnContext {
    /// The `<workspace-context>` block; empty = none.
    pub instruction: String,
    /// The skills the skill index lists, one per name.
    pub skills: Vec<SkillMeta>,
}

impl TurnContext {
    fn from_history(history: &History) -> TurnContext {
        TurnContext {
            instruction: instruction_from_context_files(history),
            skills: skills_from_parts(history),
        }
    }

    /// The system-prompt text: the instruction, then the skill index,
    /// separated by a blank line (either may be absent).
    pub fn system_prompt(&self) -> String {
        let index = render_skill_index(&self.skills);
        [self.instruction.as_str(), index.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// The turn's prompt state.
#[derive(Clone, Debug, Default)]
pub(crate) struct PromptState {
    pub instruction: String,
    pub skills: Vec<SkillMeta>,
    /// `OnChatUpdated` asked for a pull before the next model step.
    pub pending_pull: bool,
}

impl PromptState {
    fn context(&self) -> TurnContext {
        TurnContext {
            instruction: self.instruction.clone(),
            skills: self.skills.clone(),
        }
    }
}

/// What one successful pull fetched, stamped with the agent's ID.
struct Pulled {
    agent: WorkspaceAgent,
    os: String,
    directory: String,
    files: Vec<ContextFilePart>,
    skills: Vec<SkillPart>,
}

impl Pulled {
    fn discovered(&self) -> Vec<SkillMeta> {
        self.skills.iter().map(|s| s.skill.clone()).collect()
    }

    fn has_content(&self) -> bool {
        self.files.iter().any(|f| !f.content.is_empty())
    }

    /// The message to persist: the returned parts, preceded by the skill-only
    /// sentinel when only skills came back, or by a blank marker (agent ID
    /// only) when nothing came back at all.
    fn parts_to_persist(&self) -> Vec<MessagePart> {
        let mut parts = Vec::with_capacity(self.files.len() + self.skills.len() + 1);
        if self.files.is_empty() {
            let path = if self.skills.is_empty() {
                String::new()
            } else {
                AGENT_CHAT_CONTEXT_SENTINEL_PATH.to_string()
            };
            parts.push(MessagePart::ContextFile(ContextFilePart {
                path,
                agent_id: Some(self.agent.id),
                ..ContextFilePart::default()
            }));
        }
        parts.extend(self.files.iter().cloned().map(MessagePart::ContextFile));
        parts.extend(self.skills.iter().cloned().map(MessagePart::Skill));
        parts
    }
}

/// chatsim's sanitising of fetched content: NUL characters (which a text
/// column cannot hold) are removed.
pub fn sanitize_context_content(content: &str) -> String {
    content.replace('\0', "")
}

/// Stamps the agent's context with its ID, OS and directory.
fn stamp(agent: WorkspaceAgent, context: AgentContext) -> Pulled {
    let directory = if agent.expanded_directory.is_empty() {
        agent.directory.clone()
    } else {
        agent.expanded_directory.clone()
    };
    let os = agent.operating_system.clone();
    let files = context
        .files
        .into_iter()
        .map(|f| ContextFilePart {
            path: f.path,
            content: sanitize_context_content(&f.content),
            os: os.clone(),
            directory: directory.clone(),
            truncated: f.truncated,
            agent_id: Some(agent.id),
        })
        .collect();
    let skills = context
        .skills
        .into_iter()
        .map(|skill| SkillPart {
            skill,
            agent_id: Some(agent.id),
        })
        .collect();
    Pulled {
        agent,
        os,
        directory,
        files,
        skills,
    }
}

impl Turn<'_> {
    /// Start of turn (§4.2.1): pull or rebuild the workspace instruction and
    /// skills, and keep them as the turn's.
    pub async fn begin(&self) -> TurnContext {
        let resolved = self.resolve_turn_context().await;
        let mut prompt = self.prompt.borrow_mut();
        prompt.instruction = resolved.instruction.clone();
        prompt.skills = resolved.skills.clone();
        resolved
    }

    /// The turn's current instruction and skills.
    pub fn context(&self) -> TurnContext {
        self.prompt.borrow().context()
    }

    async fn resolve_turn_context(&self) -> TurnContext {
        if self.current_chat().workspace_id.is_none() {
            return TurnContext::default();
        }
        // The cheap metadata refresh (no dial), once per turn whatever the
        // context refresh does.
        let current = self
            .workspace
            .ensure_workspace_agent()
            .ok()
            .map(|(_, a)| a.id);
        let Some(history) = load_history(self.env()) else {
            return TurnContext::default();
        };
        if !pull_needed(self.env(), &history, current) {
            return TurnContext::from_history(&history);
        }
        match self.pull().await {
            Ok(pulled) => self.apply_pull(&history, &pulled),
            Err(err) => {
                self.env()
                    .log("debug", format!("{CONTEXT_PULL_FAILED_LOG}: {err}"));
                match self.env().settings.context_refresh {
                    ContextRefresh::EveryTurn => TurnContext::from_history(&history),
                    ContextRefresh::OnAgentChange => TurnContext {
                        instruction: String::new(),
                        skills: skills_from_parts(&history),
                    },
                }
            }
        }
    }

    /// Step 3's fetch: the latest agent check, a connection, the agent's
    /// context — all within the instruction-lookup budget.
    async fn pull(&self) -> Result<Pulled, ConnError> {
        let env = self.env();
        let ctx = self
            .ctx
            .with_timeout(env.clock(), env.settings.instruction_lookup_timeout);
        self.workspace.workspace_agent_id_for_conn()?;
        let conn = self.workspace.get_workspace_conn(&ctx).await?;
        let agent = match self.workspace.cached_agent() {
            Some(agent) => agent,
            None => self.workspace.ensure_workspace_agent()?.1,
        };
        let context = ctx
            .race(env.clock(), conn.context())
            .await
            .map_err(ConnError::Ctx)?
            .map_err(ConnError::Other)?;
        Ok(stamp(agent, context))
    }

    /// Uses a successful pull: persisted unless (under `every_turn`) the
    /// history already holds this agent's instruction files; the
    /// instruction is rendered from the fresh parts.
    fn apply_pull(&self, history: &History, pulled: &Pulled) -> TurnContext {
        let env = self.env();
        let fetch_only = env.settings.context_refresh == ContextRefresh::EveryTurn
            && history.instruction_file_agent() == Some(pulled.agent.id);
        if !fetch_only {
            persist(env, pulled);
        }
        let instruction = if pulled.has_content() {
            format_system_instructions(&pulled.os, &pulled.directory, &pulled.files)
        } else {
            String::new()
        };
        let skills = select_skill_metas_for_instruction_refresh(
            &skills_from_parts(history),
            &pulled.discovered(),
            Some(pulled.agent.id),
            history.context_agent(),
        );
        TurnContext {
            instruction,
            skills,
        }
    }

    /// The mid-turn pull (§4.2.1 "Mid-turn", §5): if `on_chat_updated`
    /// marked one and the turn still has no instruction, pull and persist
    /// now. Returns what to insert into the prompt, once; skills are
    /// replaced only when the pull discovered some.
    pub async fn before_model_step(&self) -> Option<TurnContext> {
        {
            let mut prompt = self.prompt.borrow_mut();
            let pending = std::mem::take(&mut prompt.pending_pull);
            if !pending || !prompt.instruction.is_empty() {
                return None;
            }
        }
        let history = load_history(self.env())?;
        let pulled = match self.pull().await {
            Ok(pulled) => pulled,
            Err(err) => {
                self.env().log(
                    "debug",
                    format!("mid-turn workspace context pull failed: {err}"),
                );
                return None;
            }
        };
        let fresh = self.apply_pull(&history, &pulled);
        let mut prompt = self.prompt.borrow_mut();
        prompt.instruction = fresh.instruction;
        if !pulled.skills.is_empty() {
            prompt.skills = fresh.skills;
        }
        if prompt.instruction.is_empty() && pulled.skills.is_empty() {
            return None;
        }
        Some(prompt.context())
    }

    /// The loop's `ReloadMessages` after compaction: the turn's instruction
    /// if any, else rebuilt from the reloaded history; skills rebuilt from
    /// the history, else the turn's.
    pub fn reload_messages(&self) -> Result<TurnContext, StoreError> {
        let env = self.env();
        let rows = env.store().get_chat_messages_for_prompt(env.chat_id)?;
        let history = History::from_messages(&rows);
        let mut prompt = self.prompt.borrow_mut();
        if prompt.instruction.is_empty() {
            prompt.instruction = instruction_from_context_files(&history);
        }
        let rebuilt = skills_from_parts(&history);
        if !rebuilt.is_empty() {
            prompt.skills = rebuilt;
        }
        Ok(prompt.context())
    }
}

/// Step 2: whether this turn pulls.
fn pull_needed(env: &ChatEnv, history: &History, current: Option<uuid::Uuid>) -> bool {
    match env.settings.context_refresh {
        ContextRefresh::EveryTurn => true,
        ContextRefresh::OnAgentChange => {
            !history.has_persisted_instruction_files()
                || current.is_some_and(|id| Some(id) != history.instruction_file_agent())
        }
    }
}

/// The prompt history; a read failure skips the refresh for this turn.
fn load_history(env: &ChatEnv) -> Option<History> {
    match env.store().get_chat_messages_for_prompt(env.chat_id) {
        Ok(rows) => Some(History::from_messages(&rows)),
        Err(err) => {
            env.log(
                "warn",
                format!("failed to load chat messages for context refresh: {err}"),
            );
            None
        }
    }
}

/// Persists a pull as one message; a write failure is only logged.
fn persist(env: &ChatEnv, pulled: &Pulled) {
    let content = encode_parts(&pulled.parts_to_persist());
    if let Err(err) =
        env.store()
            .insert_chat_message(env.chat_id, CONTEXT_MESSAGE_ROLE, &content, env.now())
    {
        env.log(
            "warn",
            format!("failed to persist workspace context: {err}"),
        );
    }
}
