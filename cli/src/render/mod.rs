//! Output formats for diagnostics: one file per format.

pub(crate) mod checkstyle;
pub(crate) mod concise;
pub(crate) mod github;
pub(crate) mod human;
pub(crate) mod json;
pub(crate) mod sarif;

use parser::{Diagnostic, Severity, Sources};

/// The diagnostics of one run with the sources they point into.
pub(crate) struct Report {
    pub(crate) sources: Sources,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn new() -> Self {
        Self {
            sources: Sources::new(),
            diagnostics: Vec::new(),
        }
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
        format!(
            "found {}, {}, {} in {files}",
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            plural(self.count(Severity::Info), "info"),
        )
    }
}

/// Output format of diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// miette's graphical report (coloured on a terminal, plain otherwise).
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
