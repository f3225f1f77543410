//! Binary preflight on the real engine, through `tarsdock launch --request`: a dynamically
//! linked executable on the busybox image is refused before anything is created, naming the
//! missing loader and libraries and the image (exit 15, `TARS-B001`/`TARS-B002`; the message
//! is snapshotted); the same executable on an image holding this host's glibc passes, as does
//! a static one on busybox. No container of the service and no preflight container is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use testkit::docker::{Cleanup, base_image, docker, engine_available, glibc_image, unique_name};

struct Service {
    dir: tempfile::TempDir,
    name: String,
    cleanup: Cleanup,
}

impl Service {
    /// A service directory holding `bin/app`, a copy of `binary`.
    fn new(test: &str, binary: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tarsdock-preflight-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::copy(binary, dir.path().join("bin/app")).unwrap();
        Self {
            dir,
            name: unique_name(test),
            cleanup: Cleanup::new(),
        }
    }

    fn executable(&self) -> String {
        self.dir.path().join("bin/app").display().to_string()
    }

    /// `tarsdock launch --request` for `image`, the service directory mounted on itself.
    fn launch(&self, image: &str, json_output: bool) -> Output {
        let root = self.dir.path().display().to_string();
        let (label, run) = self.cleanup.label();
        let request = json!({
            "name": self.name, "app": "T", "server": "S", "node": "n", "image": image,
            "plan_hash": "sha256:preflight-test",
            "executable": self.executable(),
            "body": {
                "Entrypoint": ["/bin/sleep", "60"],
                "Labels": { label: run },
                "HostConfig": {
                    "NetworkMode": "host",
                    "Mounts": [{"Type": "bind", "Source": root, "Target": root}]
                }
            }
        });
        let path = self.dir.path().join("request.json");
        std::fs::write(&path, request.to_string()).unwrap();
        let mut args = vec![
            "launch".to_owned(),
            "--request".to_owned(),
            path.display().to_string(),
            "--no-pull".to_owned(),
            "--lock-dir".to_owned(),
            self.dir.path().join("locks").display().to_string(),
        ];
        if json_output {
            args.push("--json".to_owned());
        }
        Command::new(env!("CARGO_BIN_EXE_tarsdock"))
            .args(&args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", testkit::docker::socket_path().display()),
            )
            .output()
            .expect("run tarsdock")
    }

    /// Containers of this service, and preflight containers made for it.
    fn leftovers(&self) -> String {
        let service = docker(&["ps", "-aq", "--filter", &format!("name=^{}$", self.name)]);
        let preflight = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=tarsdock.preflight={}", self.name),
        ]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&service.stdout).trim(),
            String::from_utf8_lossy(&preflight.stdout).trim()
        )
    }
}

/// A dynamically linked glibc program: this test binary.
fn dynamic_binary() -> PathBuf {
    std::env::current_exe().unwrap()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn a_dynamic_binary_on_busybox_is_refused_before_start() {
    if !engine_available("a_dynamic_binary_on_busybox_is_refused_before_start") {
        return;
    }
    let service = Service::new("preflight-refused", &dynamic_binary());
    let image = base_image();

    let out = service.launch(&image, true);
    assert_eq!(
        out.status.code(),
        Some(15),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = json_of(&out);
    assert_eq!(error["error"]["kind"], "incompatible");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("[TARS-B001]"), "{message}");
    assert!(message.contains("/lib64/ld-linux-x86-64.so.2"), "{message}");
    assert!(
        message.contains("[TARS-B002]") && message.contains("libc.so.6"),
        "{message}"
    );
    assert!(message.contains(&image), "{message}");
    assert_eq!(
        service.leftovers(),
        "",
        "refused before anything was created"
    );

    // The human rendering, with the run's names and paths filtered out.
    let out = service.launch(&image, false);
    assert_eq!(out.status.code(), Some(15));
    let stderr = String::from_utf8_lossy(&out.stderr)
        .replace(&service.name, "[NAME]")
        .replace(&service.executable(), "[EXE]")
        .replace(&image, "[IMAGE]")
        .replace(&service.dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!("dynamic_binary_on_busybox", stderr);
}

#[test]
fn binaries_that_can_run_on_the_image_pass() {
    if !engine_available("binaries_that_can_run_on_the_image_pass") {
        return;
    }
    // The same dynamic binary on an image that holds this host's glibc (the loader behind a
    // symbolic link, as Debian lays it out).
    let service = Service::new("preflight-glibc", &dynamic_binary());
    let out = service.launch(&glibc_image(), true);
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["preflight"]["kind"], "dynamic", "{report}");
    assert_eq!(report["preflight"]["findings"], json!([]));
    let libraries = report["preflight"]["libraries"].as_array().unwrap();
    assert!(
        libraries
            .iter()
            .any(|l| l["name"] == "libc.so.6" && l["path"] == "/lib/x86_64-linux-gnu/libc.so.6"),
        "{report}"
    );

    // A static binary on busybox.
    let service = Service::new("preflight-static", &testkit::docker::hello_service_binary());
    let out = service.launch(&base_image(), true);
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["preflight"]["kind"], "static", "{report}");
    assert_eq!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=tarsdock.preflight={}", service.name)
        ])
        .stdout,
        b""
    );
}
