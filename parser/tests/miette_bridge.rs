//! The diagnostic model through miette: what a Rust caller rendering findings with miette sees.

use miette::{Diagnostic as _, GraphicalReportHandler, GraphicalTheme};
use parser::{Sources, parse};

fn render(view: &parser::diagnostic::MietteView) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, view)
        .expect("rendering into a String cannot fail");
    out
}

#[test]
fn a_finding_renders_with_code_labels_and_help() {
    let text = b"<tars>\n  a=1\n  a=2\n</tars>\n";
    let parse = parse(&text[..]);
    let duplicate = parse
        .diagnostics
        .iter()
        .find(|d| !d.related.is_empty())
        .expect("a duplicate key has a related label");
    let mut sources = Sources::new();
    sources.add("app.conf", &text[..]);
    let view = duplicate.to_miette(&sources);

    assert_eq!(
        view.code().map(|c| c.to_string()).as_deref(),
        Some(duplicate.code.as_str())
    );
    assert_eq!(view.labels().map(Iterator::count), Some(2));
    let shown = render(&view);
    assert!(shown.contains(duplicate.code.as_str()), "{shown}");
    assert!(shown.contains("app.conf:3:3"), "{shown}");
    assert!(shown.contains(&duplicate.related[0].message), "{shown}");
    if let Some(help) = &duplicate.help {
        assert!(shown.contains(help.as_str()), "{shown}");
    }
}

#[test]
fn a_label_in_another_file_is_named_after_the_help() {
    let mut sources = Sources::new();
    let child = sources.add("child.conf", &b"<tars>\n  a=\n</tars>\n"[..]);
    let parent = sources.add("parent.conf", &b"<tars>\n  a=1\n</tars>\n"[..]);
    let finding = parser::Diagnostic::new(
        parser::DiagnosticCode("TARS-C004"),
        parser::Severity::Warning,
        "`a` is emptied",
    )
    .with_source(child)
    .with_label(parser::Span::new(9, 11), "emptied here")
    .with_related(parent, parser::Span::new(9, 12), "inherited from here")
    .with_help("remove the line to inherit the value");
    let shown = render(&finding.to_miette(&sources));
    assert!(shown.contains("child.conf:2:3"), "{shown}");
    assert!(
        shown.contains("parent.conf:2:3: inherited from here"),
        "{shown}"
    );
    assert!(shown.contains("remove the line"), "{shown}");
}
