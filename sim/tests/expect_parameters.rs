//! `[expect.workspaces.NAME] parameters` / `[expect.chats.NAME] parameters`:
//! the latest build's parameter values, compared exactly.

use std::path::Path;

use chatsim::scenario::{parse, run_scenario};

/// A workspace built with `region` given and `size` from the default, then
/// the `expect` table `tail`.
fn story(tail: &str) -> chatsim::scenario::Report {
    let source = format!(
        r#"name = "params"
seed = 1

[world]
users = [{{ name = "alice" }}]
chats = [{{ name = "main", owner = "alice" }}]

[[world.templates]]
name = "dev"
[[world.templates.versions]]
name = "v1"
parameters = [{{ name = "region", default = "us" }}, {{ name = "size", default = "small" }}]

[[turns]]
chat = "main"
calls = [
  {{ call = "create_workspace", template = "dev", name = "ws1", parameters = {{ region = "eu" }} }},
  {{ call = "wait_build", workspace = "ws1" }},
  {{ call = "bind_chat", workspace = "ws1" }},
]

{tail}"#
    );
    let scenario = parse(Path::new("params.toml"), &source).expect("a sound scenario");
    run_scenario(&scenario)
}

#[test]
fn the_latest_builds_parameters_match() {
    let report = story(
        "[expect.workspaces.ws1]\nparameters = { region = \"eu\", size = \"small\" }\n\
         [expect.chats.main]\nparameters = { region = \"eu\", size = \"small\" }\n",
    );
    assert!(report.passed(), "{}", report.details());
}

#[test]
fn a_different_value_or_a_missing_name_fails_with_both_maps() {
    let report = story("[expect.workspaces.ws1]\nparameters = { region = \"us\" }\n");
    assert!(!report.passed());
    assert_eq!(report.failures.len(), 1, "{}", report.details());
    let failure = report.failures[0].to_string();
    assert!(
        failure.starts_with("expectation expect.workspaces.ws1.parameters failed"),
        "{failure}"
    );
    for part in [
        "the latest build's parameters",
        r#"{"region": "us"}"#,
        r#"{"region": "eu", "size": "small"}"#,
    ] {
        assert!(failure.contains(part), "{failure} lacks {part}");
    }
}
