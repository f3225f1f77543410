//! Images: inspect, decide whether to pull, pull with registry credentials, and report
//! progress.
//!
//! Fixes over upstream tarsnode: "no such image" is recognised whatever its case (the
//! daemon says `No such image`, upstream only matched lower case); the whole pull stream is
//! drained and an error inside it fails the pull (the HTTP status is 200 before the pull
//! starts); credentials are sent base64url-encoded, as the Engine API documents.
//!
//! bollard's own `DockerCredentials` path encodes `X-Registry-Auth` with the *standard*
//! base64 alphabet (`auth.rs`, `base64_url_encode` uses `STANDARD`). Docker 20.10 decodes
//! the header as base64url and silently pulls without credentials when that fails, so a
//! password whose encoding contains `+` or `/` would not authenticate. tarsdock therefore
//! sets the header itself, through a request modifier on a private client clone.

use std::fmt;

use base64::Engine as _;
use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt as _;
use http::HeaderValue;
use serde::Serialize;

use crate::content::ImageDefaults;
use crate::engine::{Engine, Failure};
use crate::error::{Error, Limit, Operation, Result};

/// Registry credentials. The password is never printed: `Debug` redacts it and it is not
/// serialised anywhere but into the `X-Registry-Auth` header.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    /// The registry (`host[:port]`); when `None`, the image reference's registry, or
    /// Docker Hub.
    pub server_address: Option<String>,
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server_address", &self.server_address)
            .finish()
    }
}

impl RegistryAuth {
    /// The `X-Registry-Auth` header value: base64url (padded, like the Docker CLI's Go
    /// `base64.URLEncoding`) of `{"username","password","serveraddress"}`.
    #[must_use]
    pub fn header_value(&self, image: &ImageRef) -> String {
        #[derive(Serialize)]
        struct Payload<'a> {
            username: &'a str,
            password: &'a str,
            serveraddress: String,
        }
        let serveraddress = self
            .server_address
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| image.registry().to_owned());
        let json = serde_json::to_string(&Payload {
            username: &self.username,
            password: &self.password,
            serveraddress,
        })
        .unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }
}

/// An image reference split the way the pull API wants it: `fromImage` (repository) and
/// `tag` (a tag or a digest). A reference without either means `latest`; it is never sent
/// without a tag, which would make the engine pull every tag of the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub repository: String,
    /// A tag (`1.0`) or a digest (`sha256:…`).
    pub tag: String,
}

impl ImageRef {
    /// Splits `repo[:tag][@digest]`.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for an empty reference or one with whitespace.
    pub fn parse(reference: &str) -> Result<Self> {
        let bad =
            |why: &str| Error::InvalidRequest(format!("image reference `{reference}`: {why}"));
        if reference.is_empty() {
            return Err(bad("empty"));
        }
        if reference.chars().any(char::is_whitespace) {
            return Err(bad("contains whitespace"));
        }
        if let Some((repository, digest)) = reference.split_once('@') {
            // `repo:tag@digest`: the digest decides; drop the tag.
            let repository = match repository.rfind(':') {
                Some(colon) if !repository[colon..].contains('/') => &repository[..colon],
                _ => repository,
            };
            if repository.is_empty() || digest.is_empty() {
                return Err(bad("empty repository or digest"));
            }
            return Ok(Self {
                repository: repository.to_owned(),
                tag: digest.to_owned(),
            });
        }
        let (repository, tag) = match reference.rfind(':') {
            Some(colon) if !reference[colon..].contains('/') => {
                (&reference[..colon], &reference[colon + 1..])
            }
            _ => (reference, "latest"),
        };
        if repository.is_empty() || tag.is_empty() {
            return Err(bad("empty repository or tag"));
        }
        Ok(Self {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
    }

    /// The registry part (`host[:port]`) of the repository, or Docker Hub's auth address.
    #[must_use]
    pub fn registry(&self) -> &str {
        match self.repository.split_once('/') {
            Some((first, _))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                first
            }
            _ => "https://index.docker.io/v1/",
        }
    }

    fn is_digest(&self) -> bool {
        self.tag.contains(':')
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.is_digest() { '@' } else { ':' };
        write!(f, "{}{sep}{}", self.repository, self.tag)
    }
}

/// One progress message of a pull.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    /// The layer id, when the message is about a layer.
    pub layer: Option<String>,
    /// `Pulling fs layer`, `Downloading`, `Pull complete`, `Digest: …`, …
    pub status: String,
    /// Bytes done and in all, for download and extract messages.
    pub current: Option<i64>,
    pub total: Option<i64>,
}

