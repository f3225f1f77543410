//! Human output: a rustc-style report per finding (header, `-->` location, the lines around
//! the span with underlines, help).
//!
//! Rendered here rather than by miette's graphical handler, for three properties miette does
//! not have (issue 13, issue 17 items 5–6):
//! - **Linear.** Each finding costs the lines it shows, not the file: positions come from the
//!   file's [`LineIndex`](parser::LineIndex) (built once, with column checkpoints on long
//!   lines), where miette rescanned the source from the start for every label and needed a
//!   copy of the whole text per finding.
//! - **Windowed.** A line wider than the output is cut to a window around the span, marked
//!   `...` at each cut end, as rustc and ruff do; the header keeps the exact column.
//! - **Columns agree** with every other format: the header column counts characters (each
//!   byte of invalid UTF-8, e.g. GBK, counts one), never bytes; underlines are placed by
//!   display width (CJK characters are two cells wide).
//!
//! Untrusted text (template lines, names, messages) is shown, never acted on: control
//! characters go through [`parser::terminal`] (`\x1b`), invalid UTF-8 bytes are shown as
//! `\xNN`, a TAB as four spaces.

use std::fmt::Write as _;

use parser::terminal::{escape_controls, is_unsafe_char};
use parser::{Diagnostic, Severity, SourceFile, SourceId, Sources, Span};
use unicode_width::UnicodeWidthChar as _;

use super::Report;

/// Lines of context shown before and after each labelled line.
const CONTEXT: usize = 1;

/// Narrowest window for a line's text, whatever the requested width.
const MIN_TEXT_WIDTH: usize = 40;

/// Renders every diagnostic of `report`. `color` adds ANSI styles; `width` is the width of
/// the output in terminal cells (long lines are windowed to fit).
pub(crate) fn render(report: &Report, color: bool, width: usize) -> String {
    let paint = Paint { on: color };
    let mut out = String::new();
    for diagnostic in &report.diagnostics {
        write_diagnostic(&mut out, diagnostic, &report.sources, &paint, width);
        out.push('\n');
    }
    for (source, count) in &report.omitted {
        let name = report
            .sources
            .get(*source)
            .map_or_else(|| "<unknown>".into(), |f| one_line(&f.name));
        let _ = writeln!(
            out,
            "{}: {count} more finding{} in {name} not shown (tarsdock shows at most {} per \
             file)\n",
            paint.paint(NOTE, "note"),
            if *count == 1 { "" } else { "s" },
            super::MAX_FINDINGS_SHOWN,
        );
    }
    out
}

// ---- one finding ---------------------------------------------------------------------------

/// A label to draw: its span, text and whether it is the primary one.
struct Mark<'a> {
    span: Span,
    text: &'a str,
    primary: bool,
}

fn write_diagnostic(
    out: &mut String,
    d: &Diagnostic,
    sources: &Sources,
    paint: &Paint,
    width: usize,
) {
    let level = level_style(d.severity);
    let _ = writeln!(
        out,
        "{}{}",
        paint.paint(level, &format!("{}[{}]", d.severity, d.code)),
        paint.paint(BOLD, &format!(": {}", one_line(&d.message))),
    );
    // Labels grouped by file: the primary file first, then the others in order of appearance.
    let mut groups: Vec<(SourceId, Vec<Mark<'_>>)> = vec![(
        d.source,
        vec![Mark {
            span: d.span,
            text: &d.label,
            primary: true,
        }],
    )];
    for label in &d.related {
        let mark = Mark {
            span: label.span,
            text: &label.message,
            primary: false,
        };
        match groups.iter_mut().find(|(s, _)| *s == label.source) {
            Some((_, marks)) => marks.push(mark),
            None => groups.push((label.source, vec![mark])),
        }
    }
    // One gutter width for the whole finding: the widest line number shown.
    let gutter = groups
        .iter()
        .filter_map(|(source, marks)| {
            let file = sources.get(*source)?;
            marks
                .iter()
                .map(|m| file.line_col(m.span.start).line as usize + CONTEXT)
                .max()
        })
        .max()
        .unwrap_or(1)
        .to_string()
        .len();
    let pad = " ".repeat(gutter);
    let bar = paint.paint(GUTTER, "|");
    for (i, (source, marks)) in groups.iter_mut().enumerate() {
        marks.sort_by_key(|m| (m.span.start, !m.primary));
        let arrow = if i == 0 { "-->" } else { ":::" };
        let Some(file) = sources.get(*source) else {
            let _ = writeln!(out, "{pad}{} <unknown>", paint.paint(GUTTER, arrow));
            continue;
        };
        let anchor = marks.iter().find(|m| m.primary).unwrap_or(&marks[0]);
        let at = file.line_col(anchor.span.start);
        let _ = writeln!(
            out,
            "{pad}{} {}:{}:{}",
            paint.paint(GUTTER, arrow),
            one_line(&file.name),
            at.line,
            at.column
        );
        let _ = writeln!(out, "{pad} {bar}");
        Snippet {
            file,
            marks,
            gutter,
            text_width: width.saturating_sub(gutter + 3).max(MIN_TEXT_WIDTH),
            paint,
            level,
        }
        .write(out);
        let _ = writeln!(out, "{pad} {bar}");
    }
    if let Some(help) = &d.help {
        let _ = writeln!(
            out,
            "{pad} {} help: {}",
            paint.paint(GUTTER, "="),
            one_line(help)
        );
    }
}

