//! Provisioner and cloud faults: the provisioner daemon crashes
//! (`provisioner_crash`), or the cloud provider fails the next apply with
//! an error text (`build_failure`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::draw::{pick, secs, DrawWorld};
use super::env::{now_then, Effect, FaultEnv};
use super::{misrouted, FaultFamily, Named, Ref};
use crate::control::{InfraCmd, ProviderFailure};
use crate::hosts::PROVISIONER;
use crate::plan::{Fault, FaultKind};

/// Provider errors the generator draws; the first merely mentions quota.
const PROVIDER_ERRORS: [&str; 2] = [
    "googleapi: Error 403: Quota 'CPUS' exceeded",
    "provider timed out creating the instance",
];

/// The provisioner and cloud family.
pub struct Cloud;

impl FaultFamily for Cloud {
    fn name(&self) -> &'static str {
        "cloud"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[FaultKind::ProvisionerCrash, FaultKind::BuildFailure]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        match fault {
            Fault::ProvisionerCrash { restart_after } => {
                let host = || PROVISIONER.to_string();
                let crash = InfraCmd::Crash(host());
                Ok(now_then(crash, *restart_after, InfraCmd::Bounce(host())))
            }
            Fault::BuildFailure { workspace, error } => {
                let workspace = match workspace {
                    None => None,
                    Some(name) => Some(env.workspace_id(name)?),
                };
                env.cloud.arm_failure(ProviderFailure {
                    workspace,
                    error: error.clone(),
                });
                Ok(vec![])
            }
            other => misrouted(self, other.kind()),
        }
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        match fault {
            Fault::ProvisionerCrash { .. } => vec![],
            Fault::BuildFailure { workspace, .. } => workspace
                .iter()
                .map(|w| Ref::name("workspace", Named::Workspace, w))
                .collect(),
            other => misrouted(self, other.kind()),
        }
    }

    fn draw(&self, kind: FaultKind, rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
        Some(match kind {
            FaultKind::ProvisionerCrash => Fault::ProvisionerCrash {
                restart_after: Some(secs(rng, 5, 60)),
            },
            FaultKind::BuildFailure => Fault::BuildFailure {
                workspace: rng.gen_bool(0.5).then(|| world.workspace.clone()),
                error: pick(rng, &PROVIDER_ERRORS).to_string(),
            },
            other => misrouted(self, other),
        })
    }
}
