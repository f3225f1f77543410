//! `tarsdock fmt`: re-indents a template (two spaces per nesting level) and keeps everything
//! else — comments, blank lines, order, line endings — as it was.

use crate::limits::{self, TooLarge};
use crate::parse::Parse;
use crate::syntax::LineKind;

/// The formatted text of a parse. Meant for inputs without errors (callers check); with errors
/// the nesting is the recovered one.
///
/// # Errors
/// The text would be larger than [`limits::MAX_OUTPUT`] (indent grows with the depth on every
/// line).
pub fn format(parse: &Parse) -> Result<Vec<u8>, TooLarge> {
    let src = parse.source();
    let mut out = Vec::with_capacity((src.len() + src.len() / 8).min(limits::MAX_OUTPUT));
    for line in &parse.tree.lines {
        let full = &src[line.full.range()];
        let content = &src[line.content.range()];
        let indent = if matches!(line.kind, LineKind::Blank) {
            0
        } else {
            line.depth as usize * 2
        };
        if out.len() + indent + content.len() + 2 > limits::MAX_OUTPUT {
            return Err(TooLarge {
                limit: limits::MAX_OUTPUT,
            });
        }
        if !matches!(line.kind, LineKind::Blank) {
            out.resize(out.len() + indent, b' ');
            out.extend_from_slice(content);
        }
        if full.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        } else if full.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    Ok(out)
}
