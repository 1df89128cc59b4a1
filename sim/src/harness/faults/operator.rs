//! Operator faults, made through coderd's admin handlers: a user's quota
//! is cut (`quota_exhausted`), a template gains a new active version with
//! required parameters (`new_template_version`), or starts pin the active
//! version (`require_active_version`).

use rand_chacha::ChaCha8Rng;

use super::draw::DrawWorld;
use super::env::{Effect, FaultEnv};
use super::{misrouted, FaultFamily, Named, Ref};
use crate::hosts::coderd::AdminAction;
use crate::plan::{Fault, FaultKind};

/// The operator family.
pub struct Operator;

impl FaultFamily for Operator {
    fn name(&self) -> &'static str {
        "operator"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[
            FaultKind::QuotaExhausted,
            FaultKind::NewTemplateVersion,
            FaultKind::RequireActiveVersion,
        ]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        env.admin(match fault {
            Fault::QuotaExhausted { user, allowance } => AdminAction::SetQuota {
                user: user.clone(),
                allowance: *allowance,
            },
            Fault::NewTemplateVersion {
                template,
                required_parameters,
            } => AdminAction::NewTemplateVersion {
                template: template.clone(),
                required_parameters: required_parameters.clone(),
            },
            Fault::RequireActiveVersion { template, enabled } => {
                AdminAction::RequireActiveVersion {
                    template: template.clone(),
                    enabled: *enabled,
                }
            }
            other => misrouted(self, other.kind()),
        })
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        vec![match fault {
            Fault::QuotaExhausted { user, .. } => Ref::name("user", Named::User, user),
            Fault::NewTemplateVersion { template, .. }
            | Fault::RequireActiveVersion { template, .. } => {
                Ref::name("template", Named::Template, template)
            }
            other => misrouted(self, other.kind()),
        }]
    }

    fn draw(&self, kind: FaultKind, _rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
        let template = world.template.clone();
        Some(match kind {
            FaultKind::QuotaExhausted => Fault::QuotaExhausted {
                user: world.user.clone(),
                allowance: 0,
            },
            FaultKind::NewTemplateVersion => Fault::NewTemplateVersion {
                template,
                required_parameters: vec!["zone".into()],
            },
            FaultKind::RequireActiveVersion => Fault::RequireActiveVersion {
                template,
                enabled: true,
            },
            other => misrouted(self, other),
        })
    }
}
