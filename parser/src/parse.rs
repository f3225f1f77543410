//! The one pass over the input: lines, the TC_Config model, diagnostics and the point where
//! upstream would refuse the text. Parsing never fails; it recovers and reports.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::diagnostic::{Diagnostic, Severity};
use crate::errors;
use crate::escape::{self, EscapeError};
use crate::model::{Config, NONE, ParamOrigin, ROOT, Text};
use crate::span::Span;
use crate::syntax::{self, Line, LineKind, ParamFacts, SyntaxTree};

/// Where and why upstream `TC_Config::parse` would throw, in upstream's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamError {
    pub span: Span,
    /// [`UpstreamError::bytes`] as text (invalid UTF-8 replaced), for display.
    pub message: String,
    /// Upstream's message exactly as its `what()` gives it: the input's bytes as they are
    /// (GBK stays GBK), ending at the first NUL byte (it is a C string).
    pub bytes: Vec<u8>,
    /// Upstream has no message here: it crashes (undefined behaviour), and `message` is
    /// tarsdock's own.
    pub crash: bool,
}

impl UpstreamError {
    /// Upstream's message from its bytes, cut at the first NUL as `what()` is.
    pub(crate) fn new(span: Span, mut bytes: Vec<u8>) -> Self {
        if let Some(nul) = memchr::memchr(0, &bytes) {
            bytes.truncate(nul);
        }
        Self {
            span,
            message: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
            crash: false,
        }
    }

    /// tarsdock's own refusal where upstream has no message (it crashes, or a limit).
    pub(crate) fn own(span: Span, message: String, crash: bool) -> Self {
        Self {
            span,
            bytes: message.clone().into_bytes(),
            message,
            crash,
        }
    }
}

/// `parts` concatenated: upstream builds its messages with `string +`.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UpstreamError {}

/// The result of [`parse`]: the lossless syntax, the model, every finding, and whether (and
/// where) upstream would have refused the text.
#[derive(Clone, Debug)]
pub struct Parse {
    pub tree: SyntaxTree,
    pub config: Config,
    /// Sorted by position, then code.
    pub diagnostics: Vec<Diagnostic>,
    /// The first point where upstream's parser throws; `None` when upstream accepts the text.
    pub upstream_error: Option<UpstreamError>,
    /// Findings not recorded in `diagnostics` because there were more than
    /// [`limits::MAX_FINDINGS`] (an error is always kept when upstream refuses the text).
    pub omitted: usize,
}

impl Parse {
    /// The parsed bytes.
    #[must_use]
    pub fn source(&self) -> &[u8] {
        self.config.source()
    }

    /// Whether any diagnostic is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Parses TC_Config text. Never fails: problems become diagnostics, and the model is built as
/// upstream would build it up to its first error, then with recovery.
#[must_use]
pub fn parse(text: impl Into<Arc<[u8]>>) -> Parse {
    Parser::new(text.into(), true).run()
}

use crate::limits;

impl Config {
    /// Parses like upstream `parseString`: the model, or upstream's error.
    ///
    /// # Errors
    /// Where upstream would throw.
    pub fn parse_upstream(text: impl Into<Arc<[u8]>>) -> Result<Self, UpstreamError> {
        let parse = Parser::new(text.into(), false).run();
        match parse.upstream_error {
            Some(e) => Err(e),
            None => Ok(parse.config),
        }
    }
}

struct Frame {
    /// The domain this frame opened.
    id: u32,
    open: Option<Span>,
    /// The level of the nearest enclosing frame whose domain has the same name, or `NONE`.
    prev_same: u32,
}

struct Parser {
    src: Arc<[u8]>,
    lines: Vec<Line>,
    config: Config,
    /// Raw parameter lines and open tags as `(domain, span)`, in source order; filed into the
    /// model at the end.
    param_lines: Vec<(u32, Span)>,
    opens: Vec<(u32, Span)>,
    /// Open domains below the root; the root itself is implicit.
    stack: Vec<Frame>,
    /// The innermost frame level for each open domain name, for close-tag recovery.
    open_names: HashTable<u32>,
    diagnostics: Vec<Diagnostic>,
    upstream_error: Option<UpstreamError>,
    /// Upstream popped its root at this `</>`.
    root_closed: Option<Span>,
    report: bool,
    /// Largest accepted input: [`limits::MAX_INPUT`] for a reporting parse (user input), the
    /// `u32` span range for the quiet one (`join` re-reads up to twice `MAX_OUTPUT`).
    limit: usize,
    /// Findings past [`limits::MAX_FINDINGS`], counted but not built.
    omitted: usize,
    /// Whether an error-severity diagnostic is recorded.
    has_error: bool,
    /// TARS-S008 has been reported.
    too_deep: bool,
}

fn name_hash(name: &[u8]) -> u64 {
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    h.write(name);
    h.finish()
}

impl Parser {
    fn new(src: Arc<[u8]>, report: bool) -> Self {
        let n = src.len();
        Self {
            lines: Vec::with_capacity(if report { n / 16 + 4 } else { 0 }),
            config: Config::with_source(Arc::clone(&src)),
            param_lines: Vec::with_capacity(n / 32 + 4),
            opens: Vec::with_capacity(n / 800 + 4),
            src,
            stack: Vec::with_capacity(8),
            open_names: HashTable::with_capacity(8),
            diagnostics: Vec::new(),
            upstream_error: None,
            root_closed: None,
            report,
            limit: if report {
                limits::MAX_INPUT
            } else {
                u32::MAX as usize
            },
            omitted: 0,
            has_error: false,
            too_deep: false,
        }
    }

