//! The edge where things reach the terminal: the one place that turns an error into output and
//! an exit code (1 for invalid input, 2 for usage and I/O errors), and notes on stderr.

use std::process::ExitCode;

use crate::diagnostic::{Interrupted, Invalid, Said, printable};

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--quiet` silences notes, `--verbose` adds details; errors are always printed.
pub(crate) fn set_verbosity(quiet: bool, verbose: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
    VERBOSE.store(verbose, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `--quiet` was given (no notes, no progress line).
pub(crate) fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// A note for the user on stderr (stdout carries only the product, so pipes stay clean).
pub(crate) fn note(message: impl std::fmt::Display) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("note: {message}");
    }
}

/// A detail only `--verbose` shows.
pub(crate) fn detail(message: impl std::fmt::Display) {
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("info: {message}");
    }
}

/// An error line and its hint, for a command that still exits on its own code (the product
/// was printed; this says why it is not what was wanted).
pub(crate) fn problem(message: impl std::fmt::Display, hint: impl std::fmt::Display) {
    eprintln!("error: {message}\n  = hint: {hint}");
}

/// The progress line `status` shows while daemons answer, where one may be drawn: on a
/// terminal, without `--quiet`.
pub(crate) fn progress() -> Option<fn(usize, usize)> {
    let drawn = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !quiet();
    drawn.then_some(progress_line)
}

/// Redraws the line; clears it once every daemon has answered or given up.
fn progress_line(done: usize, total: usize) {
    eprint!("\rasking {total} BuildKit daemons: {done} answered or gave up");
    if done == total {
        eprint!("\r\x1b[2K");
    }
}

/// Prints what a stage wanted said.
pub(crate) fn say(said: &[Said]) {
    for s in said {
        match s {
            Said::Note(message) => note(message),
            Said::Detail(message) => detail(message),
        }
    }
}

/// Prints `err` to stderr and picks the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if err.downcast_ref::<Interrupted>().is_some() {
        eprintln!();
        return ExitCode::from(130);
    }
    if let Some(invalid) = err.downcast_ref::<Invalid>() {
        eprintln!("{invalid}");
        return ExitCode::from(1);
    }
    eprintln!("error: {}", printable(&err.to_string()));
    for cause in err.chain().skip(1) {
        eprintln!("caused by: {}", printable(&cause.to_string()));
    }
    ExitCode::from(2)
}
