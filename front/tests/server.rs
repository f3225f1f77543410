//! The front as a server, against a fake engine (no Docker needed): what is passed through
//! arrives unchanged under any version prefix, streams stream, upgrades are tunnelled, bodies
//! and heads are bounded, a client that disconnects mid-request cancels the engine call and
//! releases the service lock, and shutdown finishes what is in flight and removes the socket.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use front::{Front, FrontConfig, Limits, PlanSettings, TargetChoice};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use lowering::ir::Target;
use runtime::EngineAddress;

type FakeBody = BoxBody<Bytes, Infallible>;
type Reply = Pin<Box<dyn Future<Output = Response<FakeBody>> + Send>>;
type Handler = Arc<dyn Fn(Request<Incoming>, Events) -> Reply + Send + Sync>;

/// What the fake engine saw, in order.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until an event satisfying `pred` has been seen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.all().iter().any(|e| pred(e)) {
            assert!(
                Instant::now() < deadline,
                "the fake engine never saw {what}: {:?}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Records `dropped <what>` when the engine's handler for a request is dropped (its client,
/// the front, went away).
struct DropProbe(Events, String);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.push(format!("dropped {}", self.1));
    }
}

fn full(text: impl Into<Bytes>) -> FakeBody {
    Full::new(text.into()).boxed()
}

fn json(status: u16, value: &serde_json::Value) -> Response<FakeBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(value.to_string()))
        .unwrap()
}

/// A fake engine on a Unix socket, on its own thread: answers `/version` and `/_ping` itself
/// and everything else with `handler`.
struct FakeEngine {
    path: PathBuf,
    events: Events,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeEngine {
    fn start(dir: &Path, handler: Handler) -> Self {
        let path = dir.join("engine.sock");
        let events = Events::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let thread_events = events.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::UnixListener::from_std(listener).unwrap();
                let mut stopped = stopped;
                loop {
                    let stream = tokio::select! {
                        accepted = listener.accept() => accepted.unwrap().0,
                        _ = &mut stopped => break,
                    };
                    let handler = Arc::clone(&handler);
                    let events = thread_events.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                            let handler = Arc::clone(&handler);
                            let events = events.clone();
                            async move {
                                let path = request.uri().path().to_owned();
                                events.push(format!(
                                    "{} {}",
                                    request.method(),
                                    request.uri().path_and_query().map_or("", |p| p.as_str())
                                ));
                                let response = if path.ends_with("/version") {
                                    json(
                                        200,
                                        &serde_json::json!({"ApiVersion": "1.41", "Version": "20.10.24", "MinAPIVersion": "1.12"}),
                                    )
                                } else if path.ends_with("/_ping") {
                                    Response::new(full("OK"))
                                } else {
                                    handler(request, events).await
                                };
                                Ok::<_, Infallible>(response)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades()
                            .await;
                    });
                }
            });
        });
        Self {
            path,
            events,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.shut();
    }
}

