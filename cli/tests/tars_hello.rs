//! A real Tars service on the real engine: upstream TarsCpp's QuickStartDemo `HelloServer`
//! (`../shared/third-party/tarscpp-hello`, or `TARSDOCK_TARSCPP_HELLO`), deployed with
//! `tarsdock deploy` over upstream's own `tars.default` / `tars.cpp.default` templates, called
//! with upstream's `hello_client` (a Tars call answered), asked through `tarsdock notify` and
//! `status --probe` (cross-checked with `hello_client --admin`), and stopped the way tarsnode
//! stops it: `AdminF::shutdown`, the server's own exit (255: upstream's `main` returns -1), no
//! SIGKILL. A server that stops answering is reported `unresponsive` and its stop falls back
//! to the engine.
//!
//! Skipped visibly without the engine, the upstream templates or the real server; failing
//! under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::docker::{base_image, docker, engine_available, free_port, unique_name};

/// `deactivating-timeout` of upstream's `tars.default`, in milliseconds.
const DEACTIVATING_TIMEOUT_MS: u64 = 3000;

struct Hello {
    dir: tempfile::TempDir,
    third_party: PathBuf,
    templates: PathBuf,
    app: String,
    port: u16,
    local_port: u16,
}

/// Removes the test's containers (by the plan's `tarsdock.app` label) on drop.
impl Drop for Hello {
    fn drop(&mut self) {
        let filter = format!("label=tarsdock.app={}", self.app);
        let out = docker(&["ps", "-aq", "--filter", &filter]);
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
    }
}

impl Hello {
    /// `None` (skipped) without the engine, the upstream templates or the real server.
    fn new(test: &str) -> Option<Self> {
        Self::with_local(test, "127.0.0.1")
    }

    /// A service whose `local` endpoint is written with `local_host` (tarsnode writes
    /// `0.0.0.0` in container mode).
    fn with_local(test: &str, local_host: &str) -> Option<Self> {
        if !engine_available(test) {
            return None;
        }
        let upstream = testkit::upstream_fixtures(test)?;
        let third_party = testkit::tarscpp_hello(test)?;
        let name = unique_name(test);
        let (app, _) = name.split_once('.').unwrap();
        let hello = Self {
            dir: tempfile::Builder::new()
                .prefix("tarsdock-hello-")
                .tempdir()
                .unwrap(),
            third_party,
            templates: upstream.join("templates"),
            app: app.to_owned(),
            port: free_port(),
            local_port: free_port(),
        };
        // What tarsnode would know: the servant must be App.HelloServer.HelloObj; numeric
        // hosts only (a static glibc binary resolves no names in a minimal image).
        let inputs = serde_json::json!({
            "node_key": "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000",
            "local": format!("tcp -h {local_host} -p {} -t 10000", hello.local_port),
            "adapters": [{
                "name": format!("{}.HelloObjAdapter", hello.service()),
                "configured_endpoint": format!("tcp -h 127.0.0.1 -p {} -t 60000", hello.port),
                "servant": format!("{}.HelloObj", hello.service()),
                "threads": "1", "maxconns": "1024", "queuecap": "1024",
                "queuetimeout": "60000", "protocol": "tars", "allow": ""
            }],
            "macros": {
                "localip": "127.0.0.1", "nodename": "test-node", "enableset": "n", "setdivision": "NULL",
                "locator": "tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890",
                "asyncthread": "1", "modulename": hello.service()
            }
        });
        std::fs::write(hello.path("inputs.json"), inputs.to_string()).unwrap();
        Some(hello)
    }

