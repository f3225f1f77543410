//! A fake Docker engine on a Unix socket, for the failures a real engine will not produce on
//! demand: a reply whose body stalls after its head, a truncated body, a connection closed
//! without a reply, bytes that are not HTTP, a request that is never answered, and streams
//! (pull progress, logs) of any length produced lazily.
//!
//! A test hands [`FakeEngine::start`] a handler that maps each [`Request`] to a [`Reply`];
//! `None` falls back to [`standard`] (`/_ping`, `/version` and `/info` of a Docker 20.10
//! engine speaking API 1.41), and anything else is a 404 in the engine's error format. Every
//! request is recorded ([`FakeEngine::requests`]). Stalled replies hold their connection
//! until the fake is dropped.

#![allow(clippy::missing_panics_doc)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The API version the fake speaks (Docker 20.10).
pub const API_VERSION: &str = "1.41";

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without the `/v1.xx` prefix (`/containers/x/json`).
    pub path: String,
    /// The query string without `?` (may be empty).
    pub query: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of query parameter `key`, when present.
    #[must_use]
    pub fn param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| v.to_owned())
        })
    }

    /// Whether this is `method` on exactly `path`.
    #[must_use]
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// How the fake answers one request.
pub enum Reply {
    /// A complete reply.
    Full {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// The head (announcing `declared_length` bytes) and `prefix`, then nothing more: the
    /// connection stays open until the fake is dropped.
    StallBody {
        status: u16,
        prefix: Vec<u8>,
        declared_length: usize,
    },
    /// The request is read and never answered.
    Stall,
    /// The connection is closed without a reply.
    Close,
    /// These bytes are sent as they are, then the connection is closed.
    Raw(Vec<u8>),
    /// A chunked reply whose chunks come from `chunks`, ended as `end` says.
    Stream {
        status: u16,
        content_type: &'static str,
        chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
        end: StreamEnd,
    },
}

/// How a [`Reply::Stream`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The terminating chunk: a complete reply.
    Finish,
    /// Nothing more, the connection held open.
    Stall,
    /// The connection closed mid-stream.
    Close,
}

impl Reply {
    /// A JSON reply.
    #[must_use]
    pub fn json(status: u16, value: &Value) -> Self {
        Self::Full {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }

    /// An empty reply (`204 No Content` and the like).
    #[must_use]
    pub fn empty(status: u16) -> Self {
        Self::Full {
            status,
            content_type: "text/plain",
            body: Vec::new(),
        }
    }

    /// An engine error: `{"message": …}` with `status`.
    #[must_use]
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &json!({ "message": message }))
    }

    /// The head and the first half of `value`'s JSON, then a stall.
    #[must_use]
    pub fn stall_mid_json(status: u16, value: &Value) -> Self {
        let body = value.to_string().into_bytes();
        Self::StallBody {
            status,
            prefix: body[..body.len() / 2].to_vec(),
            declared_length: body.len(),
        }
    }

    /// A JSON body that announces its full length, sends half of it and closes.
    #[must_use]
    pub fn truncated_json(status: u16, value: &Value) -> Self {
        let body = value.to_string().into_bytes();
        let mut raw = head(status, "application/json", Some(body.len()));
        raw.extend_from_slice(&body[..body.len() / 2]);
        Self::Raw(raw)
    }
}

/// A running fake engine; dropping it stops it and releases every held connection.
pub struct FakeEngine {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

type Handler = dyn Fn(&Request) -> Option<Reply> + Send + Sync;

impl FakeEngine {
    /// Listens on a fresh socket in a temporary directory and answers with `handler`.
    #[must_use]
    pub fn start(handler: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tarsdock-fake-")
            .tempdir()
            .expect("fake engine dir");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("bind the fake engine socket");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let handler = Arc::clone(&handler);
                    let requests = Arc::clone(&requests);
                    let stop = Arc::clone(&stop);
                    std::thread::spawn(move || serve(stream, &*handler, &requests, &stop));
                }
            })
        };
        Self {
            _dir: dir,
            socket,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    /// The socket path.
    #[must_use]
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Every request received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = UnixStream::connect(&self.socket);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Answers `/_ping`, `/version` and `/info` as Docker 20.10 on Linux does.
#[must_use]
pub fn standard(request: &Request) -> Option<Reply> {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET" | "HEAD", "/_ping") => Some(Reply::Full {
            status: 200,
            content_type: "text/plain",
            body: b"OK".to_vec(),
        }),
        ("GET", "/version") => Some(Reply::json(
            200,
            &json!({
                "Version": "20.10.24",
                "ApiVersion": API_VERSION,
                "MinAPIVersion": "1.12",
                "Os": "linux",
                "Arch": "amd64",
            }),
        )),
        ("GET", "/info") => Some(Reply::json(
            200,
            &json!({
                "OSType": "linux",
                "OperatingSystem": "Fake Linux",
                "ServerVersion": "20.10.24",
                "SecurityOptions": [],
            }),
        )),
        _ => None,
    }
}