/// A front serving on its own thread; shut down (and checked) when dropped.
struct Served {
    path: PathBuf,
    lock_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start(dir: &Path, engine: &FakeEngine, limits: Limits) -> Self {
        let path = dir.join("front.sock");
        let lock_dir = dir.join("locks");
        let config = FrontConfig {
            listen: path.clone(),
            group: None,
            engine: EngineAddress::Unix(engine.path.clone()),
            engine_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            pull_timeout: Duration::from_secs(30),
            lock_dir: lock_dir.clone(),
            lock_timeout: Duration::from_secs(10),
            plan: PlanSettings {
                target: TargetChoice::Fixed(Target::Linux),
                tars_path: None,
                host_path: None,
                node: "test-node".into(),
                allow: lowering::policy::Allow::NONE,
            },
            limits,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let front = Front::bind(config).await.unwrap();
                ready_tx.send(()).unwrap();
                front
                    .serve(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the front came up");
        Self {
            path,
            lock_dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Shuts down and waits for `serve` to return.
    fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shut();
    }
}

/// An answer read whole.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn message(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Sends one request to the front and reads the answer.
fn send(socket: &Path, request: Request<Full<Bytes>>) -> Answer {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    })
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri(uri)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn post(uri: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

/// An engine that echoes what it received.
fn echo() -> Handler {
    Arc::new(|request: Request<Incoming>, _events| {
        Box::pin(async move {
            let method = request.method().to_string();
            let target = request.uri().path_and_query().unwrap().to_string();
            let auth = request
                .headers()
                .get("x-registry-auth")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = request.into_body().collect().await.unwrap().to_bytes();
            Response::builder()
                .header("x-engine", "fake")
                .header("content-type", "application/json")
                .body(full(
                    serde_json::json!({
                        "method": method, "target": target, "auth": auth,
                        "body": String::from_utf8_lossy(&body),
                    })
                    .to_string(),
                ))
                .unwrap()
        })
    })
}

#[test]
fn passes_through_under_any_version_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start(dir.path(), echo());
    let front = Served::start(dir.path(), &engine, Limits::default());
    for target in [
        "/v1.41/containers/json?all=1&filters=%7B%7D",
        "/containers/json",
        "/v1.24/info",
        "/v1.40/images/json",
    ] {
        let answer = send(&front.path, get(target));
        assert_eq!(answer.status, StatusCode::OK, "{target}: {}", answer.body);
        assert_eq!(answer.headers["x-engine"], "fake");
        let echoed: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(echoed["method"], "GET");
        assert_eq!(echoed["target"], target);
    }
    // Bodies and end-to-end headers arrive unchanged.
    let mut request = post("/v1.41/containers/x/update", r#"{"Memory":1}"#);
    request
        .headers_mut()
        .insert("x-registry-auth", "e30=".parse().unwrap());
    let answer = send(&front.path, request);
    let echoed: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(echoed["body"], r#"{"Memory":1}"#);
    assert_eq!(echoed["auth"], "e30=");
    // A create that is not tarsnode's (no `bin/tars_start.sh` entrypoint) is the engine's.
    let create = r#"{"Image":"busybox","Cmd":["sh"]}"#;
    let answer = send(
        &front.path,
        post("/v1.41/containers/create?name=A.B", create),
    );
    let echoed: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(echoed["target"], "/v1.41/containers/create?name=A.B");
    assert_eq!(echoed["body"], create);
}

#[test]
fn streams_are_passed_on_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let handler: Handler = Arc::new(|_request, _events| {
        Box::pin(async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let _ = tx.send(Ok(Frame::data(Bytes::from("first\n")))).await;
                // The second line only after a long pause: the client must have the first.
                tokio::time::sleep(Duration::from_secs(3)).await;
                let _ = tx.send(Ok(Frame::data(Bytes::from("second\n")))).await;
            });
            let stream = tokio_stream(rx);
            Response::new(StreamBody::new(stream).boxed())
        })
    });
    let engine = FakeEngine::start(dir.path(), handler);
    let front = Served::start(dir.path(), &engine, Limits::default());
    let mut stream = std::os::unix::net::UnixStream::connect(&front.path).unwrap();
    stream
        .write_all(b"GET /v1.41/containers/x/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut seen = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = stream
            .read(&mut buf)
            .expect("the first line arrives before the second is sent");
        assert!(n > 0, "closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        !String::from_utf8_lossy(&seen).contains("second"),
        "the stream was buffered: {}",
        String::from_utf8_lossy(&seen)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A `Stream` over an mpsc receiver (without pulling in tokio-stream).
fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[test]
fn upgrades_are_tunnelled_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let handler: Handler = Arc::new(|mut request: Request<Incoming>, _events| {
        Box::pin(async move {
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let upgraded = upgrade.await.unwrap();
                let mut io = TokioIo::new(upgraded);
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut buf = [0u8; 64];
                // Echo in upper case until the client half-closes, then say goodbye.
                loop {
                    let n = io.read(&mut buf).await.unwrap();
                    if n == 0 {
                        io.write_all(b"BYE").await.unwrap();
                        io.shutdown().await.unwrap();
                        return;
                    }
                    io.write_all(&buf[..n].to_ascii_uppercase()).await.unwrap();
                }
            });
            Response::builder()
                .status(101)
                .header("connection", "Upgrade")
                .header("upgrade", "tcp")
                .header("content-type", "application/vnd.docker.raw-stream")
                .body(full(""))
                .unwrap()
        })
    });
    let engine = FakeEngine::start(dir.path(), handler);
    let front = Served::start(dir.path(), &engine, Limits::default());
    let mut stream = std::os::unix::net::UnixStream::connect(&front.path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(
            b"POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
              Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed during the head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: tcp"), "{head}");
    stream.write_all(b"hello").unwrap();
    let mut echoed = [0u8; 5];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"HELLO");
    // Half-close (stdin ends): the engine sees it and answers before closing.
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "BYE");
}

