//! `tarsdock lint` as CI and editors drive it: standard input with `--stdin-filename` (and the
//! config lookup from that name's directory), `tarsdock.toml` (select, ignore, severity,
//! fail-level), `--select`/`--extend-select`/`--ignore`/`--config`/`--no-config`, exit codes,
//! and `explain`/`rules` for the lint codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const TEMPLATE: &str = "# note and duplicate\n<tars>\n  a=1 # note\n  b=1\n  b=2\n</tars>\n";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// `(code, severity)` of every finding in the JSON output.
    fn findings(&self) -> Vec<(String, String)> {
        let doc: Value = serde_json::from_str(&self.stdout).expect("JSON output");
        doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap().to_owned(),
                    d["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn codes(&self) -> Vec<String> {
        self.findings().into_iter().map(|(c, _)| c).collect()
    }
}

fn tarsdock(dir: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tarsdock");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn stdin_uses_the_config_of_the_stdin_filename_directory() {
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("project");
    write(
        &project.join("tarsdock.toml"),
        "[lint]\nignore = [\"hash-in-value\"]\n",
    );
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    // From another directory, naming a file of the project: the project's config applies.
    let name = project.join("conf/app.conf");
    let name = name.to_str().unwrap();
    let run = tarsdock(
        &elsewhere,
        &["lint", "--format", "json", "--stdin-filename", name, "-"],
        Some(TEMPLATE),
    );
    assert_eq!(run.codes(), ["TARS-S104"], "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["diagnostics"][0]["file"], name);

    // The same buffer under a name outside the project: no config, both findings.
    let run = tarsdock(
        &elsewhere,
        &[
            "lint",
            "--format",
            "json",
            "--stdin-filename",
            "x/app.conf",
            "-",
        ],
        Some(TEMPLATE),
    );
    assert_eq!(run.codes(), ["TARS-S103", "TARS-S104"]);

    // Without a name, the lookup starts in the working directory.
    let run = tarsdock(&project, &["lint", "--format", "json", "-"], Some(TEMPLATE));
    assert_eq!(run.codes(), ["TARS-S104"]);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["diagnostics"][0]["file"], "<stdin>");
}

#[test]
fn config_severity_overrides_and_fail_level_decide_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("t.conf"), TEMPLATE);
    let run = tarsdock(dir.path(), &["lint", "--format", "json", "t.conf"], None);
    assert_eq!(run.code, 0, "warnings only: {}", run.stderr);

    write(
        &dir.path().join("tarsdock.toml"),
        "[lint]\n[lint.severity]\nTARS-S103 = \"error\"\nduplicate-key = \"info\"\n",
    );
    let run = tarsdock(dir.path(), &["lint", "--format", "json", "t.conf"], None);
    assert_eq!(
        run.findings(),
        [
            ("TARS-S103".to_owned(), "error".to_owned()),
            ("TARS-S104".to_owned(), "info".to_owned())
        ]
    );
    assert_eq!(run.code, 1);

    write(
        &dir.path().join("tarsdock.toml"),
        "[lint]\nfail-level = \"info\"\nignore = [\"TARS-S103\"]\n",
    );
    let run = tarsdock(dir.path(), &["lint", "--format", "json", "t.conf"], None);
    assert_eq!(run.codes(), ["TARS-S104"]);
    assert_eq!(run.code, 1, "fail-level info from the config");
    let run = tarsdock(
        dir.path(),
        &[
            "lint",
            "--format",
            "json",
            "--fail-level",
            "error",
            "t.conf",
        ],
        None,
    );
    assert_eq!(run.code, 0, "the flag wins over the config");

    // `--no-config` ignores the file; `--config` names another one.
    let run = tarsdock(
        dir.path(),
        &["lint", "--format", "json", "--no-config", "t.conf"],
        None,
    );
    assert_eq!(run.codes(), ["TARS-S103", "TARS-S104"]);
    write(
        &dir.path().join("other.toml"),
        "[lint]\nselect = [\"duplicate-key\"]\n",
    );
    let run = tarsdock(
        dir.path(),
        &[
            "lint",
            "--format",
            "json",
            "--config",
            "other.toml",
            "t.conf",
        ],
        None,
    );
    assert_eq!(run.codes(), ["TARS-S104"]);
}

