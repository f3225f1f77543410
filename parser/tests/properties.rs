//! Property tests over generated TC_Config-like texts: lossless parsing, deterministic
//! diagnostics, `to_text` as a fixpoint, `join` as upstream defines it, and `fmt`.
//!
//! Texts are built from a small tree of domains, parameters (keys and values made of
//! fragments: escapes, `=`, `#`, spaces, non-UTF-8 bytes), comments and blank lines, rendered
//! with mixed indentation and line endings. "Noisy" texts add broken lines (unterminated and
//! stray tags, bad escapes, `<` in values, text after a tag) at random places.

use parser::{Config, DomainRef, JoinError, Parse, Severity, fmt, parse};
use proptest::prelude::*;

// ---- generators -------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Item {
    Param(Vec<u8>),
    Comment(Vec<u8>),
    Blank,
    Domain(Vec<u8>, Vec<Item>),
}

fn select_bytes(options: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> + Clone {
    prop::sample::select(options).prop_map(<[u8]>::to_vec)
}

fn concat(parts: impl Strategy<Value = Vec<u8>>, max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(parts, 0..=max).prop_map(|v| v.concat())
}

/// Domain names: mostly a few common ones (so that domains repeat and merge), sometimes odd.
fn domain_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => select_bytes(&[b"tars", b"application", b"server", b"client", b"a", b"b", b"t"]),
        1 => select_bytes(&[
            b" t ", b"t ", b"a/", b"!-- c --", b"", b"x=y", b"a\\b", b"b\tc", b" /a", b"?xml",
            b"\xe4\xb8\xad", b"\xc4\xe3", b"#h", b"App.Svr.ObjAdapter",
        ]),
    ]
}

/// Key and value fragments that upstream reads (valid escapes only, no `<` or `>`).
const CLEAN: &[&[u8]] = &[
    b"a",
    b"key",
    b"logLevel",
    b"loglevel",
    b"x y",
    b"1",
    b"tcp -h 127.0.0.1 -p 80",
    b"\\=",
    b"\\\\",
    b"\\t",
    b"\\n",
    b"\\r",
    b"=",
    b"#",
    b" # c",
    b"${macro}",
    b"/",
    b";",
    b".",
    b"\xc4\xe3",
    b"\xff",
    b"\xe4\xb8\xad",
    b" ",
];

/// Fragments upstream refuses or cannot serialise.
const BROKEN: &[&[u8]] = &[b"\\x", b"C:\\data", b"\\", b"<", b">", b"a<b"];

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => select_bytes(&[b"a", b"b", b"c", b"timeout", b"logLevel", b"loglevel"]),
        2 => concat(select_bytes(CLEAN), 3),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        30 => concat(select_bytes(CLEAN), 4),
        // Upstream reads these but cannot serialise them.
        1 => select_bytes(&[b"a<b", b"x>"]),
    ]
}

/// A parameter line (without indentation or line end).
fn param_line() -> impl Strategy<Value = Vec<u8>> {
    (
        key(),
        select_bytes(&[b"=", b" = ", b"\t=", b"= ", b"", b"=="]),
        value(),
    )
        .prop_map(|(k, sep, v)| {
            if sep.is_empty() {
                k
            } else {
                [k, sep, v].concat()
            }
        })
}

fn item() -> impl Strategy<Value = Item> {
    let leaf = prop_oneof![
        6 => param_line().prop_map(Item::Param),
        1 => concat(select_bytes(&[b"#", b" comment", b"\xc4\xe3", b"<t>", b"a=1"]), 3)
            .prop_map(|c| Item::Comment([b"#".to_vec(), c].concat())),
        1 => Just(Item::Blank),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        (domain_name(), prop::collection::vec(inner, 0..8))
            .prop_map(|(name, items)| Item::Domain(name, items))
    })
}

/// A document: items plus a seed for the rendering choices (indentation, line ends).
#[derive(Clone, Debug)]
struct Doc {
    items: Vec<Item>,
    seed: u64,
    final_newline: bool,
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        prop::collection::vec(item(), 0..6),
        any::<u64>(),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(items, seed, final_newline)| Doc {
            items,
            seed,
            final_newline,
        })
}

/// Lines that break the structure or the escapes, inserted at random places.
fn noise_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        select_bytes(&[
            b"<t",
            b"</t>",
            b"</>",
            b"</ t >",
            b"<t> junk",
            b"<t><u>",
            b"</a> x",
            b"<",
            b"<>",
            b"a\\\\=b",
            b"=",
            b"\r",
        ]),
        (key(), select_bytes(BROKEN), value())
            .prop_map(|(k, b, v)| [k, b"=".to_vec(), b, v].concat()),
        (select_bytes(BROKEN), value()).prop_map(|(b, v)| [b, v].concat()),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

