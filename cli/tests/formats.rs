//! Every output format of `tarsdock lint`, rendered by the real binary over one shared set of
//! templates (`fixtures/formats/`), snapshotted, and checked for what its consumers need: SARIF
//! valid against the official 2.1.0 schema, Checkstyle well-formed XML, GitHub annotations in
//! the runner's syntax, nothing but the document on stdout.
//!
//! Bless with `INSTA_UPDATE=always cargo test -p cli --test formats` and review the snapshots in
//! `fixtures/formats/snapshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sha2::Digest as _;

const FORMATS: &[&str] = &["human", "concise", "json", "sarif", "github", "checkstyle"];

/// The shared templates, relative to the workspace root, in a stable order.
fn fixture_set() -> Vec<String> {
    let dir = testkit::workspace_root().join("fixtures/formats");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .map(|p| {
            format!(
                "fixtures/formats/{}",
                p.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "fixtures/formats holds the shared set");
    files
}

fn lint(format: &str, files: &[String]) -> (i32, String, String) {
    let mut args = vec!["lint", "--format", format, "--color", "never"];
    args.extend(files.iter().map(String::as_str));
    let out = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .args(&args)
        .current_dir(testkit::workspace_root())
        .output()
        .expect("run tarsdock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn snapshot_dir() -> PathBuf {
    testkit::workspace_root().join("fixtures/formats/snapshots")
}

#[test]
fn every_format_over_the_shared_set() {
    let files = fixture_set();
    for format in FORMATS {
        let (code, stdout, stderr) = lint(format, &files);
        assert_eq!(
            code, 1,
            "{format}: the set has an error, so exit 1\n{stderr}"
        );
        assert!(
            stderr.starts_with("found "),
            "{format}: the summary goes to stderr: {stderr}"
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(snapshot_dir());
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(format!(
            "tarsdock lint --format {format} {}",
            files.join(" ")
        ));
        settings.bind(|| {
            insta::assert_snapshot!(*format, format!("exit: {code}\n{stdout}"));
        });
    }
}

fn schema() -> Value {
    let path = testkit::workspace_root().join("fixtures/formats/schema/sarif-schema-2.1.0.json");
    let bytes = std::fs::read(&path).unwrap();
    let digest = sha2::Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex, "af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea",
        "the vendored schema is the one shipped by serde-sarif 0.8.0 (see its README)"
    );
    let mut schema: Value = serde_json::from_slice(&bytes).unwrap();
    // The published schema has one malformed regular expression (a stray `]`), which a
    // validator that checks the schema itself rejects. Only the `language` properties of `run`
    // and `toolComponent` use it (tarsdock writes neither); it is replaced in memory by its
    // evident intent.
    let replaced = replace_pattern(
        &mut schema,
        "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
        "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$",
    );
    assert_eq!(replaced, 2, "the known defect, and only it, is patched");
    schema
}

fn replace_pattern(value: &mut Value, from: &str, to: &str) -> usize {
    match value {
        Value::Object(map) => {
            let mut n = 0;
            for (key, child) in map.iter_mut() {
                if key == "pattern" && child == from {
                    *child = Value::from(to);
                    n += 1;
                } else {
                    n += replace_pattern(child, from, to);
                }
            }
            n
        }
        Value::Array(items) => items
            .iter_mut()
            .map(|item| replace_pattern(item, from, to))
            .sum(),
        _ => 0,
    }
}

fn assert_valid_sarif(validator: &jsonschema::Validator, log: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: invalid SARIF:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_is_valid_against_the_official_schema() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    // The validator does reject a broken log: a result without a message.
    let broken = serde_json::json!({
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": { "name": "x" } }, "results": [{ "ruleId": "A" }] }]
    });
    assert!(!validator.is_valid(&broken));

    let files = fixture_set();
    let (_, stdout, _) = lint("sarif", &files);
    let log: Value = serde_json::from_str(&stdout).expect("stdout is exactly one JSON document");
    assert_valid_sarif(&validator, &log, "shared set");

    let (code, clean, stderr) = lint("sarif", &["fixtures/formats/clean.conf".to_owned()]);
    assert_eq!(code, 0, "{stderr}");
    let clean: Value = serde_json::from_str(&clean).unwrap();
    assert_valid_sarif(&validator, &clean, "clean run");
    assert_eq!(clean["runs"][0]["results"], serde_json::json!([]));
}

#[test]
fn sarif_describes_every_rule_and_points_results_at_them() {
    let (_, stdout, _) = lint("sarif", &fixture_set());
    let log: Value = serde_json::from_str(&stdout).unwrap();
    let run = &log["runs"][0];
    assert_eq!(run["columnKind"], "utf16CodeUnits");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .args(["rules", "--json"])
        .output()
        .unwrap();
    let catalogue: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rules.len(), catalogue.len(), "one rule per code");
    for (rule, row) in rules.iter().zip(&catalogue) {
        assert_eq!(rule["id"], row["code"]);
        let name = rule["name"].as_str().unwrap();
        assert!(
            name.chars().next().unwrap().is_ascii_uppercase() && !name.contains('-'),
            "PascalCase name: {name}"
        );
        assert!(
            rule["help"]["markdown"]
                .as_str()
                .unwrap()
                .contains("## What it does")
        );
    }
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for result in results {
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(region["startColumn"].as_u64().unwrap() >= 1);
    }
    // `name=服务😀 # 注释`: the note starts after 4 + 5 ASCII characters, two CJK characters
    // (one UTF-16 unit each), an emoji (two units) and a space.
    let note = results
        .iter()
        .find(|r| {
            r["ruleId"] == "TARS-S103"
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    == "fixtures/formats/mixed.conf"
        })
        .unwrap();
    let region = &note["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 5);
    assert_eq!(region["startColumn"], 4 + 5 + 2 + 2 + 1 + 1);
}

#[test]
fn checkstyle_is_well_formed_xml_with_one_file_element_per_input() {
    let files = fixture_set();
    let (_, stdout, _) = lint("checkstyle", &files);
    let mut reader = quick_xml::Reader::from_str(&stdout);
    let mut file_elements = 0;
    let mut errors = 0;
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().into_inner() {
                    "file" => file_elements += 1,
                    "error" => {
                        errors += 1;
                        let severity = e
                            .try_get_attribute("severity")
                            .unwrap()
                            .expect("severity attribute");
                        assert!(
                            ["error", "warning", "info"].contains(
                                &severity
                                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .unwrap()
                                    .as_ref()
                            )
                        );
                    }
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(file_elements, files.len());
    let (_, concise, _) = lint("concise", &files);
    assert_eq!(errors, concise.lines().count(), "one <error> per finding");
}

#[test]
fn github_annotations_use_the_runner_syntax() {
    let (_, stdout, _) = lint("github", &fixture_set());
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let (command, rest) = line
            .strip_prefix("::")
            .and_then(|l| l.split_once(' '))
            .unwrap_or_else(|| panic!("not an annotation: {line}"));
        assert!(["error", "warning", "notice"].contains(&command), "{line}");
        seen.push(command.to_owned());
        let (properties, message) = rest.split_once("::").unwrap();
        assert!(!message.is_empty() && !message.contains('\n'));
        let keys: Vec<&str> = properties
            .split(',')
            .map(|p| p.split_once('=').unwrap().0)
            .collect();
        assert_eq!(
            keys,
            ["file", "line", "col", "endLine", "endColumn", "title"],
            "{line}"
        );
    }
    for command in ["error", "warning", "notice"] {
        assert!(
            seen.iter().any(|c| c == command),
            "no ::{command} in the set"
        );
    }
}

/// Templates whose keys, values, macro names, tag names and file name hold control characters
/// (ESC sequences that clear the screen or set the title, CR, NUL, DEL, a C1 CSI, a bidi
/// override), written into `dir`; their paths.
fn hostile_templates(dir: &std::path::Path) -> Vec<String> {
    let templates: [(&str, &[u8]); 3] = [
        (
            "evil\x1b[2J\x1b]0;pwned\x07.conf",
            b"<tars>\n  k\x1b[2Jey=1\n  k\x1b[2Jey=2\n  v=${\x1b[31mred}\n  w=a # \x1b[1A\x1b[2KAll checks passed!\n</tars>\n",
        ),
        (
            "tags.conf",
            "<a\u{1b}[31m>\n  <b\u{9b}2J >\n  </b\u{9b}2J >\n</a\u{202e}>\nx\u{7f}=\0\r1\n".as_bytes(),
        ),
        (
            "bytes.conf",
            b"<s>\n  p=${\x1b\xff}\n  q=\x0c\x01 # \x08\x08\x08\n  <\x00>\n  </\x00>\n</s>\n",
        ),
    ];
    templates
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        })
        .collect()
}

/// Whether `c` may reach a terminal: no C0 control but newline and tab, no DEL, no C1, no
/// bidirectional override or isolate.
fn is_safe(c: char) -> bool {
    !matches!(c,
        '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether XML 1.0 allows `c` in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// `(line, column)` of every finding in each format, in the order the format lists them.
fn positions(format: &str, stdout: &str) -> Vec<(u64, u64)> {
    match format {
        "concise" => stdout
            .lines()
            .map(|line| {
                // `file:line:col: severity[code] message`; the file name may hold `:`.
                let head = line.split(": ").next().unwrap();
                let mut parts = head.rsplitn(3, ':');
                let column = parts.next().unwrap().parse().unwrap();
                let line = parts.next().unwrap().parse().unwrap();
                (line, column)
            })
            .collect(),
        "github" => stdout
            .lines()
            .map(|line| {
                let properties = line.split_once(' ').unwrap().1.split_once("::").unwrap().0;
                let get = |key: &str| -> u64 {
                    properties
                        .split(',')
                        .find_map(|p| p.strip_prefix(&format!("{key}=")))
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                (get("line"), get("col"))
            })
            .collect(),
        "json" => {
            let doc: Value = serde_json::from_str(stdout).unwrap();
            doc["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| (d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap()))
                .collect()
        }
        "checkstyle" => {
            let mut out = Vec::new();
            let mut reader = quick_xml::Reader::from_str(stdout);
            loop {
                match reader.read_event().unwrap() {
                    quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                        if e.name().into_inner() == "error" =>
                    {
                        let get = |key: &str| -> u64 {
                            let value = e.try_get_attribute(key).unwrap().unwrap();
                            value.value.parse().unwrap()
                        };
                        out.push((get("line"), get("column")));
                    }
                    quick_xml::events::Event::Eof => break,
                    _ => {}
                }
            }
            out
        }
        other => panic!("no positions for {other}"),
    }
}

/// Done-when of issue 17: every fixture plus templates full of control characters, in every
/// format: nothing that drives a terminal in the formats people read, Checkstyle well-formed
/// XML 1.0, SARIF valid, and every format naming the same line and column for each finding.
#[test]
fn control_characters_never_reach_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = hostile_templates(dir.path());
    let root = testkit::workspace_root();
    let mut stack = vec![root.join("fixtures")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "conf") {
                files.push(path.display().to_string());
            }
        }
    }
    files.sort();
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let mut all_positions: Vec<(String, Vec<(u64, u64)>)> = Vec::new();
    // Human output's columns are the `robust` stream's (its renderer counts bytes today): it
    // is checked for control characters only.
    for format in ["human", "concise", "github", "checkstyle", "json", "sarif"] {
        let (code, stdout, stderr) = lint(format, &files);
        assert_eq!(code, 1, "{format}: {stderr}");
        assert!(
            stderr.chars().all(is_safe),
            "{format}: stderr holds a control character: {stderr:?}"
        );
        match format {
            "human" | "concise" | "github" => {
                let bad: Vec<(usize, char)> = stdout
                    .char_indices()
                    .filter(|&(_, c)| !is_safe(c))
                    .collect();
                assert!(bad.is_empty(), "{format}: control characters at {bad:?}");
                assert!(stdout.contains("\\x1b[2J"), "{format}: shown escaped");
            }
            "checkstyle" => {
                let bad: Vec<(usize, char)> = stdout
                    .char_indices()
                    .filter(|&(_, c)| !is_xml_char(c))
                    .collect();
                assert!(
                    bad.is_empty(),
                    "checkstyle: not XML 1.0 characters at {bad:?}"
                );
                assert!(!stdout.contains("&#"), "no character references");
                let mut reader = quick_xml::Reader::from_str(&stdout);
                loop {
                    match reader.read_event().expect("well-formed XML") {
                        quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                            for attribute in e.attributes() {
                                attribute
                                    .expect("well-formed attribute")
                                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .expect("attribute value unescapes");
                            }
                        }
                        quick_xml::events::Event::Eof => break,
                        _ => {}
                    }
                }
            }
            "sarif" => {
                let log: Value = serde_json::from_str(&stdout).unwrap();
                assert_valid_sarif(&validator, &log, "control characters");
                let results = log["runs"][0]["results"].as_array().unwrap();
                // SARIF columns count UTF-16 units: compared with JSON's `column_utf16`.
                let (_, json, _) = lint("json", &files);
                let json: Value = serde_json::from_str(&json).unwrap();
                let json = json["diagnostics"].as_array().unwrap();
                assert_eq!(results.len(), json.len());
                for (result, d) in results.iter().zip(json) {
                    let region = &result["locations"][0]["physicalLocation"]["region"];
                    assert_eq!(region["startLine"], d["line"]);
                    assert_eq!(region["startColumn"], d["column_utf16"]);
                }
            }
            _ => {}
        }
        if format != "sarif" && format != "human" {
            all_positions.push((format.to_owned(), positions(format, &stdout)));
        }
    }
    let (first, expected) = &all_positions[0];
    assert!(expected.len() > 100, "the run has findings");
    for (format, found) in &all_positions[1..] {
        assert_eq!(found, expected, "{format} and {first} disagree");
    }
}
