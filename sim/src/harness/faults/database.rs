//! Database faults: coderd's database fails every call of one query for a
//! while (`db_query_fails`); every handler that runs it gets the error.

use chatsim_engine::memory::Query;
use chatsim_engine::ports::StoreError;
use rand_chacha::ChaCha8Rng;

use super::draw::{pick, secs, DrawWorld};
use super::env::{Effect, FaultEnv};
use super::{misrouted, FaultFamily, Ref};
use crate::control::InfraCmd;
use crate::plan::{DbQuery, Fault, FaultKind};

/// Queries the chat's tools run, which the generator fails.
const DRAWN_QUERIES: [Query; 4] = [
    Query::GetAuthorizationUserRoles,
    Query::GetTemplatesWithFilter,
    Query::GetWorkspaceAgentsInLatestBuildByWorkspaceId,
    Query::GetQuotaAllowanceForUser,
];

/// The database family.
pub struct Database;

impl FaultFamily for Database {
    fn name(&self) -> &'static str {
        "database"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[FaultKind::DbQueryFails]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        let Fault::DbQueryFails {
            query,
            error,
            duration,
        } = fault
        else {
            misrouted(self, fault.kind())
        };
        let query = query.query();
        env.coderd
            .fail_query(query, StoreError::Other(error.clone()));
        Ok(duration
            .iter()
            .map(|d| Effect::After(d.0, InfraCmd::RestoreQuery(query)))
            .collect())
    }

    /// A query is checked when the file is parsed: nothing else to refer to.
    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        match fault {
            Fault::DbQueryFails { .. } => vec![],
            other => misrouted(self, other.kind()),
        }
    }

    fn draw(&self, kind: FaultKind, rng: &mut ChaCha8Rng, _world: &DrawWorld) -> Option<Fault> {
        match kind {
            FaultKind::DbQueryFails => Some(Fault::DbQueryFails {
                query: DbQuery(pick(rng, &DRAWN_QUERIES)),
                error: "pq: canceling statement due to statement timeout".into(),
                duration: Some(secs(rng, 10, 60)),
            }),
            other => misrouted(self, other),
        }
    }
}
