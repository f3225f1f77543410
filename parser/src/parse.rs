//! The one pass over the input: lines, the TC_Config model, diagnostics and the point where
//! upstream would refuse the text. Parsing never fails; it recovers and reports.

use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::errors;
use crate::escape::{self, EscapeError};
use crate::model::{Config, Domain, ParamOrigin, Text};
use crate::span::Span;
use crate::syntax::{self, Line, LineKind, SyntaxTree};

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
    /// Child indices from the root down to this domain.
    path: Vec<u32>,
    open: Option<Span>,
}

struct Parser {
    src: Arc<[u8]>,
    lines: Vec<Line>,
    root: Domain,
    /// Open domains below the root; the root itself is implicit.
    stack: Vec<Frame>,
    diagnostics: Vec<Diagnostic>,
    upstream_error: Option<UpstreamError>,
    /// Upstream popped its root at this `</>`.
    root_closed: Option<Span>,
    report: bool,
    /// Largest accepted input: spans are `u32` offsets.
    limit: usize,
}

impl Parser {
    fn new(src: Arc<[u8]>, report: bool) -> Self {
        Self {
            lines: Vec::with_capacity(if report { src.len() / 24 + 1 } else { 0 }),
            src,
            root: Domain::new(Text::owned(b""), Text::owned(b"")),
            stack: Vec::new(),
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
        while start < src.len() {
            let end = memchr::memchr(b'\n', &src[start..]).map_or(src.len(), |i| start + i + 1);
            let body = &src[start..end];
            let (cs, ce) = syntax::trim_range(body);
            let content_start = start + cs;
            let content = &src[content_start..start + ce];
            // Offsets fit in u32: checked above.
            #[allow(clippy::cast_possible_truncation)]
            let base = content_start as u32;
            let kind = syntax::classify(content, base);
            #[allow(clippy::cast_possible_truncation)]
            let line = Line {
                kind,
                full: Span::new(start as u32, end as u32),
                content: Span::new(base, (start + ce) as u32),
                depth: 0,
            };
            let depth = self.line(&line, content);
            if self.report {
                self.lines.push(Line { depth, ..line });
            }
            start = end;
        }
        self.end_of_input();
        self.finish()
    }

    fn finish(mut self) -> Parse {
        self.diagnostics.sort_by_key(Diagnostic::sort_key);
        let mut config = Config::with_source(self.src);
        config.root = self.root;
        Parse {
            tree: SyntaxTree { lines: self.lines },
            config,
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

    fn current(&mut self) -> &mut Domain {
        let mut domain = &mut self.root;
        if let Some(frame) = self.stack.last() {
            for &i in &frame.path {
                domain = domain.child_mut(i as usize);
            }
        }
        domain
    }

    fn current_name(&self) -> Vec<u8> {
        let mut domain = &self.root;
        if let Some(frame) = self.stack.last() {
            for &i in &frame.path {
                domain = domain.child(i as usize);
            }
        }
        match domain.name_text() {
            Text::Src(s) => self.text(*s).to_vec(),
            Text::Owned(b) => b.to_vec(),
        }
    }

    /// Handles one line; returns its depth for the syntax tree.
    fn line(&mut self, line: &Line, content: &[u8]) -> u32 {
        let depth = self.depth();
        match line.kind {
            LineKind::Blank | LineKind::Comment => depth,
            LineKind::Unterminated => {
                self.after_root_closed(line.content, false);
                self.upstream(
                    line.content,
                    format!(
                        "[TC_Config::parse]:parse error! line : {}",
                        String::from_utf8_lossy(content)
                    ),
                );
                self.push(errors::unterminated_tag(line.content));
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
                self.param(line.content, key, eq, value);
                depth
            }
        }
    }

    /// Upstream reads `stack.top()` of an empty stack after `</>`: undefined behaviour, which
    /// we report as the upstream error at the `</>` (its diagnostic is already out).
    fn after_root_closed(&mut self, span: Span, close: bool) {
        if let Some(root_close) = self.root_closed {
            let name = self.text(span).to_vec();
            let message = if close {
                format!(
                    "[TC_Config::parse]:parse error! {} hasn't matched domain.",
                    String::from_utf8_lossy(&name)
                )
            } else {
                "[TC_Config::parse]: line after the root domain was closed (undefined behaviour upstream)"
                    .to_owned()
            };
            self.upstream(root_close, message);
        }
    }

    fn tag_rest(&mut self, rest: Span) {
        let text = self.text(rest);
        let (s, e) = syntax::trim_range(text);
        if s == e {
            return;
        }
        let span = rest.sub(s, e);
        if text[s] == b'<' {
            self.push(errors::several_tags_on_line(span));
        } else {
            self.push(errors::text_after_tag(span));
        }
    }

    fn open(&mut self, name: Span) {
        let src = Arc::clone(&self.src);
        let raw = src.get(name.range()).unwrap_or_default();
        let (s, e) = syntax::trim_range(raw);
        let trimmed_span = name.sub(s, e);
        if self.report {
            let trimmed = &raw[s..e];
            if s != 0 || e != raw.len() {
                let d = errors::padded_tag_name(name, trimmed);
                self.diagnostics.push(d);
            }
            if trimmed.is_empty()
                || trimmed.ends_with(b"/")
                || trimmed.starts_with(b"!")
                || trimmed.starts_with(b"?")
            {
                let d = errors::xml_style_tag(name, trimmed);
                self.diagnostics.push(d);
            }
        }
        let (index, existed, first) = {
            let parent = self.current();
            let (index, existed) = parent.add_child(&src, Text::Src(name), Text::Src(trimmed_span));
            let child = parent.child_mut(index);
            let first = child.first_open();
            child.push_open(name);
            (index, existed, first)
        };
        if existed {
            let shown = self.text(trimmed_span).to_vec();
            self.push(errors::duplicate_domain(name, first, &shown));
        }
        let mut path = self
            .stack
            .last()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        path.push(u32::try_from(index).unwrap_or(u32::MAX));
        self.stack.push(Frame {
            path,
            open: Some(name),
        });
    }

    /// Returns the depth of the close line.
    fn close(&mut self, line: Span, name: Span) -> u32 {
        let close_name = self.text(name).to_vec();
        if self.root_closed.is_some() {
            self.after_root_closed(name, true);
            return 0;
        }
        let Some(top) = self.stack.last() else {
            // At the root: `</>` pops it upstream, anything else mismatches the root.
            if close_name.is_empty() {
                self.root_closed = Some(line);
            } else {
                self.upstream(
                    line,
                    format!(
                        "[TC_Config::parse]:parse error! <> hasn't match <{}>.",
                        String::from_utf8_lossy(&close_name)
                    ),
                );
            }
            self.push(errors::unmatched_close_tag(line, &close_name));
            return 0;
        };
        let top_open = top.open;
        let top_name = self.current_name();
        if close_name == top_name {
            self.stack.pop();
            return self.depth();
        }
        self.upstream(
            line,
            format!(
                "[TC_Config::parse]:parse error! <{}> hasn't match <{}>.",
                String::from_utf8_lossy(&top_name),
                String::from_utf8_lossy(&close_name)
            ),
        );
        self.push(errors::mismatched_close_tag(
            line,
            &close_name,
            top_open,
            &top_name,
        ));
        // Recovery: close up to the innermost enclosing domain with this name (exactly or once
        // trimmed: the inner ones were just reported); with no such domain the close tag is
        // most likely a typo for the innermost one, so close that.
        let wanted = {
            let (s, e) = syntax::trim_range(&close_name);
            close_name[s..e].to_vec()
        };
        let depth = self.stack.len();
        let target = (0..depth).rev().find(|&level| {
            let mut domain = &self.root;
            for &i in &self.stack[level].path {
                domain = domain.child(i as usize);
            }
            let name = match domain.name_text() {
                Text::Src(s) => self.text(*s),
                Text::Owned(b) => b,
            };
            name == wanted.as_slice()
        });
        self.stack.truncate(target.unwrap_or(depth - 1));
        self.depth()
    }

    fn param(&mut self, line: Span, key: Span, eq: Option<u32>, value: Option<Span>) {
        let at_root = self.stack.is_empty();
        let src = Arc::clone(&self.src);
        let key_raw = src.get(key.range()).unwrap_or_default();
        let value_raw = value.and_then(|v| src.get(v.range())).unwrap_or_default();

        let key_text = self.unescaped(key, key_raw);
        let value_text = match value {
            Some(v) if key_text.is_some() => self.unescaped(v, value_raw),
            Some(_) => None,
            None => Some(Text::owned(b"")),
        };

        if self.report {
            self.param_lints(line, key, eq, value, at_root);
        }

        let origin = ParamOrigin { line, key, value };
        let domain = self.current();
        domain.push_line(line);
        let (Some(key_text), Some(value_text)) = (key_text, value_text) else {
            // Upstream throws here; keep the raw text so later lookups still see the key.
            let raw_key = Text::Src(key);
            let raw_value = value.map_or_else(|| Text::owned(b""), Text::Src);
            domain.assign(&src, raw_key, raw_value, Some(origin));
            return;
        };
        let replaced = domain.assign(&src, key_text, value_text, Some(origin));
        if self.report
            && let Some(previous) = replaced
        {
            let shown = match escape::unescape(self.text(key)) {
                Ok(k) => k.into_owned(),
                Err(_) => self.text(key).to_vec(),
            };
            self.diagnostics.push(errors::duplicate_key(
                &shown,
                line,
                previous.map(|p| p.line),
            ));
        }
    }

    /// Unescapes a key or value; on error records upstream's exception and a diagnostic.
    fn unescaped(&mut self, span: Span, raw: &[u8]) -> Option<Text> {
        match escape::unescape(raw) {
            Ok(std::borrow::Cow::Borrowed(_)) => Some(Text::Src(span)),
            Ok(std::borrow::Cow::Owned(bytes)) => Some(Text::Owned(bytes.into())),
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

    fn param_lints(
        &mut self,
        line: Span,
        key: Span,
        eq: Option<u32>,
        value: Option<Span>,
        at_root: bool,
    ) {
        let key_raw = self.text(key);
        let value_raw = value.map(|v| self.text(v)).unwrap_or_default();
        let mut found = Vec::new();
        if let Some(i) = memchr::memchr2(b'<', b'>', key_raw) {
            found.push(errors::angle_bracket_in_text(key.sub(i, i + 1), "key"));
        }
        if let (Some(v), Some(i)) = (value, memchr::memchr2(b'<', b'>', value_raw)) {
            found.push(errors::angle_bracket_in_text(v.sub(i, i + 1), "value"));
        }
        if let Some(v) = value
            && let Some(i) = memchr::memchr_iter(b'#', value_raw)
                .find(|&i| i > 0 && matches!(value_raw[i - 1], b' ' | b'\t'))
        {
            found.push(errors::hash_in_value(v.sub(i, value_raw.len())));
        }
        if key.is_empty() && eq.is_some() {
            found.push(errors::empty_key(line));
        }
        if at_root {
            found.push(errors::root_level_param(line));
        }
        // `\\=`: the `=` is skipped as escaped although its backslash is itself escaped.
        let content = self.text(line);
        let mut i = 0;
        while let Some(j) = memchr::memchr(b'=', &content[i..]) {
            let pos = i + j;
            if eq.is_some_and(|e| e as usize == line.start as usize + pos) {
                break;
            }
            let slashes = content[..pos]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            if slashes >= 2 && slashes % 2 == 0 {
                found.push(errors::escaped_backslash_before_equals(
                    line.sub(pos - 2, pos + 1),
                ));
                break;
            }
            i = pos + 1;
        }
        self.diagnostics.extend(found);
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
        let frames: Vec<Span> = self.stack.iter().filter_map(|f| f.open).collect();
        for open in frames.into_iter().rev() {
            let raw = self.text(open);
            let (s, e) = syntax::trim_range(raw);
            let name = raw[s..e].to_vec();
            self.push(errors::unclosed_domain(open, &name));
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
}
