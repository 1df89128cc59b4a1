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

/// A workspace tool: one that runs over the turn's agent connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkspaceTool {
    /// `execute`: `{"command"}` → `{"output","exit_code"}`.
    Execute,
    /// `read_file`: `{"path"}` → `{"content"}`.
    ReadFile,
}

impl WorkspaceTool {
    /// Every workspace tool, in declaration order: the order of their
    /// definitions.
    pub const ALL: [WorkspaceTool; 2] = [WorkspaceTool::Execute, WorkspaceTool::ReadFile];

    /// The name the model calls the tool by.
    pub fn name(self) -> &'static str {
        match self {
            WorkspaceTool::Execute => EXECUTE,
            WorkspaceTool::ReadFile => READ_FILE,
        }
    }

    /// The workspace tool called `name`, if any.
    pub fn from_name(name: &str) -> Option<WorkspaceTool> {
        WorkspaceTool::ALL
            .into_iter()
            .find(|tool| tool.name() == name)
    }

    /// The tool's model-facing definition.
    pub fn definition(self) -> ToolDefinition {
        match self {
            WorkspaceTool::Execute => ToolDefinition {
                name: EXECUTE,
                description: "Run a shell command in the chat's workspace and return its combined output and exit code.",
                properties: vec![Property {
                    name: "command",
                    type_: "string",
                    description: "The shell command to run.",
                    required: true,
                }],
            },
            WorkspaceTool::ReadFile => ToolDefinition {
                name: READ_FILE,
                description: "Read a file from the chat's workspace.",
                properties: vec![Property {
                    name: "path",
                    type_: "string",
                    description: "Absolute path of the file to read.",
                    required: true,
                }],
            },
        }
    }

    /// Runs the tool with the model's raw JSON input over the turn's
    /// connection.
    pub(crate) async fn run(
        self,
        workspace: &WorkspaceContext<'_>,
        ctx: &Ctx,
        clock: &dyn Clock,
        input: &str,
    ) -> ToolResponse {
        let outcome = match self {
            WorkspaceTool::Execute => execute(workspace, ctx, clock, input).await,
            WorkspaceTool::ReadFile => read_file(workspace, ctx, clock, input).await,
        };
        outcome.unwrap_or_else(|response| response)
    }
}

// `ALL` lists each variant once, in declaration order (see `tools::Tool`).
const _: () = {
    let mut i = 0;
    while i < WorkspaceTool::ALL.len() {
        assert!(WorkspaceTool::ALL[i] as usize == i);
        i += 1;
    }
};

/// The workspace tools' definitions, in [`WorkspaceTool::ALL`] order.
pub fn definitions() -> Vec<ToolDefinition> {
    WorkspaceTool::ALL
        .into_iter()
        .map(WorkspaceTool::definition)
        .collect()
}

/// Whether `name` is one of the workspace tools.
pub fn is_workspace_tool(name: &str) -> bool {
    WorkspaceTool::from_name(name).is_some()
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
