//! The lossless syntax: one [`Line`] per input line, tiling the input byte for byte.
//!
//! TC_Config is line oriented (upstream splits on `\n` and decides per line), so the syntax
//! "tree" is the sequence of lines, each with its kind and the spans of its parts, plus the
//! nesting depth the semantic pass gave it. Concatenating every line's `full` span gives the
//! input back unchanged, whatever its bytes (CRLF, GBK, a missing final newline).

use nom::bytes::complete::{tag, take_till};
use nom::combinator::opt;
use nom::{IResult, Parser};
use serde::Serialize;

use crate::escape::bytes_equal;
use crate::span::Span;

/// The characters upstream trims from both ends of a line, key and value.
pub(crate) const fn is_trim(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n' | b'\t')
}

/// `s` without upstream's trim characters at either end, as offsets into `s`.
pub(crate) fn trim_range(s: &[u8]) -> (usize, usize) {
    let start = s.iter().position(|&b| !is_trim(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_trim(b))
        .map_or(start, |i| i + 1);
    (start, end)
}

/// What one line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineKind {
    /// Empty after trimming.
    Blank,
    /// Starts with `#` after trimming.
    Comment,
    /// `<name>` — `name` is the raw text between `<` and the first `>`; `rest` is whatever
    /// follows that `>` (ignored upstream).
    Open { name: Span, rest: Span },
    /// `</name>`, with the same parts.
    Close { name: Span, rest: Span },
    /// Starts with `<` but has no `>`: upstream refuses the file.
    Unterminated,
    /// `key=value` or a bare `key`. `key` is the trimmed raw key, `value` the trimmed raw value
    /// (`None` when the line has no unescaped `=`), `eq` the offset of that `=`.
    Param {
        key: Span,
        eq: Option<u32>,
        value: Option<Span>,
    },
}

/// One line of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub kind: LineKind,
    /// The whole line including its `\n` terminator (if any). Lines tile the input.
    pub full: Span,
    /// The line after upstream's trim (`" \r\n\t"` at both ends).
    pub content: Span,
    /// Nesting depth: 0 at the root; an open tag has the depth of its parent, a close tag the
    /// depth of the domain it closes' parent, a parameter the depth of its domain.
    pub depth: u32,
}

/// The lossless syntax of one input: its lines in order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyntaxTree {
    pub lines: Vec<Line>,
}

impl SyntaxTree {
    /// Rebuilds the text from the lines: always equal to the parsed input.
    #[must_use]
    pub fn text(&self, source: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(source.len());
        for line in &self.lines {
            out.extend_from_slice(&source[line.full.range()]);
        }
        out
    }
}

/// Classifies the trimmed `content` of a line starting at `base`.
#[cfg(test)]
pub(crate) fn classify(content: &[u8], base: u32) -> LineKind {
    classify_line(content, base).0
}

/// What the parser learns about a parameter line in the same pass that splits it. Offsets
/// are relative to the line's trimmed content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ParamFacts {
    /// A `\` in the key: it needs unescaping.
    pub(crate) key_escape: bool,
    /// A `\` in the value.
    pub(crate) value_escape: bool,
    /// The first `<` or `>` in the key.
    pub(crate) key_angle: Option<usize>,
    /// The first `<` or `>` in the value.
    pub(crate) value_angle: Option<usize>,
    /// The first `#` after a blank inside the value (not at its start).
    pub(crate) hash: Option<usize>,
    /// The first `=` before the separator that follows an even run of two or more `\`.
    pub(crate) escaped_backslash_eq: Option<usize>,
}

