//! Every quick fix the language server offers, on every fixture, applied as an editor applies
//! it: the result must have no finding the input did not have (a suppression may add the one
//! `suppression-without-reason` it asks the user to resolve), must lose the finding the fix is
//! for, and must still be accepted by upstream TC_Config (`tcconf norm`, the real upstream
//! parser) whenever the input was.
//!
//! Upstream's parser is `../shared/bench/upstream/tcconf` (override with `TARSDOCK_TCCONF`);
//! without it the upstream half is skipped visibly, and fails under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use support::lsp_client::Client;

/// Templates that are not fixtures but exercise fixes the fixtures miss: each known-bad case
/// of the past (a fix that broke the template) among them.
const EXTRA: &[(&str, &str)] = &[
    (
        "comment-after-open-tag",
        "<tars>\n  <server> <!-- main server -->\n    a=1\n  </server>\n</tars>\n",
    ),
    (
        "xml-comment-over-lines",
        "<tars>\n  <!-- old -->\n  </!-- old -->\n  a=1\n</tars>\n",
    ),
    (
        "several-tags-closed-later",
        "<tars><application>\n  a=1\n</application>\n</tars>\n",
    ),
    ("trailing-after-root", "<tars>\n  a=1\n</tars> trailing\n"),
    (
        "self-closing-pair",
        "<tars>\n  <empty/>\n  </empty/>\n</tars>\n",
    ),
    (
        "misspelt-macro",
        "<tars>\n  <application>\n    logdir=${logpth}/x\n    b=${app}.${serve}\n  </application>\n</tars>\n",
    ),
    (
        "note-and-backslash",
        "<tars>\n  a=x\\ # note\n  b=c:\\d\n  b=1\n</tars>\n",
    ),
    (
        "crlf-and-nested-unclosed",
        "<tars>\r\n  <a>\r\n    <b>\r\n  k=v # n\r\n",
    ),
];

fn tcconf() -> Option<PathBuf> {
    let path = std::env::var_os("TARSDOCK_TCCONF").map_or_else(
        || testkit::workspace_root().join("../shared/bench/upstream/tcconf"),
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "upstream tcconf not found at {} (set TARSDOCK_TCCONF); required under CI=true",
        path.display()
    );
    eprintln!(
        "SKIPPED upstream half of every_quick_fix: tcconf not found at {} (set TARSDOCK_TCCONF)",
        path.display()
    );
    None
}

/// Whether upstream `TC_Config::parseFile` + `tostr` accepts `text`.
fn upstream_accepts(tcconf: &Path, dir: &Path, text: &str) -> bool {
    let file = dir.join("upstream-input.conf");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(tcconf)
        .arg("norm")
        .arg(&file)
        .output()
        .expect("run tcconf");
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("tcconf crashed ({other:?}) on:\n{text}"),
    }
}

/// Every UTF-8 `.conf` under `fixtures/` and the upstream templates, with a name.
fn inputs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![testkit::workspace_root().join("fixtures")];
    if let Some(upstream) = testkit::upstream_fixtures("every_quick_fix") {
        stack.push(upstream.join("templates"));
    }
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "conf") {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        // The protocol carries UTF-8 only; a GBK file cannot be opened in an editor as is.
        if let Ok(text) = String::from_utf8(std::fs::read(&path).unwrap()) {
            out.push((path.display().to_string(), text));
        }
    }
    out.extend(
        EXTRA
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned())),
    );
    out
}

/// `(code, message)` of each published diagnostic, counted.
fn findings(diagnostics: &Value) -> HashMap<(String, String), usize> {
    let mut out = HashMap::new();
    for d in diagnostics.as_array().unwrap() {
        let key = (
            d["code"].as_str().unwrap().to_owned(),
            d["message"].as_str().unwrap().to_owned(),
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

/// The byte offset of an LSP position (UTF-16 columns) in `text`.
fn offset(text: &str, position: &Value) -> usize {
    let line = usize::try_from(position["line"].as_u64().unwrap()).unwrap();
    let character = position["character"].as_u64().unwrap();
    let mut start = 0;
    for _ in 0..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let mut units = 0u64;
    for (i, c) in text[start..].char_indices() {
        if units >= character || c == '\n' {
            return start + i;
        }
        units += c.len_utf16() as u64;
    }
    text.len()
}

/// `text` with an action's edits applied, as an editor applies a `WorkspaceEdit` (every range
/// refers to the text before the edit).
fn apply(text: &str, edits: &[Value]) -> String {
    let mut spans: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            (
                offset(text, &e["range"]["start"]),
                offset(text, &e["range"]["end"]),
                e["newText"].as_str().unwrap(),
            )
        })
        .collect();
    spans.sort_by_key(|&(start, end, _)| (start, end));
    let mut out = String::new();
    let mut at = 0;
    for (start, end, new_text) in spans {
        assert!(start >= at, "overlapping edits: {edits:?}");
        out.push_str(&text[at..start]);
        out.push_str(new_text);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

struct Session {
    client: Client,
    dir: tempfile::TempDir,
    n: usize,
}

impl Session {
    /// Opens `text` as a new document and returns its published diagnostics.
    fn diagnostics(&mut self, text: &str) -> (String, Value) {
        self.n += 1;
        let uri = format!("file://{}/doc{}.conf", self.dir.path().display(), self.n);
        self.client.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "tars", "version": 1, "text": text } }),
        );
        let published = self
            .client
            .notification("textDocument/publishDiagnostics", |p| p["uri"] == uri);
        (uri, published["diagnostics"].clone())
    }

    fn close(&mut self, uri: &str) {
        self.client.notify(
            "textDocument/didClose",
            json!({ "textDocument": { "uri": uri } }),
        );
        self.client
            .notification("textDocument/publishDiagnostics", |p| p["uri"] == uri);
    }
}

