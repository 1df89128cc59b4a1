//! Loading a scenario file: its format version first (a file of another
//! version is rejected before its fields are read), then TOML →
//! [`ScenarioFile`] (syntax and type errors, located by the parser's
//! spans), then the semantic checks (located by the document's spans).
//! Every error reads `FILE:LINE:COLUMN: <field path>: <message>`; nothing
//! panics.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::check::{self, Problem};
use super::file::{unsupported_format, ScenarioFile, FORMAT};
use super::location::ScenarioError;
use super::spans::{FieldPath, Spans};
use super::words;
use crate::plan::RunConfig;
use crate::transport::Transport;

/// A loaded, checked scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file it came from, as given.
    pub path: PathBuf,
    /// The file's content.
    pub file: ScenarioFile,
    /// The file's text (expectation failures are located in it).
    pub source: String,
    /// What loads but is likely a mistake (no turns, no expectations).
    pub warnings: Vec<ScenarioError>,
}

impl Scenario {
    /// The scenario's `name`.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// The scenario's `seed`.
    pub fn seed(&self) -> u64 {
        self.file.seed
    }

    /// The run the scenario describes.
    pub fn config(&self) -> RunConfig {
        self.file.run_config()
    }

    /// The transports to run it on: the one the file names, else `asked`.
    pub fn transports(&self, asked: &[Transport]) -> Vec<Transport> {
        match self.file.transport {
            Some(own) => vec![own],
            None => asked.to_vec(),
        }
    }

    /// The command that replays it on turmoil (the default transport).
    pub fn replay_command(&self) -> String {
        self.replay_command_on(Transport::Turmoil)
    }

    /// The command that replays it on `transport`.
    pub fn replay_command_on(&self, transport: Transport) -> String {
        format!(
            "cargo run -p chatsim -- run --transport {transport} {}",
            self.path.display()
        )
    }
}

/// Where scenarios live, relative to the workspace root.
pub const SCENARIO_DIR: &str = "scenarios";

