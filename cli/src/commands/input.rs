//! Reading template files (or standard input, as `-`) with errors that name the file.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;

/// Reads `path`, or standard input when it is `-`: at most one byte more than the parser
/// reads ([`parser::limits::MAX_INPUT`]), so that a larger input is refused by the parse
/// (TARS-S007) without being held in memory.
pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    let limit = parser::limits::MAX_INPUT as u64 + 1;
    let mut buffer = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buffer)
            .context("cannot read standard input")?;
        return Ok(buffer);
    }
    std::fs::File::open(path)
        .and_then(|file| file.take(limit).read_to_end(&mut buffer))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(buffer)
}

/// The name shown for `path` in diagnostics.
pub(crate) fn display_name(path: &Path, stdin_name: Option<&str>) -> String {
    if path.as_os_str() == "-" {
        stdin_name.unwrap_or("<stdin>").to_owned()
    } else {
        path.display().to_string()
    }
}