#[test]
fn select_and_ignore_flags_take_codes_prefixes_and_rule_names() {
    let dir = tempfile::tempdir().unwrap();
    let text = "# mixed\n<tars>\n  a=1 # note\n  a=2\n  x=&amp;\n</tars>\n";
    write(&dir.path().join("t.conf"), text);
    let lint = |extra: &[&str]| {
        let mut args = vec!["lint", "--format", "json"];
        args.extend_from_slice(extra);
        args.push("t.conf");
        tarsdock(dir.path(), &args, None)
    };
    assert_eq!(lint(&[]).codes(), ["TARS-S103", "TARS-S104"]);
    assert_eq!(
        lint(&["--extend-select", "TARS-G"]).codes(),
        ["TARS-S103", "TARS-S104", "TARS-G006"]
    );
    assert_eq!(
        lint(&["--select", "TARS-G006,hash-in-value"]).codes(),
        ["TARS-S103", "TARS-G006"]
    );
    assert_eq!(lint(&["--ignore", "TARS-S1"]).codes(), Vec::<String>::new());
    assert_eq!(
        lint(&["--ignore", "TARS-S1", "--select", "duplicate-key"]).codes(),
        ["TARS-S104"],
        "a rule name is more specific than a prefix"
    );

    let run = lint(&["--ignore", "TARS-Q"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`TARS-Q` is not a code"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing on stdout on a usage error");
    let run = lint(&["--ignore", "unterminated-tag"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("always reported"), "{}", run.stderr);
}

#[test]
fn a_bad_config_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("t.conf"), TEMPLATE);
    write(
        &dir.path().join("tarsdock.toml"),
        "[lint]\nfail-levle = \"info\"\n",
    );
    let run = tarsdock(dir.path(), &["lint", "t.conf"], None);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tarsdock.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("fail-levle"), "{}", run.stderr);
}

#[test]
fn explain_and_rules_cover_the_lint_and_portability_codes() {
    let dir = tempfile::tempdir().unwrap();
    for code in ["TARS-L001", "unused-suppression", "TARS-G001"] {
        let run = tarsdock(dir.path(), &["explain", code], None);
        assert_eq!(run.code, 0, "{code}: {}", run.stderr);
        assert!(run.stdout.contains("## Why is this bad?"), "{code}");
        assert_eq!(
            run.stdout.contains("Off by default"),
            code == "TARS-G001",
            "{code}: only the portability family is opt-in"
        );
    }
    let run = tarsdock(dir.path(), &["rules", "--json"], None);
    let rows: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    for code in [
        "TARS-L001",
        "TARS-L002",
        "TARS-L003",
        "TARS-G001",
        "TARS-G006",
    ] {
        assert!(rows.iter().any(|r| r["code"] == code), "{code} listed");
    }
}

const PARENT: &str =
    "<tars>\n  <application>\n    threads=4\n    timeout=100\n  </application>\n</tars>\n";
const CHILD: &str = "<tars>\n  <application>\n    timeout=\n  </application>\n</tars>\n";
const INDEX: &str = "[templates.\"tars.default\"]\nfile = \"tars.default.conf\"\nparent = \"tars.default\"\n\n[templates.\"tars.child\"]\nfile = \"child.conf\"\nparent = \"tars.default\"\n";

