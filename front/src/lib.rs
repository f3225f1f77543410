//! The Docker Engine API front for unmodified tarsnode: `tarsdock serve`.
//!
//! tarsnode talks to Docker itself (upstream `TC_Docker`, over the socket its config names in
//! `/tars/node/container<socket>`). Pointed at this front instead, every container it starts
//! goes through tarsdock's compiler and runtime, and everything else reaches the engine
//! unchanged:
//!
//! - [`route`]: the Engine API path, under any version prefix, to a handler.
//! - `create`: tarsnode's `POST /containers/create?name=App.Server` planned from the service's
//!   generated config by `lowering` (policy, mounts, ports, target, `TARS_HOSTPATH`), compared
//!   with what the node sent ([`compare`]), and launched by `runtime` (labels, plan hash, the
//!   CLI's per-service locks); a plan with errors is refused with tarsdock's diagnostics.
//! - `containers`: start, stop (graceful, with the planned grace period), `DELETE` (idempotent;
//!   the stopped container is kept for reuse), inspect, and `exec` of a stop script (really
//!   run).
//! - `images`: pulls run by the runtime for clients that read only the status (credentials in
//!   either base64 alphabet, in-stream errors reported), image inspect, registry login.
//! - `proxy`: everything else, streamed both ways, connection upgrades included, so that
//!   `docker -H unix://…` works against the front.
//! - [`Front`]: the socket (`0660`, the operator's group), the connections, graceful
//!   shutdown.
//!
//! The front is not a security boundary against its own clients: whoever may use its socket
//! may use the engine (everything not intercepted is passed through), exactly as with the
//! engine's socket. What it does guarantee is that tarsnode's calls are compiled by tarsdock:
//! the service directory is read as hostile (no links followed, bounded reads) and the
//! template's policy applies.
//!
//! This crate sits between `cli` and `runtime`; it does not lower templates (`lowering`), run
//! containers (`runtime`), or know about terminals and exit codes (`cli`).

pub mod compare;
mod config;
mod containers;
mod create;
mod handler;
mod images;
mod listener;
mod proxy;
mod reply;
pub mod route;
mod server;
mod service_config;
mod state;

pub use config::{FrontConfig, FrontError, Limits, PlanSettings, TargetChoice};
pub use create::{ServiceCall, recognise};
pub use images::decode_auth;
pub use listener::{SOCKET_MODE, resolve_group};
pub use server::Front;
