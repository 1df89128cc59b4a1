//! Test support (feature `testkit`): a manual virtual-clock executor, fakes
//! for the ports, and world builders that read like stories.

mod executor;
mod fakes;
mod world;

pub use executor::{ManualClock, Stalled, TEST_EPOCH};
pub use fakes::{DialPlan, DialRecord, FailingCoderd, FakeDialer, RecordingEvents, SeqIds};
pub use world::{
    new_active_version, AgentScript, ProvisionerScript, TemplateBuilder, TemplateIds, World,
    TEST_INACTIVE_TIMEOUT,
};