/// Classifies the trimmed `content` of a line starting at `base`; for a parameter line, also
/// returns its [`ParamFacts`].
pub(crate) fn classify_line(content: &[u8], base: u32) -> (LineKind, ParamFacts) {
    let span = |from: usize, to: usize| Span::new(base, base).sub(from, to);
    let kind = match content.first() {
        None => LineKind::Blank,
        Some(b'#') => LineKind::Comment,
        Some(b'<') => match tag_line(content) {
            Ok((_, (close, name_len))) => {
                let name_start = if close { 2 } else { 1 };
                let name_end = name_start + name_len;
                let name = span(name_start, name_end);
                let rest = span(name_end + 1, content.len());
                if close {
                    LineKind::Close { name, rest }
                } else {
                    LineKind::Open { name, rest }
                }
            }
            Err(_) => LineKind::Unterminated,
        },
        Some(_) => {
            let (eq, facts) = scan_param(content);
            let (key_part, value) = match eq {
                Some(pos) => {
                    let (vs, ve) = trim_range(&content[pos + 1..]);
                    (&content[..pos], Some(span(pos + 1 + vs, pos + 1 + ve)))
                }
                None => (content, None),
            };
            let (ks, ke) = trim_range(key_part);
            let kind = LineKind::Param {
                key: span(ks, ke),
                eq: eq.map(|pos| base + u32::try_from(pos).unwrap_or(u32::MAX - base)),
                value,
            };
            return (kind, facts);
        }
    };
    (kind, ParamFacts::default())
}

/// Bytes that [`scan_param`] looks at; every other byte is skipped.
const PARAM_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'=' as usize] = true;
    table[b'\\' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'#' as usize] = true;
    table
};

/// The high bit of each byte of `word` that is `<`, `=`, `>` or `?` (which shares their top
/// six bits and is skipped later), `\` or `#`.
const fn special_bytes(word: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    bytes_equal(word & (LO * 0xFC), 0x3C) | bytes_equal(word, b'\\') | bytes_equal(word, b'#')
}

/// The state of [`scan_param`].
struct ParamScan<'a> {
    content: &'a [u8],
    eq: Option<usize>,
    facts: ParamFacts,
    value_start: Option<usize>,
}

impl ParamScan<'_> {
    #[inline]
    fn word(&mut self, at: usize, bytes: [u8; 8]) {
        let mut mask = special_bytes(u64::from_le_bytes(bytes));
        while mask != 0 {
            let j = (mask.trailing_zeros() / 8) as usize;
            mask &= mask - 1;
            self.byte(at + j, bytes[j]);
        }
    }

    fn byte(&mut self, i: usize, b: u8) {
        if !PARAM_SPECIAL[b as usize] {
            return;
        }
        let content = self.content;
        let facts = &mut self.facts;
        match (b, self.eq) {
            (b'=', None) => {
                let run = content[..i]
                    .iter()
                    .rev()
                    .take_while(|&&c| c == b'\\')
                    .count();
                if run == 0 {
                    self.eq = Some(i);
                } else if run >= 2 && run % 2 == 0 && facts.escaped_backslash_eq.is_none() {
                    facts.escaped_backslash_eq = Some(i);
                }
            }
            (b'\\', None) => facts.key_escape = true,
            (b'\\', Some(_)) => facts.value_escape = true,
            (b'<' | b'>', None) => {
                facts.key_angle.get_or_insert(i);
            }
            (b'<' | b'>', Some(_)) => {
                facts.value_angle.get_or_insert(i);
            }
            (b'#', Some(e)) if facts.hash.is_none() && matches!(content[i - 1], b' ' | b'\t') => {
                let start = *self.value_start.get_or_insert_with(|| {
                    let rest = &content[e + 1..];
                    e + 1 + rest.iter().position(|&c| !is_trim(c)).unwrap_or(rest.len())
                });
                if i > start {
                    facts.hash = Some(i);
                }
            }
            _ => {}
        }
    }
}

/// One pass over a parameter line: the separator (upstream's first `=` whose previous byte is
/// not `\`) and the [`ParamFacts`]. Eight bytes at a time, visiting only the bytes that
/// matter (a line has one or two).
fn scan_param(content: &[u8]) -> (Option<usize>, ParamFacts) {
    let mut scan = ParamScan {
        content,
        eq: None,
        facts: ParamFacts::default(),
        value_start: None,
    };
    let words = content.chunks_exact(8);
    let tail = words.remainder();
    for (w, word) in words.enumerate() {
        let bytes = [
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ];
        scan.word(w * 8, bytes);
    }
    // The tail is padded with NUL bytes, which are not special.
    let mut bytes = [0u8; 8];
    for (slot, &b) in bytes.iter_mut().zip(tail) {
        *slot = b;
    }
    scan.word(content.len() - tail.len(), bytes);
    (scan.eq, scan.facts)
}

