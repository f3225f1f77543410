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
    for (i, &b) in s.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\r' => b"\\r",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'=' => b"\\=",
            b'<' | b'>' => return Err(AngleBracket { offset: i }),
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    Ok(())
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

    #[test]
    fn escape_round_trips() {
        let s = b"a=b\\c\td\ne\rf";
        assert_eq!(unescape(&escape(s).unwrap()).unwrap().as_ref(), s);
        assert_eq!(escape(b"a<b"), Err(AngleBracket { offset: 1 }));
    }
}