/// The lines of one file that a finding shows.
struct Snippet<'a> {
    file: &'a SourceFile,
    marks: &'a [Mark<'a>],
    gutter: usize,
    /// Cells available for a line's text.
    text_width: usize,
    paint: &'a Paint,
    level: &'static str,
}

impl Snippet<'_> {
    fn write(&self, out: &mut String) {
        let index = self.file.line_index();
        let text: &[u8] = &self.file.text;
        // 0-based lines with a mark, and the lines shown around them (sorted, unique).
        let last_line = last_line(text, index);
        let mut shown: Vec<usize> = Vec::new();
        for mark in self.marks {
            let line = self.file.line_col(mark.span.start).line as usize - 1;
            let from = line.saturating_sub(CONTEXT);
            let to = (line + CONTEXT).min(last_line.max(line));
            shown.extend(from..=to);
        }
        shown.sort_unstable();
        shown.dedup();
        // Lines without a mark are windowed at the same place in the line as the main mark,
        // so that indentation-heavy context stays aligned with it.
        let main = self
            .marks
            .iter()
            .find(|m| m.primary)
            .unwrap_or(&self.marks[0]);
        let main_line = self.file.line_col(main.span.start).line as usize - 1;
        let main_column = (main.span.start as usize)
            .saturating_sub(index.line_start(main_line).unwrap_or(0) as usize);
        let bar = self.paint.paint(GUTTER, "|");
        let mut previous: Option<usize> = None;
        for &line in &shown {
            if previous.is_some_and(|p| line > p + 1) {
                let _ = writeln!(out, "{}", self.paint.paint(GUTTER, "..."));
            }
            previous = Some(line);
            let start = index.line_start(line).unwrap_or(0) as usize;
            let end = index
                .line_start(line + 1)
                .map_or(text.len(), |s| s as usize);
            let body = strip_newline(text, start, end);
            let on_line: Vec<&Mark<'_>> = self
                .marks
                .iter()
                .filter(|m| {
                    let s = m.span.start as usize;
                    s >= start && (s < end || (s == end && end == text.len()))
                })
                .collect();
            let anchor = on_line
                .iter()
                .find(|m| m.primary)
                .or(on_line.first())
                .map_or(body.0 + main_column, |m| m.span.start as usize)
                .clamp(body.0, body.1);
            let window = Window::around(text, body, anchor, self.text_width);
            let number = format!("{:>w$}", line + 1, w = self.gutter);
            let _ = writeln!(
                out,
                "{} {bar} {}",
                self.paint.paint(GUTTER, &number),
                window.shown
            );
            // Trim the trailing spaces `writeln!` leaves on an empty line.
            trim_line_end(out);
            for mark in on_line {
                self.write_underline(out, &window, mark);
            }
        }
    }

    fn write_underline(&self, out: &mut String, window: &Window, mark: &Mark<'_>) {
        let start = (mark.span.start as usize).clamp(window.from, window.to);
        let end = (mark.span.end as usize).clamp(start, window.to);
        let column = window.cells_before(start);
        let cells = window.cells_between(start, end).max(1);
        let (glyph, style) = if mark.primary {
            ("^", self.level)
        } else {
            ("-", GUTTER)
        };
        let line = format!(
            "{}{} {}",
            " ".repeat(column),
            glyph.repeat(cells),
            one_line(mark.text)
        );
        let _ = writeln!(
            out,
            "{} {} {}",
            " ".repeat(self.gutter),
            self.paint.paint(GUTTER, "|"),
            self.paint.paint(style, line.trim_end())
        );
    }
}

