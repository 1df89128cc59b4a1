//! Where things are in a scenario file: every key and value of the parsed
//! TOML document with its byte span, addressed by a field path like
//! `turns[1].calls[0].template`. Semantic checks name a path and get the
//! span; serde errors give a span and get the path (and, when the error
//! names a field or value inside the table it points at, the span of that
//! field or value).

use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

pub use crate::plan::path::{path, FieldPath, Seg};

/// One key or value of the document.
#[derive(Clone, Debug)]
struct Entry {
    path: FieldPath,
    /// The key's span (array elements have none).
    key: Option<Range<usize>>,
    /// The value's span (a table's covers its header and body).
    value: Option<Range<usize>>,
    /// The value when it is a string.
    text: Option<String>,
    /// The value as serde's errors show it: `integer `5``, `string "x"`,
    /// `map`, `sequence`.
    shown: Option<String>,
}

impl Entry {
    /// From the key (or the value) to the end of the value.
    fn extent(&self) -> Option<Range<usize>> {
        match (&self.key, &self.value) {
            (Some(k), Some(v)) => Some(k.start.min(v.start)..k.end.max(v.end)),
            (Some(k), None) => Some(k.clone()),
            (None, Some(v)) => Some(v.clone()),
            (None, None) => None,
        }
    }
}

/// The spans of a parsed document (empty if it does not parse).
#[derive(Clone, Debug, Default)]
pub struct Spans {
    entries: Vec<Entry>,
}

impl Spans {
    /// The spans of every key and value of `source` (none when it does not
    /// parse: the TOML error then carries the location).
    pub fn new(source: &str) -> Spans {
        let mut spans = Spans::default();
        if let Ok(doc) = ImDocument::parse(source.to_string()) {
            spans.walk_table(&FieldPath::root(), doc.as_table());
        }
        spans
    }

    fn push(
        &mut self,
        path: FieldPath,
        key: Option<Range<usize>>,
        value: Option<Range<usize>>,
        text: Option<String>,
        shown: Option<String>,
    ) {
        self.entries.push(Entry {
            path,
            key,
            value,
            text,
            shown,
        });
    }

    fn walk_table(&mut self, at: &FieldPath, table: &Table) {
        for (name, item) in table.iter() {
            let key = table.key(name).and_then(|k| k.span());
            self.walk_item(&at.key(name), key, item);
        }
    }

    fn walk_item(&mut self, at: &FieldPath, key: Option<Range<usize>>, item: &Item) {
        match item {
            Item::None => {}
            Item::Value(value) => self.walk_value(at, key, value),
            Item::Table(table) => {
                self.push(at.clone(), key, table.span(), None, Some("map".into()));
                self.walk_table(at, table);
            }
            Item::ArrayOfTables(tables) => {
                self.push(
                    at.clone(),
                    key,
                    tables.span(),
                    None,
                    Some("sequence".into()),
                );
                for (i, table) in tables.iter().enumerate() {
                    let element = at.index(i);
                    self.push(
                        element.clone(),
                        None,
                        table.span(),
                        None,
                        Some("map".into()),
                    );
                    self.walk_table(&element, table);
                }
            }
        }
    }

    fn walk_value(&mut self, at: &FieldPath, key: Option<Range<usize>>, value: &Value) {
        let text = value.as_str().map(str::to_string);
        let shown = match value {
            Value::String(s) => Some(format!("string {:?}", s.value())),
            Value::Integer(i) => Some(format!("integer `{}`", i.value())),
            Value::Float(f) => Some(format!("floating point `{}`", f.value())),
            Value::Boolean(b) => Some(format!("boolean `{}`", b.value())),
            Value::Array(_) => Some("sequence".to_string()),
            Value::InlineTable(_) => Some("map".to_string()),
            Value::Datetime(_) => None,
        };
        self.push(at.clone(), key, value.span(), text, shown);
        match value {
            Value::Array(array) => {
                for (i, v) in array.iter().enumerate() {
                    self.walk_value(&at.index(i), None, v);
                }
            }
            Value::InlineTable(table) => {
                for (name, v) in table.iter() {
                    let key = table.key(name).and_then(|k| k.span());
                    self.walk_value(&at.key(name), key, v);
                }
            }
            _ => {}
        }
    }

