//! Running the binary in tests and reading what it did: a command against a given engine
//! socket and lock directory, a bounded wait, its exit code, its standard error, and its
//! standard output as one JSON document (failing loudly, with both streams, when it is not).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `binary ARGS… --docker-socket SOCKET --lock-dir LOCKS`, with `DOCKER_HOST` removed, stdin
/// closed and both outputs captured.
#[must_use]
pub fn engine_command(binary: &str, socket: &Path, locks: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .arg("--docker-socket")
        .arg(socket)
        .arg("--lock-dir")
        .arg(locks)
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` at most `limit`; its output.
///
/// # Panics
/// When it has not ended by then (it is killed first), showing its standard error.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the command hung (killed after {}s); stderr: {}",
                limit.as_secs(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit code, or `-1` when a signal ended the process.
#[must_use]
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Standard error as text (invalid UTF-8 replaced).
#[must_use]
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Standard output parsed as one JSON document.
///
/// # Panics
/// When it is not one, showing both streams.
#[must_use]
pub fn json_out(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    })
}

/// Reads `child`'s standard output to the end (counting its bytes, keeping none) while sampling
/// its peak resident set (`VmHWM`) every 50 ms until it exits: `(bytes, peak KiB, output)`,
/// the output without the standard output it counted.
///
/// # Panics
/// When it runs longer than `limit`, or its standard output was not piped.
pub fn count_output_and_peak_rss(mut child: Child, limit: Duration) -> (usize, u64, Output) {
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout piped");
    let counter = std::thread::spawn(move || {
        let mut buffer = vec![0; 1 << 20];
        let mut total = 0_usize;
        loop {
            match std::io::Read::read(&mut stdout, &mut buffer) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    });
    let mut peak_kib = 0_u64;
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for line in status.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak_kib = peak_kib.max(kib);
                }
            }
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the command hung (killed after {}s)", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let total = counter.join().expect("counter");
    (total, peak_kib, child.wait_with_output().expect("output"))
}
