//! Issue 13 through the real binary: no input panics, stalls or blows up a command, every
//! bound is a coded refusal, and refusals speak upstream's words.
//!
//! Inputs are generated in a temporary directory. Timings are not asserted (BENCHMARKS.md
//! records them); what is asserted is the outcome: exit code, findings, messages.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The last line of stderr, as bytes.
    fn last_stderr_line(&self) -> &[u8] {
        let text = self.stderr.strip_suffix(b"\n").unwrap_or(&self.stderr);
        text.rsplit(|&b| b == b'\n').next().unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).expect("JSON output")
    }

    fn codes(&self) -> Vec<String> {
        self.json()["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn tarsdock(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run tarsdock");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// `depth` nested `<d>` domains, each with one parameter.
fn nested(depth: usize) -> Vec<u8> {
    [b"<d>\nk=v\n".repeat(depth), b"</d>\n".repeat(depth)].concat()
}

#[test]
fn an_input_over_4_mib_is_a_coded_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let big = b"<a>\nk=v\n</a>\n".repeat(5 * 1024 * 1024 / 12);
    std::fs::write(dir.path().join("big.conf"), &big).unwrap();
    let lint = tarsdock(dir.path(), &["lint", "--format", "json", "big.conf"]);
    assert_eq!(lint.code, 1, "{}", lint.stderr());
    assert_eq!(lint.codes(), ["TARS-S007"]);
    let normalize = tarsdock(dir.path(), &["normalize", "big.conf"]);
    assert_eq!(normalize.code, 1);
    assert!(normalize.stdout.is_empty());
    assert!(
        normalize
            .last_stderr_line()
            .starts_with(b"tarsdock: input larger than 4 MiB"),
        "{}",
        normalize.stderr()
    );
    let fmt = tarsdock(dir.path(), &["fmt", "big.conf"]);
    assert_eq!(fmt.code, 1, "{}", fmt.stderr());
    assert_eq!(std::fs::read(dir.path().join("big.conf")).unwrap(), big);
}

/// What `normalize` prints last for a template upstream refuses, and what upstream's `what()`
/// is (as `tcconf norm` prints it; checked against it when the oracle is present).
const REFUSED: &[(&[u8], &[u8])] = &[
    (
        b"<a>\n</a>\n</>\n</x>\n",
        b"[TC_Config::parse]:parse error! <x> hasn't matched domain.",
    ),
    (
        b"<a>\n</a>\n</>\n<\n",
        b"[TC_Config::parse]:parse error! line : <",
    ),
    (
        b"<a>\n</a>\n</>\n</a\n",
        b"[TC_Config::parse]:parse error! line : </a",
    ),
    (
        b"<a>\n<ab\0cd\n</a>\n",
        b"[TC_Config::parse]:parse error! line : <ab",
    ),
    (
        b"<a>\nk=\xc8\xd5\\\xd6\xbe\n</a>\n",
        b"[TC_ConfigDomain::parse] '\xc8\xd5\\\xd6\xbe' is invalid, '\\\xd6' couldn't be parse!",
    ),
    (
        b"<a>\nk\\\xff=1\n</a>\n",
        b"[TC_ConfigDomain::parse] 'k\\\xff' is invalid, '\\\xff' couldn't be parse!",
    ),
    (
        b"<\xc8\xd5>\n</\xd6>\n",
        b"[TC_Config::parse]:parse error! <\xc8\xd5> hasn't match <\xd6>.",
    ),
    (
        b"<a>\nk=\xc8\xd5<\n</a>\n",
        b"[TC_ConfigDomain::reverse_parse] '\xc8\xd5<' is invalid, couldn't be parse!",
    ),
    (b"<a>\n", b"[TC_Config::parse]:parse error : hasn't match"),
];

