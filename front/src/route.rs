//! Which handler answers a request: the Engine API path, with its version prefix (`/v1.40`,
//! `/v1.41`, none…) set aside, matched against the calls tarsnode makes. Everything else is
//! [`Route::PassThrough`].
//!
//! Pure: no I/O, so the table is unit-tested as it is.

use http::Method;
use percent_encoding::percent_decode_str;

/// The handler of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /containers/create`.
    CreateContainer,
    /// `POST /containers/{id}/start`.
    StartContainer(String),
    /// `POST /containers/{id}/stop`.
    StopContainer(String),
    /// `DELETE /containers/{id}`.
    RemoveContainer(String),
    /// `GET /containers/{id}/json`.
    InspectContainer(String),
    /// `POST /containers/{id}/exec`.
    CreateExec(String),
    /// `POST /images/create`.
    PullImage,
    /// `GET /images/{name}/json` (the name may hold `/` and `:`).
    InspectImage(String),
    /// `POST /auth`.
    Auth,
    /// Anything else: forwarded to the engine unchanged.
    PassThrough,
}

impl Route {
    /// A short name for logs.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::CreateContainer => "create",
            Self::StartContainer(_) => "start",
            Self::StopContainer(_) => "stop",
            Self::RemoveContainer(_) => "remove",
            Self::InspectContainer(_) => "inspect",
            Self::CreateExec(_) => "exec",
            Self::PullImage => "pull",
            Self::InspectImage(_) => "inspect-image",
            Self::Auth => "auth",
            Self::PassThrough => "pass-through",
        }
    }
}

/// Splits an Engine API path into its version prefix (`v1.40`, or `""` when there is none)
/// and the rest (`/containers/create`). A prefix is `/v` followed by digits and dots, as the
/// engine's router accepts it, and must be followed by `/` or end the path.
#[must_use]
pub fn split_version(path: &str) -> (&str, &str) {
    let Some(after) = path.strip_prefix("/v") else {
        return ("", path);
    };
    let end = after
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(after.len());
    let (number, rest) = after.split_at(end);
    let starts_with_digit = number.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if starts_with_digit && (rest.is_empty() || rest.starts_with('/')) {
        (&path[1..2 + end], if rest.is_empty() { "/" } else { rest })
    } else {
        ("", path)
    }
}

/// The route of `method path` (the path without its query).
#[must_use]
pub fn route(method: &Method, path: &str) -> Route {
    let (_, rest) = split_version(path);
    if *method == Method::POST && rest == "/auth" {
        return Route::Auth;
    }
    if let Some(images) = rest.strip_prefix("/images/") {
        return image_route(method, images);
    }
    let Some(containers) = rest.strip_prefix("/containers/") else {
        return Route::PassThrough;
    };
    let segments: Vec<&str> = containers.split('/').collect();
    let Some(id) = segments.first().and_then(|s| decode(s)) else {
        return Route::PassThrough;
    };
    match (method, segments.as_slice()) {
        (&Method::POST, ["create"]) => Route::CreateContainer,
        // `/containers/json` is the list, not a container named `json`.
        (&Method::GET, [_, "json"]) => Route::InspectContainer(id),
        (&Method::POST, [_, "start"]) => Route::StartContainer(id),
        (&Method::POST, [_, "stop"]) => Route::StopContainer(id),
        (&Method::POST, [_, "exec"]) => Route::CreateExec(id),
        (&Method::DELETE, [_]) => Route::RemoveContainer(id),
        _ => Route::PassThrough,
    }
}

fn image_route(method: &Method, images: &str) -> Route {
    if *method == Method::POST && images == "create" {
        return Route::PullImage;
    }
    if *method == Method::GET
        && let Some(name) = images.strip_suffix("/json")
        && let Some(name) = decode(name)
    {
        return Route::InspectImage(name);
    }
    Route::PassThrough
}

