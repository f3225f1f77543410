//! The node's image calls: the pull (`POST /images/create`), the image inspect it decides
//! with (`GET /images/{name}/json`), and the registry login (`POST /auth`).
//!
//! - **Pull.** Upstream `TC_Docker` encodes `X-Registry-Auth` with the standard base64
//!   alphabet (Docker decodes base64url, and pulls *without* credentials when that fails) and
//!   reads only the HTTP status, which is 200 before the pull has even started: an error
//!   inside the progress stream counts as success. So a pull from such a client is run by
//!   tarsdock's runtime: credentials decoded in either alphabet and re-sent base64url, the
//!   whole stream drained, and one answer when the pull is done — `200` with the engine's
//!   progress messages, or an error status with the reason. The Docker CLI (which encodes
//!   correctly and reads the stream itself: `User-Agent: Docker-Client/…`) and imports
//!   (`fromSrc`) are passed through, live.
//! - **Image inspect.** tarsnode pulls only when the engine's error text contains the
//!   lower-case `no such image`; engines that say `No such image: x` alone would never be
//!   pulled from. A `404` whose message lacks it gets it, in front of the engine's words.
//! - **Login.** Passed on as sent, the registry and user logged (never the password).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Request, Response, StatusCode};
use runtime::{PullProgress, RegistryAuth};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::proxy::query_value;
use crate::reply::{self, Body};
use crate::state::State;

/// The largest `/auth` body, and the largest engine error read back.
const SMALL_BODY: usize = 64 * 1024;

/// The most progress messages kept for a pull's answer.
const MAX_PROGRESS_LINES: usize = 10_000;

/// `POST /images/create`.
pub(crate) async fn pull(state: &State, request: Request<Body>) -> Response<Body> {
    let uri = request.uri().clone();
    let cli = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Docker-Client/"));
    let from_image = query_value(&uri, "fromImage").filter(|s| !s.is_empty());
    let (Some(from_image), false, None) = (from_image, cli, query_value(&uri, "fromSrc")) else {
        debug!("pull passed through (Docker CLI, import, or no fromImage)");
        return state.engine.forward(request).await;
    };
    let image = match query_value(&uri, "tag").filter(|t| !t.is_empty()) {
        Some(tag) if tag.contains(':') => format!("{from_image}@{tag}"),
        Some(tag) => format!("{from_image}:{tag}"),
        None => from_image,
    };
    let auth = match request.headers().get("x-registry-auth").map(decode_auth) {
        None => None,
        Some(Ok(auth)) => auth,
        Some(Err(reason)) => {
            return reply::error(
                StatusCode::BAD_REQUEST,
                &format!("X-Registry-Auth is not usable: {reason}"),
            );
        }
    };
    // TC_Docker repeats the credentials as the body; they are in the header already.
    if let Err(e) = reply::read_bounded(request.into_body(), SMALL_BODY).await {
        return e.response();
    }
    let image_text = parser::terminal::escape_controls(&image).into_owned();
    info!(
        image = %image_text,
        user = auth.as_ref().map(|a| a.username.as_str()).unwrap_or(""),
        registry = auth.as_ref().and_then(|a| a.server_address.as_deref()).unwrap_or(""),
        "pulling for the client"
    );
    let mut lines = Vec::new();
    let mut keep = |p: &PullProgress| {
        // Byte counters of a layer's download and extraction are what a terminal redraws;
        // the client reads the answer whole, so it gets each step once.
        if p.current.is_none() && lines.len() < MAX_PROGRESS_LINES {
            lines.push(progress_line(p));
        }
    };
    let pulled = tokio::time::timeout(
        state.pull_timeout,
        state.pull_runtime.pull(&image, auth.as_ref(), &mut keep),
    )
    .await;
    match pulled {
        Ok(Ok(report)) => {
            info!(image = %image_text, id = %report.id, messages = report.messages, "pulled");
            let mut text = lines.join("\r\n");
            text.push_str("\r\n");
            let mut response = Response::new(reply::full(text));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Ok(Err(error)) => {
            warn!(image = %image_text, error = %reply::shown(&error), "pull failed");
            reply::runtime_error(&error)
        }
        Err(_) => {
            warn!(image = %image_text, "pull timed out");
            reply::error(
                StatusCode::GATEWAY_TIMEOUT,
                &format!(
                    "pulling {image} did not finish within {}s",
                    state.pull_timeout.as_secs()
                ),
            )
        }
    }
}

/// One progress message as the engine writes it.
fn progress_line(progress: &PullProgress) -> String {
    let mut line = json!({ "status": progress.status });
    if let Some(layer) = &progress.layer {
        line["id"] = json!(layer);
    }
    if progress.current.is_some() || progress.total.is_some() {
        line["progressDetail"] = json!({ "current": progress.current, "total": progress.total });
    }
    line.to_string()
}

/// `GET /images/{name}/json`.
pub(crate) async fn inspect(state: &State, name: &str, request: Request<Body>) -> Response<Body> {
    let response = state.engine.forward(request).await;
    if response.status() != StatusCode::NOT_FOUND {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = reply::read_bounded(body, SMALL_BODY).await else {
        return reply::error(
            StatusCode::NOT_FOUND,
            &format!("no such image: {name} (the engine's answer could not be read)"),
        );
    };
    let message = engine_message(&bytes);
    if message.contains("no such image") {
        return Response::from_parts(parts, reply::full(bytes));
    }
    debug!(engine = %parser::terminal::escape_controls(&message), "no-such-image message made lower-case");
    let mut response = reply::json(
        StatusCode::NOT_FOUND,
        &json!({ "message": format!("no such image: {name}: {message}") }),
    );
    response
        .headers_mut()
        .extend(parts.headers.into_iter().filter_map(|(k, v)| {
            k.filter(|k| *k != CONTENT_TYPE && *k != http::header::CONTENT_LENGTH)
                .map(|k| (k, v))
        }));
    response
}

/// The `message` of an engine error document, else its text.
fn engine_message(bytes: &Bytes) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).trim().to_owned())
}

