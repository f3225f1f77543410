//! Helpers for tests that run against the real Docker engine: engine detection (skip
//! visibly, fail under `CI=true`), test images built from scratch (no registry can be
//! pulled from), Tars-style service directories, unique names and label-based cleanup.
//!
//! Images:
//! - [`base_image`]: a static busybox (`/bin/sh` and friends), like a Tars base image;
//! - [`hello_image`]: the same plus `/usr/local/bin/hello-service`, built statically from
//!   `examples/hello-service`.
//!
//! Both are imported with `docker import` under a tag derived from their content, so
//! repeated runs reuse them. Everything else a test makes carries the label
//! [`TEST_LABEL`]`=<run id>`; [`Cleanup`] removes exactly those containers.

#![allow(clippy::print_stderr)]

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::workspace_root;

/// The label every test container carries, with the run id as value.
pub const TEST_LABEL: &str = "tarsdock.test";

/// Where the static busybox comes from (Debian's `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// Busybox applets linked into the images.
const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "sleep", "touch", "mkdir", "ls", "rm", "date", "env", "true", "false",
    "readlink", "printf", "kill", "wc", "id", "test",
];

/// The engine socket tests use: `DOCKER_HOST` when it is `unix://…`, else the default.
#[must_use]
pub fn socket_path() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// Whether a Docker engine answers `/_ping` on [`socket_path`]. When none does, prints a
/// visible `SKIPPED` line and returns `false`.
///
/// # Panics
/// When no engine answers and `CI=true`: engine tests must not be skipped in CI.
#[must_use]
pub fn engine_available(test: &str) -> bool {
    static PING: OnceLock<Result<(), String>> = OnceLock::new();
    let result = PING.get_or_init(|| ping(&socket_path()));
    match result {
        Ok(()) => true,
        Err(reason) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: no Docker engine at {}: {reason}; required under CI=true \
                 (run .ci/setup-docker.sh)",
                socket_path().display()
            );
            eprintln!(
                "SKIPPED {test}: no Docker engine at {}: {reason}",
                socket_path().display()
            );
            false
        }
    }
}

fn ping(socket: &Path) -> Result<(), String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    if reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "unexpected reply: {}",
            reply.lines().next().unwrap_or("")
        ))
    }
}

/// A run id unique to this process and moment (`<pid>-<nanos>`), for names and labels.
#[must_use]
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// A unique container name for one test: `T<run id>.<test>` (a valid `App.Server`).
#[must_use]
pub fn unique_name(test: &str) -> String {
    let test: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("T{}.{test}", run_id().replace('-', ""))
}

/// A TCP port that was free a moment ago on 127.0.0.1.
///
/// # Panics
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Runs the `docker` CLI and returns its output (not checked).
///
/// # Panics
/// When the CLI cannot be started.
#[must_use]
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

/// Runs the `docker` CLI, asserting success, and returns its trimmed stdout.
///
/// # Panics
/// When the command fails.
#[must_use]
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes every container labelled `tarsdock.test=<run_id>` (and nothing else).
pub fn remove_labelled(run_id: &str) {
    let filter = format!("label={TEST_LABEL}={run_id}");
    let out = docker(&["ps", "-aq", "--filter", &filter]);
    let ids = String::from_utf8_lossy(&out.stdout);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        let _ = docker(&args);
    }
}

/// Removes the test's labelled containers when dropped (also when the test panics).
#[derive(Debug)]
pub struct Cleanup {
    pub run_id: String,
}

impl Cleanup {
    /// A fresh run id with its cleanup guard.
    #[must_use]
    pub fn new() -> Self {
        Self { run_id: run_id() }
    }

    /// The label pair `(tarsdock.test, <run id>)`.
    #[must_use]
    pub fn label(&self) -> (String, String) {
        (TEST_LABEL.to_owned(), self.run_id.clone())
    }
}

impl Default for Cleanup {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_labelled(&self.run_id);
    }
}

/// The statically linked `hello-service`, built once per process into its own target dir
/// (`$CARGO_TARGET_DIR/hello-static`, or `TARSDOCK_HELLO_TARGET_DIR`), so the
/// `+crt-static` RUSTFLAGS do not invalidate the shared build.
///
/// # Panics
/// When the build fails.
#[must_use]
pub fn hello_service_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_hello_service).clone()
}

