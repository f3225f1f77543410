//! What the engine commands (`launch`, `stop`, `restart`, `status`, `logs`, `rm`, `image`)
//! share: the engine flags, the exit codes of runtime failures, and the output rules
//! (`--json`: JSON only on stdout; human text otherwise; progress and errors on stderr).
//!
//! | exit code | runtime failure ([`runtime::ErrorKind`]) |
//! | --- | --- |
//! | 2 | `usage`: bad arguments or request, flags `launch --request` cannot honour, lock directory refused, lock file I/O |
//! | 3 | `engine-unreachable`: no engine at the socket (or the path is not a socket), or its API is too old |
//! | 4 | `image-unavailable`: missing and not pullable, pull failed, wrong image id |
//! | 5 | `engine-refused`: the engine refused create/start/stop/kill/exec/remove, or answered with something undecodable |
//! | 6 | `timeout`: an engine call (head and body) or a stream's silence exceeded `--engine-timeout` (plus the grace period for stops), or another tarsdock command held the service lock past `--lock-timeout` |
//! | 7 | `conflict`: a container tarsdock did not make for this service (see `--adopt`), or a 409 that persists after deciding again |
//! | 8 | `mount-source-missing`: a bind mount's host path does not exist |
//! | 9 | `port-in-use`: a published host port is taken |
//! | 10 | `not-found`: no such container, for the commands that need one (`restart`, `logs`) |
//! | 13 | `policy-refused`: the mount and container policy refuses the create body |
//! | 14 | `unresponsive`: the service's admin servant cannot be asked (`notify`) |
//! | 15 | `incompatible`: the executable cannot run on the image (binary preflight, `TARS-B`) |
//!
//! One rule for an absent container: a command whose goal already holds succeeds (`stop`
//! and `rm`: not running; `status`: answers `absent`), a command that needs the container
//! fails with 10 (`restart`, `logs`).
//!
//! Durations are clamped to [`runtime::MAX_WAIT`] (`i32::MAX` seconds); no value is too
//! large.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use runtime::{EngineAddress, ErrorKind, Runtime, RuntimeOptions};
use serde::Serialize;

use crate::exit::{Failure, Status};

/// How to reach the engine and how long to wait.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct EngineArgs {
    /// Engine socket or address: `/path`, `unix:///path` or `tcp://host:port`. Default: the
    /// node config's `/tars/node/container<socket>`, else `DOCKER_HOST`, else
    /// `/var/run/docker.sock`.
    #[arg(long, value_name = "SOCKET", global = true)]
    pub(crate) docker_socket: Option<String>,
    /// A tarsnode config file: its `/tars/node/container<socket>` names the engine socket
    /// and `<timeout>` the request timeout in seconds.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) node_config: Option<PathBuf>,
    /// Seconds one engine request may take, reply head and body (stops add their grace
    /// period); also the longest silence of a pull or logs stream [default: the node
    /// config's timeout, else 120].
    #[arg(long, value_name = "SECS", global = true)]
    pub(crate) engine_timeout: Option<u64>,
    /// Directory of the per-service lock files; locks only exclude commands that share it
    /// [default: /run/tarsdock/locks].
    #[arg(long, value_name = "DIR", env = "TARSDOCK_LOCK_DIR", global = true)]
    pub(crate) lock_dir: Option<PathBuf>,
    /// Seconds to wait for another tarsdock command working on the same service.
    #[arg(long, value_name = "SECS", default_value_t = 300, global = true)]
    pub(crate) lock_timeout: u64,
    /// Print JSON on stdout (and nothing else there); human text goes to stderr.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

