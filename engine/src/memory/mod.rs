//! In-memory implementations of the `Store` and `Coderd` ports, shared by the
//! engine's unit tests and the simulation's coderd host.

mod coderd;
mod index;
mod store;

pub use coderd::{
    JobAssignment, JobOutcome, MemCoderd, INSUFFICIENT_QUOTA_MESSAGE, MANUAL_UPDATE_MESSAGE,
    PREBUILDS_USER_ID,
};
pub use index::RowIndex;
pub use store::{MemStore, Query, Tables};
