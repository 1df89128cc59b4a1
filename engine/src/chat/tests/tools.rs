//! The workspace tools and the turn's tool dispatcher.

use super::{connected, secs, Harness};
use crate::chat::{ChatRuntime, DIAL_TIMEOUT, NO_WORKSPACE};
use crate::ports::{AgentContext, ContextFile, ExecOutput};
use crate::testkit::DialPlan;
use crate::tools::{ToolResponse, INVALID_PARAMETERS_PREFIX};

fn call(h: &Harness, name: &str, input: &str) -> ToolResponse {
    let turn = h.turn();
    let response = h.world.run(turn.call_tool(name, input));
    turn.close();
    response
}

#[test]
fn execute_returns_output_and_exit_code_as_json() {
    let h = Harness::new();
    h.running();
    h.world.dialer.command(
        "make test",
        ExecOutput {
            output: "ok <all> & done\n".into(),
            exit_code: 2,
        },
    );
    assert_eq!(
        call(&h, "execute", r#"{"command":"make test"}"#),
        ToolResponse::text(r#"{"output":"ok \u003call\u003e \u0026 done\n","exit_code":2}"#)
    );
}

#[test]
fn read_file_returns_the_content_or_the_agents_error() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.context(
        agent.id,
        AgentContext {
            files: vec![ContextFile {
                path: "/etc/motd".into(),
                content: "hello".into(),
                truncated: false,
            }],
            skills: vec![],
        },
    );
    assert_eq!(
        call(&h, "read_file", r#"{"path":"/etc/motd"}"#),
        ToolResponse::text(r#"{"content":"hello"}"#)
    );
    assert_eq!(
        call(&h, "read_file", r#"{"path":"/nope"}"#),
        ToolResponse::text_error("open /nope: no such file or directory")
    );
}

#[test]
fn a_connection_failure_is_the_spec_text_unchanged() {
    let h = Harness::new();
    assert_eq!(
        call(&h, "execute", r#"{"command":"ls"}"#),
        ToolResponse::text_error(NO_WORKSPACE)
    );
    let (_, _, agent) = h.running();
    h.world.dialer.plan(agent.id, DialPlan::Hang);
    let start = h.world.now();
    assert_eq!(
        call(&h, "read_file", r#"{"path":"/x"}"#),
        ToolResponse::text_error(DIAL_TIMEOUT)
    );
    assert_eq!(h.elapsed(start), secs(30));
}

#[test]
fn missing_or_malformed_arguments_are_text_errors() {
    let h = Harness::new();
    h.world.dialer.default_plan(DialPlan::Forbidden);
    assert_eq!(
        call(&h, "execute", "{}"),
        ToolResponse::text_error("command is required")
    );
    assert_eq!(
        call(&h, "read_file", r#"{"path":"  "}"#),
        ToolResponse::text_error("path is required")
    );
    let bad = call(&h, "execute", "{not json");
    assert!(bad.is_error && bad.content.starts_with(INVALID_PARAMETERS_PREFIX));
}

#[test]
fn a_canceled_turn_stops_a_command_on_a_cached_connection() {
    let h = Harness::new();
    h.running();
    let turn = h.turn();
    connected(h.world.run(turn.get_workspace_conn()));
    h.world.cancel.cancel();
    assert_eq!(
        h.world
            .run(turn.call_tool("execute", r#"{"command":"ls"}"#)),
        ToolResponse::text_error("context canceled")
    );
}

#[test]
fn unknown_tools_list_every_known_tool() {
    let h = Harness::new();
    assert_eq!(
        call(&h, "rm_rf", "{}"),
        ToolResponse::text_error(
            "unknown tool \"rm_rf\"; known tools: list_templates, read_template, create_workspace, start_workspace, stop_workspace, execute, read_file"
        )
    );
}

#[test]
fn lifecycle_tools_are_dispatched_to_the_tools_module() {
    let h = Harness::new();
    let response = call(&h, "list_templates", "{}");
    assert!(!response.content.starts_with("unknown tool"));
}

#[test]
fn workspace_tool_definitions_have_required_string_arguments() {
    let definitions = ChatRuntime::tool_definitions();
    let execute = definitions
        .iter()
        .find(|d| d.name == "execute")
        .expect("execute");
    assert_eq!(
        execute.input_schema().to_json(),
        r#"{"type":"object","properties":{"command":{"type":"string","description":"The shell command to run."}},"required":["command"]}"#
    );
    let read_file = definitions
        .iter()
        .find(|d| d.name == "read_file")
        .expect("read_file");
    assert_eq!(
        read_file.input_schema().to_json(),
        r#"{"type":"object","properties":{"path":{"type":"string","description":"Absolute path of the file to read."}},"required":["path"]}"#
    );
}
