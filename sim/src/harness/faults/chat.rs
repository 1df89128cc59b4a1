//! Chat faults: the model emits several calls in one message
//! (`parallel_tool_calls`), delivered to the driver's inbox as one parallel
//! turn; the user stops the chat mid-turn (`user_cancels_turn`), which
//! coderd's chat API turns into the turn's cancellation.

use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::draw::DrawWorld;
use super::env::{Effect, FaultEnv};
use super::{misrouted, FaultFamily, Named, Ref};
use crate::hosts::coderd::AdminAction;
use crate::plan::{Call, Fault, FaultKind, Turn};

/// The chat family.
pub struct Chat;

impl FaultFamily for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[FaultKind::ParallelToolCalls, FaultKind::UserCancelsTurn]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        match fault {
            Fault::ParallelToolCalls { chat, calls } => {
                env.inbox.push(Turn::new(chat, calls.clone()).parallel());
                Ok(vec![])
            }
            Fault::UserCancelsTurn { chat } => {
                env.admin(AdminAction::CancelTurn { chat: chat.clone() })
            }
            other => misrouted(self, other.kind()),
        }
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        match fault {
            Fault::ParallelToolCalls { chat, calls } => vec![
                Ref::name("chat", Named::Chat, chat),
                Ref::Calls {
                    field: "calls",
                    calls,
                },
            ],
            Fault::UserCancelsTurn { chat } => vec![Ref::name("chat", Named::Chat, chat)],
            other => misrouted(self, other.kind()),
        }
    }

    fn draw(&self, kind: FaultKind, _rng: &mut ChaCha8Rng, world: &DrawWorld) -> Option<Fault> {
        match kind {
            FaultKind::ParallelToolCalls => Some(Fault::ParallelToolCalls {
                chat: world.chat.clone(),
                calls: vec![
                    Call::tool("start_workspace", json!({})),
                    Call::tool("stop_workspace", json!({})),
                    Call::tool("execute", json!({ "command": "echo parallel" })),
                ],
            }),
            FaultKind::UserCancelsTurn => Some(Fault::UserCancelsTurn {
                chat: world.chat.clone(),
            }),
            other => misrouted(self, other),
        }
    }
}
