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

/// Go's `%q` of a byte string: double-quoted with Go escapes.
pub fn go_quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
}
