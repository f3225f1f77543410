//! Reading template files (or standard input, as `-`) with errors that name the file.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;

/// Reads `path`, or standard input when it is `-`.
pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buffer)
            .context("cannot read standard input")?;
        return Ok(buffer);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The name shown for `path` in diagnostics.
pub(crate) fn display_name(path: &Path, stdin_name: Option<&str>) -> String {
    if path.as_os_str() == "-" {
        stdin_name.unwrap_or("<stdin>").to_owned()
    } else {
        path.display().to_string()
    }
}
