//! One open template in the language server: its text, its analysis, and the conversions
//! between byte spans and LSP positions (UTF-16 code units).
//!
//! This is the per-keystroke path: an edit is applied to the text, which is parsed and linted
//! again in full through [`lowering::lint::check_template`] (the same call as `tarsdock lint`).
//! The file depends only on `parser`, `lowering` and the LSP types, so the benchmark
//! (`cli/benches/lint.rs`) includes it as it is.

use lowering::lint::LintOptions;
use parser::{Diagnostic, LineCol, LineIndex, Parse, Severity, SourceId, Span};
use tower_lsp_server::ls_types::{
    self as lsp, DiagnosticRelatedInformation, DiagnosticTag, Location, NumberOrString, Position,
    Range, TextDocumentContentChangeEvent, Uri,
};

/// An open template and what the linter found in it.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) text: String,
    pub(crate) version: i32,
    pub(crate) parse: Parse,
    pub(crate) index: LineIndex,
    /// Findings in this text, sorted by position.
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Document {
    pub(crate) fn new(text: String, version: i32, options: &LintOptions) -> Self {
        let parse = parser::parse(text.as_bytes());
        let index = LineIndex::from_lines(text.as_bytes(), &parse.tree.lines);
        let diagnostics = check(&parse, options);
        Self {
            text,
            version,
            parse,
            index,
            diagnostics,
        }
    }

    /// The edit that formats the document as `tarsdock fmt` does: `None` when it has errors
    /// (`fmt` leaves such a file alone), no edit when it is formatted already.
    pub(crate) fn formatted(&self) -> Option<Vec<lsp::TextEdit>> {
        if self.parse.has_errors() {
            return None;
        }
        let formatted = String::from_utf8(parser::fmt::format(&self.parse).ok()?).ok()?;
        if formatted == self.text {
            return Some(Vec::new());
        }
        let end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        Some(vec![lsp::TextEdit {
            range: self.range(Span::new(0, end)),
            new_text: formatted,
        }])
    }

    /// Applies `changes` in order (ranges refer to the text as changed so far), then lints.
    pub(crate) fn apply_changes(
        &mut self,
        changes: Vec<TextDocumentContentChangeEvent>,
        version: i32,
        options: &LintOptions,
    ) {
        let n_changes = changes.len();
        for (i, change) in changes.into_iter().enumerate() {
            match change.range {
                Some(range) => {
                    let start = self.offset(range.start) as usize;
                    let end = (self.offset(range.end) as usize).max(start);
                    self.text.replace_range(start..end, &change.text);
                }
                None => self.text = change.text,
            }
            // Positions of the next change refer to the text after this one.
            if i + 1 < n_changes {
                self.index = LineIndex::new(self.text.as_bytes());
            }
        }
        self.version = version;
        self.relint(options);
    }

    /// Parses and lints the current text again.
    pub(crate) fn relint(&mut self, options: &LintOptions) {
        // `&[u8]` goes straight into the parse's `Arc<[u8]>`: one copy, not two.
        self.parse = parser::parse(self.text.as_bytes());
        self.index = LineIndex::from_lines(self.text.as_bytes(), &self.parse.tree.lines);
        self.diagnostics = check(&self.parse, options);
    }

    /// The LSP diagnostics of this document.
    pub(crate) fn lsp_diagnostics(&self, uri: &Uri) -> Vec<lsp::Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.source == SourceId::MAIN)
            .map(|d| self.to_lsp(d, uri))
            .collect()
    }

    /// One finding as an LSP diagnostic.
    pub(crate) fn to_lsp(&self, d: &Diagnostic, uri: &Uri) -> lsp::Diagnostic {
        let related: Vec<DiagnosticRelatedInformation> = d
            .related
            .iter()
            .filter(|label| label.source == SourceId::MAIN)
            .map(|label| DiagnosticRelatedInformation {
                location: Location {
                    uri: uri.clone(),
                    range: self.range(label.span),
                },
                message: label.message.clone(),
            })
            .collect();
        lsp_diagnostic(d, uri, self.range(d.span), None, related)
    }

    /// The LSP range of `span`.
    pub(crate) fn range(&self, span: Span) -> Range {
        Range {
            start: self.position(span.start),
            end: self.position(span.end),
        }
    }

    /// The LSP position (0-based line, UTF-16 column) of byte `offset`.
    pub(crate) fn position(&self, offset: u32) -> Position {
        lsp_position(self.index.line_col(self.text.as_bytes(), offset))
    }

    /// The byte offset of an LSP position, clamped to the line and the text.
    pub(crate) fn offset(&self, position: Position) -> u32 {
        let text_len = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        let Some(start) = self.index.line_start(position.line as usize) else {
            return text_len;
        };
        let line = self.text.get(start as usize..).unwrap_or_default();
        let mut units = 0u32;
        let mut bytes = 0usize;
        for c in line.chars() {
            if units >= position.character || c == '\n' {
                break;
            }
            units += u32::try_from(c.len_utf16()).unwrap_or(2);
            bytes += c.len_utf8();
        }
        start + u32::try_from(bytes).unwrap_or(0)
    }

    /// The bytes of `span`.
    pub(crate) fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or_default()
    }

    /// The syntax line holding `offset` (the last line for the end of the text).
    pub(crate) fn line_at(&self, offset: u32) -> Option<&parser::Line> {
        let lines = &self.parse.tree.lines;
        let i = lines.partition_point(|line| line.full.end <= offset);
        lines.get(i).or_else(|| lines.last())
    }
}

