//! `tarsdock lsp` spoken to over stdio, as an editor would: initialize, didOpen (diagnostics
//! published, `tarsdock.toml` applied), hover, codeAction, didChange (diagnostics updated),
//! shutdown and exit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

mod support;

use serde_json::{Value, json};

use support::lsp_client::Client;

fn codes(diagnostics: &Value) -> Vec<String> {
    diagnostics
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_editor_session() {
    let dir = tempfile::tempdir().unwrap();
    // The project's config turns `duplicate-domain` off: the server must apply it.
    std::fs::write(
        dir.path().join("tarsdock.toml"),
        "[lint]\nignore = [\"duplicate-domain\"]\n",
    )
    .unwrap();
    let path = dir.path().join("app.conf");
    let uri = format!("file://{}", path.display());
    let text = "<tars>\n  <server>\n    threads=4 # per core\n    timeout=100\n    timeout=200\n  </server>\n  <server>\n  </server>\n</tars>\n";

    let mut client = Client::start();
    let init = client.request(
        "initialize",
        json!({ "processId": null, "rootUri": null, "capabilities": {} }),
    );
    let capabilities = &init["capabilities"];
    assert_eq!(
        capabilities["textDocumentSync"]["change"], 2,
        "incremental sync"
    );
    assert_eq!(capabilities["hoverProvider"], true);
    assert!(capabilities["codeActionProvider"].is_object());
    client.notify("initialized", json!({}));

    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tars", "version": 1, "text": text } }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| p["uri"] == uri);
    assert_eq!(published["version"], 1);
    assert_eq!(codes(&published["diagnostics"]), ["TARS-S103", "TARS-S104"]);
    let note = &published["diagnostics"][0];
    assert_eq!(note["source"], "tarsdock");
    assert_eq!(note["severity"], 2);
    assert_eq!(
        note["range"],
        json!({ "start": { "line": 2, "character": 14 }, "end": { "line": 2, "character": 24 } })
    );
    let duplicate = &published["diagnostics"][1];
    assert_eq!(
        duplicate["relatedInformation"][0]["message"],
        "help: remove one of the two lines"
    );
    assert_eq!(
        duplicate["relatedInformation"][1]["location"]["range"]["start"],
        json!({ "line": 3, "character": 4 })
    );

    // Hover on the first `timeout`: its value, its domain, and that a later line wins.
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 3, "character": 6 } }),
    );
    let shown = hover["contents"]["value"].as_str().unwrap();
    assert!(
        shown.contains("`timeout`") && shown.contains("/tars/server"),
        "{shown}"
    );
    assert!(
        shown.contains("`200`") && shown.contains("line 5"),
        "{shown}"
    );
    // Hover on a tag: the domain, merged from two blocks.
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 6, "character": 4 } }),
    );
    let shown = hover["contents"]["value"].as_str().unwrap();
    assert!(
        shown.contains("/tars/server") && shown.contains("2, 7"),
        "{shown}"
    );

    // Quick fixes on the note: move it above (preferred), or suppress it.
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri },
            "range": { "start": { "line": 2, "character": 16 }, "end": { "line": 2, "character": 16 } },
            "context": { "diagnostics": [] }
        }),
    );
    let actions = actions.as_array().unwrap();
    let titles: Vec<&str> = actions
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Move `# per core` to a comment line above",
            "Suppress TARS-S103 on this line (then say why)"
        ]
    );
    let fix = &actions[0];
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["isPreferred"], true);
    assert_eq!(fix["diagnostics"][0]["code"], "TARS-S103");
    let edits = fix["edit"]["changes"][uri.as_str()].as_array().unwrap();
    assert_eq!(
        edits[0],
        json!({ "range": { "start": { "line": 2, "character": 0 }, "end": { "line": 2, "character": 0 } },
                "newText": "    # per core\n" })
    );
    assert_eq!(
        edits[1],
        json!({ "range": { "start": { "line": 2, "character": 13 }, "end": { "line": 2, "character": 24 } },
                "newText": "" })
    );

    // The editor applies the fix as two incremental changes (last edit first).
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [
                { "range": edits[1]["range"], "text": "" },
                { "range": edits[0]["range"], "text": "    # per core\n" }
            ]
        }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri && p["version"] == 2
    });
    assert_eq!(codes(&published["diagnostics"]), ["TARS-S104"]);
    assert_eq!(
        published["diagnostics"][0]["range"]["start"],
        json!({ "line": 5, "character": 4 }),
        "the duplicate moved one line down"
    );

    // Removing the overridden line fixes the rest.
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri },
            "range": { "start": { "line": 5, "character": 4 }, "end": { "line": 5, "character": 4 } },
            "context": { "diagnostics": [] }
        }),
    );
    let remove = &actions[0];
    assert_eq!(remove["title"], "Remove the overridden line `timeout=100`");
    let edit = &remove["edit"]["changes"][uri.as_str()][0];
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 3 },
            "contentChanges": [{ "range": edit["range"], "text": edit["newText"] }]
        }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri && p["version"] == 3
    });
    assert_eq!(published["diagnostics"], json!([]));

    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
    drop(client.stdin);
    let status = client.child.wait().unwrap();
    assert!(status.success(), "exit after shutdown: {status}");
}

