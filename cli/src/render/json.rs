//! JSON output (`--format json`): a versioned document, append-only schema.
//!
//! ```json
//! {"version": 1, "diagnostics": [{"file", "code", "rule", "severity", "message", "label",
//!   "line", "column", "end_line", "end_column", "column_utf16", "end_column_utf16",
//!   "offset", "end_offset", "help", "related": [{"file", "message", "line", "column",
//!   "end_line", "end_column", "offset", "end_offset"}]}]}
//! ```
//! Lines and columns are 1-based; `column` counts Unicode scalar values, `column_utf16`
//! UTF-16 code units (for LSP clients); offsets are bytes.

use parser::{Diagnostic, SourceId, Sources, Span};
use serde::Serialize;

use super::Report;

/// Version of the JSON schema; bumped only for incompatible changes.
pub(crate) const VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Serialize)]
pub(crate) struct Location {
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) end_line: u32,
    pub(crate) end_column: u32,
    pub(crate) column_utf16: u32,
    pub(crate) end_column_utf16: u32,
    pub(crate) offset: u32,
    pub(crate) end_offset: u32,
}

/// The location of `span` in `source`, 1-based.
pub(crate) fn locate(sources: &Sources, source: SourceId, span: Span) -> Location {
    match sources.get(source) {
        Some(file) => {
            let start = file.line_col(span.start);
            let end = file.line_col(span.end);
            Location {
                file: file.name.clone(),
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                column_utf16: start.column_utf16,
                end_column_utf16: end.column_utf16,
                offset: span.start,
                end_offset: span.end,
            }
        }
        None => Location {
            file: String::new(),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
            column_utf16: 1,
            end_column_utf16: 1,
            offset: span.start,
            end_offset: span.end,
        },
    }
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    #[serde(flatten)]
    location: Location,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    #[serde(flatten)]
    location: Location,
    code: &'a str,
    rule: &'a str,
    severity: &'a str,
    message: &'a str,
    label: &'a str,
    help: Option<&'a str>,
    related: Vec<JsonRelated<'a>>,
}

fn convert<'a>(d: &'a Diagnostic, sources: &Sources) -> JsonDiagnostic<'a> {
    JsonDiagnostic {
        location: locate(sources, d.source, d.span),
        code: d.code.as_str(),
        rule: crate::commands::catalogue::find(d.code.as_str()).map_or("", |c| c.name),
        severity: d.severity.as_str(),
        message: &d.message,
        label: &d.label,
        help: d.help.as_deref(),
        related: d
            .related
            .iter()
            .map(|r| JsonRelated {
                location: locate(sources, r.source, r.span),
                message: &r.message,
            })
            .collect(),
    }
}

/// The whole report as one pretty JSON document (with a final newline).
pub(crate) fn render(report: &Report) -> String {
    let doc = Document {
        version: VERSION,
        diagnostics: report
            .diagnostics
            .iter()
            .map(|d| convert(d, &report.sources))
            .collect(),
    };
    let mut out = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"version\":{VERSION},\"error\":\"{e}\"}}"));
    out.push('\n');
    out
}

/// The diagnostics of `report` as a JSON array (the `diagnostics` member of the document), for
/// commands that embed them in their own output.
pub(crate) fn diagnostics_value(report: &Report) -> serde_json::Value {
    let list: Vec<JsonDiagnostic<'_>> = report
        .diagnostics
        .iter()
        .map(|d| convert(d, &report.sources))
        .collect();
    serde_json::to_value(list).unwrap_or_default()
}
