//! Fixes for findings, shared by the language server's quick fixes and `tarsdock lint --fix`.
//!
//! A fix is computed from a finding's code, span and the template text (diagnostics carry no
//! edits): the repair a rule's help describes where it is unambiguous, and a suppression
//! comment for any finding that may be suppressed. Every fix is then *checked* before it is
//! offered ([`Checker`]): applied to the text, parsed and linted again, it must remove the
//! finding it is for, add no finding (a suppression trades its finding for exactly one
//! `suppression-without-reason`, until the user writes the reason), and leave a template that
//! upstream accepted still accepted. A fix that fails the check is never shown, so no quick
//! fix and no `--fix` can break a template, whatever the repair code gets wrong.

use std::collections::HashMap;

use lowering::codes::lint as lint_codes;
use lowering::lint::LintOptions;
use parser::errors as syntax;
use parser::{Diagnostic, DiagnosticCode, Line, LineKind, Parse, SourceId, Span};

/// One fix: a title and byte-span edits of the text (non-overlapping, any order).
#[derive(Clone, Debug)]
pub(crate) struct Fix {
    pub(crate) title: String,
    pub(crate) edits: Vec<Edit>,
    /// The fix an editor applies for "fix all" and `lint --fix` applies: the repair, never a
    /// suppression or a mere deletion of text the user may still want.
    pub(crate) preferred: bool,
    pub(crate) kind: Kind,
}

/// What a fix does about its finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Changes the template so the finding is gone.
    Repair,
    /// Inserts a suppression comment (without a reason: the user must say why).
    Suppress,
}

/// Replace the bytes of `span` by `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) span: Span,
    pub(crate) text: Vec<u8>,
}

impl Edit {
    fn new(span: Span, text: impl Into<Vec<u8>>) -> Self {
        Self {
            span,
            text: text.into(),
        }
    }
}

/// A template's text and its parse, as the fixes read them.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) text: &'a [u8],
    pub(crate) parse: &'a Parse,
}

impl<'a> Source<'a> {
    fn slice(self, span: Span) -> &'a [u8] {
        self.text.get(span.range()).unwrap_or_default()
    }

    /// `span`'s text for a title: lossy, controls escaped.
    fn shown(self, span: Span) -> String {
        parser::terminal::escape_lossy(self.slice(span)).into_owned()
    }

    fn lines(self) -> &'a [Line] {
        &self.parse.tree.lines
    }

    /// The index of the syntax line holding `offset` (the last line for the end of the text).
    fn line_index(self, offset: u32) -> Option<usize> {
        let lines = self.lines();
        let i = lines.partition_point(|line| line.full.end <= offset);
        if i < lines.len() {
            Some(i)
        } else {
            lines.len().checked_sub(1)
        }
    }

    fn line_at(self, offset: u32) -> Option<&'a Line> {
        self.lines().get(self.line_index(offset)?)
    }

    /// Leading whitespace of `line`.
    fn indent(self, line: &Line) -> Vec<u8> {
        self.slice(Span::new(line.full.start, line.content.start))
            .to_vec()
    }

    /// The line ending used by `line` (`\r\n` or `\n`).
    fn newline(self, line: &Line) -> &'static [u8] {
        if self.slice(line.full).ends_with(b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        }
    }

    /// The close line that closes the open tag on line `open_index`: the first close tag after
    /// it at the same depth (upstream closes by position, not by name).
    fn closing(self, open_index: usize) -> Option<&'a Line> {
        let open = self.lines().get(open_index)?;
        self.lines()
            .get(open_index + 1..)?
            .iter()
            .find(|l| {
                l.depth <= open.depth && !matches!(l.kind, LineKind::Blank | LineKind::Comment)
            })
            .filter(|l| matches!(l.kind, LineKind::Close { .. }) && l.depth == open.depth)
    }
}

