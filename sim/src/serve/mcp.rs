//! The MCP face of a served run (rmcp, stdio): `tools/list` gives the
//! engine's tool definitions exactly — names, descriptions, input schemas —
//! plus `wait`; `tools/call` hands each call to the simulation thread and
//! answers with its `ToolResponse` as `{content: [{type: "text", text}],
//! isError}`. rmcp runs each request in its own task; on the current-thread
//! runtime `chatsim serve` uses, tasks start in arrival order, and each
//! hands its request over before its first await, so the simulation sees
//! the requests in arrival order and plays them one at a time.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatsim_engine::chat::ChatRuntime;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use super::{Reply, Request, WAIT_TOOL};
use crate::plan::parse_duration;

/// The `wait` tool's description (what the model is told).
const WAIT_DESCRIPTION: &str = "Let virtual time pass in the simulated deployment: builds, agents \
and scheduled faults go on for `duration` while you wait. Use it to wait for a build or an agent \
instead of calling a tool in a loop.";

/// The MCP server: the tool list and the way to the simulation thread.
pub struct McpServer {
    requests: Mutex<Sender<Request>>,
    tools: Vec<Tool>,
}

impl McpServer {
    /// A server whose calls go to the simulation through `requests`.
    pub fn new(requests: Sender<Request>) -> McpServer {
        McpServer {
            requests: Mutex::new(requests),
            tools: tools(),
        }
    }

    /// Hands `request` to the simulation thread (before any await: see
    /// the module doc) and waits for its answer.
    async fn ask(
        &self,
        request: impl FnOnce(tokio::sync::oneshot::Sender<Reply>) -> Request,
    ) -> Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self
            .requests
            .lock()
            .map_err(|_| ())
            .and_then(|requests| requests.send(request(tx)).map_err(|_| ()));
        if sent.is_err() {
            return Reply::error("the simulated run has ended");
        }
        rx.await
            .unwrap_or_else(|_| Reply::error("the simulated run has ended"))
    }
}

/// Every tool the client sees: the engine's, in its order, then `wait`.
pub fn tools() -> Vec<Tool> {
    let mut tools: Vec<Tool> = ChatRuntime::tool_definitions()
        .into_iter()
        .map(|def| {
            Tool::new(
                def.name,
                def.description,
                schema(&def.input_schema().to_json()),
            )
        })
        .collect();
    let wait = serde_json::json!({
        "type": "object",
        "properties": {
            "duration": {
                "type": "string",
                "description": "How long to wait, e.g. \"90s\", \"5m\", \"1h30m\"."
            }
        },
        "required": ["duration"]
    });
    tools.push(Tool::new(
        WAIT_TOOL,
        WAIT_DESCRIPTION,
        schema(&wait.to_string()),
    ));
    tools
}

fn schema(json: &str) -> Arc<JsonObject> {
    match serde_json::from_str(json) {
        Ok(Value::Object(object)) => Arc::new(object),
        _ => unreachable!("every input schema is a JSON object: {json}"),
    }
}

/// A `CallToolResult` carrying `reply` as one text block.
fn result(reply: Reply) -> CallToolResult {
    let content = vec![ContentBlock::text(reply.text)];
    if reply.is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    }
}

/// Why `input` cannot be recorded in a scenario file (TOML has no null),
/// if it cannot.
fn unrecordable(input: &Value) -> Option<String> {
    match input {
        Value::Null => Some("null is not accepted in tool arguments".into()),
        Value::Array(items) => items.iter().find_map(unrecordable),
        Value::Object(fields) => fields.values().find_map(unrecordable),
        _ => None,
    }
}

/// The `wait` tool's duration, or why it is not one.
fn wait_duration(input: &Value) -> Result<Duration, String> {
    let text = input
        .get("duration")
        .and_then(Value::as_str)
        .ok_or("wait needs {\"duration\": \"90s\"}")?;
    parse_duration(text).map_err(|e| format!("wait: duration {text:?}: {e}"))
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> InitializeResult {
        let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("chatsim", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "A simulated Coder deployment in virtual time: call the workspace tools as in a real \
chat; `wait` lets virtual time pass. Faults fire on the scenario's schedule."
                .into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let input = Value::Object(request.arguments.unwrap_or_default());
        if let Some(why) = unrecordable(&input) {
            return Err(ErrorData::invalid_params(why, None));
        }
        if name == WAIT_TOOL {
            let reply = match wait_duration(&input) {
                Ok(duration) => self.ask(|reply| Request::Wait { duration, reply }).await,
                Err(why) => Reply::error(why),
            };
            return Ok(result(reply).into());
        }
        if !ChatRuntime::tool_names().any(|known| known == name) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {name:?}"),
                None,
            ));
        }
        let reply = self.ask(|reply| Request::Call { name, input, reply }).await;
        Ok(result(reply).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_engine_tools_exactly_then_wait() {
        let tools = tools();
        let defs = ChatRuntime::tool_definitions();
        assert_eq!(tools.len(), defs.len() + 1);
        for (tool, def) in tools.iter().zip(&defs) {
            assert_eq!(tool.name, def.name);
            assert_eq!(tool.description.as_deref(), Some(def.description));
            let want: Value = serde_json::from_str(&def.input_schema().to_json()).unwrap();
            assert_eq!(Value::Object((*tool.input_schema).clone()), want);
        }
        assert_eq!(tools.last().map(|t| t.name.as_ref()), Some(WAIT_TOOL));
    }

    #[test]
    fn refuses_what_a_scenario_file_cannot_hold() {
        assert!(unrecordable(&serde_json::json!({"a": [1, null]})).is_some());
        assert!(unrecordable(&serde_json::json!({"command": "make"})).is_none());
        assert_eq!(
            wait_duration(&serde_json::json!({"duration": "90s"})),
            Ok(Duration::from_secs(90))
        );
        assert!(wait_duration(&serde_json::json!({"duration": 90})).is_err());
    }
}
