//! Frames that are a bare name in quotes — a unit variant such as
//! `"Heartbeat"` or `"Ack"`, most of the frames on the wire — read without
//! `serde_json`'s parser, which costs several times as much for them.

use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};

/// `bytes` read as `T` when they are `"Name"` and `T` is an enum with a
/// unit variant `Name`; `None` otherwise (the caller asks `serde_json`,
/// for its value or its error).
///
/// The name is looked up among the variant names the enum's own
/// `Deserialize` lists, so the frame's bytes need no decoding: a plain
/// name (nothing JSON escapes) found there is the string `serde_json`
/// would read, and the enum's visitor picks the same variant from it.
pub(super) fn read<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let name = bytes.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    T::deserialize(VariantName(name)).ok()
}

/// A deserializer that only answers an enum's variant by its name.
struct VariantName<'a>(&'a [u8]);

impl<'de> Deserializer<'de> for VariantName<'_> {
    type Error = Error;

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _enum: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // A name JSON would escape is left to serde_json: in quotes, its
        // bytes would not be the name.
        let name = variants
            .iter()
            .copied()
            .find(|v| v.as_bytes() == self.0)
            .filter(|v| !v.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20))
            .ok_or_else(|| Error::custom("no such variant"))?;
        visitor.visit_enum(BorrowedStrDeserializer::new(name))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::custom("not an enum"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
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
    }

    #[test]
    fn anything_else_is_left_to_serde_json() {
        // Not a unit variant of the type: serde_json gives the error.
        assert!(!agrees::<AgentUp>(r#""Ack""#));
        assert!(!agrees::<ProvResponse>(r#""Job""#), "a newtype variant");
        assert!(!agrees::<AgentUp>(r#""Hello""#), "a struct variant");
        assert!(!agrees::<AgentUp>(r#""heartbeat""#), "names are exact");
        // Not an enum: serde_json reads strings, numbers, structs.
        assert!(!agrees::<String>(r#""plain_name_42""#));
        // Not a bare name: escapes, spaces, other JSON.
        assert!(!agrees::<AgentUp>(r#""Heart\u0062eat""#));
        assert!(!agrees::<AgentUp>(r#" "Heartbeat""#));
        assert!(!agrees::<AgentUp>(r#""""#));
        assert!(!agrees::<AgentDown>(r#"{"Reject":{"reason":"gone"}}"#));
    }

    #[test]
    fn a_variant_name_json_would_escape_is_left_to_serde_json() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        enum Odd {
            #[serde(rename = "tab\there")]
            Tab,
        }
        // The raw bytes match the name, but JSON forbids a raw tab in a
        // string: serde_json's error is the answer, not the variant.
        assert!(!agrees::<Odd>("\"tab\there\""));
        assert!(serde_json::from_str::<Odd>("\"tab\there\"").is_err());
        assert_eq!(
            serde_json::from_str::<Odd>(r#""tab\there""#).unwrap(),
            Odd::Tab
        );
    }
}
