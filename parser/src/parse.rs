//! The one pass over the input: lines, the TC_Config model, diagnostics and the point where
//! upstream would refuse the text. Parsing never fails; it recovers and reports.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::diagnostic::Diagnostic;
use crate::errors;
use crate::escape::{self, EscapeError};
use crate::model::{Config, NONE, ParamOrigin, ROOT, Text};
use crate::span::Span;
use crate::syntax::{self, Line, LineKind, ParamFacts, SyntaxTree};

/// Where and why upstream `TC_Config::parse` would throw, in upstream's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamError {
    pub span: Span,
    pub message: String,
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
            .any(|d| d.severity == crate::Severity::Error)
    }
}

/// Parses TC_Config text. Never fails: problems become diagnostics, and the model is built as
/// upstream would build it up to its first error, then with recovery.
#[must_use]
pub fn parse(text: impl Into<Arc<[u8]>>) -> Parse {
    Parser::new(text.into(), true).run()
}

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
    /// Largest accepted input: spans are `u32` offsets.
    limit: usize,
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
            limit: u32::MAX as usize,
        }
    }

    fn run(mut self) -> Parse {
        let src = Arc::clone(&self.src);
        if src.len() > self.limit {
            self.diagnostics.push(errors::file_too_large());
            self.upstream_error = Some(UpstreamError {
                span: Span::default(),
                message: "input too large".to_owned(),
            });
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
        }
    }

    fn upstream(&mut self, span: Span, message: String) {
        if self.upstream_error.is_none() {
            self.upstream_error = Some(UpstreamError { span, message });
        }
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        if self.report {
            self.diagnostics.push(diagnostic);
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
                self.after_root_closed(line.content, false);
                self.upstream(
                    line.content,
                    format!(
                        "[TC_Config::parse]:parse error! line : {}",
                        String::from_utf8_lossy(self.text(line.content))
                    ),
                );
                self.push(errors::unterminated_tag(line.content));
                if self.report {
                    return self.recover_unterminated(line.content);
                }
                depth
            }
            LineKind::Open { name, rest } => {
                self.after_root_closed(line.content, false);
                self.tag_rest(rest);
                self.open(name);
                depth
            }
            LineKind::Close { name, rest } => {
                self.tag_rest(rest);
                self.close(line.content, name)
            }
            LineKind::Param { key, eq, value } => {
                self.after_root_closed(line.content, false);
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

    /// Upstream reads `stack.top()` of an empty stack after `</>`: undefined behaviour, which
    /// we report as the upstream error at the `</>` (its diagnostic is already out).
    fn after_root_closed(&mut self, span: Span, close: bool) {
        if let Some(root_close) = self.root_closed {
            let message = if close {
                format!(
                    "[TC_Config::parse]:parse error! {} hasn't matched domain.",
                    String::from_utf8_lossy(self.text(span))
                )
            } else {
                "[TC_Config::parse]: line after the root domain was closed (undefined behaviour upstream)"
                    .to_owned()
            };
            self.upstream(root_close, message);
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
        let d = if text[s] == b'<' {
            errors::several_tags_on_line(span)
        } else {
            errors::text_after_tag(span)
        };
        self.diagnostics.push(d);
    }

    fn open(&mut self, name: Span) {
        let raw = self.text(name);
        let (s, e) = syntax::trim_range(raw);
        let trimmed_span = name.sub(s, e);
        if self.report {
            let trimmed = &raw[s..e];
            let mut found = Vec::new();
            if s != 0 || e != raw.len() {
                found.push(errors::padded_tag_name(name, trimmed));
            }
            if trimmed.is_empty()
                || trimmed.ends_with(b"/")
                || trimmed.starts_with(b"!")
                || trimmed.starts_with(b"?")
            {
                found.push(errors::xml_style_tag(name, trimmed));
            }
            self.diagnostics.extend(found);
        }
        let parent = self.current();
        let (id, existed) = self
            .config
            .add_child(parent, Text::Src(name), Text::Src(trimmed_span));
        let first = self.config.domain_at(id).first_open();
        self.config.set_first_open(id, name);
        self.opens.push((id, name));
        if existed && self.report {
            let d = errors::duplicate_domain(name, first, self.text(trimmed_span));
            self.diagnostics.push(d);
        }
        self.push_frame(id, name);
    }

    /// Returns the depth of the close line.
    fn close(&mut self, line: Span, name: Span) -> u32 {
        if self.root_closed.is_some() {
            self.after_root_closed(name, true);
            return 0;
        }
        let src = Arc::clone(&self.src);
        let close_name = src.get(name.range()).unwrap_or_default();
        let Some(top) = self.stack.last() else {
            // At the root: `</>` pops it upstream, anything else mismatches the root.
            if close_name.is_empty() {
                self.root_closed = Some(line);
            } else {
                let message = format!(
                    "[TC_Config::parse]:parse error! <> hasn't match <{}>.",
                    String::from_utf8_lossy(close_name)
                );
                self.upstream(line, message);
            }
            if self.report {
                let d = errors::unmatched_close_tag(line, close_name);
                self.diagnostics.push(d);
            }
            return 0;
        };
        let top_open = top.open;
        let top_name = self.domain_name(top.id).to_vec();
        if close_name == top_name {
            self.pop_frame();
            return self.depth();
        }
        let message = format!(
            "[TC_Config::parse]:parse error! <{}> hasn't match <{}>.",
            String::from_utf8_lossy(&top_name),
            String::from_utf8_lossy(close_name)
        );
        self.upstream(line, message);
        if !self.report {
            return self.depth();
        }
        let d = errors::mismatched_close_tag(line, close_name, top_open, &top_name);
        self.diagnostics.push(d);
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
        if self.report
            && let Some(previous) = replaced
        {
            let raw = self.text(key);
            let shown = escape::unescape(raw).unwrap_or(std::borrow::Cow::Borrowed(raw));
            let d = errors::duplicate_key(&shown, line, previous.map(|p| p.line));
            self.diagnostics.push(d);
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
                let (shown, byte) = match e {
                    EscapeError::Unknown { byte, .. } => {
                        (format!("\\{}", byte as char), Some(byte))
                    }
                    EscapeError::Trailing { .. } => ("\\".to_owned(), None),
                };
                self.upstream(
                    span,
                    format!(
                        "[TC_ConfigDomain::parse] '{}' is invalid, '{}' couldn't be parse!",
                        String::from_utf8_lossy(raw),
                        shown
                    ),
                );
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
        if let Some(i) = facts.key_angle {
            self.diagnostics
                .push(errors::angle_bracket_in_text(at(i, i + 1), "key"));
        }
        if let Some(i) = facts.value_angle {
            self.diagnostics
                .push(errors::angle_bracket_in_text(at(i, i + 1), "value"));
        }
        if let (Some(v), Some(i)) = (value, facts.hash) {
            let start = line.sub(i, i).start;
            self.diagnostics
                .push(errors::hash_in_value(Span::new(start, v.end)));
        }
        if key.is_empty() && eq.is_some() {
            self.diagnostics.push(errors::empty_key(line));
        }
        if at_root {
            self.diagnostics.push(errors::root_level_param(line));
        }
        if let Some(pos) = facts.escaped_backslash_eq {
            self.diagnostics
                .push(errors::escaped_backslash_before_equals(at(
                    pos - 2,
                    pos + 1,
                )));
        }
    }

    fn end_of_input(&mut self) {
        if let Some(root_close) = self.root_closed {
            self.upstream(
                root_close,
                "[TC_Config::parse]:parse error : hasn't match".to_owned(),
            );
            return;
        }
        if let Some(outer) = self.stack.first() {
            let span = outer.open.unwrap_or_default();
            self.upstream(
                span,
                "[TC_Config::parse]:parse error : hasn't match".to_owned(),
            );
        }
        if self.report {
            for frame in self.stack.iter().rev() {
                let Some(open) = frame.open else { continue };
                let raw = self.text(open);
                let (s, e) = syntax::trim_range(raw);
                self.diagnostics
                    .push(errors::unclosed_domain(open, &raw[s..e]));
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
}