fn build_hello_service() -> PathBuf {
    let root = workspace_root();
    let target_dir = std::env::var_os("TARSDOCK_HELLO_TARGET_DIR").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| root.join("target"), PathBuf::from)
                .join("hello-static")
        },
        PathBuf::from,
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = "x86_64-unknown-linux-gnu";
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--target", target])
        .args(["-p", "hello-service", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .stdin(Stdio::null())
        .status()
        .expect("start cargo to build hello-service");
    assert!(status.success(), "building the static hello-service failed");
    let binary = target_dir
        .join(target)
        .join("release")
        .join("hello-service");
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}

/// The base image: static busybox with applet links (`/bin/sh`, …), like a Tars base
/// image. Returns its tag.
///
/// # Panics
/// When busybox is missing (install `busybox-static`) or the import fails.
#[must_use]
pub fn base_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| import_image("tarsdock-test/base", &[]))
        .clone()
}

/// The base image plus `/usr/local/bin/hello-service`. Returns its tag.
///
/// # Panics
/// When the build or the import fails.
#[must_use]
pub fn hello_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let binary = hello_service_binary();
            import_image(
                "tarsdock-test/hello",
                &[(binary.as_path(), "usr/local/bin/hello-service")],
            )
        })
        .clone()
}

/// Builds a root filesystem (busybox + `extra` files) and imports it as `<repo>:<content
/// hash>`, unless that tag exists already.
fn import_image(repo: &str, extra: &[(&Path, &str)]) -> String {
    import_image_at(None, repo, extra)
}

/// A `docker` command for the engine at `host` (a socket path), or the default one.
pub(crate) fn docker_command(host: Option<&Path>) -> Command {
    let mut command = Command::new("docker");
    if let Some(host) = host {
        command.arg("-H").arg(format!("unix://{}", host.display()));
    }
    command
}

/// [`import_image`] into the engine at `host` (the default engine when `None`).
pub(crate) fn import_image_at(host: Option<&Path>, repo: &str, extra: &[(&Path, &str)]) -> String {
    import_image_with(host, repo, extra, &[])
}

/// The base image plus this host's glibc: the dynamic loader (at its multiarch path, with
/// `/lib64/ld-linux-x86-64.so.2` as a symbolic link to it, as Debian lays it out), `libc.so.6`,
/// `libm.so.6` and `libgcc_s.so.1`. A dynamically linked program built on this host can run
/// on it. Returns its tag.
///
/// # Panics
/// When a library is missing on this host or the import fails.
#[must_use]
pub fn glibc_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let multiarch = "lib/x86_64-linux-gnu";
            let files: Vec<(PathBuf, String)> = [
                "ld-linux-x86-64.so.2",
                "libc.so.6",
                "libm.so.6",
                "libgcc_s.so.1",
            ]
            .iter()
            .map(|lib| {
                (
                    PathBuf::from(format!("/{multiarch}/{lib}")),
                    format!("{multiarch}/{lib}"),
                )
            })
            .collect();
            let extra: Vec<(&Path, &str)> = files
                .iter()
                .map(|(p, d)| (p.as_path(), d.as_str()))
                .collect();
            import_image_with(
                None,
                "tarsdock-test/glibc",
                &extra,
                &[(
                    "lib64/ld-linux-x86-64.so.2",
                    "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                )],
            )
        })
        .clone()
}

