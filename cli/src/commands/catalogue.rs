//! Every diagnostic code of every stage, for `explain`, `rules` and the output formats.

use parser::CodeInfo;

/// All codes: parser (syntax) first, then lowering families.
pub(crate) fn all() -> Vec<&'static CodeInfo> {
    parser::errors::CATALOGUE
        .iter()
        .chain(lowering::codes::all())
        .chain(runtime::preflight::CATALOGUE)
        .collect()
}

/// The code `code` (case-insensitive), or by rule name.
pub(crate) fn find(code: &str) -> Option<&'static CodeInfo> {
    all()
        .into_iter()
        .find(|c| c.code.as_str().eq_ignore_ascii_case(code) || c.name == code)
}
