//! Checkstyle XML output (`--format checkstyle`), written with quick-xml, for CI tools that
//! read Checkstyle reports (Jenkins warnings-ng, reviewdog, GitLab converters).
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <checkstyle version="4.3">
//!   <file name="t.conf">
//!     <error line="3" column="13" severity="warning" message="…" source="tarsdock.TARS-S103"/>
//!   </file>
//! </checkstyle>
//! ```
//! Every linted file gets a `<file>` element, also when clean. Columns are 1-based Unicode
//! scalar values; severities are `error`, `warning` and `info`.
//!
//! XML 1.0 cannot carry most C0 control characters, not even as character references, so a
//! file name or message holding one (from the template) would make the report unreadable:
//! every control character is written as an escape (`\x1b`, [`parser::terminal`]), and the
//! two non-characters XML also excludes (U+FFFE, U+FFFF) as U+FFFD.

use std::io::Write as _;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};

use super::Report;

/// The whole report as one XML document (with a final newline).
///
/// # Errors
/// Only if writing into memory fails, which it does not; kept as a `Result` for quick-xml.
pub(crate) fn render(report: &Report) -> std::io::Result<String> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("checkstyle");
    root.push_attribute(("version", "4.3"));
    writer.write_event(Event::Start(root))?;
    for (id, file) in report.sources.iter() {
        let mut element = BytesStart::new("file");
        let name = xml_text(&file.name);
        element.push_attribute(("name", name.as_str()));
        let findings: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.source == id)
            .collect();
        if findings.is_empty() {
            writer.write_event(Event::Empty(element))?;
            continue;
        }
        writer.write_event(Event::Start(element))?;
        for d in findings {
            let at = file.line_col(d.span.start);
            let line = at.line.to_string();
            let column = at.column.to_string();
            let source = format!("tarsdock.{}", d.code);
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str(" (help: ");
                message.push_str(help);
                message.push(')');
            }
            let message = xml_text(&message);
            let mut error = BytesStart::new("error");
            error.push_attribute(("line", line.as_str()));
            error.push_attribute(("column", column.as_str()));
            error.push_attribute(("severity", d.severity.as_str()));
            error.push_attribute(("message", message.as_str()));
            error.push_attribute(("source", source.as_str()));
            writer.write_event(Event::Empty(error))?;
        }
        writer.write_event(Event::End(BytesEnd::new("file")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("checkstyle")))?;
    let mut bytes = writer.into_inner();
    bytes.write_all(b"\n")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `text` as XML 1.0 can carry it in an attribute.
fn xml_text(text: &str) -> String {
    parser::terminal::escape_controls(text)
        .chars()
        .map(|c| match c {
            '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_xml_cannot_carry_are_escaped() {
        assert_eq!(
            xml_text("a\x1b[2J\0b\u{ffff}\tc"),
            "a\\x1b[2J\\x00b\u{fffd}\tc"
        );
    }
}
