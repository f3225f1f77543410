//! Suppression comments: `# tarsdock: ignore CODE[,CODE…] reason` hides the listed findings on
//! the next line that is neither blank nor a comment; `# tarsdock: file-ignore CODE… reason`
//! hides them in the whole file.
//!
//! Codes are full codes (`TARS-S103`) or rule names (`hash-in-value`), separated by commas;
//! whatever follows them is the reason. TC_Config comments are whole lines starting with `#`,
//! so upstream (and every Tars reader) ignores these lines.
//!
//! The comments police themselves with the `TARS-L` family: a suppression without a reason
//! (`TARS-L001`), one that suppresses nothing although its code is enabled (`TARS-L002`), and one
//! that is malformed or names an unknown or unsuppressible code (`TARS-L003`). Syntax errors that
//! make upstream refuse the template cannot be suppressed, nor can the `TARS-L` codes.

use std::collections::HashMap;

use parser::{Diagnostic, LineKind, Parse, SourceId, Span};

use crate::codes::lint as codes;
use crate::selection::{self, Selection};

/// The marker that starts a directive, after `#` and optional whitespace.
const MARKER: &[u8] = b"tarsdock:";

/// Removes the findings that `parse`'s suppression comments hide and adds the `TARS-L`
/// findings about the comments themselves. Only findings in the template itself
/// ([`SourceId::MAIN`]) can be suppressed.
#[must_use]
pub fn apply(
    parse: &Parse,
    diagnostics: Vec<Diagnostic>,
    selection: &Selection,
) -> Vec<Diagnostic> {
    let mut found = Directives::collect(parse);
    if found.directives.is_empty() && found.problems.is_empty() {
        return diagnostics;
    }
    let mut kept = Vec::with_capacity(diagnostics.len());
    for diagnostic in diagnostics {
        if !found.suppress(parse, &diagnostic) {
            kept.push(diagnostic);
        }
    }
    kept.append(&mut found.problems);
    for directive in &found.directives {
        if directive.reason.is_none() {
            let named: Vec<&str> = directive.codes.iter().map(|e| e.code.as_str()).collect();
            kept.push(codes::suppression_without_reason(
                directive.span,
                directive.scope.verb(),
                &named.join(","),
            ));
        }
        for entry in &directive.codes {
            if !entry.used && selection.is_enabled(entry.code) {
                kept.push(codes::unused_suppression(
                    entry.span,
                    entry.code.as_str(),
                    directive.scope == Scope::File,
                ));
            }
        }
    }
    kept
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// The line that starts at this offset.
    Line(u32),
    File,
}

impl Scope {
    const fn verb(self) -> &'static str {
        match self {
            Self::Line(_) => "ignore",
            Self::File => "file-ignore",
        }
    }
}

#[derive(Debug)]
struct Entry {
    code: parser::DiagnosticCode,
    span: Span,
    used: bool,
}

#[derive(Debug)]
struct Directive {
    scope: Scope,
    /// The comment, trimmed.
    span: Span,
    codes: Vec<Entry>,
    reason: Option<Span>,
}

struct Directives {
    directives: Vec<Directive>,
    /// Line start offset → indices of the line directives that target it.
    by_line: HashMap<u32, Vec<usize>>,
    /// Findings about malformed directives.
    problems: Vec<Diagnostic>,
}

