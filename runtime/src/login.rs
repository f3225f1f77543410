//! Login check: try each registry's credentials through the engine (`POST /auth`), like
//! tarsnode's `forceDockerLogin` (`DockerPullThread::checkDockerRegistries`). Success means
//! the engine answered `Status: "Login Succeeded"`; a registry without a username is
//! reported as not needing a login.
//!
//! bollard 0.21 has no call for `/auth`, so the request goes through bollard's own transport
//! (socket, negotiated version prefix, timeout) as a `/_ping` request that a request
//! modifier turns into `POST /auth` with the JSON credentials as body. The body is
//! `{username, password, serveraddress}`, as the Engine API documents; the password goes
//! only into that body and is never logged or printed.

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Uri};
use serde::{Deserialize, Serialize};

use crate::engine::{Failure, classify};
use crate::manifest::{Manifest, RegistrySpec};
use crate::runtime::Runtime;

/// The outcome of one registry's login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginStatus {
    /// The engine said `Login Succeeded`.
    Succeeded,
    /// The engine (or the registry behind it) refused, or the password could not be read.
    Failed,
    /// No username: nothing to log in with (upstream: "no username, no need login").
    Skipped,
}

/// One registry's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoginResult {
    pub registry: String,
    pub address: String,
    pub username: Option<String>,
    pub status: LoginStatus,
    /// The engine's status or error text.
    pub message: String,
}

impl LoginResult {
    /// The line upstream reports: `<registry>(<user>) <msg>` or
    /// `(<registry>) no username, no need login`.
    #[must_use]
    pub fn line(&self) -> String {
        match &self.username {
            Some(user) => format!("{}({user}) {}", self.address, self.message),
            None => format!("({}) {}", self.address, self.message),
        }
    }
}

/// All registries' results, in manifest order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoginReport {
    pub registries: Vec<LoginResult>,
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Serialize)]
struct AuthBody<'a> {
    username: &'a str,
    password: &'a str,
    serveraddress: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuthReply {
    #[serde(default)]
    status: String,
}

/// Checks every registry of the manifest, concurrently (at most `jobs` at once).
pub async fn login_check(runtime: &Runtime, manifest: &Manifest, jobs: usize) -> LoginReport {
    let registries: Vec<LoginResult> = futures_util::stream::iter(&manifest.registries)
        .map(|r| check_registry(runtime, r))
        .buffered(jobs.max(1))
        .collect()
        .await;
    let count = |s: LoginStatus| registries.iter().filter(|r| r.status == s).count();
    LoginReport {
        succeeded: count(LoginStatus::Succeeded),
        failed: count(LoginStatus::Failed),
        skipped: count(LoginStatus::Skipped),
        registries,
    }
}

/// Tries one registry's credentials.
pub async fn check_registry(runtime: &Runtime, registry: &RegistrySpec) -> LoginResult {
    let mut result = LoginResult {
        registry: registry.id.clone(),
        address: registry.address.clone(),
        username: registry.username.clone(),
        status: LoginStatus::Failed,
        message: String::new(),
    };
    let auth = match registry.credentials() {
        Ok(Some(auth)) => auth,
        Ok(None) => {
            result.status = LoginStatus::Skipped;
            "no username, no need login".clone_into(&mut result.message);
            return result;
        }
        Err(error) => {
            result.message = error.to_string();
            return result;
        }
    };
    let body = AuthBody {
        username: &auth.username,
        password: &auth.password,
        serveraddress: &registry.address,
    };
    match engine_auth(runtime, &body).await {
        Ok(status) if status == "Login Succeeded" => {
            result.status = LoginStatus::Succeeded;
            result.message = status;
        }
        Ok(status) => {
            result.message = if status.is_empty() {
                "the engine did not say `Login Succeeded`".to_owned()
            } else {
                status
            };
        }
        Err(message) => result.message = message,
    }
    result
}

/// `POST /auth`; the reply's `Status`, or the error text.
async fn engine_auth(runtime: &Runtime, body: &AuthBody<'_>) -> Result<String, String> {
    let json = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let json = Bytes::from(json);
    let client = runtime
        .docker()
        .clone()
        .with_request_modifier(move |request| {
            if !request.uri().path().ends_with("/_ping") {
                return request;
            }
            let (mut parts, _) = request.into_parts();
            parts.method = Method::POST;
            if let Some(uri) = auth_uri(&parts.uri) {
                parts.uri = uri;
            }
            parts
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            http::Request::from_parts(parts, bollard::body_full(json.clone()))
        });
    let engine = runtime.engine();
    // Bounded as a whole: the reply body too.
    let reply = tokio::time::timeout(engine.limit().total(), client.ping())
        .await
        .unwrap_or(Err(bollard::errors::Error::RequestTimeoutError))
        .map_err(|error| match classify(&error, engine.limit()) {
            Failure::Server { message, .. } | Failure::Other(message) => message,
            Failure::Timeout(limit) => format!(
                "the engine at {} did not answer within {}",
                runtime.address(),
                crate::error::seconds(limit.total())
            ),
            Failure::Transport(reason) => {
                format!("cannot reach the engine at {}: {reason}", runtime.address())
            }
        })?;
    let reply: AuthReply = serde_json::from_str(&reply)
        .map_err(|e| format!("unexpected reply from the engine to /auth: {e}"))?;
    Ok(reply.status)
}

/// The same URI with its last path segment `_ping` replaced by `auth`.
fn auth_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path().strip_suffix("/_ping")?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(format!("{path}/auth").parse().ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_uri_becomes_auth() {
        let uri: Uri = "http://localhost/v1.41/_ping".parse().unwrap();
        assert_eq!(
            auth_uri(&uri).unwrap().to_string(),
            "http://localhost/v1.41/auth"
        );
        let plain: Uri = "unix://2f7661722f72756e/_ping".parse().unwrap();
        assert_eq!(
            auth_uri(&plain).unwrap().to_string(),
            "unix://2f7661722f72756e/auth"
        );
        let other: Uri = "http://localhost/v1.41/info".parse().unwrap();
        assert!(auth_uri(&other).is_none());
    }

    #[test]
    fn lines_match_upstream() {
        let mut r = LoginResult {
            registry: "a".into(),
            address: "127.0.0.1:5000".into(),
            username: Some("tars".into()),
            status: LoginStatus::Succeeded,
            message: "Login Succeeded".into(),
        };
        assert_eq!(r.line(), "127.0.0.1:5000(tars) Login Succeeded");
        r.username = None;
        "no username, no need login".clone_into(&mut r.message);
        assert_eq!(r.line(), "(127.0.0.1:5000) no username, no need login");
    }
}
