//! JSON output (`--format json`): one versioned document per run. The schema is append-only:
//! fields may be added, none is removed, renamed or changes meaning without a new `version`.
//!
//! ```json
//! {"version": 1, "diagnostics": [{"file", "line", "column", "end_line", "end_column",
//!   "column_utf16", "end_column_utf16", "offset", "end_offset", "code", "rule", "severity",
//!   "message", "label", "help", "related": [{"file", "line", "column", "end_line",
//!   "end_column", "column_utf16", "end_column_utf16", "offset", "end_offset", "message"}]}]}
//! ```
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | `version` | integer | schema version, `1`; bumped only for an incompatible change |
//! | `diagnostics` | array | every finding, sorted by file, position, then code; `[]` when clean |
//! | `file` | string | the path as given on the command line (`--stdin-filename`, or `<stdin>`, for `-`) |
//! | `line`, `end_line` | integer | 1-based lines of the start and the end of the span |
//! | `column`, `end_column` | integer | 1-based columns in Unicode scalar values (an invalid UTF-8 byte counts one); the end is exclusive |
//! | `column_utf16`, `end_column_utf16` | integer | the same columns in UTF-16 code units (LSP positions are these minus one) |
//! | `offset`, `end_offset` | integer | byte offsets of the span, `end_offset` exclusive |
//! | `code` | string | stable code such as `TARS-S103` |
//! | `rule` | string | kebab-case rule name such as `hash-in-value` (`tarsdock explain` takes either) |
//! | `severity` | string | `error`, `warning` or `info`, after `tarsdock.toml` overrides |
//! | `message` | string | one line, lower case, no final period |
//! | `label` | string | what the span shows (may be empty) |
//! | `help` | string or null | how to fix it |
//! | `related` | array | secondary spans (such as the first definition of a duplicate key), each with its location and `message` |

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