/// The outcome of a pull.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullReport {
    pub image: String,
    /// The local image id after the pull.
    pub id: String,
    /// The digest the registry reported (`Digest: sha256:…`), when it did.
    pub digest: Option<String>,
    /// The last status line (`Status: Downloaded newer image for …`).
    pub status: Option<String>,
    /// How many progress messages the engine sent.
    pub messages: usize,
}

/// What [`ensure_image`] found or did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnsuredImage {
    pub image: String,
    pub id: String,
    /// Why a pull happened, when one did.
    pub pulled: Option<String>,
    /// The image's own configuration, merged by the engine into containers made from it.
    #[serde(skip)]
    pub(crate) defaults: ImageDefaults,
}

/// What [`ensure_image`] reports while it works.
pub(crate) enum PullStep<'a> {
    /// A pull starts, for this reason.
    Starting(&'a str),
    /// A progress message of the pull.
    Progress(&'a PullProgress),
}

/// Whether a launch may pull.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Pull when the image is missing or its id differs from the expected one.
    #[default]
    IfNeeded,
    /// Never pull: a missing or different image is an error.
    Never,
}

/// What the engine has locally under an image reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LocalImage {
    pub(crate) id: String,
    pub(crate) repo_digests: Vec<String>,
    /// What the engine merges into a container's configuration at create.
    pub(crate) defaults: ImageDefaults,
}

/// The local image, or `None` when the engine has no such image.
///
/// # Errors
/// Transport and timeout errors, and engine errors other than "no such image".
pub(crate) async fn inspect_image(engine: &Engine, image: &str) -> Result<Option<LocalImage>> {
    match engine
        .call(
            engine.limit(),
            |d| async move { d.inspect_image(image).await },
        )
        .await
    {
        Ok(inspect) => Ok(Some(LocalImage {
            defaults: ImageDefaults::from_config(inspect.config.as_ref()),
            id: inspect.id.unwrap_or_default(),
            repo_digests: inspect.repo_digests.unwrap_or_default(),
        })),
        Err(failure) => match failure {
            Failure::Server { status, message } if status == 404 || is_no_such_image(&message) => {
                Ok(None)
            }
            failure => Err(engine.error(failure, Operation::InspectImage, image)),
        },
    }
}

/// Whether an engine message says the image is missing, in any case
/// (`No such image: x`, `no such image`, `NO SUCH IMAGE`).
#[must_use]
pub fn is_no_such_image(message: &str) -> bool {
    message.to_ascii_lowercase().contains("no such image")
}

/// Whether the local image matches the expected id: the image id or one of its repo
/// digests, with or without `sha256:`, case-insensitively; a prefix of at least 12 hex
/// digits counts (the short ids Docker prints).
#[must_use]
pub fn image_matches(expected: &str, id: &str, repo_digests: &[String]) -> bool {
    let norm = |s: &str| s.trim().trim_start_matches("sha256:").to_ascii_lowercase();
    let expected = norm(expected);
    if expected.is_empty() {
        return true;
    }
    let candidates = std::iter::once(norm(id)).chain(
        repo_digests
            .iter()
            .map(|d| norm(d.rsplit_once('@').map_or(d.as_str(), |(_, digest)| digest))),
    );
    for candidate in candidates {
        if candidate == expected || (expected.len() >= 12 && candidate.starts_with(&expected)) {
            return true;
        }
    }
    false
}