/// `<` [`/`] name `>` — returns whether it is a close tag and the name's length.
///
/// Upstream takes the first `>`; the name is everything between. Note that `</` is a close
/// tag even when the name after it is empty (`</>`).
fn tag_line(input: &[u8]) -> IResult<&[u8], (bool, usize)> {
    let (input, _) = tag(&b"<"[..]).parse(input)?;
    let (input, slash) = opt(tag(&b"/"[..])).parse(input)?;
    let (input, name) = take_till(|b| b == b'>').parse(input)?;
    let (input, _) = tag(&b">"[..]).parse(input)?;
    Ok((input, (slash.is_some(), name.len())))
}

/// The first `=` whose previous byte is not `\` (upstream's rule: only one byte is checked).
/// The reference for [`scan_param`], which finds the same `=` in its single pass.
#[cfg(test)]
fn find_separator(content: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'=', content).find(|&i| i == 0 || content[i - 1] != b'\\')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The facts as the parser first computed them, one search per fact: the reference for
    /// [`scan_param`].
    fn reference_facts(content: &[u8]) -> (Option<usize>, ParamFacts) {
        let eq = find_separator(content);
        let (key_part, value_start) = match eq {
            Some(pos) => {
                let (vs, _) = trim_range(&content[pos + 1..]);
                (&content[..pos], Some(pos + 1 + vs))
            }
            None => (content, None),
        };
        let value = value_start.map_or(&b""[..], |vs| &content[vs..]);
        let mut facts = ParamFacts {
            key_escape: key_part.contains(&b'\\'),
            value_escape: value.contains(&b'\\'),
            key_angle: key_part.iter().position(|&b| b == b'<' || b == b'>'),
            value_angle: value
                .iter()
                .position(|&b| b == b'<' || b == b'>')
                .and_then(|i| Some(value_start? + i)),
            hash: (1..value.len())
                .find(|&i| value[i] == b'#' && matches!(value[i - 1], b' ' | b'\t'))
                .and_then(|i| Some(value_start? + i)),
            escaped_backslash_eq: None,
        };
        for (pos, _) in content.iter().enumerate().filter(|&(_, &b)| b == b'=') {
            if eq == Some(pos) {
                break;
            }
            let slashes = content[..pos]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            if slashes >= 2 && slashes % 2 == 0 {
                facts.escaped_backslash_eq = Some(pos);
                break;
            }
        }
        (eq, facts)
    }

    proptest! {
        #[test]
        fn scan_param_matches_reference(
            line in prop::collection::vec(
                prop::sample::select(&b"ab =\\<>?#\t\r"[..]), 0..40)
        ) {
            // A parameter line's content is trimmed and starts with neither `#` nor `<`.
            let (s, e) = trim_range(&line);
            let content = &line[s..e];
            prop_assume!(!content.is_empty() && content[0] != b'#' && content[0] != b'<');
            prop_assert_eq!(scan_param(content), reference_facts(content));
        }
    }

    #[test]
    fn classify_lines() {
        assert_eq!(classify(b"", 0), LineKind::Blank);
        assert_eq!(classify(b"# c", 0), LineKind::Comment);
        assert_eq!(
            classify(b"<t> junk", 10),
            LineKind::Open {
                name: Span::new(11, 12),
                rest: Span::new(13, 18)
            }
        );
        assert_eq!(
            classify(b"</>", 0),
            LineKind::Close {
                name: Span::new(2, 2),
                rest: Span::new(3, 3)
            }
        );
        assert_eq!(classify(b"<t", 0), LineKind::Unterminated);
        assert_eq!(
            classify(b"a = 1", 0),
            LineKind::Param {
                key: Span::new(0, 1),
                eq: Some(2),
                value: Some(Span::new(4, 5))
            }
        );
        assert_eq!(
            classify(br"a\=b", 0),
            LineKind::Param {
                key: Span::new(0, 4),
                eq: None,
                value: None
            }
        );
    }
}
