//! Concise output (`--format concise`): one line per finding,
//! `file:line:col: severity[code] message`, as compilers and ruff print them.
//!
//! The file name and message come from the template (keys, tag names, macro names) and the
//! command line: their control characters are escaped ([`parser::terminal`]) so that a
//! template cannot drive the terminal it is linted in. Columns are 1-based Unicode scalar
//! values, as in every other format.

use std::fmt::Write as _;

use parser::terminal::escape_controls;
use parser::{Diagnostic, Sources};

use super::Report;

/// One line per finding, then one per file whose findings passed the bound (README
/// "Limits").
pub(crate) fn render(report: &Report) -> String {
    let mut out: String = report
        .diagnostics
        .iter()
        .map(|d| line(d, &report.sources))
        .collect();
    for (source, count) in &report.omitted {
        let name = report
            .sources
            .get(*source)
            .map_or_else(|| "<unknown>".into(), |f| escape_controls(&f.name));
        let _ = writeln!(out, "{name}: {count} more findings not shown");
    }
    out
}

/// The line of one finding, with its newline.
pub(crate) fn line(d: &Diagnostic, sources: &Sources) -> String {
    let mut line = String::new();
    match sources.get(d.source) {
        Some(file) => {
            let at = file.line_col(d.span.start);
            let _ = write!(
                line,
                "{}:{}:{}: ",
                escape_controls(&file.name),
                at.line,
                at.column
            );
        }
        None => line.push_str("<unknown>: "),
    }
    // One line per finding: a newline in a message (from the template) is shown escaped.
    let message = escape_controls(&d.message).replace('\n', "\\n");
    let _ = writeln!(line, "{}[{}] {message}", d.severity, d.code);
    line
}