fn noisy() -> impl Strategy<Value = Vec<u8>> {
    (
        doc(),
        prop::collection::vec((any::<prop::sample::Index>(), noise_line()), 0..4),
    )
        .prop_map(|(doc, noise)| {
            let mut lines = render_lines(&doc);
            for (at, line) in noise {
                let i = at.index(lines.len() + 1);
                lines.insert(i, [line, b"\n".to_vec()].concat());
            }
            lines.concat()
        })
}

/// xorshift64*: the rendering choices, reproducible from the generated seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn render(doc: &Doc) -> Vec<u8> {
    render_lines(doc).concat()
}

fn render_lines(doc: &Doc) -> Vec<Vec<u8>> {
    let mut rng = Rng(doc.seed | 1);
    let mut lines = Vec::new();
    for item in &doc.items {
        render_item(item, 0, &mut rng, &mut lines);
    }
    if !doc.final_newline
        && let Some(last) = lines.last_mut()
    {
        while last.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            last.pop();
        }
    }
    lines
}

fn render_item(item: &Item, depth: usize, rng: &mut Rng, out: &mut Vec<Vec<u8>>) {
    let line = |text: &[u8], depth: usize, rng: &mut Rng| {
        let mut l = match rng.below(8) {
            0 => vec![b'\t'; depth],
            1 => Vec::new(),
            _ => vec![b' '; depth * 2],
        };
        l.extend_from_slice(text);
        if rng.below(16) == 0 {
            l.extend_from_slice(b"  ");
        }
        l.extend_from_slice(if rng.below(5) == 0 { b"\r\n" } else { b"\n" });
        l
    };
    match item {
        Item::Param(p) => out.push(line(p, depth, rng)),
        Item::Comment(c) => out.push(line(c, depth, rng)),
        Item::Blank => out.push(line(b"", depth, rng)),
        Item::Domain(name, items) => {
            out.push(line(&[b"<", name.as_slice(), b">"].concat(), depth, rng));
            for item in items {
                render_item(item, depth + 1, rng, out);
            }
            // Upstream compares close tags with the trimmed name.
            let trimmed = name.trim_ascii();
            out.push(line(&[b"</", trimmed, b">"].concat(), depth, rng));
        }
    }
}

// ---- checks -----------------------------------------------------------------------------

fn check_invariants(input: &[u8], p: &Parse) -> Result<(), TestCaseError> {
    let len = u32::try_from(input.len()).unwrap_or(u32::MAX);
    prop_assert_eq!(p.tree.text(p.source()), input, "lossless");
    for d in &p.diagnostics {
        prop_assert!(d.span.start <= d.span.end && d.span.end <= len);
        for label in &d.related {
            prop_assert!(label.span.start <= label.span.end && label.span.end <= len);
        }
    }
    prop_assert!(p.diagnostics.is_sorted_by_key(parser::Diagnostic::sort_key));
    if p.upstream_error.is_some() {
        prop_assert!(
            p.diagnostics.iter().any(|d| d.severity == Severity::Error),
            "upstream error without an error diagnostic"
        );
    }
    Ok(())
}

/// Where upstream's own `tostr` loses information, so the text cannot read back the same.
fn roundtrip_quirk(config: &Config) -> bool {
    fn walk(domain: DomainRef<'_>, quirk: &mut bool) {
        let name = domain.name();
        *quirk |= domain.raw_name() != name
            || name
                .iter()
                .any(|b| matches!(b, b'\\' | b'=' | b'\r' | b'\n' | b'\t'));
        for p in domain.params() {
            *quirk |= (p.key.is_empty() && p.value.is_empty())
                || (p.key.ends_with(b"\\") && !p.value.is_empty());
        }
        for child in domain.children() {
            walk(child, quirk);
        }
    }
    let mut quirk = false;
    for child in config.root().children() {
        walk(child, &mut quirk);
    }
    quirk
}