/// An engine whose answer to every `…/logs` request never comes.
fn hanging() -> Handler {
    Arc::new(|request: Request<Incoming>, events: Events| {
        Box::pin(async move {
            let probe = DropProbe(events, request.uri().path().to_owned());
            std::future::pending::<()>().await;
            drop(probe);
            Response::new(full(""))
        })
    })
}

#[test]
fn a_client_gone_mid_request_cancels_the_engine_call() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start(dir.path(), hanging());
    let front = Served::start(dir.path(), &engine, Limits::default());
    let mut client = std::os::unix::net::UnixStream::connect(&front.path).unwrap();
    client
        .write_all(b"GET /v1.41/containers/x/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    engine.events.wait_for("the forwarded request", |e| {
        e.contains("/containers/x/logs")
    });
    drop(client);
    // The front notices and closes its engine connection: the engine's handler is dropped.
    engine.events.wait_for("the engine call cancelled", |e| {
        e == "dropped /v1.41/containers/x/logs"
    });
    // And goes on serving.
    assert_eq!(send(&front.path, get("/_ping")).body, "OK");
}

/// The engine's inspect answer for `A.B`, a container tarsdock made (every label; a planned
/// stop timeout of 3 s), in `state`, with `host_config`.
fn managed_a_b(state: serde_json::Value, host_config: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "Id": "abc123", "Name": "/A.B", "Image": "sha256:1",
        "State": state,
        "Config": {"Image": "box:1", "StopTimeout": 3,
                   "Labels": {"tarsdock.managed-by": "tarsdock",
                              "tarsdock.app": "A", "tarsdock.server": "B",
                              "tarsdock.node": "n", "tarsdock.plan-hash": "sha256:1"}},
        "HostConfig": host_config
    })
}

#[test]
fn a_client_gone_during_an_intercepted_stop_releases_the_service_lock() {
    let dir = tempfile::tempdir().unwrap();
    let handler: Handler = Arc::new(|request: Request<Incoming>, events: Events| {
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            if path.ends_with("/containers/A.B/json") || path.ends_with("/containers/abc123/json") {
                return json(
                    200,
                    &managed_a_b(
                        serde_json::json!({"Status": "running", "Running": true, "Pid": 42}),
                        &serde_json::json!({}),
                    ),
                );
            }
            if path.ends_with("/stop") {
                let probe = DropProbe(events, path);
                std::future::pending::<()>().await;
                drop(probe);
            }
            json(404, &serde_json::json!({"message": "unexpected"}))
        })
    });
    let engine = FakeEngine::start(dir.path(), handler);
    let front = Served::start(dir.path(), &engine, Limits::default());
    let mut client = std::os::unix::net::UnixStream::connect(&front.path).unwrap();
    client
        .write_all(b"POST /v1.40/containers/A.B/stop?t=10000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    // The front asked the engine to stop the container with the planned grace period (3 s),
    // not the client's 10000, holding the service lock.
    engine
        .events
        .wait_for("the stop", |e| e.contains("/containers/abc123/stop"));
    assert!(
        engine
            .events
            .all()
            .iter()
            .any(|e| e.ends_with("/containers/abc123/stop?t=3")),
        "{:?}",
        engine.events.all()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let held = rt.block_on(runtime::lock::lock_service(
        &front.lock_dir,
        "A.B",
        Duration::from_millis(200),
    ));
    assert!(held.is_err(), "the lock is held while the stop runs");
    drop(client);
    engine.events.wait_for("the engine call cancelled", |e| {
        e.starts_with("dropped") && e.ends_with("/stop")
    });
    let lock = rt.block_on(runtime::lock::lock_service(
        &front.lock_dir,
        "A.B",
        Duration::from_secs(10),
    ));
    assert!(lock.is_ok(), "the lock was released: {lock:?}");
}

#[test]
fn a_start_of_an_existing_container_whose_mount_became_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The service's bind source: a link to /etc by now (it was a directory at create).
    let source = dir.path().canonicalize().unwrap().join("shared");
    std::os::unix::fs::symlink("/etc", &source).unwrap();
    let source_text = source.display().to_string();
    let handler: Handler = Arc::new(move |request: Request<Incoming>, _events: Events| {
        let source = source_text.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            if path.ends_with("/containers/A.B/json") || path.ends_with("/containers/abc123/json") {
                return json(
                    200,
                    &managed_a_b(
                        serde_json::json!({"Status": "exited", "Running": false, "Pid": 0}),
                        &serde_json::json!({
                            "Mounts": [{"Type": "bind", "Source": source, "Target": "/shared"}]
                        }),
                    ),
                );
            }
            if path.ends_with("/containers/json") {
                // No other container tarsdock made.
                return json(200, &serde_json::json!([]));
            }
            json(204, &serde_json::json!({}))
        })
    });
    let engine = FakeEngine::start(dir.path(), handler);
    let front = Served::start(dir.path(), &engine, Limits::default());
    let answer = send(&front.path, post("/v1.40/containers/A.B/start", ""));
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.message().contains("`/etc`"), "{}", answer.message());
    assert!(
        !engine.events.all().iter().any(|e| e.ends_with("/start")),
        "the start reached the engine: {:?}",
        engine.events.all()
    );
}

