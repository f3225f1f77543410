//! A key or value of a config line: its unescaped text and where it sits in the source, so that
//! a grammar working on the text can point at the exact bytes it rejects.

use parser::{Config, ParamRef, Span};

use crate::ir::TemplateLine;

/// One side of a `key=value` line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field<'a> {
    /// The unescaped bytes (what upstream sees).
    pub(crate) bytes: &'a [u8],
    /// The raw bytes in the source.
    pub(crate) span: Span,
    /// Whether the raw bytes equal the unescaped ones, so offsets map one to one.
    exact: bool,
}

impl<'a> Field<'a> {
    pub(crate) fn new(config: &Config, bytes: &'a [u8], span: Span) -> Self {
        let raw = config.source().get(span.range()).unwrap_or_default();
        Self {
            bytes,
            span,
            exact: raw == bytes,
        }
    }

    /// The span of `from..to` (offsets into the unescaped text); the whole field when escapes
    /// make offsets ambiguous.
    pub(crate) fn sub(&self, from: usize, to: usize) -> Span {
        if self.exact && to <= self.bytes.len() && from <= to {
            self.span.sub(from, to)
        } else {
            self.span
        }
    }

    /// The text as UTF-8, or `None`.
    pub(crate) fn text(&self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes).ok()
    }
}

/// A parameter of a domain with the spans of its line, key and value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line<'a> {
    pub(crate) key: Field<'a>,
    /// `None` for a line without `=`.
    pub(crate) value: Option<Field<'a>>,
    pub(crate) origin: TemplateLine,
}

impl<'a> Line<'a> {
    /// Spans come from the parameter's origin; a parameter set through the API (no origin)
    /// points at `fallback` (usually the domain's open tag).
    pub(crate) fn new(config: &Config, param: ParamRef<'a>, fallback: Span) -> Self {
        let origin = param.origin.map_or(
            TemplateLine {
                line: fallback,
                key: fallback,
                value: Some(fallback),
            },
            TemplateLine::from,
        );
        Self {
            key: Field::new(config, param.key, origin.key),
            value: origin
                .value
                .map(|span| Field::new(config, param.value, span)),
            origin,
        }
    }
}

/// The key of a raw parameter line as upstream splits it: the text before the first `=` that
/// does not follow a backslash, trimmed. For a line without `=`, the whole line.
pub(crate) fn raw_key(line: &[u8]) -> &[u8] {
    let mut previous = 0u8;
    for (i, &b) in line.iter().enumerate() {
        if b == b'=' && previous != b'\\' {
            return line.get(..i).map_or(line, <[u8]>::trim_ascii);
        }
        previous = b;
    }
    line.trim_ascii()
}
