//! Upstream serialisation (`TC_Config::tostr`) and merge (`joinConfig`).

use std::fmt;

use crate::escape;
use crate::limits::{self, TooLarge};
use crate::model::{Config, NONE, ParamOrigin};
use crate::parse::UpstreamError;
use crate::span::Span;

/// What `tostr` could not write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TostrError {
    /// A `<` or `>` in a domain name, key or value: upstream `reverse_parse` throws.
    AngleBracket {
        /// `"domain name"`, `"key"` or `"value"`.
        what: &'static str,
        /// The offending text (unescaped).
        text: Vec<u8>,
        /// Where it was parsed from, when it came from the source.
        span: Option<Span>,
    },
    /// The text would be larger than [`limits::MAX_OUTPUT`]: tarsdock's bound (upstream
    /// would go on writing).
    TooLarge(TooLarge),
}

impl TostrError {
    /// Where the offending text was parsed from, when known.
    #[must_use]
    pub fn span(&self) -> Option<Span> {
        match self {
            Self::AngleBracket { span, .. } => *span,
            Self::TooLarge(_) => None,
        }
    }

    /// The message as upstream's `what()` gives it (the text's bytes as they are, up to a
    /// NUL), or tarsdock's own for [`TostrError::TooLarge`].
    #[must_use]
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::AngleBracket { text, .. } => {
                let mut out = b"[TC_ConfigDomain::reverse_parse] '".to_vec();
                out.extend_from_slice(text);
                out.extend_from_slice(b"' is invalid, couldn't be parse!");
                if let Some(nul) = memchr::memchr(0, &out) {
                    out.truncate(nul);
                }
                out
            }
            Self::TooLarge(e) => e.to_string().into_bytes(),
        }
    }
}

impl fmt::Display for TostrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes()))
    }
}

impl std::error::Error for TostrError {}

impl From<TooLarge> for TostrError {
    fn from(e: TooLarge) -> Self {
        Self::TooLarge(e)
    }
}

/// Why [`Config::join`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// One side could not be serialised.
    Tostr(TostrError),
    /// The concatenated text did not parse (upstream throws from `parseString`).
    Parse(UpstreamError),
}

