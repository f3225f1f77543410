//! What every request handler shares: the runtime (for the calls tarsdock makes itself), the
//! engine (for what is passed through), and the settings.

use std::path::PathBuf;
use std::time::Duration;

use lowering::ir::Target;
use runtime::Runtime;

use crate::config::{Limits, PlanSettings};
use crate::proxy::Engine;

/// Shared by all requests.
#[derive(Debug)]
pub(crate) struct State {
    /// Intercepted calls: launch, stop, status, exec (bounded by the engine timeout).
    pub runtime: Runtime,
    /// Pulls run for clients (bounded by the pull timeout instead).
    pub pull_runtime: Runtime,
    pub pull_timeout: Duration,
    /// Pass-through.
    pub engine: Engine,
    /// The platform services are lowered for (decided at startup).
    pub target: Target,
    pub plan: PlanSettings,
    pub limits: Limits,
    /// The socket the front listens on (protected like an engine socket).
    pub listen: PathBuf,
    /// The runtime's lock directory (the inspect waits on it for a short while).
    pub lock_dir: PathBuf,
}
