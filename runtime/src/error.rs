//! The runtime's typed errors: one variant per failure a caller must tell apart, each with
//! a message in the user's terms (which socket, which image, which template line).

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong, in classes a caller maps to its own outcomes (the CLI maps each class to
/// one exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// A bad request, address or argument, or a local I/O failure (lock files).
    Usage,
    /// No engine answers at the address, or it cannot be used (API too old).
    EngineUnreachable,
    /// The image is missing and cannot be pulled, or the pull failed.
    ImageUnavailable,
    /// The engine refused to create, start, stop, exec or remove.
    EngineRefused,
    /// The engine (or a lock holder) did not answer in time.
    Timeout,
    /// The container was not made by tarsdock, or someone else changed it meanwhile.
    Conflict,
    /// A bind mount's host path does not exist on the engine host.
    MountSourceMissing,
    /// A published host port is already taken.
    PortInUse,
    /// There is no container of that name (for commands that need one).
    NotFound,
    /// The service's admin servant (`AdminObj`) cannot be asked: no admin endpoint, the
    /// container is not running, or the server does not answer.
    Unresponsive,
    /// The service's executable cannot run on the image (binary preflight).
    Incompatible,
    /// The mount and container policy refuses the create body.
    PolicyRefused,
}

impl ErrorKind {
    /// The stable kebab-case name used in JSON output.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::EngineUnreachable => "engine-unreachable",
            Self::ImageUnavailable => "image-unavailable",
            Self::EngineRefused => "engine-refused",
            Self::Timeout => "timeout",
            Self::Conflict => "conflict",
            Self::MountSourceMissing => "mount-source-missing",
            Self::PortInUse => "port-in-use",
            Self::NotFound => "not-found",
            Self::Unresponsive => "unresponsive",
            Self::Incompatible => "incompatible",
            Self::PolicyRefused => "policy-refused",
        }
    }
}

/// The operation the engine was asked to do, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Operation {
    Connect,
    Info,
    InspectImage,
    Pull,
    Inspect,
    Create,
    Start,
    Stop,
    Kill,
    Unpause,
    Restart,
    Remove,
    Exec,
    Logs,
    /// Listing the containers tarsdock made (the cross-container mount check).
    List,
}

impl Operation {
    /// The verb alone (`inspect`, `stop`, `read the logs of`).
    #[must_use]
    pub const fn verb(self) -> &'static str {
        match self {
            Self::Connect => "negotiate the API version",
            Self::Info => "describe itself",
            Self::InspectImage | Self::Inspect => "inspect",
            Self::Pull => "pull",
            Self::Create => "create",
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Kill => "kill",
            Self::Unpause => "unpause",
            Self::Restart => "restart",
            Self::Remove => "remove",
            Self::Exec => "run the stop script in",
            Self::Logs => "read the logs of",
            Self::List => "list tarsdock's containers",
        }
    }

    /// What the operation acts on (`image`, `container`), when it names a target.
    #[must_use]
    pub const fn object(self) -> Option<&'static str> {
        match self {
            Self::Connect | Self::Info | Self::List => None,
            Self::InspectImage | Self::Pull => Some("image"),
            _ => Some("container"),
        }
    }

    /// The whole phrase, as in "the engine refused to <phrase>": `inspect image x`,
    /// `stop container A.B`, `describe itself`.
    #[must_use]
    pub fn phrase(self, target: &str) -> String {
        match self.object() {
            Some(object) => format!("{} {object} {target}", self.verb()),
            None => self.verb().to_owned(),
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.verb())
    }
}

/// How long one engine call was allowed to take, and how that limit was made up, so that a
/// timeout message says what really happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The engine timeout (`--engine-timeout`).
    pub engine: Duration,
    /// The grace period added to calls that wait for a container to stop.
    pub grace: Option<Duration>,
    /// Whether the limit bounds the silence between two pieces of a stream (pull progress,
    /// logs) rather than a whole call.
    pub idle: bool,
}

impl Limit {
    /// A whole call bounded by the engine timeout.
    #[must_use]
    pub const fn call(engine: Duration) -> Self {
        Self {
            engine,
            grace: None,
            idle: false,
        }
    }