/// Every fix for finding `d`, unchecked (see [`Checker`]).
pub(crate) fn candidates(src: Source<'_>, d: &Diagnostic) -> Vec<Fix> {
    let mut out = Vec::new();
    if d.source != SourceId::MAIN {
        return out;
    }
    let code = d.code;
    if code == syntax::HASH_IN_VALUE.code {
        out.extend(move_note_above(src, d));
    } else if code == syntax::PADDED_TAG_NAME.code {
        out.extend(trim_tag_name(src, d));
    } else if code == syntax::TEXT_AFTER_TAG.code || code == syntax::SEVERAL_TAGS_ON_LINE.code {
        out.extend(ignored_text_to_comment(src, d));
        if code == syntax::SEVERAL_TAGS_ON_LINE.code {
            out.extend(split_tag_line(src, d));
        }
        out.extend(remove_ignored_text(src, d));
    } else if code == syntax::MISMATCHED_CLOSE_TAG.code {
        out.extend(rename_close_tag(src, d));
    } else if code == syntax::UNCLOSED_DOMAIN.code {
        out.extend(close_at_end(src, d));
    } else if code == syntax::INVALID_ESCAPE.code {
        out.push(Fix {
            title: "Escape the backslash (`\\\\`)".to_owned(),
            edits: vec![Edit::new(Span::empty(d.span.start), b"\\".to_vec())],
            preferred: true,
            kind: Kind::Repair,
        });
    } else if code == syntax::DUPLICATE_KEY.code {
        out.extend(remove_overridden(src, d));
    } else if code == syntax::XML_STYLE_TAG.code {
        out.extend(xml_style_tag(src, d));
    } else if code == syntax::UNMATCHED_CLOSE_TAG.code {
        out.extend(src.line_at(d.span.start).map(|line| Fix {
            title: "Remove this close tag".to_owned(),
            edits: vec![Edit::new(line.full, Vec::new())],
            preferred: false,
            kind: Kind::Repair,
        }));
    } else if code == lint_codes::UNUSED_SUPPRESSION.code {
        out.extend(remove_suppression_code(src, d));
    } else if code == lowering::codes::macros::UNKNOWN_MACRO.code {
        out.extend(use_suggested_macro(src, d));
    }
    out.extend(suppress(src, d));
    out
}

/// The text with `edits` applied.
pub(crate) fn apply(text: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = Vec::with_capacity(text.len() + 64);
    let mut at = 0usize;
    for edit in sorted {
        let start = (edit.span.start as usize).clamp(at, text.len());
        let end = (edit.span.end as usize).clamp(start, text.len());
        out.extend_from_slice(&text[at..start]);
        out.extend_from_slice(&edit.text);
        at = end;
    }
    out.extend_from_slice(&text[at..]);
    out
}

/// What a template's findings were before a fix: the fix is checked against it.
pub(crate) struct Checker<'a> {
    options: &'a LintOptions,
    /// `(code, message)` of every finding, with its count.
    before: HashMap<(DiagnosticCode, &'a str), usize>,
    upstream_accepts: bool,
}

impl<'a> Checker<'a> {
    /// `diagnostics` are the findings of `parse` under `options`.
    pub(crate) fn new(
        parse: &Parse,
        diagnostics: &'a [Diagnostic],
        options: &'a LintOptions,
    ) -> Self {
        Self {
            options,
            before: counts(diagnostics.iter().filter(|d| d.source == SourceId::MAIN)),
            upstream_accepts: parse.upstream_error.is_none(),
        }
    }

    /// Whether `fix`, applied to `text`, removes finding `d` and adds none, and keeps the
    /// template accepted upstream if it was.
    pub(crate) fn accepts(&self, text: &[u8], d: &Diagnostic, fix: &Fix) -> bool {
        let fixed = apply(text, &fix.edits);
        let parse = parser::parse(fixed);
        if self.upstream_accepts && parse.upstream_error.is_some() {
            return false;
        }
        let after_diagnostics = lowering::lint::check_template(&parse, self.options);
        let after = counts(after_diagnostics.iter());
        let target = (d.code, d.message.as_str());
        let before_target = self.before.get(&target).copied().unwrap_or(0);
        if after.get(&target).copied().unwrap_or(0) >= before_target {
            return false;
        }
        let mut allowance = match fix.kind {
            Kind::Repair => 0,
            // The comment has no reason yet: one `suppression-without-reason`, by design.
            Kind::Suppress => 1,
        };
        for (key, &n) in &after {
            let had = self.before.get(key).copied().unwrap_or(0);
            if n > had {
                if key.0 == lint_codes::SUPPRESSION_WITHOUT_REASON.code && n - had <= allowance {
                    allowance -= n - had;
                    continue;
                }
                return false;
            }
        }
        true
    }