#[test]
fn a_client_gone_mid_body_leaves_the_front_serving() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start(dir.path(), echo());
    let front = Served::start(dir.path(), &engine, Limits::default());
    let mut client = std::os::unix::net::UnixStream::connect(&front.path).unwrap();
    client
        .write_all(b"POST /v1.40/containers/create?name=A.B HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"Image\":")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(client);
    assert_eq!(send(&front.path, get("/v1.41/_ping")).body, "OK");
    assert!(
        !engine.events.all().iter().any(|e| e.contains("create")),
        "a half-sent create reached the engine: {:?}",
        engine.events.all()
    );
}

#[test]
fn bodies_and_heads_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start(dir.path(), echo());
    let limits = Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    };
    let front = Served::start(dir.path(), &engine, limits);
    let big = format!(r#"{{"Image":"x","Pad":"{}"}}"#, "x".repeat(4096));
    let answer = send(&front.path, post("/v1.40/containers/create?name=A.B", big));
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.body
    );
    assert!(
        answer.message().contains("larger than 1024 bytes"),
        "{}",
        answer.body
    );

    let mut client = std::os::unix::net::UnixStream::connect(&front.path).unwrap();
    let header = "x".repeat(100 * 1024);
    let _ = client
        .write_all(format!("GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: {header}\r\n\r\n").as_bytes());
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = String::new();
    let _ = client.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply:.80}");
    assert!(
        !engine
            .events
            .all()
            .iter()
            .any(|e| e.contains("_ping") && e.starts_with("GET /_ping"))
    );
}

#[test]
fn image_inspect_says_no_such_image_in_lower_case() {
    let dir = tempfile::tempdir().unwrap();
    let handler: Handler = Arc::new(|_request, _events| {
        Box::pin(async move { json(404, &serde_json::json!({"message": "No such image: box:1"})) })
    });
    let engine = FakeEngine::start(dir.path(), handler);
    let front = Served::start(dir.path(), &engine, Limits::default());
    let answer = send(&front.path, get("/v1.40/images/box:1/json"));
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    // tarsnode's check (DockerPullThread.cpp:222) is `find("no such image")`.
    assert!(answer.body.contains("no such image"), "{}", answer.body);
    assert!(
        answer.message().contains("No such image: box:1"),
        "{}",
        answer.body
    );
}

#[test]
fn an_engine_that_goes_away_is_named_in_a_502() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = FakeEngine::start(dir.path(), echo());
    let front = Served::start(dir.path(), &engine, Limits::default());
    engine.shut();
    let answer = send(&front.path, get("/v1.41/containers/json"));
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(
        answer.message().contains("cannot reach the Docker engine"),
        "{}",
        answer.body
    );
}

