//! Frames that are a bare name in quotes — a unit variant such as
//! `"Heartbeat"` or `"Ack"`, most of the frames on the wire — read without
//! `serde_json`'s parser, which costs several times as much for them.

use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::DeserializeOwned;

/// `bytes` read as `T` when they are a bare name that `T` takes; `None`
/// otherwise (the caller asks `serde_json`, for its value or its error).
///
/// For a name of ASCII letters, digits and `_`, `serde_json` reads the
/// same string and hands it to the same visitor methods, so a value read
/// here is the value it would read.
pub(super) fn read<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let name = bytes.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let plain = !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if !plain {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    T::deserialize(BorrowedStrDeserializer::<Error>::new(name)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::proto::{AgentDown, AgentUp, ChatResponse, ProvResponse};
    use std::fmt::Debug;

    /// Whether `read` answers `frame` as `T`, and when it does, that it is
    /// `serde_json`'s answer.
    fn agrees<T: DeserializeOwned + PartialEq + Debug>(frame: &str) -> bool {
        let ours = read::<T>(frame.as_bytes());
        if let Some(value) = &ours {
            let json: T = serde_json::from_str(frame).expect("serde_json reads it too");
            assert_eq!(value, &json, "{frame}");
        }
        ours.is_some()
    }

    #[test]
    fn unit_variants_read_as_serde_json_reads_them() {
        assert!(agrees::<AgentUp>(r#""Heartbeat""#));
        assert!(agrees::<AgentDown>(r#""Ack""#));
        assert!(agrees::<ChatResponse>(r#""KeepAlive""#));
        assert!(agrees::<String>(r#""plain_name_42""#));
    }

    #[test]
    fn anything_else_is_left_to_serde_json() {
        // Not a unit variant of the type: serde_json gives the error.
        assert!(!agrees::<AgentUp>(r#""Ack""#));
        assert!(!agrees::<ProvResponse>(r#""Job""#), "a newtype variant");
        assert!(!agrees::<AgentUp>(r#""Hello""#), "a struct variant");
        // Not a bare name: escapes, spaces, other JSON.
        assert!(!agrees::<String>(r#""a\"b""#));
        assert!(!agrees::<String>(r#""two words""#));
        assert!(!agrees::<String>(r#" "Heartbeat""#));
        assert!(!agrees::<String>(r#""""#));
        assert!(!agrees::<AgentDown>(r#"{"Reject":{"reason":"gone"}}"#));
    }
}
