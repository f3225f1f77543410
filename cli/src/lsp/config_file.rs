//! An open `tarsdock.toml`: checked as the config file it is (invalid TOML, unknown fields,
//! bad severities or selectors, an index that cannot be read), never linted as a template.
//! Saving it re-reads the settings of every open template (see `did_save`).

use parser::LineIndex;
use tower_lsp_server::ls_types::{
    self as lsp, NumberOrString, Position, Range, TextDocumentContentChangeEvent, Uri,
};

use crate::config;

/// The text of an open config file.
pub(crate) struct Buffer {
    text: String,
}

impl Buffer {
    pub(crate) const fn new(text: String) -> Self {
        Self { text }
    }

    /// Applies `changes` in order (ranges refer to the text as changed so far).
    pub(crate) fn apply_changes(&mut self, changes: Vec<TextDocumentContentChangeEvent>) {
        for change in changes {
            match change.range {
                Some(range) => {
                    let start = self.offset(range.start);
                    let end = self.offset(range.end).max(start);
                    self.text.replace_range(start..end, &change.text);
                }
                None => self.text = change.text,
            }
        }
    }

    /// What `tarsdock lint` would refuse in this config, as diagnostics.
    pub(crate) fn diagnostics(&self, uri: &Uri) -> Vec<lsp::Diagnostic> {
        let path = uri
            .to_file_path()
            .map_or_else(|| config::FILE_NAME.into(), std::borrow::Cow::into_owned);
        config::check_text(&self.text, &path)
            .into_iter()
            .map(|problem| {
                let range = problem.range.map_or_else(Range::default, |r| Range {
                    start: self.position(r.start),
                    end: self.position(r.end),
                });
                lsp::Diagnostic {
                    range,
                    severity: Some(lsp::DiagnosticSeverity::ERROR),
                    code: Some(NumberOrString::String("config".to_owned())),
                    source: Some("tarsdock".to_owned()),
                    message: problem.message,
                    ..lsp::Diagnostic::default()
                }
            })
            .collect()
    }

    fn index(&self) -> LineIndex {
        LineIndex::new(self.text.as_bytes())
    }

    fn offset(&self, position: Position) -> usize {
        let Some(start) = self.index().line_start(position.line as usize) else {
            return self.text.len();
        };
        let line = self.text.get(start as usize..).unwrap_or_default();
        let mut units = 0;
        let mut bytes = 0;
        for c in line.chars() {
            if units >= position.character || c == '\n' {
                break;
            }
            units += u32::try_from(c.len_utf16()).unwrap_or(2);
            bytes += c.len_utf8();
        }
        start as usize + bytes
    }

    fn position(&self, offset: usize) -> Position {
        let offset = u32::try_from(offset.min(self.text.len())).unwrap_or(u32::MAX);
        super::document::lsp_position(self.index().line_col(self.text.as_bytes(), offset))
    }
}
