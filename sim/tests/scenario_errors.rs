//! A bad scenario file is an error that names FILE:LINE:COLUMN, the field
//! and a hint — never a panic.

use std::path::Path;

use chatsim::scenario::parse;

/// Lines 1–11: a sound world (user alice, chat main, template dev v1 with
/// agent main). Cases append from line 12.
const BASE: &str = r#"name = "bad"
seed = 1

[world]
users = [{ name = "alice" }]
chats = [{ name = "main", owner = "alice" }]

[[world.templates]]
name = "dev"
[[world.templates.versions]]
name = "v1"
"#;

/// The errors of `BASE` + `tail`, as `bad.toml:LINE:COL: message` lines.
fn errors(tail: &str) -> Vec<String> {
    let source = format!("{BASE}{tail}");
    match parse(Path::new("bad.toml"), &source) {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// Asserts the first error starts with `location` and mentions `words`.
fn assert_error(tail: &str, location: &str, words: &[&str]) {
    let errors = errors(tail);
    let first = errors
        .first()
        .unwrap_or_else(|| panic!("no error for {tail:?}"));
    assert!(
        first.starts_with(&format!("bad.toml:{location}: ")),
        "expected bad.toml:{location}, got {first}"
    );
    for word in words {
        assert!(first.contains(word), "{first:?} lacks {word:?}");
    }
}

#[test]
fn the_base_is_sound() {
    assert_eq!(errors(""), Vec::<String>::new());
}

#[test]
fn unknown_top_level_field_points_at_the_key_and_lists_the_fields() {
    let source = "name = \"bad\"\nseed = 1\nsead = 2\n[world]\nusers = []\nchats = []\n";
    let err = parse(Path::new("bad.toml"), source).unwrap_err();
    let text = err[0].to_string();
    assert!(
        text.starts_with("bad.toml:3:1: sead: unknown field `sead`"),
        "{text}"
    );
    assert!(
        text.contains("expected one of `format`, `name`, `description`, `seed`"),
        "{text}"
    );
}

#[test]
fn unknown_field_inside_a_fault_points_at_that_key() {
    let tail = "[[faults]]\nat = \"1m\"\nfault = \"agent_oom\"\nworkspace = \"ws1\"\nagent = \"main\"\nseverity = 3\n";
    assert_error(
        tail,
        "17:1",
        &[
            "faults[0].severity",
            "unknown field `severity`",
            "`workspace` or `agent`",
        ],
    );
}

#[test]
fn unknown_field_inside_an_inline_call_points_at_that_key() {
    let tail = "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"tool\", name = \"execute\", args = {} }]\n";
    assert_error(
        tail,
        "14:45",
        &["turns[0].calls[0].args", "expected `name` or `input`"],
    );
}

#[test]
fn bad_duration_points_at_the_value_with_examples() {
    assert_error(
        "[settings]\ntick = \"5 minutes\"\n",
        "13:8",
        &[
            "settings.tick",
            "invalid duration \"5 minutes\"",
            "\"90s\", \"12m\", \"1h30m\"",
        ],
    );
    assert_error(
        "[[faults]]\nat = \"90\"\nfault = \"provisioner_crash\"\n",
        "13:6",
        &["faults[0].at", "missing or unknown unit"],
    );
}

#[test]
fn unknown_fault_kind_points_at_the_kind_and_lists_the_catalog() {
    let tail =
        "[[faults]]\nat = \"1m\"\nfault = \"agent_ooom\"\nworkspace = \"ws1\"\nagent = \"main\"\n";
    assert_error(
        tail,
        "14:9",
        &[
            "faults[0].fault",
            "unknown variant `agent_ooom`",
            "`agent_oom`, `agent_respawn`",
        ],
    );
}

#[test]
fn unknown_call_kind_points_at_the_kind_and_lists_the_kinds() {
    let tail = "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"run\", command = \"ls\" }]\n";
    assert_error(
        tail,
        "14:19",
        &[
            "turns[0].calls[0].call",
            "expected one of `tool`, `create_workspace`",
        ],
    );
}

#[test]
fn unknown_template_reference_points_at_the_name_and_lists_the_templates() {
    let tail = "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"create_workspace\", template = \"python\", name = \"ws1\" }]\n";
    assert_error(
        tail,
        "14:50",
        &[
            "turns[0].calls[0].template",
            "unknown template \"python\"",
            "known templates: dev",
        ],
    );
    let placeholder = "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"tool\", name = \"create_workspace\", input = { template_id = \"{{template:python}}\" } }]\n";
    assert_error(
        placeholder,
        "14:78",
        &[
            "turns[0].calls[0].input.template_id",
            "unknown template \"python\"",
        ],
    );
    let goal = "[[turns]]\nchat = \"main\"\nmodel = \"reference\"\ngoal = { kind = \"create_workspace\", template = \"python\" }\n";
    assert_error(
        goal,
        "15:48",
        &["turns[0].goal.template", "known templates: dev"],
    );
}

#[test]
fn wrong_type_points_at_the_value() {
    assert_error(
        "[[turns]]\nchat = 7\n",
        "13:8",
        &[
            "turns[0].chat",
            "invalid type: integer `7`, expected a string",
        ],
    );
    let source = "name = \"bad\"\nseed = \"one\"\n[world]\nusers = []\nchats = []\n";
    let text = parse(Path::new("bad.toml"), source).unwrap_err()[0].to_string();
    assert_eq!(
        text,
        "bad.toml:2:8: seed: invalid value: string \"one\", expected a seed: a whole number from 0 to 18446744073709551615 (above 9223372036854775807 write it as a string, e.g. \"18446744073709551615\")"
    );
}

#[test]
fn missing_required_field_points_at_its_table() {
    assert_error(
        "[[turns]]\ncalls = []\n",
        "12:1",
        &["turns[0]: missing field `chat`"],
    );
    let source = "name = \"bad\"\n[world]\nusers = []\nchats = []\n";
    let text = parse(Path::new("bad.toml"), source).unwrap_err()[0].to_string();
    assert_eq!(text, "bad.toml:1:1: missing field `seed`");
}

#[test]
fn the_format_version_is_optional_and_only_format_1_is_read() {
    // Absent (the base) or 1: read as format 1.
    let one = parse(Path::new("bad.toml"), &format!("format = 1\n{BASE}")).expect("format 1");
    assert_eq!(one.file.format, Some(1));
    assert_eq!(
        parse(Path::new("bad.toml"), BASE)
            .expect("no format")
            .file
            .format,
        None
    );
    // Another version: one error at the value, naming the supported one —
    // before any field of the newer format could be reported unknown.
    for tail in ["", "shiny_new_table = { a = 1 }\n"] {
        let source = format!("format = 2\n{BASE}{tail}");
        let errors = parse(Path::new("bad.toml"), &source).unwrap_err();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            ["bad.toml:1:10: format: unsupported scenario format 2; this chatsim reads format 1"]
        );
    }
    // Not a number: a type error like any other field's.
    let text = parse(Path::new("bad.toml"), &format!("format = \"1\"\n{BASE}")).unwrap_err()[0]
        .to_string();
    assert!(
        text.starts_with("bad.toml:1:10: format: invalid type: string \"1\""),
        "{text}"
    );
}

#[test]
fn bad_toml_syntax_points_at_the_character() {
    let source = "name = \"bad\"\nseed = 1\n[world\nusers = []\n";
    let text = parse(Path::new("bad.toml"), source).unwrap_err()[0].to_string();
    assert_eq!(
        text,
        "bad.toml:3:7: invalid table header; expected `.`, `]`"
    );
    let unterminated = "name = \"bad\nseed = 1\n";
    let text = parse(Path::new("bad.toml"), unterminated).unwrap_err()[0].to_string();
    assert!(text.starts_with("bad.toml:1:"), "{text}");
}

#[test]
fn unknown_tool_points_at_the_name_and_lists_the_tools() {
    let tail =
        "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"tool\", name = \"run_command\" }]\n";
    assert_error(tail, "14:34", &["turns[0].calls[0].name", "unknown tool \"run_command\"", "known tools: list_templates, read_template, create_workspace, start_workspace, stop_workspace, execute, read_file"]);
    assert_error(
        "[expect]\ntool_order = [\"list_templates\", \"exec\"]\n",
        "13:33",
        &["expect.tool_order[1]", "unknown tool \"exec\""],
    );
}

#[test]
fn duplicate_names_point_at_the_second_one() {
    let tail =
        "[[turns]]\nname = \"go\"\nchat = \"main\"\n[[turns]]\nname = \"go\"\nchat = \"main\"\n";
    assert_error(
        tail,
        "16:8",
        &["turns[1].name", "duplicate turn name \"go\""],
    );
    let chats = "name = \"bad\"\nseed = 1\n[world]\nusers = [{ name = \"alice\" }]\nchats = [{ name = \"main\", owner = \"alice\" }, { name = \"main\", owner = \"alice\" }]\n";
    let text = parse(Path::new("bad.toml"), chats).unwrap_err()[0].to_string();
    assert_eq!(
        text,
        "bad.toml:5:55: world.chats[1].name: duplicate chat name \"main\": names must be unique"
    );
}

#[test]
fn a_fault_after_max_duration_points_at_its_time() {
    let tail = "[settings]\nmax_duration = \"10m\"\n[[faults]]\nat = \"15m\"\nfault = \"provisioner_crash\"\n";
    assert_error(
        tail,
        "15:6",
        &["faults[0].at", "after settings.max_duration (10m)"],
    );
}

#[test]
fn unknown_names_in_faults_turns_and_expectations_point_at_them() {
    let ws =
        "[[faults]]\nat = \"1m\"\nfault = \"agent_oom\"\nworkspace = \"ws9\"\nagent = \"main\"\n";
    assert_error(
        ws,
        "15:13",
        &[
            "faults[0].workspace",
            "unknown workspace \"ws9\"",
            "a workspace is known once a turn creates it",
        ],
    );
    let agent = "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"create_workspace\", template = \"dev\", name = \"ws1\" }]\n[[faults]]\nat = \"1m\"\nfault = \"agent_oom\"\nworkspace = \"ws1\"\nagent = \"mian\"\n";
    assert_error(
        agent,
        "19:9",
        &[
            "faults[0].agent",
            "unknown agent \"mian\"; known agents: main",
        ],
    );
    assert_error(
        "[[turns]]\nchat = \"mian\"\n",
        "13:8",
        &["turns[0].chat", "unknown chat \"mian\"; known chats: main"],
    );
    assert_error(
        "[expect.workspaces.ws1]\nstatus = \"failed\"\n",
        "12:20",
        &[
            "expect.workspaces.ws1",
            "unknown workspace \"ws1\"",
            "[expect.chats.NAME]",
        ],
    );
    assert_error(
        "[[expect.turns]]\nturn = \"later\"\n",
        "13:8",
        &["expect.turns[0].turn", "unknown turn \"later\""],
    );
    assert_error(
        "[expect.tool_calls]\nexecut = 1\n",
        "13:1",
        &[
            "expect.tool_calls.execut",
            "unknown tool or call \"execut\"",
            "api.wait_build",
        ],
    );
}

#[test]
fn model_and_scripted_turns_do_not_mix() {
    assert_error(
        "[[turns]]\nchat = \"main\"\nmodel = \"reference\"\n",
        "14:1",
        &["turns[0].model", "needs a `goal`"],
    );
    let both = "[[turns]]\nchat = \"main\"\nmodel = \"reference\"\ngoal = { kind = \"start_workspace\" }\ncalls = [{ call = \"tool\", name = \"start_workspace\" }]\n";
    assert_error(
        both,
        "16:9",
        &["turns[0].calls", "a model turn has no scripted calls"],
    );
    let stray = "[[turns]]\nchat = \"main\"\ncall_cap = 3\n";
    assert_error(
        stray,
        "14:1",
        &["turns[0].call_cap", "belongs to a model turn"],
    );
    assert_error(
        "[[turns]]\nchat = \"main\"\nmodel = \"gpt\"\n",
        "14:9",
        &[
            "turns[0].model",
            "unknown variant `gpt`, expected one of `reference`, `impatient_retrier`",
        ],
    );
}

#[test]
fn every_error_of_a_file_is_reported_in_file_order() {
    let tail =
        "[[turns]]\nchat = \"mian\"\n[[faults]]\nat = \"3h\"\nfault = \"provisioner_crash\"\n";
    let errors = errors(tail);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("bad.toml:13:8: turns[0].chat"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("bad.toml:15:6: faults[0].at"),
        "{}",
        errors[1]
    );
}

#[test]
fn no_prefix_of_any_scenario_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for file in chatsim::scenario::discover(&[dir]).expect("scenarios/ lists") {
        let source = std::fs::read_to_string(&file).expect("readable");
        let mut cut = 0;
        while cut < source.len() {
            if source.is_char_boundary(cut) {
                let _ = parse(&file, &source[..cut]);
            }
            cut += 7;
        }
    }
}

