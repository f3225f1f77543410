//! `${name}` macros: tarsnode's expansion (`decodeMacro`) and the lint that finds references
//! tarsnode would leave alone or replace by accident.

use std::collections::BTreeMap;

use nom::bytes::complete::{tag, take_while1};
use nom::{IResult, Parser as _};
use parser::{Diagnostic, LineKind, Parse, Span};

use crate::codes::macros as codes;

/// The macros tarsnode fills in (TarsFramework `CommandLoad::updateConfigFile`).
pub const KNOWN: &[&str] = &[
    "app",
    "asyncthread",
    "baseimage",
    "basepath",
    "config-center-port",
    "datapath",
    "enableset",
    "exe",
    "local",
    "localip",
    "locator",
    "logpath",
    "mainclass",
    "modulename",
    "nodename",
    "priKey",
    "serverid",
    "server",
    "setdivision",
    "sha",
];

/// A macro value that upstream refuses: `reverse_parse` throws on `<` and `>`, which fails
/// the service load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("macro `{name}` has a value with `<` or `>`, which tarsnode cannot write into a config")]
pub struct MacroValueError {
    pub name: String,
}

/// tarsnode's `decodeMacro`: for every macro in name order, a plain replace of `${name}` with
/// the escaped (`reverse_parse`) value, over the whole text. Unknown references stay.
///
/// # Errors
/// A value containing `<` or `>`.
pub fn expand(text: &[u8], macros: &BTreeMap<String, String>) -> Result<Vec<u8>, MacroValueError> {
    let mut out = text.to_vec();
    for (name, value) in macros {
        let escaped = parser::escape::escape(value.as_bytes())
            .map_err(|_| MacroValueError { name: name.clone() })?;
        let pattern = format!("${{{name}}}");
        out = replace_all(&out, pattern.as_bytes(), &escaped);
    }
    Ok(out)
}

/// Every non-overlapping occurrence of `from` replaced by `to`, left to right.
pub(crate) fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let finder = memchr::memmem::Finder::new(from);
    let mut out = Vec::with_capacity(haystack.len());
    let mut last = 0;
    for at in finder.find_iter(haystack) {
        out.extend_from_slice(&haystack[last..at]);
        out.extend_from_slice(to);
        last = at + from.len();
    }
    out.extend_from_slice(&haystack[last..]);
    out
}

/// A `${...}` found in text: the whole reference and the name inside, or an unterminated `${`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference<'a> {
    Macro { span: Span, name: &'a str },
    Unterminated { span: Span },
}

fn macro_ref(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (input, _) = tag(&b"${"[..]).parse(input)?;
    let (input, name) = take_while1(|b: u8| b != b'}' && !b.is_ascii_whitespace()).parse(input)?;
    let (input, _) = tag(&b"}"[..]).parse(input)?;
    Ok((input, name))
}

/// Every reference in `text`, whose first byte is at offset `base` of the source.
pub fn references(text: &[u8], base: Span) -> Vec<Reference<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&text[from..], b"${") {
        let at = from + i;
        match macro_ref(&text[at..]) {
            Ok((rest, name)) => {
                let end = text.len() - rest.len();
                match std::str::from_utf8(name) {
                    Ok(name) => found.push(Reference::Macro {
                        span: base.sub(at, end),
                        name,
                    }),
                    Err(_) => found.push(Reference::Unterminated {
                        span: base.sub(at, end),
                    }),
                }
                from = end;
            }
            Err(_) => {
                found.push(Reference::Unterminated {
                    span: base.sub(at, at + 2),
                });
                from = at + 2;
            }
        }
    }
    found
}

/// Lints every `${...}` in the keys, values and tag names of a template.
#[must_use]
pub fn check(parse: &Parse) -> Vec<Diagnostic> {
    let src = parse.source();
    let mut out = Vec::new();
    let mut visit = |span: Span, place: Option<&str>| {
        let text = src.get(span.range()).unwrap_or_default();
        if memchr::memmem::find(text, b"${").is_none() {
            return;
        }
        for reference in references(text, span) {
            match reference {
                Reference::Unterminated { span } => out.push(codes::unterminated_macro(span)),
                Reference::Macro { span, name } => {
                    if KNOWN.contains(&name) {
                        if let Some(place) = place {
                            out.push(codes::macro_in_key_or_tag(span, name, place));
                        }
                    } else {
                        out.push(codes::unknown_macro(span, name, suggest(name)));
                    }
                }
            }
        }
    };
    for line in &parse.tree.lines {
        match line.kind {
            LineKind::Open { name, .. } => visit(name, Some("tag name")),
            LineKind::Param { key, value, .. } => {
                visit(key, Some("key"));
                if let Some(value) = value {
                    visit(value, None);
                }
            }
            _ => {}
        }
    }
    out
}

/// The known macro closest to `name` (by edit distance, at most 2), if any.
fn suggest(name: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .map(|k| {
            (
                distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn expands_in_name_order_and_escapes() {
        let text = b"a=${x}\nb=${y}\nc=${z}\n";
        let out = expand(text, &map(&[("x", "1=2"), ("y", "${z}"), ("z", "last")])).unwrap();
        // `y` expands to `${z}` before `z` is replaced: upstream's order.
        assert_eq!(out, b"a=1\\=2\nb=last\nc=last\n");
        assert_eq!(
            expand(b"${x}", &map(&[("x", "<")])),
            Err(MacroValueError { name: "x".into() })
        );
    }

    #[test]
    fn finds_references() {
        let refs = references(b"${a}-${b c}-${", Span::new(10, 24));
        assert_eq!(
            refs,
            vec![
                Reference::Macro {
                    span: Span::new(10, 14),
                    name: "a"
                },
                Reference::Unterminated {
                    span: Span::new(15, 17)
                },
                Reference::Unterminated {
                    span: Span::new(22, 24)
                },
            ]
        );
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(suggest("logpth"), Some("logpath"));
        assert_eq!(suggest("TABLE"), None);
    }
}