const INDEX: &str = "[templates.\"tars.default\"]\nfile = \"tars.default.conf\"\nparent = \"tars.default\"\n\n[templates.\"tars.child\"]\nfile = \"child.conf\"\nparent = \"tars.default\"\n\n[templates.\"tars.orphan\"]\nfile = \"orphan.conf\"\nparent = \"tars.nope\"\n";
const PARENT: &str =
    "<tars>\n  <application>\n    threads=4\n    timeout=100\n  </application>\n</tars>\n";
const CHILD: &str =
    "<tars>\n  <application>\n    threads=8\n    timeout=\n  </application>\n</tars>\n";
const ORPHAN: &str = "<tars>\n  <application>\n    threads=2\n  </application>\n</tars>\n";

fn uri_of(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({ "start": { "line": l1, "character": c1 }, "end": { "line": l2, "character": c2 } })
}

fn hover_text(client: &mut Client, uri: &str, line: u32, character: u32) -> String {
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } }),
    );
    hover["contents"]["value"].as_str().unwrap().to_owned()
}

/// The part of a hover after the separator: what the chain says.
fn chain_part(shown: &str) -> &str {
    shown
        .split_once("\n\n---\n\n")
        .map_or("", |(_, chain)| chain)
}

fn open(client: &mut Client, uri: &str, text: &str) {
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tars", "version": 1, "text": text } }),
    );
}

