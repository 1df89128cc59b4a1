//! coderd's chat API: the driver opens one connection per turn, sends
//! `BeginTurn`, then calls (several in flight run concurrently, as parallel
//! tool calls in one model message do), then `EndTurn`. Tool calls run the
//! engine's tools inside coderd, where the chat runtime lives; user calls
//! run coderd's own API handlers (`user_api`).
//!
//! The per-turn state ([`TurnCtx`]) is where the chat runtime's per-turn
//! workspace context belongs; a turn that loses its driver still runs its
//! calls to the end, as a server-side chat does.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::model::Chat;
use chatsim_engine::tools::{self, ToolEnv, ToolResponse};
use chatsim_engine::{Cancel, Ctx};
use futures::future::LocalBoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use uuid::Uuid;

use super::{user_api, CoderdCore, SimDialer, TraceEvents};
use crate::config::Call;
use crate::hosts::within;
use crate::proto::{
    ChatRequest, ChatResponse, FrameReader, FrameWriter, CHAT_KEEPALIVE, CHAT_PORT,
};
use crate::trace::{opt_id, Event};
use crate::world::{HostResult, Listener, Net};

/// How long a new connection may take to begin its turn.
const BEGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// One turn of one chat, shared by the turn's calls.
pub struct TurnCtx {
    pub chat_id: Uuid,
    /// Fires when the user stops the chat (cancels every call of the turn).
    pub cancel: Cancel,
}

pub(super) async fn serve<N: Net>(core: Rc<CoderdCore<N>>) -> HostResult {
    let listener = core.net.bind(CHAT_PORT).await?;
    loop {
        let stream = listener.accept().await?;
        core.net.spawn(session(core.clone(), stream));
    }
}

type Running = FuturesUnordered<LocalBoxFuture<'static, (usize, ToolResponse)>>;

async fn session<N: Net>(core: Rc<CoderdCore<N>>, stream: N::Stream) {
    let (r, w) = tokio::io::split(stream);
    let (mut reader, mut writer) = (FrameReader::new(r), FrameWriter::new(w));
    let (chat, turn) = match within(BEGIN_TIMEOUT, reader.recv::<ChatRequest>()).await {
        Ok(Some(ChatRequest::BeginTurn { chat, turn })) => (chat, turn),
        _ => return,
    };
    let Some(&chat_id) = core.chat_names.get(&chat) else {
        let message = format!("chat {chat:?} not found");
        let _ = writer.send(&ChatResponse::Error { message }).await;
        return;
    };
    let _ = turn;
    let ctx = Rc::new(TurnCtx {
        chat_id,
        cancel: Cancel::new(),
    });
    let mut running: Running = FuturesUnordered::new();
    let (mut ending, mut connected) = (false, true);
    let mut keepalive = tokio::time::interval(CHAT_KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if ending && running.is_empty() {
            if connected {
                let _ = writer.send(&ChatResponse::TurnEnded).await;
            }
            return;
        }
        tokio::select! {
            biased;
            Some((id, response)) = running.next(), if !running.is_empty() => {
                let result = ChatResponse::Result {
                    id,
                    content: response.content,
                    is_error: response.is_error,
                };
                connected = connected && writer.send(&result).await.is_ok();
            }
            frame = reader.recv::<ChatRequest>(), if !ending => match frame {
                Ok(Some(ChatRequest::Call { id, call })) => {
                    running.push(Box::pin(run_call(core.clone(), ctx.clone(), id, call)));
                }
                Ok(Some(ChatRequest::EndTurn)) => ending = true,
                Ok(Some(ChatRequest::BeginTurn { .. })) => {}
                Ok(None) | Err(_) => {
                    ending = true;
                    connected = false;
                }
            },
            _ = keepalive.tick(), if connected => {
                connected = writer.send(&ChatResponse::KeepAlive).await.is_ok();
            }
        }
    }
}

async fn run_call<N: Net>(
    core: Rc<CoderdCore<N>>,
    ctx: Rc<TurnCtx>,
    id: usize,
    call: Call,
) -> (usize, ToolResponse) {
    let response = match call {
        Call::Tool { name, input } => run_tool(&core, &ctx, &name, &input).await,
        other => user_api::run(&core, &ctx, other).await,
    };
    (id, response)
}

/// Runs an engine tool for the chat with every port wired to coderd.
async fn run_tool<N: Net>(
    core: &Rc<CoderdCore<N>>,
    ctx: &TurnCtx,
    name: &str,
    input: &Value,
) -> ToolResponse {
    let chat = match core
        .store
        .tables()
        .chats
        .iter()
        .find(|c| c.id == ctx.chat_id)
    {
        Some(chat) => chat.clone(),
        None => return ToolResponse::text_error(format!("chat {} not found", ctx.chat_id)),
    };
    let input = resolve_refs(core, input);
    let lock = core.chat_lock(ctx.chat_id);
    let dialer = SimDialer::new(core.net.clone(), core.store.clone(), core.tracer.clone());
    let events = TraceEvents(core);
    let on_chat_updated = |c: &Chat| core.emit(chat_updated_event(c));
    let no_allowlist = BTreeSet::new();
    let env = ToolEnv {
        store: core.store.as_ref(),
        coderd: Some(core.as_ref()),
        dialer: Some(&dialer),
        clock: &core.clock,
        ids: &core.ids,
        events: &events,
        chat_id: chat.id,
        organization_id: chat.organization_id,
        owner_id: chat.owner_id,
        allowed_template_ids: Some(core.allowlists.get(&chat.id).unwrap_or(&no_allowlist)),
        agent_inactive_disconnect_timeout: core.settings.inactive_timeout,
        workspace_mu: Some(&lock),
        on_chat_updated: Some(&on_chat_updated),
        ctx: Ctx::new(ctx.cancel.clone()),
    };
    tools::call(&env, name, &input).await
}

/// The trace event of an `OnChatUpdated`.
pub fn chat_updated_event(chat: &Chat) -> Event {
    Event::ChatUpdated {
        chat: chat.id.to_string(),
        workspace: opt_id(chat.workspace_id),
        build: opt_id(chat.build_id),
        agent: opt_id(chat.agent_id),
    }
}

/// The model's input as JSON text, with `{{template:NAME}}`,
/// `{{version:TEMPLATE}}` and `{{preset:TEMPLATE/NAME}}` replaced by IDs
/// (the model read them from list_templates and read_template). `null`
/// input is `{}`.
pub fn resolve_refs<N: Net>(core: &CoderdCore<N>, input: &Value) -> String {
    fn walk<N: Net>(core: &CoderdCore<N>, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(resolve_ref(core, s).unwrap_or_else(|| s.clone())),
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(core, v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), walk(core, v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    match input {
        Value::Null => "{}".to_string(),
        other => walk(core, other).to_string(),
    }
}

fn resolve_ref<N: Net>(core: &CoderdCore<N>, text: &str) -> Option<String> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let (kind, name) = inner.split_once(':')?;
    let t = core.store.tables();
    let template = |name: &str| t.templates.iter().find(|tpl| tpl.name == name);
    let id = match kind {
        "template" => template(name)?.id,
        "version" => template(name)?.active_version_id,
        "preset" => {
            let (tpl, preset) = name.split_once('/')?;
            let version = template(tpl)?.active_version_id;
            t.presets
                .iter()
                .find(|p| p.template_version_id == version && p.name == preset)?
                .id
        }
        _ => return None,
    };
    Some(id.to_string())
}
