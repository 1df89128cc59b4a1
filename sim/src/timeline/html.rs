//! The page: one HTML file with its CSS, its script and its data inline.
//! The header (name, verdict, replay command, trace hash, what broke) is
//! written here, HTML-escaped; the chart is drawn by `page.js` from a
//! `<script type="application/json">` block whose `<`, `>` and `&` are
//! written as `\u003c`, `\u003e` and `\u0026`, so no text of the run (a
//! tool's output, a prompt) can close the block or become markup.

use std::fmt::Write as _;

use super::lanes::Timeline;
use super::Run;
use crate::observe::trace::format_time;

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Records script errors and `console.error` calls into `#errors`, so a
/// test reading the rendered page sees them; it runs before the chart's
/// script.
const ERROR_RECORDER: &str = r#"(function () {
  "use strict";
  var list = document.getElementById("errors");
  function note(text) {
    var li = document.createElement("li");
    li.textContent = text;
    list.appendChild(li);
  }
  window.onerror = function (message, source, line, column) {
    note("error: " + message + " (line " + line + ":" + column + ")");
  };
  window.addEventListener("unhandledrejection", function (e) {
    note("unhandled rejection: " + e.reason);
  });
  var original = console.error;
  console.error = function () {
    note("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();"#;

/// The page of `run`.
pub fn page(run: &Run<'_>) -> String {
    render(&Timeline::new(run))
}

/// The page of a timeline.
pub fn render(timeline: &Timeline) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = escape(&timeline.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>chatsim report: {title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n\
         <ol id=\"errors\"></ol>\n<script>\n{ERROR_RECORDER}\n</script>\n<header>\n"
    );
    let _ = writeln!(
        out,
        "<h1>{title}</h1> <span class=\"verdict {v}\">{V}</span>",
        v = timeline.verdict,
        V = timeline.verdict.to_uppercase()
    );
    if !timeline.description.trim().is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"description\">{}</p>",
            escape(timeline.description.trim())
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"facts\">replay: <code id=\"replay\">{}</code> · trace hash <code id=\"trace-hash\">{}</code> · seed {} · transport {} · ends at {}s</p>",
        escape(&timeline.replay),
        escape(&timeline.trace_hash),
        timeline.seed,
        escape(&timeline.transport),
        format_time(std::time::Duration::from_millis(timeline.end_ms)),
    );
    if !timeline.marks.is_empty() {
        out.push_str("<ol id=\"marks\">\n");
        for mark in &timeline.marks {
            let _ = writeln!(
                out,
                "<li>{} at {}s: {}</li>",
                escape(&mark.title),
                format_time(std::time::Duration::from_millis(mark.at_ms)),
                escape(&mark.message)
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str(
        "</header>\n<div class=\"toolbar\"><button id=\"zoom-in\" type=\"button\">+</button>\
         <button id=\"zoom-out\" type=\"button\">\u{2212}</button>\
         <button id=\"fit\" type=\"button\">fit</button>\
         <span class=\"hint\">wheel: zoom · drag: pan · double-click: fit · hover or click a bar or tick: a call's arguments and response, a prompt, a build's statuses and log</span></div>\n\
         <main>\n<div id=\"chart-box\"><svg id=\"chart\" role=\"img\" aria-label=\"timeline\"></svg></div>\n\
         <aside id=\"details\" hidden></aside>\n\
         </main>\n<script type=\"application/json\" id=\"timeline-data\">",
    );
    out.push_str(&json_for_script(timeline));
    let _ = write!(
        out,
        "</script>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

/// The timeline as JSON that is safe inside a `<script>` element.
pub fn json_for_script(timeline: &Timeline) -> String {
    let json = serde_json::to_string(timeline).expect("a timeline serializes");
    // `<`, `>` and `&` occur only inside JSON strings, where the escapes
    // mean the same characters.
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Text as HTML character data or an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
