//! Reading a finished command's output in tests: its exit code, its standard error, and its
//! standard output as one JSON document (failing loudly, with both streams, when it is not).

use std::process::Output;

/// The exit code, or `-1` when a signal ended the process.
#[must_use]
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Standard error as text (invalid UTF-8 replaced).
#[must_use]
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Standard output parsed as one JSON document.
///
/// # Panics
/// When it is not one, showing both streams.
#[must_use]
pub fn json_out(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    })
}
