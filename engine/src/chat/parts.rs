//! Chat message parts as the connection layer persists and reads them
//! (spec 3 §4.2): context-file and skill parts stamped with an agent ID,
//! stored as one JSON array per message, plus the history scans of §4.2.1.
//!
//! The JSON shape is chatsim-defined (Go-style): an array of objects with
//! `type` first, then the codersdk field names, empty fields omitted:
//! `[{"type":"context-file","context_file_path":"/home/coder/AGENTS.md",
//! "context_file_content":"…","context_file_os":"linux",
//! "context_file_directory":"/home/coder","context_file_agent_id":"…"},
//! {"type":"skill","skill_name":"…","skill_description":"…",
//! "skill_dir":"…","context_file_agent_id":"…"}]`.

use serde::Deserialize;
use uuid::Uuid;

use crate::gojson::Value;
use crate::model::ChatMessage;
use crate::ports::SkillMeta;

/// `AgentChatContextSentinelPath` (chatsim's value): the path of the
/// context-file part that records the agent of a skill-only pull. It never
/// counts as a persisted instruction file.
pub const AGENT_CHAT_CONTEXT_SENTINEL_PATH: &str = ".coder/chat-context-sentinel";

/// `type` of a text part.
pub const PART_TYPE_TEXT: &str = "text";
/// `type` of a context-file part (`ChatMessagePartTypeContextFile`).
pub const PART_TYPE_CONTEXT_FILE: &str = "context-file";
/// `type` of a skill part (`ChatMessagePartTypeSkill`).
pub const PART_TYPE_SKILL: &str = "skill";

/// A context-file part (an instruction file, a blank marker or the sentinel).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextFilePart {
    /// The file's path (empty for a blank marker; the sentinel path for a
    /// skill-only pull).
    pub path: String,
    /// The file's text (NULs removed); empty for markers.
    pub content: String,
    /// The agent's OS when pulled.
    pub os: String,
    /// The agent's working directory when pulled.
    pub directory: String,
    /// Whether the agent cut the content.
    pub truncated: bool,
    /// The agent the part was pulled from; `None` = a legacy, unstamped part.
    pub agent_id: Option<Uuid>,
}

impl ContextFilePart {
    /// Whether this is the skill-only sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.path == AGENT_CHAT_CONTEXT_SENTINEL_PATH
    }
}

/// A skill part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkillPart {
    /// The skill as the agent reported it.
    pub skill: SkillMeta,
    /// The agent the skill was pulled from; `None` = a legacy, unstamped part.
    pub agent_id: Option<Uuid>,
}

/// One part of a chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessagePart {
    /// Plain text (`text`).
    Text(String),
    /// An instruction file or marker (`context-file`).
    ContextFile(ContextFilePart),
    /// A discovered skill (`skill`).
    Skill(SkillPart),
    /// Any other part type (kept opaque).
    Other(String),
}

impl MessagePart {
    fn to_value(&self) -> Value {
        match self {
            MessagePart::Text(text) => {
                let mut fields = vec![("type", Value::from(PART_TYPE_TEXT))];
                push_str(&mut fields, "text", text);
                Value::Struct(fields)
            }
            MessagePart::ContextFile(f) => context_file_value(f),
            MessagePart::Skill(s) => skill_value(s),
            MessagePart::Other(kind) => Value::Struct(vec![("type", Value::from(kind.as_str()))]),
        }
    }
}