/// The whole model as text (root parameters, keys, values, raw lines, raw and trimmed names).
fn dump(config: &Config) -> String {
    fn go(domain: DomainRef<'_>, level: usize, out: &mut String) {
        let show = |b: &[u8]| b.escape_ascii().to_string();
        let pad = "  ".repeat(level);
        out.push_str(&format!(
            "{pad}D {} | {}\n",
            show(domain.raw_name()),
            show(domain.name())
        ));
        for p in domain.params() {
            out.push_str(&format!("{pad}P {} = {}\n", show(p.key), show(p.value)));
        }
        for line in domain.lines() {
            out.push_str(&format!("{pad}L {}\n", show(line)));
        }
        for child in domain.children() {
            go(child, level + 1, out);
        }
    }
    let mut out = String::new();
    go(config.root(), 0, &mut out);
    out
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any text, broken or not: lossless lines, diagnostics in bounds and sorted, upstream
    /// errors reported as errors, and the same result twice.
    #[test]
    fn noisy_text_invariants(input in noisy()) {
        let p = parse(input.clone());
        check_invariants(&input, &p)?;
        let again = parse(input.clone());
        prop_assert_eq!(&again.diagnostics, &p.diagnostics, "deterministic diagnostics");
        prop_assert_eq!(&again.upstream_error, &p.upstream_error);
        prop_assert_eq!(again.config.to_text(), p.config.to_text());
        // The quiet parse (used by join) agrees with the reporting one.
        match Config::parse_upstream(input) {
            Ok(quiet) => {
                prop_assert!(p.upstream_error.is_none());
                prop_assert_eq!(dump(&quiet), dump(&p.config));
            }
            Err(e) => prop_assert_eq!(Some(e), p.upstream_error),
        }
    }

    /// Arbitrary bytes never panic and stay lossless.
    #[test]
    fn arbitrary_bytes_invariants(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let p = parse(input.clone());
        check_invariants(&input, &p)?;
        let _ = p.config.to_text();
        let _ = fmt::format(&p);
    }

    /// When upstream accepts a text and it serialises, the output reads back cleanly and
    /// serialises to itself (outside upstream's own lossy cases).
    #[test]
    fn to_text_is_a_fixpoint(doc in doc()) {
        let input = render(&doc);
        let p = parse(input.clone());
        check_invariants(&input, &p)?;
        prop_assume!(p.upstream_error.is_none());
        let Ok(text) = p.config.to_text() else {
            return Ok(());
        };
        prop_assume!(!roundtrip_quirk(&p.config));
        let again = parse(text.clone());
        prop_assert!(!again.has_errors(), "{:?}", again.diagnostics);
        prop_assert_eq!(again.config.to_text(), Ok(text.clone()));
        let quiet = Config::parse_upstream(text.clone());
        prop_assert!(quiet.is_ok());
        prop_assert_eq!(quiet.unwrap().to_text(), Ok(text));
    }

    /// `join(a, b, update)` is upstream's definition: the `to_text`s concatenated in the right
    /// order (update: this then other; otherwise other then this), parsed again.
    #[test]
    fn join_is_parse_of_concatenation(a in doc(), b in doc(), update in any::<bool>()) {
        let (a, b) = (render(&a), render(&b));
        let (Ok(mut this), Ok(other)) =
            (Config::parse_upstream(a), Config::parse_upstream(b))
        else {
            return Ok(());
        };
        let (ta, tb) = (this.to_text(), other.to_text());
        let res = this.join(&other, update);
        match (ta, tb) {
            (Err(e), _) | (Ok(_), Err(e)) => prop_assert_eq!(res, Err(JoinError::Tostr(e))),
            (Ok(x), Ok(y)) => {
                let concat = if update { [x, y].concat() } else { [y, x].concat() };
                match Config::parse_upstream(concat) {
                    Ok(expected) => {
                        prop_assert_eq!(res, Ok(()));
                        prop_assert_eq!(this.to_text(), expected.to_text());
                        prop_assert_eq!(dump(&this), dump(&expected));
                    }
                    Err(e) => prop_assert_eq!(res, Err(JoinError::Parse(e))),
                }
            }
        }
    }

    /// Formatting a text without errors keeps its model (raw lines included) and is
    /// idempotent.
    #[test]
    fn fmt_keeps_the_model(doc in doc()) {
        let input = render(&doc);
        let p = parse(input);
        prop_assume!(!p.has_errors());
        let formatted = fmt::format(&p).expect("small inputs format within the bound");
        let again = parse(formatted.clone());
        prop_assert!(!again.has_errors(), "{:?}", again.diagnostics);
        prop_assert_eq!(dump(&again.config), dump(&p.config));
        prop_assert_eq!(fmt::format(&again), Ok(formatted));
    }
}

/// The generators reach the interesting cases: accepted texts, refused texts, texts that do
/// not serialise, and quirks. Without this a generator change could silently make the
/// properties above vacuous.
#[test]
fn generators_cover_the_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut accepted, mut clean_roundtrip, mut no_tostr, mut quirk) = (0, 0, 0, 0);
    for _ in 0..200 {
        let doc = doc().new_tree(&mut runner).unwrap().current();
        let p = parse(render(&doc));
        if p.upstream_error.is_none() {
            accepted += 1;
            match p.config.to_text() {
                Err(_) => no_tostr += 1,
                Ok(_) if roundtrip_quirk(&p.config) => quirk += 1,
                Ok(_) => clean_roundtrip += 1,
            }
        }
    }
    let mut refused = 0;
    for _ in 0..200 {
        let text = noisy().new_tree(&mut runner).unwrap().current();
        refused += usize::from(parse(text).upstream_error.is_some());
    }
    eprintln!(
        "docs: {accepted}/200 accepted ({clean_roundtrip} round-trip, {no_tostr} no tostr, \
         {quirk} lossy); noisy: {refused}/200 refused"
    );
    assert!(accepted >= 50, "accepted {accepted}/200");
    assert!(
        clean_roundtrip >= 30,
        "round-trippable {clean_roundtrip}/200"
    );
    assert!(no_tostr >= 1, "not serialisable {no_tostr}/200");
    assert!(quirk >= 5, "lossy {quirk}/200");
    assert!(refused >= 50, "refused {refused}/200");
}
