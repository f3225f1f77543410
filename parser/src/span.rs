//! Byte spans into one source text, and the line index that turns them into lines and columns.

use serde::Serialize;

/// A half-open byte range `start..end` into a source text.
///
/// Offsets are `u32`: [`crate::parse`] refuses inputs of 4 GiB or more with a diagnostic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    #[must_use]
    pub const fn new(start: u32, end: u32) -> Self {
        Self { start, end }
    }

    /// An empty span at `offset`.
    #[must_use]
    pub const fn empty(offset: u32) -> Self {
        Self {
            start: offset,
            end: offset,
        }
    }

    #[must_use]
    pub const fn len(self) -> u32 {
        self.end - self.start
    }

    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.start == self.end
    }

    #[must_use]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The sub-span `from..to`, relative to `self.start`.
    #[must_use]
    pub fn sub(self, from: usize, to: usize) -> Self {
        // Offsets inside a span of a < 4 GiB text always fit in u32.
        Self {
            start: self.start + u32::try_from(from).unwrap_or(u32::MAX - self.start),
            end: self.start + u32::try_from(to).unwrap_or(u32::MAX - self.start),
        }
    }

    /// The smallest span covering both.
    #[must_use]
    pub fn cover(self, other: Self) -> Self {
        Self {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.start as usize, span.len() as usize).into()
    }
}

/// A position for humans and editors: 1-based line, 1-based column in Unicode scalar values
/// (invalid UTF-8 bytes count one each), and the 1-based column in UTF-16 code units (LSP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
    pub column_utf16: u32,
}

/// Start offsets of every line of a text, for offset → line/column conversion.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    #[must_use]
    pub fn new(text: &[u8]) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(
            memchr::memchr_iter(b'\n', text).map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX)),
        );
        Self { starts }
    }

    /// The index of `text` from the [`Line`](crate::Line)s a parse split it into, without
    /// scanning the text again; equal to [`LineIndex::new`]. Falls back to scanning when the
    /// lines do not tile `text` (a parse that refused the input keeps no lines).
    #[must_use]
    pub fn from_lines(text: &[u8], lines: &[crate::Line]) -> Self {
        let tiles = lines.last().map_or(0, |l| l.full.end as usize) == text.len();
        if !tiles {
            return Self::new(text);
        }
        let mut starts = Vec::with_capacity(lines.len() + 1);
        starts.push(0);
        starts.extend(
            lines
                .iter()
                .filter(|l| l.full.end > 0 && text.get(l.full.end as usize - 1) == Some(&b'\n'))
                .map(|l| l.full.end),
        );
        Self { starts }
    }

    /// Number of lines (a trailing newline opens one more, empty line).
    #[must_use]
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// Start offset of 0-based line `line`.
    #[must_use]
    pub fn line_start(&self, line: usize) -> Option<u32> {
        self.starts.get(line).copied()
    }

    /// Line and column of `offset` in `text` (the text this index was built from).
    #[must_use]
    pub fn line_col(&self, text: &[u8], offset: u32) -> LineCol {
        let offset = offset.min(u32::try_from(text.len()).unwrap_or(u32::MAX));
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0) as usize;
        let prefix = text.get(start..offset as usize).unwrap_or_default();
        let (chars, utf16) = count_columns(prefix);
        LineCol {
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            column: chars + 1,
            column_utf16: utf16 + 1,
        }
    }
}

/// Counts Unicode scalar values and UTF-16 code units in `bytes`; each byte of an invalid
/// UTF-8 sequence counts as one of each (it is shown as one replacement character).
fn count_columns(bytes: &[u8]) -> (u32, u32) {
    // Most lines are ASCII: one char and one UTF-16 unit per byte, checked a word at a time.
    if bytes.is_ascii() {
        let n = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        return (n, n);
    }
    let mut chars = 0u32;
    let mut utf16 = 0u32;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            chars += 1;
            utf16 += u32::try_from(c.len_utf16()).unwrap_or(2);
        }
        let invalid = u32::try_from(chunk.invalid().len()).unwrap_or(u32::MAX);
        chars += invalid;
        utf16 += invalid;
    }
    (chars, utf16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_from_parsed_lines_equals_a_scan() {
        for text in [
            "",
            "\n",
            "a=1",
            "a=1\n",
            "a=1\r\nb\r\n\r\n",
            "<t>\n a=\\\n</t>",
            "\n\n\nx",
            "# 中文\n😀=1\n",
        ] {
            let parse = crate::parse(text.as_bytes().to_vec());
            assert_eq!(
                LineIndex::from_lines(text.as_bytes(), &parse.tree.lines).starts,
                LineIndex::new(text.as_bytes()).starts,
                "{text:?}"
            );
        }
    }

    #[test]
    fn line_col_counts_chars_and_utf16() {
        let text = "a=1\n# 中文 😀 x\n".as_bytes();
        let index = LineIndex::new(text);
        let x = text.iter().position(|&b| b == b'x').unwrap();
        let lc = index.line_col(text, x as u32);
        assert_eq!(lc.line, 2);
        assert_eq!(lc.column, 8);
        assert_eq!(lc.column_utf16, 9);
        assert_eq!(index.line_col(text, 0).line, 1);
        assert_eq!(index.line_col(text, 4).line, 2);
    }

    #[test]
    fn invalid_utf8_counts_one_per_byte() {
        let text = b"a=\xc4\xe3x";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(text, 4).column, 5);
    }
}
