//! Human durations in scenario files: `"90s"`, `"12m"`, `"1h30m"`, `"250ms"`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Units accepted, longest suffix first so `ms` is not read as `m` + `s`.
const UNITS: [(&str, u64); 4] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)];

/// Parses a human duration: one or more `<integer><unit>` groups, units
/// `h`, `m`, `s`, `ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let hint = "expected a duration like \"90s\", \"12m\", \"1h30m\" or \"250ms\"";
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(format!("empty duration; {hint}"));
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration {text:?}; {hint}"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration {text:?} is too large"))?;
        rest = &rest[digits..];
        let Some((unit, scale)) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit)) else {
            return Err(format!(
                "invalid duration {text:?}: missing or unknown unit; {hint}"
            ));
        };
        rest = &rest[unit.len()..];
        total_ms = value
            .checked_mul(*scale)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// A `Duration` field written as a human string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// Formats a duration the way scenario files write it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, scale) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= scale {
            out.push_str(&format!("{}{unit}", rest / scale));
            rest %= scale;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("12m"), Ok(Duration::from_secs(720)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 2m5s "), Ok(Duration::from_secs(125)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_input_with_a_hint() {
        for bad in ["", "90", "s", "1.5s", "5 minutes", "-3s", "3d"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("expected a duration like"), "{bad}: {err}");
        }
        assert!(parse_duration("99999999999999999999h")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn formats_round_trip() {
        for text in ["90s", "1h30m", "250ms", "2h", "1m1s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }
}