    /// A whole call bounded by the engine timeout plus a grace period.
    #[must_use]
    pub const fn with_grace(engine: Duration, grace: Duration) -> Self {
        Self {
            engine,
            grace: Some(grace),
            idle: false,
        }
    }

    /// A stream bounded by the longest silence between two of its pieces.
    #[must_use]
    pub const fn idle(engine: Duration) -> Self {
        Self {
            engine,
            grace: None,
            idle: true,
        }
    }

    /// The limit itself: the engine timeout plus the grace period (saturating).
    #[must_use]
    pub fn total(self) -> Duration {
        self.engine.saturating_add(self.grace.unwrap_or_default())
    }
}

/// `2s`, `1.5s`, `0.25s`.
pub(crate) fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        let text = format!("{:.2}", duration.as_secs_f64());
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

fn timeout_message(operation: Operation, target: &str, address: &str, limit: &Limit) -> String {
    let phrase = operation.phrase(target);
    if limit.idle {
        return format!(
            "timed out after {} without any data from the engine at {address} while trying to {phrase}",
            seconds(limit.engine)
        );
    }
    let mut text = format!(
        "timed out after {} waiting for the engine at {address} to {phrase}",
        seconds(limit.total())
    );
    if let Some(grace) = limit.grace {
        text.push_str(&format!(
            " (the engine timeout of {} plus the grace period of {})",
            seconds(limit.engine),
            seconds(grace)
        ));
    }
    text
}

/// Every failure of the runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine address could not be understood or is not supported.
    #[error("engine address `{address}`: {reason}")]
    BadAddress { address: String, reason: String },

    /// Nothing answers at the engine address.
    #[error(
        "cannot reach the Docker engine at {address}: {reason} \
         (is dockerd running? choose the socket with --docker-socket or DOCKER_HOST)"
    )]
    EngineUnreachable { address: String, reason: String },

    /// The engine answers but speaks an API older than tarsdock supports.
    #[error(
        "the Docker engine at {address} speaks API {version}; tarsdock needs at least {minimum}"
    )]
    EngineTooOld {
        address: String,
        version: String,
        minimum: String,
    },

    /// The request itself is unusable (bad container name, image mismatch with the body, …).
    #[error("invalid launch request: {0}")]
    InvalidRequest(String),

    /// The image is not present and may not or cannot be pulled.
    #[error("image {image} is not available: {reason}")]
    ImageUnavailable { image: String, reason: String },

    /// The pull failed; `in_stream` tells that the error arrived inside the progress stream
    /// (the HTTP status had already been 200).
    #[error("pulling {image} failed: {message}")]
    PullFailed {
        image: String,
        message: String,
        in_stream: bool,
    },

    /// After a pull, the local image still has a different id than the one expected.
    #[error("image {image} has id {local}, but {expected} was expected (even after a pull)")]
    ImageMismatch {
        image: String,
        local: String,
        expected: String,
    },

    /// A bind mount's host path is missing on the engine host.
    #[error(
        "mount source {host_path} does not exist on the engine host{} ({})",
        container_path.as_ref().map(|c| format!(" (mounted at {c})")).unwrap_or_default(),
        origin.as_ref().map_or_else(|| "no template origin known".to_owned(), |o| format!("from {o}"))
    )]
    MountSourceMissing {
        host_path: String,
        container_path: Option<String>,
        origin: Option<String>,
        engine_message: String,
    },

    /// A published host port is taken by another process or container.
    #[error(
        "host port {} is already in use ({}): {engine_message}",
        address.as_deref().unwrap_or("(unknown)"),
        origin.as_ref().map_or_else(|| "no template origin known".to_owned(), |o| format!("from {o}"))
    )]
    PortInUse {
        /// `ip:port/proto`, when the port could be matched.
        address: Option<String>,
        origin: Option<String>,
        engine_message: String,
    },

    /// The engine refused an operation; `origin` names the template line it concerns when
    /// one could be matched in the engine's message.
    #[error("the engine refused to {}: {message}{}", operation.phrase(name),
        origin.as_ref().map(|o| format!(" (concerns {o})")).unwrap_or_default())]
    EngineRefused {
        operation: Operation,
        name: String,
        status: Option<u16>,
        message: String,
        origin: Option<String>,
    },

    /// The engine did not answer in time (the whole call, head and body, or a stream that
    /// fell silent).
    #[error("{}", timeout_message(*operation, target, address, limit))]
    Timeout {
        operation: Operation,
        target: String,
        address: String,
        limit: Limit,
    },

    /// Another tarsdock process held the service lock for too long.
    #[error(
        "timed out after {} waiting for the lock {} (another tarsdock command is working on {name})",
        seconds(*after), path.display()
    )]
    LockTimeout {
        name: String,
        path: PathBuf,
        after: Duration,
    },

    /// The lock file could not be created or locked.
    #[error("lock file {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A container with the name exists but is not the one tarsdock made for this service.
    #[error(
        "container {name} ({id}) is not one tarsdock made for this service: {reason}; \
         tarsdock leaves it alone: remove it yourself or pass --adopt to let tarsdock take it over"
    )]
    ForeignContainer {
        name: String,
        id: String,
        /// Which label is missing or names something else.
        reason: String,
    },

    /// Someone else changed the container meanwhile (HTTP 409 from the engine).
    #[error("container {name} is in a conflicting state: {message}")]
    Conflict { name: String, message: String },

    /// The command needs an existing container.
    #[error("there is no container named {name}")]
    NotFound { name: String },

    /// The service's admin servant could not be asked (see [`crate::admin`]).
    #[error("{name}: {message}")]
    Admin { name: String, message: String },

    /// The executable cannot run on the image: its loader, a library or a symbol version is
    /// missing, or it is built for another machine. Nothing was created.
    #[error("{name}: {} cannot run on image {} (nothing was created):\n{}", report.executable,
        report.image,
        report.findings.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Preflight {
        name: String,
        report: Box<crate::preflight::PreflightReport>,
    },

    /// The mount and container policy refuses what the create body asks of the host
    /// (see [`crate::policy`]) before a create, or an existing container's mounts as they
    /// resolve before a start; nothing was created or started.
    #[error("the policy refuses container {name}, nothing was created or started: {}", refusals.join("; "))]
    PolicyRefused {
        name: String,
        /// One line per refused mount or setting, with its origin and the allowance.
        refusals: Vec<String>,
        /// The origin of the first refusal.
        origin: Option<String>,
    },

    /// Any other engine failure (transport errors, undecodable replies).
    #[error("the engine failed to {}: {message}", operation.phrase(target))]
    Engine {
        operation: Operation,
        target: String,
        message: String,
    },
}

