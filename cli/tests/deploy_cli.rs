//! `tarsdock deploy` through the real binary: a tgz package of the static `hello-service` laid
//! out and launched on the real engine (`--json` report, the service answers, a second deploy
//! changes nothing, `--mode native` touches no container), and every failure class with its
//! exit code and `{"error": …}` document (package refused, template errors, node inputs,
//! layout, engine unreachable).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use testkit::docker::{base_image, converse, docker, engine_available, free_port, unique_name};

/// A service to deploy: its own name and port, a package, node inputs, a tars path.
struct Node {
    dir: tempfile::TempDir,
    app: String,
    server: String,
    port: u16,
    image: String,
}

/// Removes the containers of one test's service (by the plan's `tarsdock.app` label) on drop,
/// also when the test panics.
struct RemoveApp(String);

impl Drop for RemoveApp {
    fn drop(&mut self) {
        let filter = format!("label=tarsdock.app={}", self.0);
        let out = docker(&["ps", "-aq", "--filter", &filter]);
        let ids = String::from_utf8_lossy(&out.stdout).into_owned();
        for id in ids.split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
    }
}

impl Node {
    fn new(test: &str, image: String) -> Self {
        let name = unique_name(test);
        let (app, server) = name.split_once('.').unwrap();
        let node = Self {
            dir: tempfile::Builder::new()
                .prefix("tarsdock-deploy-cli-")
                .tempdir()
                .unwrap(),
            app: app.to_owned(),
            // Server names are the executable's name: no `-`.
            server: server.replace('-', ""),
            port: free_port(),
            image,
        };
        node.write_inputs();
        node
    }

    fn write_inputs(&self) {
        let node = self;
        let inputs = serde_json::json!({
            "node_key": "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000",
            "adapters": [{
                "name": format!("{}.HelloObjAdapter", node.service()),
                "configured_endpoint": format!("tcp -h 127.0.0.1 -p {} -t 60000", node.port),
                "servant": format!("{}.HelloObj", node.service()),
                "threads": "1", "maxconns": "1024", "queuecap": "1024",
                "queuetimeout": "60000", "protocol": "tars", "allow": ""
            }],
            "macros": { "localip": "127.0.0.1", "enableset": "n", "setdivision": "NULL" }
        });
        std::fs::write(node.path("inputs.json"), inputs.to_string()).unwrap();
    }

