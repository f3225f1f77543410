//! Upstream path syntax: `/a/b<key>` for parameters and `/a/b` for domains
//! (`TC_Config::parseDomainName`).

use std::fmt;

/// A malformed path (upstream throws `TC_Config_Exception`, even from `get`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// No `<` or no `>` in a parameter path.
    Invalid(Vec<u8>),
    /// The path does not start with `/`.
    NoLeadingSlash(Vec<u8>),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(p) => write!(f, "param path '{}' is invalid", String::from_utf8_lossy(p)),
            Self::NoLeadingSlash(p) => write!(
                f,
                "param path '{}' must start with '/'",
                String::from_utf8_lossy(p)
            ),
        }
    }
}

impl std::error::Error for PathError {}

/// Splits `/a//b<key>` into `["a", "b"]` and `key`. Empty segments are dropped; the key is
/// the text between the first `<` and the first `>` (the rest is ignored, as upstream does).
///
/// # Errors
/// No `<`, no leading `/`, or no `>`, checked in upstream's order.
pub fn param_path(path: &[u8]) -> Result<(Vec<&[u8]>, &[u8]), PathError> {
    let Some(open) = memchr::memchr(b'<', path) else {
        return Err(PathError::Invalid(path.to_vec()));
    };
    if path.first() != Some(&b'/') {
        return Err(PathError::NoLeadingSlash(path.to_vec()));
    }
    let Some(close) = memchr::memchr(b'>', path) else {
        return Err(PathError::Invalid(path.to_vec()));
    };
    // Upstream takes `substr(open + 1, close - open - 1)`; a `>` before the `<` makes the
    // length wrap around, so the key runs to the end.
    let key = if close > open {
        &path[open + 1..close]
    } else {
        &path[open + 1..]
    };
    Ok((segments(&path[1..open]), key))
}

/// Splits `/a/b` into `["a", "b"]`; `/` is the root (no segments).
///
/// # Errors
/// The path does not start with `/`.
pub fn domain_path(path: &[u8]) -> Result<Vec<&[u8]>, PathError> {
    match path.split_first() {
        Some((b'/', rest)) => Ok(segments(rest)),
        _ => Err(PathError::NoLeadingSlash(path.to_vec())),
    }
}

fn segments(s: &[u8]) -> Vec<&[u8]> {
    s.split(|&b| b == b'/').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_paths() {
        let (d, k) = param_path(b"//t//u<a/b>x").unwrap();
        assert_eq!(d, vec![&b"t"[..], b"u"]);
        assert_eq!(k, b"a/b");
        assert_eq!(param_path(b"/<k>").unwrap().0.len(), 0);
        assert!(matches!(
            param_path(b"t<a>"),
            Err(PathError::NoLeadingSlash(_))
        ));
        assert!(matches!(param_path(b"/t"), Err(PathError::Invalid(_))));
        assert!(matches!(param_path(b"/t<a"), Err(PathError::Invalid(_))));
        assert_eq!(param_path(b"/t>x<ab").unwrap().1, b"ab");
    }

    #[test]
    fn domain_paths() {
        assert!(domain_path(b"/").unwrap().is_empty());
        assert_eq!(domain_path(b"/a/b/").unwrap(), vec![&b"a"[..], b"b"]);
        assert!(domain_path(b"a").is_err());
        assert!(domain_path(b"").is_err());
    }
}
