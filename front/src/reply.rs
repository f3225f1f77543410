//! Bodies and answers: the one body type the front sends, bounded reads of request bodies,
//! and Engine-API error documents (`{"message": "…"}`, what Docker clients print and what
//! tarsnode logs and reports to the web console).

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full, Limited};
use hyper::body::Body as HttpBody;
use runtime::{Error as RuntimeError, ErrorKind};

/// Errors inside bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every request forwarded and every response sent.
pub(crate) type Body = BoxBody<Bytes, BoxError>;

/// An empty body.
#[must_use]
pub(crate) fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body of these bytes.
#[must_use]
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Any body, boxed.
pub(crate) fn boxed<B>(body: B) -> Body
where
    B: HttpBody<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// Why a request body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body could not be read: {0}")]
    Broken(BoxError),
}

impl ReadError {
    /// The answer to a client whose body could not be read.
    #[must_use]
    pub(crate) fn response(&self) -> Response<Body> {
        match self {
            Self::TooLarge { .. } => error(StatusCode::PAYLOAD_TOO_LARGE, &self.to_string()),
            Self::Broken(_) => error(StatusCode::BAD_REQUEST, &self.to_string()),
        }
    }
}

/// Reads a whole body, refusing more than `limit` bytes.
///
/// # Errors
/// [`ReadError::TooLarge`] past the limit, [`ReadError::Broken`] when the client's stream
/// fails (e.g. it disconnected).
pub(crate) async fn read_bounded<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => {
            if error.is::<http_body_util::LengthLimitError>() {
                Err(ReadError::TooLarge { limit })
            } else {
                Err(ReadError::Broken(error))
            }
        }
    }
}

/// Untrusted text (engine replies, paths, template text, query values) made safe for a log
/// line: control characters escaped.
pub(crate) fn shown(text: impl std::fmt::Display) -> String {
    parser::terminal::escape_controls(&text.to_string()).into_owned()
}

/// A JSON answer.
#[must_use]
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An Engine-API error document, `{"message": "tarsdock: …"}`, with control characters in
/// `message` escaped (it carries file names, template text and engine replies).
#[must_use]
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    let message = format!("tarsdock: {}", parser::terminal::escape_controls(message));
    json(status, &serde_json::json!({ "message": message }))
}

/// A `204 No Content` answer.
#[must_use]
pub(crate) fn no_content() -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The HTTP status a runtime failure is answered with: the engine's own status where it
/// refused, else the closest Engine-API meaning.
#[must_use]
pub(crate) fn runtime_status(error: &RuntimeError) -> StatusCode {
    if let RuntimeError::EngineRefused {
        status: Some(status),
        ..
    } = error
        && let Ok(status) = StatusCode::from_u16(*status)
        && (status.is_client_error() || status.is_server_error())
    {
        return status;
    }
    match error.kind() {
        ErrorKind::Usage | ErrorKind::MountSourceMissing => StatusCode::BAD_REQUEST,
        ErrorKind::EngineUnreachable => StatusCode::BAD_GATEWAY,
        ErrorKind::ImageUnavailable | ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::EngineRefused | ErrorKind::PortInUse => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::PolicyRefused => StatusCode::FORBIDDEN,
        ErrorKind::Unresponsive => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Incompatible => StatusCode::BAD_REQUEST,
    }
}

/// The answer to a runtime failure: its status and its message.
#[must_use]
pub(crate) fn runtime_error(failure: &RuntimeError) -> Response<Body> {
    error(runtime_status(failure), &failure.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn errors_are_docker_documents_with_controls_escaped() {
        let response = error(StatusCode::BAD_REQUEST, "bad \x1b[2J name");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
        let body: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
        assert_eq!(body["message"], "tarsdock: bad \\x1b[2J name");
    }

    #[tokio::test]
    async fn bodies_are_bounded() {
        assert_eq!(
            read_bounded(full("12345"), 5).await.unwrap(),
            Bytes::from("12345")
        );
        let err = read_bounded(full("123456"), 5).await.unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit: 5 }), "{err}");
        assert_eq!(err.response().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn runtime_failures_keep_the_engines_status() {
        let refused = RuntimeError::EngineRefused {
            operation: runtime::Operation::Start,
            name: "A.B".into(),
            status: Some(409),
            message: "x".into(),
            origin: None,
        };
        assert_eq!(runtime_status(&refused), StatusCode::CONFLICT);
        let missing = RuntimeError::ImageUnavailable {
            image: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(runtime_status(&missing), StatusCode::NOT_FOUND);
        let gone = RuntimeError::EngineUnreachable {
            address: "a".into(),
            reason: "b".into(),
        };
        assert_eq!(runtime_status(&gone), StatusCode::BAD_GATEWAY);
    }
}