    /// Whether the whole of `fixed` (several fixes applied) adds no finding, removes at least
    /// one, and keeps the template accepted upstream if it was.
    pub(crate) fn accepts_text(&self, fixed: &[u8]) -> Option<(Parse, Vec<Diagnostic>)> {
        let parse = parser::parse(fixed.to_vec());
        if self.upstream_accepts && parse.upstream_error.is_some() {
            return None;
        }
        let diagnostics = lowering::lint::check_template(&parse, self.options);
        let better = {
            let after = counts(diagnostics.iter());
            let grew = after
                .iter()
                .any(|(key, &n)| n > self.before.get(key).copied().unwrap_or(0));
            let total_before: usize = self.before.values().sum();
            let total_after: usize = after.values().sum();
            !grew && total_after < total_before
        };
        better.then_some((parse, diagnostics))
    }
}

fn counts<'d>(
    diagnostics: impl Iterator<Item = &'d Diagnostic>,
) -> HashMap<(DiagnosticCode, &'d str), usize> {
    let mut out = HashMap::new();
    for d in diagnostics {
        *out.entry((d.code, d.message.as_str())).or_insert(0) += 1;
    }
    out
}

/// The checked fixes for finding `d` of `src`.
pub(crate) fn checked(src: Source<'_>, checker: &Checker<'_>, d: &Diagnostic) -> Vec<Fix> {
    candidates(src, d)
        .into_iter()
        .filter(|fix| checker.accepts(src.text, d, fix))
        .collect()
}

/// The outcome of [`fix_all`].
pub(crate) struct FixedText {
    pub(crate) text: Vec<u8>,
    /// How many fixes were applied.
    pub(crate) applied: usize,
}

/// Applies the preferred repairs of every finding, as `lint --fix` does: in rounds (a fix can
/// make room for another), each round's non-overlapping fixes at once when the result passes
/// the check as a whole, else one checked fix at a time. Stops when a round applies nothing.
pub(crate) fn fix_all(text: &[u8], options: &LintOptions) -> FixedText {
    /// Enough for any chain of fixes that enable each other; bounds the work on any input.
    const MAX_ROUNDS: usize = 32;
    let mut current = text.to_vec();
    let mut parse = parser::parse(current.clone());
    let mut diagnostics = lowering::lint::check_template(&parse, options);
    let mut applied = 0;
    for _ in 0..MAX_ROUNDS {
        let src = Source {
            text: &current,
            parse: &parse,
        };
        let checker = Checker::new(&parse, &diagnostics, options);
        let mut chosen: Vec<Fix> = Vec::new();
        let mut taken: Vec<Span> = Vec::new();
        for d in &diagnostics {
            let Some(fix) = candidates(src, d)
                .into_iter()
                .find(|f| f.preferred && f.kind == Kind::Repair)
            else {
                continue;
            };
            if fix
                .edits
                .iter()
                .any(|e| taken.iter().any(|t| touches(*t, e.span)))
            {
                continue;
            }
            taken.extend(fix.edits.iter().map(|e| e.span));
            chosen.push(fix);
        }
        if chosen.is_empty() {
            break;
        }
        let all: Vec<Edit> = chosen
            .iter()
            .flat_map(|f| f.edits.iter().cloned())
            .collect();
        let batch = apply(&current, &all);
        let next = if let Some(found) = checker.accepts_text(&batch) {
            applied += chosen.len();
            Some((batch, found))
        } else {
            // Some fix of the batch is wrong here (or two of them clash): keep each one that
            // passes together with those kept before it.
            let mut kept: Vec<Edit> = Vec::new();
            let mut result = None;
            for fix in &chosen {
                let mut edits = kept.clone();
                edits.extend(fix.edits.iter().cloned());
                let fixed = apply(&current, &edits);
                if let Some(found) = checker.accepts_text(&fixed) {
                    kept = edits;
                    applied += 1;
                    result = Some((fixed, found));
                }
            }
            result
        };
        let Some((fixed, (fixed_parse, fixed_diagnostics))) = next else {
            break;
        };
        current = fixed;
        parse = fixed_parse;
        diagnostics = fixed_diagnostics;
    }
    FixedText {
        text: current,
        applied,
    }
}