/// Text for one line of the report (a message, label, help or file name): control
/// characters escaped, and a line break or TAB in it (quoted template text, an XML reader's
/// message) shown as `\n` / `\t`, so that no finding can print a line of its own.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    let escaped = escape_controls(text);
    if !escaped.contains(['\n', '\t']) {
        return escaped;
    }
    std::borrow::Cow::Owned(escaped.replace('\n', "\\n").replace('\t', "\\t"))
}

/// The 0-based index of the last line worth showing: the final empty "line" after a trailing
/// newline is not.
fn last_line(text: &[u8], index: &parser::LineIndex) -> usize {
    let count = index.line_count();
    if count > 1 && text.ends_with(b"\n") {
        count - 2
    } else {
        count.saturating_sub(1)
    }
}

/// The line's byte range without its `\n` (and a `\r` before it).
fn strip_newline(text: &[u8], start: usize, end: usize) -> (usize, usize) {
    let mut e = end;
    if e > start && text.get(e - 1) == Some(&b'\n') {
        e -= 1;
    }
    if e > start && text.get(e - 1) == Some(&b'\r') {
        e -= 1;
    }
    (start, e)
}

fn trim_line_end(out: &mut String) {
    if out.ends_with('\n') {
        out.pop();
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    }
}

// ---- windows over long lines -----------------------------------------------------------------

/// What is shown of one line: the bytes `from..to` of the text (at character boundaries) as
/// display text, with `...` where the line was cut.
struct Window {
    from: usize,
    to: usize,
    shown: String,
    /// `(byte offset, cells before it in `shown`)` for every character shown, and the end.
    cells: Vec<(usize, usize)>,
}

impl Window {
    /// The part of the line `body` (a byte range of `text`) to show so that `anchor` is in
    /// view within `width` cells. Costs the window, not the line.
    fn around(text: &[u8], body: (usize, usize), anchor: usize, width: usize) -> Self {
        let (start, end) = body;
        // Does the whole line fit? Walk at most `width` cells to know.
        let fits = Glyphs::new(text, start, end)
            .scan(0usize, |cells, g| {
                *cells += g.width;
                Some(*cells)
            })
            .all(|cells| cells <= width);
        if fits {
            return Self::build(text, start, end, false, false, usize::MAX);
        }
        // A third of the window before the anchor, the rest after it.
        let before = width / 3;
        let mut from = anchor.saturating_sub(before * 4 + 4).max(start);
        while from < anchor && !is_boundary(text, from) {
            from += 1;
        }
        let lead: Vec<Glyph> = Glyphs::new(text, from, anchor).collect();
        let mut cells: usize = lead.iter().map(|g| g.width).sum();
        let mut skip = 0;
        while cells > before && skip < lead.len() {
            cells -= lead[skip].width;
            skip += 1;
        }
        let from = lead.get(skip).map_or(anchor, |g| g.at);
        let cut_start = from > start;
        let budget = width.saturating_sub(if cut_start { 2 * CUT.len() } else { CUT.len() });
        Self::build(text, from, end, cut_start, true, budget)
    }

    /// Shows `from..end` up to `budget` cells of text; `cut_start` puts `...` first, and
    /// `cut_end` puts `...` last if the line goes on.
    fn build(
        text: &[u8],
        from: usize,
        end: usize,
        cut_start: bool,
        cut_end: bool,
        budget: usize,
    ) -> Self {
        let mut shown = String::new();
        let mut cells = Vec::new();
        let lead = if cut_start { CUT.len() } else { 0 };
        shown.push_str(&CUT[..lead]);
        let mut used = 0;
        let mut to = from;
        let mut whole = true;
        for g in Glyphs::new(text, from, end) {
            if used + g.width > budget {
                whole = false;
                break;
            }
            cells.push((g.at, lead + used));
            g.push(&mut shown, text);
            used += g.width;
            to = g.at + g.len;
        }
        cells.push((to, lead + used));
        if cut_end && !whole {
            shown.push_str(CUT);
        }
        Self {
            from,
            to,
            shown,
            cells,
        }
    }

