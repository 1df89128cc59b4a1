//! The registry is whole: every kind has one family that lists it, draws it
//! (with serde's tag equal to its name) and names only the world's names.

use std::collections::BTreeSet;

use super::*;
use crate::rng::{stream, Stream};

fn world() -> DrawWorld {
    DrawWorld {
        chat: "main".into(),
        user: "alice".into(),
        template: "dev".into(),
        workspace: "ws1".into(),
        agent: "main".into(),
        external: Some(("ws2".into(), "ext".into())),
    }
}

#[test]
fn every_kind_has_one_family_that_lists_it() {
    let mut listed = Vec::new();
    let mut families = BTreeSet::new();
    for kind in FaultKind::ALL {
        let owner = family(kind);
        assert!(
            owner.kinds().contains(&kind),
            "{} omits {kind}",
            owner.name()
        );
        if families.insert(owner.name()) {
            listed.extend_from_slice(owner.kinds());
        }
    }
    listed.sort();
    let mut all = FaultKind::ALL.to_vec();
    all.sort();
    assert_eq!(listed, all, "each kind is listed by exactly one family");
}

#[test]
fn every_kind_is_drawn_as_itself_under_its_serde_tag() {
    let mut rng = stream(1, Stream::Generator);
    for kind in FaultKind::ALL {
        let fault = draw(kind, &mut rng, &world()).unwrap_or_else(|| panic!("{kind} not drawn"));
        let value = serde_json::to_value(&fault).expect("serializes");
        assert_eq!(value["fault"], kind.name(), "{fault:?}");
        assert_eq!(fault.name(), kind.name());
    }
}

#[test]
fn drawn_faults_refer_only_to_the_world_names() {
    let w = world();
    let (ext_ws, ext_agent) = w.external.clone().expect("external");
    let mut rng = stream(2, Stream::Generator);
    for kind in FaultKind::ALL {
        let fault = draw(kind, &mut rng, &w).expect("drawn");
        for r in refs(&fault) {
            let Ref::Name { named, name, .. } = r else {
                continue;
            };
            let known: Vec<String> = match named {
                Named::Workspace => vec![w.workspace.clone(), ext_ws.clone()],
                Named::Agent => vec![w.agent.clone(), ext_agent.clone()],
                Named::Host => vec![
                    "coderd".into(),
                    "provisioner".into(),
                    "driver".into(),
                    w.agent_host(),
                ],
                Named::User => vec![w.user.clone()],
                Named::Template => vec![w.template.clone()],
                Named::Chat => vec![w.chat.clone()],
            };
            assert!(
                known.iter().any(|k| k == name),
                "{kind}: {named:?} {name:?}"
            );
        }
    }
}

#[test]
fn an_external_agent_fault_needs_an_external_agent() {
    let mut rng = stream(3, Stream::Generator);
    let w = DrawWorld {
        external: None,
        ..world()
    };
    assert_eq!(draw(FaultKind::ExternalAgentStarted, &mut rng, &w), None);
}