#[test]
fn a_session_with_a_template_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(
        root.join("tarsdock.toml"),
        "[lint]\nindex = \"templates.toml\"\n",
    )
    .unwrap();
    std::fs::write(root.join("templates.toml"), INDEX).unwrap();
    std::fs::write(root.join("tars.default.conf"), PARENT).unwrap();
    std::fs::write(root.join("child.conf"), CHILD).unwrap();
    std::fs::write(root.join("orphan.conf"), ORPHAN).unwrap();
    let index_uri = uri_of(&root.join("templates.toml"));
    let parent_uri = uri_of(&root.join("tars.default.conf"));
    let child_uri = uri_of(&root.join("child.conf"));
    let orphan_uri = uri_of(&root.join("orphan.conf"));

    let mut client = Client::start();
    client.request(
        "initialize",
        json!({ "processId": null, "rootUri": null, "capabilities": {} }),
    );
    client.notify("initialized", json!({}));

    // The child empties a key its parent (on disk, not open) sets: TARS-C004 at its line,
    // the inherited value as related information in the parent's file.
    open(&mut client, &child_uri, CHILD);
    let published =
        client.notification("textDocument/publishDiagnostics", |p| p["uri"] == child_uri);
    assert_eq!(codes(&published["diagnostics"]), ["TARS-C004"]);
    let empty = &published["diagnostics"][0];
    assert_eq!(empty["range"], range(3, 4, 3, 12));
    assert_eq!(empty["severity"], 2);
    assert_eq!(empty["message"], "`timeout` is emptied here; it was `100`");
    assert_eq!(
        empty["relatedInformation"],
        json!([{ "location": { "uri": child_uri, "range": range(3, 4, 3, 12) },
                 "message": "help: TC_Config cannot delete inherited keys; set the value you want explicitly" },
               { "location": { "uri": parent_uri, "range": range(3, 4, 3, 15) },
                 "message": "inherited value" }])
    );

    // Hover on a key the child overrides: the parent template, its line and value.
    let shown = hover_text(&mut client, &child_uri, 2, 5);
    assert!(
        shown.starts_with("**`threads`** in `/tars/application`"),
        "{shown}"
    );
    assert_eq!(
        chain_part(&shown),
        "chain (templates.toml): `tars.default` → `tars.child`\n\n\
         wins: `tars.child` line 3: `8` (child.conf)\n\n\
         inherited: overrides `tars.default` line 3: `4` (tars.default.conf)"
    );
    // On a tag: which members set keys in the domain.
    let shown = hover_text(&mut client, &child_uri, 1, 4);
    assert_eq!(
        chain_part(&shown),
        "chain (templates.toml): `tars.default` → `tars.child`\n\n\
         keys from: `tars.default`, `tars.child`"
    );

    // Opening the parent: its own chain has nothing to say; hover names the child that
    // overrides the key.
    open(&mut client, &parent_uri, PARENT);
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == parent_uri
    });
    assert_eq!(published["diagnostics"], json!([]));
    // The child's findings did not change: they are not sent again.
    let shown = hover_text(&mut client, &parent_uri, 2, 5);
    assert_eq!(
        chain_part(&shown),
        "chain (templates.toml): `tars.default`\n\n\
         wins: `tars.default` line 3: `4` (tars.default.conf)\n\n\
         inherited: no parent template sets it\n\n\
         overridden in `tars.child` line 3: `8` (child.conf)"
    );

    // An unsaved edit of the parent (threads=16, timeout emptied) reaches the child: the
    // empty override is gone and hover shows the new value.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": parent_uri, "version": 2 },
            "contentChanges": [
                { "range": range(3, 12, 3, 15), "text": "" },
                { "range": range(2, 12, 2, 13), "text": "16" }
            ]
        }),
    );
    // The parent's own findings stay none: not sent again. The child's change.
    let published =
        client.notification("textDocument/publishDiagnostics", |p| p["uri"] == child_uri);
    assert_eq!(published["version"], 1);
    assert_eq!(published["diagnostics"], json!([]));
    let shown = hover_text(&mut client, &child_uri, 2, 5);
    assert!(
        chain_part(&shown)
            .ends_with("inherited: overrides `tars.default` line 3: `16` (tars.default.conf)"),
        "{shown}"
    );
    // Giving the value back brings the finding back.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": parent_uri, "version": 3 },
            "contentChanges": [{ "range": range(3, 12, 3, 12), "text": "7" }]
        }),
    );
    let published =
        client.notification("textDocument/publishDiagnostics", |p| p["uri"] == child_uri);
    assert_eq!(codes(&published["diagnostics"]), ["TARS-C004"]);
    assert!(
        published["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("`timeout` is emptied here; it was `7`"),
        "{published}"
    );

    // A missing parent is reported at the index entry: shown at the start of the child, with
    // the place in the message and as related information.
    open(&mut client, &orphan_uri, ORPHAN);
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == orphan_uri
    });
    assert_eq!(codes(&published["diagnostics"]), ["TARS-C002"]);
    let missing = &published["diagnostics"][0];
    assert_eq!(missing["range"], range(0, 0, 0, 0));
    assert_eq!(missing["severity"], 1);
    assert_eq!(
        missing["message"],
        "parent template `tars.nope` of `tars.orphan` does not exist (templates.toml line 11)"
    );
    assert_eq!(
        missing["relatedInformation"],
        json!([{ "location": { "uri": orphan_uri, "range": range(0, 0, 0, 0) },
                 "message": "help: upstream resolves `tars.orphan` without any parent settings; add `tars.nope` or fix the name" },
               { "location": { "uri": index_uri, "range": range(10, 9, 10, 20) },
                 "message": "named here" }])
    );

    // The index breaks on disk: one warning, and linting goes on without chain context.
    std::fs::write(root.join("templates.toml"), "[templates\n").unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": index_uri, "type": 2 }] }),
    );
    let warning = client.notification("window/showMessage", |_| true);
    assert_eq!(warning["type"], 2);
    let text = warning["message"].as_str().unwrap();
    assert!(
        text.contains("templates.toml is not a valid template index")
            && text.ends_with("linting without chain context"),
        "{text}"
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == orphan_uri
    });
    assert_eq!(published["diagnostics"], json!([]));
    let shown = hover_text(&mut client, &child_uri, 2, 5);
    assert_eq!(chain_part(&shown), "", "no chain part: {shown}");
    // Fixing it brings the chain back, without a second warning before.
    std::fs::write(root.join("templates.toml"), INDEX).unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": index_uri, "type": 2 }] }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == orphan_uri
    });
    assert_eq!(codes(&published["diagnostics"]), ["TARS-C002"]);
    assert!(
        !client
            .pending
            .iter()
            .any(|m| m["method"] == "window/showMessage"),
        "one warning only"
    );

    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
    drop(client.stdin);
    assert!(client.child.wait().unwrap().success());
}

