//! The engine commands against fake engines (a Unix-socket server in the test, see
//! `testkit::fake_engine`): replies whose body stalls, truncated replies, closed connections
//! and garbage; durations too large to add; the grace period a stop sends; the truth of the
//! timeout messages; a name the engine reserved before the container became visible.
//!
//! Every run is guarded: a command that does not end within [`HANG`] is killed and the test
//! fails as hung (a hang detector, not a timing assertion).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::fake_engine::{FakeEngine, Reply, StreamEnd, World, log_frame};
use testkit::output::{
    code, count_output_and_peak_rss, engine_command, json_out, stderr, wait_bounded,
};

/// How long a command may run before the test calls it hung.
const HANG: Duration = Duration::from_secs(60);

const HUGE: &str = "18446744073709551615";

fn tarsdock(socket: &Path, locks: &Path, args: &[&str]) -> Command {
    engine_command(env!("CARGO_BIN_EXE_tarsdock"), socket, locks, args)
}

/// Runs the command; panics when it has not ended within [`HANG`].
fn guarded(mut command: Command) -> Output {
    wait_guarded(command.spawn().expect("start tarsdock"))
}

/// Waits for a started command; panics when it has not ended within [`HANG`].
fn wait_guarded(child: std::process::Child) -> Output {
    wait_bounded(child, HANG)
}

fn run(socket: &Path, locks: &Path, args: &[&str]) -> Output {
    guarded(tarsdock(socket, locks, args))
}

/// A create body for `A.B` on the fake image, with a `StopTimeout`.
fn body(stop_timeout: i64, env: &str) -> Value {
    json!({
        "Image": "fake/image:1",
        "Entrypoint": ["/bin/sleep", "3600"],
        "Env": [env],
        "StopTimeout": stop_timeout,
        "Labels": {
            "tarsdock.managed-by": "tarsdock",
            "tarsdock.app": "A",
            "tarsdock.server": "B",
            "tarsdock.node": "fake-node",
        },
        "HostConfig": {"NetworkMode": "host"},
    })
}

fn request(body: &Value) -> Value {
    json!({
        "name": "A.B", "app": "A", "server": "B", "node": "fake-node",
        "image": "fake/image:1", "body": body,
    })
}

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.display().to_string()
}

/// A fake engine serving `world`, with `fault` consulted first.
fn serve(
    world: &Arc<Mutex<World>>,
    fault: impl Fn(&testkit::fake_engine::Request) -> Option<Reply> + Send + Sync + 'static,
) -> FakeEngine {
    let world = Arc::clone(world);
    FakeEngine::start(move |r| fault(r).or_else(|| world.lock().unwrap().handle(r)))
}

