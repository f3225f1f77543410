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
use runtime::package::{Limits, PackageError, UnsafeEntry};
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

    /// Like [`Node::new`], with the tars path (and the log path in it) one directory deeper,
    /// in a directory named `dir`.
    fn with_dir(test: &str, dir: &str) -> Self {
        let mut node = Self::new(test);
        let root = Path::new(&node.tars_path).parent().unwrap().join(dir);
        node.tars_path = root.join("tars").display().to_string();
        node.log_path = root.join("tars/app_log").display().to_string();
        node
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
            limits: Limits::default(),
            restart_policy: None,
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
    // On the host network the adapter listens where the operator configured it, not on
    // every host interface (tarsnode writes `0.0.0.0`: issue 15 item 2).
    assert!(
        config.contains(&format!(
            "endpoint=tcp -h 127.0.0.1 -p {} -t 60000",
            node.port
        )),
        "{config}"
    );
    assert!(!config.contains("-h 0.0.0.0"), "{config}");
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

// ---------------------------------------------------------------------------------------------
// Issue 12: what a container (or a package) can make `deploy` do on the host.

/// Runs `script` with the busybox shell inside the running container `id`.
fn in_container(id: &str, script: &str) {
    let _ = testkit::docker::docker_ok(&["exec", id, "/bin/busybox", "sh", "-c", script]);
}

/// A host directory the attacks aim at, holding one file.
fn victim(dir: &Path) -> PathBuf {
    let victim = dir.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("precious"), "keep me").unwrap();
    victim
}

