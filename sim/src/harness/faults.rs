//! Applying faults: what each fault of the catalog ([`crate::plan::Fault`])
//! does to the world — through coderd, the cloud, the driver's inbox or an
//! infrastructure command for the outer loop.

use std::time::Duration;

use chatsim_engine::ports::StoreError;

use crate::control::{Cloud, InfraCmd, ProviderFailure, SlotKey};
use crate::hosts::coderd::{AdminAction, CoderdCore};
use crate::hosts::driver::Inbox;
use crate::hosts::{CODERD, DRIVER, PROVISIONER};
use crate::plan::{Call, Dur, Fault, Turn};
use crate::transport::Net;

/// A command a fault wants applied, now or after a delay.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Now(InfraCmd),
    After(Duration, InfraCmd),
}

/// What a fault acts through.
pub struct FaultEnv<'a, N: Net> {
    pub coderd: &'a CoderdCore<N>,
    pub cloud: &'a Cloud,
    pub inbox: &'a Inbox,
}

impl<N: Net> FaultEnv<'_, N> {
    fn slot(&self, workspace: &str, agent: &str) -> Result<SlotKey, String> {
        let ws = self
            .coderd
            .find_workspace(workspace)
            .ok_or_else(|| format!("workspace {workspace:?} not found"))?;
        Ok(SlotKey::new(ws.id, agent))
    }

    /// A host reference as a host name.
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

    fn admin(&self, action: AdminAction) -> Result<Vec<Effect>, String> {
        self.coderd.admin(&action).map(|_| vec![])
    }
}

/// Commands to cut a link now and heal it later.
fn link_fault(cut: InfraCmd, a: String, b: String, duration: Option<Dur>) -> Vec<Effect> {
    let mut effects = vec![Effect::Now(cut)];
    if let Some(d) = duration {
        effects.push(Effect::After(d.0, InfraCmd::Heal(a, b)));
    }
    effects
}

impl Fault {
    /// Applies the fault: acts through coderd, the cloud or the driver's
    /// inbox at once, and returns the infrastructure commands to run.
    /// `Err` = nothing to act on (the reason is traced).
    pub fn apply<N: Net>(&self, env: &FaultEnv<'_, N>) -> Result<Vec<Effect>, String> {
        use Effect::{After, Now};
        match self {
            Fault::AgentOom { workspace, agent } => {
                let slot = env.slot(workspace, agent)?;
                Ok(vec![Now(InfraCmd::CrashAgent { slot })])
            }
            Fault::AgentRespawn {
                workspace,
                agent,
                down_for,
            } => {
                let slot = env.slot(workspace, agent)?;
                Ok(vec![
                    Now(InfraCmd::CrashAgent { slot: slot.clone() }),
                    After(down_for.0, InfraCmd::BounceAgent { slot }),
                ])
            }
            Fault::AgentWedged {
                workspace,
                agent,
                duration,
            } => {
                let slot = env.slot(workspace, agent)?;
                let mut effects = vec![Now(InfraCmd::WedgeAgent {
                    slot: slot.clone(),
                    wedged: true,
                })];
                if let Some(d) = duration {
                    effects.push(After(
                        d.0,
                        InfraCmd::WedgeAgent {
                            slot,
                            wedged: false,
                        },
                    ));
                }
                Ok(effects)
            }
            Fault::AgentNeverConnects { workspace, agent } => {
                let slot = env.slot(workspace, agent)?;
                Ok(vec![Now(InfraCmd::BreakNextAgentStart { slot })])
            }
            Fault::ExternalAgentStarted { workspace, agent } => {
                let slot = env.slot(workspace, agent)?;
                Ok(vec![Now(InfraCmd::BounceAgent { slot })])
            }
            Fault::Partition { a, b, duration } => {
                let (a, b) = (env.host(a)?, env.host(b)?);
                let cut = InfraCmd::Partition(a.clone(), b.clone());
                Ok(link_fault(cut, a, b, *duration))
            }
            Fault::Hold { a, b, duration } => {
                let (a, b) = (env.host(a)?, env.host(b)?);
                let cut = InfraCmd::Hold(a.clone(), b.clone());
                Ok(link_fault(cut, a, b, *duration))
            }
            Fault::Repair { a, b } => Ok(vec![Now(InfraCmd::Repair(env.host(a)?, env.host(b)?))]),
            Fault::ProvisionerCrash { restart_after } => {
                let mut effects = vec![Now(InfraCmd::Crash(PROVISIONER.to_string()))];
                if let Some(d) = restart_after {
                    effects.push(After(d.0, InfraCmd::Bounce(PROVISIONER.to_string())));
                }
                Ok(effects)
            }
            Fault::BuildFailure { workspace, error } => {
                let workspace = match workspace {
                    None => None,
                    Some(name) => Some(
                        env.coderd
                            .find_workspace(name)
                            .ok_or_else(|| format!("workspace {name:?} not found"))?
                            .id,
                    ),
                };
                env.cloud.arm_failure(ProviderFailure {
                    workspace,
                    error: error.clone(),
                });
                Ok(vec![])
            }
            Fault::QuotaExhausted { user, allowance } => env.admin(AdminAction::SetQuota {
                user: user.clone(),
                allowance: *allowance,
            }),
            Fault::NewTemplateVersion {
                template,
                required_parameters,
            } => env.admin(AdminAction::NewTemplateVersion {
                template: template.clone(),
                required_parameters: required_parameters.clone(),
            }),
            Fault::RequireActiveVersion { template, enabled } => {
                env.admin(AdminAction::RequireActiveVersion {
                    template: template.clone(),
                    enabled: *enabled,
                })
            }
            Fault::ContextFilesChanged {
                workspace,
                agent,
                path,
                content,
            } => {
                let slot = env.slot(workspace, agent)?;
                Ok(vec![Now(InfraCmd::WriteFile {
                    slot,
                    path: path.clone(),
                    content: content.clone(),
                })])
            }
            Fault::ParallelToolCalls { chat, calls } => {
                env.inbox.push(Turn::new(chat, calls.clone()).parallel());
                Ok(vec![])
            }
            Fault::BuildCanceled { workspace } => env.admin(AdminAction::CancelBuild {
                workspace: workspace.clone(),
            }),
            Fault::DbQueryFails {
                query,
                error,
                duration,
            } => {
                let query = query.query();
                env.coderd
                    .store
                    .fail(query, StoreError::Other(error.clone()));
                Ok(duration
                    .iter()
                    .map(|d| After(d.0, InfraCmd::RestoreQuery(query)))
                    .collect())
            }
            Fault::UserRestartsWorkspace { chat, workspace } => {
                env.coderd
                    .find_workspace(workspace)
                    .ok_or_else(|| format!("workspace {workspace:?} not found"))?;
                let w = || workspace.clone();
                env.inbox.push(Turn::new(
                    chat,
                    vec![
                        Call::StopWorkspace { workspace: w() },
                        Call::WaitBuild { workspace: w() },
                        Call::StartWorkspace {
                            workspace: w(),
                            parameters: Default::default(),
                        },
                        Call::WaitBuild { workspace: w() },
                    ],
                ));
                Ok(vec![])
            }
        }
    }
}