    /// Cells from the start of the shown text to byte `offset` (within the window).
    fn cells_before(&self, offset: usize) -> usize {
        let i = self.cells.partition_point(|&(at, _)| at <= offset);
        i.checked_sub(1).map_or(0, |i| self.cells[i].1)
    }

    fn cells_between(&self, from: usize, to: usize) -> usize {
        self.cells_before(to)
            .saturating_sub(self.cells_before(from))
    }
}

/// Marks a cut end of a windowed line.
const CUT: &str = "...";

/// Whether a character may start at byte `i` (see `parser::LineIndex`): not a continuation
/// byte, or no byte in the three before it can lead a sequence.
fn is_boundary(text: &[u8], i: usize) -> bool {
    let Some(&b) = text.get(i) else { return true };
    if !(0x80..0xC0).contains(&b) {
        return true;
    }
    text[i.saturating_sub(3)..i].iter().all(|&b| b < 0xC0)
}

/// One shown character: where it is, its length in bytes, its width in cells.
#[derive(Clone, Copy)]
struct Glyph {
    at: usize,
    len: usize,
    width: usize,
    /// `None` for a byte of invalid UTF-8.
    ch: Option<char>,
}

impl Glyph {
    fn push(&self, out: &mut String, text: &[u8]) {
        match self.ch {
            Some('\t') => out.push_str("    "),
            Some(c) if is_unsafe_char(c) => {
                out.push_str(&escape_controls(c.encode_utf8(&mut [0; 4])))
            }
            Some(c) => out.push(c),
            None => {
                let _ = write!(out, "\\x{:02x}", text[self.at]);
            }
        }
    }
}

/// The glyphs of `text[from..to]`: valid UTF-8 characters, and each byte of an invalid
/// sequence on its own (shown `\xNN`, counted as one column like every other format does).
struct Glyphs<'a> {
    text: &'a [u8],
    at: usize,
    to: usize,
}

impl<'a> Glyphs<'a> {
    fn new(text: &'a [u8], from: usize, to: usize) -> Self {
        let to = to.min(text.len());
        Self {
            text,
            at: from.min(to),
            to,
        }
    }
}

impl Iterator for Glyphs<'_> {
    type Item = Glyph;

    fn next(&mut self) -> Option<Glyph> {
        if self.at >= self.to {
            return None;
        }
        let rest = &self.text[self.at..self.to.min(self.at + 4)];
        let at = self.at;
        let glyph = match rest.utf8_chunks().next() {
            Some(chunk) if !chunk.valid().is_empty() => {
                let c = chunk.valid().chars().next().unwrap_or('\u{fffd}');
                // A zero-width character (a combining mark) counts one cell, so that a window
                // always holds a bounded number of bytes.
                let width = match c {
                    '\t' => 4,
                    c if is_unsafe_char(c) => escape_controls(c.encode_utf8(&mut [0; 4])).len(),
                    c => c.width().unwrap_or(0).max(1),
                };
                Glyph {
                    at,
                    len: c.len_utf8(),
                    width,
                    ch: Some(c),
                }
            }
            _ => Glyph {
                at,
                len: 1,
                width: 4,
                ch: None,
            },
        };
        self.at += glyph.len;
        Some(glyph)
    }
}

// ---- colours -------------------------------------------------------------------------------

const BOLD: &str = "\x1b[1m";
const GUTTER: &str = "\x1b[1;34m";
const NOTE: &str = "\x1b[1;32m";

const fn level_style(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "\x1b[1;31m",
        Severity::Warning => "\x1b[1;33m",
        Severity::Info => "\x1b[1;36m",
    }
}

/// ANSI styles when colour is on; the text as it is otherwise.
struct Paint {
    on: bool,
}

