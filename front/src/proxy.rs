//! Pass-through: a request forwarded to the engine byte for byte (method, path with its
//! version prefix, query, end-to-end headers, streaming body) and the engine's answer
//! streamed back, including connection upgrades (`docker attach`, `docker exec -it`: the
//! engine's `101` is passed on and both upgraded connections are copied into each other).
//!
//! One engine connection per request (Unix sockets are cheap to open; it keeps every request
//! independent). Bounds on the engine side: the connection must open within the connect
//! timeout, and the engine must start answering within the response timeout counted from
//! the moment the request body has been sent (plus the `t` of a stop or restart); calls that
//! answer only when something happens (`/containers/{id}/wait`, upgrades) are exempt.
//! Streaming bodies (logs `-f`, events, pull progress) are not cut.
//!
//! Nothing outlives its client: the task driving the engine connection is aborted when the
//! response body (or, before the answer, the request handler) is dropped — which hyper does
//! when the client disconnects — and tunnels of upgraded connections are tracked, and
//! cancelled at shutdown.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use runtime::EngineAddress;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, debug, info};

use crate::reply::{self, Body, BoxError};
use crate::route::split_version;

/// Where the engine is and how long to wait for it.
#[derive(Clone, Debug)]
pub(crate) struct Engine {
    address: EngineAddress,
    connect_timeout: Duration,
    response_timeout: Duration,
    tunnels: TaskTracker,
    shutdown: CancellationToken,
}

/// Anything the engine connection can be.
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

impl Engine {
    /// An engine at `address`; upgraded connections are tracked in `tunnels` and closed when
    /// `shutdown` is cancelled.
    #[must_use]
    pub(crate) fn new(
        address: EngineAddress,
        connect_timeout: Duration,
        response_timeout: Duration,
        tunnels: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            address,
            connect_timeout,
            response_timeout,
            tunnels,
            shutdown,
        }
    }

    async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        match &self.address {
            EngineAddress::Unix(path) => Ok(Box::new(
                tokio::net::UnixStream::connect(path.as_path()).await?,
            )),
            EngineAddress::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address.as_str()).await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
        }
    }

    /// Forwards `request` and returns the engine's answer (or a `502`/`504` document naming
    /// why there is none).
    pub(crate) async fn forward(&self, mut request: Request<Body>) -> Response<Body> {
        let upgrade = wants_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let response_timeout = self.response_timeout_for(request.uri(), upgrade);

        let stream = match tokio::time::timeout(self.connect_timeout, self.connect()).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return reply::error(
                    StatusCode::BAD_GATEWAY,
                    &format!("cannot reach the Docker engine at {}: {e}", self.address),
                );
            }
            Err(_) => {
                return reply::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!(
                        "the Docker engine at {} did not accept a connection within {}s",
                        self.address,
                        self.connect_timeout.as_secs()
                    ),
                );
            }
        };
        let (mut sender, connection) = match hyper::client::conn::http1::Builder::new()
            .handshake::<_, SignalEnd>(TokioIo::new(stream))
            .await
        {
            Ok(pair) => pair,
            Err(e) => {
                return reply::error(
                    StatusCode::BAD_GATEWAY,
                    &format!("cannot talk to the Docker engine at {}: {e}", self.address),
                );
            }
        };
        let driver = tokio::spawn(
            async move {
                if let Err(e) = connection.with_upgrades().await {
                    debug!(error = %e, "engine connection ended with an error");
                }
            }
            .in_current_span(),
        );
        let guard = AbortOnDrop(driver.abort_handle());

        let (parts, body) = request.into_parts();
        let sent = Arc::new(Notify::new());
        let body = SignalEnd::new(body, Arc::clone(&sent));
        let outgoing = outgoing_request(parts, body, upgrade);
        let deadline = async {
            sent.notified().await;
            match response_timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let answer = tokio::select! {
            answer = sender.send_request(outgoing) => answer,
            () = deadline => {
                return reply::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!(
                        "the Docker engine at {} did not answer within {}s",
                        self.address,
                        response_timeout.unwrap_or_default().as_secs()
                    ),
                );
            }
        };
        let mut response = match answer {
            Ok(response) => response,
            Err(e) => {
                return reply::error(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "the Docker engine at {} failed to answer: {e}",
                        self.address
                    ),
                );
            }
        };

        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_upgrade) = client_upgrade
        {
            let engine_upgrade = hyper::upgrade::on(&mut response);
            let shutdown = self.shutdown.clone();
            self.tunnels.spawn(
                async move {
                    // The driver hands the engine connection over once upgraded.
                    let _guard = guard;
                    let (client, engine) = match tokio::join!(client_upgrade, engine_upgrade) {
                        (Ok(client), Ok(engine)) => (client, engine),
                        (client, engine) => {
                            debug!(
                                client = client.is_ok(),
                                engine = engine.is_ok(),
                                "upgrade did not complete"
                            );
                            return;
                        }
                    };
                    let mut client = TokioIo::new(client);
                    let mut engine = TokioIo::new(engine);
                    tokio::select! {
                        copied = tokio::io::copy_bidirectional(&mut client, &mut engine) => {
                            match copied {
                                Ok((up, down)) => debug!(up, down, "upgraded connection closed"),
                                Err(e) => debug!(error = %e, "upgraded connection broke"),
                            }
                        }
                        () = shutdown.cancelled() => {
                            info!("upgraded connection closed at shutdown");
                        }
                    }
                }
                .in_current_span(),
            );
            let (parts, _) = response.into_parts();
            let mut parts = parts;
            strip_hop_by_hop(&mut parts.headers, true);
            return Response::from_parts(parts, reply::empty());
        }

        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        let body = Guarded {
            body: reply::boxed(body),
            _guard: guard,
        };
        Response::from_parts(parts, reply::boxed(body))
    }

    /// How long the engine may take to start answering `uri`, from the end of the request
    /// body: the response timeout, plus a stop's or restart's `t`; none for calls that answer
    /// only when something happens.
    fn response_timeout_for(&self, uri: &Uri, upgrade: bool) -> Option<Duration> {
        let (_, path) = split_version(uri.path());
        if upgrade || (path.starts_with("/containers/") && path.ends_with("/wait")) {
            return None;
        }
        let mut limit = self.response_timeout;
        if path.starts_with("/containers/")
            && (path.ends_with("/stop") || path.ends_with("/restart"))
        {
            let grace = query_value(uri, "t")
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(10);
            limit = limit.saturating_add(Duration::from_secs(grace));
        }
        Some(limit)
    }
}

