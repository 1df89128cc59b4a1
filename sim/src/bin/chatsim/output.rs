//! What the commands print: stdout and stderr that end quietly when the
//! reader goes away (`chatsim run | head -1`), PASS/FAIL colours on a
//! terminal (unless `NO_COLOR` is set), and progress bars on stderr when it
//! is a terminal.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `println!` to stdout that exits quietly (0) when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(&mut ::std::io::stdout().lock(), format_args!($($arg)*))
    };
}

/// `eprintln!` to stderr that exits quietly (0) when stderr is closed.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::line(&mut ::std::io::stderr().lock(), format_args!($($arg)*))
    };
}

pub(crate) use {err, out};

/// Writes `args` and a newline; a write error ends the process.
pub fn line(to: &mut impl Write, args: fmt::Arguments<'_>) {
    if let Err(e) = to.write_fmt(args).and_then(|()| to.write_all(b"\n")) {
        closed(e);
    }
}

/// Writes `text` as it is to stdout.
pub fn raw(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        closed(e);
    }
}

/// Writes `text` as it is to stderr.
pub fn raw_err(text: &str) {
    if let Err(e) = io::stderr().lock().write_all(text.as_bytes()) {
        closed(e);
    }
}

/// A closed pipe ends the process quietly, with 0 (the reader took what
/// it wanted, as with `head`); any other write error ends it with 1.
fn closed(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    let _ = writeln!(io::stderr(), "chatsim: cannot write the output: {e}");
    std::process::exit(1);
}

/// How a command ended: 2 for a usage or load error or when nothing ran,
/// else 1 for any failure, else 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub passed: u64,
    pub failed: u64,
    /// Files that did not load (or other errors of the command's input).
    pub load_errors: u64,
}

impl Tally {
    pub fn exit_code(&self) -> ExitCode {
        if self.load_errors > 0 || self.passed + self.failed == 0 {
            ExitCode::from(2)
        } else if self.failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }

    /// `P passed, F failed`.
    pub fn line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

/// A usage error: the message on stderr, exit 2.
pub fn usage(message: impl fmt::Display) -> ExitCode {
    err!("{message}");
    ExitCode::from(2)
}

/// Colours of stdout: on a terminal unless `NO_COLOR` is set (non-empty).
#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn stdout() -> Style {
        Style {
            color: io::stdout().is_terminal() && no_color_unset(),
        }
    }

    /// `word` in green.
    pub fn good(&self, word: &str) -> String {
        self.paint("32", word)
    }

    /// `word` in bold red.
    pub fn bad(&self, word: &str) -> String {
        self.paint("1;31", word)
    }

    /// `line` with a leading `PASS` or `FAIL` coloured.
    pub fn verdict(&self, line: &str) -> String {
        if let Some(rest) = line.strip_prefix("PASS") {
            format!("{}{rest}", self.good("PASS"))
        } else if let Some(rest) = line.strip_prefix("FAIL") {
            format!("{}{rest}", self.bad("FAIL"))
        } else {
            line.to_string()
        }
    }

    fn paint(&self, code: &str, word: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{word}\x1b[0m")
        } else {
            word.to_string()
        }
    }
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether progress goes to a terminal (stderr).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar of `len` steps labelled `what`; hidden unless stderr is a
    /// terminal and there is more than one step.
    pub fn new(len: u64, what: &str) -> Bar {
        if !stderr_is_terminal() || len < 2 {
            return Bar {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} (eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar { bar }
    }

    /// A spinner with a message, on a terminal only.
    pub fn spinner(what: &str) -> Bar {
        if !stderr_is_terminal() {
            return Bar {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {msg}")
        {
            bar.set_style(style);
        }
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar { bar }
    }

    pub fn inc(&self) {
        self.bar.inc(1);
    }

    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    pub fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