#[test]
fn every_quick_fix_keeps_the_template_sound() {
    let tcconf = tcconf();
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session {
        client: Client::start(),
        dir: tempfile::tempdir().unwrap(),
        n: 0,
    };
    session.client.request(
        "initialize",
        json!({ "processId": null, "rootUri": null, "capabilities": {} }),
    );
    session.client.notify("initialized", json!({}));

    let mut n_actions = 0;
    let mut failures = Vec::new();
    let mut titles: HashMap<String, Vec<String>> = HashMap::new();
    for (name, text) in inputs() {
        let (uri, before) = session.diagnostics(&text);
        let accepted = tcconf
            .as_deref()
            .map(|t| upstream_accepts(t, dir.path(), &text));
        let n_lines = u32::try_from(text.lines().count()).unwrap() + 1;
        let actions = session.client.request(
            "textDocument/codeAction",
            json!({
                "textDocument": { "uri": uri },
                "range": { "start": { "line": 0, "character": 0 },
                           "end": { "line": n_lines, "character": 0 } },
                "context": { "diagnostics": before }
            }),
        );
        session.close(&uri);
        let before_counts = findings(&before);
        for action in actions.as_array().unwrap() {
            n_actions += 1;
            let title = action["title"].as_str().unwrap().to_owned();
            titles.entry(name.clone()).or_default().push(title.clone());
            let edits = action["edit"]["changes"][uri.as_str()].as_array().unwrap();
            let fixed = apply(&text, edits);
            let (fixed_uri, after) = session.diagnostics(&fixed);
            session.close(&fixed_uri);
            let mut after_counts = findings(&after);
            let target = &action["diagnostics"][0];
            let target = (
                target["code"].as_str().unwrap().to_owned(),
                target["message"].as_str().unwrap().to_owned(),
            );
            let mut problems = Vec::new();
            if after_counts.get(&target).copied().unwrap_or(0)
                >= before_counts.get(&target).copied().unwrap_or(0)
            {
                problems.push(format!("does not remove {target:?}"));
            }
            if title.starts_with("Suppress ") {
                // The inserted comment has no reason yet: exactly what it asks the user to add.
                let without_reason = after_counts
                    .iter_mut()
                    .find(|(key, n)| {
                        key.0 == "TARS-L001" && **n > before_counts.get(*key).copied().unwrap_or(0)
                    })
                    .map(|(_, n)| n);
                if let Some(n) = without_reason {
                    *n -= 1;
                }
            }
            for (key, n) in &after_counts {
                let had = before_counts.get(key).copied().unwrap_or(0);
                if *n > had {
                    problems.push(format!("adds {key:?}"));
                }
            }
            if accepted == Some(true) {
                let still = upstream_accepts(tcconf.as_deref().unwrap(), dir.path(), &fixed);
                if !still {
                    problems.push("upstream refuses the result".to_owned());
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{name}: `{title}`: {}\n--- before\n{text}--- after\n{fixed}",
                    problems.join("; ")
                ));
            }
        }
    }
    eprintln!("{n_actions} actions checked");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The run did offer fixes: the fixtures trigger every fixable rule.
    assert!(n_actions >= 90, "only {n_actions} actions offered");

    // The known-bad cases get the fixes that keep them sound.
    let offered = |name: &str| titles.get(name).cloned().unwrap_or_default();
    assert!(
        offered("comment-after-open-tag")
            .contains(&"Move `<!-- main server -->` to a comment line below".to_owned()),
        "{:?}",
        offered("comment-after-open-tag")
    );
    assert!(
        offered("xml-comment-over-lines")
            .contains(&"Turn the XML comment into a `#` comment".to_owned()),
        "{:?}",
        offered("xml-comment-over-lines")
    );
    assert!(
        offered("several-tags-closed-later")
            .contains(&"Move `<application>` to its own line".to_owned()),
        "{:?}",
        offered("several-tags-closed-later")
    );
    assert!(
        offered("trailing-after-root")
            .contains(&"Move `trailing` to a comment line below".to_owned()),
        "{:?}",
        offered("trailing-after-root")
    );
    assert!(
        offered("misspelt-macro").contains(&"Write `${logpath}`".to_owned()),
        "{:?}",
        offered("misspelt-macro")
    );

    assert_eq!(session.client.request("shutdown", Value::Null), Value::Null);
    session.client.notify("exit", Value::Null);
}

/// `several-tags-on-line/bad.conf` has no `</application>`: moving `<application>` to its own
/// line would open a domain that is never closed, so that fix is not offered; the ones that
/// keep upstream's reading are.
#[test]
fn a_fix_that_would_break_the_template_is_not_offered() {
    let text = "<tars><application>\n  a=1\n</tars>\n";
    let mut client = Client::start();
    client.request(
        "initialize",
        json!({ "processId": null, "rootUri": null, "capabilities": {} }),
    );
    client.notify("initialized", json!({}));
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("file://{}/t.conf", dir.path().display());
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tars", "version": 1, "text": text } }),
    );
    client.notification("textDocument/publishDiagnostics", |p| p["uri"] == uri);
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri },
            "range": { "start": { "line": 0, "character": 8 }, "end": { "line": 0, "character": 8 } },
            "context": { "diagnostics": [] }
        }),
    );
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Move `<application>` to a comment line below",
            "Remove `<application>`, which upstream ignores",
            "Suppress TARS-S102 on this line (then say why)",
        ]
    );
    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
}
