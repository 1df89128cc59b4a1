//! Instruction and skills from context parts (spec 3 §4.2, §4.2.1):
//! the `<workspace-context>` rendering, the rebuild from persisted parts,
//! the skill merge rules, and chatsim's skill-index rendering.

use uuid::Uuid;

use super::parts::{ContextFilePart, History};
use crate::ports::SkillMeta;

/// Appended to a truncated file's `Source:` line.
pub const TRUNCATION_MARKER: &str = " (truncated to 64KiB)";

/// `formatSystemInstructions`: the `<workspace-context>` block; empty when
/// no part has content and OS and directory are both unknown.
pub fn format_system_instructions(os: &str, directory: &str, files: &[ContextFilePart]) -> String {
    let with_content = || files.iter().filter(|f| !f.content.is_empty());
    if with_content().next().is_none() && os.is_empty() && directory.is_empty() {
        return String::new();
    }
    let mut out = String::from("<workspace-context>\n");
    if !os.is_empty() {
        out.push_str(&format!("Operating System: {os}\n"));
    }
    if !directory.is_empty() {
        out.push_str(&format!("Working Directory: {directory}\n"));
    }
    for file in with_content() {
        out.push_str("\nSource: ");
        out.push_str(&file.path);
        if file.truncated {
            out.push_str(TRUNCATION_MARKER);
        }
        out.push('\n');
        out.push_str(&file.content);
        out.push('\n');
    }
    out.push_str("</workspace-context>");
    out
}

/// Whether a part passes the context-agent filter: unstamped (legacy)
/// parts are kept, parts of another agent are dropped.
fn kept_by(context_agent: Option<Uuid>, part_agent: Option<Uuid>) -> bool {
    part_agent.is_none() || part_agent == context_agent
}

/// `instructionFromContextFiles`: rebuilds the block from the history's
/// parts of the context agent; OS and directory are the last non-empty
/// values among the kept parts.
pub fn instruction_from_context_files(history: &History) -> String {
    let agent = history.context_agent();
    let kept: Vec<ContextFilePart> = history
        .context_files()
        .filter(|f| kept_by(agent, f.agent_id))
        .cloned()
        .collect();
    let last_non_empty = |field: fn(&ContextFilePart) -> &str| {
        kept.iter()
            .rev()
            .map(field)
            .find(|v| !v.is_empty())
            .unwrap_or("")
            .to_string()
    };
    let os = last_non_empty(|f| &f.os);
    let directory = last_non_empty(|f| &f.directory);
    format_system_instructions(&os, &directory, &kept)
}

/// Adds `skill` by name: a later skill of the same name replaces the
/// earlier one in place.
fn upsert(skills: &mut Vec<SkillMeta>, skill: &SkillMeta) {
    match skills.iter_mut().find(|s| s.name == skill.name) {
        Some(existing) => *existing = skill.clone(),
        None => skills.push(skill.clone()),
    }
}

/// `skillsFromParts`: the context agent's skills (unstamped kept), one per
/// name, a later message's copy winning (chatsim's de-duplication).
pub fn skills_from_parts(history: &History) -> Vec<SkillMeta> {
    let agent = history.context_agent();
    let mut skills = Vec::new();
    for part in history.skills().filter(|s| kept_by(agent, s.agent_id)) {
        upsert(&mut skills, &part.skill);
    }
    skills
}

/// `mergeSkillMetas`: discovered first, then persisted; one per name, the
/// discovered copy wins.
pub fn merge_skill_metas(discovered: &[SkillMeta], persisted: &[SkillMeta]) -> Vec<SkillMeta> {
    let mut merged: Vec<SkillMeta> = Vec::new();
    for skill in discovered {
        upsert(&mut merged, skill);
    }
    for skill in persisted {
        if !merged.iter().any(|s| s.name == skill.name) {
            merged.push(skill.clone());
        }
    }
    merged
}

/// `selectSkillMetasForInstructionRefresh`.
pub fn select_skill_metas_for_instruction_refresh(
    persisted: &[SkillMeta],
    discovered: &[SkillMeta],
    current_agent: Option<Uuid>,
    last_injected_agent: Option<Uuid>,
) -> Vec<SkillMeta> {
    if current_agent == last_injected_agent {
        return merge_skill_metas(discovered, persisted);
    }
    if current_agent.is_none() && discovered.is_empty() {
        return persisted.to_vec();
    }
    discovered.to_vec()
}

