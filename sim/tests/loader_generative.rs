//! A generative test of the scenario loader: the real files of
//! `scenarios/`, mutated — bytes (truncations, junk, NUL, invalid UTF-8)
//! and parsed values (wrong types, bad durations, bad references, unknown
//! fields, swapped keys, emptied arrays) — each load either succeeds or
//! fails with errors located inside the file; none panics. Each case is
//! one parse of a file at most a few hundred bytes longer than a real one,
//! so no case can hang. `CHATSIM_LOADER_CASES` sets the case count
//! (default 2000).

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use chatsim::scenario::{discover, parse_bytes, ScenarioFile};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use toml_edit::{ImDocument, Item, Table, Value};

/// One key or value of a file, by span.
#[derive(Clone, Debug)]
struct Leaf {
    /// The enclosing table's or array's path, for swaps.
    parent: String,
    key: Option<Range<usize>>,
    value: Range<usize>,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Str,
    Duration,
    Int,
    Bool,
    Other,
    Array,
    Table,
}

fn leaves(source: &str) -> Vec<Leaf> {
    let mut out = Vec::new();
    if let Ok(doc) = ImDocument::parse(source.to_string()) {
        table(&mut out, "", doc.as_table());
    }
    out
}

fn table(out: &mut Vec<Leaf>, at: &str, t: &Table) {
    for (name, item) in t.iter() {
        let key = t.key(name).and_then(|k| k.span());
        let here = format!("{at}.{name}");
        match item {
            Item::Value(v) => value(out, at, &here, key, v),
            Item::Table(inner) => table(out, &here, inner),
            Item::ArrayOfTables(tables) => {
                for (i, inner) in tables.iter().enumerate() {
                    table(out, &format!("{here}[{i}]"), inner);
                }
            }
            Item::None => {}
        }
    }
}

fn value(out: &mut Vec<Leaf>, parent: &str, here: &str, key: Option<Range<usize>>, v: &Value) {
    let kind = match v {
        Value::String(s) => {
            let t = s.value();
            let looks = t.starts_with(|c: char| c.is_ascii_digit())
                && t.ends_with(|c: char| "hms".contains(c));
            if looks {
                Kind::Duration
            } else {
                Kind::Str
            }
        }
        Value::Integer(_) => Kind::Int,
        Value::Boolean(_) => Kind::Bool,
        Value::Array(_) => Kind::Array,
        Value::InlineTable(_) => Kind::Table,
        _ => Kind::Other,
    };
    if let Some(span) = v.span() {
        out.push(Leaf {
            parent: parent.to_string(),
            key,
            value: span,
            kind,
        });
    }
    match v {
        Value::Array(items) => {
            for item in items.iter() {
                value(out, here, here, None, item);
            }
        }
        Value::InlineTable(t) => {
            for (name, item) in t.iter() {
                let key = t.key(name).and_then(|k| k.span());
                value(out, here, &format!("{here}.{name}"), key, item);
            }
        }
        _ => {}
    }
}

/// Draws from proptest's deterministic runner (the same cases every run).
struct Gen {
    runner: TestRunner,
}

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        let draw = (0..n.max(1)).new_tree(&mut self.runner).expect("a draw");
        draw.current()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Replaces spans (none overlapping) by texts.
fn splice(source: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = source.to_string();
    let mut floor = usize::MAX;
    for (r, text) in edits {
        if r.end <= floor {
            out.replace_range(r.clone(), &text);
            floor = r.start;
        }
    }
    out
}

/// A mutation of the parsed values that keeps each value's type: a case
/// that mostly reaches the semantic checks.
fn keep_type(g: &mut Gen, source: &str, leaves: &[Leaf]) -> String {
    let strings: Vec<&Leaf> = leaves.iter().filter(|l| l.kind == Kind::Str).collect();
    let leaf = g.pick(leaves).clone();
    let text = match leaf.kind {
        // A reference to another name of the file, or to nothing.
        Kind::Str => match g.below(3) {
            0 if !strings.is_empty() => source[g.pick(&strings).value.clone()].to_string(),
            1 => "\"ws9\"".to_string(),
            _ => "\"main\"".to_string(),
        },
        Kind::Duration => (*g.pick(&[
            "\"0s\"", "\"1ms\"", "\"3h\"", "\"999h\"", "\"2m\"", "\"61s\"",
        ]))
        .to_string(),
        Kind::Int => (*g.pick(&["0", "1", "-1", "3", "1000000"])).to_string(),
        Kind::Bool => (*g.pick(&["true", "false"])).to_string(),
        Kind::Array => "[]".to_string(),
        Kind::Table | Kind::Other => source[leaf.value.clone()].to_string(),
    };
    splice(source, vec![(leaf.value, text)])
}

