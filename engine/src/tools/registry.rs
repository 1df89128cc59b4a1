//! The one list of workspace-lifecycle tools. Definitions, dispatch and the
//! chat runtime all read [`Tool`]: a new variant does not compile until its
//! name, definition and run are given below, and [`Tool::ALL`] is the order
//! the model sees the definitions in.

use super::{
    create_workspace, list_templates, read_template, start_workspace, stop_workspace,
    ToolDefinition, ToolEnv, ToolResponse,
};

/// A workspace-lifecycle tool: one variant per tool module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    /// `list_templates` (spec 1 §4.1).
    ListTemplates,
    /// `read_template` (spec 1 §5.1).
    ReadTemplate,
    /// `create_workspace` (spec 1 §3).
    CreateWorkspace,
    /// `start_workspace` (spec 2 §1).
    StartWorkspace,
    /// `stop_workspace` (spec 2 §3).
    StopWorkspace,
}

impl Tool {
    /// Every tool, in declaration order: the order of [`definitions`] and of
    /// the names in the unknown-tool error.
    pub const ALL: [Tool; 5] = [
        Tool::ListTemplates,
        Tool::ReadTemplate,
        Tool::CreateWorkspace,
        Tool::StartWorkspace,
        Tool::StopWorkspace,
    ];

    /// The name the model calls the tool by.
    pub fn name(self) -> &'static str {
        match self {
            Tool::ListTemplates => list_templates::NAME,
            Tool::ReadTemplate => read_template::NAME,
            Tool::CreateWorkspace => create_workspace::NAME,
            Tool::StartWorkspace => start_workspace::NAME,
            Tool::StopWorkspace => stop_workspace::NAME,
        }
    }

    /// The tool called `name`, if any.
    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|tool| tool.name() == name)
    }

    /// The tool's model-facing definition.
    pub fn definition(self) -> ToolDefinition {
        match self {
            Tool::ListTemplates => list_templates::definition(),
            Tool::ReadTemplate => read_template::definition(),
            Tool::CreateWorkspace => create_workspace::definition(),
            Tool::StartWorkspace => start_workspace::definition(),
            Tool::StopWorkspace => stop_workspace::definition(),
        }
    }

    /// Runs the tool with the model's raw JSON input.
    pub async fn run(self, env: &ToolEnv<'_>, input: &str) -> ToolResponse {
        match self {
            Tool::ListTemplates => list_templates::run(env, input).await,
            Tool::ReadTemplate => read_template::run(env, input).await,
            Tool::CreateWorkspace => create_workspace::run(env, input).await,
            Tool::StartWorkspace => start_workspace::run(env, input).await,
            Tool::StopWorkspace => stop_workspace::run(env, input).await,
        }
    }
}

// `ALL` lists each variant once, in declaration order (a variant's
// discriminant is its index). A variant added at the end but left out of
// `ALL` still compiles: add it to `ALL` with its `name` arm.
const _: () = {
    let mut i = 0;
    while i < Tool::ALL.len() {
        assert!(Tool::ALL[i] as usize == i);
        i += 1;
    }
};

/// Every tool's definition, in [`Tool::ALL`] order.
pub fn definitions() -> Vec<ToolDefinition> {
    Tool::ALL.into_iter().map(Tool::definition).collect()
}

/// Runs the named tool with the model's raw JSON input. An unknown tool name
/// is a text error naming the known tools.
pub async fn call(env: &ToolEnv<'_>, name: &str, input: &str) -> ToolResponse {
    match Tool::from_name(name) {
        Some(tool) => tool.run(env, input).await,
        None => unknown_tool(name, Tool::ALL.into_iter().map(Tool::name)),
    }
}

/// The text error for a tool name that is not among `known`, naming them
/// (chatsim-defined).
pub(crate) fn unknown_tool(
    name: &str,
    known: impl IntoIterator<Item = &'static str>,
) -> ToolResponse {
    let names: Vec<&str> = known.into_iter().collect();
    ToolResponse::text_error(format!(
        "unknown tool {name:?}; known tools: {}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::World;

    #[test]
    fn an_unknown_name_is_a_text_error_naming_the_five_tools() {
        let world = World::new();
        let env = world.env();
        assert_eq!(
            world.run(call(&env, "execute", "{}")),
            ToolResponse::text_error(
                "unknown tool \"execute\"; known tools: list_templates, read_template, create_workspace, start_workspace, stop_workspace"
            )
        );
    }

    #[test]
    fn names_round_trip_and_keep_the_definition_order() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_name(tool.name()), Some(tool));
            assert_eq!(tool.definition().name, tool.name());
        }
        assert_eq!(Tool::from_name("execute"), None);
        let names: Vec<&str> = definitions().iter().map(|d| d.name).collect();
        assert_eq!(
            names,
            [
                "list_templates",
                "read_template",
                "create_workspace",
                "start_workspace",
                "stop_workspace"
            ]
        );
    }
}
