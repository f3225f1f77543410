//! Real-engine tests of the standalone node workflow: a tgz package of `hello-service` laid out
//! by `runtime::deploy::prepare` under a temporary tars path and launched in linux (host
//! network) and mac (bridge) mode; redeploys with a changed and an unchanged package; unsafe
//! packages refused with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lowering::ir::Target;
use lowering::lower::Policy;
use lowering::render::{AdapterInput, NodeInputs};
use runtime::deploy::{DeployError, DeployInput, Deployment, FileAction, prepare};
use runtime::package::{PackageError, UnsafeEntry};
use runtime::script::{RunMode, ServerType};
use runtime::{LaunchAction, LaunchOptions, LaunchReport, LaunchRequest};
use testkit::docker::Cleanup;

const DEADLINE: Duration = Duration::from_secs(20);

/// A service under a temporary tars path, with its own port.
struct Node {
    _temp: tempfile::TempDir,
    tars_path: String,
    log_path: String,
    app: String,
    server: String,
    port: u16,
    profile: parser::Config,
}

impl Node {
    fn new(test: &str) -> Self {
        let temp = tempfile::Builder::new()
            .prefix("tarsdock-deploy-")
            .tempdir()
            .unwrap();
        let name = testkit::docker::unique_name(test);
        let (app, server) = name.split_once('.').unwrap();
        let root = testkit::workspace_root().join("fixtures/deploy/hello");
        let template = parser::parse(testkit::read(&root.join("template.conf"))).config;
        let profile = parser::parse(testkit::read(&root.join("profile.conf"))).config;
        let mut merged = template;
        merged.join(&profile, true).unwrap();
        Self {
            tars_path: temp.path().join("tars").display().to_string(),
            log_path: temp.path().join("tars/app_log").display().to_string(),
            _temp: temp,
            app: app.to_owned(),
            // Server names are the executable's name: no `-`.
            server: server.replace('-', ""),
            port: testkit::docker::free_port(),
            profile: merged,
        }
    }

    fn name(&self) -> String {
        format!("{}.{}", self.app, self.server)
    }

    fn input(&self, package: &Path, target: Target) -> DeployInput<'_> {
        let adapter = format!("{}.HelloObjAdapter", self.name());
        DeployInput {
            app: self.app.clone(),
            server: self.server.clone(),
            node: "test-node".into(),
            package: package.to_path_buf(),
            profile: &self.profile,
            node_inputs: NodeInputs {
                container_mode: true,
                node_key: "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000".into(),
                local: None,
                adapters: vec![AdapterInput {
                    name: adapter,
                    configured_endpoint: Some(format!(
                        "tcp -h 127.0.0.1 -p {} -t 60000",
                        self.port
                    )),
                    endpoint: None,
                    allow: String::new(),
                    maxconns: "1000".into(),
                    protocol: "tars".into(),
                    queuecap: "1000".into(),
                    queuetimeout: "60000".into(),
                    servant: format!("{}.HelloObj", self.name()),
                    threads: "1".into(),
                }],
                macros: BTreeMap::from([
                    ("localip".to_owned(), "127.0.0.1".to_owned()),
                    ("enableset".to_owned(), "n".to_owned()),
                    ("setdivision".to_owned(), "NULL".to_owned()),
                ]),
            },
            image: testkit::docker::base_image(),
            server_type: ServerType::Cpp,
            mode: RunMode::Container,
            target,
            tars_path: self.tars_path.clone(),
            log_path: self.log_path.clone(),
            host_path: None,
            policy: Policy::default(),
        }
    }

    fn server_dir(&self) -> PathBuf {
        Path::new(&self.tars_path)
            .join("tarsnode/data")
            .join(self.name())
    }
}