#[test]
fn initialization_options_name_the_index_when_no_config_does() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("templates.toml"), INDEX).unwrap();
    std::fs::write(root.join("tars.default.conf"), PARENT).unwrap();
    std::fs::write(root.join("child.conf"), CHILD).unwrap();
    let child_uri = uri_of(&root.join("child.conf"));

    let mut client = Client::start();
    client.request(
        "initialize",
        json!({ "processId": null, "rootUri": null, "capabilities": {},
                "initializationOptions": { "index": root.join("templates.toml") } }),
    );
    client.notify("initialized", json!({}));
    // `orphan.conf` does not exist yet: the set cannot be built, which is said once.
    open(&mut client, &child_uri, CHILD);
    let warning = client.notification("window/showMessage", |_| true);
    let text = warning["message"].as_str().unwrap();
    assert!(
        text.starts_with("tarsdock: cannot read template `tars.orphan` from ")
            && text.ends_with("; linting without chain context"),
        "{text}"
    );
    let published =
        client.notification("textDocument/publishDiagnostics", |p| p["uri"] == child_uri);
    assert_eq!(published["diagnostics"], json!([]));

    // The member appears on disk (a watched-file event): the chain is read again.
    let orphan = root.join("orphan.conf");
    std::fs::write(&orphan, ORPHAN).unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri_of(&orphan), "type": 1 }] }),
    );
    let published =
        client.notification("textDocument/publishDiagnostics", |p| p["uri"] == child_uri);
    assert_eq!(codes(&published["diagnostics"]), ["TARS-C004"]);
    assert_eq!(published["diagnostics"][0]["range"], range(3, 4, 3, 12));

    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
    drop(client.stdin);
    assert!(client.child.wait().unwrap().success());
}

/// A client that lets servers register file watchers is asked to watch the config, indexes and
/// templates; a watched change of `tarsdock.toml` on disk then re-lints with the new settings.
#[test]
fn the_server_registers_file_watchers_and_reloads_on_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let config = root.join("tarsdock.toml");
    std::fs::write(&config, "[lint]\nignore = [\"duplicate-key\"]\n").unwrap();
    let path = root.join("app.conf");
    let uri = uri_of(&path);
    let text = "<tars>\n  timeout=100\n  timeout=200\n</tars>\n";
    std::fs::write(&path, text).unwrap();

    let mut client = Client::start();
    client.request(
        "initialize",
        json!({ "processId": null, "rootUri": null,
                "capabilities": { "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } } }),
    );
    client.notify("initialized", json!({}));
    // The server's request, answered as a client does.
    let request = loop {
        let message = client.receive("client/registerCapability");
        if message["method"] == "client/registerCapability" {
            break message;
        }
        client.pending.push(message);
    };
    let registration = &request["params"]["registrations"][0];
    assert_eq!(registration["method"], "workspace/didChangeWatchedFiles");
    assert_eq!(
        registration["registerOptions"]["watchers"],
        json!([
            { "globPattern": "**/tarsdock.toml" },
            { "globPattern": "**/*.toml" },
            { "globPattern": "**/*.conf" }
        ])
    );
    client.send(&json!({ "jsonrpc": "2.0", "id": request["id"], "result": null }));

    open(&mut client, &uri, text);
    let published = client.notification("textDocument/publishDiagnostics", |p| p["uri"] == uri);
    assert_eq!(
        published["diagnostics"],
        json!([]),
        "duplicate-key is ignored"
    );

    // The config changes on disk; the client reports it through the registered watcher.
    std::fs::write(&config, "[lint]\n").unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": uri_of(&config), "type": 2 }] }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri && !p["diagnostics"].as_array().unwrap().is_empty()
    });
    assert_eq!(codes(&published["diagnostics"]), ["TARS-S104"]);

    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
    drop(client.stdin);
    assert!(client.child.wait().unwrap().success());
}

