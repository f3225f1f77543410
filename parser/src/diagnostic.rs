//! The diagnostic model shared by every stage: codes, severities, labelled spans, sources.
//!
//! Rendering (terminal, JSON, SARIF, …) is not done here; the `cli` crate owns output formats.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::span::{LineCol, LineIndex, Span};

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }

    /// Parses `info`, `warning` or `error` (as written in config files and flags).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "info" => Some(Self::Info),
            "warning" | "warn" => Some(Self::Warning),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable diagnostic code such as `TARS-S001`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DiagnosticCode(pub &'static str);

impl DiagnosticCode {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Documentation of one code: what `tarsdock explain` and `tarsdock rules` print.
///
/// Each stage keeps a catalogue (`&'static [CodeInfo]`) next to the constructors of its
/// diagnostics, so a code, its wording and its documentation live in one place.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CodeInfo {
    pub code: DiagnosticCode,
    /// Kebab-case rule name, named after the pattern it flags.
    pub name: &'static str,
    pub severity: Severity,
    /// One line, lower case, no final period.
    pub summary: &'static str,
    /// Markdown with the headings `What it does`, `Why is this bad?`, `Example`.
    pub explanation: &'static str,
}

/// Identifies a source file in a [`Sources`] set. `SourceId::MAIN` (0) is the file being
/// parsed when no set is involved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SourceId(pub u32);

impl SourceId {
    pub const MAIN: Self = Self(0);
}

/// A secondary location that explains the primary one (e.g. the first definition of a key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub source: SourceId,
    pub span: Span,
    pub message: String,
}

/// One finding: code, severity, message, a primary span with its label, related spans, help.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: DiagnosticCode,
    pub severity: Severity,
    pub message: String,
    pub source: SourceId,
    pub span: Span,
    pub label: String,
    pub related: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    #[must_use]
    pub fn new(code: DiagnosticCode, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            source: SourceId::MAIN,
            span: Span::default(),
            label: String::new(),
            related: Vec::new(),
            help: None,
        }
    }

    /// A diagnostic with the default severity of `info`.
    #[must_use]
    pub fn from_code(info: &CodeInfo, message: impl Into<String>) -> Self {
        Self::new(info.code, info.severity, message)
    }

    #[must_use]
    pub fn with_label(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = span;
        self.label = label.into();
        self
    }

    #[must_use]
    pub fn with_related(
        mut self,
        source: SourceId,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        self.related.push(Label {
            source,
            span,
            message: message.into(),
        });
        self
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn with_source(mut self, source: SourceId) -> Self {
        self.source = source;
        self
    }

    /// Moves the primary and every related label that point at `SourceId::MAIN` to `source`.
    pub fn relocate(&mut self, source: SourceId) {
        if self.source == SourceId::MAIN {
            self.source = source;
        }
        for label in &mut self.related {
            if label.source == SourceId::MAIN {
                label.source = source;
            }
        }
    }

    /// Sort key used by every stage: file, position, then code.
    #[must_use]
    pub fn sort_key(&self) -> (SourceId, u32, u32, DiagnosticCode) {
        (self.source, self.span.start, self.span.end, self.code)
    }
}

/// One source file: its display name and bytes, with a lazily built line index.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<[u8]>,
    line_index: OnceLock<LineIndex>,
}

impl SourceFile {
    #[must_use]
    pub fn new(name: impl Into<String>, text: impl Into<Arc<[u8]>>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
            line_index: OnceLock::new(),
        }
    }

    #[must_use]
    pub fn line_index(&self) -> &LineIndex {
        self.line_index.get_or_init(|| LineIndex::new(&self.text))
    }

    #[must_use]
    pub fn line_col(&self, offset: u32) -> LineCol {
        self.line_index().line_col(&self.text, offset)
    }

    /// The text with every byte of an invalid UTF-8 sequence replaced by `?`, so that byte
    /// offsets stay valid for renderers that need `str` (GBK text shows as `??`).
    #[must_use]
    pub fn display_text(&self) -> String {
        match std::str::from_utf8(&self.text) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                let mut out = String::with_capacity(self.text.len());
                for chunk in self.text.utf8_chunks() {
                    out.push_str(chunk.valid());
                    out.extend(std::iter::repeat_n('?', chunk.invalid().len()));
                }
                out
            }
        }
    }
}

