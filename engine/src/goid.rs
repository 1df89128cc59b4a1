//! UUID parsing with the error texts of Go's `google/uuid.Parse` (spec 1 §1.6).

use uuid::Uuid;

/// Parses `s` (already trimmed) as Go's `uuid.Parse` does.
pub fn parse_uuid(s: &str) -> Result<Uuid, String> {
    let b = s.as_bytes();
    let hex36 = match b.len() {
        36 => b,
        38 => &b[1..37],
        45 => {
            let prefix = &b[..9];
            if !prefix.eq_ignore_ascii_case(b"urn:uuid:") {
                return Err(format!("invalid urn prefix: {}", go_quote(prefix)));
            }
            &b[9..]
        }
        32 => return parse_hex(b).ok_or_else(|| "invalid UUID format".to_string()),
        n => return Err(format!("invalid UUID length: {n}")),
    };
    if [8, 13, 18, 23].iter().any(|&i| hex36[i] != b'-') {
        return Err("invalid UUID format".to_string());
    }
    let digits: Vec<u8> = hex36
        .iter()
        .enumerate()
        .filter(|(i, _)| ![8, 13, 18, 23].contains(i))
        .map(|(_, c)| *c)
        .collect();
    parse_hex(&digits).ok_or_else(|| "invalid UUID format".to_string())
}

fn parse_hex(digits: &[u8]) -> Option<Uuid> {
    if digits.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        bytes[i] = (hi * 16 + lo) as u8;
    }
    Some(Uuid::from_bytes(bytes))
}

/// Go's `%q` of a byte string (`strconv.Quote`): double-quoted; each byte
/// of invalid UTF-8 as `\xNN`; `"` and `\` backslash-escaped; characters Go
/// does not consider printable as `\a`…`\v`, `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if go_is_print(c) => out.push(c),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

/// `strconv.IsPrint`, approximated without Unicode category tables: ASCII
/// space and every character that is not a control, a space or separator
/// other than U+0020, a common format character (Cf) or private use (Co).
/// (Unassigned code points, which Go also escapes, are printed.)
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let n = c as u32;
    let format = matches!(
        n,
        0xad | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x8e2
            | 0x180e
            | 0x200b..=0x200f
            | 0x202a..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x206f
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
    );
    let private_use = matches!(n, 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd);
    !(c.is_control() || c.is_whitespace() || format || private_use)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANONICAL: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

    #[test]
    fn accepts_the_four_go_forms() {
        let want = Uuid::parse_str(CANONICAL).unwrap();
        assert_eq!(parse_uuid(CANONICAL), Ok(want));
        assert_eq!(parse_uuid(&CANONICAL.to_uppercase()), Ok(want));
        assert_eq!(parse_uuid(&format!("{{{CANONICAL}}}")), Ok(want));
        assert_eq!(
            parse_uuid(&format!("xx{CANONICAL}")[1..]),
            Err("invalid UUID length: 37".into())
        );
        assert_eq!(parse_uuid(&format!("URN:uuid:{CANONICAL}")), Ok(want));
        assert_eq!(parse_uuid(&CANONICAL.replace('-', "")), Ok(want));
    }

    #[test]
    fn reports_gos_error_texts() {
        assert_eq!(
            parse_uuid("not-a-uuid"),
            Err("invalid UUID length: 10".into())
        );
        assert_eq!(
            parse_uuid("6ba7b810x9dad-11d1-80b4-00c04fd430c8"),
            Err("invalid UUID format".into())
        );
        assert_eq!(
            parse_uuid("zba7b810-9dad-11d1-80b4-00c04fd430c8"),
            Err("invalid UUID format".into())
        );
        assert_eq!(
            parse_uuid(&format!("urn:uid:x{CANONICAL}")),
            Err("invalid urn prefix: \"urn:uid:x\"".into())
        );
        assert_eq!(
            parse_uuid(&"g".repeat(32)),
            Err("invalid UUID format".into())
        );
        assert_eq!(parse_uuid(""), Err("invalid UUID length: 0".into()));
    }

    #[test]
    fn the_urn_prefix_is_quoted_byte_for_byte_like_gos_percent_q() {
        // The nine bytes may cut a multi-byte character: Go's %q prints the
        // stray byte as \xNN, never as U+FFFD.
        let tail = "x".repeat(35);
        assert_eq!(
            parse_uuid(&format!("urn:uuid\u{e9}{tail}")),
            Err("invalid urn prefix: \"urn:uuid\\xc3\"".into())
        );
        // Characters Go does not consider printable are escaped.
        assert_eq!(
            parse_uuid(&format!("urn:\u{a0}uid:{}", "y".repeat(35))),
            Err("invalid urn prefix: \"urn:\\u00a0uid\"".into())
        );
        assert_eq!(
            parse_uuid(&format!("urn:\u{7f}\u{1}\tid:{}", "z".repeat(35))),
            Err("invalid urn prefix: \"urn:\\x7f\\x01\\tid\"".into())
        );
        assert_eq!(go_quote("é \"q\" \\".as_bytes()), "\"é \\\"q\\\" \\\\\"");
    }
}
