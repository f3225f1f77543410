//! A private Docker engine for tests that must restart or break an engine: its own `dockerd`
//! with its own socket, `--data-root`, `--exec-root` and `--pidfile` under a temporary
//! directory, no bridge and no iptables rules (`--bridge=none --iptables=false`), the `vfs`
//! storage driver (works on any filesystem, tmpfs included) and an empty config file (so the
//! host's `/etc/docker/daemon.json` does not apply).
//!
//! It runs in a network namespace of its own: a `dockerd` started with `--bridge=none`
//! *deletes* the `docker0` interface it finds (moby's `removeDefaultBridgeInterface`), which
//! in the host's namespace is the shared engine's bridge. The namespace is held by a
//! `sleep` started with `unshare --net` (loopback brought up), so it outlives restarts of
//! the daemon; its containers' "host" network is that namespace, and a [`crate::docker::Registry`]
//! started with [`PrivateDaemon::netns`] listens where the daemon can pull from it. The
//! shared engine is never touched.
//!
//! Needs root, `dockerd` (Debian's `docker.io`) and `unshare` (util-linux). Where one is
//! missing, [`private_daemon_available`] prints `SKIPPED`; under `CI=true` that is a
//! failure.

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::docker::{docker_command, hello_service_binary, import_image_at};

/// Whether a private engine can be started here (root and `dockerd`). When not, prints a
/// visible `SKIPPED` line and returns `false`.
///
/// # Panics
/// When it cannot and `CI=true`.
#[must_use]
pub fn private_daemon_available(test: &str) -> bool {
    let runs = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let dockerd = runs("dockerd") && runs("unshare") && runs("nsenter");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if dockerd && root {
        return true;
    }
    let why = if dockerd {
        "not root"
    } else {
        "dockerd, unshare or nsenter is not installed"
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: cannot start a private dockerd ({why}); required under CI=true"
    );
    eprintln!("SKIPPED {test}: cannot start a private dockerd ({why})");
    false
}

/// A private `dockerd`; stopped, cleaned and removed when dropped.
#[derive(Debug)]
pub struct PrivateDaemon {
    dir: tempfile::TempDir,
    /// The engine's socket.
    pub socket: PathBuf,
    data_root: PathBuf,
    exec_root: PathBuf,
    child: Option<Child>,
    /// Holds the network namespace.
    holder: Child,
}

