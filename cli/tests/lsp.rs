//! `tarsdock lsp` spoken to over stdio, as an editor would: initialize, didOpen (diagnostics
//! published, `tarsdock.toml` applied), hover, codeAction, didChange (diagnostics updated),
//! shutdown and exit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// How long to wait for one message before declaring the server stuck (not a timing check:
/// a healthy server answers in milliseconds).
const PATIENCE: Duration = Duration::from_secs(30);

struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications that arrived while waiting for something else.
    pending: Vec<Value>,
    next_id: i64,
}

impl Client {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tarsdock lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(value) = header.strip_prefix("Content-Length: ") {
                        length = value.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("Content-Length header")];
                reader.read_exact(&mut body).unwrap();
                let message: Value = serde_json::from_slice(&body).expect("JSON-RPC body");
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            stdin,
            messages,
            pending: Vec::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, message: &Value) {
        let body = serde_json::to_vec(message).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(&body).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.receive(method);
            if message["id"] == id && message.get("method").is_none() {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
            self.pending.push(message);
        }
    }

    /// The next notification `method` that satisfies `wanted` (earlier ones are dropped).
    fn notification(&mut self, method: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m["method"] == method && wanted(&m["params"]))
        {
            return self.pending.remove(i)["params"].clone();
        }
        loop {
            let message = self.receive(method);
            if message["method"] == method && wanted(&message["params"]) {
                return message["params"].clone();
            }
        }
    }

    fn receive(&mut self, waiting_for: &str) -> Value {
        match self.messages.recv_timeout(PATIENCE) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!("no answer while waiting for {waiting_for}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the server closed its output while waiting for {waiting_for}")
            }
        }
    }
}

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
        duplicate["relatedInformation"][0]["location"]["range"]["start"],
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
