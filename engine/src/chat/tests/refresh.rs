//! Per-turn context refresh, Generation B (spec 3 §4.2.1), both settings.

use super::{secs, Harness};
use crate::chat::{
    decode_parts, encode_parts, ChatSettings, ContextFilePart, ContextRefresh, MessagePart,
    SkillPart, TurnContext, AGENT_CHAT_CONTEXT_SENTINEL_PATH,
};
use crate::memory::Query;
use crate::model::{ChatMessage, WorkspaceAgent};
use crate::ports::{AgentContext, ContextFile, SkillMeta, Store, StoreError};
use crate::testkit::DialPlan;

const AGENTS_MD: &str = "/home/coder/AGENTS.md";

fn agents_md(content: &str) -> AgentContext {
    AgentContext {
        files: vec![ContextFile {
            path: AGENTS_MD.into(),
            content: content.into(),
            truncated: false,
        }],
        skills: vec![],
    }
}

fn skill(name: &str, description: &str) -> SkillMeta {
    SkillMeta {
        name: name.into(),
        description: description.into(),
        dir: format!("/skills/{name}"),
    }
}

fn rendered(content: &str) -> String {
    format!(
        "<workspace-context>\nOperating System: linux\nWorking Directory: /home/coder\n\nSource: {AGENTS_MD}\n{content}\n</workspace-context>"
    )
}

fn on_agent_change() -> Harness {
    Harness::with(ChatSettings {
        context_refresh: ContextRefresh::OnAgentChange,
        ..ChatSettings::default()
    })
}

fn messages(h: &Harness) -> Vec<ChatMessage> {
    h.world.store.tables().chat_messages.clone()
}

/// Runs one turn's start and closes the turn.
fn begin(h: &Harness) -> TurnContext {
    let turn = h.turn();
    let context = h.world.run(turn.begin());
    assert_eq!(turn.context(), context);
    turn.close();
    context
}

/// Rebuilds the workspace the way start_workspace binds it: the new build,
/// agent binding cleared.
fn restart(h: &Harness, template: &crate::testkit::TemplateIds, ws: uuid::Uuid) -> WorkspaceAgent {
    let (build, agent) = h.rebuild(template, ws);
    h.world
        .store
        .update_chat_workspace_binding(h.world.chat, Some(ws), Some(build.id), None)
        .expect("bind");
    agent
}

#[test]
fn the_first_pull_persists_the_stamped_parts_and_renders_the_instruction() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world
        .dialer
        .context(agent.id, agents_md("Run make test."));
    let context = begin(&h);
    assert_eq!(context.instruction, rendered("Run make test."));
    let rows = messages(&h);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].role, "user");
    assert_eq!(
        decode_parts(&rows[0].content).expect("parts"),
        vec![MessagePart::ContextFile(ContextFilePart {
            path: AGENTS_MD.into(),
            content: "Run make test.".into(),
            os: "linux".into(),
            directory: "/home/coder".into(),
            truncated: false,
            agent_id: Some(agent.id),
        })]
    );
}

#[test]
fn every_turn_sees_an_edited_agents_md_on_the_next_turn_without_persisting_again() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.context(agent.id, agents_md("v1"));
    assert_eq!(begin(&h).instruction, rendered("v1"));
    h.world.dialer.context(agent.id, agents_md("v2"));
    assert_eq!(begin(&h).instruction, rendered("v2"));
    assert_eq!(messages(&h).len(), 1, "fetch-only: nothing changed hands");
    assert_eq!(h.dialed(), vec![agent.id, agent.id]);
}

#[test]
fn on_agent_change_does_not_see_the_edit_and_does_not_dial() {
    let h = on_agent_change();
    let (_, _, agent) = h.running();
    h.world.dialer.context(agent.id, agents_md("v1"));
    assert_eq!(begin(&h).instruction, rendered("v1"));
    h.world.dialer.context(agent.id, agents_md("v2"));
    assert_eq!(begin(&h).instruction, rendered("v1"));
    assert_eq!(h.dialed(), vec![agent.id]);
    assert_eq!(messages(&h).len(), 1);
}

#[test]
fn on_agent_change_pulls_and_persists_when_the_agent_changed() {
    let h = on_agent_change();
    let (template, ws, old) = h.running();
    h.world.dialer.context(old.id, agents_md("old"));
    begin(&h);
    let new = restart(&h, &template, ws);
    h.world.dialer.context(new.id, agents_md("new"));
    assert_eq!(begin(&h).instruction, rendered("new"));
    assert_eq!(h.dialed(), vec![old.id, new.id]);
    assert_eq!(messages(&h).len(), 2);
}

