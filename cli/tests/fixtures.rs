//! The fixture harness: every template under `fixtures/` is run through the real `tarsdock`
//! binary and its findings are snapshotted (human rendering and JSON) next to the input.
//!
//! Before comparing, each fixture is checked against what its folder promises:
//! - `fixtures/lint/<rule-name>/ok*.conf` must not trigger that rule; every other fixture in
//!   the folder must trigger it (and `<rule-name>` must be a known rule);
//! - `fixtures/parse/*.conf` must lint without errors;
//! - every input must round-trip through the parser byte for byte.
//!
//! A folder holding a `templates.toml` (a template set index) lints its fixtures with
//! `--index`, so chain rules can be shown.
//!
//! Bless new or changed snapshots with `cargo insta review` (or `INSTA_UPDATE=always`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on bad fixtures.

use std::path::Path;
use std::process::Command;

fn tarsdock(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .args(args)
        .current_dir(testkit::workspace_root())
        .output()
        .expect("run tarsdock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn relative(path: &Path) -> String {
    path.strip_prefix(testkit::workspace_root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn codes_in(json: &str) -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(json).expect("lint JSON");
    doc["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .map(|d| {
            (
                d["rule"].as_str().unwrap_or_default().to_owned(),
                d["severity"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Lints `path`, checks the folder's promise, and snapshots the output next to the input.
fn check_fixture(path: &Path) {
    let rel = relative(path);
    let input = std::fs::read(path).unwrap();
    let parsed = parser::parse(input.clone());
    assert_eq!(
        parsed.tree.text(parsed.source()),
        input,
        "{rel}: not lossless"
    );
    assert!(
        input.starts_with(b"#"),
        "{rel}: a fixture starts with a `#` line saying what it covers"
    );

    // A folder with a `templates.toml` lints its templates in the context of that set.
    let index = path.parent().unwrap().join("templates.toml");
    let index_arg = relative(&index);
    let mut human_args = vec!["lint", "--format", "human", "--color", "never"];
    let mut json_args = vec!["lint", "--format", "json"];
    if index.exists() {
        human_args.extend(["--index", &index_arg]);
        json_args.extend(["--index", &index_arg]);
    }
    human_args.push(&rel);
    json_args.push(&rel);
    let (code, human, _) = tarsdock(&human_args);
    let (_, json, _) = tarsdock(&json_args);
    let found = codes_in(&json);
    let has_error = found.iter().any(|(_, s)| s == "error");
    assert_eq!(code, i32::from(has_error), "{rel}: exit code");

    let parts: Vec<&str> = rel.split('/').collect();
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    match parts.as_slice() {
        ["fixtures", "lint", rule, _] => {
            let rules = all_rules();
            assert!(
                rules.iter().any(|r| r == rule),
                "{rel}: unknown rule folder `{rule}`"
            );
            let triggered = found.iter().any(|(r, _)| r == rule);
            if stem.starts_with("ok") {
                assert!(
                    !triggered,
                    "{rel}: must not trigger `{rule}`, got {found:?}"
                );
            } else {
                assert!(triggered, "{rel}: must trigger `{rule}`, got {found:?}");
            }
        }
        ["fixtures", "parse", _] => {
            assert!(
                !has_error,
                "{rel}: parse fixtures must have no errors: {found:?}"
            );
        }
        _ => panic!("{rel}: fixture outside a known area"),
    }

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(path.parent().unwrap().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_suffix("");
    settings.set_omit_expression(true);
    settings.set_input_file(path);
    settings.bind(|| {
        insta::assert_snapshot!(stem, format!("exit: {code}\n{human}--- json ---\n{json}"));
    });
}

fn all_rules() -> Vec<String> {
    let (code, out, err) = tarsdock(&["rules", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    rows.iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn lint_fixtures() {
    insta::glob!("../../fixtures", "lint/*/*.conf", check_fixture);
}

#[test]
fn parse_fixtures() {
    insta::glob!("../../fixtures", "parse/*.conf", check_fixture);
}

/// Codes whose trigger cannot be a fixture, with the reason and where it is tested instead.
const NO_TRIGGER_FIXTURE: &[(&str, &str)] = &[
    (
        "file-too-large",
        "needs an input over 4 MiB; parser unit test `depth_line_and_size_bounds_are_coded_findings` \
         injects the limit, and `limits::an_input_over_4_mib_is_a_coded_refusal` runs the binary",
    ),
    // The binary preflight (TARS-B) checks an executable against an image, not a template:
    // triggered and not triggered by the unit tests in runtime/src/preflight.rs and the engine
    // tests in cli/tests/preflight.rs (which snapshot the rendering).
    (
        "missing-loader",
        "executable vs image: cli/tests/preflight.rs",
    ),
    (
        "missing-library",
        "executable vs image: runtime/src/preflight.rs tests",
    ),
    (
        "missing-symbol-version",
        "executable vs image: runtime/src/preflight.rs tests",
    ),
    (
        "foreign-architecture",
        "executable vs image: runtime/src/preflight.rs tests",
    ),
];

/// Every code: documented with the fixed headings, and a fixture folder holding a fixture
/// that triggers it and one that does not.
#[test]
fn every_code_has_docs_and_fixtures() {
    let (code, out, err) = tarsdock(&["rules", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let root = testkit::workspace_root().join("fixtures/lint");
    let mut problems = Vec::new();
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        let code = row["code"].as_str().unwrap();
        let (_, explain, _) = tarsdock(&["explain", code]);
        for heading in ["## What it does", "## Why is this bad?"] {
            if !explain.contains(heading) {
                problems.push(format!("{code} ({name}): explanation lacks `{heading}`"));
            }
        }
        if NO_TRIGGER_FIXTURE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let dir = root.join(name);
        let stems: Vec<String> = std::fs::read_dir(&dir)
            .map(|it| {
                it.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                    .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !stems.iter().any(|s| s.starts_with("ok")) {
            problems.push(format!("{code} ({name}): no fixtures/lint/{name}/ok*.conf"));
        }
        if !stems.iter().any(|s| !s.starts_with("ok")) {
            problems.push(format!(
                "{code} ({name}): no triggering fixture in fixtures/lint/{name}/"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