/// The inspect JSON of a container tarsdock manages: `name`, `id`, in `state`
/// (`running`, `exited`, `paused`, …), with the labels of a request for `App.Server` `name`
/// on node `node` and the given plan hash and `StopTimeout`.
#[must_use]
pub fn managed_container(
    name: &str,
    id: &str,
    state: &str,
    node: &str,
    plan_hash: &str,
    stop_timeout: Option<i64>,
) -> Value {
    let (app, server) = name.split_once('.').unwrap_or((name, name));
    let running = state == "running" || state == "paused";
    json!({
        "Id": id,
        "Name": format!("/{name}"),
        "Image": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
        "State": {
            "Status": state,
            "Running": running,
            "Paused": state == "paused",
            "Pid": if running { 4242 } else { 0 },
            "ExitCode": 0,
            "StartedAt": "2025-01-01T00:00:00Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Config": {
            "Image": "fake/image:1",
            "StopTimeout": stop_timeout,
            "Labels": {
                "tarsdock.managed-by": "tarsdock",
                "tarsdock.app": app,
                "tarsdock.server": server,
                "tarsdock.node": node,
                "tarsdock.plan-hash": plan_hash,
            },
        },
        "HostConfig": {},
        "ExecIDs": null,
    })
}

/// One frame of the engine's multiplexed (non-TTY) log stream: stream 1 is stdout, 2 stderr.
#[must_use]
pub fn log_frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 8);
    frame.extend_from_slice(&[stream, 0, 0, 0]);
    let length = u32::try_from(payload.len()).expect("frame under 4 GiB");
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A reply head (HTTP/1.1): `Content-Length` when `length` is given, else chunked.
fn head(status: u16, content_type: &str, length: Option<usize>) -> Vec<u8> {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_owned(),
    };
    format!(
        "HTTP/1.1 {status} {}\r\nApi-Version: {API_VERSION}\r\nContent-Type: {content_type}\r\n\
         Server: Docker/20.10.24 (linux)\r\n{framing}\r\n\r\n",
        reason(status)
    )
    .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// Serves one connection: requests one after another (keep-alive) until it is closed, a
/// reply closes it, or the fake stops.
fn serve(stream: UnixStream, handler: &Handler, log: &Mutex<Vec<Request>>, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader, stop) else {
            return;
        };
        if let Ok(mut log) = log.lock() {
            log.push(request.clone());
        }
        let reply = handler(&request)
            .or_else(|| standard(&request))
            .unwrap_or_else(|| {
                Reply::error(
                    404,
                    &format!("page not found: {} {}", request.method, request.path),
                )
            });
        let keep_going = match reply {
            Reply::Full {
                status,
                content_type,
                body,
            } => {
                let mut bytes = head(status, content_type, Some(body.len()));
                bytes.extend_from_slice(&body);
                writer.write_all(&bytes).is_ok()
            }
            Reply::StallBody {
                status,
                prefix,
                declared_length,
            } => {
                let mut bytes = head(status, "application/json", Some(declared_length));
                bytes.extend_from_slice(&prefix);
                let _ = writer.write_all(&bytes);
                hold(stop);
                false
            }
            Reply::Stall => {
                hold(stop);
                false
            }
            Reply::Close => false,
            Reply::Raw(bytes) => {
                let _ = writer.write_all(&bytes);
                false
            }
            Reply::Stream {
                status,
                content_type,
                chunks,
                end,
            } => stream_reply(&mut writer, status, content_type, chunks, end, stop),
        };
        if !keep_going {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

fn stream_reply(
    writer: &mut UnixStream,
    status: u16,
    content_type: &str,
    chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    end: StreamEnd,
    stop: &AtomicBool,
) -> bool {
    if writer.write_all(&head(status, content_type, None)).is_err() {
        return false;
    }
    for chunk in chunks {
        if chunk.is_empty() {
            continue;
        }
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let mut bytes = format!("{:x}\r\n", chunk.len()).into_bytes();
        bytes.extend_from_slice(&chunk);
        bytes.extend_from_slice(b"\r\n");
        if writer.write_all(&bytes).is_err() {
            return false;
        }
    }
    match end {
        StreamEnd::Finish => writer.write_all(b"0\r\n\r\n").is_ok(),
        StreamEnd::Stall => {
            hold(stop);
            false
        }
        StreamEnd::Close => false,
    }
}

/// Waits until the fake stops.
fn hold(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads one request (head and `Content-Length` body); `None` when the connection ends or
/// the fake stops.
fn read_request(reader: &mut BufReader<UnixStream>, stop: &AtomicBool) -> Option<Request> {
    let mut head_lines = Vec::new();
    let mut line = String::new();
    loop {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => {
                if !line.ends_with('\n') {
                    continue;
                }
                let text = line.trim_end().to_owned();
                line.clear();
                if text.is_empty() {
                    if head_lines.is_empty() {
                        continue;
                    }
                    break;
                }
                head_lines.push(text);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
    }
    let mut parts = head_lines.first()?.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let length = head_lines
        .iter()
        .skip(1)
        .find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    let mut filled = 0;
    while filled < length {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        match reader.read(&mut body[filled..]) {
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: strip_version(path).to_owned(),
        query: query.to_owned(),
        body,
    })
}

/// `/v1.41/containers/x/json` → `/containers/x/json`.
fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v")
        && let Some(slash) = rest.find('/')
        && rest[..slash]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
    {
        return &rest[slash..];
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_stripped() {
        assert_eq!(
            strip_version("/v1.41/containers/x/json"),
            "/containers/x/json"
        );
        assert_eq!(strip_version("/_ping"), "/_ping");
        assert_eq!(strip_version("/version"), "/version");
    }

    #[test]
    fn answers_over_the_socket() {
        let fake = FakeEngine::start(|r| {
            r.is("GET", "/containers/a/json")
                .then(|| Reply::json(200, &json!({"Id": "x"})))
        });
        let mut stream = UnixStream::connect(fake.socket()).unwrap();
        stream
            .write_all(b"GET /v1.41/containers/a/json?x=1 HTTP/1.1\r\nHost: d\r\n\r\n")
            .unwrap();
        let mut reply = vec![0; 4096];
        let n = stream.read(&mut reply).unwrap();
        let reply = String::from_utf8_lossy(&reply[..n]);
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("{\"Id\":\"x\"}"), "{reply}");
        let seen = fake.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].param("x").as_deref(), Some("1"));
    }
}