/// A non-empty, percent-decoded UTF-8 path part.
fn decode(part: &str) -> Option<String> {
    if part.is_empty() {
        return None;
    }
    percent_decode_str(part)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes() {
        assert_eq!(
            split_version("/v1.40/containers/create"),
            ("v1.40", "/containers/create")
        );
        assert_eq!(split_version("/v1.41/_ping"), ("v1.41", "/_ping"));
        assert_eq!(split_version("/v1/info"), ("v1", "/info"));
        assert_eq!(split_version("/v1.40"), ("v1.40", "/"));
        assert_eq!(split_version("/containers/json"), ("", "/containers/json"));
        // Not a version: a path that merely starts with `v`.
        assert_eq!(split_version("/volumes"), ("", "/volumes"));
        assert_eq!(split_version("/v.1/x"), ("", "/v.1/x"));
        assert_eq!(split_version("/v1x/y"), ("", "/v1x/y"));
        assert_eq!(split_version(""), ("", ""));
    }

    #[test]
    fn tarsnode_calls_under_every_prefix() {
        for prefix in ["/v1.40", "/v1.41", "/v1.24", ""] {
            let r = |method: Method, path: &str| route(&method, &format!("{prefix}{path}"));
            assert_eq!(
                r(Method::POST, "/containers/create"),
                Route::CreateContainer
            );
            assert_eq!(
                r(Method::POST, "/containers/App.Server/start"),
                Route::StartContainer("App.Server".into())
            );
            assert_eq!(
                r(Method::POST, "/containers/App.Server/stop"),
                Route::StopContainer("App.Server".into())
            );
            assert_eq!(
                r(Method::DELETE, "/containers/App.Server"),
                Route::RemoveContainer("App.Server".into())
            );
            assert_eq!(
                r(Method::GET, "/containers/App.Server/json"),
                Route::InspectContainer("App.Server".into())
            );
            assert_eq!(
                r(Method::POST, "/containers/App.Server/exec"),
                Route::CreateExec("App.Server".into())
            );
            assert_eq!(r(Method::POST, "/images/create"), Route::PullImage);
            assert_eq!(
                r(Method::GET, "/images/127.0.0.1:5000/tars/base:v1/json"),
                Route::InspectImage("127.0.0.1:5000/tars/base:v1".into())
            );
            assert_eq!(r(Method::POST, "/auth"), Route::Auth);
        }
    }

    #[test]
    fn everything_else_passes_through() {
        let pass = [
            (Method::GET, "/v1.41/containers/json"),
            (Method::GET, "/containers/json"),
            (Method::GET, "/images/json"),
            (Method::GET, "/_ping"),
            (Method::HEAD, "/_ping"),
            (Method::GET, "/v1.41/containers/x/logs"),
            (Method::POST, "/v1.41/containers/x/attach"),
            (Method::POST, "/v1.41/exec/abc/start"),
            (Method::POST, "/v1.41/containers/x/restart"),
            (Method::POST, "/v1.41/containers/x/kill"),
            (Method::POST, "/v1.41/containers/x/wait"),
            (Method::GET, "/containers/x/start"),
            (Method::POST, "/containers/x/json"),
            (Method::DELETE, "/containers/x/json"),
            (Method::POST, "/containers//start"),
            (Method::GET, "/images//json"),
            (Method::POST, "/images/x/push"),
            (Method::GET, "/auth"),
            (Method::POST, "/v1.41/build"),
            (Method::GET, "/vx/containers/a/json"),
        ];
        for (method, path) in pass {
            assert_eq!(route(&method, path), Route::PassThrough, "{method} {path}");
        }
    }

    #[test]
    fn names_are_percent_decoded() {
        assert_eq!(
            route(&Method::GET, "/v1.41/containers/A%2EB/json"),
            Route::InspectContainer("A.B".into())
        );
        assert_eq!(
            route(&Method::GET, "/images/reg%3A5000%2Fx/json"),
            Route::InspectImage("reg:5000/x".into())
        );
        // Not UTF-8 once decoded: not ours to interpret.
        assert_eq!(
            route(&Method::GET, "/containers/%ff/json"),
            Route::PassThrough
        );
    }
}
