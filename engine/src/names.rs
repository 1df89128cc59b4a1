//! Workspace names: coder's validity rule and generated names (spec 1 §3.10).

use crate::ports::Ids;

/// `codersdk.NameValid`: at most 32 characters, ASCII alphanumerics
/// separated by single hyphens.
pub fn name_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A deterministic stand-in for `codersdk.UsernameFrom`: lower-case ASCII
/// alphanumerics, every other run of characters becomes one hyphen.
fn sanitize(seed: &str) -> String {
    let mut out = String::new();
    for c in seed.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// `generatedWorkspaceName(seed)`: `<base>-<4 hex>` from a seeded UUID.
pub fn generated_workspace_name(seed: &str, ids: &dyn Ids) -> String {
    let lowered = seed.trim().to_lowercase();
    let mut base = if name_valid(&lowered) {
        lowered
    } else {
        sanitize(&lowered)
    };
    if base.is_empty() {
        base = "workspace".to_string();
    }
    if base.len() > 27 {
        base = base[..27].trim_matches('-').to_string();
        if base.is_empty() {
            base = "workspace".to_string();
        }
    }
    let suffix: String = ids.new_uuid().simple().to_string()[..4].to_string();
    let name = format!("{base}-{suffix}");
    if name_valid(&name) {
        return name;
    }
    // namesgenerator.NameDigitWith("-"): an adjective-noun-digit name.
    let digit = ids.new_uuid().as_bytes()[0] % 10;
    format!("clever-turing{digit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use uuid::Uuid;

    struct FixedIds(Cell<u128>);
    impl Ids for FixedIds {
        fn new_uuid(&self) -> Uuid {
            let n = self.0.get();
            self.0.set(n + 1);
            Uuid::from_u128(n)
        }
    }

    #[test]
    fn validity_follows_coder() {
        assert!(name_valid("my-ws-1"));
        assert!(!name_valid("my--ws"));
        assert!(!name_valid("-ws"));
        assert!(!name_valid("ws_1"));
        assert!(!name_valid(&"a".repeat(33)));
        assert!(name_valid(&"a".repeat(32)));
    }

    #[test]
    fn generated_names_keep_a_valid_base_and_add_four_hex() {
        let ids = FixedIds(Cell::new(0xabcd_u128 << 112));
        assert_eq!(generated_workspace_name("  Go-Dev ", &ids), "go-dev-abcd");
    }

    #[test]
    fn generated_names_sanitise_and_cap_the_base() {
        let ids = FixedIds(Cell::new(0x1234_u128 << 112));
        let name = generated_workspace_name("My Fancy_Template!! with a very long name", &ids);
        assert!(name_valid(&name), "{name}");
        assert!(name.ends_with("-1234"), "{name}");
        assert!(name.len() <= 32);
        let blank = generated_workspace_name("  ", &FixedIds(Cell::new(0)));
        assert_eq!(blank, "workspace-0000");
    }
}