impl Directives {
    fn collect(parse: &Parse) -> Self {
        let source = parse.source();
        let mut directives = Vec::new();
        let mut by_line: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut problems = Vec::new();
        // Line directives waiting for the next line that is neither blank nor a comment.
        let mut pending: Vec<usize> = Vec::new();
        for line in &parse.tree.lines {
            match line.kind {
                LineKind::Blank => {}
                LineKind::Comment => {
                    let text = source.get(line.content.range()).unwrap_or_default();
                    if let Some(directive) = read_directive(text, line.content, &mut problems) {
                        let index = directives.len();
                        if directive.scope != Scope::File {
                            pending.push(index);
                        }
                        directives.push(directive);
                    }
                }
                _ => {
                    for index in pending.drain(..) {
                        if let Some(directive) = directives.get_mut(index) {
                            directive.scope = Scope::Line(line.full.start);
                        }
                        by_line.entry(line.full.start).or_default().push(index);
                    }
                }
            }
        }
        // Line directives at the end of the file have nothing to apply to.
        for index in pending.iter().rev() {
            if *index < directives.len() {
                let directive = directives.remove(*index);
                problems.push(codes::invalid_suppression(
                    directive.span,
                    "this suppression has no line after it",
                    "nothing follows this comment",
                    "put the comment directly above the line it is about",
                ));
            }
        }
        Self {
            directives,
            by_line,
            problems,
        }
    }

    /// Whether a directive hides `diagnostic`; marks the directive's code as used.
    fn suppress(&mut self, parse: &Parse, diagnostic: &Diagnostic) -> bool {
        if diagnostic.source != SourceId::MAIN || !selection::is_configurable(diagnostic.code) {
            return false;
        }
        let mut hit = false;
        for directive in &mut self.directives {
            if directive.scope == Scope::File {
                hit |= directive.mark(diagnostic.code);
            }
        }
        if !self.by_line.is_empty()
            && let Some(start) = line_start(parse, diagnostic.span.start)
            && let Some(indices) = self.by_line.get(&start)
        {
            for &index in indices {
                if let Some(directive) = self.directives.get_mut(index) {
                    hit |= directive.mark(diagnostic.code);
                }
            }
        }
        hit
    }
}

impl Directive {
    fn mark(&mut self, code: parser::DiagnosticCode) -> bool {
        let mut hit = false;
        for entry in &mut self.codes {
            if entry.code == code {
                entry.used = true;
                hit = true;
            }
        }
        hit
    }
}

/// The start offset of the line holding `offset`.
fn line_start(parse: &Parse, offset: u32) -> Option<u32> {
    let lines = &parse.tree.lines;
    let index = lines.partition_point(|line| line.full.end <= offset);
    lines
        .get(index)
        .or_else(|| lines.last())
        .map(|line| line.full.start)
}

