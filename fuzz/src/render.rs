//! The CLI's renderers under fuzzing (issue 13): `cli/src/render/` is compiled here as it is
//! (the `cli` crate is a binary), fed every finding of any input, and checked for panics, for
//! output bounded by the findings (no renderer may copy the source per finding or print a long
//! line whole), and for terminal safety of the human format.

use lowering::lint::{LintOptions, check_template};
use lowering::selection::{Selection, SelectionRequest};
use parser::Severity;

#[path = "../../cli/src/render/mod.rs"]
#[allow(dead_code, unreachable_pub, clippy::all)]
pub(crate) mod cli_render;

use cli_render::Report;

/// Widths the human format is rendered at: a terminal, and narrower than any window.
const WIDTHS: [usize; 2] = [100, 12];

/// Lints `data` with every family selected and renders the findings in every format.
///
/// # Panics
/// When a renderer panics, writes more than its bound, or lets a control character through
/// in human output.
pub fn check_render(data: &[u8]) {
    let parse = parser::parse(data.to_vec());
    let selection = Selection::resolve(&SelectionRequest {
        select: Some(vec!["ALL".to_owned()]),
        ..SelectionRequest::default()
    })
    .unwrap_or_default();
    let diagnostics = check_template(&parse, &LintOptions { selection });
    let mut report = Report::new();
    let id = report.sources.add("fuzz.conf", data.to_vec());
    report.diagnostics = diagnostics
        .into_iter()
        .map(|mut d| {
            d.relocate(id);
            d
        })
        .collect();
    report.omitted_by_parse(id, parse.omitted);
    report.cap();

    // What a finding may print besides its snippet: its texts, escaped (at most 10 bytes per
    // byte: `\u{202e}` for a three-byte character).
    let texts: usize = report
        .diagnostics
        .iter()
        .map(|d| {
            d.message.len()
                + d.label.len()
                + d.help.as_ref().map_or(0, String::len)
                + d.related
                    .iter()
                    .map(|r| r.message.len() + 64)
                    .sum::<usize>()
                + 128
        })
        .sum::<usize>()
        * 10;
    let marks: usize = report.diagnostics.iter().map(|d| 1 + d.related.len()).sum();
    for width in WIDTHS {
        for color in [false, true] {
            let out = cli_render::human::render(&report, color, width);
            // Each mark shows at most three lines and an underline, each within the window
            // (at least 40 cells; a cell is at most 6 bytes, `\u{9b}`), plus colour codes.
            let bound =
                texts + marks * 4 * (6 * width.max(40) + 64) * if color { 4 } else { 1 } + 4096;
            assert!(
                out.len() <= bound,
                "human output {} > bound {bound}",
                out.len()
            );
            if !color {
                assert!(
                    !out.bytes().any(|b| b < 0x20 && b != b'\n' || b == 0x7f),
                    "a control character reached human output"
                );
                assert!(
                    !out.chars().any(parser::terminal::is_unsafe_char),
                    "an unsafe character reached human output"
                );
            }
        }
    }
    let concise = cli_render::concise::render(&report);
    assert!(
        concise.len() <= texts + marks * 256 + 4096,
        "concise output unbounded"
    );
    let json = cli_render::json::render(&report);
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON output parses");
    assert_eq!(
        value["diagnostics"].as_array().map(Vec::len),
        Some(report.diagnostics.len())
    );
    let sarif = cli_render::sarif::render(&report);
    let _: serde_json::Value = serde_json::from_str(&sarif).expect("SARIF output parses");
    let _ = cli_render::github::render(&report);
    let _ = cli_render::checkstyle::render(&report);
    // The failing severity is decided before the cap: the cap only hides findings.
    let _ = report.fails(Severity::Error);
}