/// `(code, file, line)` of every finding in the JSON output.
fn placed(run: &Run) -> Vec<(String, String, u64)> {
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_owned(),
                d["file"].as_str().unwrap().to_owned(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_config_index_adds_chain_findings_and_flags_win_over_it() {
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("project");
    write(
        &project.join("tarsdock.toml"),
        "[lint]\nindex = \"tpl/templates.toml\"\n",
    );
    write(&project.join("tpl/templates.toml"), INDEX);
    write(&project.join("tpl/tars.default.conf"), PARENT);
    write(&project.join("tpl/child.conf"), CHILD);
    write(&project.join("tpl/other.conf"), CHILD);
    let child = project.join("tpl/child.conf");
    let child = child.to_str().unwrap();
    let other = project.join("tpl/other.conf");
    let other = other.to_str().unwrap();

    // From another directory: the index is relative to the config file, not the cwd. The
    // member gets the empty override; a file the index does not list is linted alone.
    let run = tarsdock(
        root.path(),
        &["lint", "--format", "json", child, other],
        None,
    );
    assert_eq!(
        placed(&run),
        [("TARS-C004".to_owned(), child.to_owned(), 3)],
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 0, "a warning: {}", run.stderr);

    // `--index` on the command line replaces the config's index.
    write(
        &project.join("tpl/broken-chain.toml"),
        "[templates.\"tars.child\"]\nfile = \"child.conf\"\nparent = \"tars.defualt\"\n",
    );
    let index = project.join("tpl/broken-chain.toml");
    let run = tarsdock(
        root.path(),
        &[
            "lint",
            "--format",
            "json",
            "--index",
            index.to_str().unwrap(),
            child,
        ],
        None,
    );
    assert_eq!(
        placed(&run),
        [(
            "TARS-C002".to_owned(),
            index.to_str().unwrap().to_owned(),
            3
        )],
        "{}",
        run.stderr
    );
    assert_eq!(run.code, 1);

    // So does `--parent`, and `--no-config` drops the chain with the rest of the config.
    let parent = project.join("tpl/tars.default.conf");
    let run = tarsdock(
        root.path(),
        &[
            "lint",
            "--format",
            "json",
            "--parent",
            parent.to_str().unwrap(),
            child,
        ],
        None,
    );
    assert_eq!(run.codes(), ["TARS-C004"], "{}", run.stderr);
    let run = tarsdock(
        root.path(),
        &["lint", "--format", "json", "--no-config", child],
        None,
    );
    assert_eq!(run.codes(), Vec::<String>::new(), "{}", run.stderr);
}

#[test]
fn a_bad_index_in_the_config_is_a_usage_error_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("t.conf"), TEMPLATE);
    write(
        &dir.path().join("tarsdock.toml"),
        "[lint]\nindex = \"missing/templates.toml\"\n",
    );
    let run = tarsdock(dir.path(), &["lint", "t.conf"], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("missing/templates.toml") && run.stderr.contains("tarsdock.toml"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing on stdout on a usage error");

    write(&dir.path().join("missing/templates.toml"), "[templates\n");
    let run = tarsdock(dir.path(), &["lint", "t.conf"], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not a valid template index"),
        "{}",
        run.stderr
    );
}

/// The one-line summary counts the templates linted: not the index and parents read for
/// their chains, and standard input once however often `-` is given.
#[test]
fn the_summary_counts_the_linted_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(&dir.join("templates.toml"), INDEX);
    write(&dir.join("tars.default.conf"), PARENT);
    write(&dir.join("child.conf"), CHILD);
    let run = tarsdock(
        dir,
        &["lint", "--index", "templates.toml", "child.conf"],
        None,
    );
    assert!(run.stderr.ends_with(" in 1 file\n"), "{}", run.stderr);
    let run = tarsdock(dir, &["lint", "-", "-"], Some(TEMPLATE));
    assert!(run.stderr.ends_with(" in 1 file\n"), "{}", run.stderr);
    let run = tarsdock(
        dir,
        &["lint", "child.conf", "./child.conf", "child.conf"],
        None,
    );
    assert!(run.stderr.ends_with(" in 2 files\n"), "{}", run.stderr);
}

/// A path that cannot be read is reported; the others are linted and reported in full; the
/// exit code is 2 (an I/O error outranks findings).
#[test]
fn an_unreadable_path_is_reported_and_the_rest_linted() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(&dir.join("a.conf"), TEMPLATE);
    write(&dir.join("c.conf"), TEMPLATE);
    let run = tarsdock(
        dir,
        &[
            "lint",
            "--format",
            "json",
            "a.conf",
            "missing.conf",
            "c.conf",
        ],
        None,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let files: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["a.conf", "a.conf", "c.conf", "c.conf"]);
    assert!(
        run.stderr
            .contains("cannot read missing.conf: No such file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("in 2 files"), "{}", run.stderr);
    // `--exit-zero` does not hide it either.
    let run = tarsdock(
        dir,
        &["lint", "--exit-zero", "a.conf", "missing.conf"],
        None,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// A directory is walked for `*.conf` files, in name order, skipping what `.gitignore`
/// ignores (also outside a git repository) and hidden files.
#[test]
fn directories_are_walked_respecting_gitignore() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(&dir.join("tpl/b.conf"), TEMPLATE);
    write(&dir.join("tpl/sub/a.conf"), TEMPLATE);
    write(&dir.join("tpl/notes.txt"), "<x>\n");
    write(&dir.join("tpl/build/gen.conf"), "<x>\n");
    write(&dir.join("tpl/.hidden/h.conf"), "<x>\n");
    write(&dir.join("tpl/.gitignore"), "build/\n");
    let run = tarsdock(dir, &["lint", "--format", "json", "tpl"], None);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut files: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    files.dedup();
    assert_eq!(files, ["tpl/b.conf", "tpl/sub/a.conf"], "{}", run.stderr);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// `--fix` applies the preferred fixes, writes the file and reports what is left; `--diff`
/// shows the same change and writes nothing; on standard input the fixed text goes to stdout.
#[test]
fn fix_and_diff() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    // A note, a duplicate, a misspelt macro (all fixable) and a root-level key (not).
    let text = "stray=1\n<tars>\n  a=1 # note\n  b=1\n  b=2\n  log=${logpth}/x\n</tars>\n";
    write(&dir.join("t.conf"), text);
    let run = tarsdock(dir, &["lint", "--diff", "t.conf"], None);
    assert_eq!(run.code, 1, "a diff: {}", run.stderr);
    assert_eq!(
        run.stdout,
        "--- t.conf\n+++ t.conf\n@@ -1,7 +1,7 @@\n stray=1\n <tars>\n-  a=1 # note\n-  b=1\n+  # note\n+  a=1\n   b=2\n-  log=${logpth}/x\n+  log=${logpath}/x\n </tars>\n"
    );
    assert!(
        run.stderr.contains("3 fixes would be applied to 1 file"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(dir.join("t.conf")).unwrap(), text);

    let run = tarsdock(dir, &["lint", "--fix", "--format", "json", "t.conf"], None);
    assert_eq!(run.codes(), ["TARS-S108"], "what is left: {}", run.stderr);
    assert!(run.stderr.contains("(3 fixed)"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("t.conf")).unwrap(),
        "stray=1\n<tars>\n  # note\n  a=1\n  b=2\n  log=${logpath}/x\n</tars>\n"
    );
    // Nothing left to fix: the diff is empty and exits 0.
    let run = tarsdock(dir, &["lint", "--diff", "t.conf"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);

    let run = tarsdock(
        dir,
        &["lint", "--fix", "--format", "concise", "-"],
        Some("<t>\n  a=1 # note\n</t>\n"),
    );
    assert_eq!(run.stdout, "<t>\n  # note\n  a=1\n</t>\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A fix that would add a finding is not applied: moving `<application>` to its own line
/// would leave it unclosed here, so `--fix` comments it out instead (upstream ignores it).
#[test]
fn fix_never_adds_a_finding() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(
        &dir.join("t.conf"),
        "<tars><application>\n  a=1\n</tars> # end\n",
    );
    let run = tarsdock(dir, &["lint", "--fix", "--format", "json", "t.conf"], None);
    assert_eq!(run.codes(), Vec::<String>::new(), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("t.conf")).unwrap(),
        "<tars>\n  # <application>\n  a=1\n</tars>\n# end\n"
    );
}

#[test]
fn statistics_exit_zero_output_file_and_quiet() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(&dir.join("a.conf"), TEMPLATE);
    write(&dir.join("b.conf"), "<t>\n  x=1 # y\n</t>\n<u>\n");
    let run = tarsdock(dir, &["lint", "--statistics", "a.conf", "b.conf"], None);
    assert_eq!(
        run.stdout,
        "2  TARS-S103  warning  hash-in-value\n1  TARS-S003  error    unclosed-domain\n1  TARS-S104  warning  duplicate-key\n"
    );
    assert_eq!(run.code, 1);
    let run = tarsdock(
        dir,
        &["lint", "--statistics", "--format", "json", "a.conf"],
        None,
    );
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        rows[0],
        serde_json::json!({"code": "TARS-S103", "rule": "hash-in-value", "severity": "warning", "count": 1})
    );

    let run = tarsdock(dir, &["lint", "--exit-zero", "b.conf"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let run = tarsdock(
        dir,
        &[
            "lint",
            "-q",
            "--format",
            "json",
            "-o",
            "report.json",
            "b.conf",
        ],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (1, "", "")
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["diagnostics"].as_array().unwrap().len(), 2);
}

/// `CLICOLOR_FORCE` colours human output in a pipe (CI logs render ANSI); `NO_COLOR` wins.
#[test]
fn clicolor_force_colours_a_pipe() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    write(&dir.join("a.conf"), TEMPLATE);
    let run_with = |vars: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
            .args(["lint", "a.conf"])
            .current_dir(dir)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(!run_with(&[]).contains('\x1b'));
    assert!(run_with(&[("CLICOLOR_FORCE", "1")]).contains('\x1b'));
    assert!(!run_with(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
}

/// Completion scripts and man pages come from the CLI definition: every flag of `lint` is in
/// them, and the bash script is valid bash.
#[test]
fn completions_and_man_pages_cover_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let help = tarsdock(dir.path(), &["lint", "--help"], None).stdout;
    let flags: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    for flag in [
        "--fix",
        "--diff",
        "--statistics",
        "--exit-zero",
        "--output-file",
        "--quiet",
    ] {
        assert!(flags.contains(&flag), "{flag} in lint --help");
    }
    for shell in ["bash", "zsh", "fish"] {
        let run = tarsdock(dir.path(), &["completions", shell], None);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for flag in &flags {
            assert!(
                run.stdout.contains(flag.trim_start_matches('-')),
                "{shell}: {flag}"
            );
        }
    }
    let script = dir.path().join("tarsdock.bash");
    std::fs::write(
        &script,
        tarsdock(dir.path(), &["completions", "bash"], None).stdout,
    )
    .unwrap();
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(checked.success(), "bash -n accepts the script");

    let page = tarsdock(dir.path(), &["man"], None).stdout;
    assert!(page.contains(".TH tarsdock 1"), "{page}");
    for command in ["lint", "lsp", "completions", "man", "launch"] {
        assert!(
            page.contains(&format!("tarsdock\\-{command}(1)")),
            "{command}"
        );
    }
    let page = tarsdock(dir.path(), &["man", "lint"], None).stdout;
    assert!(page.contains(".TH tarsdock-lint 1"), "{page}");
    for flag in &flags {
        assert!(page.contains(&flag.replace('-', "\\-")), "man lint: {flag}");
    }
    let run = tarsdock(dir.path(), &["man", "nope"], None);
    assert_eq!(run.code, 2);
}

/// A close tag far from the tag it fails to close is headed at the close tag, where the error
/// is; the open tag is still shown, as related.
#[test]
fn a_far_mismatched_close_tag_is_headed_at_the_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let mut text = "<tars>\n  <server>\n".to_owned();
    for i in 0..30 {
        text.push_str(&format!("    k{i}=v\n"));
    }
    text.push_str("  </sever>\n</tars>\n");
    write(&dir.join("far.conf"), &text);
    let run = tarsdock(dir, &["lint", "--color", "never", "far.conf"], None);
    let headers: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once("--> ").map(|(_, rest)| rest))
        .collect();
    // One report, headed at the close tag; the open tag far above is a label in its snippet.
    assert_eq!(headers, ["far.conf:33:3"], "{}", run.stdout);
    assert!(
        run.stdout.contains("the innermost open domain"),
        "{}",
        run.stdout
    );
}