    fn run(mut self) -> Parse {
        let src = Arc::clone(&self.src);
        if src.len() > self.limit {
            self.push(errors::file_too_large(self.limit));
            self.upstream_error = Some(UpstreamError::own(
                Span::default(),
                format!(
                    "tarsdock: input larger than {} MiB not read",
                    self.limit / (1024 * 1024)
                ),
                false,
            ));
            return self.finish();
        }
        let mut start = 0usize;
        // One searcher over the whole input: lines are short, and a fresh `memchr` per line
        // pays its set-up for a few dozen bytes.
        let mut line_ends = memchr::memchr_iter(b'\n', &src);
        while start < src.len() {
            let end = line_ends.next().map_or(src.len(), |i| i + 1);
            let body = &src[start..end];
            let (cs, ce) = syntax::trim_range(body);
            let content = &body[cs..ce];
            // Offsets fit in u32: checked above.
            #[allow(clippy::cast_possible_truncation)]
            let base = (start + cs) as u32;
            let (kind, facts) = syntax::classify_line(content, base);
            #[allow(clippy::cast_possible_truncation)]
            let line = Line {
                kind,
                full: Span::new(start as u32, end as u32),
                content: Span::new(base, (start + ce) as u32),
                depth: 0,
            };
            if self.report && end - start > limits::MAX_LINE && self.wants(Severity::Error) {
                self.push(errors::line_too_long(line.full, limits::MAX_LINE));
            }
            let depth = self.line(&line, &facts);
            if self.report {
                self.lines.push(Line { depth, ..line });
            } else if self.upstream_error.is_some() {
                // Upstream throws here; without diagnostics to collect, nothing more to learn.
                break;
            }
            start = end;
        }
        self.end_of_input();
        self.finish()
    }

    fn finish(mut self) -> Parse {
        self.diagnostics.sort_by_key(Diagnostic::sort_key);
        if self.report || self.upstream_error.is_none() {
            self.config.file_spans(&self.param_lines, &self.opens);
        }
        Parse {
            tree: SyntaxTree { lines: self.lines },
            config: self.config,
            diagnostics: self.diagnostics,
            upstream_error: self.upstream_error,
            omitted: self.omitted,
        }
    }

    fn upstream(&mut self, span: Span, bytes: Vec<u8>) {
        if self.upstream_error.is_none() {
            self.upstream_error = Some(UpstreamError::new(span, bytes));
        }
    }

    /// Whether a finding of `severity` is to be built and recorded: reporting, and below
    /// [`limits::MAX_FINDINGS`] (past it, one error is still kept so that a refused text always
    /// has one). A finding not wanted while reporting is counted as omitted.
    fn wants(&mut self, severity: Severity) -> bool {
        if !self.report {
            return false;
        }
        if self.diagnostics.len() < limits::MAX_FINDINGS
            || (severity == Severity::Error && !self.has_error)
        {
            return true;
        }
        self.omitted += 1;
        false
    }