/// [`import_image_at`] with symbolic links `(path in the image, target)` too.
fn import_image_with(
    host: Option<&Path>,
    repo: &str,
    extra: &[(&Path, &str)],
    links: &[(&str, &str)],
) -> String {
    let busybox = Path::new(BUSYBOX);
    assert!(
        busybox.is_file(),
        "{BUSYBOX} is missing: install Debian's busybox-static (.ci/setup-docker.sh does)"
    );
    let mut hasher = Sha256::new();
    hasher.update(crate::read(busybox));
    for (path, dest) in extra {
        hasher.update(dest.as_bytes());
        hasher.update(crate::read(path));
    }
    hasher.update(APPLETS.join(",").as_bytes());
    for (at, target) in links {
        hasher.update(at.as_bytes());
        hasher.update(target.as_bytes());
    }
    let digest = hasher.finalize();
    let mut tag = String::new();
    for byte in &digest[..8] {
        let _ = write!(tag, "{byte:02x}");
    }
    let reference = format!("{repo}:{tag}");
    let present = docker_command(host)
        .args(["image", "inspect", &reference])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return reference;
    }

    let staging = tempfile::tempdir().expect("staging dir");
    let rootfs = staging.path();
    for dir in ["bin", "tmp", "etc", "usr/local/bin"] {
        std::fs::create_dir_all(rootfs.join(dir)).expect("mkdir in rootfs");
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .expect("applet link");
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").expect("passwd");
    for (path, dest) in extra {
        if let Some(dir) = rootfs.join(dest).parent() {
            std::fs::create_dir_all(dir).expect("mkdir in rootfs");
        }
        std::fs::copy(path, rootfs.join(dest)).expect("copy into rootfs");
    }
    for (at, target) in links {
        if let Some(dir) = rootfs.join(at).parent() {
            std::fs::create_dir_all(dir).expect("mkdir in rootfs");
        }
        std::os::unix::fs::symlink(target, rootfs.join(at)).expect("link in rootfs");
    }

    let mut tar = Command::new("tar")
        .args(["-C"])
        .arg(rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tar");
    let tar_out = tar.stdout.take().expect("tar stdout");
    let import = docker_command(host)
        .args([
            "import",
            "--change",
            "LABEL tarsdock.test-image=1",
            "-",
            &reference,
        ])
        .stdin(tar_out)
        .output()
        .expect("start docker import");
    let tar_status = tar.wait().expect("wait for tar");
    assert!(tar_status.success(), "tar of the rootfs failed");
    assert!(
        import.status.success(),
        "docker import {reference} failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    reference
}

/// A Tars-style service laid out on the host the way tarsnode lays it out:
/// `<root>/tarsnode/data/<App.Server>/{bin,conf,data}` and `<root>/app_log`, with the
/// service config, `tars_start.sh` (running `hello-service` from the server dir's `bin`)
/// and a `tars_stop.sh` that records that it ran in `<root>/shared/stopped-by-script`.
#[derive(Debug)]
pub struct ServiceDir {
    _temp: tempfile::TempDir,
    pub root: PathBuf,
    pub app: String,
    pub server: String,
    /// `<root>/tarsnode/data/<App.Server>`.
    pub server_dir: PathBuf,
    /// `<root>/app_log`.
    pub log_dir: PathBuf,
    /// `<root>/shared`: a directory tests mount to see what the container wrote.
    pub shared_dir: PathBuf,
    pub port: u16,
}

impl ServiceDir {
    /// Lays out the service `name` (`App.Server`) listening on `host:port`.
    ///
    /// # Panics
    /// When the name has no `.`, or the files cannot be written.
    #[must_use]
    pub fn new(name: &str, host: &str, port: u16) -> Self {
        let (app, server) = name.split_once('.').expect("name is App.Server");
        let temp = tempfile::Builder::new()
            .prefix("tarsdock-svc-")
            .tempdir()
            .expect("service temp dir");
        let root = temp.path().to_path_buf();
        let server_dir = root.join("tarsnode/data").join(name);
        let log_dir = root.join("app_log");
        let shared_dir = root.join("shared");
        for dir in [
            server_dir.join("bin"),
            server_dir.join("conf"),
            server_dir.join("data"),
            log_dir.clone(),
            shared_dir.clone(),
        ] {
            std::fs::create_dir_all(&dir).expect("mkdir service dirs");
        }
        let service = Self {
            _temp: temp,
            root,
            app: app.to_owned(),
            server: server.to_owned(),
            server_dir,
            log_dir,
            shared_dir,
            port,
        };
        service.write_config(host, port);
        let bin = service.server_dir.join("bin");
        std::fs::copy(hello_service_binary(), bin.join("hello-service")).expect("copy binary");
        write_executable(
            &bin.join("tars_start.sh"),
            &format!(
                "#!/bin/sh\n\
                 export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:{exe}\n\
                 trap 'exit' SIGTERM SIGINT\n\
                 pid=0\n\n\
                 {exe}hello-service --config={conf}\n",
                exe = format!("{}/", bin.display()),
                conf = service.config_path().display(),
            ),
        );
        write_executable(
            &bin.join("tars_stop.sh"),
            &format!(
                "#!/bin/sh\necho \"stop script ran in $(readlink /proc/self/ns/pid)\" > {}/stopped-by-script\necho stop-script-output\n",
                service.shared_dir.display()
            ),
        );
        service
    }

    /// `App.Server`.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}.{}", self.app, self.server)
    }

    /// `<server dir>/conf/App.Server.config.conf`.
    #[must_use]
    pub fn config_path(&self) -> PathBuf {
        self.server_dir
            .join("conf")
            .join(format!("{}.config.conf", self.name()))
    }

    /// `<server dir>/bin/tars_start.sh`.
    #[must_use]
    pub fn start_script(&self) -> PathBuf {
        self.server_dir.join("bin/tars_start.sh")
    }

    /// `start <service> --image … --exe-path … --server-dir … --log-path …` as tarsnode calls
    /// the stand-in `tarsnode_docker`, then `extra`.
    #[must_use]
    pub fn tarsnode_start_args(&self, image: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "start".to_owned(),
            self.name(),
            "--image".into(),
            image.into(),
            "--exe-path".into(),
            format!("{}/bin/", self.server_dir.display()),
            "--server-dir".into(),
            format!("{}/", self.server_dir.display()),
            "--log-path".into(),
            format!("{}/", self.log_dir.display()),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    }

    /// `<server dir>/bin/tars_stop.sh`.
    #[must_use]
    pub fn stop_script(&self) -> PathBuf {
        self.server_dir.join("bin/tars_stop.sh")
    }

    /// The service log `hello-service` appends to.
    #[must_use]
    pub fn log_file(&self) -> PathBuf {
        self.log_dir
            .join(&self.app)
            .join(&self.server)
            .join(format!("{}.log", self.name()))
    }

    /// (Re)writes the service config for `host:port`.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write_config(&self, host: &str, port: u16) {
        let (app, server) = (&self.app, &self.server);
        let text = format!(
            "<tars>\n  <application>\n    <server>\n      app={app}\n      server={server}\n      \
             logpath={log}\n      <{app}.{server}.HelloObjAdapter>\n        \
             endpoint=tcp -h {host} -p {port} -t 60000\n        servant={app}.{server}.HelloObj\n      \
             </{app}.{server}.HelloObjAdapter>\n    </server>\n  </application>\n</tars>\n",
            log = self.log_dir.display(),
        );
        std::fs::write(self.config_path(), text).expect("write service config");
    }
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
}

