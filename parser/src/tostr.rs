//! Upstream serialisation (`TC_Config::tostr`) and merge (`joinConfig`).

use std::fmt;

use crate::escape;
use crate::model::{Config, NONE, ParamOrigin};
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
        let mut out = Vec::with_capacity(self.src.len() + self.src.len() / 4 + 64);
        self.write_text(&mut out)?;
        Ok(out)
    }

    /// Upstream `joinConfig(other, update)`: `tostr` of both, concatenated (`self` first when
    /// `update`, so `other` wins; `other` first otherwise), parsed again into `self`.
    ///
    /// # Errors
    /// Either side cannot be serialised, or (in theory) the concatenation does not parse.
    pub fn join(&mut self, other: &Self, update: bool) -> Result<(), JoinError> {
        let size = self.src.len() + other.src.len();
        let mut buffer = Vec::with_capacity(size + size / 4 + 128);
        let (first, second) = if update {
            (&*self, other)
        } else {
            (other, &*self)
        };
        let written = first
            .write_text(&mut buffer)
            .and_then(|()| second.write_text(&mut buffer));
        if let Err(e) = written {
            // Upstream serialises `this` before `other`: report the error it would meet first.
            self.to_text()?;
            other.to_text()?;
            return Err(JoinError::Tostr(e));
        }
        *self = Self::parse_upstream(buffer).map_err(JoinError::Parse)?;
        Ok(())
    }

    /// Appends the `tostr` text to `out`. Iterative: the nesting depth of a template is
    /// bounded only by its size.
    fn write_text(&self, out: &mut Vec<u8>) -> Result<(), TostrError> {
        let mut order: Vec<u32> = self.root().children().map(|d| d.id()).collect();
        order.sort_by(|&a, &b| {
            let name = |id| self.bytes(self.domain_at(id).raw_text());
            name(a).cmp(name(b))
        });
        // Open domains, innermost last, each with the next child to write.
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for top in order {
            self.write_open(top, 0, out)?;
            stack.push((top, self.domain_at(top).first_child()));
            loop {
                let level = stack.len().saturating_sub(1);
                let Some(&mut (id, ref mut next)) = stack.last_mut() else {
                    break;
                };
                if *next == NONE {
                    self.write_close(id, level, out)?;
                    stack.pop();
                    continue;
                }
                let child = *next;
                *next = self.domain_at(child).next_sibling();
                self.write_open(child, level + 1, out)?;
                stack.push((child, self.domain_at(child).first_child()));
            }
        }
        Ok(())
    }

    /// The open tag and the parameters of one domain.
    fn write_open(&self, id: u32, level: usize, out: &mut Vec<u8>) -> Result<(), TostrError> {
        let domain = self.domain_at(id);
        let name = self.bytes(domain.name_text());
        indent(out, level);
        out.push(b'<');
        escape::escape_into(name, out)
            .map_err(|_| fail("domain name", name, domain.first_open()))?;
        out.extend_from_slice(b">\n");
        for param in self.domain_ref(id).params() {
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

    fn write_close(&self, id: u32, level: usize, out: &mut Vec<u8>) -> Result<(), TostrError> {
        let domain = self.domain_at(id);
        let name = self.bytes(domain.name_text());
        indent(out, level);
        out.extend_from_slice(b"</");
        escape::escape_into(name, out)
            .map_err(|_| fail("domain name", name, domain.first_open()))?;
        out.extend_from_slice(b">\n");
        Ok(())
    }
}

fn fail(what: &'static str, text: &[u8], span: Option<Span>) -> TostrError {
    TostrError {
        what,
        text: text.to_vec(),
        span,
    }
}