/// Issue 13: `normalize` of a refused template ends with upstream's exact message on a line
/// of its own (before: "upstream cannot serialise this template", even for parse errors).
#[test]
fn normalize_ends_with_upstreams_message() {
    let dir = tempfile::tempdir().unwrap();
    let oracle = testkit::upstream_tcconf("normalize_ends_with_upstreams_message");
    for (i, (input, expected)) in REFUSED.iter().enumerate() {
        let name = format!("t{i}.conf");
        std::fs::write(dir.path().join(&name), input).unwrap();
        let run = tarsdock(dir.path(), &["normalize", &name]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr());
        assert!(run.stdout.is_empty());
        assert_eq!(
            run.last_stderr_line(),
            *expected,
            "{name}: {}",
            run.stderr()
        );
        if let Some(tcconf) = &oracle {
            let upstream = Command::new(tcconf)
                .args(["norm", &name])
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(upstream.status.code(), Some(1), "{name}");
            assert_eq!(upstream.stdout, *expected, "{name}: upstream's own message");
        }
    }
    // A control character in upstream's message is escaped, everything else kept.
    std::fs::write(dir.path().join("esc.conf"), b"<a\x1b[2J\n").unwrap();
    let run = tarsdock(dir.path(), &["normalize", "esc.conf"]);
    assert_eq!(
        run.last_stderr_line(),
        b"[TC_Config::parse]:parse error! line : <a\\x1b[2J"
    );
    // Where upstream crashes, tarsdock's own words (and `explain` says so).
    std::fs::write(dir.path().join("crash.conf"), b"</>\n<b>\n</b>\n").unwrap();
    let run = tarsdock(dir.path(), &["normalize", "crash.conf"]);
    assert_eq!(run.code, 1);
    assert!(
        run.last_stderr_line()
            .starts_with(b"tarsdock: a line after `</>`")
    );
    let explain = tarsdock(dir.path(), &["explain", "TARS-S004"]);
    assert!(String::from_utf8_lossy(&explain.stdout).contains("Upstream crashes"));
}

/// Issue 13: miette panicked ("Formatting argument out of range") on any finding past
/// column 65,535, in every command that renders human output.
#[test]
fn findings_past_column_65535_render() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(70_000);
    std::fs::write(
        dir.path().join("warn.conf"),
        format!("<t>\na={long} # c\n</t>\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("err.conf"),
        format!("<t>\na={long}\\q\n</t>\n"),
    )
    .unwrap();
    let lint = tarsdock(dir.path(), &["lint", "--color", "never", "warn.conf"]);
    assert_eq!(lint.code, 0, "{}", lint.stderr());
    let out = String::from_utf8(lint.stdout).unwrap();
    assert!(out.contains(" --> warn.conf:2:70004\n"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 100), "windowed");
    let normalize = tarsdock(dir.path(), &["normalize", "err.conf"]);
    assert_eq!(normalize.code, 1, "{}", normalize.stderr());
    assert!(normalize.stderr().contains(" --> err.conf:2:70003\n"));
    let resolve = tarsdock(dir.path(), &["resolve", "err.conf"]);
    assert_eq!(resolve.code, 1, "{}", resolve.stderr());
    assert!(resolve.stderr().contains(" --> err.conf:2:70003\n"));
}

/// Issue 13: a template index whose chain is 10,000 deep overflowed the stack (SIGABRT) in
/// `resolve --index` and `lint --index`: the chain walk is iterative now.
#[test]
fn a_10000_deep_index_chain_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = String::new();
    for i in 0..10_000 {
        let parent = if i == 9_999 { i } else { i + 1 };
        index.push_str(&format!(
            "[templates.t{i}]\nfile = \"t{i}.conf\"\nparent = \"t{parent}\"\n"
        ));
        std::fs::write(
            dir.path().join(format!("t{i}.conf")),
            format!("<a>\n  k=v\n  level{}=1\n</a>\n", i % 3),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("index.toml"), index).unwrap();
    let resolve = tarsdock(dir.path(), &["resolve", "--index", "index.toml", "t0"]);
    assert_eq!(resolve.code, 0, "{}", resolve.stderr());
    assert_eq!(
        resolve.stdout, b"<a>\n  level2=1\n  level1=1\n  k=v\n  level0=1\n</a>\n",
        "as upstream's registry: each join moves the child's keys to the end"
    );
    let json = tarsdock(
        dir.path(),
        &["resolve", "--index", "index.toml", "t0", "--json"],
    );
    assert_eq!(json.code, 0);
    assert_eq!(json.json()["members"].as_array().unwrap().len(), 10_000);
    let lint = tarsdock(dir.path(), &["lint", "--index", "index.toml", "t0.conf"]);
    assert_eq!(lint.code, 0, "{}", lint.stderr());
}