fn start(capabilities: Value, options: Value) -> Client {
    let mut client = Client::start();
    let init = client.request(
        "initialize",
        json!({ "processId": null, "rootUri": null, "capabilities": capabilities,
                "initializationOptions": options }),
    );
    let capabilities = &init["capabilities"];
    assert_eq!(capabilities["documentFormattingProvider"], true);
    assert_eq!(capabilities["documentSymbolProvider"], true);
    assert_eq!(
        capabilities["completionProvider"]["triggerCharacters"],
        json!(["$", "{"])
    );
    client.notify("initialized", json!({}));
    client
}

fn stop(mut client: Client) {
    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
    drop(client.stdin);
    assert!(client.child.wait().unwrap().success());
}

/// `tarsdock.toml` is checked as a config file, not linted as a template (before, every line
/// got `root-level-param`); another TOML file (an index) gets no template findings at all.
#[test]
fn toml_files_are_config_files_not_templates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let config = uri_of(&root.join("tarsdock.toml"));
    let index = uri_of(&root.join("templates.toml"));
    let template = uri_of(&root.join("t.conf"));
    let mut client = start(json!({}), Value::Null);

    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": index, "languageId": "toml", "version": 1, "text": INDEX } }),
    );
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": config, "languageId": "toml", "version": 1,
                                  "text": "[lint]\nselct = [\"TARS-S\"]\n" } }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| p["uri"] == config);
    let diagnostics = published["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{published}");
    assert_eq!(diagnostics[0]["code"], "config");
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap()
            .contains("selct"),
        "{published}"
    );
    assert_eq!(diagnostics[0]["range"], range(1, 0, 1, 5));
    // An unknown code is found too (at the file: the selector has no span of its own).
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": config, "version": 2 },
                "contentChanges": [{ "text": "[lint]\nignore = [\"TARS-Q9\"]\n" }] }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == config && p["version"] == 2
    });
    assert!(
        published["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("TARS-Q9"),
        "{published}"
    );
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": config, "version": 3 },
                "contentChanges": [{ "range": range(1, 0, 1, 21), "text": "ignore = [\"TARS-S103\"]" }] }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == config && p["version"] == 3
    });
    assert_eq!(published["diagnostics"], json!([]));
    // A template opened after them is published; the index never was.
    open(&mut client, &template, "<t>\n  a=1\n</t>\n");
    client.notification("textDocument/publishDiagnostics", |p| p["uri"] == template);
    assert!(
        !client
            .pending
            .iter()
            .any(|m| m["params"]["uri"] == index.as_str()),
        "nothing published for the index"
    );
    stop(client);
}

