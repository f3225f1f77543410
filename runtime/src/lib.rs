//! Runs Tars service containers on a Docker engine, through bollard and tokio.
//!
//! - [`engine`]: where the engine is (flag, tarsnode config, `DOCKER_HOST`, default socket),
//!   API version negotiation (bollard speaks 1.53, Docker 20.10 speaks 1.41), `/info` and
//!   the platform it implies (Docker Desktop or a non-Linux engine → `mac`).
//! - [`request`]: [`LaunchRequest`], what a caller hands over (name, Tars identity, image,
//!   create body, plan hash, the template origin of every mount and port), and the labels.
//! - [`Runtime`]: launch (idempotent and serialised per service across processes: see
//!   [`lock`]), stop (with the stop script really run), restart, remove, status, logs, pull.
//! - [`admin`]: the service's admin servant over the Tars protocol: the graceful stop
//!   (`AdminF::shutdown`) and admin commands (`AdminF::notify`).
//! - [`keepalive`]: the restart policy that brings a crashed service back, lifted while a
//!   stop runs so the graceful exit is not undone.
//! - [`image`]: ensure and pull, with base64url registry auth and in-stream error handling.
//! - [`policy`]: the mount and container policy at launch (host paths resolved, the create
//!   body checked just before the container is created), on [`lowering::policy`]'s list.
//! - [`secret`]: reading password files (private regular files only).
//! - [`diagnose`]: engine messages mapped back to template lines.
//! - [`manifest`], [`sync`], [`login`]: the image manifest (registries and base images),
//!   syncing it through the same ensure step as a launch, and the registry login check.
//!
//! Every failure is a typed [`Error`] whose [`ErrorKind`] a caller maps to its outcome.
//! The runtime never removes or replaces a container it did not create (label
//! `tarsdock.managed-by=tarsdock`) unless told to adopt it.
//!
//! This crate does not lower templates (that is `lowering`), knows nothing of terminals or
//! exit codes (that is `cli`), and never panics on an engine reply.

pub mod admin;
pub mod beneath;
pub mod content;
pub mod deploy;
pub mod diagnose;
pub mod engine;
mod error;
pub mod front_support;
pub mod image;
pub mod keepalive;
pub mod lock;
pub mod login;
pub mod manifest;
pub mod package;
pub mod plan_request;
pub mod policy;
pub mod preflight;
pub mod request;
mod runtime;
pub mod script;
pub mod secret;
pub mod sync;

pub use engine::{AddressSource, EngineAddress, EngineInfo, Platform};
pub use error::{Error, ErrorKind, Limit, Operation, Result};
pub use image::{PullPolicy, PullProgress, PullReport, RegistryAuth};
pub use policy::LaunchPolicy;
pub use request::{LaunchRequest, MountOrigin, PortOrigin, plan_hash};
pub use runtime::{
    ContainerStatus, DEFAULT_GRACE, EndedBy, GraceSource, LaunchAction, LaunchEvent, LaunchOptions,
    LaunchReport, LogChunk, LogStream, LogsRequest, MAX_WAIT, NAME_SETTLE, NotifyReport,
    ProbeReport, RemoveReport, RestartReport, Runtime, RuntimeOptions, ScriptReport, StopAction,
    StopOptions, StopReport, StopStep,
};

/// Re-exported so callers build create bodies with the same bollard models.
pub use bollard::models;
