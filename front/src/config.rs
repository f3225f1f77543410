//! What the front is told: where to listen, where the engine is, how to plan (the same
//! choices as `tarsdock plan` / `launch`), and its bounds.

use std::path::PathBuf;
use std::time::Duration;

use lowering::ir::Target;
use lowering::policy::Allow;
use runtime::EngineAddress;

/// The platform services are lowered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetChoice {
    /// Ask the engine once at startup (Docker Desktop or a non-Linux engine: `mac`).
    Auto,
    /// This one.
    Fixed(Target),
}

/// Everything `tarsdock serve` needs.
#[derive(Clone, Debug)]
pub struct FrontConfig {
    /// The Unix socket to listen on (tarsnode's `/tars/node/container<socket>`).
    pub listen: PathBuf,
    /// The group that may use the socket (a name or a numeric gid); the socket is `0660`.
    pub group: Option<String>,
    /// The real engine.
    pub engine: EngineAddress,
    /// How long one engine request may take (intercepted calls), and how long the engine
    /// may take to start answering a passed-through one.
    pub engine_timeout: Duration,
    /// How long opening a connection to the engine may take.
    pub connect_timeout: Duration,
    /// How long a pull run for a client (tarsnode) may take: the node's
    /// `/tars/node/container<timeout>`.
    pub pull_timeout: Duration,
    /// Where the per-service locks live (the same directory as the CLI's, so launches of one
    /// service are serialised with `tarsdock launch` and friends).
    pub lock_dir: PathBuf,
    /// How long an intercepted call waits for the service's lock.
    pub lock_timeout: Duration,
    /// How services are planned.
    pub plan: PlanSettings,
    /// Bounds on what clients may send and on how long things may take.
    pub limits: Limits,
}

/// The planning choices, as for `tarsdock plan`.
#[derive(Clone, Debug)]
pub struct PlanSettings {
    pub target: TargetChoice,
    /// tarsnode's install path (`TarsPath`); default: the parent of the service's log path.
    pub tars_path: Option<String>,
    /// `TARS_HOSTPATH`: the host side of tarsnode's data mount when tarsnode runs in a
    /// container.
    pub host_path: Option<String>,
    /// The node name for the `tarsdock.node` label (when the config has no `nodename`).
    pub node: String,
    /// What the mount and container policy lets through (nothing by default), as `plan` and
    /// `launch` take it from `--allow`.
    pub allow: Allow,
}

/// Bounds.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest request body the front reads itself (create, exec, auth).
    pub max_body_bytes: usize,
    /// The largest request head (request line and headers).
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// The largest service config read.
    pub max_config_bytes: u64,
    /// How long a stop script may run.
    pub script_timeout: Duration,
    /// How long a container inspect waits for a launch of the same service in progress.
    pub inspect_lock_wait: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(30),
            max_config_bytes: 4 * 1024 * 1024,
            // Below TC_Docker's 60 s request timeout, so the node hears the answer.
            script_timeout: Duration::from_secs(50),
            inspect_lock_wait: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the front could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrontError {
    /// The engine could not be reached or described.
    #[error(transparent)]
    Engine(#[from] runtime::Error),
    /// The listening socket could not be made.
    #[error("cannot listen on {}: {reason}", path.display())]
    Socket { path: PathBuf, reason: String },
    /// `--group` names no group.
    #[error("no group named `{0}` (give a group name or a numeric gid)")]
    UnknownGroup(String),
    /// The engine address is the front's own socket.
    #[error(
        "the engine address {} is the socket the front listens on: point --engine at the real \
         Docker engine (tarsnode's config names the front, not the engine)",
        path.display()
    )]
    EngineIsFront { path: PathBuf },
}

impl FrontError {
    /// Whether the error is about the engine (rather than local setup).
    #[must_use]
    pub fn runtime_error(&self) -> Option<&runtime::Error> {
        match self {
            Self::Engine(e) => Some(e),
            _ => None,
        }
    }
}
