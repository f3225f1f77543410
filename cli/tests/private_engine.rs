//! The engine commands against a private `dockerd` started by the test (its own socket, data
//! root, exec root, pid file and network namespace: `testkit::daemon`), which the test may
//! kill, restart or starve of disk — never the shared engine:
//! - the daemon killed (SIGKILL) and started again in the middle of a launch, a stop and an
//!   image sync: the interrupted command ends (no hang, no panic) and the next one converges;
//! - a full disk while pulling: a clear image error, not a hang;
//! - 1 GiB of real container logs streamed by `logs` in bounded memory (long: opt-in with
//!   `TARSDOCK_LONG_TESTS=1`; the fake-engine version runs always, in `runtime_faults.rs`).
//!
//! These run in CI (a private daemon starts in about two seconds; each test needs one).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::daemon::{PrivateDaemon, private_daemon_available};
use testkit::docker::{Registry, docker, import_unique, push, registry_available, unique_name};
use testkit::output::{
    code, count_output_and_peak_rss, engine_command, json_out, stderr, wait_bounded,
};

/// How long a command may run before the test calls it hung.
const HANG: Duration = Duration::from_secs(120);

fn tarsdock(daemon: &PrivateDaemon, locks: &Path, args: &[&str]) -> Command {
    engine_command(env!("CARGO_BIN_EXE_tarsdock"), &daemon.socket, locks, args)
}

fn wait_guarded(child: Child) -> Output {
    wait_bounded(child, HANG)
}

fn run(daemon: &PrivateDaemon, locks: &Path, args: &[&str]) -> Output {
    wait_guarded(
        tarsdock(daemon, locks, args)
            .spawn()
            .expect("start tarsdock"),
    )
}

/// A request for `name` running `script` under init in `image`, with a `StopTimeout`.
fn shell_request(name: &str, image: &str, script: &str, stop_timeout: i64) -> Value {
    let (app, server) = name.split_once('.').unwrap();
    json!({
        "name": name, "app": app, "server": server, "node": "private-node", "image": image,
        "body": {
            "Image": image,
            "Entrypoint": ["/bin/sh", "-c", script],
            "StopTimeout": stop_timeout,
            "HostConfig": {"Init": true, "NetworkMode": "host"},
        },
    })
}

fn write(dir: &Path, value: &Value) -> String {
    let path = dir.join(format!("{}.json", unique_name("r")));
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.display().to_string()
}

/// Runs `launch -v` and, when it prints a line starting with `marker`, kills the daemon and
/// starts it again; returns the launch's output (it must end).
fn launch_across_a_restart(
    daemon: &mut PrivateDaemon,
    locks: &Path,
    file: &str,
    marker: &str,
) -> (Output, String) {
    let mut child = tarsdock(
        daemon,
        locks,
        &["launch", "-v", "--request", file, "--engine-timeout", "20"],
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        let hit = line.starts_with(marker);
        seen.push(line);
        if hit {
            daemon.kill();
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.starts_with(marker)),
        "never reached `{marker}`: {seen:?}"
    );
    daemon.start_again();
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let out = wait_guarded(child);
    seen.extend(rest.join().unwrap());
    assert_ne!(code(&out), 101, "panicked: {seen:#?}");
    (out, seen.last().cloned().unwrap_or_default())
}