fn push_str(fields: &mut Vec<(&'static str, Value)>, key: &'static str, value: &str) {
    if !value.is_empty() {
        fields.push((key, Value::from(value)));
    }
}

fn context_file_value(f: &ContextFilePart) -> Value {
    let mut fields = vec![("type", Value::from(PART_TYPE_CONTEXT_FILE))];
    push_str(&mut fields, "context_file_path", &f.path);
    push_str(&mut fields, "context_file_content", &f.content);
    push_str(&mut fields, "context_file_os", &f.os);
    push_str(&mut fields, "context_file_directory", &f.directory);
    if f.truncated {
        fields.push(("context_file_truncated", Value::Bool(true)));
    }
    if let Some(id) = f.agent_id {
        fields.push(("context_file_agent_id", Value::from(id)));
    }
    Value::Struct(fields)
}

fn skill_value(s: &SkillPart) -> Value {
    let mut fields = vec![("type", Value::from(PART_TYPE_SKILL))];
    push_str(&mut fields, "skill_name", &s.skill.name);
    push_str(&mut fields, "skill_description", &s.skill.description);
    push_str(&mut fields, "skill_dir", &s.skill.dir);
    if let Some(id) = s.agent_id {
        fields.push(("context_file_agent_id", Value::from(id)));
    }
    Value::Struct(fields)
}

/// Encodes a message's parts as stored content (Go-style JSON).
pub fn encode_parts(parts: &[MessagePart]) -> String {
    Value::Array(parts.iter().map(MessagePart::to_value).collect()).to_json()
}

#[derive(Deserialize)]
struct RawPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    context_file_path: String,
    #[serde(default)]
    context_file_content: String,
    #[serde(default)]
    context_file_os: String,
    #[serde(default)]
    context_file_directory: String,
    #[serde(default)]
    context_file_truncated: bool,
    #[serde(default)]
    context_file_agent_id: Option<String>,
    #[serde(default)]
    skill_name: String,
    #[serde(default)]
    skill_description: String,
    #[serde(default)]
    skill_dir: String,
}

impl RawPart {
    fn into_part(self) -> Option<MessagePart> {
        let agent_id = match self.context_file_agent_id.as_deref() {
            None | Some("") => None,
            Some(text) => Some(Uuid::parse_str(text).ok()?),
        };
        Some(match self.kind.as_str() {
            PART_TYPE_TEXT => MessagePart::Text(self.text),
            PART_TYPE_CONTEXT_FILE => MessagePart::ContextFile(ContextFilePart {
                path: self.context_file_path,
                content: self.context_file_content,
                os: self.context_file_os,
                directory: self.context_file_directory,
                truncated: self.context_file_truncated,
                agent_id,
            }),
            PART_TYPE_SKILL => MessagePart::Skill(SkillPart {
                skill: SkillMeta {
                    name: self.skill_name,
                    description: self.skill_description,
                    dir: self.skill_dir,
                },
                agent_id,
            }),
            _ => MessagePart::Other(self.kind),
        })
    }
}

/// Decodes stored content; `None` when it is not valid part JSON.
pub fn decode_parts(content: &str) -> Option<Vec<MessagePart>> {
    let raw: Vec<RawPart> = serde_json::from_str(content).ok()?;
    raw.into_iter().map(RawPart::into_part).collect()
}

/// A chat's prompt history as parts, in message order; messages whose
/// content is not valid part JSON are skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    messages: Vec<Vec<MessagePart>>,
}

impl History {
    /// Parses stored rows (invalid ones skipped).
    pub fn from_messages(rows: &[ChatMessage]) -> History {
        History {
            messages: rows
                .iter()
                .filter_map(|m| decode_parts(&m.content))
                .collect(),
        }
    }

    /// Every context-file part, in order.
    pub fn context_files(&self) -> impl Iterator<Item = &ContextFilePart> {
        self.messages.iter().flatten().filter_map(|p| match p {
            MessagePart::ContextFile(f) => Some(f),
            _ => None,
        })
    }

    /// Every skill part, in order.
    pub fn skills(&self) -> impl Iterator<Item = &SkillPart> {
        self.messages.iter().flatten().filter_map(|p| match p {
            MessagePart::Skill(s) => Some(s),
            _ => None,
        })
    }

    /// Per message, the first context-file part with an agent ID passing
    /// `keep`; the last such message wins.
    fn last_stamped_agent(&self, keep: impl Fn(&ContextFilePart) -> bool) -> Option<Uuid> {
        self.messages
            .iter()
            .filter_map(|parts| {
                parts.iter().find_map(|p| match p {
                    MessagePart::ContextFile(f) if f.agent_id.is_some() && keep(f) => f.agent_id,
                    _ => None,
                })
            })
            .last()
    }

    /// `latestContextAgentID`: the context agent (the sentinel counts).
    pub fn context_agent(&self) -> Option<Uuid> {
        self.last_stamped_agent(|_| true)
    }

    /// `contextFileAgentID`: the instruction-file agent (sentinels skipped).
    pub fn instruction_file_agent(&self) -> Option<Uuid> {
        self.last_stamped_agent(|f| !f.is_sentinel())
    }

