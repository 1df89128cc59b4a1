//! `chatsim report`'s pages in a real browser: headless Chromium loads the
//! OOM story's page (and a failing one) from `file://`, runs its scripts,
//! and the test reads the rendered DOM (`--dump-dom`): no script or
//! console error, the story's lanes, one element per tool call, the
//! failure's mark; then it takes a screenshot into the test's output
//! folder (`target/tmp/report-browser/`).
//!
//! The browser is `$CHATSIM_CHROMIUM`, else `chromium` or
//! `chromium-browser` on `PATH`. Without one the test says it skipped and
//! passes — unless `CHATSIM_REQUIRE_BROWSER=1` (CI sets it), then it fails.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const OOM: &str = "scenarios/oom-recovered-by-restart.toml";

/// How long a browser may take for one page before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The browser to use, if any.
fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHATSIM_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The browser, or `None` after saying the test skipped (a failure when
/// `CHATSIM_REQUIRE_BROWSER=1`).
fn browser_or_skip() -> Option<PathBuf> {
    let found = browser();
    if found.is_none() {
        let required = std::env::var("CHATSIM_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CHATSIM_REQUIRE_BROWSER=1 but no browser: install Debian's `chromium` or set CHATSIM_CHROMIUM"
        );
        // Straight to stderr, past libtest's capture, so a plain
        // `cargo test` shows it.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED report_browser: no chromium or chromium-browser on PATH and CHATSIM_CHROMIUM unset \
             (set CHATSIM_REQUIRE_BROWSER=1 to make this a failure)"
        );
    }
    found
}

/// Runs the browser headless on `url` with `extra` flags, stdout into
/// `stdout`; kills it after [`BROWSER_TIMEOUT`].
fn headless(browser: &Path, out: &Path, extra: &[String], url: &str, stdout: &Path) {
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--hide-scrollbars".to_string(),
        format!("--user-data-dir={}", out.join("profile").display()),
        "--window-size=1400,900".to_string(),
    ];
    args.extend_from_slice(extra);
    args.push(url.to_string());
    let mut child = Command::new(browser)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(File::create(stdout).expect("the stdout file"))
        .stderr(File::create(out.join("browser-stderr.txt")).expect("the stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    // Polled without a clock: the timeout is a count of short sleeps.
    let tick = Duration::from_millis(100);
    for _ in 0..BROWSER_TIMEOUT.as_millis() / tick.as_millis() {
        match child.try_wait().expect("the browser's status") {
            Some(status) => {
                assert!(
                    status.success(),
                    "{} {args:?} failed: {status}",
                    browser.display()
                );
                return;
            }
            None => std::thread::sleep(tick),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "{} {args:?} did not finish within {BROWSER_TIMEOUT:?}",
        browser.display()
    );
}

/// Writes the page of `scenario` into `out`; its path.
fn report(scenario: &Path, out: &Path, transport: &str) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(["report", "--transport", transport, "--out"])
        .arg(out)
        .arg(scenario)
        .current_dir(workspace_root())
        .output()
        .expect("chatsim runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stem = scenario.file_stem().expect("a file stem");
    out.join(stem).with_extension("html")
}

/// The page's DOM after its scripts ran.
fn rendered_dom(browser: &Path, out: &Path, page: &Path) -> String {
    let dump = out.join(format!(
        "{}.dom.html",
        page.file_stem().expect("a stem").to_string_lossy()
    ));
    let url = format!("file://{}", page.display());
    headless(browser, out, &["--dump-dom".to_string()], &url, &dump);
    std::fs::read_to_string(&dump).expect("the dumped DOM")
}

fn fresh_out() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("the output folder");
    out.canonicalize().expect("an absolute path")
}

/// The rendered page ran without error: the scripts finished and nothing
/// was recorded in `#errors`.
fn assert_rendered_cleanly(dom: &str) {
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the chart script did not finish"
    );
    assert!(
        dom.contains("<ol id=\"errors\"></ol>"),
        "the page recorded errors: {}",
        dom.split("<ol id=\"errors\">")
            .nth(1)
            .and_then(|rest| rest.split("</ol>").next())
            .unwrap_or("(no #errors node)")
    );
}

#[test]
fn the_oom_report_renders_in_chromium() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let out = fresh_out();
    let page = report(Path::new(OOM), &out, "turmoil");
    let html = std::fs::read_to_string(&page).expect("the page");
    for banned in ["http://", "https://", "src="] {
        assert!(!html.contains(banned), "the page references {banned}");
    }

    let dom = rendered_dom(&browser, &out, &page);
    assert_rendered_cleanly(&dom);
    for lane in [
        "chat:main:turns",
        "chat:main:calls",
        "chat:main:updates",
        "workspace:ws1:builds",
        "faults",
    ] {
        assert!(
            dom.contains(&format!("data-lane-id=\"{lane}\"")),
            "lane {lane} not drawn"
        );
    }
    assert_eq!(
        dom.matches("data-lane-id=\"agent:").count(),
        2,
        "two agent lanes"
    );
    assert_eq!(
        dom.matches("data-kind=\"call\"").count(),
        7,
        "one element per tool call: 3 user calls, 4 model calls"
    );
    for kind in [
        "build",
        "fault",
        "disconnect",
        "status",
        "prompt",
        "chat_update",
    ] {
        assert!(
            dom.contains(&format!("data-kind=\"{kind}\"")),
            "no {kind} drawn"
        );
    }
    assert_eq!(
        dom.matches("class=\"mark\"").count(),
        0,
        "a passing run has no mark"
    );
    assert!(dom.contains("id=\"trace-hash\""));

    let shot = out.join("oom-report.png");
    headless(
        &browser,
        &out,
        &[format!("--screenshot={}", shot.display())],
        &format!("file://{}", page.display()),
        &out.join("screenshot-stdout.txt"),
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a real screenshot: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn a_failing_report_marks_its_failure_in_chromium() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-browser-failing");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("the output folder");
    let out = out.canonicalize().expect("an absolute path");
    let source = std::fs::read_to_string(workspace_root().join(OOM)).expect("the scenario");
    let scenario = out.join("oom-wrong-counts.toml");
    std::fs::write(
        &scenario,
        source
            .replace("stop_workspace = 1", "stop_workspace = 2")
            .replace("builds = 3", "builds = 4"),
    )
    .expect("written");
    let page = report(&scenario, &out, "fast");
    let dom = rendered_dom(&browser, &out, &page);
    assert_rendered_cleanly(&dom);
    assert_eq!(
        dom.matches("class=\"mark\"").count(),
        2,
        "one mark per failed expectation"
    );
    assert!(
        dom.contains("expectation expect.tool_calls.stop_workspace")
            && dom.contains("expectation expect.chats.main.builds"),
        "each mark names its expectation"
    );
}