/// The set of files one run looks at (a template and its chain, a profile, …).
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id. The first file added gets `SourceId::MAIN`.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<[u8]>>) -> SourceId {
        let id = SourceId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile::new(name, text));
        id
    }

    #[must_use]
    pub fn get(&self, id: SourceId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = (SourceId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (SourceId(u32::try_from(i).unwrap_or(u32::MAX)), f))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Declares a family of diagnostic codes: one `CodeInfo` constant per code (with its
/// documentation) and a `CATALOGUE` slice listing them in order.
///
/// ```text
/// parser::define_codes! {
///     NAME = "TARS-X001", "kebab-name", Error, "one-line summary", "markdown explanation";
/// }
/// ```
#[macro_export]
macro_rules! define_codes {
    ($($ident:ident = $code:literal, $name:literal, $sev:ident, $summary:literal, $doc:literal;)*) => {
        $(
            #[doc = $summary]
            pub const $ident: $crate::CodeInfo = $crate::CodeInfo {
                code: $crate::DiagnosticCode($code),
                name: $name,
                severity: $crate::Severity::$sev,
                summary: $summary,
                explanation: $doc,
            };
        )*
        /// All parser codes, in code order.
        pub const CATALOGUE: &[$crate::CodeInfo] = &[$($ident),*];
    };
}

/// A [`Diagnostic`] seen through [`miette::Diagnostic`], with its source file attached: code,
/// severity, message, the primary label and every related label in the same file, help.
/// Related labels in other files (a parent template, an index) are listed after the help, with
/// their file and position, since a miette report shows one source.
///
/// This is the library face of the diagnostic model, for Rust callers that render or collect
/// findings with miette (an editor plugin, a node agent embedding `lowering`). tarsdock's own
/// human format does not go through it: miette's graphical handler rescans the source from the
/// start for every label and cannot window a long line (`cli/src/render/human.rs` says more).
#[derive(Debug)]
pub struct MietteView {
    code: DiagnosticCode,
    severity: Severity,
    message: String,
    source: Option<miette::NamedSource<Arc<[u8]>>>,
    labels: Vec<miette::LabeledSpan>,
    help: Option<String>,
}

impl Diagnostic {
    /// This diagnostic as a [`miette::Diagnostic`], with its source file from `sources`.
    #[must_use]
    pub fn to_miette(&self, sources: &Sources) -> MietteView {
        let file = sources.get(self.source);
        let mut labels = Vec::with_capacity(1 + self.related.len());
        let mut elsewhere = Vec::new();
        if file.is_some() {
            labels.push(miette::LabeledSpan::new_primary_with_span(
                (!self.label.is_empty()).then(|| self.label.clone()),
                self.span,
            ));
        }
        for related in &self.related {
            if related.source == self.source && file.is_some() {
                labels.push(miette::LabeledSpan::new_with_span(
                    Some(related.message.clone()),
                    related.span,
                ));
            } else if let Some(other) = sources.get(related.source) {
                let at = other.line_col(related.span.start);
                elsewhere.push(format!(
                    "{}:{}:{}: {}",
                    other.name, at.line, at.column, related.message
                ));
            } else {
                elsewhere.push(related.message.clone());
            }
        }
        let help = match (&self.help, elsewhere.is_empty()) {
            (help, true) => help.clone(),
            (None, false) => Some(elsewhere.join("\n")),
            (Some(help), false) => Some(format!("{help}\n{}", elsewhere.join("\n"))),
        };
        MietteView {
            code: self.code,
            severity: self.severity,
            message: self.message.clone(),
            source: file.map(|f| miette::NamedSource::new(f.name.clone(), Arc::clone(&f.text))),
            labels,
            help,
        }
    }
}

impl fmt::Display for MietteView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteView {}

impl miette::Diagnostic for MietteView {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}
