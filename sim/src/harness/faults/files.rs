//! File faults: the user edits a file in the workspace
//! (`context_files_changed`), on the agent slot's disk.

use rand_chacha::ChaCha8Rng;

use super::draw::DrawWorld;
use super::env::{Effect, FaultEnv};
use super::{misrouted, FaultFamily, Ref};
use crate::control::InfraCmd;
use crate::plan::{Fault, FaultKind};

/// The files family.
pub struct Files;

impl FaultFamily for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[FaultKind::ContextFilesChanged]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        let Fault::ContextFilesChanged {
            workspace,
            agent,
            path,
            content,
        } = fault
        else {
            misrouted(self, fault.kind())
        };
        let slot = env.slot(workspace, agent)?;
        Ok(vec![Effect::Now(InfraCmd::WriteFile {
            slot,
            path: path.clone(),
            content: content.clone(),
        })])
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        let Fault::ContextFilesChanged {
            workspace, agent, ..
        } = fault
        else {
            misrouted(self, fault.kind())
        };
        Ref::slot(workspace, agent).to_vec()
    }

    fn draw(&self, kind: FaultKind, _rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
        match kind {
            FaultKind::ContextFilesChanged => Some(Fault::ContextFilesChanged {
                workspace: world.workspace.clone(),
                agent: world.agent.clone(),
                path: "AGENTS.md".into(),
                content: "Use `cargo nextest` now.\n".into(),
            }),
            other => misrouted(self, other),
        }
    }
}
