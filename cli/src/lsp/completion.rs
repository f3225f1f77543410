//! Completion: tarsnode's `${macros}` after `${`, and keys where a key is being typed — the
//! keys the template's chain (parents in its index) sets in the same domain, which a child
//! template overrides, and the container settings tarsdock knows.

use parser::{LineKind, Span};
use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Range, TextEdit,
};

use super::chain::Context;
use super::document::Document;
use super::hover;

/// The completions at byte `offset`.
pub(crate) fn complete(
    doc: &Document,
    offset: u32,
    chain: Option<&Context>,
) -> Vec<CompletionItem> {
    let Some(line) = doc.line_at(offset) else {
        return Vec::new();
    };
    let start = line.content.start.min(offset);
    let before = doc.slice(Span::new(start, offset));
    if let Some(open) = before.rfind("${")
        && !before[open..].contains('}')
    {
        let name_start = start + u32::try_from(open + 2).unwrap_or(0);
        return macros(doc, Span::new(name_start, offset));
    }
    let typing_key = match line.kind {
        LineKind::Blank => true,
        LineKind::Param { .. } => !before.contains('='),
        _ => false,
    };
    if !typing_key || before.contains(char::is_whitespace) {
        return Vec::new();
    }
    let index = hover::index_of(doc, line);
    let names = hover::enclosing(doc, index);
    let domain: Vec<String> = names
        .iter()
        .map(|name| doc.slice(*name).trim().to_owned())
        .collect();
    let mut items = Vec::new();
    if let Some(chain) = chain {
        for (key, value, member) in chain.keys_in(&domain) {
            items.push(CompletionItem {
                label: key.clone(),
                kind: Some(CompletionItemKind::PROPERTY),
                detail: Some(format!("{member}: {}", hover::shown_value(&value))),
                insert_text: Some(format!("{key}=")),
                ..CompletionItem::default()
            });
        }
    }
    if domain == ["tars", "application", "container"]
        && !items.iter().any(|i| i.label == "privileged")
    {
        items.push(CompletionItem {
            label: "privileged".to_owned(),
            kind: Some(CompletionItemKind::PROPERTY),
            detail: Some("run the container privileged: yes or no".to_owned()),
            insert_text: Some("privileged=".to_owned()),
            ..CompletionItem::default()
        });
    }
    items
}

/// Every tarsnode macro, replacing the partial name `typed` and closing the `}`.
fn macros(doc: &Document, typed: Span) -> Vec<CompletionItem> {
    let closed = doc.text.as_bytes().get(typed.end as usize) == Some(&b'}');
    let range: Range = doc.range(typed);
    lowering::macros::KNOWN
        .iter()
        .map(|name| CompletionItem {
            label: (*name).to_owned(),
            kind: Some(CompletionItemKind::VARIABLE),
            detail: Some("tarsnode macro".to_owned()),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                range,
                new_text: if closed {
                    (*name).to_owned()
                } else {
                    format!("{name}}}")
                },
            })),
            ..CompletionItem::default()
        })
        .collect()
}
