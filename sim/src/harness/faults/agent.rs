//! Agent faults: the agent process of one workspace slot is killed
//! (`agent_oom`), dies and is restarted (`agent_respawn`), stalls
//! (`agent_wedged`), boots from a broken image (`agent_never_connects`), or
//! is started by hand (`external_agent_started`).

use rand_chacha::ChaCha8Rng;

use super::draw::{secs, DrawWorld};
use super::env::{now_then, Effect, FaultEnv};
use super::{misrouted, FaultFamily, Ref};
use crate::control::InfraCmd;
use crate::plan::{Fault, FaultKind};

/// The agent family.
pub struct Agent;

impl FaultFamily for Agent {
    fn name(&self) -> &'static str {
        "agent"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[
            FaultKind::AgentOom,
            FaultKind::AgentRespawn,
            FaultKind::AgentWedged,
            FaultKind::AgentNeverConnects,
            FaultKind::ExternalAgentStarted,
        ]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        use Effect::{After, Now};
        let (workspace, agent) = target(self, fault);
        let slot = env.slot(workspace, agent)?;
        Ok(match fault {
            Fault::AgentOom { .. } => vec![Now(InfraCmd::CrashAgent { slot })],
            Fault::AgentRespawn { down_for, .. } => vec![
                Now(InfraCmd::CrashAgent { slot: slot.clone() }),
                After(down_for.0, InfraCmd::BounceAgent { slot }),
            ],
            Fault::AgentWedged { duration, .. } => {
                let wedge = |wedged| InfraCmd::WedgeAgent {
                    slot: slot.clone(),
                    wedged,
                };
                now_then(wedge(true), *duration, wedge(false))
            }
            Fault::AgentNeverConnects { .. } => vec![Now(InfraCmd::BreakNextAgentStart { slot })],
            Fault::ExternalAgentStarted { .. } => vec![Now(InfraCmd::BounceAgent { slot })],
            other => misrouted(self, other.kind()),
        })
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        let (workspace, agent) = target(self, fault);
        Ref::slot(workspace, agent).to_vec()
    }

    fn draw(&self, kind: FaultKind, rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
        let (workspace, agent) = (world.workspace.clone(), world.agent.clone());
        Some(match kind {
            FaultKind::AgentOom => Fault::AgentOom { workspace, agent },
            FaultKind::AgentRespawn => Fault::AgentRespawn {
                workspace,
                agent,
                down_for: secs(rng, 2, 20),
            },
            FaultKind::AgentWedged => Fault::AgentWedged {
                workspace,
                agent,
                duration: Some(secs(rng, 20, 120)),
            },
            FaultKind::AgentNeverConnects => Fault::AgentNeverConnects { workspace, agent },
            FaultKind::ExternalAgentStarted => {
                let (workspace, agent) = world.external.clone()?;
                Fault::ExternalAgentStarted { workspace, agent }
            }
            other => misrouted(self, other),
        })
    }
}

/// The workspace and agent an agent fault aims at.
fn target<'f>(family: &Agent, fault: &'f Fault) -> (&'f str, &'f str) {
    match fault {
        Fault::AgentOom { workspace, agent }
        | Fault::AgentRespawn {
            workspace, agent, ..
        }
        | Fault::AgentWedged {
            workspace, agent, ..
        }
        | Fault::AgentNeverConnects { workspace, agent }
        | Fault::ExternalAgentStarted { workspace, agent } => (workspace, agent),
        other => misrouted(family, other.kind()),
    }
}
