//! Exit codes, in one table, and the mapping of command results onto them.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success; no finding at or above the failure level |
//! | 1 | findings at or above the failure level (template errors) |
//! | 2 | usage, I/O or internal error |
//!
//! Runtime commands add their own classes (engine unreachable, image, …) by returning a
//! [`Failure`] error that carries its code.

use std::process::ExitCode;

/// What a command reports back to `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Success,
    Findings,
}

impl Status {
    pub(crate) const fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Findings => 1,
        }
    }
}

/// Usage, I/O or internal error.
pub(crate) const USAGE_OR_IO: u8 = 2;

/// Prints an error (with its causes) to stderr and maps the result to the exit code.
#[allow(clippy::print_stderr)]
pub(crate) fn finish(result: anyhow::Result<Status>) -> ExitCode {
    match result {
        Ok(status) => ExitCode::from(status.code()),
        Err(error) => {
            let code = error
                .downcast_ref::<Failure>()
                .map_or(USAGE_OR_IO, |f| f.code);
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

/// An error that carries its own exit code (runtime failure classes).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