fn assert_running_alone(daemon: &PrivateDaemon, locks: &Path, file: &str, name: &str) {
    let out = run(daemon, locks, &["launch", "--request", file, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = json_out(&run(daemon, locks, &["status", name, "--json"]));
    assert_eq!(status["state"], "running", "{status}");
    let all = daemon.docker_ok(&["ps", "-aq", "--filter", &format!("name=^/{name}$")]);
    assert_eq!(all.lines().count(), 1, "{all}");
}

#[test]
fn a_daemon_restart_in_the_middle_of_a_launch_is_repaired() {
    if !private_daemon_available("a_daemon_restart_in_the_middle_of_a_launch_is_repaired") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let mut daemon = PrivateDaemon::start();
    let image = daemon.base_image();
    for marker in ["creating", "starting"] {
        let name = unique_name(&format!("restart-{marker}"));
        let file = write(work.path(), &shell_request(&name, &image, "sleep 3600", 2));
        let (out, said) = launch_across_a_restart(&mut daemon, &locks, &file, marker);
        eprintln!(
            "launch interrupted at `{marker}`: exit {}: {said}",
            code(&out)
        );
        assert_running_alone(&daemon, &locks, &file, &name);
    }
}

#[test]
fn a_daemon_restart_in_the_middle_of_a_stop_is_repaired() {
    if !private_daemon_available("a_daemon_restart_in_the_middle_of_a_stop_is_repaired") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let mut daemon = PrivateDaemon::start();
    let image = daemon.base_image();
    let name = unique_name("restart-stop");
    // Takes its time on SIGTERM (its grace period is 30 s).
    let file = write(
        work.path(),
        &shell_request(
            &name,
            &image,
            "trap 'sleep 20; exit 0' TERM; while true; do sleep 1; done",
            30,
        ),
    );
    let out = run(&daemon, &locks, &["launch", "--request", &file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stop = tarsdock(&daemon, &locks, &["stop", &name, "--engine-timeout", "10"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    daemon.kill();
    daemon.start_again();
    let out = wait_guarded(stop);
    assert_ne!(code(&out), 101, "{}", stderr(&out));
    eprintln!(
        "stop interrupted: exit {}: {}",
        code(&out),
        stderr(&out).trim()
    );
    // The next stop finishes the job.
    let out = run(
        &daemon,
        &locks,
        &["stop", &name, "--timeout", "1", "--json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = json_out(&run(&daemon, &locks, &["status", &name, "--json"]));
    assert_eq!(status["state"], "exited", "{status}");
}

/// Pushes a fresh image with `payload` bytes through a registry on the host, and serves the
/// same storage from a registry in the private daemon's network namespace; the reference
/// the private daemon pulls.
fn publish_for(daemon: &PrivateDaemon, storage: &Path, payload: usize) -> (Registry, String) {
    let open = Registry::start(storage, None);
    let local = format!("tarsdock-test/private:{}", unique_name("p").to_lowercase());
    import_unique(&local, &local, payload);
    let pushed = push(&open, &local, "tarsdock/private:1", true);
    let _ = docker(&["rmi", &pushed]);
    drop(open);
    let inside = Registry::start_in(storage, None, Some(&daemon.netns()));
    let reference = format!("{}/tarsdock/private:1", inside.address);
    (inside, reference)
}

#[test]
fn a_daemon_restart_in_the_middle_of_an_image_sync_is_repaired() {
    if !private_daemon_available("a_daemon_restart_in_the_middle_of_an_image_sync_is_repaired")
        || !registry_available("a_daemon_restart_in_the_middle_of_an_image_sync_is_repaired")
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let storage = work.path().join("registry");
    let mut daemon = PrivateDaemon::start();
    let (_registry, reference) = publish_for(&daemon, &storage, 96 << 20);
    let manifest = work.path().join("images.toml");
    std::fs::write(&manifest, format!("[[image]]\nimage = \"{reference}\"\n")).unwrap();
    let manifest = manifest.display().to_string();
    let sync = tarsdock(&daemon, &locks, &["image", "sync", &manifest, "--json"])
        .spawn()
        .unwrap();
    // Kill once the layer download is under way.
    let started = Instant::now();
    while !daemon_is_pulling(&daemon) {
        assert!(started.elapsed() < HANG, "the pull never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.kill();
    daemon.start_again();
    let out = wait_guarded(sync);
    assert_ne!(code(&out), 101, "{}", stderr(&out));
    assert_ne!(code(&out), 0, "the interrupted sync cannot have succeeded");
    let first = json_out(&out);
    assert_eq!(first["images"][0]["action"], "failed", "{first}");
    eprintln!("sync interrupted: {}", first["images"][0]["result"]);
    let out = run(&daemon, &locks, &["image", "sync", &manifest, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = json_out(&out);
    assert_eq!(second["images"][0]["action"], "pulled", "{second}");
}

/// Whether the private daemon is downloading a layer (its `tmp` holds the download).
fn daemon_is_pulling(daemon: &PrivateDaemon) -> bool {
    std::fs::read_dir(daemon.data_root().join("tmp"))
        .is_ok_and(|entries| entries.flatten().next().is_some())
}

/// A tmpfs of `megabytes` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tdfull-")
            .tempdir_in("/tmp")
            .unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs");
        Self { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_while_pulling_is_an_image_error() {
    if !private_daemon_available("a_full_disk_while_pulling_is_an_image_error")
        || !registry_available("a_full_disk_while_pulling_is_an_image_error")
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let storage = work.path().join("registry");
    // Dropped in reverse order: the daemon first, then the filesystem under it.
    let disk = Tmpfs::mount(48);
    let daemon = PrivateDaemon::start_with_data_root(Some(&disk.dir.path().join("docker")));
    let (_registry, reference) = publish_for(&daemon, &storage, 96 << 20);

    let out = run(&daemon, &locks, &["image", "pull", &reference, "--json"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let error = json_out(&out);
    assert_eq!(error["error"]["kind"], "image-unavailable", "{error}");
    assert!(
        stderr(&out).contains("no space left on device"),
        "{}",
        stderr(&out)
    );

    // A launch that needs it says so too, and leaves nothing behind.
    let name = unique_name("fulldisk");
    let file = write(
        work.path(),
        &shell_request(&name, &reference, "sleep 3600", 2),
    );
    let out = run(&daemon, &locks, &["launch", "--request", &file]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no space left on device"),
        "{}",
        stderr(&out)
    );
    let status = json_out(&run(&daemon, &locks, &["status", &name, "--json"]));
    assert_eq!(status["state"], "absent");
    drop(daemon);
}

#[test]
fn logs_of_a_gigabyte_from_a_real_container_stream_in_bounded_memory() {
    if std::env::var("TARSDOCK_LONG_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "SKIPPED logs_of_a_gigabyte_from_a_real_container_stream_in_bounded_memory: \
             long (writes 1 GiB of container logs); set TARSDOCK_LONG_TESTS=1"
        );
        return;
    }
    if !private_daemon_available("logs_of_a_gigabyte_from_a_real_container") {
        return;
    }
    const LINE: usize = 1024;
    const LINES: usize = 1 << 20; // 1 GiB
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let daemon = PrivateDaemon::start();
    let image = daemon.base_image();
    let name = unique_name("biglogs");
    let script = format!(
        "/bin/busybox yes $(/bin/busybox printf '%0{}d' 0) | /bin/busybox head -n {LINES}; \
         echo done >&2; sleep 3600",
        LINE - 1
    );
    let file = write(work.path(), &shell_request(&name, &image, &script, 2));
    let out = run(&daemon, &locks, &["launch", "--request", &file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Wait until the container has written everything.
    let started = Instant::now();
    loop {
        let out = daemon.docker(&["logs", "--tail", "1", &name]);
        if String::from_utf8_lossy(&out.stderr).contains("done") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1800), "never done");
        std::thread::sleep(Duration::from_secs(1));
    }
    let child = tarsdock(&daemon, &locks, &["logs", &name]).spawn().unwrap();
    let (total, peak_kib, out) = count_output_and_peak_rss(child, HANG * 15);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(total, LINE * LINES, "every byte came through");
    eprintln!(
        "logs of 1 GiB from a real container: peak RSS {} MiB in {:.1}s",
        peak_kib / 1024,
        started.elapsed().as_secs_f64()
    );
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB: not streamed"
    );
}
