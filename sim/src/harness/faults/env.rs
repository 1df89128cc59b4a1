//! What a fault acts through: coderd (operator actions, the database), the
//! cloud, the driver's inbox — and the infrastructure commands it hands
//! back to the outer loop, now or after a delay.

use std::time::Duration;

use chatsim_engine::memory::Query;
use chatsim_engine::ports::StoreError;
use serde_json::Value;
use uuid::Uuid;

use crate::control::{Cloud, InfraCmd, SlotKey};
use crate::hosts::coderd::{AdminAction, CoderdCore};
use crate::hosts::driver::Inbox;
use crate::hosts::{CODERD, DRIVER, PROVISIONER};
use crate::plan::Dur;
use crate::transport::Net;

/// A command a fault wants applied, now or after a delay.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Pushed onto the control queue at once.
    Now(InfraCmd),
    /// Pushed onto the control queue after the delay.
    After(Duration, InfraCmd),
}

/// What a fault needs of coderd, whatever transport it runs on.
pub trait FaultCoderd {
    /// The ID of the live workspace `name` or `owner/name`.
    fn workspace_id(&self, reference: &str) -> Option<Uuid>;
    /// Runs an operator or dashboard action through coderd's handlers.
    fn admin(&self, action: &AdminAction) -> Result<Value, String>;
    /// Makes every later call of `query` fail with `error`.
    fn fail_query(&self, query: Query, error: StoreError);
}

impl<N: Net> FaultCoderd for CoderdCore<N> {
    fn workspace_id(&self, reference: &str) -> Option<Uuid> {
        self.find_workspace(reference).map(|w| w.id)
    }

    fn admin(&self, action: &AdminAction) -> Result<Value, String> {
        CoderdCore::admin(self, action)
    }

    fn fail_query(&self, query: Query, error: StoreError) {
        self.store.fail(query, error);
    }
}

/// What a fault acts through.
pub struct FaultEnv<'a> {
    /// coderd: operator and dashboard actions, the database.
    pub coderd: &'a dyn FaultCoderd,
    /// The cloud the provisioner provisions into.
    pub cloud: &'a Cloud,
    /// The chat driver's inbox (turns a user or the model injects).
    pub inbox: &'a Inbox,
}

impl FaultEnv<'_> {
    /// The ID of workspace `reference`, or why there is none.
    pub fn workspace_id(&self, reference: &str) -> Result<Uuid, String> {
        self.coderd
            .workspace_id(reference)
            .ok_or_else(|| format!("workspace {reference:?} not found"))
    }

    /// The agent slot of `agent` in workspace `workspace`.
    pub fn slot(&self, workspace: &str, agent: &str) -> Result<SlotKey, String> {
        Ok(SlotKey::new(self.workspace_id(workspace)?, agent))
    }

    /// A host reference (`coderd`, …, `agent:<workspace>/<agent>`) as a
    /// host name.
    pub fn host(&self, reference: &str) -> Result<String, String> {
        match reference {
            CODERD | PROVISIONER | DRIVER => Ok(reference.to_string()),
            other => {
                let target = other
                    .strip_prefix("agent:")
                    .ok_or_else(|| format!("unknown host {other:?}"))?;
                let (workspace, agent) = target.rsplit_once('/').ok_or_else(|| {
                    format!("agent host {other:?} is not agent:<workspace>/<agent>")
                })?;
                Ok(self.slot(workspace, agent)?.host_name())
            }
        }
    }

    /// Runs an operator or dashboard action; it hands back no command.
    pub fn admin(&self, action: AdminAction) -> Result<Vec<Effect>, String> {
        self.coderd.admin(&action).map(|_| vec![])
    }
}

/// `now` at once, then `later` after `duration` (if any).
pub fn now_then(now: InfraCmd, duration: Option<Dur>, later: InfraCmd) -> Vec<Effect> {
    let mut effects = vec![Effect::Now(now)];
    if let Some(d) = duration {
        effects.push(Effect::After(d.0, later));
    }
    effects
}