fn victim_untouched(victim: &Path) {
    let names: Vec<String> = std::fs::read_dir(victim)
        .unwrap_or_else(|e| panic!("{}: {e} (the victim was removed)", victim.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["precious"], "something was written into the victim");
    assert_eq!(
        std::fs::read_to_string(victim.join("precious")).unwrap(),
        "keep me"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_planted_bin_link_does_not_make_deploy_delete_its_target() {
    if !testkit::docker::engine_available(
        "container_planted_bin_link_does_not_make_deploy_delete_its_target",
    ) {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("plant-bin");
    let packages = tempfile::tempdir().unwrap();
    let victim = victim(packages.path());
    let v1 = package(packages.path(), &node.server, "1.0");
    let (_, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    // The container replaces `bin` with a link to a host directory (it only writes a name).
    in_container(
        &report.id,
        &format!(
            "cd {} && rm bin && /bin/busybox ln -s {} bin",
            node.server_dir().display(),
            victim.display()
        ),
    );
    let v2 = package(packages.path(), &node.server, "2.0");
    let result = prepare(&node.input(&v2, Target::Linux));
    victim_untouched(&victim);
    let error = result.unwrap_err();
    assert!(matches!(error, DeployError::Layout { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("/bin"), "{message}");
    assert!(message.contains("link"), "{message}");
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_planted_conf_link_gets_no_config_written_through_it() {
    if !testkit::docker::engine_available(
        "container_planted_conf_link_gets_no_config_written_through_it",
    ) {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("plant-conf");
    let packages = tempfile::tempdir().unwrap();
    let victim = victim(packages.path());
    let v1 = package(packages.path(), &node.server, "1.0");
    let (_, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    in_container(
        &report.id,
        &format!(
            "cd {} && rm -r conf && /bin/busybox ln -s {} conf",
            node.server_dir().display(),
            victim.display()
        ),
    );
    let result = prepare(&node.input(&v1, Target::Linux));
    victim_untouched(&victim);
    let error = result.unwrap_err();
    assert!(matches!(error, DeployError::Layout { .. }), "{error}");
    assert!(error.to_string().contains("/conf"), "{error}");
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_planted_version_dir_link_gets_no_script_written_through_it() {
    if !testkit::docker::engine_available(
        "container_planted_version_dir_link_gets_no_script_written_through_it",
    ) {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("plant-version");
    let packages = tempfile::tempdir().unwrap();
    let victim = victim(packages.path());
    let v1 = package(packages.path(), &node.server, "1.0");
    let (_, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    let version = std::fs::read_link(node.server_dir().join("bin")).unwrap();
    // The package directory `bin` points at becomes a link to the host directory.
    in_container(
        &report.id,
        &format!(
            "cd {} && mv {v} moved && /bin/busybox ln -s {} {v}",
            node.server_dir().display(),
            victim.display(),
            v = version.display()
        ),
    );
    // A native deploy rewrites the start script.
    let mut input = node.input(&v1, Target::Linux);
    input.mode = RunMode::Native;
    let result = prepare(&input);
    victim_untouched(&victim);
    let error = result.unwrap_err();
    assert!(matches!(error, DeployError::Layout { .. }), "{error}");
    assert!(
        error.to_string().contains(&*version.to_string_lossy()),
        "{error}"
    );
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_planted_temporary_file_link_is_not_followed() {
    if !testkit::docker::engine_available("container_planted_temporary_file_link_is_not_followed") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("plant-temp");
    let packages = tempfile::tempdir().unwrap();
    let victim = victim(packages.path());
    let v1 = package(packages.path(), &node.server, "1.0");
    let (_, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    // Every temporary name this process could use, and the `.bak` of the config.
    let pid = std::process::id();
    in_container(
        &report.id,
        &format!(
            "cd {dir} && for f in bin/tars_start.sh.tmp-{pid} bin/tars_start.sh.tmp \
             conf/{name}.config.conf.tmp-{pid} conf/{name}.config.conf.bak.tmp-{pid}; do \
             /bin/busybox ln -s {victim}/written $f; done",
            dir = node.server_dir().display(),
            name = node.name(),
            victim = victim.display()
        ),
    );
    // Native mode rewrites the script; a changed template rewrites the config.
    let mut input = node.input(&v1, Target::Linux);
    input.mode = RunMode::Native;
    input.node_inputs.adapters[0].threads = "2".into();
    let native = prepare(&input).unwrap();
    victim_untouched(&victim);
    assert!(matches!(native.script, FileAction::Replaced { .. }));
    assert!(matches!(native.config, FileAction::Replaced { .. }));
    // The files are where they belong, written as files.
    let script = node.server_dir().join("bin/tars_start.sh");
    assert!(std::fs::symlink_metadata(&script).unwrap().is_file());
    assert!(
        std::fs::read_to_string(&script)
            .unwrap()
            .contains(". /etc/profile")
    );
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_changed_inside_the_container_is_replaced_before_a_native_start() {
    if !testkit::docker::engine_available(
        "a_binary_changed_inside_the_container_is_replaced_before_a_native_start",
    ) {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("tamper");
    let packages = tempfile::tempdir().unwrap();
    let v1 = package(packages.path(), &node.server, "1.0");
    let (_, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    let binary = node.server_dir().join("bin").join(&node.server);
    let original = std::fs::read(&binary).unwrap();
    // The running binary cannot be written, but it can be replaced; and a library can be
    // dropped beside it (bin/ is on LD_LIBRARY_PATH).
    in_container(
        &report.id,
        &format!(
            "cd {dir}/bin && rm {server} && printf '#!/bin/sh\\necho pwned\\n' > {server} && \
             /bin/busybox chmod 4755 {server} && echo evil > libc.so.6",
            dir = node.server_dir().display(),
            server = node.server
        ),
    );
    let mut input = node.input(&v1, Target::Linux);
    input.mode = RunMode::Native;
    let native = prepare(&input).unwrap();
    assert!(
        matches!(native.bin, FileAction::Replaced { .. }),
        "{:?}",
        native.bin
    );
    assert_eq!(std::fs::read(&binary).unwrap(), original);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&binary).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert!(!node.server_dir().join("bin/libc.so.6").exists());
    drop(cleanup);
}

/// Issue 12 item 2 with item 1: a 46 KB package whose links pass a check that counts path
/// components: `l1/…/l20/s1 -> ../…/..` lands on the package root, and a link through it with
/// one `..` more climbs out. Named like deploy's temporary file (for every pid near ours), it
/// would make deploy write the start script, as root, wherever the link points.
#[test]
fn a_chained_link_escape_package_is_refused_and_writes_nothing() {
    let node = Node::new("chained-escape");
    let packages = tempfile::tempdir().unwrap();
    let victim = victim(packages.path());
    let path = packages.path().join("escape.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::best(),
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
    let deep: Vec<String> = (1..=20).map(|i| format!("l{i}")).collect();
    let ups = vec![".."; 20].join("/");
    let s1 = format!("{}/s1", deep.join("/"));
    append_long(&mut tar, &s1, tar::EntryType::Symlink, &ups);
    let escape = format!("{s1}/../{ups}{}/written", victim.display());
    let pid = std::process::id();
    for candidate in pid.saturating_sub(1000)..=pid + 1000 {
        append_long(
            &mut tar,
            &format!("tars_start.sh.tmp-{candidate}"),
            tar::EntryType::Symlink,
            &escape,
        );
    }
    tar.into_inner().unwrap().finish().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 64 * 1024, "the package is small: {size} bytes");
    let result = prepare(&node.input(&path, Target::Linux));
    victim_untouched(&victim);
    let error = result.unwrap_err();
    match &error {
        DeployError::Package(PackageError::Unsafe { reason, .. }) => {
            assert!(matches!(reason, UnsafeEntry::LinkOutside(_)), "{error}");
        }
        other => panic!("{other}"),
    }
    assert!(
        !Path::new(&node.tars_path).exists(),
        "something was written"
    );
}

/// Appends a link whose name or target may exceed the 100 bytes of a plain header.
fn append_long<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    kind: tar::EntryType,
    target: &str,
) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(0o777);
    header.set_size(0);
    tar.append_link(&mut header, name, target).unwrap();
}

#[test]
fn package_modes_are_normalised() {
    use std::os::unix::fs::PermissionsExt as _;
    let node = Node::new("modes");
    let packages = tempfile::tempdir().unwrap();
    let path = packages.path().join("modes.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    append(
        &mut tar,
        "pub/",
        tar::EntryType::Directory,
        0o1777,
        b"",
        None,
    );
    append(
        &mut tar,
        &node.server,
        tar::EntryType::Regular,
        0o6755,
        b"#!/bin/sh\n",
        None,
    );
    append(
        &mut tar,
        "pub/open",
        tar::EntryType::Regular,
        0o777,
        b"x",
        None,
    );
    append(
        &mut tar,
        "pub/group",
        tar::EntryType::Regular,
        0o2664,
        b"x",
        None,
    );
    tar.into_inner().unwrap().finish().unwrap();
    let mut input = node.input(&path, Target::Linux);
    input.mode = RunMode::Native;
    prepare(&input).unwrap();
    let bin = node.server_dir().join("bin");
    let mode = |p: &str| {
        std::fs::symlink_metadata(bin.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(&node.server), 0o755);
    assert_eq!(mode("pub"), 0o755);
    assert_eq!(mode("pub/open"), 0o755);
    assert_eq!(mode("pub/group"), 0o644);
}

/// A tgz that inflates far beyond its size (20 MiB of zeros in 20 KiB) is refused by the
/// default compression-ratio limit, before anything is written.
#[test]
fn a_package_inflating_beyond_the_ratio_limit_is_refused() {
    let node = Node::new("ratio");
    let packages = tempfile::tempdir().unwrap();
    let path = packages.path().join("bomb.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::best(),
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
    let zeros = vec![0_u8; 20 << 20];
    append(
        &mut tar,
        "zeros",
        tar::EntryType::Regular,
        0o644,
        &zeros,
        None,
    );
    tar.into_inner().unwrap().finish().unwrap();
    let error = prepare(&node.input(&path, Target::Linux)).unwrap_err();
    assert!(error.to_string().contains("compression ratio"), "{error}");
    assert!(
        !Path::new(&node.tars_path).exists(),
        "something was written"
    );
}

/// Entry names from the package reach the operator's terminal escaped.
#[test]
fn package_entry_names_are_escaped_in_errors() {
    let node = Node::new("escape-name");
    let packages = tempfile::tempdir().unwrap();
    let path = packages.path().join("esc.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    append(
        &mut tar,
        "../\x1b[2J\x1b]0;owned\x07",
        tar::EntryType::Regular,
        0o644,
        b"x",
        None,
    );
    tar.into_inner().unwrap().finish().unwrap();
    let error = prepare(&node.input(&path, Target::Linux)).unwrap_err();
    let message = error.to_string();
    assert!(
        !message.contains('\x1b') && !message.contains('\x07'),
        "{message:?}"
    );
    assert!(message.contains("\\x1b[2J"), "{message}");

    // The executable search names package files too.
    let path = packages.path().join("noexe.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    append(
        &mut tar,
        "Server\x1b[31m",
        tar::EntryType::Regular,
        0o644,
        b"x",
        None,
    );
    tar.into_inner().unwrap().finish().unwrap();
    let message = prepare(&node.input(&path, Target::Linux))
        .unwrap_err()
        .to_string();
    assert!(!message.contains('\x1b'), "{message:?}");
}

/// Issue 15 item 4: a repack of the same files (other times, other order) is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repack_of_the_same_files_is_unchanged() {
    if !testkit::docker::engine_available("a_repack_of_the_same_files_is_unchanged") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("repack");
    let packages = tempfile::tempdir().unwrap();
    let v1 = package(packages.path(), &node.server, "1.0");
    let (_, first) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    // The same two files, without the directory entry, in the other order, with times set.
    let repack = packages.path().join("repack.tgz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&repack).unwrap(),
        flate2::Compression::best(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, mode, data) in [
        (format!("{}/VERSION", node.server), 0o644, b"1.0\n".to_vec()),
        (
            format!("{}/{}", node.server, node.server),
            0o755,
            testkit::read(&testkit::docker::hello_service_binary()),
        ),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_mtime(1_234_567_890);
        header.set_uid(4242);
        tar.append_data(&mut header, &name, data.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let (again, same) = deploy(&rt, &node, &repack, Target::Linux, &cleanup).await;
    assert_eq!(again.bin, FileAction::Unchanged);
    assert_eq!(same.action, LaunchAction::Unchanged);
    assert_eq!(same.id, first.id);
    drop(cleanup);
}

/// Issue 12 item 8: paths with a space and `;` neither break the start script nor run the
/// command after the `;`, in the container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_with_spaces_and_semicolons_neither_break_nor_inject() {
    if !testkit::docker::engine_available(
        "paths_with_spaces_and_semicolons_neither_break_nor_inject",
    ) {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::with_dir("weird-path", "a b;touch INJECTED;c");
    let packages = tempfile::tempdir().unwrap();
    let v1 = package(packages.path(), &node.server, "1.0");
    let (_, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    assert_eq!(
        ask(node.port),
        format!("hello from {} version=1.0", node.name())
    );
    let injected = testkit::docker::docker(&["exec", &report.id, "test", "-e", "INJECTED"]);
    assert!(!injected.status.success(), "the `;` ran a command");
    drop(cleanup);
}

/// The native start's output file and pid file in the log directory are written by a shell
/// redirection (as root), which follows links: deploy refuses a link planted there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_planted_links_at_the_native_start_files_are_refused() {
    if !testkit::docker::engine_available(
        "container_planted_links_at_the_native_start_files_are_refused",
    ) {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let node = Node::new("plant-native");
    let packages = tempfile::tempdir().unwrap();
    let victim = victim(packages.path());
    let v1 = package(packages.path(), &node.server, "1.0");
    let (deployment, report) = deploy(&rt, &node, &v1, Target::Linux, &cleanup).await;
    in_container(
        &report.id,
        &format!(
            "cd {} && /bin/busybox ln -s {}/precious {}.out",
            deployment.layout.log_dir,
            victim.display(),
            node.name()
        ),
    );
    let mut input = node.input(&v1, Target::Linux);
    input.mode = RunMode::Native;
    let error = prepare(&input).unwrap_err();
    assert!(matches!(error, DeployError::Layout { .. }), "{error}");
    assert!(
        error.to_string().contains(&format!("{}.out", node.name())),
        "{error}"
    );
    victim_untouched(&victim);
    drop(cleanup);
}

/// `TARS-H001` in deploy: a value the start script takes raw holds shell syntax; the script
/// keeps upstream's meaning and the deployment says so.
#[test]
fn raw_script_values_with_shell_syntax_are_warned_about() {
    let mut node = Node::new("raw-values");
    let extra = parser::parse(
        b"<tars>\n<application>\n<server>\nenv=A=1;B=$(id)\n</server>\n</application>\n</tars>\n"
            .to_vec(),
    )
    .config;
    node.profile.join(&extra, true).unwrap();
    let packages = tempfile::tempdir().unwrap();
    let v1 = package(packages.path(), &node.server, "1.0");
    let mut input = node.input(&v1, Target::Linux);
    input.mode = RunMode::Native;
    let deployment = prepare(&input).unwrap();
    assert!(
        deployment
            .warnings
            .iter()
            .any(|w| w.starts_with("TARS-H001: `env`")),
        "{:?}",
        deployment.warnings
    );
    let script = std::fs::read_to_string(node.server_dir().join("bin/tars_start.sh")).unwrap();
    assert!(script.contains("export B=$(id)\n"), "{script}");
}
