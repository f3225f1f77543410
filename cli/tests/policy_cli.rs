//! The mount and container policy and the password-file rules through the real binary
//! (issue 12 items 4, 5, 10): `launch CONFIG` with a `<volumes>` host path that is a link to
//! `/etc` is refused at plan time and nothing is created; `launch --request` asking for the
//! host's processes is refused with its own exit code unless `--allow` names it; `image pull
//! --password-file` refuses a file that a group or everyone may read.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output};

use testkit::docker::{base_image, docker, engine_available, unique_name};

fn tarsdock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .env(
            "DOCKER_HOST",
            format!("unix://{}", testkit::docker::socket_path().display()),
        )
        .env_remove("TARSDOCK_REGISTRY_PASSWORD")
        .args(args)
        .output()
        .expect("run tarsdock")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes the container by name when the test ends, whatever happened.
struct Remove(String);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

fn exists(name: &str) -> bool {
    docker(&["inspect", "--type", "container", name])
        .status
        .success()
}

#[test]
fn launch_config_with_a_volume_linked_to_etc_creates_nothing() {
    if !engine_available("launch_config_with_a_volume_linked_to_etc_creates_nothing") {
        return;
    }
    let name = unique_name("policylink");
    let _remove = Remove(name.clone());
    let (app, server) = name.split_once('.').unwrap();
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().canonicalize().unwrap();
    let server_dir = root.join("tarsnode/data").join(&name);
    for dir in ["bin", "conf", "data"] {
        std::fs::create_dir_all(server_dir.join(dir)).unwrap();
    }
    std::fs::create_dir_all(root.join("app_log")).unwrap();
    // A service that would run (the base image has a shell), so nothing but the policy stops it.
    let start = server_dir.join("bin/tars_start.sh");
    std::fs::write(&start, "#!/bin/sh\nexec sleep 3600\n").unwrap();
    std::fs::set_permissions(&start, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A `<volumes>` line whose host path looks harmless and is a link to /etc.
    let link = root.join("data");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    let config = root.join("service.conf");
    std::fs::write(
        &config,
        format!(
            "<tars>\n<application>\n<server>\napp={app}\nserver={server}\n\
             basepath={dir}/bin/\ndatapath={dir}/data/\nlogpath={root}/app_log/\n</server>\n\
             <container>\n<volumes>\n{link}=/data\n</volumes>\n</container>\n\
             </application>\n</tars>\n",
            dir = server_dir.display(),
            root = root.display(),
            link = link.display(),
        ),
    )
    .unwrap();
    let locks = tempfile::tempdir().unwrap();
    let out = tarsdock(&[
        "launch",
        config.to_str().unwrap(),
        "--image",
        &base_image(),
        "--target",
        "linux",
        "--no-pull",
        "--lock-dir",
        locks.path().to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("TARS-X001") && err.contains("which resolves to `/etc`"),
        "{err}"
    );
    assert!(err.contains("nothing was launched"), "{err}");
    assert!(!exists(&name), "a container was created");
}

fn pid_host_request(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let (app, server) = name.split_once('.').unwrap();
    let request = serde_json::json!({
        "name": name,
        "app": app,
        "server": server,
        "node": "test-node",
        "image": base_image(),
        "body": {
            "Image": base_image(),
            "Entrypoint": ["/bin/sleep", "3600"],
            "HostConfig": {"PidMode": "host", "NetworkMode": "host", "Init": true}
        }
    });
    let path = dir.join("request.json");
    std::fs::write(&path, request.to_string()).unwrap();
    path
}

#[test]
fn launch_request_sharing_the_host_pid_namespace_is_refused_unless_allowed() {
    if !engine_available("launch_request_sharing_the_host_pid_namespace") {
        return;
    }
    let name = unique_name("policypid");
    let _remove = Remove(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let request = pid_host_request(dir.path(), &name);
    let locks = dir.path().join("locks");
    std::fs::create_dir(&locks).unwrap();
    let base = [
        "launch",
        "--request",
        request.to_str().unwrap(),
        "--no-pull",
        "--lock-dir",
        locks.to_str().unwrap(),
        "--json",
    ];
    let out = tarsdock(&base);
    assert_eq!(out.status.code(), Some(13), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "policy-refused");
    assert_eq!(doc["error"]["exit_code"], 13);
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("HostConfig.PidMode = host") && message.contains("--allow pid"),
        "{message}"
    );
    assert_eq!(doc["error"]["origin"], "request field HostConfig.PidMode");
    assert!(!exists(&name), "a container was created");

    let mut allowed = base.to_vec();
    allowed.extend(["--allow", "pid"]);
    let out = tarsdock(&allowed);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(exists(&name));
}

#[test]
fn image_pull_refuses_a_password_file_others_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, "hunter2\n").unwrap();
    // No engine is needed: the password is read before connecting.
    for mode in [0o644, 0o640] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = tarsdock(&[
            "image",
            "pull",
            "127.0.0.1:1/none:latest",
            "--username",
            "u",
            "--password-file",
            file.to_str().unwrap(),
            "--docker-socket",
            "/nonexistent.sock",
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{mode:o}: {err}");
        assert!(
            err.contains(&format!("has mode {mode:04o}")) && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
    // A link to a private file is refused too: the file itself must be named.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let out = tarsdock(&[
        "image",
        "pull",
        "127.0.0.1:1/none:latest",
        "--username",
        "u",
        "--password-file",
        link.to_str().unwrap(),
        "--docker-socket",
        "/nonexistent.sock",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("symbolic link"));
    // The private file itself gets past the password check (and then finds no engine).
    let out = tarsdock(&[
        "image",
        "pull",
        "127.0.0.1:1/none:latest",
        "--username",
        "u",
        "--password-file",
        file.to_str().unwrap(),
        "--docker-socket",
        "/nonexistent.sock",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}