    /// `hasPersistedInstructionFiles`.
    pub fn has_persisted_instruction_files(&self) -> bool {
        self.instruction_file_agent().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn file(path: &str, agent: Option<u128>) -> MessagePart {
        MessagePart::ContextFile(ContextFilePart {
            path: path.into(),
            content: "x".into(),
            agent_id: agent.map(id),
            ..Default::default()
        })
    }

    fn row(parts: &[MessagePart]) -> ChatMessage {
        raw_row(&encode_parts(parts))
    }

    fn raw_row(content: &str) -> ChatMessage {
        ChatMessage {
            id: 1,
            chat_id: id(99),
            role: "user".into(),
            content: content.into(),
            created_at: Time::ZERO,
        }
    }

    #[test]
    fn parts_encode_go_style_and_round_trip() {
        let parts = vec![
            MessagePart::ContextFile(ContextFilePart {
                path: "/home/coder/AGENTS.md".into(),
                content: "use <make> & test".into(),
                os: "linux".into(),
                directory: "/home/coder".into(),
                truncated: true,
                agent_id: Some(id(7)),
            }),
            MessagePart::Skill(SkillPart {
                skill: SkillMeta {
                    name: "deploy".into(),
                    description: "Deploys".into(),
                    dir: "/skills/deploy".into(),
                },
                agent_id: Some(id(7)),
            }),
            MessagePart::Text("hi".into()),
        ];
        let json = encode_parts(&parts);
        assert_eq!(
            json,
            concat!(
                r#"[{"type":"context-file","context_file_path":"/home/coder/AGENTS.md","#,
                r#""context_file_content":"use \u003cmake\u003e \u0026 test","context_file_os":"linux","#,
                r#""context_file_directory":"/home/coder","context_file_truncated":true,"#,
                r#""context_file_agent_id":"00000000-0000-0000-0000-000000000007"},"#,
                r#"{"type":"skill","skill_name":"deploy","skill_description":"Deploys","#,
                r#""skill_dir":"/skills/deploy","context_file_agent_id":"00000000-0000-0000-0000-000000000007"},"#,
                r#"{"type":"text","text":"hi"}]"#
            )
        );
        assert_eq!(decode_parts(&json), Some(parts));
    }

    #[test]
    fn invalid_content_is_skipped() {
        let history = History::from_messages(&[
            raw_row("plain text, not JSON"),
            raw_row(r#"[{"type":"context-file","context_file_agent_id":"not-a-uuid"}]"#),
            row(&[file("/a", Some(1))]),
        ]);
        assert_eq!(history.context_agent(), Some(id(1)));
        assert_eq!(history.context_files().count(), 1);
    }

    #[test]
    fn the_first_stamped_part_per_message_counts_and_the_last_message_wins() {
        let history = History::from_messages(&[
            row(&[file("/a", None), file("/b", Some(1)), file("/c", Some(2))]),
            row(&[file("/d", Some(3))]),
            row(&[file("/e", None)]),
        ]);
        assert_eq!(history.context_agent(), Some(id(3)));
        let first = History::from_messages(&[row(&[file("/b", Some(1)), file("/c", Some(2))])]);
        assert_eq!(first.context_agent(), Some(id(1)));
    }

    #[test]
    fn sentinels_count_for_the_context_agent_but_not_for_instruction_files() {
        let history = History::from_messages(&[
            row(&[file("/AGENTS.md", Some(1))]),
            row(&[file(AGENT_CHAT_CONTEXT_SENTINEL_PATH, Some(2))]),
        ]);
        assert_eq!(history.context_agent(), Some(id(2)));
        assert_eq!(history.instruction_file_agent(), Some(id(1)));
        let only_sentinel =
            History::from_messages(&[row(&[file(AGENT_CHAT_CONTEXT_SENTINEL_PATH, Some(2))])]);
        assert!(!only_sentinel.has_persisted_instruction_files());
        let unstamped = History::from_messages(&[row(&[file("/AGENTS.md", None)])]);
        assert!(!unstamped.has_persisted_instruction_files());
        let blank_marker =
            History::from_messages(&[row(&[MessagePart::ContextFile(ContextFilePart {
                agent_id: Some(id(4)),
                ..Default::default()
            })])]);
        assert!(blank_marker.has_persisted_instruction_files());
    }
}
