//! A seed is any u64: TOML integers stop at `i64::MAX`, so a larger seed is
//! written as a string (`seed = "18446744073709551615"`). Serialized as an
//! integer when TOML can hold it, else as a string.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

const EXPECTING: &str =
    "a seed: a whole number from 0 to 18446744073709551615 (above 9223372036854775807 write it as a string, e.g. \"18446744073709551615\")";

/// Writes `seed` as an integer up to `i64::MAX`, else as a string.
pub fn serialize<S: Serializer>(seed: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    if i64::try_from(*seed).is_ok() {
        serializer.serialize_u64(*seed)
    } else {
        serializer.serialize_str(&seed.to_string())
    }
}

/// Reads a seed from an integer or a string of digits.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(SeedVisitor)
}

struct SeedVisitor;

impl Visitor<'_> for SeedVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTING)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, serde::Serialize, Debug)]
    struct S {
        #[serde(with = "super")]
        seed: u64,
    }

    #[test]
    fn any_u64_reads_and_writes() {
        for text in [
            "seed = 7",
            "seed = \"18446744073709551615\"",
            "seed = \"7\"",
        ] {
            let s: S = toml::from_str(text).unwrap();
            let back: S = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
            assert_eq!(s.seed, back.seed);
        }
        for bad in [
            "seed = -1",
            "seed = \"18446744073709551616\"",
            "seed = 1.5",
            "seed = \"x\"",
        ] {
            let err = toml::from_str::<S>(bad).unwrap_err().to_string();
            assert!(
                err.contains("from 0 to 18446744073709551615"),
                "{bad}: {err}"
            );
        }
    }
}
