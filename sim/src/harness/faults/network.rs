//! Network faults: a link between two hosts drops every message
//! (`partition`), holds them (`hold`), or is healed (`repair`).

use rand_chacha::ChaCha8Rng;

use super::draw::{pick, secs, DrawWorld};
use super::env::{now_then, Effect, FaultEnv};
use super::{misrouted, FaultFamily, Named, Ref};
use crate::control::InfraCmd;
use crate::hosts::{CODERD, DRIVER, PROVISIONER};
use crate::plan::{Fault, FaultKind};

/// The network family.
pub struct Network;

impl FaultFamily for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[FaultKind::Partition, FaultKind::Hold, FaultKind::Repair]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        let (a, b) = link(self, fault);
        let (a, b) = (env.host(a)?, env.host(b)?);
        let heal = InfraCmd::Heal(a.clone(), b.clone());
        Ok(match fault {
            Fault::Partition { duration, .. } => {
                now_then(InfraCmd::Partition(a, b), *duration, heal)
            }
            Fault::Hold { duration, .. } => now_then(InfraCmd::Hold(a, b), *duration, heal),
            Fault::Repair { .. } => vec![Effect::Now(InfraCmd::Repair(a, b))],
            other => misrouted(self, other.kind()),
        })
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        let (a, b) = link(self, fault);
        vec![
            Ref::name("a", Named::Host, a),
            Ref::name("b", Named::Host, b),
        ]
    }

    fn draw(&self, kind: FaultKind, rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
        let (coderd, agent) = (CODERD.to_string(), world.agent_host());
        Some(match kind {
            FaultKind::Partition => {
                let links = [
                    (coderd, agent, 10, 90),
                    (DRIVER.into(), CODERD.into(), 5, 40),
                ];
                let (a, b, shortest, longest) = pick(rng, &links);
                let duration = Some(secs(rng, shortest, longest));
                Fault::Partition { a, b, duration }
            }
            FaultKind::Hold => Fault::Hold {
                a: coderd,
                b: PROVISIONER.into(),
                duration: Some(secs(rng, 5, 30)),
            },
            FaultKind::Repair => Fault::Repair {
                a: coderd,
                b: agent,
            },
            other => misrouted(self, other),
        })
    }
}

/// The two hosts of a network fault.
fn link<'f>(family: &Network, fault: &'f Fault) -> (&'f str, &'f str) {
    match fault {
        Fault::Partition { a, b, .. } | Fault::Hold { a, b, .. } | Fault::Repair { a, b } => (a, b),
        other => misrouted(family, other.kind()),
    }
}