impl Error {
    /// The class of this error.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            Self::BadAddress { .. } | Self::InvalidRequest(_) | Self::Lock { .. } => {
                ErrorKind::Usage
            }
            Self::EngineUnreachable { .. } | Self::EngineTooOld { .. } => {
                ErrorKind::EngineUnreachable
            }
            Self::ImageUnavailable { .. }
            | Self::PullFailed { .. }
            | Self::ImageMismatch { .. } => ErrorKind::ImageUnavailable,
            Self::MountSourceMissing { .. } => ErrorKind::MountSourceMissing,
            Self::PortInUse { .. } => ErrorKind::PortInUse,
            Self::EngineRefused { .. } | Self::Engine { .. } => ErrorKind::EngineRefused,
            Self::Timeout { .. } | Self::LockTimeout { .. } => ErrorKind::Timeout,
            Self::ForeignContainer { .. } | Self::Conflict { .. } => ErrorKind::Conflict,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Admin { .. } => ErrorKind::Unresponsive,
            Self::Preflight { .. } => ErrorKind::Incompatible,
            Self::PolicyRefused { .. } => ErrorKind::PolicyRefused,
        }
    }

    /// The template origin this error concerns, when known.
    #[must_use]
    pub fn origin(&self) -> Option<&str> {
        match self {
            Self::MountSourceMissing { origin, .. }
            | Self::PortInUse { origin, .. }
            | Self::EngineRefused { origin, .. }
            | Self::PolicyRefused { origin, .. } => origin.as_deref(),
            _ => None,
        }
    }
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
