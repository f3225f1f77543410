//! `tarsdock launch CONFIG --image IMAGE`: planned from the service config, then launched on
//! the real engine; a plan with errors launches nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::process::{Command, Output};
use std::time::Duration;

use testkit::docker::{
    ServiceDir, converse, docker, engine_available, free_port, hello_image, unique_name,
};

fn tarsdock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .env(
            "DOCKER_HOST",
            format!("unix://{}", testkit::docker::socket_path().display()),
        )
        .args(args)
        .output()
        .expect("run tarsdock")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Removes the container by name when the test ends, whatever happened.
struct Remove(String);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn a_plan_with_errors_launches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.conf");
    std::fs::write(
        &config,
        "<tars>\n<application>\n<server>\napp=A\nserver=B\n</server>\n<container>\n<volumes>\nrelative=/x\n</volumes>\n</container>\n</application>\n</tars>\n",
    )
    .unwrap();
    // No engine is contacted: the target is given and the plan fails first.
    let out = tarsdock(&[
        "launch",
        config.to_str().unwrap(),
        "--image",
        "none",
        "--target",
        "linux",
        "--docker-socket",
        "/nonexistent.sock",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TARS-V003") && err.contains("nothing was launched"),
        "{err}"
    );
}

#[test]
fn launch_config_plans_and_runs_idempotently() {
    if !engine_available("launch_config_plans_and_runs_idempotently") {
        return;
    }
    let name = unique_name("launchcfg");
    let _remove = Remove(name.clone());
    let port = free_port();
    let service = ServiceDir::new(&name, "127.0.0.1", port);
    let image = hello_image();
    let locks = tempfile::tempdir().unwrap();
    let server_dir = service.server_dir.display().to_string();
    let exe_path = format!("{server_dir}/bin/");
    let log_path = format!("{}/", service.log_dir.display());
    let config = service.config_path().display().to_string();
    let args = [
        "launch",
        config.as_str(),
        "--image",
        image.as_str(),
        "--target",
        "auto",
        "--no-pull",
        "--server-dir",
        server_dir.as_str(),
        "--exe-path",
        exe_path.as_str(),
        "--log-path",
        log_path.as_str(),
        "--lock-dir",
        locks.path().to_str().unwrap(),
        "--json",
    ];
    let first = tarsdock(&args);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report = json(&first);
    assert_eq!(report["action"], "created");
    let reply = converse(port, &[], Duration::from_secs(30)).unwrap();
    assert!(reply[0].contains(&name), "{reply:?}");

    // Same config again: the running container is left alone.
    let again = tarsdock(&args);
    assert_eq!(again.status.code(), Some(0));
    let report_again = json(&again);
    assert_eq!(report_again["action"], "unchanged");
    assert_eq!(report_again["id"], report["id"]);

    // The labels carry the plan hash the planner computed.
    let labels = testkit::docker::docker_ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"tarsdock.plan-hash\"}} {{.HostConfig.NetworkMode}} {{.HostConfig.IpcMode}}",
        &name,
    ]);
    assert!(labels.starts_with("sha256:"), "{labels}");
    assert!(labels.trim_end().ends_with("host host"), "{labels}");
}