    fn service(&self) -> String {
        format!("{}.{}", self.app, self.server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A Tars-style package `<Server>/<Server>` + `<Server>/VERSION`, made with `tar`.
    fn package(&self, version: &str) -> PathBuf {
        let staging = self.path(&format!("pkg-{version}"));
        let inner = staging.join(&self.server);
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::copy(
            testkit::docker::hello_service_binary(),
            inner.join(&self.server),
        )
        .unwrap();
        std::fs::write(inner.join("VERSION"), format!("{version}\n")).unwrap();
        let tgz = self.path(&format!("{}-{version}.tgz", self.server));
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&tgz)
            .arg("-C")
            .arg(&staging)
            .arg(&self.server)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar failed");
        tgz
    }

    /// `tarsdock deploy <service> --json …` with the fixture template and profile; `extra`
    /// replaces or adds flags.
    fn deploy(&self, package: &Path, extra: &[&str]) -> Output {
        let fixtures = testkit::workspace_root().join("fixtures/deploy/hello");
        let tars = self.path("tars");
        let mut args: Vec<String> = vec![
            "deploy".into(),
            self.service(),
            "--json".into(),
            "--package".into(),
            package.display().to_string(),
            "--profile".into(),
            fixtures.join("profile.conf").display().to_string(),
            "--node-inputs".into(),
            self.path("inputs.json").display().to_string(),
            "--image".into(),
            self.image.clone(),
            "--server-type".into(),
            "cpp".into(),
            "--tars-path".into(),
            tars.display().to_string(),
            "--log-path".into(),
            tars.join("app_log").display().to_string(),
            "--lock-dir".into(),
            self.path("locks").display().to_string(),
            "--stop-timeout".into(),
            "2".into(),
        ];
        if !extra.contains(&"--template") {
            args.push("--template".into());
            args.push(fixtures.join("template.conf").display().to_string());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Command::new(env!("CARGO_BIN_EXE_tarsdock"))
            .args(&args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", testkit::docker::socket_path().display()),
            )
            .output()
            .expect("run tarsdock deploy")
    }
}

fn json_out(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[test]
fn deploy_lays_out_launches_and_redeploys_idempotently() {
    if !engine_available("deploy_lays_out_launches_and_redeploys_idempotently") {
        return;
    }
    let node = Node::new("deploy-cli", base_image());
    let _remove = RemoveApp(node.app.clone());
    let package = node.package("1.0");

    let first = node.deploy(&package, &[]);
    assert_eq!(
        code(&first),
        0,
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report = json_out(&first);
    assert_eq!(report["name"], node.service().as_str());
    assert_eq!(report["mode"], "container");
    assert_eq!(report["target"], "linux");
    assert_eq!(report["bin"]["action"], "created");
    assert_eq!(report["launch"]["action"], "created");
    assert_eq!(report["launch"]["state"], "running");
    let id = report["launch"]["id"].as_str().unwrap().to_owned();
    let lines = converse(node.port, &["hello"], Duration::from_secs(20)).unwrap();
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some(format!("hello from {} version=1.0", node.service()).as_str()),
        "{lines:?}"
    );

    // The same inputs again: nothing is rewritten, the container is left alone.
    let again = json_out(&node.deploy(&package, &[]));
    assert_eq!(again["bin"]["action"], "unchanged");
    assert_eq!(again["config"]["action"], "unchanged");
    assert_eq!(again["launch"]["action"], "unchanged");
    assert_eq!(again["launch"]["id"], id.as_str());

    // Native mode rewrites config and script for a native start and launches nothing.
    let native = node.deploy(&package, &["--mode", "native"]);
    assert_eq!(code(&native), 0);
    let native = json_out(&native);
    assert_eq!(native["mode"], "native");
    assert_eq!(native["launch"], Value::Null);
    assert_eq!(native["script"]["action"], "replaced");
    assert!(
        native["native_start"]
            .as_str()
            .unwrap()
            .contains("bin/tars_start.sh"),
        "{native}"
    );
}

/// Each failure class has its exit code and one `{"error": …}` document on stdout; nothing is
/// laid out or launched.
#[test]
fn deploy_failures_have_their_exit_codes() {
    // Every failure below is decided before the engine is asked for the image.
    let node = Node::new("deploy-cli-fail", "tarsdock-test/never-pulled:1".to_owned());
    let package = node.package("1.0");
    let error = |output: &Output| json_out(output)["error"].clone();

    // Not a tgz: the package class (11).
    let bogus = node.path("bogus.tgz");
    std::fs::write(&bogus, b"not a tarball").unwrap();
    let run = node.deploy(&bogus, &[]);
    assert_eq!(code(&run), 11);
    assert_eq!(error(&run)["kind"], "package");
    assert_eq!(error(&run)["exit_code"], 11);

    // Template errors: 1, with the findings in the document.
    let broken = node.path("broken.conf");
    std::fs::write(
        &broken,
        "<tars\n  <application>\n  </application>\n</tars>\n",
    )
    .unwrap();
    let run = node.deploy(&package, &["--template", broken.to_str().unwrap()]);
    assert_eq!(code(&run), 1);
    let e = error(&run);
    assert_eq!(e["kind"], "template");
    let codes: Vec<&str> = e["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    // The chain finding (upstream drops the template) and the reason, in that file.
    assert_eq!(codes, ["TARS-C003", "TARS-S001"], "{e}");

    // Node inputs that are not JSON: a usage error (2) naming the file.
    std::fs::write(node.path("inputs.json"), "{ not json").unwrap();
    let run = node.deploy(&package, &[]);
    assert_eq!(code(&run), 2);
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("inputs.json")
            || error(&run)["message"]
                .as_str()
                .unwrap_or_default()
                .contains("inputs.json"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    node.write_inputs();

    // A file where the tars path must be a directory: the layout class (12).
    std::fs::write(node.path("tars"), b"a file").unwrap();
    let run = node.deploy(&package, &[]);
    assert_eq!(code(&run), 12, "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(error(&run)["kind"], "layout");
    std::fs::remove_file(node.path("tars")).unwrap();

    // No engine behind the socket: engine unreachable (3), after the layout is written.
    let run = node.deploy(
        &package,
        &["--docker-socket", node.path("no.sock").to_str().unwrap()],
    );
    assert_eq!(code(&run), 3, "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(error(&run)["exit_code"], 3);
}