/// Makes sure the image is present (and has the expected id when one is given), pulling
/// only when needed.
///
/// # Errors
/// [`Error::ImageUnavailable`] when missing and not pullable (policy or pull failure),
/// [`Error::PullFailed`], [`Error::ImageMismatch`], transport errors.
pub(crate) async fn ensure_image(
    engine: &Engine,
    image: &str,
    expected_id: Option<&str>,
    policy: PullPolicy,
    auth: Option<&RegistryAuth>,
    steps: &mut dyn FnMut(PullStep<'_>),
) -> Result<EnsuredImage> {
    let expected_id = expected_id.filter(|e| !e.trim().is_empty());
    let reason = match inspect_image(engine, image).await? {
        Some(local) => match expected_id {
            Some(expected) if !image_matches(expected, &local.id, &local.repo_digests) => {
                format!("local id {} differs from the expected {expected}", local.id)
            }
            _ => {
                return Ok(EnsuredImage {
                    image: image.to_owned(),
                    id: local.id,
                    pulled: None,
                    defaults: local.defaults,
                });
            }
        },
        None => "not present on the engine".to_owned(),
    };
    if policy == PullPolicy::Never {
        return Err(Error::ImageUnavailable {
            image: image.to_owned(),
            reason: format!("{reason}, and pulling is disabled"),
        });
    }
    tracing::info!(image, %reason, "pulling");
    steps(PullStep::Starting(&reason));
    let report = pull(engine, image, auth, &mut |p| {
        steps(PullStep::Progress(p));
    })
    .await
    .map_err(|e| match e {
        Error::PullFailed { message, .. } => Error::ImageUnavailable {
            image: image.to_owned(),
            reason: format!("{reason}, and the pull failed: {message}"),
        },
        other => other,
    })?;
    let local = inspect_image(engine, image).await?.unwrap_or_default();
    if let Some(expected) = expected_id
        && !image_matches(expected, &report.id, &local.repo_digests)
    {
        return Err(Error::ImageMismatch {
            image: image.to_owned(),
            local: report.id,
            expected: expected.to_owned(),
        });
    }
    Ok(EnsuredImage {
        image: image.to_owned(),
        id: report.id,
        pulled: Some(reason),
        defaults: local.defaults,
    })
}

/// Pulls an image, draining the whole progress stream; an error message inside the stream
/// fails the pull even though the HTTP status was 200.
///
/// # Errors
/// [`Error::PullFailed`] (with `in_stream` telling where the error came from),
/// [`Error::Timeout`], [`Error::EngineUnreachable`].
pub(crate) async fn pull(
    engine: &Engine,
    image: &str,
    auth: Option<&RegistryAuth>,
    progress: &mut dyn FnMut(&PullProgress),
) -> Result<PullReport> {
    let reference = ImageRef::parse(image)?;
    let options = CreateImageOptionsBuilder::default()
        .from_image(&reference.repository)
        .tag(&reference.tag)
        .build();
    let client = match auth {
        Some(auth) => with_registry_auth(engine.docker(), &auth.header_value(&reference))?,
        None => engine.docker().clone(),
    };
    // A pull can take long; what must not happen is a long silence (the engine reports
    // progress while it downloads and extracts).
    let limit = Limit::idle(engine.timeout());
    let mut stream = Box::pin(engine.stream(limit, client.create_image(Some(options), None, None)));
    let mut first_error: Option<Error> = None;
    let mut digest = None;
    let mut status = None;
    let mut messages = 0;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                messages += 1;
                let line = info.status.clone().unwrap_or_default();
                if let Some(d) = line.strip_prefix("Digest: ") {
                    digest = Some(d.trim().to_owned());
                }
                if line.starts_with("Status: ") {
                    status = Some(line.clone());
                }
                let detail = info.progress_detail.as_ref();
                progress(&PullProgress {
                    layer: info.id.clone(),
                    status: line,
                    current: detail.and_then(|d| d.current),
                    total: detail.and_then(|d| d.total),
                });
            }
            Err(failure) => {
                let mapped = match failure {
                    Failure::Timeout(limit) => Error::Timeout {
                        operation: Operation::Pull,
                        target: image.to_owned(),
                        address: engine.address().to_owned(),
                        limit,
                    },
                    Failure::Server { message, .. } => Error::PullFailed {
                        image: image.to_owned(),
                        message,
                        in_stream: false,
                    },
                    // The HTTP status was 200; the error came inside the stream.
                    Failure::Other(message) => Error::PullFailed {
                        image: image.to_owned(),
                        message,
                        in_stream: true,
                    },
                    Failure::Transport(reason) => Error::EngineUnreachable {
                        address: engine.address().to_owned(),
                        reason,
                    },
                };
                tracing::debug!(image, error = %mapped, "pull stream error");
                // A timeout or a lost engine ends the pull; an in-stream error is kept and
                // the rest drained.
                let fatal = matches!(
                    mapped,
                    Error::Timeout { .. } | Error::EngineUnreachable { .. }
                );
                first_error.get_or_insert(mapped);
                if fatal {
                    break;
                }
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    let Some(local) = inspect_image(engine, &reference.to_string()).await? else {
        return Err(Error::PullFailed {
            image: image.to_owned(),
            message: "the engine reported no error, but the image is not present afterwards"
                .to_owned(),
            in_stream: false,
        });
    };
    Ok(PullReport {
        image: image.to_owned(),
        id: local.id,
        digest,
        status,
        messages,
    })
}

/// A clone of the client that sends `X-Registry-Auth: <value>` on image pulls.
fn with_registry_auth(docker: &Docker, value: &str) -> Result<Docker> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Error::InvalidRequest("registry credentials do not fit in an HTTP header".to_owned())
    })?;
    header.set_sensitive(true);
    Ok(docker.clone().with_request_modifier(move |mut request| {
        if request.uri().path().ends_with("/images/create") {
            request
                .headers_mut()
                .insert("X-Registry-Auth", header.clone());
        }
        request
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split() {
        let r = |s: &str| {
            let r = ImageRef::parse(s).unwrap();
            (r.repository, r.tag)
        };
        assert_eq!(r("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(r("busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(
            r("127.0.0.1:5000/tars/base"),
            ("127.0.0.1:5000/tars/base".into(), "latest".into())
        );
        assert_eq!(
            r("127.0.0.1:5000/tars/base:v2"),
            ("127.0.0.1:5000/tars/base".into(), "v2".into())
        );
        assert_eq!(
            r("repo:old@sha256:abc"),
            ("repo".into(), "sha256:abc".into())
        );
        assert_eq!(
            ImageRef::parse("localhost:5000/x@sha256:abc")
                .unwrap()
                .to_string(),
            "localhost:5000/x@sha256:abc"
        );
        for bad in ["", "a b", "repo:", "@sha256:x", ":tag"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registries() {
        let reg = |s: &str| ImageRef::parse(s).unwrap().registry().to_owned();
        assert_eq!(reg("127.0.0.1:5000/x:1"), "127.0.0.1:5000");
        assert_eq!(reg("registry.example/x"), "registry.example");
        assert_eq!(reg("localhost/x"), "localhost");
        assert_eq!(reg("tarscloud/tars.cppbase"), "https://index.docker.io/v1/");
        assert_eq!(reg("busybox"), "https://index.docker.io/v1/");
    }

    #[test]
    fn no_such_image_any_case() {
        assert!(is_no_such_image("No such image: tars/base:1"));
        assert!(is_no_such_image("no such image"));
        assert!(is_no_such_image("Error: NO SUCH IMAGE x"));
        assert!(!is_no_such_image("permission denied"));
    }

    #[test]
    fn image_ids_match() {
        let id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let digests = vec!["reg/x@sha256:fedcba9876543210".to_owned()];
        assert!(image_matches(id, id, &digests));
        assert!(image_matches(
            "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            id,
            &digests
        ));
        assert!(image_matches("0123456789ab", id, &digests));
        assert!(!image_matches("0123", id, &digests));
        assert!(image_matches("sha256:fedcba9876543210", id, &digests));
        assert!(!image_matches("sha256:ffff", id, &digests));
        assert!(image_matches("", id, &digests));
    }

    #[test]
    fn auth_header_is_base64url_and_password_is_redacted() {
        let auth = RegistryAuth {
            username: "u".into(),
            // Chosen so that the standard alphabet would produce `+` and `/`.
            password: "??>>~~".into(),
            server_address: None,
        };
        let reference = ImageRef::parse("127.0.0.1:5000/x:1").unwrap();
        let value = auth.header_value(&reference);
        assert!(!value.contains('+') && !value.contains('/'), "{value}");
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(&value)
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(json["username"], "u");
        assert_eq!(json["password"], "??>>~~");
        assert_eq!(json["serveraddress"], "127.0.0.1:5000");
        let standard = base64::engine::general_purpose::STANDARD.encode(&decoded);
        assert_ne!(
            standard, value,
            "the test password must exercise the alphabet"
        );
        assert!(!format!("{auth:?}").contains("??>>~~"));
    }
}