/// A small in-memory engine behind a [`FakeEngine`]: one image and the containers created on
/// it, with the lifecycle calls tarsdock makes (inspect, create, start, stop, kill, unpause,
/// remove). Tests wrap [`World::handle`] to inject faults on some requests.
#[derive(Debug, Default)]
pub struct World {
    pub containers: Vec<FakeContainer>,
    /// `(reference, id)` of the one image there is.
    pub image: (String, String),
    /// The `t` of every stop request, in order (`None`: not given).
    pub stop_timeouts: Vec<Option<String>>,
    next_id: u64,
}

/// A container of a [`World`].
#[derive(Clone, Debug)]
pub struct FakeContainer {
    pub id: String,
    pub name: String,
    /// `created`, `running`, `paused`, `exited`.
    pub state: String,
    pub exit_code: i64,
    /// `Config` as the engine reports it (the create body without `HostConfig`).
    pub config: Value,
    pub host_config: Value,
}

impl World {
    /// A world with the image `fake/image:1`.
    #[must_use]
    pub fn new() -> Self {
        Self {
            image: (
                "fake/image:1".to_owned(),
                "sha256:00000000000000000000000000000000000000000000000000000000000000aa"
                    .to_owned(),
            ),
            ..Self::default()
        }
    }

    /// Adds a container from a create body (JSON), in `state`; its id.
    pub fn add(&mut self, name: &str, body: &Value, state: &str) -> String {
        self.next_id += 1;
        let id = format!("{:064x}", 0xfeed_0000_u64 + self.next_id);
        let mut config = body.clone();
        let host_config = config
            .as_object_mut()
            .and_then(|c| c.remove("HostConfig"))
            .unwrap_or_else(|| json!({}));
        self.containers.push(FakeContainer {
            id: id.clone(),
            name: name.to_owned(),
            state: state.to_owned(),
            exit_code: 0,
            config,
            host_config,
        });
        id
    }

    fn find(&mut self, key: &str) -> Option<&mut FakeContainer> {
        self.containers
            .iter_mut()
            .find(|c| c.name == key || c.id == key)
    }

    /// The inspect JSON of a container.
    #[must_use]
    pub fn inspect(&self, container: &FakeContainer) -> Value {
        let running = container.state == "running" || container.state == "paused";
        json!({
            "Id": container.id,
            "Name": format!("/{}", container.name),
            "Image": self.image.1,
            "State": {
                "Status": container.state,
                "Running": running,
                "Paused": container.state == "paused",
                "Pid": if running { 4242 } else { 0 },
                "ExitCode": container.exit_code,
                "StartedAt": "2025-01-01T00:00:00Z",
                "FinishedAt": "0001-01-01T00:00:00Z",
            },
            "Config": container.config,
            "HostConfig": container.host_config,
        })
    }

