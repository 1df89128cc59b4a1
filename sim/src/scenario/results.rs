//! Machine-readable results of `chatsim run`: one JSON object per scenario
//! and transport ([`RunResult`]) and JUnit XML for CI
//! ([`JUnit`]). Every failure is located in its scenario file: an
//! expectation at its key, an invariant or a panic at the file (1:1), a load
//! error where the loader put it.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::location::{line_column, ScenarioError};
use super::report::Report;
use super::spans::Spans;
use crate::transport::Transport;

/// One failure of a scenario, located in its file (1-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Located {
    /// `expectation`, `invariant`, `panic` or `load`.
    pub kind: &'static str,
    /// The field path of an expectation (`expect.workspace_count`), the
    /// invariant (`invariants.run_completes`), `run` for a panic, or the
    /// loader's field path (empty for the whole file).
    pub path: String,
    /// 1-based line in the scenario file.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The whole message, as the text output prints it.
    pub message: String,
}

/// Every failure of `report`; `source` is the scenario file's text (the
/// expectations' lines and columns come from it; without it, 1:1).
pub fn failures(report: &Report, source: Option<&str>) -> Vec<Located> {
    let mut out = Vec::new();
    if let Some(panic) = &report.panic {
        out.push(Located {
            kind: "panic",
            path: "run".into(),
            line: 1,
            column: 1,
            message: format!("invariant run_completes violated: the harness panicked: {panic}"),
        });
    }
    for v in &report.violations {
        out.push(Located {
            kind: "invariant",
            path: format!("invariants.{}", v.invariant),
            line: 1,
            column: 1,
            message: v.to_string(),
        });
    }
    let spans = source.map(|s| (s, Spans::new(s)));
    for f in &report.failures {
        let (line, column) = spans
            .as_ref()
            .and_then(|(source, spans)| Some(line_column(source, spans.key(&f.path)?.start)))
            .unwrap_or((1, 1));
        out.push(Located {
            kind: "expectation",
            path: f.path.to_string(),
            line,
            column,
            message: f.to_string(),
        });
    }
    out
}

/// The failures of a file that does not load.
pub fn load_failures(errors: &[ScenarioError]) -> Vec<Located> {
    errors
        .iter()
        .map(|e| Located {
            kind: "load",
            path: e
                .message
                .split_once(": ")
                .map(|(path, _)| path)
                .filter(|p| !p.contains(' '))
                .unwrap_or("")
                .to_string(),
            line: e.line,
            column: e.column,
            message: e.message.clone(),
        })
        .collect()
}

/// One line of `chatsim run --json`: a scenario on one transport.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunResult {
    /// The scenario file's path.
    pub file: String,
    /// `None` when the file does not load (and so `seed`, `trace_hash`).
    pub name: Option<String>,
    /// The transport's name.
    pub transport: String,
    /// The run's seed; `None` when the file does not load.
    pub seed: Option<u64>,
    /// Whether the file loaded.
    pub loaded: bool,
    /// Whether the run held every invariant and expectation.
    pub passed: bool,
    /// `None` also when the harness panicked.
    pub trace_hash: Option<String>,
    /// Virtual time the run took.
    pub virtual_secs: f64,
    /// Wall time the run took.
    pub wall_secs: f64,
    /// Every failure, located in the file.
    pub failures: Vec<Located>,
    /// The command that replays a failed run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The truthfulness oracle's known upstream findings (never failures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

impl RunResult {
    /// A finished run; `source` is the scenario file's text.
    pub fn of_report(report: &Report, source: Option<&str>) -> RunResult {
        let passed = report.passed();
        RunResult {
            file: report.scenario.path.display().to_string(),
            name: Some(report.scenario.name().to_string()),
            transport: report.transport.to_string(),
            seed: Some(report.scenario.seed()),
            loaded: true,
            passed,
            trace_hash: report.outcome.as_ref().map(|o| o.hash()),
            virtual_secs: report.elapsed().as_secs_f64(),
            wall_secs: report.wall.as_secs_f64(),
            failures: failures(report, source),
            replay: (!passed).then(|| report.scenario.replay_command_on(report.transport)),
            findings: report.findings.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// A file that does not load.
    pub fn of_load_error(file: &Path, transport: Transport, errors: &[ScenarioError]) -> RunResult {
        RunResult {
            file: file.display().to_string(),
            name: None,
            transport: transport.to_string(),
            seed: None,
            loaded: false,
            passed: false,
            trace_hash: None,
            virtual_secs: 0.0,
            wall_secs: 0.0,
            failures: load_failures(errors),
            replay: None,
            findings: Vec::new(),
        }
    }

    /// One line of JSON (fields in the order above).
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a run result serializes")
    }
}

/// JUnit XML of a `chatsim run`: one test case per scenario and transport
/// (class `chatsim.<transport>`), a `<failure>` per failed run, an
/// `<error>` per file that does not load.
#[derive(Clone, Debug, Default)]
pub struct JUnit {
    cases: Vec<Case>,
}

#[derive(Clone, Debug)]
struct Case {
    class: String,
    name: String,
    file: String,
    secs: f64,
    /// `failure` or `error`, with its message and body.
    outcome: Option<(&'static str, String, String)>,
}

impl JUnit {
    /// An empty report.
    pub fn new() -> JUnit {
        JUnit::default()
    }