#[test]
fn shutdown_finishes_requests_in_flight_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let handler: Handler = Arc::new(|_request, _events| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Response::new(full("late but whole"))
        })
    });
    let engine = FakeEngine::start(dir.path(), handler);
    let mut front = Served::start(dir.path(), &engine, Limits::default());
    let path = front.path.clone();
    let client = std::thread::spawn(move || send(&path, get("/v1.41/info")).body);
    engine
        .events
        .wait_for("the request", |e| e.contains("/info"));
    front.shut();
    assert_eq!(client.join().unwrap(), "late but whole");
    assert!(!front.path.exists(), "the socket is removed at shutdown");
}

/// An engine that pulls `good:1` (progress, then the image exists) and fails `bad:1` inside
/// the stream, after a 200.
fn registry_engine() -> Handler {
    Arc::new(|request: Request<Incoming>, events: Events| {
        Box::pin(async move {
            let target = request.uri().path_and_query().unwrap().to_string();
            if let Some(auth) = request.headers().get("x-registry-auth") {
                events.push(format!("auth {}", auth.to_str().unwrap()));
            }
            if let Some(ua) = request.headers().get("user-agent") {
                events.push(format!("user-agent {}", ua.to_str().unwrap()));
            }
            if target.contains("/images/create") && target.contains("good") {
                return json(
                    200,
                    &serde_json::json!({"status": "Pull complete", "id": "abc"}),
                );
            }
            if target.contains("/images/create") {
                return Response::builder()
                    .header("content-type", "application/json")
                    .body(full(
                        "{\"status\":\"Pulling from x\"}\r\n{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\r\n",
                    ))
                    .unwrap();
            }
            if target.contains("/images/good:1/json") {
                return json(
                    200,
                    &serde_json::json!({"Id": "sha256:0123", "RepoDigests": []}),
                );
            }
            json(404, &serde_json::json!({"message": "No such image"}))
        })
    })
}

#[test]
fn pulls_for_tarsnode_take_either_alphabet_and_report_in_stream_errors() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start(dir.path(), registry_engine());
    let front = Served::start(dir.path(), &engine, Limits::default());
    // As TC_Docker sends it: standard base64, in the header and as the body.
    let credentials = r#"{"password":"??>>~~","serveraddress":"reg:5000","username":"tars"}"#;
    let standard = STANDARD.encode(credentials);
    assert!(standard.contains(['+', '/']), "{standard}");
    let pull = |image: &str, user_agent: Option<&str>| {
        let mut request = post(
            &format!("/v1.40/images/create?fromImage={image}"),
            standard.clone(),
        );
        request
            .headers_mut()
            .insert("x-registry-auth", standard.parse().unwrap());
        if let Some(ua) = user_agent {
            request
                .headers_mut()
                .insert("user-agent", ua.parse().unwrap());
        }
        send(&front.path, request)
    };

    let answer = pull("good:1", None);
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains("Pull complete"), "{}", answer.body);
    // The engine got the same credentials, base64url as it decodes them.
    let sent = engine
        .events
        .all()
        .into_iter()
        .find_map(|e| e.strip_prefix("auth ").map(str::to_owned))
        .unwrap();
    let decoded: serde_json::Value =
        serde_json::from_slice(&URL_SAFE.decode(&sent).unwrap()).unwrap();
    assert_eq!(decoded["username"], "tars");
    assert_eq!(decoded["password"], "??>>~~");
    assert_eq!(decoded["serveraddress"], "reg:5000");

    // An error inside the stream (after the engine's 200) is an error status for the node.
    let answer = pull("bad:1", None);
    assert!(
        !answer.status.is_success(),
        "{} {}",
        answer.status,
        answer.body
    );
    assert!(
        answer.message().contains("manifest unknown"),
        "{}",
        answer.body
    );

    // The Docker CLI reads the stream itself: passed through as it is.
    let answer = pull("bad:2", Some("Docker-Client/20.10.24 (linux)"));
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("errorDetail"), "{}", answer.body);
    assert!(
        engine.events.all().contains(&format!("auth {standard}")),
        "the CLI's header is forwarded untouched: {:?}",
        engine.events.all()
    );
}