#[test]
fn every_turn_persists_when_the_history_holds_another_agents_files() {
    let h = Harness::new();
    let (template, ws, old) = h.running();
    h.world.dialer.context(old.id, agents_md("old"));
    begin(&h);
    let new = restart(&h, &template, ws);
    h.world.dialer.context(new.id, agents_md("new"));
    assert_eq!(begin(&h).instruction, rendered("new"));
    assert_eq!(messages(&h).len(), 2);
    // The next turn with the same agent is fetch-only again.
    begin(&h);
    assert_eq!(messages(&h).len(), 2);
}

#[test]
fn every_turn_falls_back_to_persisted_parts_when_the_fetch_fails() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.context(agent.id, agents_md("v1"));
    h.world.dialer.plans(
        agent.id,
        vec![
            DialPlan::Succeed,
            DialPlan::Fail("refused".into()),
            DialPlan::Fail("refused".into()),
        ],
    );
    begin(&h);
    h.world.dialer.context(agent.id, agents_md("v2"));
    assert_eq!(begin(&h).instruction, rendered("v1"));
    assert_eq!(messages(&h).len(), 1, "a failed pull persists nothing");
    assert!(h.has_log("workspace context pull failed: dial with lazy validation: refused"));
}

#[test]
fn a_hanging_pull_is_bounded_by_the_instruction_lookup_budget_and_never_classified() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.context(agent.id, agents_md("v1"));
    h.world
        .dialer
        .plans(agent.id, vec![DialPlan::Succeed, DialPlan::Hang]);
    begin(&h);
    h.world.disconnect_agent(agent.id);
    h.world.advance(secs(600));
    let start = h.world.now();
    assert_eq!(begin(&h).instruction, rendered("v1"));
    assert_eq!(h.elapsed(start), secs(5));
    assert!(h.has_log("workspace context pull failed: context deadline exceeded"));
    assert!(!h.has_log("failed to resolve latest agent"));
}

#[test]
fn on_agent_change_has_no_instruction_after_a_failed_pull_and_tries_again_next_turn() {
    let h = on_agent_change();
    let (_, _, agent) = h.running();
    h.world.dialer.context(agent.id, agents_md("v1"));
    h.world.dialer.plans(
        agent.id,
        vec![
            DialPlan::Fail("refused".into()),
            DialPlan::Fail("refused".into()),
            DialPlan::Succeed,
        ],
    );
    assert_eq!(begin(&h), TurnContext::default());
    assert!(messages(&h).is_empty());
    assert_eq!(begin(&h).instruction, rendered("v1"));
    assert_eq!(h.dialed().len(), 3);
}

#[test]
fn without_a_workspace_there_is_no_pull_and_no_instruction_even_with_old_parts() {
    let h = Harness::new();
    let parts = vec![MessagePart::ContextFile(ContextFilePart {
        path: AGENTS_MD.into(),
        content: "old".into(),
        agent_id: Some(uuid::Uuid::from_u128(5)),
        ..ContextFilePart::default()
    })];
    h.world
        .store
        .insert_chat_message(h.world.chat, "user", &encode_parts(&parts), h.world.now())
        .expect("insert");
    h.world.dialer.default_plan(DialPlan::Forbidden);
    assert_eq!(begin(&h), TurnContext::default());
}

#[test]
fn a_skill_only_pull_persists_the_sentinel_and_on_agent_change_pulls_again() {
    let h = on_agent_change();
    let (_, _, agent) = h.running();
    h.world.dialer.context(
        agent.id,
        AgentContext {
            files: vec![],
            skills: vec![skill("deploy", "Ship it")],
        },
    );
    let context = begin(&h);
    assert_eq!(context.instruction, "");
    assert_eq!(context.skills, vec![skill("deploy", "Ship it")]);
    assert_eq!(
        decode_parts(&messages(&h)[0].content).expect("parts"),
        vec![
            MessagePart::ContextFile(ContextFilePart {
                path: AGENT_CHAT_CONTEXT_SENTINEL_PATH.into(),
                agent_id: Some(agent.id),
                ..ContextFilePart::default()
            }),
            MessagePart::Skill(SkillPart {
                skill: skill("deploy", "Ship it"),
                agent_id: Some(agent.id),
            }),
        ]
    );
    assert_eq!(begin(&h).skills, vec![skill("deploy", "Ship it")]);
    assert_eq!(
        h.dialed().len(),
        2,
        "the sentinel is not an instruction file"
    );
}