/// A world holding `A.B`, created by tarsdock from `body` (as a first launch would), in
/// `state`.
fn world_with(body_json: &Value, state: &str, locks: &Path) -> (Arc<Mutex<World>>, String) {
    let world = Arc::new(Mutex::new(World::new()));
    // Launch once through tarsdock so the labels (plan hash included) are tarsdock's own.
    let fake = serve(&world, |_| None);
    let dir = locks.parent().unwrap();
    let file = write(dir, "first.json", &request(body_json));
    let out = run(
        fake.socket(),
        locks,
        &["launch", "--request", &file, "--json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    drop(fake);
    world.lock().unwrap().containers[0].state = state.to_owned();
    (world, file)
}

#[test]
fn a_reply_whose_body_stalls_is_bounded_as_a_whole() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let container = json!({"Id": "abc", "Name": "/A.B", "State": {"Status": "running"}});
    let fake = FakeEngine::start(move |r| {
        r.is("GET", "/containers/A.B/json")
            .then(|| Reply::stall_mid_json(200, &container))
    });
    let out = run(
        fake.socket(),
        &locks,
        &["status", "A.B", "--engine-timeout", "2", "--json"],
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(json_out(&out)["error"]["kind"], "timeout");
    assert!(
        stderr(&out).contains("timed out after 2s"),
        "{}",
        stderr(&out)
    );

    // A launch stalled mid-reply does not keep the service lock: a stop started meanwhile
    // gets it once the launch has given up, long before its own lock timeout.
    let image = json!({"Id": "sha256:aa", "RepoDigests": []});
    let fake = FakeEngine::start(move |r| {
        r.path
            .starts_with("/images/")
            .then(|| Reply::stall_mid_json(200, &image))
    });
    let file = write(work.path(), "r.json", &request(&body(2, "X=1")));
    let launch = tarsdock(
        fake.socket(),
        &locks,
        &["launch", "--request", &file, "--engine-timeout", "2"],
    )
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let stop = run(
        fake.socket(),
        &locks,
        &[
            "stop",
            "A.B",
            "--engine-timeout",
            "2",
            "--lock-timeout",
            "30",
        ],
    );
    let launch = wait_guarded(launch);
    assert_eq!(code(&launch), 6, "{}", stderr(&launch));
    assert!(
        !stderr(&stop).contains("another tarsdock command"),
        "the stop waited out its lock timeout: {}",
        stderr(&stop)
    );
}

#[test]
fn streams_that_stall_end_with_a_timeout() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let world = Arc::new(Mutex::new(World::new()));
    world.lock().unwrap().add("A.B", &body(2, "X=1"), "running");
    let fake = serve(&world, |r| {
        if r.is("POST", "/images/create") {
            let progress = [
                json!({"status": "Pulling from fake/image", "id": "1"}),
                json!({"status": "Downloading", "id": "abc",
                       "progressDetail": {"current": 10, "total": 100}}),
            ];
            return Some(Reply::Stream {
                status: 200,
                content_type: "application/json",
                chunks: Box::new(
                    progress
                        .into_iter()
                        .map(|p| format!("{p}\r\n").into_bytes())
                        .collect::<Vec<_>>()
                        .into_iter(),
                ),
                end: StreamEnd::Stall,
            });
        }
        if r.path == "/containers/A.B/logs" {
            return Some(Reply::Stream {
                status: 200,
                content_type: "application/vnd.docker.raw-stream",
                chunks: Box::new(std::iter::once(log_frame(1, b"first line\n"))),
                end: StreamEnd::Stall,
            });
        }
        None
    });
    let out = run(
        fake.socket(),
        &locks,
        &["image", "pull", "fake/other:1", "--engine-timeout", "2"],
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("pull"), "{}", stderr(&out));

    let out = run(
        fake.socket(),
        &locks,
        &["logs", "A.B", "--engine-timeout", "2"],
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first line\n");
}

#[test]
fn truncated_closed_and_garbage_replies_are_engine_errors() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let container = json!({"Id": "abc", "Name": "/A.B", "State": {"Status": "running"}});
    for (what, reply) in [
        ("truncated", 0),
        ("closed", 1),
        ("garbage", 2),
        ("not json", 3),
    ] {
        let container = container.clone();
        let fake = FakeEngine::start(move |r| {
            r.is("GET", "/containers/A.B/json").then(|| match reply {
                0 => Reply::truncated_json(200, &container),
                1 => Reply::Close,
                2 => Reply::Raw(b"\x00\x01garbage\r\n\r\n".to_vec()),
                _ => Reply::Full {
                    status: 200,
                    content_type: "application/json",
                    body: b"{\"Id\": [".to_vec(),
                },
            })
        });
        let out = run(
            fake.socket(),
            &locks,
            &["status", "A.B", "--engine-timeout", "5", "--json"],
        );
        assert!(
            matches!(code(&out), 3 | 5),
            "{what}: exit {}: {}",
            code(&out),
            stderr(&out)
        );
        assert!(json_out(&out)["error"]["message"].is_string(), "{what}");
    }
}

#[test]
fn huge_durations_are_clamped_not_a_panic() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let (world, _) = world_with(&body(2, "X=1"), "running", &locks);
    let fake = serve(&world, |_| None);
    let common = ["--engine-timeout", HUGE, "--lock-timeout", HUGE, "--json"];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(common.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    for args in [
        with(&["status", "A.B"]),
        with(&["restart", "A.B", "--timeout", HUGE]),
        with(&[
            "stop",
            "A.B",
            "--timeout",
            HUGE,
            "--script",
            "/stop.sh",
            "--script-timeout",
            HUGE,
        ]),
        with(&["rm", "A.B", "--timeout", HUGE]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(fake.socket(), &locks, &args);
        assert_ne!(code(&out), 101, "{args:?} panicked: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    // A replacing launch with a huge grace period.
    drop(fake);
    let (world, _) = world_with(&body(2, "X=1"), "running", &locks);
    let fake = serve(&world, |_| None);
    let file = write(work.path(), "b.json", &request(&body(2, "X=2")));
    let out = run(
        fake.socket(),
        &locks,
        &[
            "launch",
            "--request",
            &file,
            "--stop-timeout",
            HUGE,
            "--engine-timeout",
            HUGE,
        ],
    );
    assert_ne!(code(&out), 101, "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    // What reached the engine fits its `int` seconds.
    for t in world.lock().unwrap().stop_timeouts.iter().flatten() {
        assert!(t.parse::<i32>().is_ok(), "t={t}");
    }
}

#[test]
fn stop_rm_restart_and_replacing_launch_use_the_planned_grace_period() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let planned = body(2, "X=1");
    for (args, expected) in [
        (vec!["stop", "A.B"], "2"),
        (vec!["stop", "A.B", "--timeout", "5"], "5"),
        (vec!["rm", "A.B"], "2"),
        (vec!["restart", "A.B"], "2"),
        (vec!["restart", "A.B", "--timeout", "7"], "7"),
    ] {
        let (world, _) = world_with(&planned, "running", &locks);
        let fake = serve(&world, |_| None);
        let out = run(fake.socket(), &locks, &args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        let sent = world.lock().unwrap().stop_timeouts.clone();
        assert_eq!(sent, [Some(expected.to_owned())], "{args:?}");
    }
    // A launch replacing the container stops it with the old container's own grace period.
    let (world, _) = world_with(&planned, "running", &locks);
    let fake = serve(&world, |_| None);
    let file = write(work.path(), "b.json", &request(&body(30, "X=2")));
    let out = run(
        fake.socket(),
        &locks,
        &["launch", "--request", &file, "--json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json_out(&out)["action"], "replaced");
    assert_eq!(world.lock().unwrap().stop_timeouts, [Some("2".to_owned())]);
}

#[test]
fn a_hung_stop_says_how_long_it_really_waited() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let (world, _) = world_with(&body(2, "X=1"), "running", &locks);
    let fake = serve(&world, |r| {
        (r.method == "POST" && (r.path.ends_with("/stop") || r.path.ends_with("/kill")))
            .then_some(Reply::Stall)
    });
    let out = run(
        fake.socket(),
        &locks,
        &["stop", "A.B", "--engine-timeout", "1", "--timeout", "2"],
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("timed out after 3s"), "{message}");
    assert!(message.contains("grace period of 2s"), "{message}");
}

#[test]
fn a_file_or_directory_given_as_the_socket_is_not_a_socket() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let file = work.path().join("docker.sock");
    std::fs::write(&file, b"").unwrap();
    for path in [file.as_path(), work.path()] {
        let out = run(path, &locks, &["status", "A.B"]);
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(stderr(&out).contains("not a socket"), "{}", stderr(&out));
        assert!(
            !stderr(&out).contains("connection refused"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn an_image_inspect_refusal_reads_well() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let fake = FakeEngine::start(|r| {
        r.path
            .starts_with("/images/")
            .then(|| Reply::error(500, "storage is broken"))
    });
    let file = write(work.path(), "r.json", &request(&body(2, "X=1")));
    let out = run(fake.socket(), &locks, &["launch", "--request", &file]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("refused to inspect image fake/image:1"),
        "{message}"
    );
    assert!(!message.contains("image container"), "{message}");
}

#[test]
fn a_name_reserved_before_its_container_appears_is_not_a_conflict() {
    // A launch killed during create leaves the engine holding the name before the container
    // is visible: inspect says 404, create says 409. The next launch waits for it to appear
    // and goes on from what it finds.
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let (world, file) = world_with(&body(2, "X=1"), "created", &locks);
    let hidden_until: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let gate = Arc::clone(&hidden_until);
    let fake = serve(&world, move |r| {
        let mut until = gate.lock().unwrap();
        if r.is("POST", "/containers/create") && until.is_none() {
            *until = Some(Instant::now() + Duration::from_millis(600));
            return None; // the world answers 409: the name is taken
        }
        let hidden = until.is_none_or(|t| Instant::now() < t);
        (r.is("GET", "/containers/A.B/json") && hidden)
            .then(|| Reply::error(404, "No such container: A.B"))
    });
    let out = run(
        fake.socket(),
        &locks,
        &["launch", "--request", &file, "--json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json_out(&out)["action"], "started");
    let world = world.lock().unwrap();
    assert_eq!(world.containers.len(), 1);
    assert_eq!(world.containers[0].state, "running");
}

#[test]
fn launch_request_refuses_flags_it_cannot_honour() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let world = Arc::new(Mutex::new(World::new()));
    let fake = serve(&world, |_| None);
    let file = write(work.path(), "r.json", &request(&body(2, "X=1")));
    for flag in [
        ["--image", "other:1"],
        ["--image-id", "sha256:ab"],
        ["--node", "n"],
        ["--app", "X"],
        ["--server", "Y"],
        ["--target", "mac"],
        ["--node-inputs", "i.json"],
        ["--server-dir", "/s"],
        ["--exe-path", "/e"],
    ] {
        let mut args = vec!["launch", "--request", &file];
        args.extend(flag);
        let out = run(fake.socket(), &locks, &args);
        assert_eq!(code(&out), 2, "{flag:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag[0]), "{}", stderr(&out));
    }
    assert!(
        world.lock().unwrap().containers.is_empty(),
        "nothing was launched"
    );
}

#[test]
fn logs_of_a_gigabyte_stream_in_bounded_memory() {
    const TOTAL: usize = 1 << 30;
    const FRAME: usize = 64 * 1024;
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let world = Arc::new(Mutex::new(World::new()));
    world.lock().unwrap().add("A.B", &body(2, "X=1"), "running");
    let fake = serve(&world, |r| {
        (r.path == "/containers/A.B/logs").then(|| {
            let payload = vec![b'x'; FRAME - 1]
                .into_iter()
                .chain(std::iter::once(b'\n'))
                .collect::<Vec<u8>>();
            Reply::Stream {
                status: 200,
                content_type: "application/vnd.docker.raw-stream",
                chunks: Box::new((0..TOTAL / FRAME).map(move |_| log_frame(1, &payload))),
                end: StreamEnd::Finish,
            }
        })
    });
    let child = tarsdock(fake.socket(), &locks, &["logs", "A.B"])
        .spawn()
        .unwrap();
    // The peak resident set, sampled until the process ends.
    let (total, peak_kib, out) = count_output_and_peak_rss(child, Duration::from_secs(600));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(total, TOTAL, "every byte came through");
    eprintln!("logs of 1 GiB: peak RSS {} MiB", peak_kib / 1024);
    assert!(peak_kib > 0, "no RSS sample");
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB for 1 GiB of logs: not streamed"
    );
}

#[test]
fn any_request_may_fail_in_any_way_without_a_panic() {
    // A relay that injects one fault per run: the n-th request of a command stalls, is
    // closed, truncated, answered with garbage or with a 500. The command must end (no
    // hang), with an engine exit code (3, 5 or 6) or success, never a panic.
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let planned = body(2, "X=1");
    let changed = write(work.path(), "changed.json", &request(&body(2, "X=2")));
    let commands: Vec<Vec<String>> = [
        vec!["launch", "--request", changed.as_str()],
        vec!["stop", "A.B"],
        vec!["rm", "A.B"],
        vec!["restart", "A.B"],
        vec!["status", "A.B"],
        vec!["logs", "A.B"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(str::to_owned).collect())
    .collect();
    for command in &commands {
        for fault in 0..5 {
            for nth in 0.. {
                let (world, _) = world_with(&planned, "running", &locks);
                let seen = Arc::new(Mutex::new(0_usize));
                let counter = Arc::clone(&seen);
                let fake = serve(&world, move |r| {
                    if r.path == "/_ping" || r.path == "/version" {
                        return None;
                    }
                    let mut count = counter.lock().unwrap();
                    *count += 1;
                    (*count == nth + 1).then(|| match fault {
                        0 => Reply::Stall,
                        1 => Reply::Close,
                        2 => Reply::truncated_json(200, &json!({"Id": "x", "State": {}})),
                        3 => {
                            Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{]}".to_vec())
                        }
                        _ => Reply::error(500, "injected failure"),
                    })
                });
                let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
                args.extend(["--engine-timeout", "1"]);
                match args[0] {
                    "launch" => args.extend(["--stop-timeout", "1"]),
                    "stop" | "rm" | "restart" => args.extend(["--timeout", "1"]),
                    _ => {}
                }
                let out = run(fake.socket(), &locks, &args);
                let code = code(&out);
                assert!(
                    matches!(code, 0 | 3 | 5 | 6 | 7),
                    "{args:?}, fault {fault} on request {nth}: exit {code}: {}",
                    stderr(&out)
                );
                assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
                // Past the last request of the command: every request has had its fault.
                if *seen.lock().unwrap() <= nth {
                    break;
                }
            }
        }
    }
}

#[test]
fn a_quiet_follow_waits_while_the_container_runs_and_ends_when_it_stops() {
    let work = tempfile::tempdir().unwrap();
    let locks = work.path().join("locks");
    let world = Arc::new(Mutex::new(World::new()));
    world.lock().unwrap().add("A.B", &body(2, "X=1"), "running");
    let fake = serve(&world, |r| {
        (r.path == "/containers/A.B/logs").then(|| Reply::Stream {
            status: 200,
            content_type: "application/vnd.docker.raw-stream",
            chunks: Box::new(std::iter::once(log_frame(1, b"hello\n"))),
            end: StreamEnd::Stall,
        })
    });
    let mut follow = tarsdock(
        fake.socket(),
        &locks,
        &["logs", "A.B", "--follow", "--engine-timeout", "1"],
    )
    .spawn()
    .unwrap();
    // Several engine timeouts of silence: still following.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        follow.try_wait().unwrap().is_none(),
        "a quiet follow of a running container gave up"
    );
    // The container stops (and the engine, stuck, does not end the stream): the follow ends.
    world.lock().unwrap().containers[0].state = "exited".to_owned();
    let out = wait_guarded(follow);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}
