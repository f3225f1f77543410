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
///
/// Columns are counted from the start of the line, so on a long line every conversion would
/// rescan it (a million findings on a 1 MB line: quadratic). Lines longer than
/// [`CHECKPOINT_STRIDE`] therefore keep a checkpoint (offset, columns so far) about every
/// stride bytes, built in the same pass, and a conversion counts from the nearest one.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<u32>,
    /// `(offset, chars, utf16)` from the start of its line, sorted by offset; only on lines
    /// longer than the stride, and only at character boundaries.
    checkpoints: Vec<(u32, u32, u32)>,
}

/// Bytes between two column checkpoints of a long line.
pub const CHECKPOINT_STRIDE: usize = 1024;

impl LineIndex {
    #[must_use]
    pub fn new(text: &[u8]) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(
            memchr::memchr_iter(b'\n', text).map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX)),
        );
        let checkpoints = checkpoints(text, &starts);
        Self {
            starts,
            checkpoints,
        }
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
        let checkpoints = checkpoints(text, &starts);
        Self {
            starts,
            checkpoints,
        }
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
        let line_start = self.starts.get(line).copied().unwrap_or(0);
        // The nearest checkpoint of this line at or before `offset`.
        let (start, base_chars, base_utf16) = match self
            .checkpoints
            .partition_point(|&(at, _, _)| at <= offset)
            .checked_sub(1)
            .map(|i| self.checkpoints[i])
        {
            Some(point) if point.0 >= line_start => point,
            _ => (line_start, 0, 0),
        };
        let prefix = text
            .get(start as usize..offset as usize)
            .unwrap_or_default();
        let (chars, utf16) = count_columns(prefix);
        LineCol {
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            column: base_chars + chars + 1,
            column_utf16: base_utf16 + utf16 + 1,
        }
    }
}

/// Column checkpoints of every line longer than [`CHECKPOINT_STRIDE`] (see [`LineIndex`]).
fn checkpoints(text: &[u8], starts: &[u32]) -> Vec<(u32, u32, u32)> {
    let mut points = Vec::new();
    let ends = starts
        .iter()
        .skip(1)
        .map(|&s| s as usize)
        .chain([text.len()]);
    for (&start, end) in starts.iter().zip(ends) {
        let start = start as usize;
        if end.saturating_sub(start) <= CHECKPOINT_STRIDE {
            continue;
        }
        let (mut at, mut chars, mut utf16) = (start, 0u32, 0u32);
        let mut next = start + CHECKPOINT_STRIDE;
        while next < end {
            // Forward to a character boundary (at most three bytes away).
            while next < end && !is_boundary(text, next) {
                next += 1;
            }
            if next >= end {
                break;
            }
            let (c, u) = count_columns(&text[at..next]);
            chars += c;
            utf16 += u;
            at = next;
            points.push((u32::try_from(at).unwrap_or(u32::MAX), chars, utf16));
            next = at + CHECKPOINT_STRIDE;
        }
    }
    points
}

/// Whether counting columns may restart at `i`: no valid UTF-8 sequence can run across it
/// (the byte is not a continuation byte, or none of the three bytes before it can lead one).
fn is_boundary(text: &[u8], i: usize) -> bool {
    let continuation = |b: u8| (0x80..0xC0).contains(&b);
    if !continuation(text[i]) {
        return true;
    }
    text[i.saturating_sub(3)..i].iter().all(|&b| b < 0xC0)
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

    /// Checkpoints on long lines give the same columns as counting from the line start, for
    /// ASCII, CJK, GBK, emoji and bytes that are no encoding at all.
    #[test]
    fn long_line_checkpoints_count_like_a_scan() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces: [&[u8]; 7] = [
            b"a",
            "中".as_bytes(),
            b"\xc8\xd5",
            "😀".as_bytes(),
            b"\x80\x80\x80\x80",
            b"\xe4\xb8",
            b"\n",
        ];
        for _ in 0..20 {
            let mut text = Vec::new();
            while text.len() < 3 * CHECKPOINT_STRIDE {
                let n = (random() % 700) as usize;
                let piece = pieces[(random() % 7) as usize];
                for _ in 0..n.min(if piece == b"\n" { 1 } else { n }) {
                    text.extend_from_slice(piece);
                }
            }
            let index = LineIndex::new(&text);
            let plain = LineIndex {
                starts: index.starts.clone(),
                checkpoints: Vec::new(),
            };
            for offset in (0..=text.len()).step_by(7) {
                let offset = offset as u32;
                assert_eq!(
                    index.line_col(&text, offset),
                    plain.line_col(&text, offset),
                    "offset {offset}"
                );
            }
        }
        let long = vec![b'x'; 10 * CHECKPOINT_STRIDE];
        assert!(!LineIndex::new(&long).checkpoints.is_empty());
    }

    #[test]
    fn invalid_utf8_counts_one_per_byte() {
        let text = b"a=\xc4\xe3x";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(text, 4).column, 5);
    }
}
