//! The chat runtime's workspace-connection layer (spec 3): per-turn
//! workspace context with its connection cache, external-agent preflight,
//! lazy dial, recovery classification, and per-turn context refresh.
//!
//! # Driving it
//!
//! ```text
//! let runtime = ChatRuntime::new(ports, ChatSettings::default(), chat_id);
//! let turn = runtime.turn(Ctx::new(cancel))?;        // reads the chat row
//! let context = turn.begin().await;                  // instruction + skills
//! // model step: system prompt = context.system_prompt()
//! let response = turn.call_tool("execute", r#"{"command":"ls"}"#).await;
//! if let Some(insert) = turn.before_model_step().await {
//!     // insert.system_prompt() goes into the prompt once
//! }
//! let after_compaction = turn.reload_messages()?;
//! turn.close();                                      // releases the conn
//! ```
//!
//! - [`ChatRuntime`] — one per chat: ports ([`ChatPorts`]), [`ChatSettings`]
//!   and the per-chat lock create/start/stop share.
//! - [`Turn`] — one per turn (upstream `turnWorkspaceContext` plus the
//!   turn's prompt state):
//!   - `begin()` — §4.2.1 start of turn: pull (or rebuild) the
//!     `<workspace-context>` instruction and the skills;
//!   - `get_workspace_conn()` — §2.2: cache, resolver, preflight, 30 s
//!     dial with lazy validation, the recovery rewrite; errors print the
//!     spec's exact texts ([`ConnError`]);
//!   - `on_chat_updated(&Chat)` — §5, synchronous: adopt the chat, drop the
//!     cached agent and connection, emit `ChatUpdated` and
//!     `ChatStatusChange`, mark a mid-turn pull;
//!   - `before_model_step()` — performs that pull; returns the prompt
//!     insert once;
//!   - `call_tool(name, input)` — any [`ChatTool`]: the five lifecycle
//!     tools (`tools::Tool::run`, with this turn's `on_chat_updated`) and
//!     the workspace tools `execute` / `read_file` ([`WorkspaceTool`]);
//!   - `reload_messages()` — the reload after compaction.
//!
//! chatsim-defined values (the spec leaves them open), each a named
//! constant: the skill-only sentinel path
//! ([`AGENT_CHAT_CONTEXT_SENTINEL_PATH`]), the message-part JSON shape
//! (`parts`), the skill-index rendering ([`render_skill_index`]), the
//! header names ([`CHAT_ID_HEADER`], [`ANCESTOR_CHAT_IDS_HEADER`]), the
//! prefixes of database errors (`errors`), and the workspace tools' shapes.

mod context_refresh;
mod dial;
mod env;
mod errors;
mod instruction;
mod parts;
mod recovery;
mod registry;
mod runtime;
mod settings;
mod workspace_context;
mod workspace_tools;

#[cfg(test)]
mod tests;

pub use context_refresh::{
    sanitize_context_content, TurnContext, CONTEXT_MESSAGE_ROLE, CONTEXT_PULL_FAILED_LOG,
};
pub use env::ChatPorts;
pub use errors::*;
pub use instruction::{
    format_system_instructions, instruction_from_context_files, merge_skill_metas,
    render_skill_index, select_skill_metas_for_instruction_refresh, skills_from_parts,
    TRUNCATION_MARKER,
};
pub use parts::{
    decode_parts, encode_parts, ContextFilePart, History, MessagePart, SkillPart,
    AGENT_CHAT_CONTEXT_SENTINEL_PATH, PART_TYPE_CONTEXT_FILE, PART_TYPE_SKILL, PART_TYPE_TEXT,
};
pub use registry::ChatTool;
pub use runtime::{ChatRuntime, Turn};
pub use settings::*;
pub use workspace_context::{chat_headers, ConnHandle, ANCESTOR_CHAT_IDS_HEADER, CHAT_ID_HEADER};
pub use workspace_tools::{
    definitions as workspace_tool_definitions, is_workspace_tool, WorkspaceTool, COMMAND_REQUIRED,
    EXECUTE, PATH_REQUIRED, READ_FILE,
};
