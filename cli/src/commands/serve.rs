//! `tarsdock serve --listen PATH`: the Docker Engine API front for unmodified tarsnode (the
//! `front` crate). Runs in the foreground, logs with `tracing` on stderr (text, or JSON lines
//! with `--log-format json`; `RUST_LOG` filters, default `info`), and stops gracefully on
//! SIGTERM or SIGINT.
//!
//! Exit codes: 0 after a shutdown by signal; 2 for usage and local setup (the socket, the
//! group, the node config); the runtime's codes when the engine cannot be used at startup
//! (3 unreachable, 6 timeout, …; see `engine_args`).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use front::{Front, FrontConfig, FrontError, Limits, PlanSettings, TargetChoice};
use lowering::ir::Target;
use runtime::EngineAddress;

use super::engine_args::exit_code;
use crate::exit::{Failure, Status};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The Unix socket to serve on: what tarsnode's `/tars/node/container<socket>` names.
    /// Default: that value, read from `--node-config`.
    #[arg(long, value_name = "PATH")]
    listen: Option<PathBuf>,
    /// The real Docker engine: `/path`, `unix:///path` or `tcp://host:port`. Default:
    /// `DOCKER_HOST`, else `/var/run/docker.sock`.
    #[arg(long, value_name = "PATH|URL")]
    engine: Option<String>,
    /// tarsnode's own config: its `/tars/node/container<socket>` is the default `--listen`,
    /// and its `<timeout>` the default `--pull-timeout`.
    #[arg(long, value_name = "FILE")]
    node_config: Option<PathBuf>,
    /// The group that may use the socket (name or gid); the socket is created 0660.
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Target platform; `auto` asks the engine once at startup.
    #[arg(long, value_enum, default_value = "auto")]
    target: TargetArg,
    /// tarsnode's install path (`TarsPath`); default: the parent of each service's log path.
    #[arg(long, value_name = "P")]
    tars_path: Option<String>,
    /// Host side of tarsnode's data mount when tarsnode runs in a container.
    #[arg(long, value_name = "H", env = "TARS_HOSTPATH")]
    host_path: Option<String>,
    /// Node name for the `tarsdock.node` label when a config has no `nodename` (default: this
    /// host's name).
    #[arg(long)]
    node: Option<String>,
    #[command(flatten)]
    policy: super::allow::AllowArgs,
    /// Seconds one engine request may take, and the engine may take to start answering a
    /// passed-through one.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    engine_timeout: u64,
    /// Seconds a pull run for a client may take [default: the node config's `<timeout>`,
    /// else 300].
    #[arg(long, value_name = "SECS")]
    pull_timeout: Option<u64>,
    /// Directory of the per-service lock files, shared with the other tarsdock commands
    /// [default: /run/lock/tarsdock].
    #[arg(long, value_name = "DIR", env = "TARSDOCK_LOCK_DIR")]
    lock_dir: Option<PathBuf>,
    /// Seconds a call waits for another tarsdock command working on the same service (below
    /// tarsnode's 60 s HTTP timeout, so the node hears why).
    #[arg(long, value_name = "SECS", default_value_t = 45)]
    lock_timeout: u64,
    /// Seconds a stop script may run.
    #[arg(long, value_name = "SECS", default_value_t = 50)]
    script_timeout: u64,
    /// Seconds shutdown waits for requests in flight before closing what is left.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    shutdown_timeout: u64,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum TargetArg {
    Auto,
    Linux,
    Mac,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    init_logging(args.log_format);
    let config = front_config(args)?;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    tokio.block_on(async {
        let front = Front::bind(config).await.map_err(startup_error)?;
        front.serve(shutdown_signal()).await;
        Ok(Status::Success)
    })
}

fn front_config(args: &Args) -> anyhow::Result<FrontConfig> {
    let node_config = match &args.node_config {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the node config {}", path.display()))?,
        ),
        None => None,
    };
    let node_socket = node_config
        .as_deref()
        .and_then(runtime::engine::node_config_socket);
    let listen = match (&args.listen, &node_socket) {
        (Some(listen), _) => listen.clone(),
        (None, Some(socket)) => PathBuf::from(socket.strip_prefix("unix://").unwrap_or(socket)),
        (None, None) => {
            bail!("give --listen PATH, or --node-config naming it in /tars/node/container<socket>")
        }
    };
    if let Some(socket) = &node_socket
        && listen.as_path()
            != std::path::Path::new(socket.strip_prefix("unix://").unwrap_or(socket))
    {
        tracing::warn!(
            node_socket = %socket,
            listen = %listen.display(),
            "tarsnode's config names another socket than the one served: the node will not call the front"
        );
    }
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let (engine, _) = EngineAddress::resolve(args.engine.as_deref(), None, docker_host.as_deref())
        .context("--engine")?;
    let pull_timeout = args
        .pull_timeout
        .map(Duration::from_secs)
        .or_else(|| {
            node_config
                .as_deref()
                .and_then(runtime::engine::node_config_timeout)
        })
        .unwrap_or(Duration::from_secs(300));
    let node = args.node.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    });
    Ok(FrontConfig {
        listen,
        group: args.group.clone(),
        engine,
        engine_timeout: Duration::from_secs(args.engine_timeout),
        connect_timeout: Duration::from_secs(5),
        pull_timeout,
        lock_dir: args
            .lock_dir
            .clone()
            .unwrap_or_else(runtime::lock::default_lock_dir),
        lock_timeout: Duration::from_secs(args.lock_timeout),
        plan: PlanSettings {
            target: match args.target {
                TargetArg::Auto => TargetChoice::Auto,
                TargetArg::Linux => TargetChoice::Fixed(Target::Linux),
                TargetArg::Mac => TargetChoice::Fixed(Target::Mac),
            },
            tars_path: args.tars_path.clone(),
            host_path: args.host_path.clone().filter(|h| !h.is_empty()),
            node,
            allow: args.policy.allowed(),
        },
        limits: Limits {
            script_timeout: Duration::from_secs(args.script_timeout),
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            ..Limits::default()
        },
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The startup failure with its exit code: the runtime's for the engine, 2 for the rest.
fn startup_error(error: FrontError) -> anyhow::Error {
    match error.runtime_error() {
        Some(runtime) => Failure {
            code: exit_code(runtime.kind()),
            message: error.to_string(),
        }
        .into(),
        None => anyhow::Error::new(error),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}
