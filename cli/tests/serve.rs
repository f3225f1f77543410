//! `tarsdock serve` on the real engine, driven by `tarsnode_docker` — tarsnode's Docker half
//! built on upstream's own `TC_Docker` (`../shared/third-party/tarsnode-docker`, or
//! `TARSDOCK_TARSNODE_DOCKER`) — making exactly the node's calls:
//!
//! - a pull with credentials in the standard base64 alphabet (which the engine alone would
//!   drop) succeeds through the front;
//! - `pull` then `start` gives a running container with host IPC, not privileged, labelled,
//!   with tarsdock's mounts; `start` again (a running service) stops it gracefully and starts
//!   it again instead of waiting out `t=10000` (the stop call succeeds; the client's 60 s
//!   timeout is not hit);
//! - `stop --stop-script` really runs the script;
//! - `stop --admin-endpoint` ends the real upstream `HelloServer`
//!   (`../shared/third-party/tarscpp-hello`, laid out by `tarsdock deploy --mode native`) by
//!   `AdminF::shutdown`, before the node's fallback `stop t=3`; and without the node's own
//!   AdminF call, the front's stop (the runtime's) sends it;
//! - a template with a refused mount makes `start` fail with tarsdock's diagnostic in the
//!   node's output;
//! - `docker -H unix://<front>` `run`, `ps`, `logs -f` and `exec -i` pass through;
//! - SIGTERM stops the front with exit code 0 and removes its socket.
//!
//! Skipped visibly without the engine or the third-party parts; failing under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::docker::{
    Cleanup, Registry, ServiceDir, TEST_LABEL, base_image, converse, docker, docker_ok,
    engine_available, free_port, registry_available, unique_name,
};

/// The environment variable naming the tarsnode stand-in's folder.
const TARSNODE_DOCKER_ENV: &str = "TARSDOCK_TARSNODE_DOCKER";

/// A third-party folder holding `file`, or `None` (after a visible skip notice).
fn third_party(test: &str, env: &str, default: &str, file: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(env).map_or_else(
        || {
            testkit::workspace_root()
                .join("../shared/third-party")
                .join(default)
        },
        PathBuf::from,
    );
    if dir.join(file).is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {file} not found in {} (set {env}); required under CI=true",
        dir.display()
    );
    eprintln!(
        "SKIPPED {test}: {file} not found in {} (set {env})",
        dir.display()
    );
    None
}

/// `tarsdock serve` on a private socket, stopped by SIGTERM.
struct Served {
    dir: tempfile::TempDir,
    socket: PathBuf,
    child: Option<Child>,
    tarsnode: PathBuf,
}

impl Served {
    fn start(test: &str) -> Option<Self> {
        Self::start_on(test, "linux")
    }