/// Whether two edit spans overlap or touch (two insertions at one offset would be ordered
/// arbitrarily).
fn touches(a: Span, b: Span) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// `a=1 # note` → `# note` on its own line above `a=1`.
fn move_note_above(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let line = src.line_at(d.span.start)?;
    let note = src.slice(d.span);
    let before = src.slice(Span::new(line.content.start, d.span.start));
    let kept = u32::try_from(before.trim_ascii_end().len()).ok()?;
    let cut = Span::new(line.content.start + kept, d.span.end);
    let mut comment = src.indent(line);
    comment.extend_from_slice(note);
    comment.extend_from_slice(src.newline(line));
    Some(Fix {
        title: format!("Move `{}` to a comment line above", src.shown(d.span)),
        edits: vec![
            Edit::new(Span::empty(line.full.start), comment),
            Edit::new(cut, Vec::new()),
        ],
        preferred: true,
        kind: Kind::Repair,
    })
}

/// `< t >` → `<t>`, and its close tag `</ t >` (which closes it upstream) → `</t>`.
fn trim_tag_name(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let raw = src.slice(d.span);
    let trimmed = raw.trim_ascii();
    let mut edits = vec![Edit::new(d.span, trimmed.to_vec())];
    let open_index = src.line_index(d.span.start)?;
    if let Some(Line {
        kind: LineKind::Close { name, .. },
        ..
    }) = src.closing(open_index)
        && src.slice(*name) == raw
    {
        edits.push(Edit::new(*name, trimmed.to_vec()));
    }
    Some(Fix {
        title: format!("Write `<{}>`", parser::terminal::escape_lossy(trimmed)),
        edits,
        preferred: true,
        kind: Kind::Repair,
    })
}

/// The gap between the tag and the ignored text `d.span` on its line, and the line.
fn ignored_text<'a>(src: Source<'a>, d: &Diagnostic) -> Option<(&'a Line, Span)> {
    let line = src.line_at(d.span.start)?;
    let kept = src
        .slice(Span::new(line.content.start, d.span.start))
        .trim_ascii_end()
        .len();
    let gap = Span::new(line.content.start + u32::try_from(kept).ok()?, d.span.start);
    Some((line, gap))
}

/// The indentation of a line inside the domain `line` opens (or beside `line` otherwise).
fn inner_indent(src: Source<'_>, line: &Line) -> Vec<u8> {
    let mut indent = src.indent(line);
    if matches!(line.kind, LineKind::Open { .. }) {
        indent.extend_from_slice(b"  ");
    }
    indent
}

/// `<t> # note`, `<t> <!-- note -->`, `</t> text` → the tag alone, and the text upstream
/// ignores on a `#` comment line below it: nothing changes for upstream, nothing is lost.
fn ignored_text_to_comment(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let (line, gap) = ignored_text(src, d)?;
    let rest = src.slice(d.span);
    let note: Vec<u8> = if rest.starts_with(b"#") {
        rest.to_vec()
    } else if let Some(inner) = rest
        .strip_prefix(b"<!--")
        .and_then(|r| r.strip_suffix(b"-->"))
    {
        [b"# ".as_slice(), inner.trim_ascii()].concat()
    } else {
        [b"# ".as_slice(), rest].concat()
    };
    let mut text = src.newline(line).to_vec();
    text.extend(inner_indent(src, line));
    text.extend_from_slice(&note);
    Some(Fix {
        title: format!("Move `{}` to a comment line below", src.shown(d.span)),
        edits: vec![Edit::new(Span::new(gap.start, d.span.end), text)],
        preferred: true,
        kind: Kind::Repair,
    })
}

