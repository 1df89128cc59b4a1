//! What a fault refers to: the names the scenario checker validates (that
//! the workspace, agent, host, user, template or chat exists) and the calls
//! it injects (checked like a turn's).

use crate::plan::Call;

/// What kind of thing a name names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    /// A workspace a turn creates (`name` or `owner/name`).
    Workspace,
    /// An agent of some template version.
    Agent,
    /// `coderd`, `provisioner`, `driver` or `agent:<workspace>/<agent>`.
    Host,
    /// A user of the world.
    User,
    /// A template of the world.
    Template,
    /// A chat of the world.
    Chat,
}

/// One reference of a fault, at one of its fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ref<'f> {
    /// The field holds a name that must exist.
    Name {
        /// The fault's field holding the name.
        field: &'static str,
        /// What kind of thing it names.
        named: Named,
        /// The name.
        name: &'f str,
    },
    /// The field holds calls the fault injects.
    Calls {
        /// The fault's field holding the calls.
        field: &'static str,
        /// The calls.
        calls: &'f [Call],
    },
}

impl<'f> Ref<'f> {
    /// `name` at `field` names a `named`.
    pub fn name(field: &'static str, named: Named, name: &'f str) -> Ref<'f> {
        Ref::Name { field, named, name }
    }

    /// The `workspace` and `agent` fields of a fault aimed at an agent slot.
    pub fn slot(workspace: &'f str, agent: &'f str) -> [Ref<'f>; 2] {
        [
            Ref::name("workspace", Named::Workspace, workspace),
            Ref::name("agent", Named::Agent, agent),
        ]
    }
}