    /// Records a finding; callers that build it at some cost ask [`Parser::wants`] first.
    fn push(&mut self, diagnostic: Diagnostic) {
        if !self.report {
            return;
        }
        let error = diagnostic.severity == Severity::Error;
        if self.diagnostics.len() < limits::MAX_FINDINGS || (error && !self.has_error) {
            self.has_error |= error;
            self.diagnostics.push(diagnostic);
        } else {
            self.omitted += 1;
        }
    }

    fn text(&self, span: Span) -> &[u8] {
        self.src.get(span.range()).unwrap_or_default()
    }

    fn depth(&self) -> u32 {
        u32::try_from(self.stack.len()).unwrap_or(u32::MAX)
    }

    fn current(&self) -> u32 {
        self.stack.last().map_or(ROOT, |f| f.id)
    }

    fn domain_name(&self, id: u32) -> &[u8] {
        self.config.bytes(self.config.domain_at(id).name_text())
    }

    fn push_frame(&mut self, id: u32, open: Span) {
        let level = u32::try_from(self.stack.len()).unwrap_or(NONE);
        let (config, stack) = (&self.config, &self.stack);
        let name = config.bytes(config.domain_at(id).name_text());
        let same = |&l: &u32| {
            let frame_id = stack[l as usize].id;
            config.bytes(config.domain_at(frame_id).name_text()) == name
        };
        let h = name_hash(name);
        let prev_same = match self.open_names.find_mut(h, same) {
            Some(slot) => std::mem::replace(slot, level),
            None => {
                self.open_names.insert_unique(h, level, |&l| {
                    let frame_id = stack[l as usize].id;
                    name_hash(config.bytes(config.domain_at(frame_id).name_text()))
                });
                NONE
            }
        };
        self.stack.push(Frame {
            id,
            open: Some(open),
            prev_same,
        });
    }

    fn pop_frame(&mut self) {
        let level = u32::try_from(self.stack.len())
            .unwrap_or(NONE)
            .wrapping_sub(1);
        let Some(frame) = self.stack.last() else {
            return;
        };
        let prev_same = frame.prev_same;
        let config = &self.config;
        let h = name_hash(config.bytes(config.domain_at(frame.id).name_text()));
        if let Ok(slot) = self.open_names.find_entry(h, |&l| l == level) {
            if prev_same == NONE {
                slot.remove();
            } else {
                *slot.into_mut() = prev_same;
            }
        }
        self.stack.pop();
    }

    /// Handles one line; returns its depth for the syntax tree.
    fn line(&mut self, line: &Line, facts: &ParamFacts) -> u32 {
        let depth = self.depth();
        match line.kind {
            LineKind::Blank | LineKind::Comment => depth,
            LineKind::Unterminated => {
                // Upstream looks for `>` before it touches its domain stack: this is its
                // message even after `</>`.
                let message = cat(&[
                    b"[TC_Config::parse]:parse error! line : ",
                    self.text(line.content),
                ]);
                self.upstream(line.content, message);
                self.push(errors::unterminated_tag(line.content));
                if self.report {
                    return self.recover_unterminated(line.content);
                }
                depth
            }
            LineKind::Open { name, rest } => {
                self.after_root_closed();
                self.tag_rest(rest);
                self.open(name);
                depth
            }
            LineKind::Close { name, rest } => {
                self.tag_rest(rest);
                self.close(line.content, name)
            }
            LineKind::Param { key, eq, value } => {
                self.after_root_closed();
                self.param(line.content, key, eq, value, facts);
                depth
            }
        }
    }

    /// Recovery after an unterminated tag line (upstream has refused the text there): read
    /// `<name` as the open tag it starts, so that its `</name>` does not cascade into an
    /// unmatched-close error, and `</part` as the close of the innermost open domain whose name
    /// starts with `part` (the name may be cut short too; with none, it closes nothing). A line
    /// that does not read as a tag name opens nothing. Returns the line's depth.
    fn recover_unterminated(&mut self, content: Span) -> u32 {
        let depth = self.depth();
        if self.text(content).starts_with(b"</") {
            let raw = self.text(content.sub(2, content.len() as usize));
            let (s, e) = syntax::trim_range(raw);
            let partial = raw.get(s..e).unwrap_or_default().to_vec();
            let target = self
                .stack
                .iter()
                .rposition(|frame| self.domain_name(frame.id).starts_with(&partial));
            if let Some(target) = target {
                while self.stack.len() > target {
                    self.pop_frame();
                }
            }
            return self.depth();
        }
        let name = content.sub(1, content.len() as usize);
        // Only what reads as a domain name: `<`, `<!-- …` or `<?xml …` opens nothing.
        let raw = self.text(name);
        let (s, e) = syntax::trim_range(raw);
        let looks_like_name = raw.get(s..e).is_some_and(|n| {
            !n.is_empty() && !matches!(n[0], b'!' | b'?' | b'/') && !n.contains(&b'<')
        });
        if looks_like_name {
            self.open(name);
        }
        depth
    }

