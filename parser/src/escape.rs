//! Upstream's escaping: `TC_ConfigDomain::parse` (unescape) and `reverse_parse` (escape).

use std::borrow::Cow;

/// Why [`unescape`] failed. Upstream throws in both cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapeError {
    /// `\` followed by a byte other than `\ r n t =`, at this offset (of the backslash).
    Unknown { offset: usize, byte: u8 },
    /// A lone `\` at the end, at this offset.
    Trailing { offset: usize },
}

impl EscapeError {
    #[must_use]
    pub const fn offset(self) -> usize {
        match self {
            Self::Unknown { offset, .. } | Self::Trailing { offset } => offset,
        }
    }
}

/// Undoes upstream escaping: `\\ \r \n \t \=`; anything else after `\` is an error.
///
/// # Errors
/// The first invalid escape, as upstream would throw it.
pub fn unescape(s: &[u8]) -> Result<Cow<'_, [u8]>, EscapeError> {
    let Some(first) = memchr::memchr(b'\\', s) else {
        return Ok(Cow::Borrowed(s));
    };
    let mut out = Vec::with_capacity(s.len());
    out.extend_from_slice(&s[..first]);
    let mut i = first;
    while i < s.len() {
        let b = s[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&next) = s.get(i + 1) else {
            return Err(EscapeError::Trailing { offset: i });
        };
        out.push(match next {
            b'\\' => b'\\',
            b'r' => b'\r',
            b'n' => b'\n',
            b't' => b'\t',
            b'=' => b'=',
            byte => return Err(EscapeError::Unknown { offset: i, byte }),
        });
        i += 2;
    }
    Ok(Cow::Owned(out))
}

/// `<` or `>` found by [`escape`] at this offset: upstream's `reverse_parse` throws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AngleBracket {
    pub offset: usize,
}

/// Upstream `reverse_parse`, appending to `out`: `\`, CR, LF, TAB and `=` are escaped.
///
/// # Errors
/// `<` or `>` anywhere in `s`.
pub fn escape_into(s: &[u8], out: &mut Vec<u8>) -> Result<(), AngleBracket> {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        // Skip eight bytes at a time while none of them can need escaping; a tail shorter
        // than a word goes byte by byte (cheaper for the short keys and values of templates).
        if let Some(word) = s.get(i..i + 8) {
            let bytes = [
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ];
            let mask = escape_candidates(u64::from_le_bytes(bytes));
            if mask == 0 {
                i += 8;
                continue;
            }
            i += (mask.trailing_zeros() / 8) as usize;
        }
        let escaped: &[u8] = match s[i] {
            b'\\' => b"\\\\",
            b'\r' => b"\\r",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'=' => b"\\=",
            b'<' | b'>' => return Err(AngleBracket { offset: i }),
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(escaped);
        i += 1;
        start = i;
    }
    out.extend_from_slice(&s[start..]);
    Ok(())
}

/// The high bit of each byte of `word` that equals `byte`. Exact: no carry crosses bytes.
pub(crate) const fn bytes_equal(word: u64, byte: u8) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HI: u64 = 0x8080_8080_8080_8080;
    let x = word ^ (LO * byte as u64);
    !(((x & LO7) + LO7) | x) & HI
}

/// Bytes of `word` that may need escaping: `\`, 0x08..=0x0F (TAB, LF, CR and neighbours) and
/// 0x3C..=0x3F (`<`, `=`, `>` and `?`); the caller checks each candidate exactly.
const fn escape_candidates(word: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    bytes_equal(word & (LO * 0xF8), 0x08)
        | bytes_equal(word & (LO * 0xFC), 0x3C)
        | bytes_equal(word, b'\\')
}

/// Upstream `reverse_parse` into a new buffer.
///
/// # Errors
/// `<` or `>` anywhere in `s`.
pub fn escape(s: &[u8]) -> Result<Vec<u8>, AngleBracket> {
    let mut out = Vec::with_capacity(s.len() + 4);
    escape_into(s, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_known() {
        assert_eq!(
            unescape(br"a\=b\\c\td\ne\rf").unwrap().as_ref(),
            b"a=b\\c\td\ne\rf"
        );
        assert!(matches!(unescape(b"plain").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn unescape_errors() {
        assert_eq!(
            unescape(br"C:\foo"),
            Err(EscapeError::Unknown {
                offset: 2,
                byte: b'f'
            })
        );
        assert_eq!(unescape(br"ab\"), Err(EscapeError::Trailing { offset: 2 }));
    }

    proptest::proptest! {
        #[test]
        fn escape_matches_byte_by_byte(
            s in proptest::collection::vec(
                proptest::sample::select(&b"ab=\\\r\n\t?\x08\x0b<>;"[..]), 0..40)
        ) {
            let mut reference = Vec::new();
            let mut expected = Ok(());
            for (i, &b) in s.iter().enumerate() {
                match b {
                    b'\\' => reference.extend_from_slice(b"\\\\"),
                    b'\r' => reference.extend_from_slice(b"\\r"),
                    b'\n' => reference.extend_from_slice(b"\\n"),
                    b'\t' => reference.extend_from_slice(b"\\t"),
                    b'=' => reference.extend_from_slice(b"\\="),
                    b'<' | b'>' => {
                        expected = Err(AngleBracket { offset: i });
                        break;
                    }
                    _ => reference.push(b),
                }
            }
            let got = escape(&s);
            match expected {
                Ok(()) => proptest::prop_assert_eq!(got, Ok(reference)),
                Err(e) => proptest::prop_assert_eq!(got, Err(e)),
            }
        }
    }

    #[test]
    fn escape_round_trips() {
        let s = b"a=b\\c\td\ne\rf";
        assert_eq!(unescape(&escape(s).unwrap()).unwrap().as_ref(), s);
        assert_eq!(escape(b"a<b"), Err(AngleBracket { offset: 1 }));
    }
}
