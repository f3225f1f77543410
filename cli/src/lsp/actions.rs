//! Quick fixes, computed from a finding's code, span and the template text (the diagnostics
//! themselves carry no edits): the fix a rule's help describes where it is unambiguous, and a
//! suppression comment for any finding that may be suppressed.

use std::collections::HashMap;

use lowering::codes::lint as lint_codes;
use parser::errors as syntax;
use parser::{Diagnostic, DiagnosticCode, Line, LineKind, SourceId, Span};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Range, TextEdit, Uri, WorkspaceEdit,
};

use super::document::Document;

/// One fix: a title and byte-span edits of the document.
struct Fix {
    title: String,
    edits: Vec<(Span, String)>,
    preferred: bool,
}

/// The quick fixes for every finding that overlaps `range`.
pub(crate) fn actions(doc: &Document, uri: &Uri, range: Range) -> Vec<CodeActionOrCommand> {
    let start = doc.offset(range.start);
    let end = doc.offset(range.end);
    let mut out = Vec::new();
    for d in &doc.diagnostics {
        if d.source != SourceId::MAIN || d.span.end < start || d.span.start > end {
            continue;
        }
        for fix in fixes(doc, d) {
            let edits = fix
                .edits
                .iter()
                .map(|(span, text)| TextEdit {
                    range: doc.range(*span),
                    new_text: text.clone(),
                })
                .collect();
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![doc.to_lsp(d, uri)]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), edits)])),
                    ..WorkspaceEdit::default()
                }),
                is_preferred: fix.preferred.then_some(true),
                ..CodeAction::default()
            }));
        }
    }
    out
}

fn fixes(doc: &Document, d: &Diagnostic) -> Vec<Fix> {
    let mut out = Vec::new();
    let code = d.code;
    let fix = if code == syntax::HASH_IN_VALUE.code {
        move_note_above(doc, d)
    } else if code == syntax::PADDED_TAG_NAME.code {
        trim_tag_name(doc, d)
    } else if code == syntax::TEXT_AFTER_TAG.code || code == syntax::SEVERAL_TAGS_ON_LINE.code {
        split_line(doc, d)
    } else if code == syntax::MISMATCHED_CLOSE_TAG.code {
        rename_close_tag(doc, d)
    } else if code == syntax::UNCLOSED_DOMAIN.code {
        close_at_end(doc, d)
    } else if code == syntax::INVALID_ESCAPE.code {
        Some(Fix {
            title: "Escape the backslash (`\\\\`)".to_owned(),
            edits: vec![(Span::empty(d.span.start), "\\".to_owned())],
            preferred: true,
        })
    } else if code == syntax::DUPLICATE_KEY.code {
        remove_overridden(doc, d)
    } else if code == syntax::XML_STYLE_TAG.code {
        xml_comment_to_comment(doc, d)
    } else if code == syntax::UNMATCHED_CLOSE_TAG.code {
        doc.line_at(d.span.start).map(|line| Fix {
            title: "Remove this close tag".to_owned(),
            edits: vec![(line.full, String::new())],
            preferred: false,
        })
    } else if code == lint_codes::UNUSED_SUPPRESSION.code {
        remove_suppression_code(doc, d)
    } else {
        None
    };
    out.extend(fix);
    out.extend(suppress(doc, d));
    out
}

/// Leading whitespace of `line`.
fn indent(doc: &Document, line: &Line) -> String {
    doc.slice(Span::new(line.full.start, line.content.start))
        .to_owned()
}

/// The line ending used by `line` (`\r\n` or `\n`).
fn newline(doc: &Document, line: &Line) -> &'static str {
    if doc.slice(line.full).ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

/// `a=1 # note` → `# note` on its own line above `a=1`.
fn move_note_above(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let line = doc.line_at(d.span.start)?;
    let note = doc.slice(d.span);
    let before = doc.slice(Span::new(line.content.start, d.span.start));
    let kept = u32::try_from(before.trim_end().len()).ok()?;
    let cut = Span::new(line.content.start + kept, d.span.end);
    let comment = format!("{}{note}{}", indent(doc, line), newline(doc, line));
    Some(Fix {
        title: format!("Move `{note}` to a comment line above"),
        edits: vec![
            (Span::empty(line.full.start), comment),
            (cut, String::new()),
        ],
        preferred: true,
    })
}

/// `< t >` → `<t>`, and its close tag `</ t >` (which closes it upstream) → `</t>`.
fn trim_tag_name(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let raw = doc.slice(d.span);
    let trimmed = raw.trim_matches([' ', '\t', '\r']);
    let mut edits = vec![(d.span, trimmed.to_owned())];
    let lines = &doc.parse.tree.lines;
    let open_index = lines.partition_point(|l| l.full.end <= d.span.start);
    let open = lines.get(open_index)?;
    let close = lines
        .get(open_index + 1..)
        .unwrap_or_default()
        .iter()
        .find(|l| matches!(l.kind, LineKind::Close { .. }) && l.depth == open.depth);
    if let Some(Line {
        kind: LineKind::Close { name, .. },
        ..
    }) = close
        && doc.slice(*name) == raw
    {
        edits.push((*name, trimmed.to_owned()));
    }
    Some(Fix {
        title: format!("Write `<{trimmed}>`"),
        edits,
        preferred: true,
    })
}

