//! The loader's messages in words: serde's Rust type names rewritten
//! (`u64`, `usize`, `struct DurRange`, `internally tagged enum Goal`), long
//! quoted values cut (a 1 MiB value is never echoed whole), and the byte
//! checks TOML cannot locate (an empty file, invalid UTF-8, NUL bytes).

use std::path::Path;

use super::location::ScenarioError;

/// The most characters of a quoted value a message echoes.
pub const ECHO_LIMIT: usize = 100;

/// The largest integer a TOML file can write.
const TOML_MAX: i64 = i64::MAX;

/// serde's names for what it expected, in words.
pub fn plain(text: &str) -> String {
    if text.trim() == "number too large to fit in target type" {
        return format!("number too large: TOML integers stop at {TOML_MAX} (write a larger seed as a string, e.g. seed = \"18446744073709551615\")");
    }
    let whole = |n: &str| match n {
        "u64" => Some(format!(
            "a whole number from 0 to {} (above {TOML_MAX} write it as a string)",
            u64::MAX
        )),
        "usize" | "u32" | "u16" | "u8" => Some("a whole number (0 or more)".to_string()),
        "i64" | "i32" | "i16" | "i8" | "isize" => Some("a whole number".to_string()),
        "f64" | "f32" => Some("a number".to_string()),
        "a sequence" => Some("an array".to_string()),
        "a map" => Some("a table".to_string()),
        _ => None,
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("expected ") {
        let (before, after) = rest.split_at(i + "expected ".len());
        out.push_str(before);
        let end = after.find([',', ';', '\n', ')']).unwrap_or(after.len());
        let (what, tail) = after.split_at(end);
        out.push_str(
            &expected(what.trim_end())
                .or_else(|| whole(what.trim_end()))
                .unwrap_or_else(|| what.to_string()),
        );
        if what.ends_with(' ') {
            out.push(' ');
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// `struct X`, `enum X`, `internally tagged enum X`, `option`, in words.
fn expected(what: &str) -> Option<String> {
    if let Some(name) = what.strip_prefix("internally tagged enum ") {
        let tag = match name {
            "Goal" => "kind",
            "Call" => "call",
            "Fault" => "fault",
            _ => return Some("a table with a kind".to_string()),
        };
        return Some(format!("a table with `{tag}`"));
    }
    if what == "struct DurRange" {
        return Some(
            "a duration range {min, max}, e.g. { min = \"1s\", max = \"3s\" }".to_string(),
        );
    }
    if what.starts_with("struct ") || what.starts_with("a map") {
        return Some("a table".to_string());
    }
    if what.starts_with("enum ") {
        return Some("a name (a string)".to_string());
    }
    if what == "option" {
        return Some("a value".to_string());
    }
    None
}

/// The message with every quoted value (`"…"` or `` `…` ``) longer than
/// [`ECHO_LIMIT`] characters cut, and the whole message bounded.
pub fn clip(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * ECHO_LIMIT));
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '"' && c != '`' {
            continue;
        }
        let close = c;
        let mut kept = 0;
        let mut escaped = false;
        let mut cut = false;
        for (_, q) in chars.by_ref() {
            let ends = q == close && !escaped;
            escaped = close == '"' && q == '\\' && !escaped;
            if ends {
                if cut {
                    out.push('…');
                }
                out.push(q);
                break;
            }
            if kept < ECHO_LIMIT {
                out.push(q);
                kept += 1;
            } else {
                cut = true;
            }
        }
    }
    // A message echoing many values (a list of known names) stays readable.
    const MESSAGE_LIMIT: usize = 20 * ECHO_LIMIT;
    if out.chars().count() > MESSAGE_LIMIT {
        out = out.chars().take(MESSAGE_LIMIT).collect();
        out.push('…');
    }
    out
}

/// The file's text, or the located reason it is not a scenario's: empty,
/// not UTF-8, or with a NUL byte.
pub fn text<'b>(file: &Path, bytes: &'b [u8]) -> Result<&'b str, ScenarioError> {
    let source = match std::str::from_utf8(bytes) {
        Ok(source) => source,
        Err(err) => {
            let valid = &bytes[..err.valid_up_to()];
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            return Err(ScenarioError::at(
                file,
                prefix,
                Some(prefix.len()..prefix.len()),
                "invalid UTF-8: a scenario file is UTF-8 text",
            ));
        }
    };
    checked(file, source).map(|()| source)
}

/// An empty file, or one with a NUL byte, is reported where it is.
pub fn checked(file: &Path, source: &str) -> Result<(), ScenarioError> {
    if source.trim().is_empty() {
        return Err(ScenarioError::at(
            file,
            source,
            None,
            "empty file: a scenario needs at least `name`, `seed` and `[world]`",
        ));
    }
    if let Some(at) = source.find('\0') {
        return Err(ScenarioError::at(
            file,
            source,
            Some(at..at + 1),
            "NUL byte: a scenario file is text",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_as_words() {
        assert_eq!(
            plain("invalid type: string \"x\", expected usize"),
            "invalid type: string \"x\", expected a whole number (0 or more)"
        );
        assert_eq!(
            plain("invalid type: integer `1`, expected internally tagged enum Goal"),
            "invalid type: integer `1`, expected a table with `kind`"
        );
        assert!(plain("expected struct DurRange").contains("a duration range {min, max}"));
    }

    #[test]
    fn long_quoted_values_are_cut() {
        let long = "x".repeat(5000);
        let text = clip(&format!("unknown template {long:?}; known: `{long}`"));
        assert!(text.len() < 300, "{text}");
        assert!(text.contains("x…\"; known: `x"), "{text}");
        assert_eq!(clip("a \"b\\\"c\" d"), "a \"b\\\"c\" d");
    }
}