    /// An open tag or a parameter after `</>`: upstream reads `stack.top()` of an empty stack
    /// (undefined behaviour; it crashes). Reported as a refusal at the `</>`, in tarsdock's
    /// words (its diagnostic is already out).
    fn after_root_closed(&mut self) {
        if let Some(root_close) = self.root_closed
            && self.upstream_error.is_none()
        {
            self.upstream_error = Some(UpstreamError::own(
                root_close,
                "tarsdock: a line after `</>` (upstream reads an empty domain stack here and crashes)"
                    .to_owned(),
                true,
            ));
        }
    }

    fn tag_rest(&mut self, rest: Span) {
        if !self.report {
            return;
        }
        let text = self.text(rest);
        let (s, e) = syntax::trim_range(text);
        if s == e {
            return;
        }
        let span = rest.sub(s, e);
        let several = text[s] == b'<';
        if !self.wants(Severity::Warning) {
            return;
        }
        let d = if several {
            errors::several_tags_on_line(span)
        } else {
            errors::text_after_tag(span)
        };
        self.push(d);
    }

    fn open(&mut self, name: Span) {
        let raw = self.text(name);
        let (s, e) = syntax::trim_range(raw);
        let trimmed_span = name.sub(s, e);
        if self.report {
            let trimmed = &raw[s..e];
            let padded = s != 0 || e != raw.len();
            let xml = trimmed.is_empty()
                || trimmed.ends_with(b"/")
                || trimmed.starts_with(b"!")
                || trimmed.starts_with(b"?");
            let trimmed = trimmed.to_vec();
            let angle = trimmed.iter().position(|b| matches!(b, b'<' | b'>'));
            if let Some(i) = angle
                && self.wants(Severity::Error)
            {
                // Upstream parses `<a<b>` as the domain `a<b`, then its serialiser throws.
                let at = trimmed_span.sub(i, i + 1);
                self.push(errors::angle_bracket_in_text(at, "domain name"));
            }
            if padded && self.wants(Severity::Warning) {
                self.push(errors::padded_tag_name(name, &trimmed));
            }
            if xml && self.wants(Severity::Warning) {
                self.push(errors::xml_style_tag(name, &trimmed));
            }
        }
        let parent = self.current();
        let (id, existed) = self
            .config
            .add_child(parent, Text::Src(name), Text::Src(trimmed_span));
        let first = self.config.domain_at(id).first_open();
        self.config.set_first_open(id, name);
        self.opens.push((id, name));
        if existed && self.wants(Severity::Info) {
            let d = errors::duplicate_domain(name, first, self.text(trimmed_span));
            self.push(d);
        }
        self.push_frame(id, name);
        if self.stack.len() > limits::MAX_DEPTH as usize
            && !self.too_deep
            && self.wants(Severity::Error)
        {
            self.too_deep = true;
            self.push(errors::nesting_too_deep(name, limits::MAX_DEPTH));
        }
    }