/// A mutation of the parsed values that most often breaks a type or a
/// field: wrong types, bad durations, unknown fields, swapped keys.
fn break_type(g: &mut Gen, source: &str, leaves: &[Leaf]) -> String {
    let leaf = g.pick(leaves).clone();
    match g.below(4) {
        0 => {
            let text = *g.pick(&["7", "\"x\"", "true", "[1]", "{ a = 1 }", "1.5", "\"\""]);
            splice(source, vec![(leaf.value, text.to_string())])
        }
        1 => {
            let text = *g.pick(&[
                "\"5 minutes\"",
                "\"90\"",
                "\"-3s\"",
                "\"1.5s\"",
                "\"99999999999999999999h\"",
            ]);
            splice(source, vec![(leaf.value, text.to_string())])
        }
        2 => match leaf.key {
            Some(key) => splice(source, vec![(key, "bogus_field".to_string())]),
            None => source.to_string(),
        },
        _ => {
            let siblings: Vec<&Leaf> = leaves
                .iter()
                .filter(|l| l.parent == leaf.parent && l.key.is_some() && l.key != leaf.key)
                .collect();
            match (leaf.key.clone(), siblings.is_empty()) {
                (Some(a), false) => {
                    let b = g.pick(&siblings).key.clone().expect("a key");
                    let (ta, tb) = (source[a.clone()].to_string(), source[b.clone()].to_string());
                    splice(source, vec![(a, tb), (b, ta)])
                }
                _ => source.to_string(),
            }
        }
    }
}

/// Byte mutations: a truncation, junk, a NUL, invalid UTF-8.
fn bytes(g: &mut Gen, source: &str) -> Vec<u8> {
    let mut b = source.as_bytes().to_vec();
    for _ in 0..1 + g.below(3) {
        let at = g.below(b.len() + 1);
        match g.below(5) {
            0 => b.truncate(at),
            1 => {
                let junk: Vec<u8> = (0..1 + g.below(16)).map(|_| g.below(256) as u8).collect();
                b.splice(at..at, junk);
            }
            2 => b.insert(at, 0),
            3 => b.splice(at..at, [0xff, 0xc3]).for_each(drop),
            _ => {
                let junk = *g.pick(&["[", "]]", "=", "\"", "{", "\n[[turns]]\n", "'''"]);
                b.splice(at..at, junk.bytes());
            }
        }
    }
    b
}

/// Whether every error lies inside the file (lines and columns of its
/// text, invalid bytes shown as one character each).
fn inside(bytes: &[u8], line: usize, column: usize) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    line >= 1 && line <= lines.len() && column >= 1 && column <= lines[line - 1].chars().count() + 1
}

#[test]
fn mutated_scenarios_load_or_fail_located_never_panic() {
    let cases: usize = std::env::var("CHATSIM_LOADER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files: Vec<(PathBuf, String)> = discover(&[dir])
        .expect("scenarios/ lists")
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("readable");
            (f, text)
        })
        .collect();
    let all_leaves: Vec<Vec<Leaf>> = files.iter().map(|(_, s)| leaves(s)).collect();
    let mut g = Gen {
        runner: TestRunner::deterministic(),
    };
    let (mut semantic, mut loaded, mut panics) = (0, 0, 0);
    let mut outside = Vec::new();
    for case in 0..cases {
        let i = g.below(files.len());
        let (path, source) = &files[i];
        let leaves = &all_leaves[i];
        let mutated: Vec<u8> = match g.below(10) {
            0..=1 => bytes(&mut g, source),
            2..=3 => break_type(&mut g, source, leaves).into_bytes(),
            _ => keep_type(&mut g, source, leaves).into_bytes(),
        };
        if std::str::from_utf8(&mutated)
            .is_ok_and(|text| toml::from_str::<ScenarioFile>(text).is_ok())
        {
            semantic += 1;
        }
        match catch_unwind(AssertUnwindSafe(|| parse_bytes(path, &mutated))) {
            Ok(Ok(_)) => loaded += 1,
            Ok(Err(errors)) => {
                assert!(
                    !errors.is_empty(),
                    "case {case}: an error list with no error"
                );
                for e in errors {
                    if !inside(&mutated, e.line, e.column) {
                        outside.push(format!("case {case}: {e}"));
                    }
                }
            }
            Err(_) => {
                panics += 1;
                eprintln!(
                    "case {case} panicked on {}",
                    String::from_utf8_lossy(&mutated)
                );
            }
        }
    }
    eprintln!(
        "loader: {cases} cases, {semantic} ({}%) reached the semantic checks, {loaded} loaded, {panics} panicked",
        semantic * 100 / cases.max(1)
    );
    assert_eq!(panics, 0);
    assert!(
        outside.is_empty(),
        "errors outside the file:\n{}",
        outside.join("\n")
    );
    assert!(
        semantic * 2 >= cases,
        "only {semantic} of {cases} cases reached the semantic checks"
    );
}