impl JoinError {
    /// The message as upstream's `what()` gives it (see [`TostrError::bytes`]).
    #[must_use]
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Tostr(e) => e.bytes(),
            Self::Parse(e) => e.bytes.clone(),
        }
    }

    /// Where the offending text was parsed from, when known.
    #[must_use]
    pub fn span(&self) -> Option<Span> {
        match self {
            Self::Tostr(e) => e.span(),
            Self::Parse(e) => Some(e.span),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tostr(e) => e.fmt(f),
            Self::Parse(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<TostrError> for JoinError {
    fn from(e: TostrError) -> Self {
        Self::Tostr(e)
    }
}

const INDENT: &[u8] = b"                                                                ";

fn indent(out: &mut Vec<u8>, level: usize) {
    let mut n = level * 2;
    while n > 0 {
        let k = n.min(INDENT.len());
        out.extend_from_slice(&INDENT[..k]);
        n -= k;
    }
}

impl Config {
    /// Upstream `tostr()`: the root's sub-domains sorted by raw name, each written with two
    /// spaces of indent per level; keys in key order, an empty value written as a bare key;
    /// names, keys and values escaped; root-level parameters and comments dropped.
    ///
    /// # Errors
    /// `<` or `>` in any name, key or value (upstream `reverse_parse` throws).
    /// [`TostrError::TooLarge`] when the text would pass [`limits::MAX_OUTPUT`].
    pub fn to_text(&self) -> Result<Vec<u8>, TostrError> {
        let capacity = (self.src.len() + self.src.len() / 4 + 64).min(limits::MAX_OUTPUT);
        let mut out = Vec::with_capacity(capacity);
        self.write_text(&mut out, limits::MAX_OUTPUT)?;
        Ok(out)
    }

    /// Upstream `joinConfig(other, update)`: `tostr` of both, concatenated (`self` first when
    /// `update`, so `other` wins; `other` first otherwise), parsed again into `self`.
    ///
    /// # Errors
    /// Either side cannot be serialised, or (in theory) the concatenation does not parse.
    pub fn join(&mut self, other: &Self, update: bool) -> Result<(), JoinError> {
        let size = self.src.len() + other.src.len();
        let mut buffer = Vec::with_capacity((size + size / 4 + 128).min(limits::MAX_OUTPUT));
        let (first, second) = if update {
            (&*self, other)
        } else {
            (other, &*self)
        };
        // Both sides together within the bound: the re-parse reads no more than that.
        let written = first
            .write_text(&mut buffer, limits::MAX_OUTPUT)
            .and_then(|()| second.write_text(&mut buffer, limits::MAX_OUTPUT));
        if let Err(e) = written {
            // Upstream serialises `this` before `other`: report the error it would meet first.
            if let TostrError::AngleBracket { .. } = e {
                self.check_text()?;
                other.check_text()?;
            }
            return Err(JoinError::Tostr(e));
        }
        *self = Self::parse_upstream(buffer).map_err(JoinError::Parse)?;
        Ok(())
    }

    /// The first `<` or `>` `tostr` would meet, without writing anything.
    fn check_text(&self) -> Result<(), TostrError> {
        let mut order: Vec<u32> = self.root().children().map(|d| d.id()).collect();
        order.sort_by(|&a, &b| {
            let name = |id| self.bytes(self.domain_at(id).raw_text());
            name(a).cmp(name(b))
        });
        let mut todo: Vec<u32> = Vec::new();
        for top in order {
            // Pre-order, as `tostr` writes: the domain, its parameters, then its children.
            todo.push(top);
            while let Some(id) = todo.pop() {
                self.check_domain(id)?;
                let first = todo.len();
                let mut child = self.domain_at(id).first_child();
                while child != NONE {
                    todo.push(child);
                    child = self.domain_at(child).next_sibling();
                }
                todo[first..].reverse();
            }
        }
        Ok(())
    }

    fn check_domain(&self, id: u32) -> Result<(), TostrError> {
        let domain = self.domain_at(id);
        let name = self.bytes(domain.name_text());
        if memchr::memchr2(b'<', b'>', name).is_some() {
            return Err(fail("domain name", name, domain.first_open()));
        }
        for param in self.domain_ref(id).params() {
            if memchr::memchr2(b'<', b'>', param.key).is_some() {
                return Err(fail("key", param.key, param.origin.map(|o| o.key)));
            }
            if memchr::memchr2(b'<', b'>', param.value).is_some() {
                return Err(fail(
                    "value",
                    param.value,
                    param.origin.and_then(|o| o.value),
                ));
            }
        }
        Ok(())
    }

    /// Appends the `tostr` text to `out`, refusing to grow it past `limit`. Iterative: the
    /// nesting depth of a template is bounded only by its size.
    fn write_text(&self, out: &mut Vec<u8>, limit: usize) -> Result<(), TostrError> {
        let mut order: Vec<u32> = self.root().children().map(|d| d.id()).collect();
        order.sort_by(|&a, &b| {
            let name = |id| self.bytes(self.domain_at(id).raw_text());
            name(a).cmp(name(b))
        });
        // Open domains, innermost last, each with the next child to write.
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for top in order {
            self.write_open(top, 0, out, limit)?;
            stack.push((top, self.domain_at(top).first_child()));
            loop {
                let level = stack.len().saturating_sub(1);
                let Some(&mut (id, ref mut next)) = stack.last_mut() else {
                    break;
                };
                if *next == NONE {
                    self.write_close(id, level, out, limit)?;
                    stack.pop();
                    continue;
                }
                let child = *next;
                *next = self.domain_at(child).next_sibling();
                self.write_open(child, level + 1, out, limit)?;
                stack.push((child, self.domain_at(child).first_child()));
            }
        }
        Ok(())
    }

    /// The open tag and the parameters of one domain.
    fn write_open(
        &self,
        id: u32,
        level: usize,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TostrError> {
        let domain = self.domain_at(id);
        let name = self.bytes(domain.name_text());
        room(out, level, name.len(), limit)?;
        indent(out, level);
        out.push(b'<');
        escape::escape_into(name, out)
            .map_err(|_| fail("domain name", name, domain.first_open()))?;
        out.extend_from_slice(b">\n");
        for param in self.domain_ref(id).params() {
            room(out, level + 1, param.key.len() + param.value.len(), limit)?;
            indent(out, level + 1);
            escape::escape_into(param.key, out)
                .map_err(|_| fail("key", param.key, param.origin.map(|o: ParamOrigin| o.key)))?;
            if !param.value.is_empty() {
                out.push(b'=');
                escape::escape_into(param.value, out)
                    .map_err(|_| fail("value", param.value, param.origin.and_then(|o| o.value)))?;
            }
            out.push(b'\n');
        }
        Ok(())
    }

    fn write_close(
        &self,
        id: u32,
        level: usize,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TostrError> {
        let domain = self.domain_at(id);
        let name = self.bytes(domain.name_text());
        room(out, level, name.len(), limit)?;
        indent(out, level);
        out.extend_from_slice(b"</");
        escape::escape_into(name, out)
            .map_err(|_| fail("domain name", name, domain.first_open()))?;
        out.extend_from_slice(b">\n");
        Ok(())
    }
}

/// Whether a line of `level` indents and `len` bytes of text may still be written within
/// `limit`. Checked before each line, so the text passes the bound by at most what escaping
/// adds to one line.
fn room(out: &[u8], level: usize, len: usize, limit: usize) -> Result<(), TooLarge> {
    let line = level
        .saturating_mul(2)
        .saturating_add(len)
        .saturating_add(4);
    if out.len().saturating_add(line) > limit {
        return Err(TooLarge { limit });
    }
    Ok(())
}

fn fail(what: &'static str, text: &[u8], span: Option<Span>) -> TostrError {
    TostrError::AngleBracket {
        what,
        text: text.to_vec(),
        span,
    }
}