/// Reads a `# tarsdock: …` comment (`text` is the trimmed comment at `span`). Returns `None`
/// for ordinary comments and for malformed directives (which are reported in `problems`).
/// A line directive is returned with a placeholder scope, fixed once its line is known.
fn read_directive(text: &[u8], span: Span, problems: &mut Vec<Diagnostic>) -> Option<Directive> {
    let mut cursor = Cursor { text, pos: 1 };
    cursor.skip_space();
    if !cursor.rest().starts_with(MARKER) {
        return None;
    }
    cursor.pos += MARKER.len();
    cursor.skip_space();
    let verb_start = cursor.pos;
    let verb = cursor.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
    let scope = match verb {
        b"ignore" => Scope::Line(0),
        b"file-ignore" => Scope::File,
        _ => {
            let at = if verb.is_empty() {
                span
            } else {
                span.sub(verb_start, cursor.pos)
            };
            problems.push(codes::invalid_suppression(
                at,
                format!(
                    "unknown suppression directive `{}`",
                    String::from_utf8_lossy(verb)
                ),
                "expected `ignore` or `file-ignore`",
                "write `# tarsdock: ignore CODE reason` or `# tarsdock: file-ignore CODE reason`",
            ));
            return None;
        }
    };
    cursor.skip_space();
    if cursor.peek() == Some(b'=') {
        cursor.pos += 1;
        cursor.skip_space();
    }
    let mut entries = Vec::new();
    let mut saw_token = false;
    loop {
        let start = cursor.pos;
        let token = cursor.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if token.is_empty() {
            break;
        }
        saw_token = true;
        let token_span = span.sub(start, cursor.pos);
        let name = String::from_utf8_lossy(token);
        match selection::find_exact(&name) {
            None => problems.push(codes::invalid_suppression(
                token_span,
                format!("`{name}` is not a code or rule name"),
                "unknown code",
                "`tarsdock rules` lists every code and rule name",
            )),
            Some(info)
                if !selection::is_configurable(info.code)
                    || info.code.as_str().starts_with("TARS-L") =>
            {
                problems.push(codes::invalid_suppression(
                    token_span,
                    format!("{} cannot be suppressed", info.code),
                    "this code is always reported",
                    "fix the template instead",
                ));
            }
            Some(info) => entries.push(Entry {
                code: info.code,
                span: token_span,
                used: false,
            }),
        }
        let before_comma = cursor.pos;
        cursor.skip_space();
        if cursor.peek() == Some(b',') {
            cursor.pos += 1;
            cursor.skip_space();
        } else {
            cursor.pos = before_comma;
            break;
        }
    }
    if entries.is_empty() {
        // Named codes that were all invalid are already reported one by one.
        if !saw_token {
            problems.push(codes::invalid_suppression(
                span,
                format!("`{}` names no code", scope.verb()),
                "expected a code or rule name",
                "write `# tarsdock: ignore CODE reason`",
            ));
        }
        return None;
    }
    cursor.skip_space();
    // Allow `-- reason` or `: reason` as a visual separator.
    while matches!(cursor.peek(), Some(b'-' | b':')) {
        cursor.pos += 1;
    }
    cursor.skip_space();
    let reason = (cursor.pos < text.len()).then(|| span.sub(cursor.pos, text.len()));
    Some(Directive {
        scope,
        span,
        codes: entries,
        reason,
    })
}

struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.text.get(start..self.pos).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<(String, String)> {
        let parse = parser::parse(text.as_bytes().to_vec());
        let diagnostics = apply(&parse, parse.diagnostics.clone(), &Selection::default());
        diagnostics
            .iter()
            .map(|d| (d.code.as_str().to_owned(), text[d.span.range()].to_owned()))
            .collect()
    }

    #[test]
    fn line_suppression_hides_next_line_only() {
        let found =
            run("<t>\n# tarsdock: ignore TARS-S103 shell text\n\n# note\na=1 # x\nb=2 # y\n</t>\n");
        assert_eq!(found, vec![("TARS-S103".to_owned(), "# y".to_owned())]);
    }

    #[test]
    fn rule_names_and_lists() {
        let found = run(
            "<t>\n# tarsdock: ignore=hash-in-value, duplicate-key -- both on purpose\na=1 # x\na=2\n</t>\n",
        );
        // The duplicate is reported on the second `a`, so `duplicate-key` is unused here.
        assert_eq!(
            found,
            vec![
                ("TARS-S104".to_owned(), "a=2".to_owned()),
                ("TARS-L002".to_owned(), "duplicate-key".to_owned()),
            ]
        );
    }

    #[test]
    fn file_suppression_and_missing_reason() {
        let found = run("# tarsdock: file-ignore TARS-S103\n<t>\na=1 # x\nb=2 # y\n</t>\n");
        assert_eq!(
            found,
            vec![(
                "TARS-L001".to_owned(),
                "# tarsdock: file-ignore TARS-S103".to_owned()
            )]
        );
    }

    #[test]
    fn invalid_directives() {
        let found = run(
            "<t>\n# tarsdock: ignore TARS-S999 typo\n# tarsdock: ignore TARS-S001 no\n# tarsdock: skip x\na=1\n</t>\n# tarsdock: ignore TARS-S103 end\n",
        );
        let codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, vec!["TARS-L003"; 4], "{found:?}");
    }

    #[test]
    fn ordinary_comments_are_left_alone() {
        assert!(run("<t>\n# tarsdock is great\n#tarsdock\na=1\n</t>\n").is_empty());
    }
}
