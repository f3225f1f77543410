//! Document symbols: the domain tree of a template for outline views and "go to symbol" —
//! each domain (from its open tag to its close tag) with its sub-domains and keys.

use parser::{LineKind, Span};
use tower_lsp_server::ls_types::{DocumentSymbol, SymbolKind};

use super::document::Document;

/// The domain tree, as written (a domain opened twice appears twice: that is where it is).
pub(crate) fn symbols(doc: &Document) -> Vec<DocumentSymbol> {
    // Open domains: the symbol and where its tag starts.
    let mut stack: Vec<(DocumentSymbol, u32)> = Vec::new();
    let mut top = Vec::new();
    let end = u32::try_from(doc.text.len()).unwrap_or(u32::MAX);
    for line in &doc.parse.tree.lines {
        match line.kind {
            LineKind::Open { name, .. } => {
                let symbol = symbol(doc, name, SymbolKind::NAMESPACE, line.content, None);
                stack.push((symbol, line.content.start));
            }
            LineKind::Close { .. } => {
                if let Some((mut symbol, start)) = stack.pop() {
                    symbol.range = doc.range(Span::new(start, line.content.end));
                    attach(&mut stack, &mut top, symbol);
                }
            }
            LineKind::Param { key, value, .. } => {
                let detail = value.map(|v| doc.slice(v).to_owned());
                let symbol = symbol(doc, key, SymbolKind::PROPERTY, line.content, detail);
                attach(&mut stack, &mut top, symbol);
            }
            LineKind::Blank | LineKind::Comment | LineKind::Unterminated => {}
        }
    }
    // Domains never closed run to the end of the text.
    while let Some((mut symbol, start)) = stack.pop() {
        symbol.range = doc.range(Span::new(start, end));
        attach(&mut stack, &mut top, symbol);
    }
    top
}

fn symbol(
    doc: &Document,
    name: Span,
    kind: SymbolKind,
    range: Span,
    detail: Option<String>,
) -> DocumentSymbol {
    let shown = doc.slice(name).trim();
    #[allow(deprecated)] // The field must be written; it is left out of the JSON.
    DocumentSymbol {
        // Clients refuse an empty name.
        name: if shown.is_empty() {
            "(empty)".to_owned()
        } else {
            shown.to_owned()
        },
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: doc.range(range),
        selection_range: doc.range(name),
        children: None,
    }
}

fn attach(
    stack: &mut [(DocumentSymbol, u32)],
    top: &mut Vec<DocumentSymbol>,
    symbol: DocumentSymbol,
) {
    match stack.last_mut() {
        Some((parent, _)) => parent.children.get_or_insert_with(Vec::new).push(symbol),
        None => top.push(symbol),
    }
}
