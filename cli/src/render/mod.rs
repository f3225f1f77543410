//! Output formats for diagnostics: one file per format.

pub(crate) mod checkstyle;
pub(crate) mod concise;
pub(crate) mod github;
pub(crate) mod human;
pub(crate) mod json;
pub(crate) mod sarif;

use std::collections::BTreeMap;

use parser::{Diagnostic, Severity, SourceId, Sources};

/// Most findings shown per file, in every format (README "Limits"): past it a report is no
/// longer read by anyone, and rendering it costs time and memory.
pub(crate) const MAX_FINDINGS_SHOWN: usize = parser::limits::MAX_FINDINGS;

/// The diagnostics of one run with the sources they point into.
pub(crate) struct Report {
    pub(crate) sources: Sources,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Findings not shown, per file: past the parser's bound or [`MAX_FINDINGS_SHOWN`].
    pub(crate) omitted: BTreeMap<SourceId, usize>,
}

impl Report {
    pub(crate) fn new() -> Self {
        Self {
            sources: Sources::new(),
            diagnostics: Vec::new(),
            omitted: BTreeMap::new(),
        }
    }

    /// A report of `diagnostics` over `sources`, nothing omitted yet.
    pub(crate) fn with(sources: Sources, diagnostics: Vec<Diagnostic>) -> Self {
        Self {
            sources,
            diagnostics,
            omitted: BTreeMap::new(),
        }
    }

    /// Counts `count` findings of `source` that its parse did not record.
    pub(crate) fn omitted_by_parse(&mut self, source: SourceId, count: usize) {
        if count > 0 {
            *self.omitted.entry(source).or_default() += count;
        }
    }

    /// Keeps the first [`MAX_FINDINGS_SHOWN`] findings of each file (in their order) and
    /// counts the rest as omitted.
    pub(crate) fn cap(&mut self) {
        let mut per_file: BTreeMap<SourceId, usize> = BTreeMap::new();
        let omitted = &mut self.omitted;
        self.diagnostics.retain(|d| {
            let shown = per_file.entry(d.source).or_default();
            if *shown < MAX_FINDINGS_SHOWN {
                *shown += 1;
                true
            } else {
                *omitted.entry(d.source).or_default() += 1;
                false
            }
        });
    }

    pub(crate) fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// Whether any finding is at or above `level`.
    pub(crate) fn fails(&self, level: Severity) -> bool {
        self.diagnostics.iter().any(|d| d.severity >= level)
    }

    /// One line for stderr: `found 2 errors, 1 warning in 3 files`.
    pub(crate) fn summary(&self) -> String {
        self.summary_of(self.sources.len())
    }

    /// [`Report::summary`] for `n_files` linted files (the sources may also hold the files of
    /// their chains).
    pub(crate) fn summary_of(&self, n_files: usize) -> String {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        let files = plural(n_files, "file");
        if self.diagnostics.is_empty() {
            return format!("no findings in {files}");
        }
        let omitted: usize = self.omitted.values().sum();
        let not_shown = if omitted == 0 {
            String::new()
        } else {
            format!(" ({omitted} more not shown)")
        };
        format!(
            "found {}, {}, {} in {files}{not_shown}",
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            plural(self.count(Severity::Info), "info"),
        )
    }
}

/// Output format of diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// rustc-style report with the lines around each finding (coloured on a terminal).
    Human,
    /// One line per finding: `file:line:col: severity[code] message`.
    Concise,
    /// Versioned JSON document (see README "Output formats").
    Json,
    /// SARIF 2.1.0 log, for code-scanning services and IDEs.
    Sarif,
    /// GitHub Actions annotations (`::error file=…,line=…::message`).
    Github,
    /// Checkstyle XML.
    Checkstyle,
}

/// Colour choice for human output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}