/// Connects to `127.0.0.1:port`, retrying until `deadline` passes, and returns the greeting
/// line plus the replies to `requests` (one line each).
///
/// # Errors
/// The last connection or read error, once the deadline has passed.
pub fn converse(port: u16, requests: &[&str], deadline: Duration) -> std::io::Result<Vec<String>> {
    use std::io::{BufRead as _, BufReader};
    let started = std::time::Instant::now();
    loop {
        let attempt = (|| {
            let stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut writer = stream.try_clone()?;
            let mut reader = BufReader::new(stream);
            let mut lines = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line.is_empty() {
                return Err(std::io::Error::other(
                    "connection closed before the greeting",
                ));
            }
            lines.push(line.trim_end().to_owned());
            for request in requests {
                writeln!(writer, "{request}")?;
                let mut line = String::new();
                reader.read_line(&mut line)?;
                lines.push(line.trim_end().to_owned());
            }
            Ok(lines)
        })();
        match attempt {
            Ok(lines) => return Ok(lines),
            Err(e) if started.elapsed() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Where Debian's `docker-registry` package puts the registry binary.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// Whether a local registry can be run (`docker-registry` and `htpasswd` installed). When
/// not, prints a visible `SKIPPED` line and returns `false`.
///
/// # Panics
/// When they are missing and `CI=true`.
#[must_use]
pub fn registry_available(test: &str) -> bool {
    let htpasswd = Command::new("htpasswd")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if Path::new(REGISTRY_BINARY).is_file() && htpasswd {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {REGISTRY_BINARY} or htpasswd missing; required under CI=true \
         (Debian's docker-registry and apache2-utils; .ci/setup-docker.sh installs them)"
    );
    eprintln!("SKIPPED {test}: {REGISTRY_BINARY} or htpasswd missing");
    false
}

/// A registry from Debian's `docker-registry` package on a loopback port (Docker treats
/// `127.0.0.0/8` registries as insecure, so plain HTTP works). Killed when dropped.
#[derive(Debug)]
pub struct Registry {
    child: std::process::Child,
    /// `127.0.0.1:<port>`.
    pub address: String,
    _config: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry storing under `storage`; with `credentials`, it demands basic auth
    /// (htpasswd, bcrypt). Two registries may share one storage directory (one open, to
    /// push; one with auth, to pull).
    ///
    /// # Panics
    /// When it cannot be started or does not answer within 10 seconds.
    #[must_use]
    pub fn start(storage: &Path, credentials: Option<(&str, &str)>) -> Self {
        Self::start_in(storage, credentials, None)
    }

    /// [`Registry::start`] in the network namespace `netns` (`/proc/<pid>/ns/net`, e.g. a
    /// [`crate::daemon::PrivateDaemon`]'s), or the host's when `None`.
    ///
    /// # Panics
    /// When it cannot be started or does not answer within 10 seconds.
    #[must_use]
    pub fn start_in(
        storage: &Path,
        credentials: Option<(&str, &str)>,
        netns: Option<&Path>,
    ) -> Self {
        let config = tempfile::tempdir().expect("registry config dir");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {address}\n  secret: tarsdock-test\n",
            storage.display()
        );
        if let Some((user, password)) = credentials {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed");
            let file = config.path().join("htpasswd");
            std::fs::write(&file, out.stdout).expect("write htpasswd");
            let _ = write!(
                yaml,
                "auth:\n  htpasswd:\n    realm: tarsdock-test\n    path: {}\n",
                file.display()
            );
        }
        let file = config.path().join("config.yml");
        std::fs::write(&file, yaml).expect("write registry config");
        let mut command = match netns {
            Some(netns) => {
                let mut command = Command::new("nsenter");
                command
                    .arg(format!("--net={}", netns.display()))
                    .arg("--")
                    .arg(REGISTRY_BINARY);
                command
            }
            None => Command::new(REGISTRY_BINARY),
        };
        let child = command
            .arg("serve")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Self {
            child,
            address,
            _config: config,
        };
        let started = std::time::Instant::now();
        let answers = || match netns {
            None => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            Some(netns) => Command::new("nsenter")
                .arg(format!("--net={}", netns.display()))
                .args(["--", "bash", "-c"])
                .arg(format!("exec 3<>/dev/tcp/127.0.0.1/{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        };
        while !answers() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the registry on {} did not come up",
                registry.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Imports an image made of busybox plus `/payload` (`payload_bytes` bytes that depend on
/// `seed`), so its layer exists nowhere else and a pull really downloads it.
///
/// # Panics
/// When the import fails.
pub fn import_unique(reference: &str, seed: &str, payload_bytes: usize) {
    let staging = tempfile::tempdir().expect("staging dir");
    let rootfs = staging.path();
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir bin");
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .expect("applet link");
    }
    // Pseudo-random bytes (incompressible enough to show download progress).
    let mut payload = Vec::with_capacity(payload_bytes);
    let mut block = Sha256::digest(seed.as_bytes());
    while payload.len() < payload_bytes {
        block = Sha256::digest(block);
        payload.extend_from_slice(&block);
    }
    payload.truncate(payload_bytes);
    std::fs::write(rootfs.join("payload"), payload).expect("write payload");
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tar");
    let tar_out = tar.stdout.take().expect("tar stdout");
    let import = Command::new("docker")
        .args(["import", "-", reference])
        .stdin(tar_out)
        .output()
        .expect("start docker import");
    assert!(tar.wait().expect("wait for tar").success(), "tar failed");
    assert!(
        import.status.success(),
        "docker import {reference} failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
}

/// Pushes a local image to `registry` as `<registry>/<path>` with the `docker` CLI, then
/// removes the local tags (`local` too when `remove_local`), so the engine has to pull it.
/// Returns the pushed reference.
///
/// # Panics
/// When tagging or pushing fails.
#[must_use]
pub fn push(registry: &Registry, local: &str, path: &str, remove_local: bool) -> String {
    let reference = format!("{}/{path}", registry.address);
    let _ = docker_ok(&["tag", local, &reference]);
    let _ = docker_ok(&["push", &reference]);
    let _ = docker(&["rmi", &reference]);
    if remove_local {
        let _ = docker(&["rmi", local]);
    }
    reference
}

/// The filesystem path of a blob in a registry's storage directory.
#[must_use]
pub fn registry_blob(storage: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    storage
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2.min(hex.len())])
        .join(hex)
        .join("data")
}
