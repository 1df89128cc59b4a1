//! Ready-made stories: small, named [`RunConfig`]s used by tests, examples
//! and benchmarks. The four reference stories of `chatsim bench` are
//! [`oom_story`], [`quota_story`], [`parallel_create_story`] and
//! [`churn_story`] (10 workspaces, 2 virtual hours).

use std::time::Duration;

use serde_json::json;

use crate::plan::story::*;
use crate::plan::{Call, Dur, RunConfig, Settings, TemplateSpec};

/// Template `dev` ("Development"): one version, agent `main`.
fn dev() -> TemplateSpec {
    template("dev").titled("Development", "A Linux dev box")
}

/// One user `alice`, template `dev` costing `cost`, chat `main`; the
/// organization's Everyone group grants `quota`.
pub fn one_user(seed: u64, cost: i64, quota: i64) -> Story {
    Story::new(seed)
        .everyone_quota(quota)
        .user("alice")
        .template(dev().cost(cost))
        .chat("main")
}

/// The OOM story (~30 virtual minutes): create `ws1` and bind the chat;
/// the agent dies of OOM at 5 min while the workspace keeps running; the
/// model's `execute` at 7 min times out its dial and — the agent being
/// disconnected for over 90 s — gets the stop/start advice; it stops the
/// workspace at 10 min and starts it at 15 min; `execute` works again.
pub fn oom_story(seed: u64) -> RunConfig {
    let ws = "ws1";
    Story::new(seed)
        .user("alice")
        .template(dev().file("AGENTS.md", "Run `make test` first.\n"))
        .chat("main")
        .turn([
            tool("list_templates", json!({})),
            create_workspace("dev", ws),
            wait_build(ws),
            bind_chat(ws),
            execute("echo ready"),
        ])
        .fault_at(mins(5), agent_oom(ws, "main"))
        .turn_at(mins(7), execute("echo still-there"))
        .turn_at(mins(10), [stop_workspace(ws), wait_build(ws)])
        .turn_at(
            mins(15),
            [
                start_workspace(ws),
                wait_build(ws),
                bind_chat(ws),
                execute("echo back"),
            ],
        )
        .wait_until(mins(30))
        .build()
}

/// The model's `create_workspace` of `name` from `dev`.
fn create_tool(name: &str) -> Call {
    tool(
        "create_workspace",
        json!({ "template_id": "{{template:dev}}", "name": name }),
    )
}

/// A quota failure (~10 virtual minutes): every start costs 10 and the
/// organization grants 10. Chat `main` creates `ws1` with the model's
/// `create_workspace` (it commits the whole allowance); at 2 min chat
/// `side` creates `ws2`, whose build fails at the quota commit with
/// `INSUFFICIENT_QUOTA`, and the model reads why.
pub fn quota_story(seed: u64) -> RunConfig {
    one_user(seed, 10, 10)
        .chat("side")
        .turn([tool("list_templates", json!({})), create_tool("ws1")])
        .on("side")
        .turn_at(mins(2), create_tool("ws2"))
        .on("main")
        .wait_until(mins(10))
        .build()
}

/// Parallel tool calls (~5 virtual minutes): the model sends two
/// `create_workspace` calls in one message; they race for the chat's
/// workspace lock, one creates and the other finds the chat bound. Then
/// `execute` runs on the workspace.
pub fn parallel_create_story(seed: u64) -> RunConfig {
    one_user(seed, 0, 0)
        .turn([create_tool("ws-a"), create_tool("ws-b")])
        .parallel()
        .turn_at(mins(1), execute("pwd"))
        .wait_until(mins(5))
        .build()
}

/// How often [`churn_story`] restarts a workspace.
pub const CHURN_PERIOD: Duration = Duration::from_secs(5 * 60);

/// Start/stop churn in a `workspaces`-workspace world for `duration`
/// (at least 10 virtual minutes): the user creates `ws1`…`wsN` at once
/// (one provisioner builds them in turn) and binds chat `main` to `ws1`;
/// then every [`CHURN_PERIOD`] the next workspace in turn is stopped and
/// started again (`ws1` is rebound), and the model runs `execute` on
/// `ws1`. Every running agent heartbeats all along, so the cost grows with
/// workspaces × virtual time.
pub fn churn_story(seed: u64, workspaces: usize, duration: Duration) -> RunConfig {
    assert!(workspaces >= 1, "at least one workspace");
    let names: Vec<String> = (1..=workspaces).map(|i| format!("ws{i}")).collect();
    let ws1 = names[0].as_str();
    let settings = Settings {
        max_duration: Dur(duration + Duration::from_secs(3600)),
        turn_timeout: Dur::mins(60),
        ..Settings::default()
    };
    let mut story = one_user(seed, 0, 0)
        .settings(settings)
        .turn(
            names
                .iter()
                .map(|n| create_workspace("dev", n))
                .collect::<Vec<_>>(),
        )
        .parallel()
        .turn(names.iter().map(|n| wait_build(n)).collect::<Vec<_>>())
        .parallel()
        .turn([bind_chat(ws1), execute("echo tick")]);
    let cycles = (duration.as_secs() / CHURN_PERIOD.as_secs()).saturating_sub(1);
    for cycle in 0..cycles {
        let name = names[cycle as usize % workspaces].as_str();
        let mut calls = vec![
            stop_workspace(name),
            wait_build(name),
            start_workspace(name),
            wait_build(name),
        ];
        if name == ws1 {
            calls.push(bind_chat(ws1));
        }
        calls.push(execute("echo tick"));
        let at = CHURN_PERIOD * (cycle as u32 + 1);
        story = story.turn_at(Dur(at), calls);
    }
    story.wait_until(Dur(duration)).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64 of the config as JSON.
    fn fingerprint(config: &RunConfig) -> u64 {
        let text = serde_json::to_string(config).expect("serializes");
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The stories as they were written before the builder (struct
    /// literals): the builder reproduces each exactly, so every trace and
    /// bench figure stays the same.
    #[test]
    fn the_builder_reproduces_the_stories_as_first_written() {
        let churn = churn_story(1, 3, Duration::from_secs(20 * 60));
        let expected = [
            (oom_story(7), 0x6706_8308_0311_d784),
            (quota_story(7), 0xb0ed_3ac2_c9af_b5b3),
            (parallel_create_story(7), 0xc5fa_680b_dfba_6f8c),
            (churn, 0xc6dd_e85f_ed74_f340),
        ];
        for (config, hash) in expected {
            assert_eq!(fingerprint(&config), hash, "{config:#?}");
        }
    }
}