    fn entry(&self, path: &FieldPath) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.path == path)
    }

    /// The span of the value at `path`, or of its nearest ancestor that has
    /// one (the root: `None`).
    pub fn value(&self, path: &FieldPath) -> Option<Range<usize>> {
        let mut segs = path.0.clone();
        loop {
            let here = FieldPath(segs.clone());
            if let Some(span) = self
                .entry(&here)
                .and_then(|e| e.value.clone().or(e.key.clone()))
            {
                return Some(span);
            }
            segs.pop()?;
        }
    }

    /// The span of the key at `path` (else its value's, else an ancestor's).
    pub fn key(&self, path: &FieldPath) -> Option<Range<usize>> {
        self.entry(path)
            .and_then(|e| e.key.clone())
            .or_else(|| self.value(path))
    }

    /// The deepest path whose key or value covers `offset`.
    pub fn path_at(&self, offset: usize) -> FieldPath {
        self.entries
            .iter()
            .filter_map(|e| e.extent().map(|x| (e, x)))
            .filter(|(_, x)| x.start <= offset && offset < x.end.max(x.start + 1))
            .min_by_key(|(e, x)| (x.end - x.start, std::cmp::Reverse(e.path.0.len())))
            .map(|(e, _)| e.path.clone())
            .unwrap_or_default()
    }

    /// The path whose value spans exactly `span` (else the root).
    pub fn path_of(&self, span: &Range<usize>) -> FieldPath {
        self.entries
            .iter()
            .filter(|e| e.value.as_ref() == Some(span))
            .max_by_key(|e| e.path.0.len())
            .map(|e| e.path.clone())
            .unwrap_or_default()
    }

    /// The first key named `name` inside `parent` (document order).
    pub fn key_within(&self, parent: &FieldPath, name: &str) -> Option<(FieldPath, Range<usize>)> {
        self.entries
            .iter()
            .filter(|e| e.path.starts_with(parent))
            .filter(|e| e.path.0.last() == Some(&Seg::Key(name.to_string())))
            .filter_map(|e| e.key.clone().map(|span| (e.path.clone(), span)))
            .min_by_key(|(_, span)| span.start)
    }

    /// The first string value equal to `text` inside `parent` (document order).
    pub fn string_within(
        &self,
        parent: &FieldPath,
        text: &str,
    ) -> Option<(FieldPath, Range<usize>)> {
        self.entries
            .iter()
            .filter(|e| e.path.starts_with(parent) && e.text.as_deref() == Some(text))
            .filter_map(|e| e.value.clone().map(|span| (e.path.clone(), span)))
            .min_by_key(|(_, span)| span.start)
    }

    /// The first value inside `parent` that serde's errors show as `shown`
    /// (`integer `5``, `string "x"`, `map`), in document order.
    pub fn shown_within(
        &self,
        parent: &FieldPath,
        shown: &str,
    ) -> Option<(FieldPath, Range<usize>)> {
        self.entries
            .iter()
            .filter(|e| e.path.starts_with(parent) && &e.path != parent)
            .filter(|e| e.shown.as_deref() == Some(shown))
            .filter_map(|e| e.value.clone().map(|span| (e.path.clone(), span)))
            .min_by_key(|(p, span)| (span.start, std::cmp::Reverse(p.0.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "name = \"x\"\n[[turns]]\nchat = \"main\"\ncalls = [{ call = \"tool\", name = \"execute\" }]\n[expect.workspaces.ws1]\nstatus = \"failed\"\n";

    #[test]
    fn paths_print_and_parse_alike() {
        let p = path("turns[1].calls[0].template");
        assert_eq!(p.to_string(), "turns[1].calls[0].template");
        assert_eq!(FieldPath::root().key("a b").to_string(), "\"a b\"");
    }

    #[test]
    fn paths_find_spans_and_spans_find_paths() {
        let spans = Spans::new(SRC);
        let name = spans.value(&path("turns[0].calls[0].name")).unwrap();
        assert_eq!(&SRC[name.clone()], "\"execute\"");
        assert_eq!(
            spans.path_at(name.start).to_string(),
            "turns[0].calls[0].name"
        );
        let key = spans.key(&path("expect.workspaces.ws1")).unwrap();
        assert_eq!(&SRC[key], "ws1");
        // A missing field falls back to its table.
        let missing = spans.value(&path("turns[0].at")).unwrap();
        assert!(SRC[missing].starts_with("[[turns]]"));
        let (p, span) = spans.string_within(&path("turns[0]"), "tool").unwrap();
        assert_eq!(p.to_string(), "turns[0].calls[0].call");
        assert_eq!(&SRC[span], "\"tool\"");
    }
}
