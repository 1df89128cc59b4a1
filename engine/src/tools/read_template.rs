//! `read_template` (stub: to be implemented).

use super::{Property, ToolDefinition, ToolEnv, ToolResponse};

pub const NAME: &str = "read_template";

pub fn definition() -> ToolDefinition {
    let _: Vec<Property> = Vec::new();
    ToolDefinition {
        name: NAME,
        description: "",
        properties: Vec::new(),
    }
}

pub async fn run(_env: &ToolEnv<'_>, _input: &str) -> ToolResponse {
    ToolResponse::text_error("not implemented")
}
