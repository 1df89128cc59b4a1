//! A shrunk case as a scenario file a person can read: every field equal
//! to the scenario format's default is left out, so the file shows only
//! what makes the story (the loader fills the defaults back in, and the
//! file replays the same run).

use toml::{Table, Value};

use crate::plan::{AgentBehaviour, AgentDef, ParameterSpec, RunConfig, Settings};
use crate::scenario::{Expect, ScenarioFile};

/// The scenario file of `config`, named and described, defaults left out.
pub fn scenario_text(name: &str, description: &str, config: &RunConfig) -> Result<String, String> {
    let file = ScenarioFile {
        format: None,
        name: name.to_string(),
        description: description.to_string(),
        seed: config.seed,
        transport: None,
        settings: config.settings.clone(),
        world: config.world.clone(),
        faults: config.faults.clone(),
        turns: config.turns.clone(),
        expect: Expect::default(),
    };
    file_text(&file)
}

/// `file` as TOML, every field equal to the format's default left out.
pub fn file_text(file: &ScenarioFile) -> Result<String, String> {
    let mut table = Table::try_from(file).map_err(|e| e.to_string())?;
    prune(&mut table);
    toml::to_string(&table).map_err(|e| e.to_string())
}

fn as_table<T: serde::Serialize>(value: &T) -> Table {
    Table::try_from(value).expect("plan types serialize to TOML tables")
}

/// Removes from `table` every key whose value equals `default`'s.
fn strip(table: &mut Table, default: &Table) {
    table.retain(|key, value| default.get(key) != Some(value));
}

fn prune(file: &mut Table) {
    if let Some(Value::Table(settings)) = file.get_mut("settings") {
        strip(settings, &as_table(&Settings::default()));
    }
    if let Some(Value::Table(world)) = file.get_mut("world") {
        prune_world(world);
    }
    for turn in tables(file.get_mut("turns")) {
        strip(
            turn,
            &Table::from_iter([("parallel".into(), Value::Boolean(false))]),
        );
        for call in tables(turn.get_mut("calls")) {
            call.retain(|k, v| !(k == "parameters" && is_empty(v)));
        }
        turn.retain(|_, v| !is_empty(v));
    }
    file.retain(|_, v| !is_empty(v));
}

fn prune_world(world: &mut Table) {
    let default_org = toml::toml! { name = "coder"
    everyone_quota = 0 };
    if world.get("organizations") == Some(&Value::Array(vec![Value::Table(default_org)])) {
        world.remove("organizations");
    }
    let user_defaults = toml::toml! { organization = "coder"
    roles = ["member"]
    quota = 0 };
    for user in tables(world.get_mut("users")) {
        strip(user, &user_defaults);
    }
    let template_defaults = toml::toml! { organization = "coder"
    display_name = ""
    description = ""
    require_active_version = false
    deprecated = false };
    for template in tables(world.get_mut("templates")) {
        strip(template, &template_defaults);
        for version in tables(template.get_mut("versions")) {
            prune_version(version);
        }
    }
    for chat in tables(world.get_mut("chats")) {
        chat.retain(|_, v| !is_empty(v));
    }
    world.retain(|_, v| !is_empty(v));
}

fn prune_version(version: &mut Table) {
    for parameter in tables(version.get_mut("parameters")) {
        let required = parameter.get("required").and_then(Value::as_bool);
        let default = parameter.get("default").and_then(Value::as_str);
        let name = parameter.get("name").and_then(Value::as_str);
        if let (Some(name), Some(required), Some(default)) = (name, required, default) {
            let plain = as_table(&ParameterSpec::new(name, required, default));
            let keep = ["name", "required", "default"];
            parameter.retain(|k, v| keep.contains(&k) || plain.get(k) != Some(v));
        }
    }
    for agent in tables(version.get_mut("agents")) {
        let name = agent
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut plain = as_table(&AgentDef::named(name));
        plain.remove("name");
        strip(agent, &plain);
        if let Some(Value::Table(behaviour)) = agent.get_mut("behaviour") {
            strip(behaviour, &as_table(&AgentBehaviour::default()));
        }
        agent.retain(|_, v| !is_empty(v));
    }
    if version.get("daily_cost") == Some(&Value::Integer(0)) {
        version.remove("daily_cost");
    }
    version.retain(|_, v| !is_empty(v));
}

/// The tables of an array of tables (none when absent).
fn tables(value: Option<&mut Value>) -> impl Iterator<Item = &mut Table> {
    let items = match value {
        Some(Value::Array(items)) => items.as_mut_slice(),
        _ => &mut [],
    };
    items.iter_mut().filter_map(|v| match v {
        Value::Table(t) => Some(t),
        _ => None,
    })
}

/// An empty table, array or string: the scenario format's default.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Table(t) => t.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    /// A pruned file loads back to the same run, and is much shorter.
    #[test]
    fn a_pruned_file_loads_back_to_the_same_config() {
        for seed in 0..20 {
            let config = crate::gen::mixed(seed);
            let text = scenario_text("x", "a generated run", &config).unwrap();
            let full = toml::to_string(&config).unwrap();
            assert!(text.lines().count() < full.lines().count());
            for default in ["[settings", "operating_system", "roles", "connect_delay"] {
                assert!(!text.contains(default), "{default} in:\n{text}");
            }
            let scenario = parse(std::path::Path::new("x.toml"), &text)
                .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            assert_eq!(scenario.config(), config, "{text}");
        }
    }
}
