//! Launch latency against the real engine (a benchmark, not a test): tarsdock's runtime
//! versus the same create+start as plain HTTP on the socket and as `docker run -d`, plus
//! the relaunch of an unchanged service (running: a no-op; stopped: a start), a restart,
//! and `stop` with the planned grace period (the container's `StopTimeout`) beside
//! `docker stop` and the raw `POST /stop`, for a service that exits on SIGTERM and one that
//! ignores it (there the grace period is the time).
//!
//! Run with `cargo bench -p runtime --bench launch`; `TARSDOCK_BENCH_ITERS` sets the
//! iterations per scenario (default 20), `TARSDOCK_BENCH_STOP_ITERS` those of the stops of
//! a service that ignores SIGTERM (default 5; each takes its grace period). Prints a
//! Markdown table (median, p90, min, mean in milliseconds). Every container carries
//! `tarsdock.test=<run id>` and is removed at the end.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use runtime::models::{ContainerCreateBody, HostConfig};
use runtime::{
    EngineAddress, LaunchAction, LaunchOptions, LaunchRequest, Runtime, RuntimeOptions, StopOptions,
};
use testkit::docker::{Cleanup, TEST_LABEL, base_image, engine_available, socket_path};

fn main() {
    if !engine_available("bench launch") {
        return;
    }
    let iterations: usize = std::env::var("TARSDOCK_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let cleanup = Cleanup::new();
    let image = base_image();
    let locks = tempfile::tempdir().unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = tokio
        .block_on(Runtime::connect(
            &EngineAddress::Unix(socket_path()),
            RuntimeOptions {
                lock_dir: locks.path().to_path_buf(),
                ..RuntimeOptions::default()
            },
        ))
        .unwrap();
    let api = rt.api_version();
    let body = |_name: &str| ContainerCreateBody {
        image: Some(image.clone()),
        entrypoint: Some(vec!["/bin/sleep".into(), "3600".into()]),
        labels: Some(HashMap::from([(
            TEST_LABEL.to_owned(),
            cleanup.run_id.clone(),
        )])),
        host_config: Some(HostConfig {
            init: Some(true),
            network_mode: Some("host".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = |name: &str| LaunchRequest {
        name: name.to_owned(),
        app: "Bench".into(),
        server: name.to_owned(),
        node: "bench".into(),
        image: image.clone(),
        expected_image_id: None,
        plan_hash: runtime::plan_hash(&body(name)),
        body: body(name),
        mounts: vec![],
        ports: vec![],
        executable: None,
    };
    let options = LaunchOptions::default();
    let mut rows: Vec<(String, Vec<Duration>)> = Vec::new();
    let names = |prefix: &str| -> Vec<String> {
        (0..iterations)
            .map(|i| format!("Bench.{prefix}{}{i}", cleanup.run_id.replace('-', "")))
            .collect()
    };

    // 1. tarsdock runtime: lock, image inspect, container inspect, create, start, inspect.
    let mut samples = Vec::new();
    for name in names("rt") {
        let request = request(&name);
        let started = Instant::now();
        let report = tokio
            .block_on(rt.launch(&request, &options, &mut |_| {}))
            .unwrap();
        samples.push(started.elapsed());
        assert_eq!(report.action, LaunchAction::Created);
    }
    rows.push(("tarsdock `Runtime::launch` (new container)".into(), samples));

    // 2. Plain HTTP/1.1 on the socket, one kept-alive connection: create + start only.
    let mut http = Http::connect();
    let mut samples = Vec::new();
    for name in names("http") {
        let json = serde_json::to_vec(&body(&name)).unwrap();
        let started = Instant::now();
        let created = http.request(
            "POST",
            &format!("/v{api}/containers/create?name={name}"),
            &json,
        );
        assert_eq!(created.0, 201, "{}", created.1);
        let started_reply = http.request("POST", &format!("/v{api}/containers/{name}/start"), b"");
        samples.push(started.elapsed());
        assert_eq!(started_reply.0, 204, "{}", started_reply.1);
    }
    rows.push(("plain HTTP on the socket (create + start)".into(), samples));

    // 3. The docker CLI: one `docker run -d` per container.
    let label = format!("{TEST_LABEL}={}", cleanup.run_id);
    let mut samples = Vec::new();
    for name in names("cli") {
        let started = Instant::now();
        let status = Command::new("docker")
            .args([
                "run",
                "-d",
                "--init",
                "--net",
                "host",
                "--name",
                &name,
                "--label",
                &label,
                "--entrypoint",
                "/bin/sleep",
                &image,
                "3600",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        samples.push(started.elapsed());
        assert!(status.success());
    }
    rows.push(("`docker run -d` (CLI process)".into(), samples));

    // 4. Relaunch of an unchanged running service: lock + inspects, nothing else.
    let steady = request(&format!("Bench.steady{}", cleanup.run_id.replace('-', "")));
    tokio
        .block_on(rt.launch(&steady, &options, &mut |_| {}))
        .unwrap();
    let mut samples = Vec::new();
    for _ in 0..iterations {
        let started = Instant::now();
        let report = tokio
            .block_on(rt.launch(&steady, &options, &mut |_| {}))
            .unwrap();
        samples.push(started.elapsed());
        assert_eq!(report.action, LaunchAction::Unchanged);
    }
    rows.push(("relaunch, unchanged and running (no-op)".into(), samples));

    // 5. Relaunch of an unchanged stopped service: a start (the stop is not timed).
    let stop = StopOptions {
        timeout: Some(Duration::from_secs(1)),
        ..StopOptions::default()
    };
    let mut samples = Vec::new();
    for _ in 0..iterations {
        tokio.block_on(rt.stop(&steady.name, &stop)).unwrap();
        let started = Instant::now();
        let report = tokio
            .block_on(rt.launch(&steady, &options, &mut |_| {}))
            .unwrap();
        samples.push(started.elapsed());
        assert_eq!(report.action, LaunchAction::Started);
    }
    rows.push(("relaunch, unchanged and stopped (start)".into(), samples));

    // 6. Restart (stop with SIGTERM, which `sleep` under init obeys at once, then start).
    let mut samples = Vec::new();
    for _ in 0..iterations {
        let started = Instant::now();
        tokio
            .block_on(rt.restart(&steady.name, Some(Duration::from_secs(1)), false))
            .unwrap();
        samples.push(started.elapsed());
    }
    rows.push(("`Runtime::restart` (stop + start)".into(), samples));

    // 7-12. Stops with the planned grace period. The plan says StopTimeout=2.
    let stop_iters: usize = std::env::var("TARSDOCK_BENCH_STOP_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let planned = |name: &str, command: &str| {
        let mut request = request(name);
        request.body.entrypoint = Some(vec!["/bin/sh".into(), "-c".into(), command.into()]);
        request.body.stop_timeout = Some(2);
        request.plan_hash = runtime::plan_hash(&request.body);
        request
    };
    // `sleep` under init exits on SIGTERM at once; the trap makes the shell ignore it.
    let obeys = "exec /bin/sleep 3600";
    let ignores = "trap '' TERM; while true; do /bin/sleep 1; done";
    let planned_stop = StopOptions::default();
    for (label, command, iters) in [
        ("exits on SIGTERM", obeys, iterations),
        ("ignores SIGTERM", ignores, stop_iters),
    ] {
        let name = format!(
            "Bench.stop{}{}",
            &label[..4],
            cleanup.run_id.replace('-', "")
        );
        let service = planned(&name, command);
        let mut ours = Vec::new();
        let mut cli = Vec::new();
        let mut raw = Vec::new();
        let mut old = Vec::new();
        for _ in 0..iters {
            // tarsdock: the stop sequence with the container's own grace period.
            tokio
                .block_on(rt.launch(&service, &options, &mut |_| {}))
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let started = Instant::now();
            let report = tokio.block_on(rt.stop(&name, &planned_stop)).unwrap();
            ours.push(started.elapsed());
            assert_eq!(report.grace_period_s, Some(2));
            // The docker CLI (no -t: the engine uses the container's StopTimeout).
            tokio
                .block_on(rt.launch(&service, &options, &mut |_| {}))
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let started = Instant::now();
            let status = Command::new("docker")
                .args(["stop", &name])
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            cli.push(started.elapsed());
            assert!(status.success());
            // The raw API, without and with the `t=10` tarsdock used to send.
            for (samples, query) in [(&mut raw, ""), (&mut old, "?t=10")] {
                tokio
                    .block_on(rt.launch(&service, &options, &mut |_| {}))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                let started = Instant::now();
                let reply = http.request(
                    "POST",
                    &format!("/v{api}/containers/{name}/stop{query}"),
                    b"",
                );
                samples.push(started.elapsed());
                assert_eq!(reply.0, 204, "{}", reply.1);
            }
        }
        rows.push((
            format!("`Runtime::stop`, {label} (planned grace 2 s)"),
            ours,
        ));
        rows.push((format!("`docker stop`, {label}"), cli));
        rows.push((format!("raw `POST /stop`, {label}"), raw));
        rows.push((
            format!("raw `POST /stop?t=10` (the old fixed grace), {label}"),
            old,
        ));
    }

    println!(
        "engine API {api}, {iterations} iterations per row, times in ms\n\n\
         | scenario | median | p90 | min | mean |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for (scenario, mut samples) in rows {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let n = samples.len();
        let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / n as f64;
        println!(
            "| {scenario} | {:.1} | {:.1} | {:.1} | {mean:.1} |",
            ms(samples[n / 2]),
            ms(samples[(n * 9 / 10).min(n - 1)]),
            ms(samples[0]),
        );
    }
    drop(cleanup);
}

/// A minimal HTTP/1.1 client on the engine's Unix socket (one kept-alive connection).
struct Http {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Http {
    fn connect() -> Self {
        let stream = UnixStream::connect(socket_path()).unwrap();
        let writer = stream.try_clone().unwrap();
        Self {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Sends a request and reads the reply (status, body).
    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap();
        let mut length = 0;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.reader.read_exact(&mut body).unwrap();
        }
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}
