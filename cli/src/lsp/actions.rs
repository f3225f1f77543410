//! Quick fixes: the checked fixes of [`crate::fix`] for the findings a request concerns, as
//! LSP code actions.
//!
//! A request concerns the findings whose range overlaps its range and the findings the client
//! names in `context.diagnostics` (an editor asks with the cursor anywhere on a flagged line,
//! column 0 included, and lists that line's diagnostics there).

use std::collections::HashMap;

use lowering::lint::LintOptions;
use parser::{Diagnostic, SourceId};
use tower_lsp_server::ls_types::{
    self as lsp, CodeAction, CodeActionKind, CodeActionOrCommand, Range, TextEdit, Uri,
    WorkspaceEdit,
};

use super::document::Document;
use crate::fix::{self, Checker, Fix, Source};

/// At most this many findings are fixed per request: each fix is checked by linting the
/// fixed text again, and a request over a whole large file must still answer promptly.
const MAX_FINDINGS: usize = 64;

/// The quick fixes for the findings of `doc` that `range` and `context` concern.
pub(crate) fn actions(
    doc: &Document,
    uri: &Uri,
    options: &LintOptions,
    range: Range,
    context: &[lsp::Diagnostic],
) -> Vec<CodeActionOrCommand> {
    let start = doc.offset(range.start);
    let end = doc.offset(range.end);
    let concerned: Vec<&Diagnostic> = doc
        .diagnostics
        .iter()
        .filter(|d| d.source == SourceId::MAIN)
        .filter(|d| {
            (d.span.end >= start && d.span.start <= end)
                || context.iter().any(|c| {
                    c.code.as_ref().is_some_and(|code| {
                        *code == lsp::NumberOrString::String(d.code.as_str().to_owned())
                    }) && c.range == doc.range(d.span)
                })
        })
        .take(MAX_FINDINGS)
        .collect();
    if concerned.is_empty() {
        return Vec::new();
    }
    let src = Source {
        text: doc.text.as_bytes(),
        parse: &doc.parse,
    };
    let checker = Checker::new(&doc.parse, &doc.diagnostics, options);
    let mut out = Vec::new();
    for d in concerned {
        for fix in fix::checked(src, &checker, d) {
            out.extend(action(doc, uri, d, fix));
        }
    }
    out
}

fn action(doc: &Document, uri: &Uri, d: &Diagnostic, fix: Fix) -> Option<CodeActionOrCommand> {
    let edits = fix
        .edits
        .into_iter()
        .map(|edit| {
            Some(TextEdit {
                range: doc.range(edit.span),
                // The document is UTF-8, and so is every edit made of its text.
                new_text: String::from_utf8(edit.text).ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(CodeActionOrCommand::CodeAction(CodeAction {
        title: fix.title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![doc.to_lsp(d, uri)]),
        edit: Some(WorkspaceEdit {
            changes: Some(HashMap::from([(uri.clone(), edits)])),
            ..WorkspaceEdit::default()
        }),
        is_preferred: fix.preferred.then_some(true),
        ..CodeAction::default()
    }))
}