/// `<t> a=1` → `<t>` and `a=1` on the next line, indented into the domain.
fn split_line(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let line = doc.line_at(d.span.start)?;
    let mut indent = indent(doc, line);
    if matches!(line.kind, LineKind::Open { .. }) {
        indent.push_str("  ");
    }
    let rest = doc.slice(d.span);
    let gap_start = u32::try_from(
        doc.slice(Span::new(line.content.start, d.span.start))
            .trim_end()
            .len(),
    )
    .ok()?;
    let gap = Span::new(line.content.start + gap_start, d.span.start);
    Some(Fix {
        title: format!("Move `{rest}` to its own line"),
        edits: vec![(gap, format!("{}{indent}", newline(doc, line)))],
        preferred: true,
    })
}

/// `</sever>` closing `<server>` → `</server>`.
fn rename_close_tag(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let open = d.related.first()?;
    let open_line = doc.line_at(open.span.start)?;
    let LineKind::Open {
        name: open_name, ..
    } = open_line.kind
    else {
        return None;
    };
    let close_line = doc.line_at(d.span.start)?;
    let LineKind::Close { name, .. } = close_line.kind else {
        return None;
    };
    let wanted = doc.slice(open_name);
    Some(Fix {
        title: format!("Write `</{wanted}>`"),
        edits: vec![(name, wanted.to_owned())],
        preferred: true,
    })
}

/// Adds `</name>` at the end of the file.
fn close_at_end(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let line = doc.line_at(d.span.start)?;
    let LineKind::Open { name, .. } = line.kind else {
        return None;
    };
    let raw = doc.slice(name);
    let end = u32::try_from(doc.text.len()).ok()?;
    let newline = newline(doc, line);
    let lead = if doc.text.is_empty() || doc.text.ends_with('\n') {
        ""
    } else {
        newline
    };
    Some(Fix {
        title: format!("Add `</{raw}>` at the end of the file"),
        edits: vec![(
            Span::empty(end),
            format!("{lead}{}</{raw}>{newline}", indent(doc, line)),
        )],
        preferred: false,
    })
}

/// Removes the earlier line of a key that is set twice (the later value wins anyway).
fn remove_overridden(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let previous = d.related.first()?;
    let line = doc.line_at(previous.span.start)?;
    Some(Fix {
        title: format!("Remove the overridden line `{}`", doc.slice(line.content)),
        edits: vec![(line.full, String::new())],
        preferred: true,
    })
}

/// `<!-- note -->` → `# note`.
fn xml_comment_to_comment(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let line = doc.line_at(d.span.start)?;
    let content = doc.slice(line.content);
    let inner = content.strip_prefix("<!--")?.strip_suffix("-->")?.trim();
    Some(Fix {
        title: "Turn the XML comment into a `#` comment".to_owned(),
        edits: vec![(line.content, format!("# {inner}"))],
        preferred: true,
    })
}

/// Removes an unused code from its suppression comment, or the whole comment if it was the
/// only code.
fn remove_suppression_code(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    let line = doc.line_at(d.span.start)?;
    let text = doc.text.as_str();
    let after = text.get(d.span.end as usize..line.content.end as usize)?;
    let before = text.get(line.content.start as usize..d.span.start as usize)?;
    let code = doc.slice(d.span);
    let trailing_comma = after.trim_start().starts_with(',');
    let leading_comma = before.trim_end().ends_with(',');
    let span = if trailing_comma {
        let skip = after.len() - after.trim_start().len() + 1;
        let rest = after.get(skip..)?;
        let spaces = rest.len() - rest.trim_start().len();
        Span::new(
            d.span.start,
            d.span.end + u32::try_from(skip + spaces).ok()?,
        )
    } else if leading_comma {
        let trimmed = before.trim_end();
        let comma = u32::try_from(trimmed.len() - 1).ok()?;
        Span::new(line.content.start + comma, d.span.end)
    } else {
        return Some(Fix {
            title: "Remove the unused suppression comment".to_owned(),
            edits: vec![(line.full, String::new())],
            preferred: true,
        });
    };
    Some(Fix {
        title: format!("Remove `{code}` from the suppression comment"),
        edits: vec![(span, String::new())],
        preferred: true,
    })
}

/// `# tarsdock: ignore CODE` above the finding's line. No reason is written: the comment is
/// then reported as `suppression-without-reason` until one is added.
fn suppress(doc: &Document, d: &Diagnostic) -> Option<Fix> {
    if !suppressible(d.code) {
        return None;
    }
    let line = doc.line_at(d.span.start)?;
    let comment = format!(
        "{}# tarsdock: ignore {}{}",
        indent(doc, line),
        d.code,
        newline(doc, line)
    );
    Some(Fix {
        title: format!("Suppress {} on this line (then say why)", d.code),
        edits: vec![(Span::empty(line.full.start), comment)],
        preferred: false,
    })
}

fn suppressible(code: DiagnosticCode) -> bool {
    lowering::selection::is_configurable(code) && !code.as_str().starts_with("TARS-L")
}
