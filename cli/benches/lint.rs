//! Lint benchmarks (divan), recorded in `BENCHMARKS.md` (`## Lint`):
//!
//! - `all_fixtures`: every template under `fixtures/` linted in one process with the default
//!   settings, and with every family selected (the XML portability pass included);
//! - `keystroke`: the language server's path for one keystroke in the shared 1 MB template:
//!   apply an incremental change, parse, lint (`lowering::lint::check_template`) and convert the
//!   findings to LSP diagnostics. The server's own `Document` is included from
//!   `src/lsp/document.rs`, so this is the code the server runs;
//! - `keystroke_scaling`: the same on generated templates of 100 KB to 4 MB;
//! - `keystroke_steps`: the parts of one keystroke, each on its own.
//!
//! Run with `cargo bench -p cli --bench lint`. The 1 MB template is read from
//! `../shared/bench/` (or beside `TARSDOCK_UPSTREAM_FIXTURES`); when absent, that benchmark
//! prints a notice and measures nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

#[allow(dead_code, unreachable_pub)]
#[path = "../src/lsp/document.rs"]
mod document;

// The parser benchmarks' generated inputs, for the scaling case.
#[path = "../../parser/benches/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use divan::{Bencher, black_box};
use lowering::lint::LintOptions;
use lowering::selection::{Selection, SelectionRequest};
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent, Uri};

// The binary's allocator (`src/main.rs`), so the keystroke is measured as the server runs it.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    divan::main();
}

/// Every `.conf` under `fixtures/`, read once.
static FIXTURES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut files = Vec::new();
    collect(&testkit::workspace_root().join("fixtures"), &mut files);
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
});

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "conf") {
            out.push(path);
        }
    }
}

#[allow(clippy::needless_update)] // `LintOptions` grows (chain context); keep its defaults.
fn options(all: bool) -> LintOptions {
    let request = SelectionRequest {
        select: all.then(|| vec!["ALL".to_owned()]),
        ..SelectionRequest::default()
    };
    LintOptions {
        selection: Selection::resolve(&request).unwrap(),
        ..LintOptions::default()
    }
}

#[divan::bench(args = [false, true])]
fn all_fixtures(bencher: Bencher<'_, '_>, every_family: bool) {
    let options = options(every_family);
    let fixtures = &*FIXTURES;
    bencher.bench_local(|| {
        let mut n = 0;
        for text in fixtures {
            let parse = parser::parse(text.clone());
            n += lowering::lint::check_template(&parse, &options).len();
        }
        black_box(n)
    });
}

/// The shared 1 MB template, or `None` (with a notice).
static LARGE: LazyLock<Option<String>> = LazyLock::new(|| {
    let path = std::env::var_os(testkit::ENV).map_or_else(
        || testkit::workspace_root().join("../shared/bench/large-1mb.conf"),
        |dir| PathBuf::from(dir).join("../bench/large-1mb.conf"),
    );
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("SKIPPED keystroke benchmark: {}: {e}", path.display());
            None
        }
    }
});

/// One keystroke in the middle of the 1 MB template: typing a character into a value, then
/// deleting it (alternately, so the text stays the same across iterations).
#[divan::bench(args = [false, true])]
fn keystroke(bencher: Bencher<'_, '_>, every_family: bool) {
    let Some(text) = LARGE.as_ref() else {
        return;
    };
    type_in_the_middle(bencher, text.clone(), &options(every_family));
}

/// How one keystroke's cost grows with the template: generated templates (shaped like the
/// shared one, `parser/benches/common`) of about 100 KB, 1 MB and 4 MB, default selection.
#[divan::bench(args = [100 * common::KB, common::MB, 4 * common::MB])]
fn keystroke_scaling(bencher: Bencher<'_, '_>, bytes: usize) {
    let text = String::from_utf8(common::realistic(bytes).to_vec()).unwrap();
    type_in_the_middle(bencher, text, &options(false));
}

/// Types `x` after the `=` of the parameter line nearest the middle of `text`, then deletes
/// it, one change per iteration, through the server's `Document`.
fn type_in_the_middle(bencher: Bencher<'_, '_>, text: String, options: &LintOptions) {
    let uri: Uri = "file:///bench/large.conf".parse().unwrap();
    let mut doc = document::Document::new(text, 1, options);
    // A parameter line in the middle of the file: type after its `=`.
    let middle = u32::try_from(doc.parse.tree.lines.len() / 2).unwrap();
    let line = (middle..)
        .find(|&i| {
            doc.parse
                .tree
                .lines
                .get(i as usize)
                .is_none_or(|l| matches!(l.kind, parser::LineKind::Param { eq: Some(_), .. }))
        })
        .unwrap();
    let column = {
        let l = &doc.parse.tree.lines[line as usize];
        let parser::LineKind::Param { eq: Some(eq), .. } = l.kind else {
            unreachable!("found above");
        };
        eq - l.full.start + 1
    };
    let at = Position::new(line, column);
    let mut version = 1;
    bencher.bench_local(|| {
        version += 1;
        let change = if version % 2 == 0 {
            TextDocumentContentChangeEvent {
                range: Some(Range { start: at, end: at }),
                range_length: None,
                text: "x".to_owned(),
            }
        } else {
            TextDocumentContentChangeEvent {
                range: Some(Range {
                    start: at,
                    end: Position::new(line, column + 1),
                }),
                range_length: None,
                text: String::new(),
            }
        };
        doc.apply_changes(vec![change], version, options);
        black_box(doc.lsp_diagnostics(&uri).len())
    });
}

/// Where one keystroke's time goes, step by step, on the unchanged 1 MB template.
#[divan::bench(args = [
    "parse",
    "line_index",
    "check",
    "check_container",
    "check_macros",
    "check_portability",
    "check_suppress",
    "to_lsp",
    "to_json",
])]
fn keystroke_steps(bencher: Bencher<'_, '_>, step: &str) {
    let Some(text) = LARGE.as_ref() else {
        return;
    };
    let options = options(false);
    let uri: Uri = "file:///bench/large-1mb.conf".parse().unwrap();
    let doc = document::Document::new(text.clone(), 1, &options);
    let found = || lowering::lint::check_template(&doc.parse, &options);
    match step {
        "parse" => bencher.bench_local(|| black_box(parser::parse(text.as_bytes().to_vec()))),
        "check" => bencher.bench_local(|| black_box(found().len())),
        "check_container" => {
            bencher.bench_local(|| black_box(lowering::plan::lint_checks(&doc.parse.config)));
        }
        "check_macros" => bencher.bench_local(|| black_box(lowering::macros::check(&doc.parse))),
        "check_portability" => {
            bencher.bench_local(|| black_box(lowering::portability::check(&doc.parse)));
        }
        "check_suppress" => {
            let all = found();
            bencher
                .with_inputs(|| all.clone())
                .bench_local_values(|found| {
                    black_box(lowering::suppress::apply(
                        &doc.parse,
                        found,
                        &options.selection,
                    ))
                });
        }
        "line_index" => {
            bencher.bench_local(|| {
                black_box(parser::LineIndex::from_lines(
                    text.as_bytes(),
                    &doc.parse.tree.lines,
                ))
            });
        }
        "to_lsp" => bencher.bench_local(|| black_box(doc.lsp_diagnostics(&uri).len())),
        "to_json" => {
            // What publishing costs the server on top: the notification's JSON.
            let diagnostics = doc.lsp_diagnostics(&uri);
            bencher.bench_local(|| black_box(serde_json::to_vec(&diagnostics).unwrap().len()));
        }
        other => panic!("no keystroke step `{other}`"),
    }
}
