//! SARIF 2.1.0 output (`--format sarif`), for code-scanning services and IDEs.
//!
//! One run; `tool.driver.rules` lists every code of the catalogue (stable `id`, PascalCase
//! `name`, summary, Markdown help, default level), and each result points at its rule by `ruleId`
//! and `ruleIndex`. `run.columnKind` is `utf16CodeUnits`: columns are 1-based UTF-16 code units,
//! end columns exclusive; regions also carry `byteOffset`/`byteLength`. `results` is always
//! present (`[]` for a clean run), and nothing but the document is written to stdout.

use parser::{CodeInfo, Diagnostic, Severity, SourceId, Sources, Span};
use serde_json::{Value, json};

use super::Report;

/// The schema URI written into the document.
const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The whole report as one SARIF log (pretty JSON with a final newline).
pub(crate) fn render(report: &Report) -> String {
    let catalogue = crate::commands::catalogue::all();
    let rules: Vec<Value> = catalogue.iter().map(|info| rule(info)).collect();
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| result(d, &report.sources, &catalogue))
        .collect();
    let artifacts: Vec<Value> = report
        .sources
        .iter()
        .map(|(_, file)| {
            json!({
                "location": { "uri": uri(&file.name) },
                "length": file.text.len(),
            })
        })
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tarsdock",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "utf16CodeUnits",
            "artifacts": artifacts,
            "results": results,
        }]
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_else(|_| String::from("{}"));
    out.push('\n');
    out
}

fn rule(info: &CodeInfo) -> Value {
    json!({
        "id": info.code.as_str(),
        "name": pascal_case(info.name),
        "shortDescription": { "text": info.summary },
        "fullDescription": { "text": info.summary },
        "help": {
            "text": info.explanation,
            "markdown": info.explanation,
        },
        "defaultConfiguration": { "level": level(info.severity) },
        "properties": { "tags": [info.name] },
    })
}

fn result(d: &Diagnostic, sources: &Sources, catalogue: &[&'static CodeInfo]) -> Value {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let mut value = json!({
        "ruleId": d.code.as_str(),
        "level": level(d.severity),
        "message": { "text": message },
        "locations": [location(sources, d.source, d.span, Some(&d.label))],
    });
    if let Some(index) = catalogue.iter().position(|info| info.code == d.code) {
        value["ruleIndex"] = json!(index);
    }
    if !d.related.is_empty() {
        let related: Vec<Value> = d
            .related
            .iter()
            .enumerate()
            .map(|(id, label)| {
                let mut location = location(sources, label.source, label.span, None);
                location["id"] = json!(id);
                location["message"] = json!({ "text": label.message });
                location
            })
            .collect();
        value["relatedLocations"] = json!(related);
    }
    value
}

fn location(sources: &Sources, source: SourceId, span: Span, label: Option<&str>) -> Value {
    let Some(file) = sources.get(source) else {
        return json!({ "physicalLocation": { "artifactLocation": { "uri": "" } } });
    };
    let start = file.line_col(span.start);
    let end = file.line_col(span.end);
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri(&file.name), "index": source.0 },
            "region": {
                "startLine": start.line,
                "startColumn": start.column_utf16,
                "endLine": end.line,
                "endColumn": end.column_utf16,
                "byteOffset": span.start,
                "byteLength": span.len(),
            }
        }
    });
    if let Some(label) = label.filter(|l| !l.is_empty()) {
        location["message"] = json!({ "text": label });
    }
    location
}

const fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// `hash-in-value` → `HashInValue`.
fn pascal_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect()
}

/// A URI reference for a file name: relative paths stay relative (code-scanning services
/// resolve them against the repository), absolute ones become `file://` URIs. Everything but
/// unreserved characters and `/` is percent-encoded.
fn uri(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    if name.starts_with('/') {
        out.push_str("file://");
    }
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_uris() {
        assert_eq!(pascal_case("hash-in-value"), "HashInValue");
        assert_eq!(uri("a b/c#.conf"), "a%20b/c%23.conf");
        assert_eq!(uri("/t/x.conf"), "file:///t/x.conf");
    }
}
