//! `${name}` macros: tarsnode's expansion (`decodeMacro`) and the lint that finds references
//! tarsnode would leave alone or replace by accident.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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
///
/// A name that is not UTF-8 (a GBK template's `${日志}`, a stray `\xff`) is still a closed
/// reference, which tarsnode leaves as written: its name is shown with every byte that is not
/// UTF-8 as `\xNN` (and control characters escaped), so it can never equal a known macro.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference<'a> {
    Macro { span: Span, name: Cow<'a, str> },
    Unterminated { span: Span },
}

/// A macro name as shown to people: its text with controls escaped, or, when it is not UTF-8
/// (a GBK template), its bytes escaped.
fn shown_name(name: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(name) {
        Ok(name) => parser::terminal::escape_controls(name),
        Err(_) => Cow::Owned(parser::terminal::escape_lossy(name).into_owned()),
    }
}

fn macro_ref(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (input, _) = tag(&b"${"[..]).parse(input)?;
    let (input, name) = take_while1(|b: u8| b != b'}' && !b.is_ascii_whitespace()).parse(input)?;
    let (input, _) = tag(&b"}"[..]).parse(input)?;
    Ok((input, name))
}

/// Every reference in `text`, whose first byte is at offset `base` of the source.
///
/// Linear: a `${` whose name runs into a blank or the end without `}` is unterminated, and so
/// is every `${` before that point (their names run into the same blank), so the name is not
/// scanned again for each of them (`${${${…` was quadratic).
pub fn references(text: &[u8], base: Span) -> Vec<Reference<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    // Every `${` before this offset is known to be unterminated.
    let mut unterminated_until = 0;
    while let Some(i) = find_open(&text[from..]) {
        let at = from + i;
        if at < unterminated_until {
            found.push(Reference::Unterminated {
                span: base.sub(at, at + 2),
            });
            from = at + 2;
            continue;
        }
        match macro_ref(&text[at..]) {
            Ok((rest, name)) => {
                let end = text.len() - rest.len();
                found.push(Reference::Macro {
                    span: base.sub(at, end),
                    name: shown_name(name),
                });
                from = end;
            }
            Err(_) => {
                found.push(Reference::Unterminated {
                    span: base.sub(at, at + 2),
                });
                unterminated_until = text[at + 2..]
                    .iter()
                    .position(|&b| b == b'}' || b.is_ascii_whitespace())
                    .map_or(text.len(), |i| at + 2 + i);
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
    // A template repeats its unknown names (`${db_host}` in every section): look each up once.
    let mut suggestions: HashMap<Cow<'_, str>, Option<&'static str>> = HashMap::new();
    // Returns whether the findings reached their bound (README "Limits"): past it, no more
    // are looked for.
    let mut visit = |span: Span, place: Option<&str>| -> bool {
        let text = src.get(span.range()).unwrap_or_default();
        for reference in references(text, span) {
            if out.len() >= parser::limits::MAX_FINDINGS {
                return true;
            }
            match reference {
                Reference::Unterminated { span } => out.push(codes::unterminated_macro(span)),
                Reference::Macro { span, name } => {
                    if KNOWN.contains(&name.as_ref()) {
                        if let Some(place) = place {
                            out.push(codes::macro_in_key_or_tag(span, &name, place));
                        }
                    } else {
                        let suggestion = match suggestions.get(&name) {
                            Some(found) => *found,
                            None => {
                                let found = suggest(&name);
                                suggestions.insert(name.clone(), found);
                                found
                            }
                        };
                        out.push(codes::unknown_macro(span, &name, suggestion));
                    }
                }
            }
        }
        out.len() >= parser::limits::MAX_FINDINGS
    };
    // One pass over the whole text for `${`, each hit mapped to the key, value or tag name
    // holding it (a reference never spans two of them: a key ends before `=` or a blank, a
    // value at the end of its line, a tag name at `>`). Most lines hold no macro, so this
    // beats scanning every key and value on its own.
    let lines = &parse.tree.lines;
    let mut at_line = 0usize;
    let mut visited: Option<Span> = None;
    for hit in memchr::memmem::find_iter(src, b"${") {
        let Ok(hit) = u32::try_from(hit) else {
            break;
        };
        // Hits ascend: walk forward (sequential, unlike a binary search per hit).
        while lines.get(at_line).is_some_and(|line| line.full.end <= hit) {
            at_line += 1;
        }
        let Some(line) = lines.get(at_line) else {
            break;
        };
        let holds = |span: Span| span.start <= hit && hit + 2 <= span.end;
        let field = match line.kind {
            LineKind::Open { name, .. } if holds(name) => Some((name, Some("tag name"))),
            LineKind::Param { key, .. } if holds(key) => Some((key, Some("key"))),
            LineKind::Param {
                value: Some(value), ..
            } if holds(value) => Some((value, None)),
            _ => None,
        };
        if let Some((span, place)) = field
            && visited != Some(span)
        {
            visited = Some(span);
            if visit(span, place) {
                break;
            }
        }
    }
    out
}

/// The offset of the first `${` in `text` (a key, value or tag name: short, so a `memchr`
/// for `$` beats building a substring searcher for each).
fn find_open(text: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'$', text).find(|&i| text.get(i + 1) == Some(&b'{'))
}

/// The greatest edit distance at which a known macro is suggested.
const MAX_DISTANCE: usize = 2;

/// The known macro closest to `name` (by edit distance, ignoring ASCII case, at most
/// [`MAX_DISTANCE`]); the alphabetically first on a tie.
pub fn suggest(name: &str) -> Option<&'static str> {
    let name: Vec<char> = name.chars().collect();
    KNOWN
        .iter()
        .filter_map(|k| distance(&name, k).map(|d| (d, *k)))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance between `a` and `b` with ASCII letters compared case-insensitively,
/// or `None` when it exceeds [`MAX_DISTANCE`] (decided early from the lengths, without
/// allocating: every known name is short).
fn distance(a: &[char], b: &str) -> Option<usize> {
    const LONGEST: usize = 32;
    let n = b.chars().count();
    if n >= LONGEST || a.len().abs_diff(n) > MAX_DISTANCE {
        return None;
    }
    let mut row = [0usize; LONGEST];
    for (j, slot) in row.iter_mut().enumerate().take(n + 1) {
        *slot = j;
    }
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        let mut best = row[0];
        for (j, cb) in b.chars().enumerate() {
            let cur = row[j + 1];
            let same = ca.eq_ignore_ascii_case(&cb);
            row[j + 1] = (prev + usize::from(!same)).min(row[j] + 1).min(cur + 1);
            best = best.min(row[j + 1]);
            prev = cur;
        }
        // Every later row is at least this row's minimum.
        if best > MAX_DISTANCE {
            return None;
        }
    }
    Some(row[n]).filter(|&d| d <= MAX_DISTANCE)
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
                    name: "a".into()
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

    /// The references as first written (each `${` parsed on its own): the reference for the
    /// linear [`references`].
    fn references_naive(text: &[u8], base: Span) -> Vec<Reference<'_>> {
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(i) = find_open(&text[from..]) {
            let at = from + i;
            match macro_ref(&text[at..]) {
                Ok((rest, name)) => {
                    let end = text.len() - rest.len();
                    found.push(Reference::Macro {
                        span: base.sub(at, end),
                        name: shown_name(name),
                    });
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

    /// Issue 13: 64 KB of `${` took a scan to the end of the value per `${`.
    #[test]
    fn references_match_the_naive_scan() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5_000 {
            let mut text = Vec::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(b"${} a\xff$"[(seed % 7) as usize]);
            }
            assert_eq!(
                references(&text, Span::new(0, 0)),
                references_naive(&text, Span::new(0, 0)),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
        let many = b"${".repeat(200_000);
        assert_eq!(references(&many, Span::new(0, 0)).len(), 200_000);
    }

    /// A closed reference whose name is not UTF-8 (GBK `${日志}`, a stray byte) is an unknown
    /// macro, not an unterminated `${`.
    #[test]
    fn a_name_that_is_not_utf8_is_an_unknown_macro() {
        for (text, shown) in [
            (
                &b"<a>\npath=${\xc8\xd5\xd6\xbe}/x\n</a>\n"[..],
                "${\\xc8\\xd5\u{5be}}",
            ), // D6 BE happens to be UTF-8
            (&b"<a>\nv=${a\xffb}\n</a>\n"[..], "${a\\xffb}"),
            (&b"<a>\nv=${a\x1b[2Jb}\n</a>\n"[..], "${a\\x1b[2Jb}"),
        ] {
            let found = check(&parser::parse(text));
            let codes: Vec<&str> = found.iter().map(|d| d.code.as_str()).collect();
            assert_eq!(codes, ["TARS-M001"], "{text:?}");
            assert!(
                found[0].message.starts_with(&format!("`{shown}`")),
                "{}",
                found[0].message
            );
        }
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(suggest("logpth"), Some("logpath"));
        assert_eq!(suggest("TABLE"), None);
        assert_eq!(suggest("LOGPATH"), Some("logpath"));
        assert_eq!(suggest("serve"), Some("server"));
    }

    /// The bounded, allocation-free distance agrees with the textbook definition.
    #[test]
    fn suggestions_match_plain_levenshtein() {
        fn plain(a: &str, b: &str) -> usize {
            let a: Vec<char> = a.to_ascii_lowercase().chars().collect();
            let b: Vec<char> = b.to_ascii_lowercase().chars().collect();
            let mut row: Vec<usize> = (0..=b.len()).collect();
            for (i, ca) in a.iter().enumerate() {
                let mut prev = row[0];
                row[0] = i + 1;
                for (j, cb) in b.iter().enumerate() {
                    let cur = row[j + 1];
                    row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
                    prev = cur;
                }
            }
            row[b.len()]
        }
        let names = [
            "",
            "a",
            "ap",
            "app",
            "APP",
            "apps",
            "sever",
            "servr",
            "serverId",
            "serveri",
            "loca",
            "locall",
            "localpi",
            "lcoalip",
            "basepth",
            "datpath",
            "priky",
            "PRIKEY",
            "exe",
            "ex",
            "shaa",
            "s",
            "config-center-prt",
            "nodenam",
            "modulename2",
            "éapp",
            "applé",
            "日本",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ];
        for name in names {
            let want = KNOWN
                .iter()
                .map(|k| (plain(name, k), *k))
                .filter(|(d, _)| *d <= MAX_DISTANCE)
                .min()
                .map(|(_, k)| k);
            assert_eq!(suggest(name), want, "{name:?}");
        }
    }
}
