//! coderd's chat API, where the chat runtime lives. The driver opens one
//! connection per turn: `BeginTurn`, then calls (several in flight run
//! concurrently, as parallel tool calls in one model message do), then
//! `EndTurn`.
//!
//! Each turn is an engine [`Turn`] of the chat's [`ChatRuntime`]: `begin`
//! builds the workspace context (traced as `turn_context`), tool calls go
//! through `call_tool` (the five lifecycle tools and `execute` /
//! `read_file`, with the turn's `OnChatUpdated`), and after each call the
//! mid-turn context pull runs as it would before the next model step. User
//! calls run coderd's own API handlers (`user_api`). A turn that loses its
//! driver still runs its calls to the end, as a server-side chat does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use chatsim_engine::chat::{ChatPorts, ChatRuntime, Turn};
use chatsim_engine::ports::Coderd;
use chatsim_engine::tools::ToolResponse;
use chatsim_engine::{Cancel, Ctx};
use futures::future::LocalBoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use uuid::Uuid;

use super::{user_api, witness, ChatHooks, CoderdCore, SimDialer, TraceEvents};
use crate::hosts::proto::{
    ChatRequest, ChatResponse, FrameReader, FrameWriter, CHAT_KEEPALIVE, CHAT_PORT,
};
use crate::hosts::within;
use crate::observe::trace::{ContextPhase, Event};
use crate::plan::Call;
use crate::transport::time::Interval;
use crate::transport::{HostResult, Listener, Net};

/// How long a new connection may take to begin its turn.
const BEGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The chat runtimes of this coderd process (per-chat state such as the
/// workspace lock lives here and dies with the process).
type Runtimes = Rc<RefCell<BTreeMap<Uuid, Rc<ChatRuntime>>>>;

pub(super) async fn serve<N: Net>(core: Rc<CoderdCore<N>>) -> HostResult {
    let listener = core.net.bind(CHAT_PORT).await?;
    let runtimes: Runtimes = Rc::default();
    loop {
        let stream = listener.accept().await?;
        core.net
            .spawn(session(core.clone(), runtimes.clone(), stream));
    }
}

/// The chat's runtime, created on its first turn.
fn runtime<N: Net>(
    core: &Rc<CoderdCore<N>>,
    runtimes: &Runtimes,
    chat_id: Uuid,
    chat: &str,
) -> Rc<ChatRuntime> {
    runtimes
        .borrow_mut()
        .entry(chat_id)
        .or_insert_with(|| {
            let coderd: Rc<dyn Coderd> = Rc::new(ChatHooks::new(core.clone(), chat));
            let ports = ChatPorts {
                store: core.store.clone(),
                coderd: Some(coderd),
                dialer: Some(Rc::new(SimDialer::new(
                    core.net.clone(),
                    core.store.clone(),
                    core.tracer.clone(),
                ))),
                clock: Rc::new(core.clock.clone()),
                ids: Rc::new(core.ids.clone()),
                events: Rc::new(TraceEvents::new(core.tracer.clone(), core.net.clone())),
            };
            let mut settings = core.chat_settings.clone();
            settings.allowed_template_ids =
                core.allowlists.get(&chat_id).cloned().unwrap_or_default();
            Rc::new(ChatRuntime::new(ports, settings, chat_id))
        })
        .clone()
}

type Running<'t> = FuturesUnordered<LocalBoxFuture<'t, (usize, ToolResponse)>>;

async fn session<N: Net>(core: Rc<CoderdCore<N>>, runtimes: Runtimes, stream: N::Stream) {
    let (r, w) = tokio::io::split(stream);
    let (mut reader, mut writer) = (FrameReader::new(r), FrameWriter::new(w));
    let (chat, turn_no) = match within(&core.net, BEGIN_TIMEOUT, reader.recv::<ChatRequest>()).await
    {
        Ok(Some(ChatRequest::BeginTurn { chat, turn })) => (chat, turn),
        _ => return,
    };
    let Some(&chat_id) = core.chat_names.get(&chat) else {
        let message = format!("chat {chat:?} not found");
        let _ = writer.send(&ChatResponse::Error { message }).await;
        return;
    };
    let runtime = runtime(&core, &runtimes, chat_id, &chat);
    let cancel = Cancel::new();
    let turn = match runtime.turn(Ctx::new(cancel.clone())) {
        Ok(turn) => turn,
        Err(err) => {
            let message = err.to_string();
            let _ = writer.send(&ChatResponse::Error { message }).await;
            return;
        }
    };
    core.turn_started(chat_id, turn_no, cancel);
    let context = turn.begin().await;
    core.emit(Event::TurnContext {
        chat: chat.clone(),
        turn: turn_no,
        phase: ContextPhase::Begin,
        prompt: context.system_prompt(),
    });
    if writer.send(&ChatResponse::TurnBegun).await.is_err() {
        core.turn_ended(chat_id, turn_no);
        turn.close();
        return;
    }
    let turn_ref = TurnRef {
        chat: &chat,
        turn_no,
        turn: &turn,
    };
    let mut running: Running<'_> = FuturesUnordered::new();
    let (mut ending, mut connected) = (false, true);
    let mut keepalive = core.net.interval(CHAT_KEEPALIVE);
    loop {
        if ending && running.is_empty() {
            if connected {
                let _ = writer.send(&ChatResponse::TurnEnded).await;
            }
            break;
        }
        tokio::select! {
            biased;
            Some((id, response)) = running.next(), if !running.is_empty() => {
                if running.is_empty() {
                    // The model's step is over (every call it sent in
                    // parallel has answered): the next one would start here.
                    before_model_step(&core, turn_ref).await;
                }
                let result = ChatResponse::Result {
                    id,
                    content: response.content,
                    is_error: response.is_error,
                };
                connected = connected && writer.send(&result).await.is_ok();
            }
            frame = reader.recv::<ChatRequest>(), if !ending => match frame {
                Ok(Some(ChatRequest::Call { id, call })) => {
                    running.push(Box::pin(run_call(&core, turn_ref, id, call)));
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
    drop(running);
    core.turn_ended(chat_id, turn_no);
    turn.close();
}

/// What a call needs of its turn.
#[derive(Clone, Copy)]
pub(super) struct TurnRef<'t> {
    pub chat: &'t str,
    pub turn_no: usize,
    pub turn: &'t Turn<'t>,
}

async fn run_call<N: Net>(
    core: &CoderdCore<N>,
    turn: TurnRef<'_>,
    id: usize,
    call: Call,
) -> (usize, ToolResponse) {
    let response = match call {
        Call::Tool { name, input } => {
            let input = resolve_refs(core, &input);
            turn.turn.call_tool(&name, &input).await
        }
        other => user_api::run(core, turn, other).await,
    };
    witness::record(core, turn.chat, turn.turn_no, id, &response.content);
    (id, response)
}

/// Before the next model step, a pull that `OnChatUpdated` marked happens,
/// once.
async fn before_model_step<N: Net>(core: &CoderdCore<N>, turn: TurnRef<'_>) {
    if let Some(context) = turn.turn.before_model_step().await {
        core.emit(Event::TurnContext {
            chat: turn.chat.to_string(),
            turn: turn.turn_no,
            phase: ContextPhase::MidTurn,
            prompt: context.system_prompt(),
        });
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
