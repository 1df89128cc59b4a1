//! The capabilities the second batch of stories added: two faults (a build
//! canceled from the dashboard, a database query failing) and four
//! expectation keys (`dialed`, `[expect.chats.*] bound_agent`, a
//! response's `took`, `[[expect.prompts]]`). Each is shown holding on a
//! small scenario and failing, with a message naming the field, when the
//! run does not match.

use std::path::Path;

use chatsim::scenario::{parse, run_scenario, Report, Scenario};
use chatsim::{Event, InfraAction};
use chatsim_engine::model::JobStatus;

/// A world with user alice, chat main and template dev (agent main, whose
/// AGENTS.md says "Be brief."); `tail` adds faults, turns and `[expect]`.
fn scenario(tail: &str) -> Scenario {
    let source = format!(
        r#"name = "capability"
seed = 3

[world]
users = [{{ name = "alice" }}]
chats = [{{ name = "main", owner = "alice" }}]

[[world.templates]]
name = "dev"
[[world.templates.versions]]
name = "v1"
agents = [{{ name = "main", behaviour = {{ files = {{ "AGENTS.md" = "Be brief." }} }} }}]

{tail}"#
    );
    parse(Path::new("capability.toml"), &source).unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("{}", lines.join("\n"))
    })
}

/// The load errors of a scenario, one line each.
fn load_errors(tail: &str) -> Vec<String> {
    let source = format!(
        "name = \"bad\"\nseed = 1\n[world]\nusers = [{{ name = \"alice\" }}]\nchats = [{{ name = \"main\", owner = \"alice\" }}]\n[[world.templates]]\nname = \"dev\"\n[[world.templates.versions]]\nname = \"v1\"\n{tail}"
    );
    match parse(Path::new("bad.toml"), &source) {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// Each failure's line and the values quoted below it.
fn failures(report: &Report) -> Vec<String> {
    report
        .failures
        .iter()
        .map(|f| format!("{f}\n{}", f.detail))
        .collect()
}

fn assert_passes(report: &Report) {
    assert!(report.passed(), "{}\n{}", report.line(), report.details());
}

/// The one failure of a report, which must mention every word.
fn assert_fails_with(report: &Report, words: &[&str]) {
    let all = failures(report);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert_eq!(all.len(), 1, "{all:#?}");
    for word in words {
        assert!(all[0].contains(word), "{:?} lacks {word:?}", all[0]);
    }
}

const CREATE_AND_BIND: &str = r#"
[[turns]]
chat = "main"
calls = [
  { call = "create_workspace", template = "dev", name = "ws1" },
  { call = "wait_build", workspace = "ws1" },
  { call = "bind_chat", workspace = "ws1" },
]
"#;

/// Job statuses of build `number` of ws1, in order.
fn job_statuses(report: &Report, number: i32) -> Vec<JobStatus> {
    let outcome = report.outcome.as_ref().expect("the run finished");
    outcome
        .trace
        .records()
        .iter()
        .filter_map(|r| match r.event {
            Event::Job {
                number: n, status, ..
            } if n == number => Some(status),
            _ => None,
        })
        .collect()
}

#[test]
fn a_running_build_canceled_reads_canceling_then_canceled_and_the_tool_says_so() {
    let tail = r#"
[[faults]]
at = "8s"
fault = "build_canceled"
workspace = "ws1"

[[turns]]
chat = "main"
calls = [{ call = "tool", name = "create_workspace", input = { template_id = "{{template:dev}}", name = "ws1" } }]

[[expect.responses]]
tool = "create_workspace"
is_error = false
contains = ['"error":"workspace build failed: build was canceled"']
"#;
    let report = run_scenario(&scenario(tail));
    assert_passes(&report);
    assert_eq!(
        job_statuses(&report, 1),
        [
            JobStatus::Pending,
            JobStatus::Running,
            JobStatus::Canceling,
            JobStatus::Canceled
        ]
    );
}

#[test]
fn a_pending_build_canceled_ends_at_once_and_an_ended_one_is_left_alone() {
    // The provisioner is down before the build is enqueued (an idle daemon
    // acquires a posted job at once), so the build is still pending at 3 s.
    let tail = format!(
        r#"
[[faults]]
at = "100ms"
fault = "provisioner_crash"
restart_after = "10s"

[[faults]]
at = "3s"
fault = "build_canceled"
workspace = "ws1"

[[faults]]
at = "4s"
fault = "build_canceled"
workspace = "ws1"
{CREATE_AND_BIND}"#
    );
    let report = run_scenario(&scenario(&tail));
    assert_passes(&report);
    assert_eq!(
        job_statuses(&report, 1),
        [JobStatus::Pending, JobStatus::Canceled]
    );
    let skipped: Vec<String> = report
        .outcome
        .as_ref()
        .unwrap()
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::FaultSkipped { name, reason } => Some(format!("{name}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].starts_with("build_canceled: build ")
            && skipped[0].ends_with("already ended (canceled)"),
        "{skipped:?}"
    );
}

#[test]
fn a_failing_query_fails_its_handlers_until_the_database_recovers() {
    let tail = r#"
[[faults]]
at = "1s"
fault = "db_query_fails"
query = "get_authorization_user_roles"
error = "pq: connection refused"
duration = "1m"

[[turns]]
at = "2s"
chat = "main"
calls = [{ call = "tool", name = "list_templates", input = {} }]

[[turns]]
at = "2m"
chat = "main"
calls = [{ call = "tool", name = "list_templates", input = {} }]

[[expect.responses]]
tool = "list_templates"
nth = 1
is_error = true
equals = "load user authorization: pq: connection refused"

[[expect.responses]]
tool = "list_templates"
nth = 2
is_error = false
contains = ['"name":"dev"']
"#;
    let report = run_scenario(&scenario(tail));
    assert_passes(&report);
    let restored: Vec<(f64, String)> = report
        .outcome
        .as_ref()
        .unwrap()
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            Event::Infra {
                action: InfraAction::RestoreQuery,
                target,
            } => Some((r.at.as_secs_f64(), target.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(restored, [(61.0, "GetAuthorizationUserRoles".to_string())]);
}

#[test]
fn a_query_failing_for_good_never_recovers() {
    let tail = r#"
[[faults]]
at = "1s"
fault = "db_query_fails"
query = "get_templates_with_filter"
error = "pq: relation \"templates\" does not exist"

[[turns]]
at = "5m"
chat = "main"
calls = [{ call = "tool", name = "list_templates", input = {} }]

[[expect.responses]]
tool = "list_templates"
is_error = true
equals = 'pq: relation "templates" does not exist'
"#;
    assert_passes(&run_scenario(&scenario(tail)));
}

#[test]
fn an_unknown_query_name_is_a_load_error_naming_the_fault() {
    let errors = load_errors(
        "[[faults]]\nat = \"1s\"\nfault = \"db_query_fails\"\nquery = \"get_user_roles\"\nerror = \"x\"\n",
    );
    assert!(!errors.is_empty());
    assert!(errors[0].starts_with("bad.toml:13:9: "), "{errors:?}");
    assert!(errors[0].contains("faults[0]"), "{errors:?}");
    assert!(errors[0].contains("get_user_roles"), "{errors:?}");
    assert!(
        errors[0].contains("get_authorization_user_roles"),
        "{errors:?}"
    );
}

#[test]
fn a_build_canceled_fault_must_name_a_known_workspace() {
    let errors =
        load_errors("[[faults]]\nat = \"1s\"\nfault = \"build_canceled\"\nworkspace = \"nope\"\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("faults[0].workspace: unknown workspace \"nope\""),
        "{errors:?}"
    );
}

/// The stale-binding story: a restart leaves the chat on build #1's agent;
/// the execute at 3 m is rebound to build #3's.
fn restart_story(expect: &str) -> Report {
    let tail = format!(
        r#"
[[faults]]
at = "60s"
fault = "user_restarts_workspace"
chat = "main"
workspace = "ws1"
{CREATE_AND_BIND}
[[turns]]
name = "later"
at = "3m"
chat = "main"
calls = [{{ call = "tool", name = "execute", input = {{ command = "echo hi" }} }}]

{expect}"#
    );
    run_scenario(&scenario(&tail))
}

#[test]
fn dialed_bound_agent_and_took_hold_on_the_run() {
    let report = restart_story(
        r#"[expect]
dialed = ["ws1#1/main", "ws1#3/main"]

[expect.chats.main]
bound_agent = "ws1#3/main"

# The turn's context pull (5 s, on the stale agent) runs before the model
# sends the call (TurnBegun); then the call's lazy validation waits 5 s on
# the stale agent before switching, and dials the new one.
[[expect.responses]]
tool = "execute"
took = { min = "5s", max = "7s" }
"#,
    );
    assert_passes(&report);
}

#[test]
fn a_wrong_dialed_list_fails_naming_what_was_dialed() {
    let report = restart_story("[expect]\ndialed = [\"ws1#3/main\"]\n");
    assert_fails_with(
        &report,
        &[
            "expectation expect.dialed failed",
            "the agents dialed",
            r#"["ws1#1/main", "ws1#3/main"]"#,
        ],
    );
}

#[test]
fn a_wrong_bound_agent_fails_naming_the_bound_one() {
    let report = restart_story("[expect.chats.main]\nbound_agent = \"ws1#1/main\"\n");
    assert_fails_with(
        &report,
        &[
            "expect.chats.main.bound_agent",
            "the chat's bound agent",
            "\"ws1#3/main\"",
        ],
    );
}

#[test]
fn a_call_outside_its_took_range_fails_with_its_duration() {
    let report = restart_story(
        "[[expect.responses]]\ntool = \"execute\"\ntook = { min = \"0s\", max = \"2s\" }\n",
    );
    assert_fails_with(
        &report,
        &[
            "expect.responses[0].took",
            "execute response 1 took",
            "expected 0s to 2s",
        ],
    );
}

#[test]
fn prompts_are_checked_by_turn_and_phase() {
    let tail = format!(
        r#"{CREATE_AND_BIND}
[[turns]]
name = "later"
at = "1m"
chat = "main"
calls = [{{ call = "tool", name = "execute", input = {{ command = "true" }} }}]

[[expect.prompts]]
turn = "later"
within = "2s"
equals = """
<workspace-context>
Operating System: linux
Working Directory: /home/coder

Source: /home/coder/AGENTS.md
Be brief.
</workspace-context>"""
"#
    );
    assert_passes(&run_scenario(&scenario(&tail)));
}

#[test]
fn a_prompt_that_differs_fails_quoting_it() {
    let tail = format!(
        r#"{CREATE_AND_BIND}
[[turns]]
name = "later"
at = "1m"
chat = "main"
calls = [{{ call = "tool", name = "execute", input = {{ command = "true" }} }}]

[[expect.prompts]]
turn = "later"
contains = ["Be verbose."]
"#
    );
    let report = run_scenario(&scenario(&tail));
    assert_fails_with(
        &report,
        &[
            "expect.prompts[0].contains",
            "the begin prompt of turn \"later\" lacks \"Be verbose.\"",
            "Be brief.",
        ],
    );
}

#[test]
fn a_missing_mid_turn_prompt_fails() {
    // The turn that creates nothing never pulls mid-turn.
    let tail = r#"
[[turns]]
name = "idle"
chat = "main"
calls = [{ call = "tool", name = "list_templates", input = {} }]

[[expect.prompts]]
turn = "idle"
phase = "mid_turn"
contains = ["Be brief."]
"#;
    let report = run_scenario(&scenario(tail));
    assert_fails_with(
        &report,
        &[
            "expect.prompts[0].phase",
            "turn \"idle\" pulled no workspace context mid-turn",
        ],
    );
}

#[test]
fn a_slow_prompt_fails_its_within() {
    // The agent is cut off when the turn begins: the pull takes its 5 s.
    let tail = format!(
        r#"
[[faults]]
at = "59s"
fault = "partition"
a = "coderd"
b = "agent:ws1/main"
duration = "20s"
{CREATE_AND_BIND}
[[turns]]
name = "later"
at = "1m"
chat = "main"
calls = [{{ call = "tool", name = "list_templates", input = {{}} }}]

[[expect.prompts]]
turn = "later"
within = "1s"
"#
    );
    let report = run_scenario(&scenario(&tail));
    assert_fails_with(
        &report,
        &[
            "expect.prompts[0].within",
            "after the turn began, expected within 1s",
        ],
    );
}

#[test]
fn new_keys_are_checked_where_they_are_written() {
    let tail = "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"create_workspace\", template = \"dev\", name = \"ws1\" }]\n";
    let errors = load_errors(&format!(
        "{tail}[expect.workspaces.ws1]\nbound_agent = \"ws1#1/main\"\n"
    ));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`bound_agent` is for [expect.chats.*]")),
        "{errors:?}"
    );
    let errors = load_errors("[[expect.prompts]]\nturn = \"nope\"\n");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("expect.prompts[0].turn: unknown turn \"nope\"")),
        "{errors:?}"
    );
    let errors = load_errors(
        "[[expect.responses]]\ntool = \"execute\"\ntook = { min = \"9s\", max = \"1s\" }\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("expect.responses[0].took.min: min (9s) is longer than max (1s)")),
        "{errors:?}"
    );
    let errors = load_errors("[[expect.prompts]]\nturn = \"x\"\nphase = \"end\"\n");
    assert!(
        errors.iter().any(|e| e.contains("unknown variant `end`")),
        "{errors:?}"
    );
}