/// The value of query parameter `key`, decoded.
#[must_use]
pub(crate) fn query_value(uri: &Uri, key: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Whether the client asks to take the connection over (`Connection: Upgrade` with an
/// `Upgrade` header), as the Docker CLI does for attach and exec.
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// The request sent to the engine: same method, path and query, end-to-end headers, `Host`
/// set when the client sent none (the engine requires one on HTTP/1.1).
fn outgoing_request(
    parts: http::request::Parts,
    body: SignalEnd,
    upgrade: bool,
) -> Request<SignalEnd> {
    let mut headers = parts.headers;
    let upgrade_to = headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut headers, false);
    if upgrade && let Some(to) = upgrade_to {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, to);
    }
    if !headers.contains_key(header::HOST) {
        headers.insert(header::HOST, HeaderValue::from_static("docker"));
    }
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request
}

/// Removes the headers that belong to one connection (RFC 9110 §7.6.1), and those the
/// `Connection` header names; `keep_upgrade` keeps `Connection` and `Upgrade` (a `101`).
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    if keep_upgrade {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A response body that keeps the engine connection's driver alive exactly as long as the
/// client reads it.
struct Guarded {
    body: Body,
    _guard: AbortOnDrop,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that says when it has been sent whole (or failed), so the response
/// timeout starts then and not while a large upload is still going.
struct SignalEnd {
    body: Body,
    sent: Arc<Notify>,
}

impl SignalEnd {
    fn new(body: Body, sent: Arc<Notify>) -> Self {
        if body.is_end_stream() {
            sent.notify_one();
        }
        Self { body, sent }
    }
}

impl HttpBody for SignalEnd {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let finished = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            Poll::Pending => false,
        };
        if finished {
            self.sent.notify_one();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.body.is_end_stream();
        if end {
            self.sent.notify_one();
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_requests_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!wants_upgrade(&headers));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(!wants_upgrade(&headers));
        headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        assert!(wants_upgrade(&headers));
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-registry-auth", HeaderValue::from_static("abc"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        strip_hop_by_hop(&mut headers, false);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(headers.contains_key("x-registry-auth"));
        assert!(headers.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn outgoing_requests_keep_path_query_and_get_a_host() {
        let request = Request::builder()
            .method("POST")
            .uri("/v1.40/containers/A.B/stop?t=10000")
            .header(header::CONNECTION, "close")
            .body(reply::empty())
            .unwrap();
        let (parts, body) = request.into_parts();
        let out = outgoing_request(parts, SignalEnd::new(body, Arc::new(Notify::new())), false);
        assert_eq!(out.uri(), "/v1.40/containers/A.B/stop?t=10000");
        assert_eq!(out.headers()[header::HOST], "docker");
        assert!(!out.headers().contains_key(header::CONNECTION));

        let request = Request::builder()
            .method("POST")
            .uri("/v1.41/exec/abc/start")
            .header(header::HOST, "api")
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "tcp")
            .body(reply::empty())
            .unwrap();
        let (parts, body) = request.into_parts();
        let out = outgoing_request(parts, SignalEnd::new(body, Arc::new(Notify::new())), true);
        assert_eq!(out.headers()[header::HOST], "api");
        assert_eq!(out.headers()[header::CONNECTION], "Upgrade");
        assert_eq!(out.headers()[header::UPGRADE], "tcp");
    }

    #[test]
    fn response_timeouts_follow_the_call() {
        let engine = Engine::new(
            EngineAddress::Unix("/nonexistent".into()),
            Duration::from_secs(5),
            Duration::from_secs(120),
            TaskTracker::new(),
            CancellationToken::new(),
        );
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            engine.response_timeout_for(&uri("/v1.41/containers/json"), false),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            engine.response_timeout_for(&uri("/v1.40/containers/x/stop?t=30"), false),
            Some(Duration::from_secs(150))
        );
        assert_eq!(
            engine.response_timeout_for(&uri("/containers/x/restart"), false),
            Some(Duration::from_secs(130))
        );
        assert_eq!(
            engine
                .response_timeout_for(&uri("/v1.41/containers/x/wait?condition=next-exit"), false),
            None
        );
        assert_eq!(
            engine.response_timeout_for(&uri("/v1.41/containers/x/attach?stream=1"), true),
            None
        );
    }
}