/// `POST /auth`.
pub(crate) async fn auth(state: &State, request: Request<Body>) -> Response<Body> {
    #[derive(Deserialize)]
    struct Login {
        #[serde(default)]
        username: String,
        #[serde(default)]
        serveraddress: String,
    }
    let (parts, body) = request.into_parts();
    let bytes = match reply::read_bounded(body, SMALL_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => return e.response(),
    };
    let (user, registry) = serde_json::from_slice::<Login>(&bytes)
        .map(|l| (l.username, l.serveraddress))
        .unwrap_or_default();
    let response = state
        .engine
        .forward(Request::from_parts(parts, reply::full(bytes)))
        .await;
    info!(
        user = %parser::terminal::escape_controls(&user),
        registry = %parser::terminal::escape_controls(&registry),
        status = response.status().as_u16(),
        "registry login"
    );
    response
}

/// Decodes `X-Registry-Auth`: base64 of `{"username", "password", "serveraddress"}` (or
/// `auth` = base64 of `user:password`), in the standard alphabet (TC_Docker) or base64url
/// (the Engine API), padded or not. `None` when it carries no username (empty, `{}`, or a
/// token, which tarsdock's pull does not use).
///
/// # Errors
/// A description of what is wrong with the header.
pub fn decode_auth(header: &HeaderValue) -> Result<Option<RegistryAuth>, String> {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
        #[serde(default)]
        auth: String,
        #[serde(default)]
        serveraddress: String,
    }
    let text = header.to_str().map_err(|_| "not ASCII".to_owned())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bytes = lenient(text).map_err(|e| format!("not base64: {e}"))?;
    let payload: Payload =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a JSON credential: {e}"))?;
    let (username, password) = if payload.username.is_empty() && !payload.auth.is_empty() {
        let decoded = lenient(&payload.auth).map_err(|e| format!("`auth` is not base64: {e}"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8".to_owned())?;
        match decoded.split_once(':') {
            Some((user, password)) => (user.to_owned(), password.to_owned()),
            None => return Err("`auth` is not `user:password`".to_owned()),
        }
    } else {
        (payload.username, payload.password)
    };
    if username.is_empty() {
        return Ok(None);
    }
    Ok(Some(RegistryAuth {
        username,
        password,
        server_address: Some(payload.serveraddress).filter(|s| !s.is_empty()),
    }))
}

/// Base64 in either alphabet, padded or not.
fn lenient(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let url_safe = text.contains(['-', '_']);
    let engine = GeneralPurpose::new(
        if url_safe {
            &alphabet::URL_SAFE
        } else {
            &alphabet::STANDARD
        },
        config,
    );
    engine.decode(text)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn credentials_decode_in_either_alphabet() {
        // A password whose encoding has `+`/`/` in the standard alphabet and `-`/`_` in
        // base64url.
        let json = r#"{"username":"tars","password":"??>>~~","serveraddress":"127.0.0.1:5000"}"#;
        let standard = STANDARD.encode(json);
        let url = URL_SAFE.encode(json);
        assert!(standard.contains(['+', '/']), "{standard}");
        assert!(url.contains(['-', '_']), "{url}");
        for text in [standard, url, URL_SAFE_NO_PAD.encode(json)] {
            let auth = decode_auth(&header(&text)).unwrap().unwrap();
            assert_eq!(auth.username, "tars");
            assert_eq!(auth.password, "??>>~~");
            assert_eq!(auth.server_address.as_deref(), Some("127.0.0.1:5000"));
        }
    }

    #[test]
    fn auth_field_and_empty_credentials() {
        let inner = STANDARD.encode("u:p:w");
        let text = STANDARD.encode(format!(r#"{{"auth":"{inner}"}}"#));
        let auth = decode_auth(&header(&text)).unwrap().unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("u", "p:w")
        );
        assert!(auth.server_address.is_none());
        assert!(decode_auth(&header("")).unwrap().is_none());
        assert!(
            decode_auth(&header(&STANDARD.encode("{}")))
                .unwrap()
                .is_none()
        );
        let token = STANDARD.encode(r#"{"identitytoken":"x"}"#);
        assert!(decode_auth(&header(&token)).unwrap().is_none());
        assert!(decode_auth(&header("!!!")).is_err());
        assert!(decode_auth(&header(&STANDARD.encode("not json"))).is_err());
    }

    #[test]
    fn progress_lines_look_like_the_engines() {
        let line = progress_line(&PullProgress {
            layer: Some("abc".into()),
            status: "Downloading".into(),
            current: Some(1),
            total: Some(2),
        });
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["status"], "Downloading");
        assert_eq!(value["id"], "abc");
        assert_eq!(value["progressDetail"]["total"], 2);
        let plain = progress_line(&PullProgress {
            layer: None,
            status: "Status: Downloaded newer image for x:1".into(),
            current: None,
            total: None,
        });
        assert_eq!(
            plain,
            r#"{"status":"Status: Downloaded newer image for x:1"}"#
        );
    }

    #[test]
    fn engine_messages_are_read_from_documents_or_text() {
        assert_eq!(
            engine_message(&Bytes::from(r#"{"message":"No such image: x"}"#)),
            "No such image: x"
        );
        assert_eq!(engine_message(&Bytes::from("plain\n")), "plain");
    }
}
