//! `tarsdock fmt`: re-indents a template (two spaces per nesting level) and keeps everything
//! else — comments, blank lines, order, line endings — as it was.

use crate::parse::Parse;
use crate::syntax::LineKind;

/// The formatted text of a parse. Meant for inputs without errors (callers check); with errors
/// the nesting is the recovered one.
#[must_use]
pub fn format(parse: &Parse) -> Vec<u8> {
    let src = parse.source();
    let mut out = Vec::with_capacity(src.len() + src.len() / 8);
    for line in &parse.tree.lines {
        let full = &src[line.full.range()];
        let content = &src[line.content.range()];
        if !matches!(line.kind, LineKind::Blank) {
            for _ in 0..line.depth {
                out.extend_from_slice(b"  ");
            }
            out.extend_from_slice(content);
        }
        if full.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        } else if full.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}