/// A Tars-style package: `<Server>/<Server>` (the static hello-service) and `<Server>/VERSION`.
fn package(dir: &Path, server: &str, version: &str) -> PathBuf {
    let path = dir.join(format!("{server}-{version}.tgz"));
    let file = std::fs::File::create(&path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let binary = testkit::read(&testkit::docker::hello_service_binary());
    append(
        &mut tar,
        &format!("{server}/"),
        tar::EntryType::Directory,
        0o755,
        b"",
        None,
    );
    append(
        &mut tar,
        &format!("{server}/{server}"),
        tar::EntryType::Regular,
        0o755,
        &binary,
        None,
    );
    append(
        &mut tar,
        &format!("{server}/VERSION"),
        tar::EntryType::Regular,
        0o644,
        format!("{version}\n").as_bytes(),
        None,
    );
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// Appends an entry with a raw name (so unsafe names can be written too).
fn append<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
    link: Option<&str>,
) {
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        header.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    header.set_cksum();
    tar.append(&header, data).unwrap();
}

/// Deploys: lays out, labels the request for cleanup, launches.
async fn deploy(
    rt: &runtime::Runtime,
    node: &Node,
    package: &Path,
    target: Target,
    cleanup: &Cleanup,
) -> (Deployment, LaunchReport) {
    let deployment = prepare(&node.input(package, target)).unwrap();
    let mut request: LaunchRequest = deployment.request.clone().unwrap();
    let (key, value) = cleanup.label();
    request
        .body
        .labels
        .get_or_insert_with(Default::default)
        .insert(key, value);
    let options = LaunchOptions {
        stop_timeout: Some(Duration::from_secs(1)),
        ..LaunchOptions::default()
    };
    let report = rt.launch(&request, &options, &mut |_| {}).await.unwrap();
    (deployment, report)
}

fn ask(port: u16) -> String {
    let lines = testkit::docker::converse(port, &["hello"], DEADLINE).unwrap();
    lines[1].clone()
}

fn started_at(id: &str) -> String {
    testkit::docker::docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_deploy_redeploy_and_unchanged() {
    if !testkit::docker::engine_available("linux_deploy_redeploy_and_unchanged") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("deploy-linux");
    let packages = tempfile::tempdir().unwrap();
    let v1 = package(packages.path(), &node.server, "1.0");

    let (first, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    assert_eq!(report.action, LaunchAction::Created);
    assert_eq!(first.bin, FileAction::Created);
    assert_eq!(first.listen[0].address, format!("127.0.0.1:{}", node.port));
    let greeting = ask(node.port);
    assert_eq!(greeting, format!("hello from {} version=1.0", node.name()));

    // tarsnode's layout, the generated config and the start script.
    let server_dir = node.server_dir();
    for sub in ["bin/VERSION", "bin/tars_start.sh", "conf", "data"] {
        assert!(server_dir.join(sub).exists(), "{sub}");
    }
    let config =
        std::fs::read_to_string(server_dir.join(format!("conf/{}.config.conf", node.name())))
            .unwrap();
    assert!(config.contains(&format!(
        "endpoint=tcp -h 0.0.0.0 -p {} -t 60000",
        node.port
    )));
    assert!(config.contains("logLevel=INFO"), "{config}");
    let script = std::fs::read_to_string(server_dir.join("bin/tars_start.sh")).unwrap();
    assert!(script.starts_with("#!/bin/sh\nexport LD_LIBRARY_PATH=$LD_LIBRARY_PATH:"));
    let log = Path::new(&node.log_path)
        .join(&node.app)
        .join(&node.server)
        .join(format!("{}.log", node.name()));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("connection from"), "{logged}");

    // The same inputs again: nothing happens.
    let started = started_at(&report.id);
    let (again, same) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    assert_eq!(same.action, LaunchAction::Unchanged);
    assert_eq!(same.id, report.id);
    assert_eq!(started_at(&same.id), started);
    assert_eq!(again.bin, FileAction::Unchanged);
    assert_eq!(again.config, FileAction::Unchanged);
    assert_eq!(again.script, FileAction::Unchanged);

    // A new package: bin/ replaced, container replaced, new version answers.
    let v2 = package(packages.path(), &node.server, "2.0");
    let (second, replaced) = deploy(&rt, &node, &v2, Target::Linux, &cleanup).await;
    assert_eq!(replaced.action, LaunchAction::Replaced);
    assert_ne!(replaced.id, report.id);
    assert!(matches!(second.bin, FileAction::Replaced { .. }));
    assert_eq!(second.config, FileAction::Unchanged);
    assert_eq!(
        ask(node.port),
        format!("hello from {} version=2.0", node.name())
    );
    // Only the current package's directory is left beside bin/.
    let versions: Vec<String> = std::fs::read_dir(&server_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".bin"))
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_deploy_publishes_the_adapter_on_loopback() {
    if !testkit::docker::engine_available("mac_deploy_publishes_the_adapter_on_loopback") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("deploy-mac");
    let packages = tempfile::tempdir().unwrap();
    let v1 = package(packages.path(), &node.server, "1.0");
    let (deployment, report) = deploy(&rt, &node, &v1, Target::Mac, &cleanup).await;
    assert_eq!(report.action, LaunchAction::Created);
    let mode =
        testkit::docker::docker_ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &report.id]);
    assert_eq!(mode, "bridge");
    assert_eq!(
        deployment.listen[0].address,
        format!("127.0.0.1:{}", node.port)
    );
    assert_eq!(
        ask(node.port),
        format!("hello from {} version=1.0", node.name())
    );
    // Docker Desktop rewrite: the node is reached through host.docker.internal.
    let config = std::fs::read_to_string(&deployment.layout.config_file).unwrap();
    assert!(config.contains("host.docker.internal"), "{config}");
    drop(cleanup);
}

