//! `tarsdock plan` through the real binary: every `fixtures/plan/*.conf` is planned and its
//! human output and JSON document are snapshotted next to the input.
//!
//! A plan fixture starts with a `#` line saying what it covers, then `# args: ...` with the
//! flags to plan it with (TC_Config comments, so the file stays a valid config). The harness
//! checks what every plan promises: exit 1 exactly when a finding is an error, and then no
//! create body; otherwise a create body with the plan's labels, and the same document twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on bad fixtures.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn tarsdock(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsdock"));
    command
        .args(args)
        .current_dir(testkit::workspace_root())
        .env_remove("TARS_HOSTPATH");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("run tarsdock");
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

/// The flags on the fixture's `# args:` line.
fn fixture_args(text: &str, rel: &str) -> Vec<String> {
    let mut lines = text.lines();
    assert!(
        lines.next().is_some_and(|l| l.starts_with('#')),
        "{rel}: a fixture starts with a `#` line saying what it covers"
    );
    let args = lines
        .next()
        .and_then(|l| l.strip_prefix("# args:"))
        .unwrap_or_else(|| panic!("{rel}: second line must be `# args: ...`"));
    args.split_whitespace().map(str::to_owned).collect()
}

fn check_plan_fixture(path: &Path) {
    let rel = relative(path);
    let text = std::fs::read_to_string(path).unwrap();
    let args = fixture_args(&text, &rel);
    let mut human_args: Vec<&str> = vec!["plan", &rel];
    human_args.extend(args.iter().map(String::as_str));
    let mut json_args = human_args.clone();
    human_args.extend(["--format", "human", "--color", "never"]);
    json_args.extend(["--format", "json"]);

    let (code, human, _) = tarsdock(&human_args, &[]);
    let (json_code, json, stderr) = tarsdock(&json_args, &[]);
    assert_eq!(code, json_code, "{rel}: exit code differs between formats");
    assert!(code == 0 || code == 1, "{rel}: exit {code}: {stderr}");
    let (_, again, _) = tarsdock(&json_args, &[]);
    assert_eq!(json, again, "{rel}: plan is not deterministic");

    let doc: Value = serde_json::from_str(&json).expect("plan JSON");
    let has_error = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["severity"] == "error");
    assert_eq!(code, i32::from(has_error), "{rel}: exit code vs errors");
    if has_error {
        assert!(doc["create_body"].is_null(), "{rel}: body despite errors");
        assert!(doc["docker_run"].is_null(), "{rel}: argv despite errors");
    } else {
        let labels = &doc["create_body"]["Labels"];
        assert_eq!(labels["tarsdock.managed-by"], "tarsdock", "{rel}");
        assert!(
            labels["tarsdock.plan-hash"]
                .as_str()
                .is_some_and(|h| h.starts_with("sha256:") && h.len() == 71),
            "{rel}: plan hash label"
        );
        assert_eq!(doc["create_body"]["HostConfig"]["AutoRemove"], false);
        assert_eq!(doc["docker_run"][0], "docker", "{rel}");
        assert_eq!(
            doc["name"], doc["docker_run"][4],
            "{rel}: --name matches the plan's name"
        );
    }

    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
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

#[test]
fn plan_fixtures() {
    insta::glob!("../../fixtures", "plan/*.conf", check_plan_fixture);
}

/// `TARS_HOSTPATH` from the environment rewrites the default mount sources like the flag.
#[test]
fn tars_hostpath_is_read_from_the_environment() {
    let file = "fixtures/plan/linux-host-network.conf";
    let base = ["plan", file, "--image", "img", "--format", "json"];
    let (_, from_env, _) = tarsdock(&base, &[("TARS_HOSTPATH", "/data/tars")]);
    let mut with_flag = base.to_vec();
    with_flag.extend(["--host-path", "/data/tars"]);
    let (_, from_flag, _) = tarsdock(&with_flag, &[]);
    assert_eq!(from_env, from_flag);
    let doc: Value = serde_json::from_str(&from_env).unwrap();
    let sources: Vec<&str> = doc["create_body"]["HostConfig"]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Source"].as_str().unwrap())
        .collect();
    assert!(sources.contains(&"/data/tars/tarsnode-data/Test.HelloServer"));
    assert!(sources.contains(&"/data/tars/app_log"));
    // An empty variable means unset, as in upstream.
    let (_, empty, _) = tarsdock(&base, &[("TARS_HOSTPATH", "")]);
    let (_, unset, _) = tarsdock(&base, &[]);
    assert_eq!(empty, unset);
}

/// `--format docker-run` prints the shell line alone; findings go to stderr.
#[test]
fn docker_run_format() {
    let (code, out, err) = tarsdock(
        &[
            "plan",
            "fixtures/plan/linux-host-network.conf",
            "--image",
            "img",
            "--format",
            "docker-run",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1);
    assert!(out.starts_with("docker run --detach --name Test.HelloServer "));
    assert!(out.contains(" --network host --ipc host "));
    assert!(out.trim_end().ends_with(" img"));
    assert!(err.contains("TARS-T201"), "{err}");

    let (code, out, err) = tarsdock(
        &[
            "plan",
            "fixtures/plan/errors.conf",
            "--image",
            "img",
            "--format",
            "docker-run",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(out.is_empty(), "no docker run line for a failed plan");
    assert!(err.contains("error[TARS-P001]"), "{err}");
}

/// Usage errors exit 2.
#[test]
fn usage_errors() {
    let (code, _, _) = tarsdock(&["plan", "fixtures/plan/options.conf"], &[]);
    assert_eq!(code, 2, "--image is required");
    let (code, _, err) = tarsdock(
        &[
            "plan",
            "fixtures/plan/options.conf",
            "--image",
            "i",
            "--restart",
            "sometimes",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = tarsdock(&["plan", "fixtures/plan/absent.conf", "--image", "i"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("absent.conf"), "{err}");
}

/// `--node-inputs`: the profile is rendered first; the published ports are tarsnode's.
#[test]
fn node_inputs_render_then_plan() {
    let Some(dir) = testkit::upstream_fixtures("node_inputs_render_then_plan") else {
        return;
    };
    let dir = dir.join("golden/node-config-example");
    let profile = dir.join("registry-merged-profile.conf");
    let inputs = dir.join("inputs.json");
    let (code, out, err) = tarsdock(
        &[
            "plan",
            profile.to_str().unwrap(),
            "--node-inputs",
            inputs.to_str().unwrap(),
            "--image",
            "img",
            "--target",
            "mac",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["name"], "Test.HelloServer");
    let bindings = &doc["create_body"]["HostConfig"]["PortBindings"];
    assert_eq!(bindings["10001/tcp"][0]["HostIp"], "192.168.1.10");
    assert_eq!(bindings["30001/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(bindings["80/tcp"][0]["HostIp"], "192.168.0.1");
    // Findings about template lines point into the rendered config.
    assert!(
        doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["file"].as_str().unwrap().ends_with("(rendered)")),
        "{out}"
    );

    let (code, _, err) = tarsdock(
        &[
            "plan",
            profile.to_str().unwrap(),
            "--node-inputs",
            "fixtures/plan/absent.json",
            "--image",
            "img",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("absent.json"), "{err}");
}