/// Formatting (the `fmt` engine), the outline (domain tree), completion of macros,
/// hover wording, code actions for the cursor at column 0 of a flagged line, and publishing
/// only what changed.
#[test]
fn formatting_symbols_completion_and_actions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let uri = uri_of(&root.join("t.conf"));
    let text = "<tars>\n<application>\nlog=${logpth}/x # note\n</application>\n</tars>\n";
    let mut client = start(json!({}), Value::Null);
    open(&mut client, &uri, text);
    let published = client.notification("textDocument/publishDiagnostics", |p| p["uri"] == uri);
    assert_eq!(codes(&published["diagnostics"]), ["TARS-M001", "TARS-S103"]);

    // Formatting: two spaces per level, comments and order kept.
    let edits = client.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    assert_eq!(
        edits,
        json!([{ "range": range(0, 0, 5, 0),
                 "newText": "<tars>\n  <application>\n    log=${logpth}/x # note\n  </application>\n</tars>\n" }])
    );

    // The outline: tars > application > log.
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri } }),
    );
    assert_eq!(symbols[0]["name"], "tars");
    assert_eq!(symbols[0]["range"], range(0, 0, 4, 7));
    let application = &symbols[0]["children"][0];
    assert_eq!(application["name"], "application");
    assert_eq!(application["selectionRange"], range(1, 1, 1, 12));
    assert_eq!(application["children"][0]["name"], "log");
    assert_eq!(application["children"][0]["detail"], "${logpth}/x # note");

    // Completion in `${logpth}`: every macro, replacing the name typed so far; the `}` is
    // there already.
    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 2, "character": 12 } }),
    );
    let items = items.as_array().unwrap();
    let logpath = items.iter().find(|i| i["label"] == "logpath").unwrap();
    assert_eq!(
        logpath["textEdit"],
        json!({ "range": range(2, 6, 2, 12), "newText": "logpath" })
    );
    assert_eq!(items.len(), 20, "every tarsnode macro");

    // Hover on a tag counts in words.
    let shown = hover_text(&mut client, &uri, 1, 3);
    assert!(
        shown.contains("1 parameter, 0 sub-domains; opened on line 2"),
        "{shown}"
    );

    // The cursor at column 0 of the flagged line: the editor names the line's diagnostics.
    let actions = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri },
            "range": range(2, 0, 2, 0),
            "context": { "diagnostics": published["diagnostics"] }
        }),
    );
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Write `${logpath}`"), "{titles:?}");
    assert!(
        titles.contains(&"Move `# note` to a comment line above"),
        "{titles:?}"
    );

    // An edit that changes no finding publishes nothing; the next one that does is sent.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 },
                "contentChanges": [{ "range": range(0, 6, 0, 6), "text": "\n" }] }),
    );
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 3 },
                "contentChanges": [{ "range": range(3, 15, 3, 22), "text": "" }] }),
    );
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == uri && p["version"] == 3
    });
    assert_eq!(codes(&published["diagnostics"]), ["TARS-M001"]);
    assert!(
        !client.pending.iter().any(|m| m["params"]["version"] == 2),
        "version 2 changed nothing"
    );
    stop(client);
}

/// With an index: keys the parents set complete in a child; a parent upstream drops for its
/// syntax error shows that error once, not again as `dropped-chain-member` on the same range.
#[test]
fn chain_keys_complete_and_a_broken_parent_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let index = "[templates.\"tars.default\"]\nfile = \"tars.default.conf\"\nparent = \"tars.default\"\n\n[templates.\"tars.child\"]\nfile = \"child.conf\"\nparent = \"tars.default\"\n";
    std::fs::write(root.join("templates.toml"), index).unwrap();
    std::fs::write(root.join("tars.default.conf"), PARENT).unwrap();
    std::fs::write(root.join("child.conf"), CHILD).unwrap();
    let parent_uri = uri_of(&root.join("tars.default.conf"));
    let child_uri = uri_of(&root.join("child.conf"));
    let mut client = start(json!({}), json!({ "index": root.join("templates.toml") }));
    let child = "<tars>\n  <application>\n    \n  </application>\n</tars>\n";
    open(&mut client, &child_uri, child);
    client.notification("textDocument/publishDiagnostics", |p| p["uri"] == child_uri);
    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": child_uri }, "position": { "line": 2, "character": 4 } }),
    );
    let labels: Vec<(&str, &str)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["label"].as_str().unwrap(), i["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        labels,
        [
            ("threads", "tars.default: `4`"),
            ("timeout", "tars.default: `100`")
        ]
    );

    let broken = "<tars>\n  <application\n  </application>\n</tars>\n";
    open(&mut client, &parent_uri, broken);
    let published = client.notification("textDocument/publishDiagnostics", |p| {
        p["uri"] == parent_uri
    });
    let found = codes(&published["diagnostics"]);
    assert!(found.contains(&"TARS-S001".to_owned()), "{found:?}");
    let ranges: Vec<&Value> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["range"])
        .collect();
    let mut unique = ranges.clone();
    unique.dedup();
    assert_eq!(ranges, unique, "two findings on one range: {published}");
    stop(client);
}