#[test]
fn a_tick_over_a_minute_or_over_max_duration_is_refused() {
    assert_error(
        "[settings]\ntick = \"999999999h\"\n",
        "13:8",
        &["settings.tick", "tick (999999999h) must be at most 1m"],
    );
    assert_error(
        "[settings]\ntick = \"30s\"\nmax_duration = \"10s\"\n",
        "13:8",
        &["settings.tick", "at most max_duration (10s)"],
    );
}

#[test]
fn a_link_fault_between_a_host_and_itself_is_refused() {
    for kind in ["partition", "hold", "repair"] {
        let tail = format!(
            "[[faults]]\nat = \"1m\"\nfault = \"{kind}\"\na = \"coderd\"\nb = \"coderd\"\n"
        );
        assert_error(
            &tail,
            "16:5",
            &["faults[0].b", "`a` and `b` are both \"coderd\""],
        );
    }
}

#[test]
fn an_unterminated_placeholder_is_refused() {
    let tail = "[[turns]]\nchat = \"main\"\ncalls = [{ call = \"tool\", name = \"read_template\", input = { template_id = \"{{template:dev\" } }]\n";
    assert_error(
        tail,
        "14:75",
        &[
            "turns[0].calls[0].input.template_id",
            "unterminated or embedded placeholder \"{{template:dev\"",
        ],
    );
}