/// chatsim's skill-index rendering (the spec leaves it open): empty without
/// skills, else
/// `<workspace-skills>\n- <name>: <description> (<dir>)\n…</workspace-skills>`,
/// the ` (<dir>)` and `: <description>` pieces only when non-empty.
pub fn render_skill_index(skills: &[SkillMeta]) -> String {
    if skills.is_empty() {
        return String::new();
    }
    let mut out = String::from("<workspace-skills>\n");
    for skill in skills {
        out.push_str("- ");
        out.push_str(&skill.name);
        if !skill.description.is_empty() {
            out.push_str(": ");
            out.push_str(&skill.description);
        }
        if !skill.dir.is_empty() {
            out.push_str(&format!(" ({})", skill.dir));
        }
        out.push('\n');
    }
    out.push_str("</workspace-skills>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::parts::{encode_parts, MessagePart, SkillPart};
    use crate::model::ChatMessage;
    use crate::time::Time;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn skill(name: &str, description: &str) -> SkillMeta {
        SkillMeta {
            name: name.into(),
            description: description.into(),
            dir: String::new(),
        }
    }

    fn file(path: &str, content: &str, agent: Option<u128>) -> ContextFilePart {
        ContextFilePart {
            path: path.into(),
            content: content.into(),
            agent_id: agent.map(id),
            ..Default::default()
        }
    }

    fn history(messages: Vec<Vec<MessagePart>>) -> History {
        let rows: Vec<ChatMessage> = messages
            .iter()
            .map(|parts| ChatMessage {
                id: 0,
                chat_id: id(99),
                role: "user".into(),
                content: encode_parts(parts),
                created_at: Time::ZERO,
            })
            .collect();
        History::from_messages(&rows)
    }

    #[test]
    fn rendering_is_byte_exact() {
        let files = vec![
            file("/home/coder/.coder/AGENTS.md", "home rules", Some(1)),
            file("/empty.md", "", Some(1)),
            ContextFilePart {
                truncated: true,
                ..file("/home/coder/AGENTS.md", "repo rules", Some(1))
            },
        ];
        assert_eq!(
            format_system_instructions("linux", "/home/coder", &files),
            "<workspace-context>\nOperating System: linux\nWorking Directory: /home/coder\n\nSource: /home/coder/.coder/AGENTS.md\nhome rules\n\nSource: /home/coder/AGENTS.md (truncated to 64KiB)\nrepo rules\n</workspace-context>"
        );
    }

    #[test]
    fn rendering_is_empty_only_without_content_os_and_directory() {
        let empty = vec![file("/a", "", Some(1))];
        assert_eq!(format_system_instructions("", "", &empty), "");
        assert_eq!(
            format_system_instructions("", "/w", &empty),
            "<workspace-context>\nWorking Directory: /w\n</workspace-context>"
        );
        assert_eq!(
            format_system_instructions("", "", &[file("/a", "x", None)]),
            "<workspace-context>\n\nSource: /a\nx\n</workspace-context>"
        );
    }

    #[test]
    fn rebuild_keeps_the_context_agent_and_unstamped_parts_only() {
        let old = ContextFilePart {
            os: "windows".into(),
            ..file("/old.md", "old agent", Some(1))
        };
        let new = ContextFilePart {
            os: "linux".into(),
            directory: "/home/coder".into(),
            ..file("/new.md", "new agent", Some(2))
        };
        let h = history(vec![
            vec![MessagePart::ContextFile(old)],
            vec![MessagePart::ContextFile(file("/legacy.md", "legacy", None))],
            vec![MessagePart::ContextFile(new)],
        ]);
        assert_eq!(
            instruction_from_context_files(&h),
            "<workspace-context>\nOperating System: linux\nWorking Directory: /home/coder\n\nSource: /legacy.md\nlegacy\n\nSource: /new.md\nnew agent\n</workspace-context>"
        );
    }

    #[test]
    fn skills_from_parts_filter_by_context_agent_and_dedupe_by_name() {
        let stamped = |name: &str, desc: &str, agent: u128| {
            MessagePart::Skill(SkillPart {
                skill: skill(name, desc),
                agent_id: Some(id(agent)),
            })
        };
        let marker = |agent: u128| MessagePart::ContextFile(file("/a", "", Some(agent)));
        let h = history(vec![
            vec![marker(1), stamped("a", "from 1", 1)],
            vec![marker(2), stamped("b", "v1", 2), stamped("c", "", 2)],
            vec![marker(2), stamped("b", "v2", 2)],
        ]);
        assert_eq!(
            skills_from_parts(&h),
            vec![skill("b", "v2"), skill("c", "")]
        );
    }

    #[test]
    fn skill_selection_follows_the_three_rules() {
        let persisted = vec![skill("a", "persisted"), skill("b", "persisted")];
        let discovered = vec![skill("b", "discovered"), skill("c", "discovered")];
        // Same agent as last injected: merge, discovered first and winning.
        assert_eq!(
            select_skill_metas_for_instruction_refresh(
                &persisted,
                &discovered,
                Some(id(1)),
                Some(id(1))
            ),
            vec![
                skill("b", "discovered"),
                skill("c", "discovered"),
                skill("a", "persisted")
            ]
        );
        // Agent unknown, nothing discovered: keep persisted.
        assert_eq!(
            select_skill_metas_for_instruction_refresh(&persisted, &[], None, Some(id(1))),
            persisted
        );
        // Agent changed: only discovered.
        assert_eq!(
            select_skill_metas_for_instruction_refresh(
                &persisted,
                &discovered,
                Some(id(2)),
                Some(id(1))
            ),
            discovered
        );
        assert_eq!(
            select_skill_metas_for_instruction_refresh(&persisted, &[], Some(id(2)), Some(id(1))),
            vec![]
        );
        // Agent unknown but something discovered: discovered only.
        assert_eq!(
            select_skill_metas_for_instruction_refresh(&persisted, &discovered, None, Some(id(1))),
            discovered
        );
    }

    #[test]
    fn skill_index_rendering() {
        assert_eq!(render_skill_index(&[]), "");
        let skills = vec![
            SkillMeta {
                name: "deploy".into(),
                description: "Ship it".into(),
                dir: "/skills/deploy".into(),
            },
            skill("lint", ""),
        ];
        assert_eq!(
            render_skill_index(&skills),
            "<workspace-skills>\n- deploy: Ship it (/skills/deploy)\n- lint\n</workspace-skills>"
        );
    }
}