#[test]
fn an_empty_pull_persists_a_blank_marker_and_on_agent_change_stops_pulling() {
    let h = on_agent_change();
    let (_, _, agent) = h.running();
    assert_eq!(begin(&h), TurnContext::default());
    assert_eq!(
        decode_parts(&messages(&h)[0].content).expect("parts"),
        vec![MessagePart::ContextFile(ContextFilePart {
            agent_id: Some(agent.id),
            ..ContextFilePart::default()
        })]
    );
    assert_eq!(begin(&h), TurnContext::default());
    assert_eq!(h.dialed().len(), 1);
}

#[test]
fn files_without_content_are_persisted_but_give_no_instruction() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.context(agent.id, agents_md(""));
    assert_eq!(begin(&h).instruction, "");
    assert_eq!(messages(&h).len(), 1);
}

#[test]
fn the_expanded_directory_wins_and_content_is_sanitised() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.edit_agent(agent.id, |a| {
        a.expanded_directory = "/home/coder/project".into()
    });
    h.world.dialer.context(agent.id, agents_md("a\0b"));
    assert_eq!(
        begin(&h).instruction,
        format!("<workspace-context>\nOperating System: linux\nWorking Directory: /home/coder/project\n\nSource: {AGENTS_MD}\nab\n</workspace-context>")
    );
}

#[test]
fn skills_merge_for_the_same_agent_and_are_replaced_when_the_agent_changed() {
    let h = Harness::new();
    let (template, ws, old) = h.running();
    h.world.dialer.context(
        old.id,
        AgentContext {
            files: agents_md("x").files,
            skills: vec![skill("a", "v1"), skill("b", "v1")],
        },
    );
    begin(&h);
    h.world.dialer.context(
        old.id,
        AgentContext {
            files: agents_md("x").files,
            skills: vec![skill("a", "v2"), skill("c", "v1")],
        },
    );
    assert_eq!(
        begin(&h).skills,
        vec![skill("a", "v2"), skill("c", "v1"), skill("b", "v1")]
    );
    let new = restart(&h, &template, ws);
    h.world.dialer.context(
        new.id,
        AgentContext {
            files: agents_md("y").files,
            skills: vec![skill("d", "v1")],
        },
    );
    assert_eq!(begin(&h).skills, vec![skill("d", "v1")]);
}

#[test]
fn a_history_read_error_skips_the_refresh() {
    let h = Harness::new();
    h.running();
    h.world.store.fail(
        Query::GetChatMessagesForPrompt,
        StoreError::Other("db down".into()),
    );
    assert_eq!(begin(&h), TurnContext::default());
    assert!(h.dialed().is_empty());
    assert!(h.has_log("failed to load chat messages for context refresh: db down"));
}

#[test]
fn the_metadata_refresh_runs_at_the_start_of_the_turn_even_when_the_history_cannot_be_read() {
    // Spec 3 §2.3: every turn with a workspace refreshes the agent binding
    // once (no dial), whatever happens to the context refresh.
    let h = Harness::new();
    let (_, _, agent) = h.running();
    assert_eq!(h.world.chat_row().agent_id, None);
    h.world.store.fail(
        Query::GetChatMessagesForPrompt,
        StoreError::Other("db down".into()),
    );
    assert_eq!(begin(&h), TurnContext::default());
    assert_eq!(h.world.chat_row().agent_id, Some(agent.id));
    assert!(h.dialed().is_empty());
}

#[test]
fn a_persist_failure_still_uses_the_fresh_instruction() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.context(agent.id, agents_md("v1"));
    h.world.store.fail(
        Query::InsertChatMessage,
        StoreError::Other("disk full".into()),
    );
    assert_eq!(begin(&h).instruction, rendered("v1"));
    assert!(h.has_log("failed to persist workspace context: disk full"));
}

