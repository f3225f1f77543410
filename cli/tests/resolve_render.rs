//! `tarsdock resolve` and `tarsdock render` through the real binary: upstream goldens byte
//! for byte, the index form, JSON output, and every bad input with its message and exit code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::Path;
use std::process::{Command, Output};

fn tarsdock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .args(args)
        .output()
        .expect("run tarsdock")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn resolve_chain_matches_upstream_golden() {
    let Some(up) = testkit::upstream_fixtures("resolve_chain_matches_upstream_golden") else {
        return;
    };
    let t = |n: &str| s(&up.join("templates").join(format!("{n}.conf")));
    let out = tarsdock(&[
        "resolve",
        &t("tars.springboot"),
        "--parent",
        &t("tars.tarsjava.default"),
        "--parent",
        &t("tars.default"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        testkit::read(&up.join("golden/resolved/tars.springboot.conf"))
    );
}

#[test]
fn resolve_with_index_and_profile_then_render_matches_upstream() {
    let Some(up) = testkit::upstream_fixtures("resolve_with_index_and_profile") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("templates.toml");
    let templates = up.join("templates");
    std::fs::write(
        &index,
        format!(
            "[templates.\"tars.default\"]\nfile = {:?}\nparent = \"tars.default\"\n\n\
             [templates.\"tars.cpp.default\"]\nfile = {:?}\nparent = \"tars.default\"\n",
            s(&templates.join("tars.default.conf")),
            s(&templates.join("tars.cpp.default.conf")),
        ),
    )
    .unwrap();
    let example = up.join("golden/node-config-example");
    let profile = s(&example.join("input-private-profile.conf"));
    let out = tarsdock(&[
        "resolve",
        "--index",
        &s(&index),
        "tars.cpp.default",
        "--profile",
        &profile,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        testkit::read(&example.join("registry-merged-profile.conf"))
    );

    // The merged profile rendered with the node inputs is tarsnode's generated config.
    let merged = dir.path().join("merged.conf");
    std::fs::write(&merged, &out.stdout).unwrap();
    let inputs = s(&example.join("inputs.json"));
    let out = tarsdock(&[
        "render",
        &s(&merged),
        "--node-inputs",
        &inputs,
        "--endpoints",
        "tarsnode",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        testkit::read(&example.join("node-generated-config.conf"))
    );

    // By default (the Linux host network) no adapter listens wider than configured, and the
    // admin servant stays on loopback; everything else is tarsnode's output.
    let out = tarsdock(&["render", &s(&merged), "--node-inputs", &inputs]);
    assert_eq!(out.status.code(), Some(0));
    let golden = String::from_utf8(testkit::read(&example.join("node-generated-config.conf")))
        .unwrap()
        .replace(
            "endpoint=tcp -h 0.0.0.0 -p 1000",
            "endpoint=tcp -h 192.168.1.10 -p 1000",
        )
        .replace(
            "local=tcp -h 0.0.0.0 -p 30001",
            "local=tcp -h 127.0.0.1 -p 30001",
        );
    assert_eq!(String::from_utf8_lossy(&out.stdout), golden);

    // JSON: members in precedence order and provenance of the profile's key.
    let out = tarsdock(&[
        "resolve",
        "--index",
        &s(&index),
        "tars.cpp.default",
        "--profile",
        &profile,
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        members,
        ["tars.default", "tars.cpp.default", profile.as_str()]
    );
    let log_level = doc["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "logLevel")
        .unwrap();
    assert_eq!(log_level["value"], "INFO");
    assert_eq!(log_level["defined"]["file"], profile.as_str());
    assert_eq!(log_level["overridden"].as_array().unwrap().len(), 1);
}

#[test]
fn resolve_explain_names_files_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("parent.conf");
    let child = dir.path().join("child.conf");
    std::fs::write(&parent, "<tars>\n  a=1\n  b=2\n</tars>\n").unwrap();
    std::fs::write(&child, "# child\n<tars>\n  b=3\n</tars>\n").unwrap();
    let out = tarsdock(&["resolve", &s(&child), "--parent", &s(&parent), "--explain"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "/tars<b> = 3\n    from {}:3\n    overrides {}:3 (2)",
            s(&child),
            s(&parent)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("/tars<a> = 1\n    from {}:2", s(&parent))),
        "{text}"
    );
}

#[test]
fn resolve_reports_missing_parent_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("templates.toml");
    std::fs::write(dir.path().join("a.conf"), "<tars>\n  a=1\n</tars>\n").unwrap();
    std::fs::write(
        &index,
        "[templates.a]\nfile = \"a.conf\"\nparent = \"nope\"\n",
    )
    .unwrap();
    let out = tarsdock(&["resolve", "--index", &s(&index), "a"]);
    assert_eq!(out.status.code(), Some(1));
    // Upstream's result: the child alone.
    assert_eq!(out.stdout, b"<tars>\n  a=1\n</tars>\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TARS-C002") && err.contains("`nope`"), "{err}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.conf");
    std::fs::write(
        &profile,
        "<tars>\n  <application>\n    app=${app}\n  </application>\n</tars>\n",
    )
    .unwrap();
    let inputs = dir.path().join("inputs.json");
    let run = |json: &str| {
        std::fs::write(&inputs, json).unwrap();
        let out = tarsdock(&["render", &s(&profile), "--node-inputs", &s(&inputs)]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.stdout,
        )
    };

    let (code, err, out) = run("{not json");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("node inputs are not valid") && err.contains("line 1"),
        "{err}"
    );
    assert!(out.is_empty());

    let (code, err, _) = run(r#"{"adapters": []}"#);
    assert_eq!(code, Some(2));
    assert!(err.contains("missing field `node_key`"), "{err}");

    let (code, err, _) = run(r#"{"node_key": "n", "macros": {"app": "<b>"}}"#);
    assert_eq!(code, Some(2));
    assert!(err.contains("macro `app`"), "{err}");

    let (code, err, _) =
        run(r#"{"node_key": "n", "adapters": [{"name": "A.B.CAdapter", "endpoint": "tcp -p 1"}]}"#);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("A.B.CAdapter") && err.contains("no host"),
        "{err}"
    );

    let (code, err, out) = run(r#"{"node_key": "n", "macros": {"app": "Demo"}}"#);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "<tars>\n  <application>\n    app=Demo\n    <server>\n      node=n\n    </server>\n  </application>\n</tars>\n"
    );

    // A profile upstream refuses: exit 1 with the finding, nothing on stdout.
    std::fs::write(&profile, "<tars>\n  a=1\n").unwrap();
    let (code, err, out) = run(r#"{"node_key": "n"}"#);
    assert_eq!(code, Some(1));
    assert!(err.contains("TARS-S003"), "{err}");
    assert!(out.is_empty());

    // A missing file is an I/O error.
    let out = tarsdock(&["render", "/nonexistent.conf", "--node-inputs", &s(&inputs)]);
    assert_eq!(out.status.code(), Some(2));
}
