//! Invariant checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! Each check panics (with the offending detail) when an invariant breaks: that is how
//! libFuzzer learns about it. New targets (ports, volumes, …) add their own module here.

use parser::{Config, DomainRef, Parse, Severity, fmt, parse};

pub(crate) mod commands;
mod render;

pub use render::check_render;
pub mod unpack;

/// Parses `data` and checks every invariant of [`parse`] that holds for any input.
///
/// # Panics
/// When an invariant breaks.
#[must_use]
pub fn check_parse(data: &[u8]) -> Parse {
    let p = parse(data.to_vec());
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);

    // Lossless: the lines tile the input byte for byte.
    assert_eq!(p.tree.text(p.source()), data, "lossless");
    let mut at = 0u32;
    for line in &p.tree.lines {
        assert_eq!(line.full.start, at, "lines tile the input");
        assert!(line.full.start < line.full.end, "non-empty line");
        assert!(
            line.full.start <= line.content.start && line.content.end <= line.full.end,
            "content inside the line"
        );
        at = line.full.end;
    }
    assert_eq!(at, len, "lines cover the input");

    // Diagnostics: in bounds, sorted, deterministic.
    for d in &p.diagnostics {
        assert!(
            d.span.start <= d.span.end && d.span.end <= len,
            "span {:?}",
            d.span
        );
        for label in &d.related {
            let s = label.span;
            assert!(s.start <= s.end && s.end <= len, "related span {s:?}");
        }
        assert!(
            parser::errors::find(d.code.as_str()).is_some(),
            "unknown code"
        );
    }
    assert!(
        p.diagnostics.is_sorted_by_key(parser::Diagnostic::sort_key),
        "diagnostics sorted"
    );

    // Upstream's refusal is always reported as an error.
    if let Some(e) = &p.upstream_error {
        assert!(e.span.end <= len, "upstream error span");
        assert!(
            p.diagnostics.iter().any(|d| d.severity == Severity::Error),
            "upstream error {e} without an error diagnostic"
        );
    }

    // Parameter origins point into the source.
    walk(p.config.root(), &mut |d| {
        for param in d.params() {
            if let Some(o) = param.origin {
                assert!(o.line.end <= len && o.key.end <= len, "origin in bounds");
            }
        }
    });

    // The quiet path (`parse_upstream`, used by `join`) agrees with the reporting one.
    let text = p.config.to_text();
    match Config::parse_upstream(data.to_vec()) {
        Ok(quiet) => {
            assert!(p.upstream_error.is_none(), "quiet parse accepted");
            assert_eq!(quiet.to_text(), text, "quiet parse, same model");
            assert_eq!(dump(&quiet), dump(&p.config), "quiet parse, same model");
        }
        Err(e) => assert_eq!(Some(e), p.upstream_error, "quiet parse, same error"),
    }

    // Formatting never panics, whatever the input.
    let _ = fmt::format(&p);
    p
}

/// Why the `tostr` text of `config` would not read back as the same model, when upstream
/// itself loses information: `None` when it must round-trip.
#[must_use]
pub fn roundtrip_quirk(config: &Config) -> Option<&'static str> {
    let mut quirk = None;
    for domain in config.root().children() {
        walk(domain, &mut |d| {
            let name = d.name();
            if d.raw_name() != name {
                // `< t >` is written `<t>`: it merges with `<t>`, sorts differently, and
                // `< /t>` is written as a close tag.
                quirk = Some("padded domain name");
            } else if name
                .iter()
                .any(|b| matches!(b, b'\\' | b'=' | b'\r' | b'\n' | b'\t'))
            {
                // Names are escaped on output but never unescaped on input.
                quirk = Some("domain name with an escaped byte");
            }
            for param in d.params() {
                if param.key.is_empty() && param.value.is_empty() {
                    // Written as an indented empty line, which reads back as nothing.
                    quirk = Some("empty key and value");
                } else if param.key.ends_with(b"\\") && !param.value.is_empty() {
                    // `k\\=v`: upstream takes that `=` as escaped (one byte look-behind).
                    quirk = Some("key ending in a backslash");
                }
            }
        });
    }
    quirk
}

/// A canonical text of the whole model (root parameters, domains, keys, values and raw
/// lines), to compare two configs whatever their sources.
#[must_use]
pub fn dump(config: &Config) -> Vec<u8> {
    let mut out = Vec::new();
    dump_domain(config.root(), 0, &mut out);
    out
}

fn dump_domain(domain: DomainRef<'_>, level: usize, out: &mut Vec<u8>) {
    let pad = |out: &mut Vec<u8>| out.extend(std::iter::repeat_n(b' ', level * 2));
    pad(out);
    out.extend_from_slice(b"D ");
    out.extend_from_slice(&escape_nl(domain.raw_name()));
    out.extend_from_slice(b" | ");
    out.extend_from_slice(&escape_nl(domain.name()));
    out.push(b'\n');
    for param in domain.params() {
        pad(out);
        out.extend_from_slice(b"P ");
        out.extend_from_slice(&escape_nl(param.key));
        out.extend_from_slice(b" = ");
        out.extend_from_slice(&escape_nl(param.value));
        out.push(b'\n');
    }
    for line in domain.lines() {
        pad(out);
        out.extend_from_slice(b"L ");
        out.extend_from_slice(&escape_nl(line));
        out.push(b'\n');
    }
    for child in domain.children() {
        dump_domain(child, level + 1, out);
    }
}

fn escape_nl(bytes: &[u8]) -> Vec<u8> {
    bytes.escape_ascii().collect()
}

/// Calls `f` on `domain` and every domain below it.
pub fn walk<'a>(domain: DomainRef<'a>, f: &mut impl FnMut(DomainRef<'a>)) {
    f(domain);
    for child in domain.children() {
        walk(child, f);
    }
}

/// Splits a `join` input: the first byte's low bit is `update`, then the two texts separated
/// by the first NUL byte.
#[must_use]
pub fn split_join_input(data: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (&flag, rest) = data.split_first()?;
    let nul = rest.iter().position(|&b| b == 0)?;
    Some((flag & 1 == 1, &rest[..nul], &rest[nul + 1..]))
}
