//! Making untrusted text safe to show a person.
//!
//! Template keys, tag names, file names, package entry names and engine replies can hold
//! control characters. Printed raw to a terminal they are instructions, not text: `ESC [2J`
//! clears the screen, `CR` overwrites the line, an OSC sequence rewrites the window title or a
//! clipboard, and U+202E reverses what follows (Trojan Source). Every human-facing output —
//! diagnostics in human, concise and GitHub formats, runtime errors, logs of the front — passes
//! such text through [`escape_controls`] (or [`escape_controls_bytes`] for bytes that must stay
//! bytes, e.g. upstream's GBK messages) so that it is shown, never acted on.
//!
//! What is escaped: C0 controls except TAB and LF (`\x1b`), DEL (`\x7f`), C1 controls
//! (`\u{9b}`), and the Unicode bidirectional overrides and isolates (`\u{202e}`). A backslash is
//! left alone: the escapes are for reading, not for round-tripping.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is.
#[must_use]
pub const fn is_unsafe_char(c: char) -> bool {
    matches!(c,
        '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character of [`is_unsafe_char`] written as an escape (`\x1b`,
/// `\u{9b}`, `\u{202e}`); borrowed when there is nothing to escape.
#[must_use]
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(is_unsafe_char) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        push_char(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`escape_controls`], but keeps everything that is not an unsafe character as the
/// bytes it was, invalid UTF-8 included (a GBK message stays GBK). C0 controls and DEL are
/// escaped wherever they occur; C1 controls and bidi overrides only where they are UTF-8
/// encoded (a lone byte `0x9b` is left as it is: in a UTF-8 terminal it is not a control, and
/// in GBK it is the second byte of a character).
#[must_use]
pub fn escape_controls_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut rest = bytes;
    let mut done = 0;
    while !rest.is_empty() {
        let (valid, invalid_len) = match std::str::from_utf8(rest) {
            Ok(s) => (s, 0),
            Err(e) => {
                let valid_up_to = e.valid_up_to();
                // `valid_up_to` bytes are UTF-8 by construction.
                let valid = std::str::from_utf8(&rest[..valid_up_to]).unwrap_or_default();
                let bad = e.error_len().unwrap_or(rest.len() - valid_up_to);
                (valid, bad)
            }
        };
        if let Cow::Owned(escaped) = escape_controls(valid) {
            let out = out.get_or_insert_with(|| bytes[..done].to_vec());
            out.extend_from_slice(escaped.as_bytes());
        } else if let Some(out) = out.as_mut() {
            out.extend_from_slice(valid.as_bytes());
        }
        let invalid = &rest[valid.len()..valid.len() + invalid_len];
        if let Some(out) = out.as_mut() {
            out.extend_from_slice(invalid);
        }
        done += valid.len() + invalid_len;
        rest = &rest[valid.len() + invalid_len..];
    }
    out.map_or(Cow::Borrowed(bytes), Cow::Owned)
}

/// Bytes of unknown encoding (a tar header name, an engine reply) as safe text: valid UTF-8
/// through [`escape_controls`], every other byte as `\xNN`.
#[must_use]
pub fn escape_lossy(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return escape_controls(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape_controls(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

fn push_char(out: &mut String, c: char) {
    if !is_unsafe_char(c) {
        out.push(c);
    } else if (c as u32) < 0x80 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_text_is_borrowed() {
        assert!(matches!(
            escape_controls("a\tb\nc 日志 \\x"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            escape_controls_bytes(b"\xc8\xd5\xd6\xbe a=1"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            escape_controls("\x1b[2J\rok\u{7f}\u{9b}\u{202e}x\0"),
            "\\x1b[2J\\x0dok\\x7f\\u{9b}\\u{202e}x\\x00"
        );
    }

    #[test]
    fn bytes_keep_invalid_utf8_and_escape_controls() {
        assert_eq!(
            escape_controls_bytes(b"\xc8\xd5\x1b[31m\xff\xc2\x9b").as_ref(),
            b"\xc8\xd5\\x1b[31m\xff\\u{9b}"
        );
    }

    #[test]
    fn lossy_shows_invalid_bytes() {
        assert_eq!(escape_lossy(b"a\xffb\x07"), "a\\xffb\\x07");
        assert_eq!(escape_lossy(b"plain"), "plain");
    }

    #[test]
    fn every_output_is_free_of_unsafe_characters() {
        for b in 0..=255u8 {
            let one = [b, b'a', 0xc2, b];
            let bytes = escape_controls_bytes(&one);
            assert!(
                !bytes
                    .iter()
                    .any(|&x| x < 0x20 && x != b'\t' && x != b'\n' || x == 0x7f)
            );
            let lossy = escape_lossy(&one);
            assert!(!lossy.chars().any(is_unsafe_char), "{lossy:?}");
        }
    }
}