/// `<a><b>` → `<a>` and `<b>` on the next line (offered only where the check finds the result
/// balanced: upstream ignores `<b>` today, so its close tag must already be there).
fn split_tag_line(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let (line, gap) = ignored_text(src, d)?;
    let mut text = src.newline(line).to_vec();
    text.extend(inner_indent(src, line));
    Some(Fix {
        title: format!("Move `{}` to its own line", src.shown(d.span)),
        edits: vec![Edit::new(gap, text)],
        preferred: false,
        kind: Kind::Repair,
    })
}

/// Removes the text upstream ignores after a tag.
fn remove_ignored_text(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let (_, gap) = ignored_text(src, d)?;
    Some(Fix {
        title: format!("Remove `{}`, which upstream ignores", src.shown(d.span)),
        edits: vec![Edit::new(Span::new(gap.start, d.span.end), Vec::new())],
        preferred: false,
        kind: Kind::Repair,
    })
}

/// `</sever>` closing `<server>` → `</server>`.
fn rename_close_tag(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let open = d.related.first()?;
    let LineKind::Open {
        name: open_name, ..
    } = src.line_at(open.span.start)?.kind
    else {
        return None;
    };
    let LineKind::Close { name, .. } = src.line_at(d.span.start)?.kind else {
        return None;
    };
    // Upstream matches a close tag against the open tag's trimmed name.
    let wanted = src.slice(open_name).trim_ascii();
    Some(Fix {
        title: format!("Write `</{}>`", parser::terminal::escape_lossy(wanted)),
        edits: vec![Edit::new(name, wanted.to_vec())],
        preferred: true,
        kind: Kind::Repair,
    })
}

/// Adds `</name>` at the end of the file.
fn close_at_end(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let line = src.line_at(d.span.start)?;
    let LineKind::Open { name, .. } = line.kind else {
        return None;
    };
    let end = u32::try_from(src.text.len()).ok()?;
    let newline = src.newline(line);
    let mut text = Vec::new();
    if !src.text.is_empty() && !src.text.ends_with(b"\n") {
        text.extend_from_slice(newline);
    }
    text.extend(src.indent(line));
    text.extend_from_slice(b"</");
    text.extend_from_slice(src.slice(name));
    text.extend_from_slice(b">");
    text.extend_from_slice(newline);
    Some(Fix {
        title: format!("Add `</{}>` at the end of the file", src.shown(name)),
        edits: vec![Edit::new(Span::empty(end), text)],
        preferred: false,
        kind: Kind::Repair,
    })
}

/// Removes the earlier line of a key that is set twice (the later value wins anyway).
fn remove_overridden(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let previous = d.related.first()?;
    let line = src.line_at(previous.span.start)?;
    Some(Fix {
        title: format!("Remove the overridden line `{}`", src.shown(line.content)),
        edits: vec![Edit::new(line.full, Vec::new())],
        preferred: true,
        kind: Kind::Repair,
    })
}