    /// Returns the depth of the close line.
    fn close(&mut self, line: Span, name: Span) -> u32 {
        let src = Arc::clone(&self.src);
        let close_name = src.get(name.range()).unwrap_or_default();
        if let Some(root_close) = self.root_closed {
            // Upstream's stack is empty: this is the one message it has for that.
            let message = cat(&[
                b"[TC_Config::parse]:parse error! <",
                close_name,
                b"> hasn't matched domain.",
            ]);
            self.upstream(root_close, message);
            return 0;
        }
        let Some(top) = self.stack.last() else {
            // At the root: `</>` pops it upstream, anything else mismatches the root.
            if close_name.is_empty() {
                self.root_closed = Some(line);
            } else {
                let message = cat(&[
                    b"[TC_Config::parse]:parse error! <> hasn't match <",
                    close_name,
                    b">.",
                ]);
                self.upstream(line, message);
            }
            if self.wants(Severity::Error) {
                self.push(errors::unmatched_close_tag(line, close_name));
            }
            return 0;
        };
        let top_open = top.open;
        let top_name = self.domain_name(top.id).to_vec();
        if close_name == top_name {
            self.pop_frame();
            return self.depth();
        }
        let message = cat(&[
            b"[TC_Config::parse]:parse error! <",
            &top_name,
            b"> hasn't match <",
            close_name,
            b">.",
        ]);
        self.upstream(line, message);
        if !self.report {
            return self.depth();
        }
        if self.wants(Severity::Error) {
            let d = errors::mismatched_close_tag(line, close_name, top_open, &top_name);
            self.push(d);
        }
        // Recovery: close up to the innermost enclosing domain with this name (exactly or once
        // trimmed: the inner ones were just reported); with no such domain the close tag is
        // most likely a typo for the innermost one, so close that.
        let (s, e) = syntax::trim_range(close_name);
        let wanted = &close_name[s..e];
        let (config, stack) = (&self.config, &self.stack);
        let target = self
            .open_names
            .find(name_hash(wanted), |&l| {
                let frame_id = stack[l as usize].id;
                config.bytes(config.domain_at(frame_id).name_text()) == wanted
            })
            .map_or(self.stack.len() - 1, |&l| l as usize);
        while self.stack.len() > target {
            self.pop_frame();
        }
        self.depth()
    }

    fn param(
        &mut self,
        line: Span,
        key: Span,
        eq: Option<u32>,
        value: Option<Span>,
        facts: &ParamFacts,
    ) {
        let at_root = self.stack.is_empty();
        let key_text = if facts.key_escape {
            self.unescaped(key)
        } else {
            Some(Text::Src(key))
        };
        let value_text = match value {
            Some(v) if key_text.is_some() => {
                if facts.value_escape {
                    self.unescaped(v)
                } else {
                    Some(Text::Src(v))
                }
            }
            Some(_) => None,
            None => Some(Text::EMPTY),
        };

        if self.report {
            self.param_lints(line, key, eq, value, at_root, facts);
        }

        let origin = ParamOrigin { line, key, value };
        let domain = self.current();
        self.param_lines.push((domain, line));
        let (Some(key_text), Some(value_text)) = (key_text, value_text) else {
            // Upstream throws here; keep the raw text so later lookups still see the key.
            let raw_value = value.map_or(Text::EMPTY, Text::Src);
            self.config
                .assign(domain, Text::Src(key), raw_value, Some(origin));
            return;
        };
        let replaced = self
            .config
            .assign(domain, key_text, value_text, Some(origin));
        if let Some(previous) = replaced
            && self.wants(Severity::Warning)
        {
            let raw = self.text(key);
            let shown = escape::unescape(raw).unwrap_or(std::borrow::Cow::Borrowed(raw));
            let d = errors::duplicate_key(&shown, line, previous.map(|p| p.line));
            self.push(d);
        }
    }

    /// Unescapes a key or value; on error records upstream's exception and a diagnostic.
    fn unescaped(&mut self, span: Span) -> Option<Text> {
        let src = Arc::clone(&self.src);
        let raw = src.get(span.range()).unwrap_or_default();
        match escape::unescape(raw) {
            Ok(std::borrow::Cow::Borrowed(_)) => Some(Text::Src(span)),
            Ok(std::borrow::Cow::Owned(bytes)) => Some(self.config.own(&bytes)),
            Err(e) => {
                let at = span.sub(e.offset(), (e.offset() + 2).min(raw.len()));
                // Upstream appends the backslash and the byte after it as they are.
                let shown = raw.get(e.offset()..(e.offset() + 2).min(raw.len()));
                let byte = match e {
                    EscapeError::Unknown { byte, .. } => Some(byte),
                    EscapeError::Trailing { .. } => None,
                };
                let message = cat(&[
                    b"[TC_ConfigDomain::parse] '",
                    raw,
                    b"' is invalid, '",
                    shown.unwrap_or(b"\\"),
                    b"' couldn't be parse!",
                ]);
                self.upstream(span, message);
                self.push(errors::invalid_escape(at, byte));
                None
            }
        }
    }