#[test]
fn a_seed_is_any_u64_an_integer_or_a_string() {
    let world = "[world]\nusers = []\nchats = []\n";
    for (seed, want) in [("7", 7), ("\"18446744073709551615\"", u64::MAX)] {
        let source = format!("name = \"s\"\nseed = {seed}\n{world}");
        let scenario = parse(Path::new("s.toml"), &source).expect("loads");
        assert_eq!(scenario.seed(), want);
    }
    for seed in [
        "-1",
        "\"18446744073709551616\"",
        "1.5",
        "18446744073709551615",
    ] {
        let source = format!("name = \"s\"\nseed = {seed}\n{world}");
        let text = parse(Path::new("s.toml"), &source).unwrap_err()[0].to_string();
        assert!(text.starts_with("s.toml:2:8: "), "{text}");
        assert!(
            text.contains("18446744073709551615") && text.contains("9223372036854775807"),
            "{seed}: {text}"
        );
    }
}

#[test]
fn a_type_error_inside_a_fault_names_the_field() {
    assert_error(
        "[[faults]]\nat = 5\nfault = \"provisioner_crash\"\n",
        "13:6",
        &["faults[0].at: invalid type: integer `5`, expected a string"],
    );
    assert_error(
        "[[faults]]\nat = \"1m\"\nfault = \"provisioner_crash\"\nrestart_after = true\n",
        "15:17",
        &["faults[0].restart_after: invalid type: boolean `true`"],
    );
}

