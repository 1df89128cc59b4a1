//! Chat faults: the model emits several calls in one message
//! (`parallel_tool_calls`), delivered to the driver's inbox as one parallel
//! turn.

use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::draw::DrawWorld;
use super::env::{Effect, FaultEnv};
use super::{misrouted, FaultFamily, Named, Ref};
use crate::plan::{Call, Fault, FaultKind, Turn};

/// The chat family.
pub struct Chat;

impl FaultFamily for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn kinds(&self) -> &'static [FaultKind] {
        &[FaultKind::ParallelToolCalls]
    }

    fn apply(&self, fault: &Fault, env: &FaultEnv<'_>) -> Result<Vec<Effect>, String> {
        let Fault::ParallelToolCalls { chat, calls } = fault else {
            misrouted(self, fault.kind())
        };
        env.inbox.push(Turn::new(chat, calls.clone()).parallel());
        Ok(vec![])
    }

    fn refs<'f>(&self, fault: &'f Fault) -> Vec<Ref<'f>> {
        let Fault::ParallelToolCalls { chat, calls } = fault else {
            misrouted(self, fault.kind())
        };
        vec![
            Ref::name("chat", Named::Chat, chat),
            Ref::Calls {
                field: "calls",
                calls,
            },
        ]
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
            other => misrouted(self, other),
        }
    }
}