    fn service(&self) -> String {
        format!("{}.HelloServer", self.app)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tarsdock(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tarsdock"))
            .args(args)
            .arg("--lock-dir")
            .arg(self.path("locks"))
            .env(
                "DOCKER_HOST",
                format!("unix://{}", testkit::docker::socket_path().display()),
            )
            .output()
            .expect("run tarsdock")
    }

    /// `tarsdock deploy` of HelloServer.tgz over `tars.cpp.default` (parent `tars.default`).
    fn deploy(&self) -> Value {
        self.deploy_for("linux")
    }

    /// [`Hello::deploy`] for a target (`linux`: host network; `mac`: a bridge).
    fn deploy_for(&self, target: &str) -> Value {
        let tars = self.path("tars");
        let s = |p: &Path| p.display().to_string();
        let out = self.tarsdock(&[
            "deploy",
            &self.service(),
            "--json",
            "--package",
            &s(&self.third_party.join("HelloServer.tgz")),
            "--template",
            &s(&self.templates.join("tars.cpp.default.conf")),
            "--parent",
            &s(&self.templates.join("tars.default.conf")),
            "--node-inputs",
            &s(&self.path("inputs.json")),
            "--image",
            &base_image(),
            "--server-type",
            "cpp",
            "--target",
            target,
            "--tars-path",
            &s(&tars),
            "--log-path",
            &s(&tars.join("app_log")),
        ]);
        json(&out, 0)
    }

    /// upstream's client: `hello_client [--admin] OBJ@ENDPOINT MESSAGE`.
    fn hello_client(&self, args: &[&str]) -> Output {
        Command::new(self.third_party.join("hello_client"))
            .args(args)
            .output()
            .expect("run hello_client")
    }

    fn hello_obj(&self) -> String {
        format!(
            "{}.HelloObj@tcp -h 127.0.0.1 -p {} -t 5000",
            self.service(),
            self.port
        )
    }

    fn admin_obj(&self) -> String {
        format!("AdminObj@tcp -h 127.0.0.1 -p {} -t 5000", self.local_port)
    }

    /// Calls `testHello` until the server answers (it starts asynchronously).
    fn wait_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.hello_client(&[&self.hello_obj(), "ping"]);
            if out.status.success() {
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout).trim(),
                    r#"testHello("ping") ret=0 rsp="ping""#
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HelloServer never answered: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Host pids of the container's processes named `HelloServer`.
    fn server_pids(&self) -> Vec<String> {
        let out = docker(&["top", &self.service(), "-eo", "pid,comm"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.trim_end().ends_with("HelloServer"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }
}

fn json(output: &Output, expected_code: i32) -> Value {
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn real_server_answers_and_stops_through_adminf() {
    let Some(hello) = Hello::new("real_server_answers_and_stops_through_adminf") else {
        return;
    };
    let deployed = hello.deploy();
    assert_eq!(deployed["launch"]["state"], "running", "{deployed}");
    hello.wait_answering();

    // An admin command through tarsdock, cross-checked with upstream's own client.
    let ours = json(
        &hello.tarsdock(&["notify", &hello.service(), "tars.connection", "--json"]),
        0,
    );
    let answer = ours["answer"].as_str().unwrap();
    let theirs = hello.hello_client(&["--admin", &hello.admin_obj(), "tars.connection"]);
    assert!(theirs.status.success());
    let theirs = String::from_utf8_lossy(&theirs.stdout);
    let adapter = format!("[adapter:{}.HelloObjAdapter]", hello.service());
    for text in [answer, theirs.as_ref()] {
        assert!(text.starts_with("[notify prefix object num:1]"), "{text}");
        assert!(text.contains(&adapter), "{text}");
    }
    assert_eq!(ours["endpoint"], format!("127.0.0.1:{}", hello.local_port));

    let viewstatus = hello.tarsdock(&["notify", &hello.service(), "tars.viewstatus"]);
    assert!(viewstatus.status.success());
    let viewstatus = String::from_utf8_lossy(&viewstatus.stdout);
    assert!(viewstatus.contains("[server config]"), "{viewstatus}");

    let probe = json(
        &hello.tarsdock(&["status", &hello.service(), "--probe", "--json"]),
        0,
    );
    assert_eq!(probe["probe"]["state"], "answered", "{probe}");
    assert!(
        probe["probe"]["answer"]
            .as_str()
            .unwrap()
            .contains(&format!("{}.HelloObjAdapter", hello.service()))
    );

    // The stop: AdminF::shutdown, and the server exits by itself (255) well within its
    // deactivating-timeout; no SIGTERM, no SIGKILL.
    let stopped = json(
        &hello.tarsdock(&["stop", &hello.service(), "--json", "--timeout", "10"]),
        0,
    );
    assert_eq!(stopped["ended_by"], "admin-shutdown", "{stopped}");
    assert_eq!(stopped["exit_code"], 255, "{stopped}");
    assert_eq!(stopped["admin"]["exited"], true);
    let waited = stopped["admin"]["waited_ms"].as_u64().unwrap();
    assert!(waited < DEACTIVATING_TIMEOUT_MS, "{stopped}");

    let after = json(
        &hello.tarsdock(&["status", &hello.service(), "--probe", "--json"]),
        0,
    );
    assert_eq!(after["state"], "exited");
    assert_eq!(after["probe"]["state"], "not-running");
    let refused = hello.tarsdock(&["notify", &hello.service(), "tars.viewstatus", "--json"]);
    let refused = json(&refused, 14);
    assert_eq!(refused["error"]["kind"], "unresponsive");
}

#[test]
fn a_server_that_stops_answering_is_unresponsive_and_stopped_by_the_engine() {
    let Some(hello) =
        Hello::new("a_server_that_stops_answering_is_unresponsive_and_stopped_by_the_engine")
    else {
        return;
    };
    hello.deploy();
    hello.wait_answering();
    // Freeze the server (not the container): it accepts nothing more.
    let pids = hello.server_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let status = Command::new("kill")
        .args(["-STOP", &pids[0]])
        .status()
        .unwrap();
    assert!(status.success());

    let probe = json(
        &hello.tarsdock(&["status", &hello.service(), "--probe", "--json"]),
        0,
    );
    assert_eq!(probe["state"], "running");
    assert_eq!(probe["probe"]["state"], "unresponsive", "{probe}");

    // AdminF::shutdown goes unanswered; the engine's stop follows. The frozen server cannot
    // act on SIGTERM either, so it ends in SIGKILL after the grace period.
    let stopped = json(
        &hello.tarsdock(&["stop", &hello.service(), "--json", "--timeout", "1"]),
        0,
    );
    assert_eq!(stopped["admin"]["exited"], false, "{stopped}");
    assert!(stopped["admin"]["error"].is_string(), "{stopped}");
    assert_eq!(stopped["ended_by"], "sigkill", "{stopped}");
    assert_eq!(stopped["exit_code"], 137);
}

#[test]
fn keepalive_brings_a_killed_server_back_and_a_stop_stays_stopped() {
    let Some(hello) = Hello::new("keepalive_brings_a_killed_server_back_and_a_stop_stays_stopped")
    else {
        return;
    };
    hello.deploy();
    // The laid-out config, launched with a restart policy: keepalive on.
    let config = hello
        .path("tars/tarsnode/data")
        .join(hello.service())
        .join("conf")
        .join(format!("{}.config.conf", hello.service()));
    let config = config.display().to_string();
    let image = base_image();
    let launch = [
        "launch",
        config.as_str(),
        "--image",
        image.as_str(),
        "--target",
        "linux",
        "--restart",
        "unless-stopped",
        "--json",
    ];
    let launched = json(&hello.tarsdock(&launch), 0);
    assert_eq!(launched["action"], "replaced", "{launched}");
    hello.wait_answering();

    // The server dies (SIGKILL, as a crash): the engine brings it back.
    let pids = hello.server_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert!(
        Command::new("kill")
            .args(["-KILL", &pids[0]])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = json(&hello.tarsdock(&["status", &hello.service(), "--json"]), 0);
        if status["state"] == "running" && status["restart_count"].as_i64() >= Some(1) {
            break status;
        }
        assert!(Instant::now() < deadline, "not restarted: {status}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["restart_count"], 1, "{status}");
    hello.wait_answering();
    let human = hello.tarsdock(&["status", &hello.service()]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("restarts     1"),
        "{}",
        String::from_utf8_lossy(&human.stdout)
    );

    // A graceful stop is an exit the engine must not undo.
    let stopped = json(&hello.tarsdock(&["stop", &hello.service(), "--json"]), 0);
    assert_eq!(stopped["ended_by"], "admin-shutdown", "{stopped}");
    std::thread::sleep(Duration::from_secs(2));
    let after = json(&hello.tarsdock(&["status", &hello.service(), "--json"]), 0);
    assert_eq!(after["state"], "exited", "{after}");
    assert_eq!(after["restart_count"], 1, "{after}");

    // Launching the unchanged plan starts it again, with keepalive back on.
    let again = json(&hello.tarsdock(&launch), 0);
    assert_eq!(again["action"], "started", "{again}");
    let policy = testkit::docker::docker_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}",
        &hello.service(),
    ]);
    assert_eq!(policy, "unless-stopped");
    hello.wait_answering();

    // `restart` stops the same way (AdminF::shutdown), and keepalive survives it.
    let restarted = json(&hello.tarsdock(&["restart", &hello.service(), "--json"]), 0);
    assert_eq!(restarted["ended_by"], "admin-shutdown", "{restarted}");
    assert_eq!(restarted["state"], "running", "{restarted}");
    let policy = testkit::docker::docker_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}",
        &hello.service(),
    ]);
    assert_eq!(policy, "unless-stopped");
    hello.wait_answering();
}

#[test]
fn on_a_bridge_adminobj_is_reached_on_host_loopback() {
    // tarsnode's container-mode `local`: 0.0.0.0 inside the container's own namespace; the
    // plan publishes it on the host's 127.0.0.1 only.
    let Some(hello) = Hello::with_local(
        "on_a_bridge_adminobj_is_reached_on_host_loopback",
        "0.0.0.0",
    ) else {
        return;
    };
    let deployed = hello.deploy_for("mac");
    assert_eq!(deployed["launch"]["state"], "running", "{deployed}");
    let ports = docker(&["port", &hello.service()]);
    let ports = String::from_utf8_lossy(&ports.stdout);
    assert!(
        ports.contains(&format!(
            "{}/tcp -> 127.0.0.1:{}",
            hello.local_port, hello.local_port
        )),
        "{ports}"
    );
    hello.wait_answering();
    let answer = json(
        &hello.tarsdock(&["notify", &hello.service(), "tars.viewstatus", "--json"]),
        0,
    );
    assert_eq!(
        answer["endpoint"],
        format!("127.0.0.1:{}", hello.local_port)
    );
    let stopped = json(&hello.tarsdock(&["stop", &hello.service(), "--json"]), 0);
    assert_eq!(stopped["ended_by"], "admin-shutdown", "{stopped}");
}