    /// The front planning for `target` (`linux`: host network; `mac`: bridge and published
    /// ports, as on Docker Desktop).
    fn start_on(test: &str, target: &str) -> Option<Self> {
        if !engine_available(test) {
            return None;
        }
        let tools = third_party(
            test,
            TARSNODE_DOCKER_ENV,
            "tarsnode-docker",
            "tarsnode_docker",
        )?;
        let dir = tempfile::Builder::new()
            .prefix("tarsdock-serve-")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("front.sock");
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
            .arg("serve")
            .arg("--listen")
            .arg(&socket)
            .arg("--engine")
            .arg(testkit::docker::socket_path())
            .arg("--lock-dir")
            .arg(dir.path().join("locks"))
            .args(["--target", target, "--log-format", "json"])
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tarsdock serve");
        let served = Self {
            dir,
            socket,
            child: Some(child),
            tarsnode: tools.join("tarsnode_docker"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&served.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "tarsdock serve did not come up: {}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(served)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// `tarsnode_docker --socket <front> ARGS…`, bounded to three minutes.
    fn tarsnode(&self, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
        let mut command = Command::new(&self.tarsnode);
        command.arg("--socket").arg(&self.socket).args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        run_bounded(command, Duration::from_secs(180))
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// SIGTERM; returns the exit code.
    fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Runs a command, killing it after `limit`; its exit code and stdout.
fn run_bounded(mut command: Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start command");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, reader.join().unwrap())
}

/// Removes the containers of one test's app (label `tarsdock.app`) on drop.
struct RemoveApp(String);

impl Drop for RemoveApp {
    fn drop(&mut self) {
        let filter = format!("label=tarsdock.app={}", self.0);
        let out = docker(&["ps", "-aq", "--filter", &filter]);
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
    }
}

/// A hello-service laid out as tarsnode lays it out, with `container` as the lines of its
/// `<container>` domain.
fn service(test: &str, container: &str) -> (ServiceDir, RemoveApp) {
    let name = unique_name(test);
    let port = free_port();
    let service = ServiceDir::new(&name, "127.0.0.1", port);
    let (app, server) = (&service.app, &service.server);
    let text = format!(
        "<tars>\n  <application>\n    <server>\n      app={app}\n      server={server}\n      \
         logpath={log}\n      <{app}.{server}.HelloObjAdapter>\n        \
         endpoint=tcp -h 127.0.0.1 -p {port} -t 60000\n        servant={app}.{server}.HelloObj\n      \
         </{app}.{server}.HelloObjAdapter>\n    </server>\n    <container>\n{container}    </container>\n  \
         </application>\n</tars>\n",
        log = service.log_dir.display(),
    );
    std::fs::write(service.config_path(), text).unwrap();
    let remove = RemoveApp(service.app.clone());
    (service, remove)
}

/// `start <service>` as tarsnode calls it.
fn start_args(service: &ServiceDir, image: &str) -> Vec<String> {
    service.tarsnode_start_args(image, &[])
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn inspect(name: &str) -> Value {
    let text = docker_ok(&["inspect", name]);
    serde_json::from_str::<Value>(&text).unwrap()[0].clone()
}

/// The `outcome …` line of the stand-in's output.
fn outcome(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("outcome "))
        .unwrap_or_else(|| panic!("no outcome line in:\n{out}"))
}

#[test]
fn pull_then_start_runs_the_service_as_tarsdock_plans_it_and_restarts_quickly() {
    let Some(front) = Served::start("serve pull+start") else {
        return;
    };
    let (service, _remove) = service(
        "serve-start",
        "      <volumes>\n        SHARED=SHARED\n      </volumes>\n",
    );
    // The volume line mounts the shared dir on itself (the stop script writes there).
    let config = std::fs::read_to_string(service.config_path()).unwrap();
    let config = config.replace("SHARED", &service.shared_dir.display().to_string());
    std::fs::write(service.config_path(), config).unwrap();
    let image = base_image();

    // pull: the node inspects the image through the front and finds it current.
    let id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &image]);
    let (code, out) = front.tarsnode(&["pull", &image, "--sha", &id], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("sha not changed, no need pull"), "{out}");

    let (code, out) = front.tarsnode(&strs(&start_args(&service, &image)), &[]);
    assert_eq!(code, Some(0), "{out}\n{}", front.log());
    assert!(outcome(&out).starts_with("outcome succ pid="), "{out}");
    // The create answer lists what tarsdock changed in the node's request.
    assert!(
        out.contains(r#"HostConfig.Privileged: tarsnode sent true, tarsdock sends false"#),
        "{out}"
    );

    let container = inspect(&service.name());
    let host = &container["HostConfig"];
    assert_eq!(host["IpcMode"], "host", "{host}");
    assert_eq!(host["NetworkMode"], "host");
    assert_eq!(host["Privileged"], false);
    assert_eq!(host["AutoRemove"], false);
    let labels = &container["Config"]["Labels"];
    assert_eq!(labels["tarsdock.managed-by"], "tarsdock", "{labels}");
    assert_eq!(labels["tarsdock.app"], service.app.as_str());
    assert!(
        labels["tarsdock.plan-hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{labels}"
    );
    let mounts: Vec<(String, String, bool)> = host["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Source"].as_str().unwrap().to_owned(),
                m["Target"].as_str().unwrap().to_owned(),
                m["ReadOnly"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let server_dir = service.server_dir.display().to_string();
    let log_dir = service.log_dir.display().to_string();
    let shared = service.shared_dir.display().to_string();
    for expected in [
        (server_dir.clone(), server_dir.clone(), false),
        (log_dir.clone(), log_dir.clone(), false),
        (
            "/etc/localtime".to_owned(),
            "/etc/localtime".to_owned(),
            true,
        ),
        (shared.clone(), shared.clone(), false),
    ] {
        assert!(mounts.contains(&expected), "{expected:?} not in {mounts:?}");
    }
    // The service runs and answers.
    let greeting = converse(service.port, &[], Duration::from_secs(30)).unwrap();
    assert!(!greeting.is_empty());
    let first_pid = container["State"]["Pid"].as_i64().unwrap();

    // start of the running service: the stop (t=10000) succeeds — graceful, with the planned
    // grace period — instead of being cut off by the client's timeout, and the service runs
    // again in the same (reused) container with a new process.
    let (code, out) = front.tarsnode(&strs(&start_args(&service, &image)), &[]);
    assert_eq!(code, Some(0), "{out}");
    let stop_line = out
        .lines()
        .find(|l| l.starts_with("call stop ") && l.contains("t=10000"))
        .unwrap();
    assert!(stop_line.ends_with("-> ok"), "{stop_line}");
    assert!(!out.contains("ret:-3"), "the node timed out:\n{out}");
    let again = inspect(&service.name());
    assert_eq!(
        again["Id"], container["Id"],
        "the unchanged container is reused"
    );
    assert_eq!(again["State"]["Status"], "running");
    assert_ne!(again["State"]["Pid"].as_i64().unwrap(), first_pid);
    converse(service.port, &[], Duration::from_secs(30)).unwrap();
    assert!(
        front.log().contains(r#""action":"Started""#) || front.log().contains("action=Started"),
        "{}",
        front.log()
    );

    // stop with a stop script: the script really runs (upstream only created the exec).
    let marker = service.shared_dir.join("stopped-by-script");
    assert!(!marker.exists());
    let script = service.stop_script().display().to_string();
    let (code, out) = front.tarsnode(&["stop", &service.name(), "--stop-script", &script], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(outcome(&out).starts_with("outcome succ"), "{out}");
    let ran = std::fs::read_to_string(&marker).expect("the stop script ran");
    assert!(ran.starts_with("stop script ran in pid:"), "{ran}");
    assert!(
        front.log().contains("stop-script-output"),
        "the script's output is logged"
    );
    // The stopped container is kept (its logs and exit code stay readable).
    assert_eq!(inspect(&service.name())["State"]["Status"], "exited");
}

#[test]
fn on_a_bridge_target_the_node_config_is_published_and_answers() {
    let Some(front) = Served::start_on("serve mac target", "mac") else {
        return;
    };
    // As tarsnode writes a container-mode config: the adapter on 0.0.0.0 (inside the
    // container's own network); the template publishes it on the host's loopback only.
    let (service, _remove) = service("serve-bridge", "");
    let port = service.port;
    // tarsnode writes `local` on loopback whatever the network.
    let local_port = free_port();
    let config = std::fs::read_to_string(service.config_path())
        .unwrap()
        .replace("endpoint=tcp -h 127.0.0.1", "endpoint=tcp -h 0.0.0.0")
        .replace(
            "      logpath=",
            &format!("      local=tcp -h 127.0.0.1 -p {local_port} -t 10000\n      logpath="),
        )
        .replace(
            "    </container>",
            &format!("      <ports>\n        {port}/tcp=127.0.0.1:{port}\n      </ports>\n    </container>"),
        );
    std::fs::write(service.config_path(), config).unwrap();
    let image = base_image();

    let (code, out) = front.tarsnode(&strs(&start_args(&service, &image)), &[]);
    assert_eq!(code, Some(0), "{out}\n{}", front.log());
    assert!(outcome(&out).starts_with("outcome succ"), "{out}");
    // What the node sent (host network) and what tarsdock planned differ, and the node is told.
    assert!(out.contains("HostConfig.NetworkMode"), "{out}");

    let container = inspect(&service.name());
    let host = &container["HostConfig"];
    assert_eq!(host["NetworkMode"], "bridge", "{host}");
    assert_ne!(host["IpcMode"], "host", "{host}");
    let key = format!("{port}/tcp");
    assert_eq!(
        host["PortBindings"][&key],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]),
        "{host}"
    );
    assert!(
        container["Config"]["ExposedPorts"].get(&key).is_some(),
        "{container}"
    );
    // The service answers through the published port.
    let greeting = converse(port, &[], Duration::from_secs(30)).unwrap();
    assert!(!greeting.is_empty());

    // `local` was written on 0.0.0.0 (the rest of the node's file as it was) and published on
    // the host's loopback, so AdminObj answers from the host.
    let written = std::fs::read_to_string(service.config_path()).unwrap();
    assert!(
        written.contains(&format!(
            "      local=tcp -h 0.0.0.0 -p {local_port} -t 10000\n"
        )),
        "{written}"
    );
    assert!(
        written.contains(&format!("{port}/tcp=127.0.0.1:{port}")),
        "{written}"
    );
    assert_eq!(
        host["PortBindings"][&format!("{local_port}/tcp")],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": local_port.to_string()}]),
        "{host}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
            .args(["notify", &service.name(), "tars.viewstatus"])
            .arg("--docker-socket")
            .arg(testkit::docker::socket_path())
            .output()
            .unwrap();
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        answer.status.success(),
        "{}",
        String::from_utf8_lossy(&answer.stderr)
    );

    // The node's stop: AdminF::shutdown through the published port ends it.
    let (code, out) = front.tarsnode(&["stop", &service.name()], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(inspect(&service.name())["State"]["Status"], "exited");
    assert!(front.log().contains("AdminShutdown"), "{}", front.log());
}

#[test]
fn a_pull_with_standard_base64_credentials_succeeds_through_the_front() {
    let Some(front) = Served::start("serve pull auth") else {
        return;
    };
    if !registry_available("serve pull auth") {
        return;
    }
    let storage = tempfile::tempdir().unwrap();
    let open = Registry::start(storage.path(), None);
    // Chosen so that the standard alphabet (TC_Docker's) gives `+` or `/`: the engine decodes
    // base64url and would silently pull without credentials.
    let password = "??>>~~ front";
    let secured = Registry::start(storage.path(), Some(("tars", password)));
    let run = testkit::docker::run_id().replace('-', "");
    let local = format!("tarsdock-test/front-pull:{run}");
    testkit::docker::import_unique(&local, &run, 64 * 1024);
    let path = format!("front/pull-{run}:1");
    let pushed = testkit::docker::push(&open, &local, &path, true);
    let reference = format!("{}/{path}", secured.address);
    let _ = docker(&["rmi", &pushed]);
    let env = [("FRONT_TEST_PASSWORD", password)];
    let args = [
        "pull",
        reference.as_str(),
        "--sha",
        "sha256:0000",
        "--registry",
        secured.address.as_str(),
        "--user",
        "tars",
        "--password-env",
        "FRONT_TEST_PASSWORD",
    ];

    // Straight to the engine, upstream's encoding loses the credentials.
    let mut direct = Command::new(&front.tarsnode);
    direct
        .arg("--socket")
        .arg(testkit::docker::socket_path())
        .args(args);
    for (k, v) in env {
        direct.env(k, v);
    }
    let (code, out) = run_bounded(direct, Duration::from_secs(120));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no basic auth credentials"), "{out}");
    assert!(
        !docker(&["image", "inspect", &reference]).status.success(),
        "the engine pulled with standard base64 credentials; the front's fix is not needed:\n{out}"
    );

    let (code, out) = front.tarsnode(&args, &env);
    let _ = docker(&["rmi", &reference]);
    assert_eq!(code, Some(0), "{out}\n{}", front.log());
    assert!(outcome(&out).starts_with("outcome succ"), "{out}");
    assert!(
        out.contains(&format!("call pull {reference} -> ok")),
        "{out}"
    );
}

#[test]
fn a_refused_mount_fails_start_with_tarsdocks_diagnostic() {
    let Some(front) = Served::start("serve refused mount") else {
        return;
    };
    let (service, _remove) = service(
        "serve-refused",
        "      <volumes>\n        /etc=/host-etc\n        FRONT=/engine\n      </volumes>\n",
    );
    // The front's own socket is an engine socket too: it would hand the service the engine.
    let config = std::fs::read_to_string(service.config_path()).unwrap();
    let config = config.replace("FRONT", &front.socket.display().to_string());
    std::fs::write(service.config_path(), config).unwrap();
    let (code, out) = front.tarsnode(&strs(&start_args(&service, &base_image())), &[]);
    assert_eq!(code, Some(1), "{out}");
    // The node reports it to the web console: file, line, column, code, message.
    let report = out
        .lines()
        .find(|l| l.starts_with("report create container error: "))
        .unwrap_or_else(|| panic!("{out}"));
    let config = service.config_path().display().to_string();
    assert!(
        report.contains(&format!("{config}:14:9: error[TARS-X001]")),
        "{report}"
    );
    assert!(report.contains("/etc"), "{report}");
    assert!(
        report.contains(&format!("{config}:15:9: error[TARS-X002]")),
        "{report}"
    );
    assert!(outcome(&out).starts_with("outcome failed"), "{out}");
    assert!(
        !docker(&["inspect", &service.name()]).status.success(),
        "nothing was created"
    );
}

#[test]
fn admin_endpoint_stop_ends_the_real_hello_server_gracefully() {
    let test = "serve HelloServer";
    let Some(front) = Served::start(test) else {
        return;
    };
    let Some(upstream) = testkit::upstream_fixtures(test) else {
        return;
    };
    let Some(hello) = testkit::tarscpp_hello(test) else {
        return;
    };
    let name = unique_name("serve-hello");
    let (app, _) = name.split_once('.').unwrap();
    let service = format!("{app}.HelloServer");
    let _remove = RemoveApp(app.to_owned());
    let (port, local_port) = (free_port(), free_port());
    let dir = front.dir.path();
    let inputs = serde_json::json!({
        "node_key": "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000",
        "local": format!("tcp -h 127.0.0.1 -p {local_port} -t 10000"),
        "adapters": [{
            "name": format!("{service}.HelloObjAdapter"),
            "configured_endpoint": format!("tcp -h 127.0.0.1 -p {port} -t 60000"),
            "servant": format!("{service}.HelloObj"),
            "threads": "1", "maxconns": "1024", "queuecap": "1024",
            "queuetimeout": "60000", "protocol": "tars", "allow": ""
        }],
        "macros": {
            "localip": "127.0.0.1", "nodename": "test-node", "enableset": "n",
            "setdivision": "NULL", "asyncthread": "1", "modulename": service,
            "locator": "tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890"
        }
    });
    std::fs::write(dir.join("inputs.json"), inputs.to_string()).unwrap();
    let tars = dir.join("tars");
    let s = |p: &Path| p.display().to_string();
    let templates = upstream.join("templates");
    let deployed = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .args(["deploy", &service, "--json", "--mode", "native"])
        .args(["--package", &s(&hello.join("HelloServer.tgz"))])
        .args(["--template", &s(&templates.join("tars.cpp.default.conf"))])
        .args(["--parent", &s(&templates.join("tars.default.conf"))])
        .args(["--node-inputs", &s(&dir.join("inputs.json"))])
        .args([
            "--image",
            &base_image(),
            "--server-type",
            "cpp",
            "--target",
            "linux",
        ])
        .args([
            "--tars-path",
            &s(&tars),
            "--log-path",
            &s(&tars.join("app_log")),
        ])
        .args(["--lock-dir", &s(&dir.join("locks"))])
        .output()
        .unwrap();
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let server_dir = tars.join("tarsnode/data").join(&service);
    let exe_path = server_dir.join("bin");
    let log_path = tars.join("app_log");
    // What tarsnode's prepareScript writes for a cpp server in container mode before
    // startContainer (the stand-in does not write it).
    let config_file = server_dir
        .join("conf")
        .join(format!("{service}.config.conf"));
    let script = format!(
        "#!/bin/sh\nexport LD_LIBRARY_PATH=$LD_LIBRARY_PATH:{exe}/:{lib}/\ntrap 'exit' SIGTERM SIGINT\npid=0\n\n{exe}/HelloServer --config={conf}\n",
        exe = exe_path.display(),
        lib = tars.join("tarsnode/data/lib").display(),
        conf = config_file.display()
    );
    let start_script = exe_path.join("tars_start.sh");
    std::fs::remove_file(&start_script).unwrap();
    std::fs::write(&start_script, script).unwrap();
    std::fs::set_permissions(
        &start_script,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let image = base_image();
    let (exe_arg, dir_arg, log_arg) = (
        format!("{}/", exe_path.display()),
        format!("{}/", server_dir.display()),
        format!("{}/", log_path.display()),
    );
    let start = [
        "start",
        service.as_str(),
        "--image",
        image.as_str(),
        "--exe-path",
        exe_arg.as_str(),
        "--server-dir",
        dir_arg.as_str(),
        "--log-path",
        log_arg.as_str(),
    ];
    let (code, out) = front.tarsnode(&start, &[]);
    assert_eq!(code, Some(0), "{out}\n{}", front.log());
    // The real server answers a Tars call.
    let obj = format!("{service}.HelloObj@tcp -h 127.0.0.1 -p {port} -t 5000");
    let wait_answering = || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = Command::new(hello.join("hello_client"))
                .args([obj.as_str(), "front"])
                .output()
                .unwrap();
            if answer.status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "HelloServer never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_answering();

    let endpoint = format!("tcp -h 127.0.0.1 -p {local_port} -t 5000");
    let (code, out) = front.tarsnode(
        &[
            "stop",
            &service,
            "--admin-endpoint",
            &endpoint,
            "--deactivating-timeout",
            "3000",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    // Ended by AdminF::shutdown within the node's wait: no fallback `stop t=3`.
    assert!(
        outcome(&out).starts_with("outcome succ result=server already stop"),
        "{out}"
    );
    assert!(!out.contains("call stop "), "{out}");
    let state = &inspect(&service)["State"];
    assert_eq!(state["Status"], "exited");
    // HelloServer's clean exit status (upstream's main returns -1), not SIGKILL's 137.
    assert_eq!(state["ExitCode"], 255, "{state}");

    // The node's stop without its own AdminF call (`bUseAdmin=false`) goes to the front's
    // stop, which is tarsdock's: AdminF::shutdown first. Upstream's script keeps `sh` as PID 1,
    // which defers SIGTERM, so an engine stop alone would end in SIGKILL (137).
    let (code, out) = front.tarsnode(&start, &[]);
    assert_eq!(code, Some(0), "{out}");
    wait_answering();
    let (code, out) = front.tarsnode(&["stop", &service, "--no-admin"], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("call stop ") && l.ends_with("-> ok")),
        "{out}"
    );
    let state = &inspect(&service)["State"];
    assert_eq!(state["ExitCode"], 255, "{state}\n{}", front.log());
    assert!(front.log().contains("AdminShutdown"), "{}", front.log());
}

#[test]
fn the_docker_cli_passes_through_and_sigterm_stops_the_front() {
    let Some(mut front) = Served::start("serve docker cli") else {
        return;
    };
    let cleanup = Cleanup::new();
    let name = format!("front-cli-{}", cleanup.run_id);
    let label = format!("{TEST_LABEL}={}", cleanup.run_id);
    let run = front.docker(&[
        "run",
        "-d",
        "--network",
        "host",
        "--label",
        &label,
        "--name",
        &name,
        &base_image(),
        "sh",
        "-c",
        "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.2; done",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let ps = front.docker(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), name);

    // logs -f: lines keep arriving through the front while the container runs.
    let mut logs = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", front.socket.display()))
        .args(["logs", "-f", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = logs.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .take(15)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "logs -f stopped streaming");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = reader.join().unwrap();
    let _ = logs.kill();
    let _ = logs.wait();
    assert_eq!(lines[0], "line0");
    assert_eq!(lines[14], "line14");

    // exec -i: an upgraded connection, both ways, stdin's end included.
    let mut exec = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", front.socket.display()))
        .args(["exec", "-i", &name, "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = exec.stdin.take().unwrap();
        stdin.write_all(b"through the front\n").unwrap();
    }
    let out = exec.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "through the front\ndone\n"
    );

    assert_eq!(front.stop(), Some(0), "{}", front.log());
    assert!(!front.socket.exists(), "the socket is removed");
    assert!(front.log().contains("SIGTERM"), "{}", front.log());
}

/// `tarsdock serve ARGS…` that is expected to exit at once: its exit code and stderr.
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarsdock"));
    command.arg("serve").args(args).stderr(Stdio::piped());
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn startup_failures_say_why_with_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.display().to_string();

    let (code, err) = serve_fails(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--listen"), "{err}");

    // The node config names the socket to serve; the engine is not there: exit 3.
    let listen = dir.path().join("front.sock");
    let node_config = dir.path().join("tars.tarsnode.config.conf");
    std::fs::write(
        &node_config,
        format!(
            "<tars>\n  <node>\n    <container>\n      socket={}\n      timeout=30\n    </container>\n  </node>\n</tars>\n",
            listen.display()
        ),
    )
    .unwrap();
    let missing = dir.path().join("no-engine.sock");
    let (code, err) = serve_fails(&[
        "--node-config",
        &s(&node_config),
        "--engine",
        &s(&missing),
        "--lock-dir",
        &s(&dir.path().join("locks")),
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cannot reach the Docker engine"), "{err}");
    assert!(!listen.exists(), "no socket is left behind");

    // The front's own socket as the engine would loop: refused before anything is made.
    let (code, err) = serve_fails(&["--listen", &s(&listen), "--engine", &s(&listen)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is the socket the front listens on"), "{err}");

    // A path that is not a socket is never replaced.
    std::fs::write(&listen, "keep me").unwrap();
    if engine_available("serve startup") {
        let (code, err) = serve_fails(&[
            "--listen",
            &s(&listen),
            "--engine",
            &s(&testkit::docker::socket_path()),
            "--target",
            "linux",
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&listen).unwrap(), "keep me");
    }
}

#[test]
fn launches_are_serialised_with_the_clis_locks_and_with_each_other() {
    let Some(front) = Served::start("serve locks") else {
        return;
    };
    let (service, _remove) = service("serve-locks", "");
    let args = start_args(&service, &base_image());

    // A tarsdock command holding the service's lock (same lock dir) holds the node's start.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lock = rt
        .block_on(runtime::lock::lock_service(
            &front.dir.path().join("locks"),
            &service.name(),
            Duration::from_secs(5),
        ))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tx.send(front.tarsnode(&strs(&args), &[])).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_secs(2)).is_err(),
            "the start went ahead while another command held the service lock"
        );
        assert!(!docker(&["inspect", &service.name()]).status.success());
        drop(lock);
        let (code, out) = rx.recv_timeout(Duration::from_secs(120)).unwrap();
        assert_eq!(code, Some(0), "{out}");
    });

    // Three starts at once (the node's pool threads): each succeeds, one container remains.
    let outcomes: Vec<(Option<i32>, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| front.tarsnode(&strs(&args), &[])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (code, out) in &outcomes {
        assert_eq!(*code, Some(0), "{out}\n{}", front.log());
    }
    let filter = format!("label=tarsdock.app={}", service.app);
    let ids = docker_ok(&["ps", "-aq", "--filter", &filter]);
    assert_eq!(ids.lines().count(), 1, "{ids}");
    assert_eq!(inspect(&service.name())["State"]["Status"], "running");
}
