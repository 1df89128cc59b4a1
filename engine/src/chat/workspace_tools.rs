//! chatsim-defined workspace tools that use the agent connection:
//! `execute` `{"command"}` → `{"output","exit_code"}` and `read_file`
//! `{"path"}` → `{"content"}`. A connection failure is returned as a text
//! error with the connection layer's text unchanged (spec 3 §3.1).

use std::future::Future;

use serde::Deserialize;

use super::workspace_context::{ConnHandle, WorkspaceContext};
use crate::ctx::Ctx;
use crate::gojson::Value;
use crate::ports::Clock;
use crate::tools::{decode_args, Property, ToolDefinition, ToolResponse};

/// Name of the command tool.
pub const EXECUTE: &str = "execute";
/// Name of the file tool.
pub const READ_FILE: &str = "read_file";

/// Text error for an `execute` call without a command (chatsim-defined).
pub const COMMAND_REQUIRED: &str = "command is required";
/// Text error for a `read_file` call without a path (chatsim-defined).
pub const PATH_REQUIRED: &str = "path is required";

/// The workspace tools' definitions, in a fixed order.
pub fn definitions() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: EXECUTE,
            description: "Run a shell command in the chat's workspace and return its combined output and exit code.",
            properties: vec![Property {
                name: "command",
                type_: "string",
                description: "The shell command to run.",
                required: true,
            }],
        },
        ToolDefinition {
            name: READ_FILE,
            description: "Read a file from the chat's workspace.",
            properties: vec![Property {
                name: "path",
                type_: "string",
                description: "Absolute path of the file to read.",
                required: true,
            }],
        },
    ]
}

/// Whether `name` is one of the workspace tools.
pub fn is_workspace_tool(name: &str) -> bool {
    name == EXECUTE || name == READ_FILE
}

#[derive(Deserialize)]
struct ExecuteArgs {
    #[serde(default)]
    command: String,
}

#[derive(Deserialize)]
struct ReadFileArgs {
    #[serde(default)]
    path: String,
}

/// Runs a workspace tool (the caller checked `is_workspace_tool`).
pub(crate) async fn call(
    workspace: &WorkspaceContext<'_>,
    ctx: &Ctx,
    clock: &dyn Clock,
    name: &str,
    input: &str,
) -> ToolResponse {
    let outcome = match name {
        EXECUTE => execute(workspace, ctx, clock, input).await,
        _ => read_file(workspace, ctx, clock, input).await,
    };
    outcome.unwrap_or_else(|response| response)
}

async fn execute(
    workspace: &WorkspaceContext<'_>,
    ctx: &Ctx,
    clock: &dyn Clock,
    input: &str,
) -> Result<ToolResponse, ToolResponse> {
    let args: ExecuteArgs = decode_args(input)?;
    if args.command.trim().is_empty() {
        return Err(ToolResponse::text_error(COMMAND_REQUIRED));
    }
    let conn = connect(workspace, ctx).await?;
    let output = finish(ctx, clock, conn.execute(&args.command)).await?;
    Ok(ToolResponse::json(&Value::Struct(vec![
        ("output", Value::from(output.output)),
        ("exit_code", Value::from(output.exit_code)),
    ])))
}

async fn read_file(
    workspace: &WorkspaceContext<'_>,
    ctx: &Ctx,
    clock: &dyn Clock,
    input: &str,
) -> Result<ToolResponse, ToolResponse> {
    let args: ReadFileArgs = decode_args(input)?;
    if args.path.trim().is_empty() {
        return Err(ToolResponse::text_error(PATH_REQUIRED));
    }
    let conn = connect(workspace, ctx).await?;
    let content = finish(ctx, clock, conn.read_file(&args.path)).await?;
    Ok(ToolResponse::json(&Value::Struct(vec![(
        "content",
        Value::from(content),
    )])))
}

/// The turn's connection; a failure is the layer's text, unchanged.
async fn connect(workspace: &WorkspaceContext<'_>, ctx: &Ctx) -> Result<ConnHandle, ToolResponse> {
    workspace
        .get_workspace_conn(ctx)
        .await
        .map_err(|err| ToolResponse::text_error(err.to_string()))
}

/// Runs an agent call under the turn's context; the context's or the
/// agent's error text becomes a text error.
async fn finish<T>(
    ctx: &Ctx,
    clock: &dyn Clock,
    call: impl Future<Output = Result<T, String>>,
) -> Result<T, ToolResponse> {
    ctx.race(clock, call)
        .await
        .map_err(|err| ToolResponse::text_error(err.to_string()))?
        .map_err(ToolResponse::text_error)
}
