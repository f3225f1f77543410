//! tarsnode's start of a service (`CommandStart::startContainer`, made by `tarsnode_docker`
//! on upstream's own `TC_Docker`), straight to the engine and through the front, in one run
//! (a benchmark, not a test):
//!
//! - *stopped*: the service is not running (direct: no container, upstream's `AutoRemove`
//!   and `checkPid` removed it; front: the container kept stopped by the front's `DELETE`);
//! - *running*: the service runs (tarsnode's `sh tars_start.sh` as PID 1, which defers
//!   SIGTERM while its foreground server runs, as upstream's script does).
//!
//! Wall time of the whole `tarsnode_docker start` (the node's view: every call, connection
//! and answer). Direct needs the stand-in's `--unprivileged` aid: the node's `Privileged:
//! true` cannot start on this machine's engine.
//!
//! Run with `cargo bench -p front --bench tarsnode_start`; `TARSDOCK_BENCH_ITERS` sets the
//! iterations (default 5; the direct start of a running service, about 60 s each, runs
//! `min(iters, 2)` times). Prints a Markdown table (median, min, max in milliseconds).
//! Containers are removed at the end (by their names).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use front::{Front, FrontConfig, Limits, PlanSettings, TargetChoice};
use lowering::ir::Target;
use runtime::EngineAddress;
use testkit::docker::{ServiceDir, base_image, docker, engine_available, free_port, unique_name};

fn main() {
    if !engine_available("bench tarsnode_start") {
        return;
    }
    let tarsnode = std::env::var_os("TARSDOCK_TARSNODE_DOCKER")
        .map_or_else(
            || testkit::workspace_root().join("../shared/third-party/tarsnode-docker"),
            PathBuf::from,
        )
        .join("tarsnode_docker");
    if !tarsnode.is_file() {
        eprintln!(
            "SKIPPED bench tarsnode_start: {} not found",
            tarsnode.display()
        );
        return;
    }
    let iterations: usize = std::env::var("TARSDOCK_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let image = base_image();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("front.sock");
    let engine = testkit::docker::socket_path();
    let _front = serve_in_background(&socket, &engine, dir.path());

    let direct_service = ServiceDir::new(&unique_name("bench-direct"), "127.0.0.1", free_port());
    let front_service = ServiceDir::new(&unique_name("bench-front"), "127.0.0.1", free_port());
    let node = |socket: &Path, args: &[String]| -> Duration {
        let started = Instant::now();
        let out = Command::new(&tarsnode)
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            out.status.success(),
            "tarsnode_docker {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        elapsed
    };
    let start = |service: &ServiceDir, extra: &[&str]| service.tarsnode_start_args(&image, extra);
    let stop = |service: &ServiceDir| vec!["stop".to_owned(), service.name()];

    let mut rows: Vec<(&str, Vec<Duration>)> = Vec::new();

    // Direct, stopped: stop (AutoRemove removes it), then time the start.
    let direct_start = start(&direct_service, &["--unprivileged"]);
    let mut times = Vec::new();
    for _ in 0..iterations {
        let _ = node(&engine, &stop(&direct_service));
        // AutoRemove deletes the stopped container asynchronously; a start that comes too
        // early fails with a name conflict (an upstream race the front's kept containers do
        // not have). Wait until it is gone, untimed.
        wait_absent(&direct_service.name());
        times.push(node(&engine, &direct_start));
    }
    rows.push(("direct to the engine, service stopped", times));

    // Direct, running.
    let mut times = Vec::new();
    for _ in 0..iterations.min(2) {
        times.push(node(&engine, &direct_start));
    }
    rows.push(("direct to the engine, service running", times));
    let _ = docker(&["rm", "-f", &direct_service.name()]);

    // Front, stopped (the container kept by the front is started again).
    let front_start = start(&front_service, &[]);
    let _ = node(&socket, &front_start);
    let mut times = Vec::new();
    for _ in 0..iterations {
        let _ = node(&socket, &stop(&front_service));
        times.push(node(&socket, &front_start));
    }
    rows.push(("through the front, service stopped", times));

    // Front, running.
    let mut times = Vec::new();
    for _ in 0..iterations {
        times.push(node(&socket, &front_start));
    }
    rows.push(("through the front, service running", times));
    let _ = docker(&["rm", "-f", &front_service.name()]);

    println!("| tarsnode `start` | n | median ms | min ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (what, mut times) in rows {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {what} | {} | {:.0} | {:.0} | {:.0} |",
            times.len(),
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
}

/// Waits until the engine has no container `name`.
fn wait_absent(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while docker(&["inspect", name]).status.success() {
        assert!(Instant::now() < deadline, "{name} was never removed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The front, serving on its own thread for the rest of the process.
fn serve_in_background(socket: &Path, engine: &Path, dir: &Path) -> std::thread::JoinHandle<()> {
    let config = FrontConfig {
        listen: socket.to_path_buf(),
        group: None,
        engine: EngineAddress::Unix(engine.to_path_buf()),
        engine_timeout: Duration::from_secs(120),
        connect_timeout: Duration::from_secs(5),
        pull_timeout: Duration::from_secs(300),
        lock_dir: dir.join("locks"),
        lock_timeout: Duration::from_secs(45),
        plan: PlanSettings {
            target: TargetChoice::Fixed(Target::Linux),
            tars_path: None,
            host_path: None,
            node: "bench".into(),
            allow: lowering::policy::Allow::NONE,
        },
        limits: Limits::default(),
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let front = Front::bind(config).await.unwrap();
            ready_tx.send(()).unwrap();
            front.serve(std::future::pending()).await;
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    thread
}