impl Paint {
    fn paint(&self, style: &str, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("{style}{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use parser::{Diagnostic, Severity, Span};

    use super::*;

    fn report(text: &[u8], spans: &[(usize, usize)]) -> Report {
        let mut report = Report::new();
        let id = report.sources.add("t.conf", text.to_vec());
        for &(start, end) in spans {
            let span = Span::new(u32::try_from(start).unwrap(), u32::try_from(end).unwrap());
            report.diagnostics.push(
                Diagnostic::new(parser::DiagnosticCode("TARS-S103"), Severity::Warning, "m")
                    .with_label(span, "here")
                    .with_source(id),
            );
        }
        report
    }

    /// Issue 17 item 5: the header column is the character column every other format gives
    /// (it counted bytes: `4:25` for `4:13` on a CJK line, `4:19` for `4:18` with GBK).
    #[test]
    fn header_columns_count_characters() {
        let cjk = "<a>\n  名字=服务器名字 # x\n</a>\n".as_bytes();
        let at = cjk.iter().position(|&b| b == b'#').unwrap();
        let out = render(&report(cjk, &[(at, at + 3)]), false, 100);
        assert!(out.contains(" --> t.conf:2:12\n"), "{out}");
        // The underline sits under `#`: 18 cells of text before it (CJK is two cells wide).
        assert!(
            out.contains(&format!("  | {}^^^ here\n", " ".repeat(18))),
            "{out}"
        );
        let gbk = b"<a>\n  name=\xc4\xe3\xba\xc3 # x\n</a>\n";
        let at = gbk.iter().position(|&b| b == b'#').unwrap();
        let out = render(&report(gbk, &[(at, at + 3)]), false, 100);
        assert!(out.contains(" --> t.conf:2:13\n"), "{out}");
        assert!(out.contains("name=\\xc4\\xe3\\xba\\xc3 # x"), "{out}");
    }

    /// Issue 17 item 6: a long line is cut to a window around the span, the column exact.
    #[test]
    fn long_lines_are_windowed_around_the_span() {
        let mut text = b"<a>\nk=".to_vec();
        text.extend(std::iter::repeat_n(b'x', 20_000));
        text.extend_from_slice(b" # note\n</a>\n");
        let at = text.iter().position(|&b| b == b'#').unwrap();
        let out = render(&report(&text, &[(at, at + 6)]), false, 100);
        assert!(out.contains(" --> t.conf:2:20004\n"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
        assert!(out.contains("...xxx"), "{out}");
        let line = out.lines().find(|l| l.contains("# note")).unwrap();
        let under = out.lines().find(|l| l.contains("^^^^^^ here")).unwrap();
        assert_eq!(line.find('#'), under.find('^'), "{out}");
        // Many findings on one long line: each prints a window, not the line.
        let spans: Vec<(usize, usize)> = (0..2_000).map(|i| (6 + i * 10, 7 + i * 10)).collect();
        let out = render(&report(&text, &spans), false, 100);
        assert!(out.len() < 2_000 * 1_000, "{} bytes", out.len());
    }

    /// Issue 17 item 2 (human part): template text cannot act on the terminal, and a message
    /// with a line break (quoted text) cannot print a line of its own.
    #[test]
    fn control_characters_and_line_breaks_are_shown_escaped() {
        let text = b"<a>\n\x1b[2Jk=1 # \x07\t\xc2\x9b\n</a>\n";
        let at = text.iter().position(|&b| b == b'#').unwrap();
        let mut r = report(text, &[(at, at + 2)]);
        r.diagnostics[0].message = "expected `</a>`\nAll checks passed!\x1b[0m".to_owned();
        let out = render(&r, false, 100);
        assert!(!out.bytes().any(|b| b < 0x20 && b != b'\n'), "{out:?}");
        assert!(!out.chars().any(is_unsafe_char), "{out:?}");
        assert!(out.contains("\\x1b[2Jk=1 # \\x07    \\u{9b}"), "{out}");
        assert!(
            out.contains(": expected `</a>`\\nAll checks passed!\\x1b[0m\n"),
            "{out}"
        );
        assert!(!out.lines().any(|l| l.starts_with("All checks")), "{out}");
    }
}
