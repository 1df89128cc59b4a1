//! # chatsim-engine
//!
//! A pure re-implementation of the workspace tools an AI chat agent calls
//! inside a Coder deployment (`list_templates`, `read_template`,
//! `create_workspace`, `start_workspace`, `stop_workspace`) and of the chat
//! runtime's workspace-connection layer.
//!
//! The contract:
//! - **Fully deterministic.** Same inputs through the ports, same outputs,
//!   byte for byte. No wall clock, no unseeded randomness, no `HashMap`
//!   order in any output.
//! - **No runtime, no I/O.** The engine depends on no async runtime and no
//!   simulator; it reaches the world only through the ports in [`ports`]
//!   (`Store`, `Coderd`, `AgentDialer`, `Clock`, `Ids`, `Events`) and spawns
//!   nothing.
//! - **Faithful.** JSON keys, key order and model-facing strings follow the
//!   behaviour spec of Coder's chat tools (cited as "spec N §x.y" in the
//!   docs), emitted as Go's `encoding/json` would.
//!
//! # Where things are
//!
//! - [`chat`]: the entry a driver uses — a [`ChatRuntime`] per chat, a
//!   [`Turn`] per turn (workspace connection, context refresh, tool calls).
//! - [`tools`]: the five workspace tools, one module each with its
//!   model-facing texts; [`tools::Tool`] is their one list, and
//!   [`tools::call`] runs one by name with a [`ToolEnv`].
//! - [`ports`]: the traits the world is reached through; [`model`]: the
//!   coderd rows they carry.
//! - [`memory`]: an in-memory `Store` and `Coderd` (unit tests and the
//!   simulation's coderd).
//! - At the root: agent selection, the build and agent wait bounds and the
//!   quota text (defined with the tools' build waits), contexts, virtual
//!   [`Time`], workspace names, Go's UUID parsing and [`Value`] (JSON as Go
//!   emits it).
//! - `testkit` (feature `testkit`): a manual-clock executor, fakes and world
//!   builders for tests.
#![warn(missing_docs)]

mod agent_select;
pub mod chat;
mod ctx;
mod goid;
mod gojson;
pub mod memory;
pub mod model;
mod names;
pub mod ports;
mod time;
pub mod tools;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use agent_select::{find_chat_agent, is_chat_agent, CHAT_AGENT_SUFFIX};
pub use chat::{
    ChatPorts, ChatRuntime, ChatSettings, ConnError, ConnHandle, ContextRefresh, Turn, TurnContext,
};
pub use ctx::{Cancel, Ctx, CtxError, Ticker};
pub use goid::{go_quote, parse_uuid};
pub use gojson::Value;
pub use names::{generated_workspace_name, name_valid};
pub use time::Time;
pub use tools::build_wait::{
    external_agent_unavailable_message, is_external_agent, quota_message, BuildAction,
    AGENT_ATTEMPT_TIMEOUT, AGENT_CONNECT_TIMEOUT, AGENT_RETRY_INTERVAL, BUILD_POLL_INTERVAL,
    BUILD_TIMEOUT, EXTERNAL_AGENT_NOT_CONNECTED, EXTERNAL_AGENT_OFFLINE,
    STARTUP_SCRIPT_POLL_INTERVAL, STARTUP_SCRIPT_TIMEOUT,
};
pub use tools::{definitions, ToolDefinition, ToolEnv, ToolResponse};