    /// The parameter-line lints, from what the line scan found.
    fn param_lints(
        &mut self,
        line: Span,
        key: Span,
        eq: Option<u32>,
        value: Option<Span>,
        at_root: bool,
        facts: &ParamFacts,
    ) {
        let at = |i: usize, end: usize| line.sub(i, end);
        if let Some(i) = facts.key_angle
            && self.wants(Severity::Error)
        {
            self.push(errors::angle_bracket_in_text(at(i, i + 1), "key"));
        }
        if let Some(i) = facts.value_angle
            && self.wants(Severity::Error)
        {
            self.push(errors::angle_bracket_in_text(at(i, i + 1), "value"));
        }
        if let (Some(v), Some(i)) = (value, facts.hash)
            && self.wants(Severity::Warning)
        {
            let start = line.sub(i, i).start;
            self.push(errors::hash_in_value(Span::new(start, v.end)));
        }
        if key.is_empty() && eq.is_some() && self.wants(Severity::Warning) {
            self.push(errors::empty_key(line));
        }
        if at_root && self.wants(Severity::Warning) {
            self.push(errors::root_level_param(line));
        }
        if let Some(pos) = facts.escaped_backslash_eq
            && self.wants(Severity::Warning)
        {
            self.push(errors::escaped_backslash_before_equals(at(
                pos - 2,
                pos + 1,
            )));
        }
    }

    fn end_of_input(&mut self) {
        const NO_MATCH: &[u8] = b"[TC_Config::parse]:parse error : hasn't match";
        if let Some(root_close) = self.root_closed {
            self.upstream(root_close, NO_MATCH.to_vec());
            return;
        }
        if let Some(outer) = self.stack.first() {
            let span = outer.open.unwrap_or_default();
            self.upstream(span, NO_MATCH.to_vec());
        }
        if self.report {
            let stack = std::mem::take(&mut self.stack);
            for (i, frame) in stack.iter().rev().enumerate() {
                let Some(open) = frame.open else { continue };
                if !self.wants(Severity::Error) {
                    // Past the bound: count the rest without building them.
                    self.omitted += stack.len() - i - 1;
                    break;
                }
                let raw = self.text(open);
                let (s, e) = syntax::trim_range(raw);
                let d = errors::unclosed_domain(open, &raw[s..e]);
                self.push(d);
            }
        }
        self.stack.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_input_is_refused() {
        let mut parser = Parser::new(Arc::from(&b"<t>\n</t>\n"[..]), true);
        parser.limit = 4;
        let parse = parser.run();
        assert!(parse.upstream_error.is_some());
        assert_eq!(parse.diagnostics.len(), 1);
        assert_eq!(parse.diagnostics[0].code, errors::FILE_TOO_LARGE.code);
    }

    fn codes(text: &str) -> Vec<&'static str> {
        parse(text.as_bytes())
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect()
    }

    #[test]
    fn an_unterminated_tag_is_one_finding_not_a_cascade() {
        let unterminated = errors::UNTERMINATED_TAG.code.as_str();
        // `<tars` is read as the open tag it starts: `a` is inside it, `</tars>` closes it.
        let parse = parse(&b"<tars\n  a=1\n</tars>\n"[..]);
        assert_eq!(codes("<tars\n  a=1\n</tars>\n"), [unterminated]);
        assert!(parse.upstream_error.is_some(), "upstream still refuses it");
        assert_eq!(
            parse.config.get(b"/tars<a>").ok().flatten(),
            Some(&b"1"[..])
        );
        // A close cut short closes the innermost domain whose name it starts...
        assert_eq!(
            codes("<tars>\n<server>\n</serv\nb=2\n</tars>\n"),
            [unterminated]
        );
        // ...and nothing when no open domain has such a name.
        assert_eq!(codes("<tars>\n<a>\n</a>\n</x\n</tars>\n"), [unterminated]);
        // Lines that are not tag names open nothing.
        for line in ["<", "<!-- note", "<?xml version=\"1.0\"", "<a<b"] {
            let text = format!("<tars>\n{line}\n</tars>\n");
            assert_eq!(codes(&text), [unterminated], "{line:?}");
        }
    }

    fn refusal(text: &[u8]) -> UpstreamError {
        parse(text.to_vec())
            .upstream_error
            .expect("upstream refuses")
    }