/// Issue 13: `resolve --json`'s log has upstream registry's `(P:OK)` before the failure of
/// P's final `tostr` (upstream logs success, then `tostr` throws inside the same `try`).
#[test]
fn resolve_log_keeps_ok_before_a_failing_tostr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.conf"), "<a>\n  x<y=1\n</a>\n").unwrap();
    std::fs::write(dir.path().join("c.conf"), "<a>\n  k=v\n</a>\n").unwrap();
    let run = tarsdock(
        dir.path(),
        &["resolve", "c.conf", "--parent", "p.conf", "--json"],
    );
    let log = run.json()["log"].as_str().unwrap().to_owned();
    assert_eq!(
        log,
        "(p.conf:OK)(p.conf:[TC_ConfigDomain::reverse_parse] 'x<y' is invalid, couldn't be \
         parse!)(c.conf:OK)"
    );
    if let Some(tcconf) = testkit::upstream_tcconf("resolve_log_keeps_ok_before_a_failing_tostr") {
        let upstream = Command::new(tcconf)
            .args(["reg", "c.conf", "p.conf"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&upstream.stderr).trim_end(), log);
        assert_eq!(upstream.stdout, b"<a>\n  k=v\n</a>\n");
    }
}

/// Issue 13: `tostr` grows with the square of the depth; 1,000,000 levels drove normalize,
/// fmt and resolve past 14 GB. Every command now refuses with a code or a message (50,000
/// levels here; 1,000,000 are measured in BENCHMARKS.md "Worst shapes").
#[test]
fn deep_nesting_is_refused_not_killed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deep.conf"), nested(50_000)).unwrap();
    let lint = tarsdock(dir.path(), &["lint", "--format", "json", "deep.conf"]);
    assert_eq!(lint.code, 1, "{}", lint.stderr());
    assert_eq!(lint.codes(), ["TARS-S008"]);
    let normalize = tarsdock(dir.path(), &["normalize", "deep.conf"]);
    assert_eq!(normalize.code, 1);
    assert!(
        normalize
            .last_stderr_line()
            .starts_with(b"tarsdock: the serialised template would be larger than 64 MiB"),
        "{}",
        normalize.stderr()
    );
    let fmt = tarsdock(dir.path(), &["fmt", "deep.conf"]);
    assert_eq!(fmt.code, 1, "{}", fmt.stderr());
    let resolve = tarsdock(dir.path(), &["resolve", "deep.conf", "--json"]);
    assert_eq!(resolve.code, 1, "{}", resolve.stderr());
    assert!(resolve.codes().contains(&"TARS-C003".to_owned()));
    std::fs::write(
        dir.path().join("inputs.json"),
        r#"{"node_key": "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000"}"#,
    )
    .unwrap();
    let render = tarsdock(
        dir.path(),
        &["render", "deep.conf", "--node-inputs", "inputs.json"],
    );
    assert_eq!(render.code, 2, "{}", render.stderr());
    assert!(
        render.stderr().contains("larger than 64 MiB"),
        "{}",
        render.stderr()
    );
    // deploy resolves the chain first: the template is refused before any package or engine.
    let tars = dir.path().join("tars").display().to_string();
    let log = dir.path().join("log").display().to_string();
    let deploy = tarsdock(
        dir.path(),
        &[
            "deploy",
            "Test.Deep",
            "--package",
            "none.tgz",
            "--template",
            "deep.conf",
            "--node-inputs",
            "inputs.json",
            "--image",
            "none",
            "--server-type",
            "cpp",
            "--tars-path",
            &tars,
            "--log-path",
            &log,
        ],
    );
    assert_eq!(deploy.code, 1, "{}", deploy.stderr());
    assert!(deploy.stderr().contains("TARS-C003"), "{}", deploy.stderr());
}

/// Findings are bounded per file; the rest are counted and said to be there.
#[test]
fn findings_past_the_bound_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let text = [b"<a>\n".as_slice(), &b"k=1\n".repeat(12_001), b"</a>\n"].concat();
    std::fs::write(dir.path().join("dup.conf"), text).unwrap();
    let json = tarsdock(dir.path(), &["lint", "--format", "json", "dup.conf"]);
    assert_eq!(json.codes().len(), 10_000);
    assert!(
        json.stderr().contains("(2000 more not shown)"),
        "{}",
        json.stderr()
    );
    let human = tarsdock(dir.path(), &["lint", "--color", "never", "dup.conf"]);
    let out = String::from_utf8(human.stdout).unwrap();
    assert!(
        out.ends_with(
            "note: 2000 more findings in dup.conf not shown (tarsdock shows at most 10000 per \
             file)\n\n"
        ),
        "{}",
        &out[out.len().saturating_sub(300)..]
    );
}
