//! Human output: miette's graphical report per finding, and a concise one-line form.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use parser::terminal::escape_controls;
use parser::{Diagnostic, Severity, SourceId, Sources};

use super::Report;

/// Renders every diagnostic with miette's graphical handler. `color` picks the themed
/// (ANSI) or the plain Unicode theme; `width` wraps long lines.
pub(crate) fn render(report: &Report, color: bool, width: usize) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false)
        .with_context_lines(1);
    let mut out = String::new();
    for diagnostic in &report.diagnostics {
        let adapter = Adapter::new(diagnostic, &report.sources);
        if handler.render_report(&mut out, &adapter).is_err() {
            // Rendering into a String cannot fail; fall back to the concise line regardless.
            out.push_str(&super::concise::line(diagnostic, &report.sources));
        }
        out.push('\n');
    }
    out
}

/// A [`parser::Diagnostic`] seen through miette's `Diagnostic` trait, with its source text.
/// Related labels in the same file become secondary labels; those in other files become
/// related reports with their own source.
#[derive(Debug)]
struct Adapter<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    related: Vec<Adapter<'a>>,
    severity: miette::Severity,
    message: String,
}

impl<'a> Adapter<'a> {
    fn new(diagnostic: &'a Diagnostic, sources: &Sources) -> Self {
        let source = source_of(sources, diagnostic.source);
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(escape_controls(&diagnostic.label).into_owned()).filter(|l| !l.is_empty()),
            diagnostic.span,
        )];
        let mut related = Vec::new();
        // miette heads a report at its first snippet: a label in the same file, before the
        // primary and too far from it to share its snippet (one context line each side), is
        // shown as a related report, so the header names the finding, not the label.
        let line_of = |span: parser::Span| {
            sources
                .get(diagnostic.source)
                .map_or(0, |file| file.line_col(span.start).line)
        };
        let primary_line = line_of(diagnostic.span);
        for label in &diagnostic.related {
            if label.source == diagnostic.source
                && (label.span.start >= diagnostic.span.start
                    || primary_line - line_of(label.span) <= 3)
            {
                labels.push(LabeledSpan::new_with_span(
                    Some(escape_controls(&label.message).into_owned()),
                    label.span,
                ));
            } else {
                related.push(Self {
                    diagnostic,
                    source: if label.source == diagnostic.source {
                        source.clone()
                    } else {
                        source_of(sources, label.source)
                    },
                    labels: vec![LabeledSpan::new_primary_with_span(
                        Some(escape_controls(&label.message).into_owned()),
                        label.span,
                    )],
                    related: Vec::new(),
                    severity: miette::Severity::Advice,
                    message: label.message.clone(),
                });
            }
        }
        labels.sort_by_key(|l| l.offset());
        Self {
            diagnostic,
            source,
            labels,
            related,
            severity: severity(diagnostic.severity),
            message: diagnostic.message.clone(),
        }
    }
}

fn source_of(sources: &Sources, id: SourceId) -> NamedSource<String> {
    match sources.get(id) {
        Some(file) => NamedSource::new(
            escape_controls(&file.name),
            inert_source(file.display_text()),
        ),
        None => NamedSource::new("<unknown>", String::new()),
    }
}

/// The template text as the snippets show it: every character a terminal would act on
/// ([`parser::terminal::is_unsafe_char`]) replaced by one of the same UTF-8 length (`?`, `¿`,
/// `\u{fffd}`), so that byte spans still point where they did. A CR that ends a line stays.
fn inert_source(text: String) -> String {
    if !text.contains(parser::terminal::is_unsafe_char) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !parser::terminal::is_unsafe_char(c) || (c == '\r' && chars.peek() == Some(&'\n')) {
            out.push(c);
            continue;
        }
        out.push(match c.len_utf8() {
            1 => '?',
            2 => '\u{bf}',
            _ => '\u{fffd}',
        });
    }
    out
}

const fn severity(s: Severity) -> miette::Severity {
    match s {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
        Severity::Info => miette::Severity::Advice,
    }
}

impl std::fmt::Display for Adapter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&escape_controls(&self.message))
    }
}

impl std::error::Error for Adapter<'_> {}

impl miette::Diagnostic for Adapter<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        if self.severity == miette::Severity::Advice && !self.related.is_empty() {
            return Some(Box::new(self.diagnostic.code));
        }
        (self.message == self.diagnostic.message)
            .then(|| Box::new(self.diagnostic.code) as Box<dyn std::fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        if self.message != self.diagnostic.message {
            return None;
        }
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(escape_controls(h).into_owned()) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}