#[test]
fn a_mid_turn_workspace_is_pulled_once_before_the_next_model_step() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let turn = h.turn();
    assert_eq!(h.world.run(turn.begin()), TurnContext::default());
    assert!(
        h.world.run(turn.before_model_step()).is_none(),
        "nothing pending"
    );
    // A lifecycle tool bound a workspace whose agent is now ready.
    let (_, _, agent) = h.running_on(template);
    h.world.dialer.context(
        agent.id,
        AgentContext {
            files: agents_md("fresh").files,
            skills: vec![skill("deploy", "")],
        },
    );
    turn.on_chat_updated(&h.world.chat_row());
    let insert = h.world.run(turn.before_model_step()).expect("insert");
    assert_eq!(insert.instruction, rendered("fresh"));
    assert_eq!(insert.skills, vec![skill("deploy", "")]);
    assert_eq!(
        insert.system_prompt(),
        format!(
            "{}\n\n<workspace-skills>\n- deploy (/skills/deploy)\n</workspace-skills>",
            rendered("fresh")
        )
    );
    assert_eq!(messages(&h).len(), 1, "persisted");
    assert!(
        h.world.run(turn.before_model_step()).is_none(),
        "inserted once"
    );
    turn.on_chat_updated(&h.world.chat_row());
    assert!(
        h.world.run(turn.before_model_step()).is_none(),
        "the turn has an instruction now"
    );
    assert_eq!(h.dialed(), vec![agent.id]);
}

#[test]
fn a_mid_turn_pull_keeps_the_skills_unless_it_discovered_some() {
    let h = Harness::new();
    let (template, ws, old) = h.running();
    h.world.dialer.context(
        old.id,
        AgentContext {
            files: vec![],
            skills: vec![skill("a", "")],
        },
    );
    let turn = h.turn();
    assert_eq!(h.world.run(turn.begin()).skills, vec![skill("a", "")]);
    let new = restart(&h, &template, ws);
    h.world.dialer.context(new.id, agents_md("new"));
    turn.on_chat_updated(&h.world.chat_row());
    let insert = h.world.run(turn.before_model_step()).expect("insert");
    assert_eq!(insert.instruction, rendered("new"));
    assert_eq!(insert.skills, vec![skill("a", "")]);
}

#[test]
fn a_failed_mid_turn_pull_inserts_nothing() {
    let h = Harness::new();
    let template = h.world.template("t").create();
    let turn = h.turn();
    h.world.run(turn.begin());
    h.world.workspace(
        &template,
        crate::model::Transition::Stop,
        crate::model::JobStatus::Succeeded,
    );
    turn.on_chat_updated(&h.world.chat_row());
    assert!(h.world.run(turn.before_model_step()).is_none());
    assert!(h.has_log("mid-turn workspace context pull failed: workspace has no running agent"));
}

#[test]
fn compaction_reload_rebuilds_instruction_and_skills_from_history() {
    let h = Harness::new();
    let turn = h.turn();
    assert_eq!(h.world.run(turn.begin()), TurnContext::default());
    let agent = uuid::Uuid::from_u128(7);
    let parts = vec![
        MessagePart::ContextFile(ContextFilePart {
            path: AGENTS_MD.into(),
            content: "kept".into(),
            os: "linux".into(),
            directory: "/home/coder".into(),
            truncated: false,
            agent_id: Some(agent),
        }),
        MessagePart::Skill(SkillPart {
            skill: skill("deploy", ""),
            agent_id: Some(agent),
        }),
    ];
    h.world
        .store
        .insert_chat_message(h.world.chat, "user", &encode_parts(&parts), h.world.now())
        .expect("insert");
    let reloaded = turn.reload_messages().expect("reload");
    assert_eq!(reloaded.instruction, rendered("kept"));
    assert_eq!(reloaded.skills, vec![skill("deploy", "")]);
    assert_eq!(turn.context(), reloaded);
}

#[test]
fn compaction_reload_keeps_the_turns_instruction_and_falls_back_to_its_skills() {
    let h = Harness::new();
    let (_, _, agent) = h.running();
    h.world.dialer.context(
        agent.id,
        AgentContext {
            files: agents_md("v1").files,
            skills: vec![skill("a", "")],
        },
    );
    let turn = h.turn();
    h.world.run(turn.begin());
    // Compaction dropped the context message from the prompt history.
    h.world.store.edit(|t| t.chat_messages.clear());
    let reloaded = turn.reload_messages().expect("reload");
    assert_eq!(reloaded.instruction, rendered("v1"));
    assert_eq!(reloaded.skills, vec![skill("a", "")]);
    h.world.store.fail(
        Query::GetChatMessagesForPrompt,
        StoreError::Other("db down".into()),
    );
    assert_eq!(
        turn.reload_messages().unwrap_err(),
        StoreError::Other("db down".into())
    );
}
