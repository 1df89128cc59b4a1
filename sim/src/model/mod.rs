//! Models that play the LLM: the reference policy (and later personas).

mod reference;

pub use reference::{Goal, Outcome, Reason, ReferenceModel, Step, ToolCall, DEFAULT_CALL_CAP};