impl EngineArgs {
    /// Connects (resolving the address from the flags, the node config and `DOCKER_HOST`)
    /// and runs `work`, then prints its result as JSON or through `human`; a runtime error
    /// becomes its exit code, printed as JSON too under `--json`.
    pub(crate) fn run<T, F, Fut>(
        &self,
        work: F,
        human: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<Status>
    where
        T: Serialize,
        F: FnOnce(Runtime) -> Fut,
        Fut: Future<Output = Result<T, runtime::Error>>,
    {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let result = tokio.block_on(async {
            let runtime = self.connect().await?;
            work(runtime).await.map_err(ConnectOrRun::from)
        });
        match result {
            Ok(value) => {
                if self.json {
                    print_json(&value)?;
                } else {
                    let text = human(&value);
                    if !text.is_empty() {
                        std::io::stdout()
                            .lock()
                            .write_all(text.as_bytes())
                            .context("cannot write to stdout")?;
                    }
                }
                Ok(Status::Success)
            }
            Err(ConnectOrRun::Runtime(error)) => Err(self.fail(&error)),
            Err(ConnectOrRun::Setup(error)) => Err(error),
        }
    }

    /// Resolves the engine address and connects.
    pub(crate) async fn connect(&self) -> Result<Runtime, ConnectOrRun> {
        let node_config = match &self.node_config {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("cannot read the node config {}", path.display()))
                    .map_err(ConnectOrRun::Setup)?,
            ),
            None => None,
        };
        let docker_host = std::env::var("DOCKER_HOST").ok();
        let (address, _source) = EngineAddress::resolve(
            self.docker_socket.as_deref(),
            node_config.as_deref(),
            docker_host.as_deref(),
        )?;
        let request_timeout = self
            .engine_timeout
            .map(Duration::from_secs)
            .or_else(|| {
                node_config
                    .as_deref()
                    .and_then(runtime::engine::node_config_timeout)
            })
            .unwrap_or(Duration::from_secs(120));
        let options = RuntimeOptions {
            request_timeout,
            lock_dir: self
                .lock_dir
                .clone()
                .unwrap_or_else(runtime::lock::default_lock_dir),
            lock_timeout: Duration::from_secs(self.lock_timeout),
        };
        Ok(Runtime::connect(&address, options).await?)
    }

    /// The error for a runtime failure: printed as JSON on stdout under `--json`, and
    /// carrying the failure's exit code.
    pub(crate) fn fail(&self, error: &runtime::Error) -> anyhow::Error {
        let code = exit_code(error.kind());
        if self.json {
            let body = ErrorJson {
                error: ErrorBody {
                    kind: error.kind().as_str(),
                    exit_code: code,
                    message: error.to_string(),
                    origin: error.origin(),
                },
            };
            if let Err(e) = print_json(&body) {
                return e;
            }
        }
        Failure {
            code,
            message: error.to_string(),
        }
        .into()
    }
}

/// A failure before or during the work.
pub(crate) enum ConnectOrRun {
    /// Reading local inputs failed (exit code 2).
    Setup(anyhow::Error),
    /// The runtime failed (its own exit code).
    Runtime(runtime::Error),
}

impl From<runtime::Error> for ConnectOrRun {
    fn from(error: runtime::Error) -> Self {
        Self::Runtime(error)
    }
}

/// The exit code of a runtime failure class (see the module table).
pub(crate) const fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Usage => 2,
        ErrorKind::EngineUnreachable => 3,
        ErrorKind::ImageUnavailable => 4,
        ErrorKind::EngineRefused => 5,
        ErrorKind::Timeout => 6,
        ErrorKind::Conflict => 7,
        ErrorKind::MountSourceMissing => 8,
        ErrorKind::PortInUse => 9,
        ErrorKind::NotFound => 10,
        ErrorKind::PolicyRefused => 13,
        ErrorKind::Unresponsive => 14,
        ErrorKind::Incompatible => 15,
    }
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'static str,
    exit_code: u8,
    message: String,
    origin: Option<&'a str>,
}

/// Writes pretty JSON and a newline to stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("cannot serialise the result")?;
    text.push('\n');
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")
}

/// Writes one line to stderr (progress, notes); failures to write are ignored.
pub(crate) fn note(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// `--timeout`-style seconds as a duration.
pub(crate) const fn seconds(secs: u64) -> Duration {
    Duration::from_secs(secs)
}
