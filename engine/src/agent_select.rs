//! Which agent the chat talks to: the `-coderd-chat` rule (spec 1 §6).

use crate::model::WorkspaceAgent;

/// Agents whose lower-cased name ends with this are chat agents.
pub const CHAT_AGENT_SUFFIX: &str = "-coderd-chat";

/// `IsChatAgent`: case-insensitive suffix test.
pub fn is_chat_agent(name: &str) -> bool {
    name.to_lowercase().ends_with(CHAT_AGENT_SUFFIX)
}

/// Seed-era `FindChatAgent`: root agents only; a unique suffix match wins,
/// several are an error, none picks the first sorted root agent.
pub fn find_chat_agent(agents: &[WorkspaceAgent]) -> Result<WorkspaceAgent, String> {
    let mut roots: Vec<&WorkspaceAgent> = agents.iter().filter(|a| a.parent_id.is_none()).collect();
    if roots.is_empty() {
        return Err("no eligible workspace agents found".to_string());
    }
    roots.sort_by(|a, b| {
        (
            a.display_order,
            a.name.to_lowercase(),
            &a.name,
            a.id.to_string(),
        )
            .cmp(&(
                b.display_order,
                b.name.to_lowercase(),
                &b.name,
                b.id.to_string(),
            ))
    });
    let chat_agents: Vec<&&WorkspaceAgent> =
        roots.iter().filter(|a| is_chat_agent(&a.name)).collect();
    match chat_agents.as_slice() {
        [only] => Ok((**only).clone()),
        [] => Ok(roots[0].clone()),
        many => {
            let names: Vec<&str> = many.iter().map(|a| a.name.as_str()).collect();
            Err(format!(
                "multiple agents match the chat suffix \"{CHAT_AGENT_SUFFIX}\": {}; only one agent should use this suffix",
                names.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn agent(n: u128, name: &str, order: i32) -> WorkspaceAgent {
        WorkspaceAgent {
            id: Uuid::from_u128(n),
            name: name.into(),
            display_order: order,
            ..WorkspaceAgent::default()
        }
    }

    #[test]
    fn a_unique_chat_agent_wins_over_display_order() {
        let agents = [agent(1, "main", 0), agent(2, "helper-CODERD-CHAT", 9)];
        assert_eq!(find_chat_agent(&agents).unwrap().name, "helper-CODERD-CHAT");
    }

    #[test]
    fn without_a_chat_agent_the_first_sorted_root_agent_wins() {
        let agents = [
            agent(1, "zeta", 1),
            agent(2, "Beta", 0),
            agent(3, "alpha", 0),
        ];
        assert_eq!(find_chat_agent(&agents).unwrap().name, "alpha");
    }

    #[test]
    fn ties_break_on_exact_name_then_id() {
        let agents = [agent(2, "dev", 0), agent(1, "dev", 0), agent(3, "Dev", 0)];
        let picked = find_chat_agent(&agents).unwrap();
        assert_eq!(
            (picked.name.as_str(), picked.id),
            ("Dev", Uuid::from_u128(3))
        );
        let same = [agent(2, "dev", 0), agent(1, "dev", 0)];
        assert_eq!(find_chat_agent(&same).unwrap().id, Uuid::from_u128(1));
    }

    #[test]
    fn child_agents_are_ignored_even_with_the_suffix() {
        let mut child = agent(2, "dc-coderd-chat", 0);
        child.parent_id = Some(Uuid::from_u128(1));
        let agents = [agent(1, "main", 5), child.clone()];
        assert_eq!(find_chat_agent(&agents).unwrap().name, "main");
        assert_eq!(
            find_chat_agent(&[child]).unwrap_err(),
            "no eligible workspace agents found"
        );
    }

    #[test]
    fn several_chat_agents_are_an_error_listing_sorted_names() {
        let agents = [
            agent(1, "b-coderd-chat", 0),
            agent(2, "-coderd-chat", 0),
            agent(3, "a-coderd-chat", 1),
        ];
        assert_eq!(
            find_chat_agent(&agents).unwrap_err(),
            "multiple agents match the chat suffix \"-coderd-chat\": -coderd-chat, b-coderd-chat, a-coderd-chat; only one agent should use this suffix"
        );
    }
}
