//! JSON exactly as Go's `encoding/json` emits it: map keys sorted, struct
//! fields in declared order, compact, `<` `>` `&` U+2028 U+2029 escaped,
//! float64 numbers in Go's shortest form.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A JSON value with Go's two object kinds kept apart.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A Go integer.
    Int(i64),
    /// A float64 (how Go decodes any JSON number into `any`).
    Float(f64),
    /// A string (escaped as Go's encoder does).
    String(String),
    /// A slice (`[]` when empty).
    Array(Vec<Value>),
    /// A Go map: keys are emitted sorted.
    Map(BTreeMap<String, Value>),
    /// A Go struct: fields are emitted in this order.
    Struct(Vec<(&'static str, Value)>),
}

impl Value {
    /// An empty Go map.
    pub fn map() -> Value {
        Value::Map(BTreeMap::new())
    }

    /// Inserts into a `Map` (panics on other kinds: a programming error).
    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        match self {
            Value::Map(map) => {
                map.insert(key.to_string(), value.into());
            }
            other => panic!("insert into non-map JSON value {other:?}"),
        }
    }

    /// Inserts every key of the map `keys` into this map, replacing equal
    /// keys (either side not a map is a programming error, as for `insert`).
    pub(crate) fn merge(&mut self, keys: Value) {
        let Value::Map(keys) = keys else {
            panic!("merge of non-map JSON value {keys:?}");
        };
        for (key, value) in keys {
            self.insert(&key, value);
        }
    }

    /// Looks a key up in a map or struct.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(map) => map.get(key),
            Value::Struct(fields) => fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts a decoded JSON document the way Go's decoder fills `any`:
    /// objects become maps, numbers become float64.
    pub fn from_decoded(value: &serde_json::Value) -> Value {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_decoded).collect())
            }
            serde_json::Value::Object(fields) => Value::Map(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_decoded(v)))
                    .collect(),
            ),
        }
    }

    /// Go's `json.Marshal` output.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self);
        out
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Int(n.into())
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Int(n as i64)
    }
}

impl From<uuid::Uuid> for Value {
    fn from(id: uuid::Uuid) -> Value {
        Value::String(id.to_string())
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Map(map) => write_object(out, map.iter().map(|(k, v)| (k.as_str(), v))),
        Value::Struct(fields) => write_object(out, fields.iter().map(|(k, v)| (*k, v))),
    }
}

fn write_object<'a>(out: &mut String, fields: impl Iterator<Item = (&'a str, &'a Value)>) {
    out.push('{');
    for (i, (key, value)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// Go's string encoder with HTML escaping on.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float64 encoding: shortest round-trip digits, `%f` style unless the
/// exponent is < -6 or >= 21, then `%e` style with a cleaned exponent
/// (`1e-07` → `1e-7`, `1e+21` kept).
fn format_float(f: f64) -> String {
    if !f.is_finite() {
        // Go refuses to encode these; nothing in chatsim produces them.
        return "null".to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        // Rust's Display prints the shortest round-trip digits without an
        // exponent, which is Go's 'f' format with precision -1.
        return format!("{f}");
    }
    // Rust's LowerExp gives the shortest digits: `1e-7`, `1.5e21`.
    let exp = format!("{f:e}");
    let (mantissa, exponent) = exp.split_once('e').expect("exponent form");
    let exponent: i32 = exponent.parse().expect("numeric exponent");
    let sign = if exponent < 0 { '-' } else { '+' };
    // Go trims the exponent to its digits (`e-07` becomes `e-7`).
    format!("{mantissa}e{sign}{}", exponent.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_sort_keys_and_structs_keep_field_order() {
        let mut map = Value::map();
        map.insert("zeta", 1i64);
        map.insert("alpha", true);
        map.insert(
            "quota",
            Value::Struct(vec![
                ("credits_consumed", Value::Int(5)),
                ("budget", Value::Int(3)),
            ]),
        );
        assert_eq!(
            map.to_json(),
            r#"{"alpha":true,"quota":{"credits_consumed":5,"budget":3},"zeta":1}"#
        );
    }

    #[test]
    fn strings_are_html_escaped_like_go() {
        let s = Value::from("a<b>&c \"q\" \\ \n\t\r\u{8}\u{c}\u{1} \u{2028}\u{2029} é");
        assert_eq!(
            s.to_json(),
            r#""a\u003cb\u003e\u0026c \"q\" \\ \n\t\r\b\f\u0001 \u2028\u2029 é""#
        );
    }

    #[test]
    fn floats_print_in_gos_shortest_form() {
        let cases = [
            (1.0, "1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (0.1, "0.1"),
            (123456789.0, "123456789"),
        ];
        for (input, want) in cases {
            assert_eq!(format_float(input), want, "format_float({input})");
        }
    }

    #[test]
    fn decoded_objects_become_sorted_maps_with_float_numbers() {
        let decoded: serde_json::Value =
            serde_json::from_str(r#"{"value":"us","name":"US","icon":"","n":2.0}"#).unwrap();
        assert_eq!(
            Value::from_decoded(&decoded).to_json(),
            r#"{"icon":"","n":2,"name":"US","value":"us"}"#
        );
    }
}