impl PrivateDaemon {
    /// Starts an engine whose data root is in its own temporary directory.
    ///
    /// # Panics
    /// When it does not answer within 60 seconds.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with_data_root(None)
    }

    /// Starts an engine whose data root is `data_root` (e.g. a small tmpfs), or its own.
    ///
    /// # Panics
    /// When it does not answer within 60 seconds.
    #[must_use]
    pub fn start_with_data_root(data_root: Option<&Path>) -> Self {
        // Short paths: containerd's sockets live under the exec root (108-byte limit).
        let dir = tempfile::Builder::new()
            .prefix("tdpd-")
            .tempdir_in("/tmp")
            .expect("private daemon dir");
        let data_root = data_root.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("write daemon.json");
        let holder = Command::new("unshare")
            .args(["--net", "--", "sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .expect("start the network namespace holder");
        let mut daemon = Self {
            socket: dir.path().join("d.sock"),
            exec_root: dir.path().join("x"),
            data_root,
            dir,
            child: None,
            holder,
        };
        // unshare execs sleep once the namespace exists; wait for that, then bring up lo.
        let started = Instant::now();
        loop {
            let ours = std::fs::read_link(daemon.netns()).ok();
            let host = std::fs::read_link("/proc/self/ns/net").ok();
            if ours.is_some() && ours != host {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no network namespace"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let lo = daemon
            .in_netns("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip link set lo up");
        assert!(lo.success(), "cannot bring up lo in the private namespace");
        daemon.spawn();
        daemon
    }

    /// The daemon's data root.
    #[must_use]
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// The network namespace the daemon (and its host-network containers) live in.
    #[must_use]
    pub fn netns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }

    /// `program` to be run in the daemon's network namespace.
    #[must_use]
    pub fn in_netns(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", self.netns().display()))
            .arg("--")
            .arg(program);
        command
    }

    /// The `unix://` address of the socket.
    #[must_use]
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("dockerd.log"))
            .expect("dockerd log");
        // nsenter execs dockerd in the namespace: the child's pid is dockerd's.
        let child = self
            .in_netns("dockerd")
            .arg("--config-file")
            .arg(self.dir.path().join("daemon.json"))
            .arg("--host")
            .arg(self.host())
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--pidfile")
            .arg(self.dir.path().join("d.pid"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--storage-driver=vfs",
                "--log-level=warn",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the private dockerd did not answer within 60 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether it answers `docker version`.
    #[must_use]
    pub fn answers(&self) -> bool {
        self.socket.exists()
            && docker_command(Some(&self.socket))
                .args(["version", "--format", "{{.Server.Version}}"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// The daemon's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Kills `dockerd` with SIGKILL (a crash: its containers keep running in their shims)
    /// and waits for it and for the containerd it started, which dies with it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.wait_for_containerd_exit();
    }

    /// Waits (up to 10 s, then kills it) until the containerd this daemon started has
    /// exited, and removes its pid file: a new dockerd finding the pid of an exiting (or
    /// exited but not yet reaped) containerd would wait for it instead of starting its own.
    fn wait_for_containerd_exit(&self) {
        let started = Instant::now();
        while let Some(pid) = self.managed_containerd_pid() {
            if started.elapsed() > Duration::from_secs(10) {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                std::thread::sleep(Duration::from_millis(200));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.exec_root.join("containerd/containerd.pid"));
    }

    /// Stops `dockerd` with SIGTERM (it stops its containers) and waits up to 60 s, then
    /// kills it.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts `dockerd` again on the same directories (after [`Self::kill`] or
    /// [`Self::terminate`]).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the private dockerd is still running");
        self.spawn();
    }

    /// Runs the `docker` CLI against this engine (output not checked).
    #[must_use]
    pub fn docker(&self, args: &[&str]) -> Output {
        docker_command(Some(&self.socket))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
    }

    /// Runs the `docker` CLI against this engine, asserting success; its trimmed stdout.
    #[must_use]
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} on the private engine failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Imports the test base image (static busybox) into this engine; its tag.
    #[must_use]
    pub fn base_image(&self) -> String {
        import_image_at(Some(&self.socket), "tarsdock-test/base", &[])
    }

    /// Imports the test hello image into this engine; its tag.
    #[must_use]
    pub fn hello_image(&self) -> String {
        let binary = hello_service_binary();
        import_image_at(
            Some(&self.socket),
            "tarsdock-test/hello",
            &[(binary.as_path(), "usr/local/bin/hello-service")],
        )
    }

    /// Kills the containerd shims of this daemon that outlived it (when it could not be
    /// brought back to stop its containers), and their containers' first processes.
    fn kill_leftover_shims(&self) {
        let marker = format!("-address {}/", self.exec_root.display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        let processes: Vec<(String, String, String)> = entries
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_string_lossy().into_owned();
                let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                let ppid = stat
                    .rsplit_once(") ")?
                    .1
                    .split_whitespace()
                    .nth(1)?
                    .to_owned();
                let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                Some((pid, ppid, cmdline))
            })
            .collect();
        for (shim, _, cmdline) in &processes {
            if !(cmdline.contains("containerd-shim") && cmdline.contains(&marker)) {
                continue;
            }
            for (child, ppid, _) in &processes {
                if ppid == shim {
                    let _ = Command::new("kill").args(["-KILL", child]).status();
                }
            }
            let _ = Command::new("kill").args(["-KILL", shim]).status();
        }
    }

    /// The pid of the containerd this daemon started, while that process runs (not once it
    /// is a zombie).
    fn managed_containerd_pid(&self) -> Option<String> {
        let pid = std::fs::read_to_string(self.exec_root.join("containerd/containerd.pid")).ok()?;
        let pid = pid.trim().to_owned();
        let proc = Path::new("/proc").join(&pid);
        let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, Some('Z' | 'X') | None) {
            return None;
        }
        // The pid may have been reused: it is ours only if it names our exec root.
        let cmdline = std::fs::read(proc.join("cmdline")).ok()?;
        let ours =
            String::from_utf8_lossy(&cmdline).contains(&self.exec_root.display().to_string());
        ours.then_some(pid)
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        if self.child.is_none() {
            // Killed or terminated by the test: bring it back to clean its containers up.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.spawn())).is_err() {
                eprintln!("private dockerd did not come back for cleanup");
            }
        }
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.docker(&args);
            }
        }
        self.terminate();
        self.wait_for_containerd_exit();
        self.kill_leftover_shims();
        unmount_below(self.dir.path());
        unmount_below(&self.data_root);
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Unmounts everything mounted below `dir`, deepest first (network namespaces, …).
fn unmount_below(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(point)
            .stderr(Stdio::null())
            .status();
    }
}
