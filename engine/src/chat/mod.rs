//! The chat runtime's workspace-connection layer (spec 3): per-turn workspace
//! context with its connection cache, external-agent preflight, lazy dial,
//! recovery classification, and per-turn context refresh.