/// The LSP diagnostic of finding `d` shown at `range` of document `uri`, with `related`
/// information. `place` (where the finding really is, when `range` is elsewhere) goes into the
/// message. The help is not part of the message (editors show the message inline, where one
/// line is all there is room for): it is the first related information, at the finding.
pub(crate) fn lsp_diagnostic(
    d: &Diagnostic,
    uri: &Uri,
    range: Range,
    place: Option<&str>,
    mut related: Vec<DiagnosticRelatedInformation>,
) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(place) = place {
        message.push_str(" (");
        message.push_str(place);
        message.push(')');
    }
    if let Some(help) = &d.help {
        related.insert(
            0,
            DiagnosticRelatedInformation {
                location: Location {
                    uri: uri.clone(),
                    range,
                },
                message: format!("help: {help}"),
            },
        );
    }
    lsp::Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
            Severity::Info => lsp::DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_owned())),
        code_description: None,
        source: Some("tarsdock".to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        // Unused suppressions can be deleted: editors show them faded.
        tags: (d.code == lowering::codes::lint::UNUSED_SUPPRESSION.code)
            .then(|| vec![DiagnosticTag::UNNECESSARY]),
        data: None,
    }
}

/// The LSP position (0-based line, UTF-16 column) of a 1-based line and column.
pub(crate) const fn lsp_position(at: LineCol) -> Position {
    Position {
        line: at.line.saturating_sub(1),
        character: at.column_utf16.saturating_sub(1),
    }
}

fn check(parse: &Parse, options: &LintOptions) -> Vec<Diagnostic> {
    lowering::lint::check_template(parse, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(range: Option<(u32, u32, u32, u32)>, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: range.map(|(l1, c1, l2, c2)| Range {
                start: Position::new(l1, c1),
                end: Position::new(l2, c2),
            }),
            range_length: None,
            text: text.to_owned(),
        }
    }

    #[test]
    fn positions_count_utf16_units() {
        let doc = Document::new("a=😀x\nb=1\n".to_owned(), 1, &LintOptions::default());
        let x = u32::try_from(doc.text.find('x').unwrap()).unwrap();
        assert_eq!(doc.position(x), Position::new(0, 4));
        assert_eq!(doc.offset(Position::new(0, 4)), x);
        assert_eq!(doc.offset(Position::new(0, 99)), x + 1);
        assert_eq!(doc.offset(Position::new(9, 0)), doc.text.len() as u32);
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let options = LintOptions::default();
        let mut doc = Document::new("<t>\na=1\n</t>\n".to_owned(), 1, &options);
        doc.apply_changes(
            vec![
                change(Some((1, 2, 1, 3)), "22"),
                change(Some((0, 0, 0, 0)), "# x\n"),
            ],
            2,
            &options,
        );
        assert_eq!(doc.text, "# x\n<t>\na=22\n</t>\n");
        assert!(doc.diagnostics.is_empty());
        doc.apply_changes(vec![change(None, "<t>\n")], 3, &options);
        assert_eq!(doc.diagnostics.len(), 1);
        assert_eq!(doc.version, 3);
    }
}