    /// A finished run (`source`: the file's text, for failure locations).
    pub fn report(&mut self, report: &Report, source: Option<&str>) {
        let file = report.scenario.path.display().to_string();
        let outcome = (!report.passed()).then(|| {
            let failures = failures(report, source);
            let first = failures
                .first()
                .map_or_else(|| "failed".to_string(), |f| f.message.clone());
            let mut body = String::new();
            for f in &failures {
                let _ = writeln!(body, "{file}:{}:{}: {}", f.line, f.column, f.message);
            }
            let _ = writeln!(
                body,
                "seed {}, transport {}\nreplay: {}",
                report.scenario.seed(),
                report.transport,
                report.scenario.replay_command_on(report.transport)
            );
            ("failure", first, body)
        });
        self.cases.push(Case {
            class: format!("chatsim.{}", report.transport),
            name: report.scenario.name().to_string(),
            file,
            secs: report.wall.as_secs_f64(),
            outcome,
        });
    }

    /// A file that does not load.
    pub fn load_error(&mut self, file: &Path, transport: Transport, errors: &[ScenarioError]) {
        let first = errors
            .first()
            .map_or_else(|| "does not load".to_string(), |e| e.message.clone());
        let body: String = errors.iter().map(|e| format!("{e}\n")).collect();
        self.cases.push(Case {
            class: format!("chatsim.{transport}"),
            name: file.display().to_string(),
            file: file.display().to_string(),
            secs: 0.0,
            outcome: Some(("error", first, body)),
        });
    }

    /// The XML document.
    pub fn render(&self) -> String {
        let count = |what: &str| {
            self.cases
                .iter()
                .filter(|c| c.outcome.as_ref().is_some_and(|o| o.0 == what))
                .count()
        };
        let (failures, errors) = (count("failure"), count("error"));
        let secs: f64 = self.cases.iter().map(|c| c.secs).sum();
        let tests = self.cases.len();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"chatsim\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{secs:.3}\">"
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"chatsim run\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{secs:.3}\">"
        );
        for case in &self.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
                escape(&case.class),
                escape(&case.name),
                escape(&case.file),
                case.secs
            );
            match &case.outcome {
                None => out.push_str("/>\n"),
                Some((tag, message, body)) => {
                    let _ = writeln!(
                        out,
                        ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>",
                        escape(message),
                        escape(body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// `text` escaped for XML text and attribute values; characters XML 1.0
/// cannot hold (control characters but tab, newline, carriage return)
/// become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("a<b> & \"c\" 'd'\u{1}\n"),
            "a&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;\u{FFFD}\n"
        );
    }

    #[test]
    fn a_load_error_is_an_error_case_with_its_location() {
        let error = ScenarioError {
            file: "x<y>.toml".into(),
            line: 3,
            column: 7,
            message: "settings.tick: invalid duration \"fast\"".into(),
        };
        let located = load_failures(std::slice::from_ref(&error));
        assert_eq!(located[0].path, "settings.tick");
        assert_eq!((located[0].line, located[0].column), (3, 7));
        let mut junit = JUnit::new();
        junit.load_error(Path::new("x<y>.toml"), Transport::Fast, &[error]);
        let xml = junit.render();
        assert!(
            xml.contains("tests=\"1\" failures=\"0\" errors=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"x&lt;y&gt;.toml\""), "{xml}");
        assert!(xml.contains("<error message=\"settings.tick: invalid duration &quot;fast&quot;\">x&lt;y&gt;.toml:3:7: "), "{xml}");
        assert!(xml.ends_with("</testsuites>\n"));
    }
}
