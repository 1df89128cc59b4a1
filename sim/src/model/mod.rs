//! Models that play the LLM: the reference policy (and later personas),
//! and the adapter that lets the chat driver ask one for its next call.

mod policy;
mod reference;

pub use policy::ReferencePolicy;
pub use reference::{Goal, Outcome, Reason, ReferenceModel, Step, ToolCall, DEFAULT_CALL_CAP};
