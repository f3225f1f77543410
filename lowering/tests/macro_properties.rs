//! The macro lint scans the whole text once for `${` and maps each hit to its field. It must
//! find exactly what a field-by-field scan finds (every tag name, key and value on its own),
//! on any text: macros at field edges, unterminated `${`, `$` before `=`, escapes, tags.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use lowering::macros::{KNOWN, Reference, references};
use parser::{Diagnostic, LineKind};
use proptest::prelude::*;

/// The field-by-field definition: every reference in every tag name, key and value.
fn field_by_field(text: &[u8]) -> Vec<(String, u32, u32)> {
    let parse = parser::parse(text.to_vec());
    let src = parse.source();
    let mut found = Vec::new();
    let mut visit = |span: parser::Span, place: Option<&str>| {
        for reference in references(src.get(span.range()).unwrap_or_default(), span) {
            let (code, at) = match reference {
                Reference::Unterminated { span } => ("TARS-M003", span),
                Reference::Macro { span, name } if !KNOWN.contains(&name.as_ref()) => {
                    ("TARS-M001", span)
                }
                Reference::Macro { span, .. } if place.is_some() => ("TARS-M002", span),
                Reference::Macro { .. } => continue,
            };
            found.push((code.to_owned(), at.start, at.end));
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
    found.sort();
    found
}

fn one_pass(text: &[u8]) -> Vec<(String, u32, u32)> {
    let parse = parser::parse(text.to_vec());
    let mut found: Vec<(String, u32, u32)> = lowering::macros::check(&parse)
        .iter()
        .map(|d: &Diagnostic| (d.code.as_str().to_owned(), d.span.start, d.span.end))
        .collect();
    found.sort();
    found
}

/// Template-like lines built from the bytes that matter to references and to line kinds.
fn template() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("${".to_owned()),
        Just("}".to_owned()),
        Just("$".to_owned()),
        Just("{".to_owned()),
        Just("=".to_owned()),
        Just("\\".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("</".to_owned()),
        Just("#".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("中".to_owned()),
        Just("app".to_owned()),
        Just("logpth".to_owned()),
        Just("x".to_owned()),
    ];
    proptest::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn one_pass_finds_what_each_field_holds(text in template()) {
        prop_assert_eq!(one_pass(text.as_bytes()), field_by_field(text.as_bytes()));
    }
}

#[test]
fn edges_of_fields() {
    for text in [
        "a$=${x}\n",
        "${x}=${app}\n",
        "<${app}>\n</${app}>\n",
        "k=v ${\n",
        "k=${a}${b}${\n",
        "<t${>\n",
        "  ${x}  \r\n",
        "${",
    ] {
        assert_eq!(
            one_pass(text.as_bytes()),
            field_by_field(text.as_bytes()),
            "{text:?}"
        );
    }
}