    /// Issue 13: after `</>` a close tag is `<x> hasn't matched domain.` upstream (its stack
    /// is empty), and an unterminated tag line still gets upstream's `line :` message.
    #[test]
    fn after_the_root_is_closed_messages_are_upstreams() {
        let e = refusal(b"<a>\n</a>\n</>\n</x>\n");
        assert_eq!(
            e.bytes,
            b"[TC_Config::parse]:parse error! <x> hasn't matched domain."
        );
        assert!(!e.crash);
        let e = refusal(b"<a>\n</a>\n</>\n<\n");
        assert_eq!(e.bytes, b"[TC_Config::parse]:parse error! line : <");
        assert!(!e.crash);
        let e = refusal(b"<a>\n</a>\n</>\n</a\n");
        assert_eq!(e.bytes, b"[TC_Config::parse]:parse error! line : </a");
        // An open tag or a parameter: upstream crashes; tarsdock refuses in its own words.
        for text in [&b"</>\n<b>\n</b>\n"[..], b"</>\nk=v\n"] {
            let e = refusal(text);
            assert!(e.crash, "{e}");
            assert!(e.message.starts_with("tarsdock: "), "{e}");
        }
    }

    /// Issue 13: upstream's message is a C string (it ends at a NUL) made of the input's
    /// bytes as they are (GBK stays GBK; no U+FFFD, no Latin-1 widening).
    #[test]
    fn messages_keep_the_input_bytes_up_to_a_nul() {
        let e = refusal(b"<a>\n</a>\n</>\n<ab\0cd\n");
        assert_eq!(e.bytes, b"[TC_Config::parse]:parse error! line : <ab");
        assert_eq!(e.message, "[TC_Config::parse]:parse error! line : <ab");
        let e = refusal(b"<a>\nk=\xc8\xd5\\\xd6\xbe\n</a>\n");
        assert_eq!(
            e.bytes,
            &b"[TC_ConfigDomain::parse] '\xc8\xd5\\\xd6\xbe' is invalid, '\\\xd6' couldn't be parse!"[..]
        );
        let e = refusal(b"<a>\nk\\\xff=1\n</a>\n");
        assert_eq!(
            e.bytes,
            &b"[TC_ConfigDomain::parse] 'k\\\xff' is invalid, '\\\xff' couldn't be parse!"[..]
        );
        let e = refusal(b"<\xc8\xd5>\n</\xd6>\n");
        assert_eq!(
            e.bytes,
            &b"[TC_Config::parse]:parse error! <\xc8\xd5> hasn't match <\xd6>."[..]
        );
    }

    /// Findings are bounded per parse; the rest are counted, and a refused text keeps an
    /// error even when warnings filled the bound.
    #[test]
    fn findings_are_bounded_and_an_error_is_kept() {
        let mut text = b"<a>\n".to_vec();
        for _ in 0..limits::MAX_FINDINGS + 500 {
            text.extend_from_slice(b"k=1\n");
        }
        text.extend_from_slice(b"<b\n</a>\n");
        let p = parse(text);
        assert_eq!(p.diagnostics.len(), limits::MAX_FINDINGS + 1);
        assert_eq!(p.omitted, 500);
        assert!(p.upstream_error.is_some() && p.has_errors());
        // 100,000 unclosed domains: counted, not built.
        let p = parse(b"<d>\n".repeat(100_000));
        assert_eq!(p.diagnostics.len() + p.omitted, 100_000 + 1);
        assert!(p.diagnostics.len() <= limits::MAX_FINDINGS + 1);
    }

    #[test]
    fn depth_line_and_size_bounds_are_coded_findings() {
        let code = |p: &Parse, c: &crate::CodeInfo| {
            p.diagnostics.iter().filter(|d| d.code == c.code).count()
        };
        let depth = limits::MAX_DEPTH as usize;
        let nested = |n: usize| [b"<d>\n".repeat(n), b"</d>\n".repeat(n)].concat();
        assert_eq!(code(&parse(nested(depth)), &errors::NESTING_TOO_DEEP), 0);
        let deep = parse(nested(depth + 5));
        assert_eq!(code(&deep, &errors::NESTING_TOO_DEEP), 1);
        assert!(deep.upstream_error.is_none(), "upstream accepts any depth");
        let long = [
            b"<a>\nk=".as_slice(),
            &vec![b'v'; limits::MAX_LINE],
            b"\n</a>\n",
        ]
        .concat();
        assert_eq!(code(&parse(long), &errors::LINE_TOO_LONG), 1);
        let mut parser = Parser::new(Arc::from(vec![b'\n'; 64]), true);
        parser.limit = 32;
        let p = parser.run();
        assert_eq!(code(&p, &errors::FILE_TOO_LARGE), 1);
        assert!(p.upstream_error.is_some_and(|e| !e.crash));
    }
}
