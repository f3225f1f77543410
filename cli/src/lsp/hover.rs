//! Hover: on a key, its value and the domain it is defined in (and, when the key is set again
//! later in the domain, which line wins); on a tag, the domain's path and size; on a code in a
//! suppression comment, what the code means. When the document is a member of a template
//! set ([`Context`]), a key also shows its provenance in the chain and a tag the templates that
//! set keys in the domain.

use parser::{DomainRef, LineKind, Span};
use tower_lsp_server::ls_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use super::chain::Context;
use super::document::Document;

/// The hover at byte `offset`, if there is something to say.
pub(crate) fn hover(doc: &Document, offset: u32, chain: Option<&Context>) -> Option<Hover> {
    let line = doc.line_at(offset)?;
    let (text, span) = match line.kind {
        LineKind::Param { key, .. } => (param(doc, line, key, chain)?, key),
        LineKind::Open { name, .. } | LineKind::Close { name, .. } => {
            (domain(doc, line, name, chain)?, line.content)
        }
        LineKind::Comment => code_in_comment(doc, line.content, offset)?,
        LineKind::Blank | LineKind::Unterminated => return None,
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: Some(doc.range(span)),
    })
}

/// The raw names of the domains enclosing the line at `index` (outermost first).
pub(super) fn enclosing(doc: &Document, index: usize) -> Vec<Span> {
    let lines = &doc.parse.tree.lines;
    let Some(line) = lines.get(index) else {
        return Vec::new();
    };
    let mut depth = match line.kind {
        // A close tag has the depth of the parent of the domain it closes; it belongs to that
        // domain, which is found like the domain of its own line's content.
        LineKind::Close { .. } => line.depth + 1,
        _ => line.depth,
    };
    let mut names = Vec::new();
    for earlier in lines.get(..index).unwrap_or_default().iter().rev() {
        if depth == 0 {
            break;
        }
        if let LineKind::Open { name, .. } = earlier.kind
            && earlier.depth + 1 == depth
        {
            names.push(name);
            depth -= 1;
        }
    }
    names.reverse();
    names
}

pub(super) fn index_of(doc: &Document, line: &parser::Line) -> usize {
    doc.parse
        .tree
        .lines
        .partition_point(|l| l.full.start < line.full.start)
}

/// The domain `names` (raw names, outermost first) leads to in the model, and the trimmed
/// names the model gives it on the way (what chain provenance is keyed by).
pub(super) fn descend<'a>(
    doc: &'a Document,
    names: &[Span],
) -> Option<(DomainRef<'a>, Vec<String>)> {
    let mut current = doc.parse.config.root();
    let mut path = Vec::with_capacity(names.len());
    for name in names {
        let raw = doc.parse.source().get(name.range())?;
        current = current.child(raw)?;
        path.push(String::from_utf8_lossy(current.name()).into_owned());
    }
    Some((current, path))
}

fn path_of(doc: &Document, names: &[Span]) -> String {
    if names.is_empty() {
        return "/".to_owned();
    }
    names
        .iter()
        .map(|name| format!("/{}", doc.slice(*name).trim()))
        .collect()
}

fn param(
    doc: &Document,
    line: &parser::Line,
    key: Span,
    chain: Option<&Context>,
) -> Option<String> {
    let index = index_of(doc, line);
    let names = enclosing(doc, index);
    let raw_key = doc.parse.source().get(key.range())?;
    let unescaped = parser::escape::unescape(raw_key).ok()?;
    let path = path_of(doc, &names);
    let found = descend(doc, &names);
    let shown_key = String::from_utf8_lossy(&unescaped).into_owned();
    let mut out = format!("**`{shown_key}`** in `{path}`\n\n");
    let Some((live, model_path)) =
        found.and_then(|(domain, model_path)| Some((domain.param(&unescaped)?, model_path)))
    else {
        out.push_str("not read: this line is not part of the parsed model");
        return Some(out);
    };
    let value = shown_value(&String::from_utf8_lossy(live.value));
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("value: {value}\n\n"));
    match live.origin {
        Some(origin) if origin.line.start != line.content.start => {
            let at = doc.position(origin.line.start);
            let _ = std::fmt::Write::write_fmt(
                &mut out,
                format_args!(
                    "overridden: set again on line {}, and the last value wins",
                    at.line + 1
                ),
            );
        }
        Some(_) => {
            let at = doc.position(line.content.start);
            let _ = std::fmt::Write::write_fmt(
                &mut out,
                format_args!("defined here, line {}", at.line + 1),
            );
        }
        None => {}
    }
    if let Some(chain) = chain {
        out.push_str("\n\n---\n\n");
        out.push_str(&chain.key_hover(&model_path, &shown_key));
    }
    Some(out)
}

fn domain(
    doc: &Document,
    line: &parser::Line,
    name: Span,
    chain: Option<&Context>,
) -> Option<String> {
    let index = index_of(doc, line);
    let mut names = enclosing(doc, index);
    if matches!(line.kind, LineKind::Open { .. }) {
        names.push(name);
    }
    let path = path_of(doc, &names);
    let (domain, model_path) = descend(doc, &names)?;
    let n_params = domain.params().count();
    let n_children = domain.children().count();
    let opened: Vec<String> = domain
        .open_spans()
        .iter()
        .map(|span| (doc.position(span.start).line + 1).to_string())
        .collect();
    let mut out = format!(
        "domain `{path}`\n\n{}, {}; opened on {} {}",
        counted(n_params, "parameter", "parameters"),
        counted(n_children, "sub-domain", "sub-domains"),
        if opened.len() == 1 { "line" } else { "lines" },
        opened.join(", ")
    );
    if let Some(chain) = chain {
        out.push_str("\n\n---\n\n");
        out.push_str(&chain.domain_hover(&model_path));
    }
    Some(out)
}

/// `n` and the noun for it: `1 parameter`, `2 parameters`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A code or rule name under the cursor in a `# tarsdock:` comment.
fn code_in_comment(doc: &Document, content: Span, offset: u32) -> Option<(String, Span)> {
    let text = doc.slice(content);
    if !text.contains("tarsdock:") {
        return None;
    }
    let at = (offset.checked_sub(content.start)?) as usize;
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let start = text
        .get(..at)?
        .rfind(|c: char| !is_word(c))
        .map_or(0, |i| i + 1);
    let end = text
        .get(at..)?
        .find(|c: char| !is_word(c))
        .map_or(text.len(), |i| at + i);
    let word = text.get(start..end)?;
    let info = lowering::selection::find_exact(word)?;
    let span = content.sub(start, end);
    Some((
        format!(
            "**{}** `{}` ({})\n\n{}",
            info.code, info.name, info.severity, info.summary
        ),
        span,
    ))
}

/// A value as hover shows it: in backticks, or *(empty)*.
pub(super) fn shown_value(value: &str) -> String {
    if value.is_empty() {
        "*(empty)*".to_owned()
    } else {
        format!("`{value}`")
    }
}
