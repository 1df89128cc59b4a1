//! Dashboard faults: the chat's owner acts on the workspace outside the
//! chat — restarts it (`user_restarts_workspace`: stop, wait, start, wait
//! through the user API, between the chat's turns), stops or starts it at
//! an instant whatever the chat's tools are doing (`user_stops_workspace`,
//! `user_starts_workspace`), or cancels its latest build
//! (`build_canceled`, coderd's cancel endpoint).

use rand_chacha::ChaCha8Rng;

use super::draw::DrawWorld;
use super::env::{Effect, FaultEnv};
use super::{misrouted, FaultFamily, Named, Ref};
use crate::hosts::coderd::AdminAction;
use crate::plan::{Call, Fault, FaultKind, Turn};

/// The dashboard family.
pub struct Dashboard;

impl FaultFamily for Dashboard {
    fn name(&self) -> &'static str {
        "dashboard"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[
            FaultKind::UserRestartsWorkspace,
            FaultKind::UserStopsWorkspace,
            FaultKind::UserStartsWorkspace,
            FaultKind::BuildCanceled,
        ]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        match fault {
            Fault::UserRestartsWorkspace { chat, workspace } => {
                env.workspace_id(workspace)?;
                env.inbox.push(Turn::new(chat, restart(workspace)));
                Ok(vec![])
            }
            Fault::UserStopsWorkspace { workspace } => env.admin(AdminAction::StopWorkspace {
                workspace: workspace.clone(),
            }),
            Fault::UserStartsWorkspace { workspace } => env.admin(AdminAction::StartWorkspace {
                workspace: workspace.clone(),
            }),
            Fault::BuildCanceled { workspace } => env.admin(AdminAction::CancelBuild {
                workspace: workspace.clone(),
            }),
            other => misrouted(self, other.kind()),
        }
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        match fault {
            Fault::UserRestartsWorkspace { chat, workspace } => vec![
                Ref::name("chat", Named::Chat, chat),
                Ref::name("workspace", Named::Workspace, workspace),
            ],
            Fault::UserStopsWorkspace { workspace }
            | Fault::UserStartsWorkspace { workspace }
            | Fault::BuildCanceled { workspace } => {
                vec![Ref::name("workspace", Named::Workspace, workspace)]
            }
            other => misrouted(self, other.kind()),
        }
    }

    fn draw(&self, kind: FaultKind, _rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
        let workspace = world.workspace.clone();
        Some(match kind {
            FaultKind::UserRestartsWorkspace => Fault::UserRestartsWorkspace {
                chat: world.chat.clone(),
                workspace,
            },
            FaultKind::UserStopsWorkspace => Fault::UserStopsWorkspace { workspace },
            FaultKind::UserStartsWorkspace => Fault::UserStartsWorkspace { workspace },
            FaultKind::BuildCanceled => Fault::BuildCanceled { workspace },
            other => misrouted(self, other),
        })
    }
}

/// The user's restart from the dashboard: stop, wait, start, wait.
fn restart(workspace: &str) -> Vec<Call> {
    let w = || workspace.to_string();
    vec![
        Call::StopWorkspace { workspace: w() },
        Call::WaitBuild { workspace: w() },
        Call::StartWorkspace {
            workspace: w(),
            parameters: Default::default(),
        },
        Call::WaitBuild { workspace: w() },
    ]
}
