//! Every tool a turn accepts, read from the two registries in the order the
//! model sees them: the lifecycle tools ([`Tool::ALL`]) then the workspace
//! tools ([`WorkspaceTool::ALL`]). Definitions, dispatch and the
//! unknown-tool error all come from [`ChatTool::all`].

use super::workspace_tools::WorkspaceTool;
use crate::tools::{Tool, ToolDefinition};

/// A tool a turn accepts: a lifecycle tool (run with a `ToolEnv`) or a
/// workspace tool (run over the turn's agent connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChatTool {
    /// One of the five workspace-lifecycle tools.
    Lifecycle(Tool),
    /// `execute` or `read_file`.
    Workspace(WorkspaceTool),
}

impl ChatTool {
    /// Every tool a turn accepts, lifecycle tools first, each list in its
    /// own `ALL` order.
    pub fn all() -> impl Iterator<Item = ChatTool> {
        let lifecycle = Tool::ALL.into_iter().map(ChatTool::Lifecycle);
        lifecycle.chain(WorkspaceTool::ALL.into_iter().map(ChatTool::Workspace))
    }

    /// The tool called `name`, if a turn accepts it.
    pub fn from_name(name: &str) -> Option<ChatTool> {
        ChatTool::all().find(|tool| tool.name() == name)
    }

    /// The name the model calls the tool by.
    pub fn name(self) -> &'static str {
        match self {
            ChatTool::Lifecycle(tool) => tool.name(),
            ChatTool::Workspace(tool) => tool.name(),
        }
    }

    /// The tool's model-facing definition.
    pub fn definition(self) -> ToolDefinition {
        match self {
            ChatTool::Lifecycle(tool) => tool.definition(),
            ChatTool::Workspace(tool) => tool.definition(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: Vec<&str> = ChatTool::all().map(ChatTool::name).collect();
        assert_eq!(
            names,
            [
                "list_templates",
                "read_template",
                "create_workspace",
                "start_workspace",
                "stop_workspace",
                "execute",
                "read_file"
            ]
        );
        assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), names.len());
        for tool in ChatTool::all() {
            assert_eq!(ChatTool::from_name(tool.name()), Some(tool));
            assert_eq!(tool.definition().name, tool.name());
        }
        assert_eq!(ChatTool::from_name("rm_rf"), None);
    }
}