/// `<!-- note -->` → `# note` (and the `</!-- note -->` that closes it, if any, removed);
/// `<name/>` … `</name/>` → `<name>` … `</name>`.
fn xml_style_tag(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let open_index = src.line_index(d.span.start)?;
    let line = src.lines().get(open_index)?;
    let LineKind::Open { name, .. } = line.kind else {
        return None;
    };
    let raw = src.slice(name);
    let close = src.closing(open_index).and_then(|l| match l.kind {
        LineKind::Close {
            name: close_name, ..
        } if src.slice(close_name) == raw => Some((l, close_name)),
        _ => None,
    });
    if let Some(inner) = src
        .slice(line.content)
        .strip_prefix(b"<!--")
        .and_then(|r| r.strip_suffix(b"-->"))
    {
        let mut edits = vec![Edit::new(
            line.content,
            [b"# ".as_slice(), inner.trim_ascii()].concat(),
        )];
        if let Some((close_line, _)) = close {
            edits.push(Edit::new(close_line.full, Vec::new()));
        }
        return Some(Fix {
            title: "Turn the XML comment into a `#` comment".to_owned(),
            edits,
            preferred: true,
            kind: Kind::Repair,
        });
    }
    let trimmed = raw.trim_ascii();
    let bare = trimmed.strip_suffix(b"/")?.trim_ascii_end();
    if bare.is_empty() {
        return None;
    }
    let mut edits = vec![Edit::new(name, bare.to_vec())];
    if let Some((_, close_name)) = close {
        edits.push(Edit::new(close_name, bare.to_vec()));
    }
    Some(Fix {
        title: format!("Write `<{}>`", parser::terminal::escape_lossy(bare)),
        edits,
        preferred: true,
        kind: Kind::Repair,
    })
}

/// Removes an unused code from its suppression comment, or the whole comment if it was the
/// only code.
fn remove_suppression_code(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let line = src.line_at(d.span.start)?;
    let after = src
        .text
        .get(d.span.end as usize..line.content.end as usize)?;
    let before = src
        .text
        .get(line.content.start as usize..d.span.start as usize)?;
    let code = src.shown(d.span);
    let after_trimmed = after.trim_ascii_start();
    let span = if after_trimmed.starts_with(b",") {
        let skip = after.len() - after_trimmed.len() + 1;
        let rest = after.get(skip..)?;
        let spaces = rest.len() - rest.trim_ascii_start().len();
        Span::new(
            d.span.start,
            d.span.end + u32::try_from(skip + spaces).ok()?,
        )
    } else if before.trim_ascii_end().ends_with(b",") {
        let comma = u32::try_from(before.trim_ascii_end().len() - 1).ok()?;
        Span::new(line.content.start + comma, d.span.end)
    } else {
        return Some(Fix {
            title: "Remove the unused suppression comment".to_owned(),
            edits: vec![Edit::new(line.full, Vec::new())],
            preferred: true,
            kind: Kind::Repair,
        });
    };
    Some(Fix {
        title: format!("Remove `{code}` from the suppression comment"),
        edits: vec![Edit::new(span, Vec::new())],
        preferred: true,
        kind: Kind::Repair,
    })
}

/// `${logpth}` → `${logpath}`, the macro the finding's "did you mean" names.
fn use_suggested_macro(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    let name = src.slice(d.span).strip_prefix(b"${")?.strip_suffix(b"}")?;
    let suggestion = lowering::macros::suggest(std::str::from_utf8(name).ok()?)?;
    Some(Fix {
        title: format!("Write `${{{suggestion}}}`"),
        edits: vec![Edit::new(d.span, format!("${{{suggestion}}}").into_bytes())],
        preferred: true,
        kind: Kind::Repair,
    })
}

/// `# tarsdock: ignore CODE` above the finding's line. No reason is written: the comment is
/// then reported as `suppression-without-reason` until one is added.
fn suppress(src: Source<'_>, d: &Diagnostic) -> Option<Fix> {
    if !suppressible(d.code) {
        return None;
    }
    let line = src.line_at(d.span.start)?;
    let mut comment = src.indent(line);
    comment.extend_from_slice(format!("# tarsdock: ignore {}", d.code).as_bytes());
    comment.extend_from_slice(src.newline(line));
    Some(Fix {
        title: format!("Suppress {} on this line (then say why)", d.code),
        edits: vec![Edit::new(Span::empty(line.full.start), comment)],
        preferred: false,
        kind: Kind::Suppress,
    })
}

fn suppressible(code: DiagnosticCode) -> bool {
    lowering::selection::is_configurable(code) && !code.as_str().starts_with("TARS-L")
}
