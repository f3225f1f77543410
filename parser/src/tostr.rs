//! Upstream serialisation (`TC_Config::tostr`) and merge (`joinConfig`).

use std::fmt;

use crate::escape;
use crate::model::{Config, Domain, ParamOrigin, Text};
use crate::parse::UpstreamError;
use crate::span::Span;

/// What `tostr` could not write: a `<` or `>` in a domain name, key or value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TostrError {
    /// `"domain name"`, `"key"` or `"value"`.
    pub what: &'static str,
    /// The offending text (unescaped).
    pub text: Vec<u8>,
    /// Where it was parsed from, when it came from the source.
    pub span: Option<Span>,
}

impl fmt::Display for TostrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[TC_ConfigDomain::reverse_parse] '{}' is invalid, couldn't be parse!",
            String::from_utf8_lossy(&self.text)
        )
    }
}

impl std::error::Error for TostrError {}

/// Why [`Config::join`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// One side could not be serialised.
    Tostr(TostrError),
    /// The concatenated text did not parse (upstream throws from `parseString`).
    Parse(UpstreamError),
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
    pub fn to_text(&self) -> Result<Vec<u8>, TostrError> {
        let mut out = Vec::with_capacity(self.src.len() + 64);
        let mut order: Vec<&Domain> = self.root.children().iter().collect();
        order.sort_by(|a, b| self.bytes(a.raw_text()).cmp(self.bytes(b.raw_text())));
        for domain in order {
            self.write_domain(domain, 0, &mut out)?;
        }
        Ok(out)
    }

    /// Upstream `joinConfig(other, update)`: `tostr` of both, concatenated (`self` first when
    /// `update`, so `other` wins; `other` first otherwise), parsed again into `self`.
    ///
    /// # Errors
    /// Either side cannot be serialised, or (in theory) the concatenation does not parse.
    pub fn join(&mut self, other: &Self, update: bool) -> Result<(), JoinError> {
        let this = self.to_text()?;
        let that = other.to_text()?;
        let mut buffer = Vec::with_capacity(this.len() + that.len());
        if update {
            buffer.extend_from_slice(&this);
            buffer.extend_from_slice(&that);
        } else {
            buffer.extend_from_slice(&that);
            buffer.extend_from_slice(&this);
        }
        *self = Self::parse_upstream(buffer).map_err(JoinError::Parse)?;
        Ok(())
    }

    pub(crate) fn bytes<'a>(&'a self, text: &'a Text) -> &'a [u8] {
        match text {
            Text::Src(span) => self.src.get(span.range()).unwrap_or_default(),
            Text::Owned(bytes) => bytes,
        }
    }

    fn write_domain(
        &self,
        domain: &Domain,
        level: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), TostrError> {
        let name = self.bytes(domain.name_text());
        let fail = |what, text: &[u8], span| TostrError {
            what,
            text: text.to_vec(),
            span,
        };
        let name_span = domain.first_open();
        indent(out, level);
        out.push(b'<');
        escape::escape_into(name, out).map_err(|_| fail("domain name", name, name_span))?;
        out.extend_from_slice(b">\n");
        for (key, value, origin) in domain.live_entries() {
            let key = self.bytes(key);
            let value = self.bytes(value);
            indent(out, level + 1);
            escape::escape_into(key, out)
                .map_err(|_| fail("key", key, origin.map(|o: ParamOrigin| o.key)))?;
            if !value.is_empty() {
                out.push(b'=');
                escape::escape_into(value, out)
                    .map_err(|_| fail("value", value, origin.and_then(|o| o.value)))?;
            }
            out.push(b'\n');
        }
        for child in domain.children() {
            self.write_domain(child, level + 1, out)?;
        }
        indent(out, level);
        out.extend_from_slice(b"</");
        escape::escape_into(name, out).map_err(|_| fail("domain name", name, name_span))?;
        out.extend_from_slice(b">\n");
        Ok(())
    }
}
