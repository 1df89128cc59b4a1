//! Observing a run: the [`trace`] every host writes into, [`view`]s that
//! read it back as calls, builds and agents, and the always-on
//! [`invariants`] checked over it.

// documented by the invariants/fuzz work in flight
#[allow(missing_docs, rustdoc::private_intra_doc_links)]
pub mod invariants;
pub mod trace;
pub mod view;
