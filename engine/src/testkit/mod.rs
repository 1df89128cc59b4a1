//! Test support (feature `testkit`): a manual virtual-clock executor, fakes
//! for the ports, and world builders that read like stories.
//!
//! - [`World::new`] is the strict world today's tests start from;
//!   [`World::ready`] is the one a new test usually wants (no allowlist,
//!   dials succeed, agents ready). The table on [`World`] compares them.
//! - [`StoreInterposer`] and [`RecordingCoderd`] stand in front of the
//!   in-memory store and coderd: they log every call as a value
//!   ([`StoreCall`], [`CoderdCall`]) and fail or change the Nth call of a
//!   query or hook.
//! - [`FakeDialer`] plans dials by dial number, agent ID or agent name, and
//!   tracks every connection it hands out ([`ConnRecord`]: headers sent,
//!   times released).
//! - [`World::set_agent_status`] puts an agent into any computed status;
//!   [`World::finish_job_with_null_error`] fails a job with no message;
//!   [`World::set_inactive_timeout`] changes the timeout after the build.

mod agent_states;
mod conns;
mod dialer;
mod executor;
mod fakes;
mod interposer;
mod recording_coderd;
mod store_calls;
mod world;

pub use conns::{ConnRecord, Headers};
pub use dialer::{DialPlan, DialRecord, FakeDialer};
pub use executor::{ManualClock, Stalled, TEST_EPOCH};
pub use fakes::{FailingCoderd, RecordingEvents, SeqIds};
pub use interposer::StoreInterposer;
pub use recording_coderd::{CoderdCall, Hook, RecordingCoderd};
pub use store_calls::StoreCall;
pub use world::{
    new_active_version, AgentScript, ProvisionerScript, TemplateBuilder, TemplateIds, World,
    TEST_INACTIVE_TIMEOUT,
};

#[cfg(test)]
mod tests;