#[test]
fn messages_name_no_rust_types() {
    let cases = [
        (
            "[[turns]]\nchat = \"main\"\ncall_cap = \"x\"\n",
            "expected a whole number (0 or more)",
        ),
        (
            "[settings]\nplan_duration = \"3s\"\n",
            "expected a duration range {min, max}",
        ),
        (
            "[[turns]]\nchat = \"main\"\nmodel = \"reference\"\ngoal = 3\n",
            "expected a table with `kind`",
        ),
        (
            "[[turns]]\nchat = \"main\"\ncalls = [3]\n",
            "expected a table with `call`",
        ),
        ("[expect]\nresponses = 3\n", "expected an array"),
    ];
    for (tail, words) in cases {
        let errors = errors(tail);
        let first = errors.first().expect("an error");
        assert!(first.contains(words), "{first} lacks {words}");
        for rust in ["usize", "u64", "DurRange", "enum", "struct", "sequence"] {
            assert!(!first.contains(rust), "{first} names {rust}");
        }
    }
}

#[test]
fn a_long_bad_value_is_echoed_cut() {
    let huge = "m".repeat(1 << 20);
    for tail in [
        format!("[[turns]]\nchat = \"{huge}\"\n"),
        format!("[settings]\ntick = \"{huge}\"\n"),
        format!("[[turns]]\nchat = \"main\"\nmodel = \"{huge}\"\n"),
    ] {
        let errors = errors(&tail);
        let first = errors.first().expect("an error");
        assert!(first.starts_with("bad.toml:1"), "{first:.300}");
        assert!(first.len() < 500, "{} bytes: {first:.300}", first.len());
        assert!(first.contains("m…"), "{first}");
    }
}