    /// `GET /containers/json?all=1`: every container as a summary (names, labels, bind
    /// mounts). A `filters` query that names the label `tarsdock.managed-by` keeps only the
    /// containers carrying `tarsdock.managed-by=tarsdock` (the one filter tarsdock sends).
    #[must_use]
    pub fn list(&self, request: &Request) -> Value {
        let managed_only = request
            .param("filters")
            .is_some_and(|f| f.contains("tarsdock.managed-by"));
        let summaries: Vec<Value> = self
            .containers
            .iter()
            .filter(|c| {
                !managed_only || c.config["Labels"]["tarsdock.managed-by"] == json!("tarsdock")
            })
            .map(|c| {
                let mut mounts: Vec<Value> = Vec::new();
                for m in c.host_config["Mounts"].as_array().into_iter().flatten() {
                    if m["Type"] == json!("bind") {
                        mounts.push(json!({
                            "Type": "bind",
                            "Source": m["Source"],
                            "Destination": m["Target"],
                            "RW": m["ReadOnly"] != json!(true),
                        }));
                    }
                }
                for b in c.host_config["Binds"].as_array().into_iter().flatten() {
                    let text = b.as_str().unwrap_or_default();
                    let mut parts = text.splitn(3, ':');
                    let (source, target) = (parts.next(), parts.next());
                    let rw = !parts
                        .next()
                        .is_some_and(|o| o.split(',').any(|o| o == "ro"));
                    mounts.push(json!({
                        "Type": "bind", "Source": source, "Destination": target, "RW": rw,
                    }));
                }
                json!({
                    "Id": c.id,
                    "Names": [format!("/{}", c.name)],
                    "State": c.state,
                    "Labels": c.config["Labels"],
                    "Mounts": mounts,
                })
            })
            .collect();
        Value::Array(summaries)
    }

    /// Answers the lifecycle requests; `None` for anything else.
    pub fn handle(&mut self, request: &Request) -> Option<Reply> {
        let path = request.path.as_str();
        if let Some(reference) = path
            .strip_prefix("/images/")
            .and_then(|p| p.strip_suffix("/json"))
        {
            return Some(if reference == self.image.0 || reference == self.image.1 {
                Reply::json(
                    200,
                    &json!({"Id": self.image.1, "RepoDigests": [], "Config": {}}),
                )
            } else {
                Reply::error(404, &format!("No such image: {reference}"))
            });
        }
        if request.is("GET", "/containers/json") {
            return Some(Reply::json(200, &self.list(request)));
        }
        if request.is("POST", "/containers/create") {
            let name = request.param("name").unwrap_or_default();
            if let Some(existing) = self.containers.iter().find(|c| c.name == name) {
                return Some(Reply::error(
                    409,
                    &format!(
                        "Conflict. The container name \"/{name}\" is already in use by container \"{}\". \
                         You have to remove (or rename) that container to be able to reuse that name.",
                        existing.id
                    ),
                ));
            }
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let id = self.add(&name, &body, "created");
            return Some(Reply::json(201, &json!({"Id": id, "Warnings": []})));
        }
        let rest = path.strip_prefix("/containers/")?;
        let (key, action) = rest.split_once('/').unwrap_or((rest, ""));
        if request.method == "DELETE" && action.is_empty() {
            let before = self.containers.len();
            self.containers.retain(|c| c.name != key && c.id != key);
            return Some(if self.containers.len() < before {
                Reply::empty(204)
            } else {
                Reply::error(404, &format!("No such container: {key}"))
            });
        }
        let t = request.param("t");
        if action == "stop" {
            self.stop_timeouts.push(t);
        }
        let Some(container) = self.find(key) else {
            return Some(Reply::error(404, &format!("No such container: {key}")));
        };
        let reply = match (request.method.as_str(), action) {
            ("GET", "json") => {
                let container = container.clone();
                return Some(Reply::json(200, &self.inspect(&container)));
            }
            ("POST", "start") => {
                container.state = "running".to_owned();
                Reply::empty(204)
            }
            ("POST", "stop") => {
                if container.state == "running" || container.state == "paused" {
                    container.state = "exited".to_owned();
                    container.exit_code = 143;
                    Reply::empty(204)
                } else {
                    Reply::empty(304)
                }
            }
            ("POST", "kill") => {
                container.state = "exited".to_owned();
                container.exit_code = 137;
                Reply::empty(204)
            }
            ("POST", "unpause") => {
                container.state = "running".to_owned();
                Reply::empty(204)
            }
            _ => return None,
        };
        Some(reply)
    }
}
