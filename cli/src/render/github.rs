//! GitHub Actions workflow commands (`--format github`): one annotation per finding.
//!
//! ```text
//! ::warning file=t.conf,line=3,col=13,endLine=3,endColumn=23,title=TARS-S103 (hash-in-value)::message
//! ```
//! `error` and `warning` map to `::error` and `::warning`, `info` to `::notice`. Columns are
//! 1-based Unicode scalar values, end columns exclusive. The message carries the label and the
//! help on further lines. Values are escaped as the Actions runner expects (`%`, CR, LF, and in
//! properties also `:` and `,`), after every other control character of the template or file
//! name is escaped ([`parser::terminal`]): the runner prints annotations into the log, where an
//! escape sequence would act on whoever reads it.

use std::fmt::Write as _;

use parser::Severity;

use super::Report;

/// One line per finding.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    for d in &report.diagnostics {
        let at = super::json::locate(&report.sources, d.source, d.span);
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let rule = crate::commands::catalogue::find(d.code.as_str()).map_or("", |c| c.name);
        let title = if rule.is_empty() {
            d.code.to_string()
        } else {
            format!("{} ({rule})", d.code)
        };
        let mut message = d.message.clone();
        if !d.label.is_empty() {
            message.push('\n');
            message.push_str(&d.label);
        }
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            property(&at.file),
            at.line,
            at.column,
            at.end_line,
            at.end_column,
            property(&title),
            data(&message),
        );
    }
    out
}

/// Escapes a message (the part after `::`).
fn data(s: &str) -> String {
    parser::terminal::escape_controls(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=`, `title=`).
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(data("50% a\nb"), "50%25 a%0Ab");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(data("a\x1b[2Jb\u{9b}c\rd"), "a\\x1b[2Jb\\u{9b}c\\x0dd");
    }
}