#[test]
fn invalid_utf8_nul_bytes_and_empty_files_are_located() {
    use chatsim::scenario::parse_bytes;
    let text = |bytes: &[u8]| parse_bytes(Path::new("b.toml"), bytes).unwrap_err()[0].to_string();
    assert_eq!(
        text(b"name = \"x\"\nseed = 1 # \xff\n"),
        "b.toml:2:12: invalid UTF-8: a scenario file is UTF-8 text"
    );
    assert_eq!(
        text(b"name = \"x\"\nseed = \"a\0\"\n"),
        "b.toml:2:10: NUL byte: a scenario file is text"
    );
    assert!(text(b"").starts_with("b.toml:1:1: empty file"));
    assert!(text(b" \n\n").starts_with("b.toml:1:1: empty file"));
}

#[test]
fn no_turns_or_no_expectations_warn_but_load() {
    let scenario = parse(Path::new("bad.toml"), BASE).expect("loads");
    let warnings: Vec<String> = scenario.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "bad.toml:1:1: warning: no turns: the run plays only the faults",
            "bad.toml:1:1: warning: no expectations ([expect]): only the invariants are checked",
        ]
    );
    let full = format!("{BASE}[[turns]]\nchat = \"main\"\n[expect]\nworkspace_count = 0\n");
    assert!(parse(Path::new("ok.toml"), &full)
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn an_expectation_failure_names_its_line_and_shows_values_unescaped() {
    let tail = r#"[[turns]]
chat = "main"
calls = [
  { call = "tool", name = "list_templates", input = {} },
  { call = "tool", name = "create_workspace", input = { template_id = "{{template:dev}}", name = "ws1" } },
]

[expect]
tool_order = ["list_templates", "read_template", "create_workspace", "list_templates", "read_template", "create_workspace", "execute", "execute"]

[[expect.responses]]
tool = "create_workspace"
contains = ['"created":false']
"#;
    let scenario = parse(Path::new("bad.toml"), &format!("{BASE}{tail}")).expect("loads");
    let report = chatsim::scenario::run_scenario(&scenario);
    let details = report.details();
    for part in [
        // Located at the key, the value quoted as the file writes it.
        "  bad.toml:24:1: expectation expect.responses[0].contains failed: create_workspace response 1 lacks '\"created\":false'\n",
        // The response as pretty JSON, not an escaped string.
        "    the response:\n      {\n",
        "        \"created\": true,\n",
        // A long list: both sides below the line, and what differs.
        "  bad.toml:20:1: expectation expect.tool_order failed: the model's tool calls: not as expected (below)\n",
        "    expected:\n      [\n        \"list_templates\",\n",
        "    diff (- expected, + actual):\n      -   \"read_template\",\n",
    ] {
        assert!(details.contains(part), "{details}\nlacks\n{part}");
    }
    assert!(!details.contains("\\\""), "escaped quotes in {details}");
}

#[test]
fn a_fault_with_both_at_and_after_call_is_refused() {
    let tail = "[[faults]]\nat = \"1m\"\nafter_call = 2\nfault = \"agent_oom\"\nworkspace = \"ws1\"\nagent = \"main\"\n";
    let errors = errors(tail);
    let first = errors.first().expect("an error");
    assert!(first.starts_with("bad.toml:12:"), "{first}");
    assert!(
        first.contains("`at` and `after_call` are exclusive"),
        "{first}"
    );
}

#[test]
fn a_fault_after_call_zero_or_with_no_time_is_refused() {
    let zero = "[[faults]]\nafter_call = 0\nfault = \"provisioner_crash\"\n";
    let errors_zero = errors(zero);
    let first = errors_zero.first().expect("an error");
    assert!(first.starts_with("bad.toml:12:"), "{first}");
    assert!(
        first.contains("after_call must be a call number from 1"),
        "{first}"
    );
    let neither = "[[faults]]\nfault = \"provisioner_crash\"\n";
    let errors_neither = errors(neither);
    let first = errors_neither.first().expect("an error");
    assert!(first.contains("`at` or `after_call`"), "{first}");
}