/// An entry to write raw: name, type, link target.
type RawEntry<'a> = (&'a str, tar::EntryType, Option<&'a str>);

#[test]
fn unsafe_packages_are_refused_and_nothing_is_written() {
    let node = Node::new("deploy-unsafe");
    let packages = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<RawEntry<'_>>, UnsafeEntry)> = vec![
        (
            "dotdot",
            vec![("../evil", tar::EntryType::Regular, None)],
            UnsafeEntry::ParentDir,
        ),
        (
            "absolute",
            vec![("/tmp/evil", tar::EntryType::Regular, None)],
            UnsafeEntry::Absolute,
        ),
        (
            "link-out",
            vec![("up", tar::EntryType::Symlink, Some("../../../etc"))],
            UnsafeEntry::LinkOutside("../../../etc".into()),
        ),
        (
            "through-link",
            vec![
                ("dir", tar::EntryType::Symlink, Some("sub")),
                ("dir/x", tar::EntryType::Regular, None),
            ],
            UnsafeEntry::BelowLink("dir".into()),
        ),
    ];
    for (label, entries, expected) in cases {
        let path = packages.path().join(format!("{label}.tgz"));
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        append(
            &mut tar,
            &node.server,
            tar::EntryType::Regular,
            0o755,
            b"#!/bin/sh\n",
            None,
        );
        for (name, kind, link) in entries {
            append(&mut tar, name, kind, 0o644, b"x", link);
        }
        tar.into_inner().unwrap().finish().unwrap();
        let error = prepare(&node.input(&path, Target::Linux)).unwrap_err();
        match &error {
            DeployError::Package(PackageError::Unsafe { reason, .. }) => {
                assert_eq!(reason, &expected, "{label}");
            }
            other => panic!("{label}: {other}"),
        }
        assert!(
            !Path::new(&node.tars_path).exists(),
            "{label}: something was written"
        );
    }

    // Not a tgz, and a tgz without the server's executable.
    let text = packages.path().join("plain.tgz");
    std::fs::write(&text, "not a package").unwrap();
    let error = prepare(&node.input(&text, Target::Linux)).unwrap_err();
    assert!(
        matches!(error, DeployError::Package(PackageError::NotGzip { .. })),
        "{error}"
    );
    let path = packages.path().join("noexe.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    append(
        &mut tar,
        "README",
        tar::EntryType::Regular,
        0o644,
        b"x",
        None,
    );
    tar.into_inner().unwrap().finish().unwrap();
    let error = prepare(&node.input(&path, Target::Linux)).unwrap_err();
    assert!(matches!(error, DeployError::NoExecutable { .. }), "{error}");
    assert!(error.to_string().contains(&node.server), "{error}");
    assert!(!Path::new(&node.tars_path).exists());
}

#[test]
fn an_unwritable_directory_is_a_layout_error() {
    let node = Node::new("deploy-readonly");
    let packages = tempfile::tempdir().unwrap();
    let v1 = package(packages.path(), &node.server, "1.0");
    // A file where the tars path's data directory must go.
    std::fs::create_dir_all(&node.tars_path).unwrap();
    std::fs::write(Path::new(&node.tars_path).join("tarsnode"), "a file").unwrap();
    let error = prepare(&node.input(&v1, Target::Linux)).unwrap_err();
    assert!(matches!(error, DeployError::Layout { .. }), "{error}");
    assert!(error.to_string().contains("tarsnode"), "{error}");
}