/// The scenario files `paths` name: files as given, directories as their
/// `*.toml` files in name order. No paths: the `scenarios/` directory of
/// the current directory, else of this workspace.
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let defaults;
    let paths = if paths.is_empty() {
        let here = PathBuf::from(SCENARIO_DIR);
        defaults = if here.is_dir() {
            vec![here]
        } else {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            vec![workspace.join(SCENARIO_DIR)]
        };
        &defaults
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Vec<ScenarioError>> {
    match std::fs::read(path) {
        Ok(bytes) => parse_bytes(path, &bytes),
        Err(err) => Err(vec![ScenarioError::at(
            path,
            "",
            None,
            format!("cannot read the file: {err}"),
        )]),
    }
}

/// Parses and checks a scenario file's bytes (`path` names it in errors).
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Scenario, Vec<ScenarioError>> {
    parse(path, words::text(path, bytes).map_err(|e| vec![e])?)
}

/// Parses and checks a scenario's text (`path` names it in errors).
pub fn parse(path: &Path, source: &str) -> Result<Scenario, Vec<ScenarioError>> {
    words::checked(path, source).map_err(|e| vec![e])?;
    let spans = Spans::new(source);
    if let Some(error) = other_format(path, source, &spans) {
        return Err(vec![error]);
    }
    let file: ScenarioFile = match toml::from_str(source) {
        Ok(file) => file,
        Err(err) => return Err(vec![serde_error(path, source, &spans, &err)]),
    };
    let problems = check::check(&file);
    if problems.is_empty() {
        let warnings = warnings(path, source, &spans, &file);
        return Ok(Scenario {
            path: path.to_path_buf(),
            file,
            source: source.to_string(),
            warnings,
        });
    }
    let mut errors: Vec<ScenarioError> = problems
        .iter()
        .map(|p| located(path, source, &spans, p))
        .collect();
    errors.sort_by_key(|e| (e.line, e.column));
    Err(errors)
}

/// Only the `format` key of a file (every other key ignored).
#[derive(serde::Deserialize)]
struct FormatOnly {
    #[serde(default)]
    format: Option<toml::Value>,
}

/// The error for a file whose `format` is an integer other than
/// [`FORMAT`], read before the rest: a file of another version may hold
/// fields this version does not know, and the version is the error to
/// report. Anything else (no `format`, bad syntax, a `format` that is no
/// integer) is left to the full parse.
fn other_format(path: &Path, source: &str, spans: &Spans) -> Option<ScenarioError> {
    let version = match toml::from_str::<FormatOnly>(source).ok()?.format? {
        toml::Value::Integer(version) if version != i64::from(FORMAT) => version,
        _ => return None,
    };
    let at = FieldPath::root().key("format");
    let span = spans.value(&at);
    let text = message(&at, &unsupported_format(version));
    Some(ScenarioError::at(path, source, span, text))
}

/// What loads but is likely a mistake: a scenario without turns does
/// nothing; one without `[expect]` checks only the invariants.
fn warnings(path: &Path, source: &str, spans: &Spans, file: &ScenarioFile) -> Vec<ScenarioError> {
    let mut out = Vec::new();
    let mut warn = |at: &str, text: &str| {
        let span = spans.key(&FieldPath::root().key(at));
        out.push(ScenarioError::at(
            path,
            source,
            span,
            format!("warning: {text}"),
        ));
    };
    if file.turns.is_empty() {
        warn("turns", "no turns: the run plays only the faults");
    }
    if file.expect == Default::default() {
        warn(
            "expect",
            "no expectations ([expect]): only the invariants are checked",
        );
    }
    out
}

fn message(path: &FieldPath, text: &str) -> String {
    // One line per error: the parser's multi-line messages are joined.
    let text = text
        .trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    let text = words::clip(&words::plain(&text));
    if path.is_root() {
        text
    } else {
        format!("{path}: {text}")
    }
}

fn located(file: &Path, source: &str, spans: &Spans, problem: &Problem) -> ScenarioError {
    let span = if problem.at_key {
        spans.key(&problem.path)
    } else {
        spans.value(&problem.path)
    };
    ScenarioError::at(file, source, span, message(&problem.path, &problem.message))
}

/// The text after `prefix` up to `end`, if the message has it.
fn between<'m>(message: &'m str, prefix: &str, end: char) -> Option<&'m str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(&rest[..rest.find(end)?])
}

/// A serde or syntax error: the parser's span, narrowed to the field or
/// value the message names when the span covers a whole table (tagged
/// calls and faults are read as a whole).
fn serde_error(file: &Path, source: &str, spans: &Spans, err: &toml::de::Error) -> ScenarioError {
    let text = err.message();
    let span = err.span();
    let at = match &span {
        // A missing field is reported on its table: name the table.
        Some(s) if text.starts_with("missing field") => spans.path_of(s),
        Some(s) => spans.path_at(s.start),
        None => FieldPath::root(),
    };
    let (path, span) = narrow(spans, &at, text).unwrap_or((at, span.unwrap_or(0..0)));
    ScenarioError::at(file, source, Some(span), message(&path, text))
}

/// What an `invalid type` or `invalid value` error says it found:
/// `integer `5``, `string "x"`, `map`.
fn unexpected(text: &str) -> Option<&str> {
    let rest = text
        .strip_prefix("invalid type: ")
        .or_else(|| text.strip_prefix("invalid value: "))?;
    Some(&rest[..rest.rfind(", expected ")?])
}

fn narrow(spans: &Spans, at: &FieldPath, text: &str) -> Option<(FieldPath, Range<usize>)> {
    if let Some(field) = between(text, "unknown field `", '`') {
        return spans.key_within(at, field);
    }
    if let Some(shown) = unexpected(text) {
        if let Some(found) = spans.shown_within(at, shown) {
            return Some(found);
        }
    }
    let value = between(text, "unknown variant `", '`')
        .or_else(|| between(text, "invalid duration \"", '"'))?;
    spans.string_within(at, value)
}
