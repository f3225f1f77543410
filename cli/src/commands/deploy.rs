//! `tarsdock deploy App.Server --package PKG.tgz --template T.conf …`: the whole standalone node
//! path in one command. Lays the service out as tarsnode does (`<tars path>/tarsnode/data/
//! App.Server/{bin,conf,data}`, `<log path>/App/Server/`), unpacks the package into `bin/`
//! safely, writes the generated config and `tars_start.sh`, and (container mode) launches the
//! container through the runtime, then says where the service listens.
//!
//! Idempotent: the same inputs change nothing (same container, same start time); a new package
//! replaces `bin/` atomically and replaces the container. `--mode native` rewrites the config
//! and script for a native start and touches no container; the report prints the command.
//!
//! | exit code | meaning |
//! | --- | --- |
//! | 0 | deployed (and running, in container mode) |
//! | 1 | the template chain, profile or node inputs give errors (findings printed) |
//! | 2 | usage, unreadable input files |
//! | 3–10 | the engine failure classes of the other engine commands (`launch`'s table) |
//! | 11 | the package is refused: not a tgz, an unsafe entry, over a limit, no executable for the type |
//! | 12 | the service or log directory cannot be written, or holds a link (or a foreign object) where deploy manages one; nothing was written |
//!
//! Package limits (`--max-package-bytes` 2 GiB, `--max-package-entries` 100,000,
//! `--max-entry-bytes` 1 GiB, `--max-path-bytes` 1024, `--max-compression-ratio` 100) fit real
//! services; raise one deliberately for a package that needs it.
//!
//! With `--json`, stdout holds one JSON document (the deployment, or `{"error": …}`); progress
//! and human text go to stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use lowering::ir::Target;
use lowering::render::NodeInputs;
use parser::{Severity, SourceId};
use runtime::deploy::{DeployError, DeployErrorKind, DeployInput, Deployment, FileAction};
use runtime::package::Limits;
use runtime::script::{RunMode, ServerType};
use runtime::{
    EngineAddress, LaunchEvent, LaunchOptions, LaunchReport, PullPolicy, Runtime, RuntimeOptions,
};
use serde::Serialize;
use serde_json::json;

use super::resolve;
use crate::exit::{Failure, Status};
use crate::render::{self, Report};

/// Exit code: the package is refused.
const EXIT_PACKAGE: u8 = 11;
/// Exit code: the layout cannot be written.
const EXIT_LAYOUT: u8 = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ModeArg {
    /// Run in a container (`run_type=container`).
    Container,
    /// Lay out for a native start; no container is touched.
    Native,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TargetArg {
    /// Host network and host IPC.
    Linux,
    /// Bridge network with published ports (Docker Desktop).
    Mac,
}

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The service id, `App.Server`.
    pub(crate) service: String,
    /// The service package (a tgz, as uploaded to the Tars web).
    #[arg(long, value_name = "TGZ")]
    pub(crate) package: PathBuf,
    /// The service's template file; with `--index`, a template name.
    #[arg(long, value_name = "FILE")]
    pub(crate) template: String,
    /// Parent template files, nearest first.
    #[arg(long = "parent", value_name = "FILE", conflicts_with = "index")]
    pub(crate) parents: Vec<PathBuf>,
    /// A TOML index of a template set (see `tarsdock resolve`).
    #[arg(long, value_name = "TOML")]
    pub(crate) index: Option<PathBuf>,
    /// The service's private profile, merged over the chain.
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Node facts as JSON (node key, adapters, local endpoint, macros); see `tarsdock render`.
    /// The layout's macros (app, server, basepath, datapath, logpath, …) are set by deploy.
    #[arg(long, value_name = "JSON")]
    pub(crate) node_inputs: PathBuf,
    /// The base image the service runs in (used as is).
    #[arg(long)]
    pub(crate) image: String,
    /// The server type: cpp, go, java, nodejs or php.
    #[arg(long, value_parser = parse_server_type)]
    pub(crate) server_type: ServerType,
    /// tarsnode's install path: services are laid out in `<P>/tarsnode/data/App.Server/`.
    #[arg(long, value_name = "P", default_value = "/usr/local/app/tars")]
    pub(crate) tars_path: String,
    /// The log path: the service logs to `<P>/App/Server/`.
    #[arg(long, value_name = "P", default_value = "/usr/local/app/tars/app_log")]
    pub(crate) log_path: String,
    /// Run mode.
    #[arg(long, value_enum, default_value = "container")]
    pub(crate) mode: ModeArg,
    /// Target platform of the container.
    #[arg(long, value_enum, default_value = "linux")]
    pub(crate) target: TargetArg,
    /// Node name for the `tarsdock.node` label [default: the `nodename` macro, else `local`].
    #[arg(long)]
    pub(crate) node: Option<String>,
    /// Host side of tarsnode's data mount when tarsnode runs in a container.
    #[arg(long, value_name = "H", env = "TARS_HOSTPATH")]
    pub(crate) host_path: Option<String>,
    #[command(flatten)]
    pub(crate) policy: super::allow::AllowArgs,
    /// Seconds between SIGTERM and SIGKILL when the old container is replaced [default: the
    /// old container's own StopTimeout, its plan's deactivating-timeout; else 10].
    #[arg(long, value_name = "SECS")]
    pub(crate) stop_timeout: Option<u64>,
    /// Never pull the image: it must be present.
    #[arg(long)]
    pub(crate) no_pull: bool,
    /// Engine socket or address: `/path`, `unix:///path` or `tcp://host:port` [default:
    /// `DOCKER_HOST`, else /var/run/docker.sock].
    #[arg(long, value_name = "SOCKET")]
    pub(crate) docker_socket: Option<String>,
    /// Seconds one engine request may take.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub(crate) engine_timeout: u64,
    /// Directory of the per-service lock files [default: /run/tarsdock/locks].
    #[arg(long, value_name = "DIR", env = "TARSDOCK_LOCK_DIR")]
    pub(crate) lock_dir: Option<PathBuf>,
    /// Seconds to wait for another tarsdock command working on the same service.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub(crate) lock_timeout: u64,
    /// Most bytes the package's files may unpack to (`K`, `M`, `G` suffixes: powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = parse_size)]
    pub(crate) max_package_bytes: u64,
    /// Most entries (files, directories, links) the package may hold.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub(crate) max_package_entries: u64,
    /// Most bytes one file of the package may have.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub(crate) max_entry_bytes: u64,
    /// Longest path of an entry in the package, in bytes.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub(crate) max_path_bytes: u64,
    /// Most unpacked bytes per compressed byte (checked past the first 16 MiB).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) max_compression_ratio: u64,
    /// Keepalive for a standalone node: the engine's restart policy (no, always,
    /// unless-stopped, on-failure[:N]); a stop lifts it and a start puts it back. Default:
    /// none (under tarsnode, whose own keepalive restarts the service).
    #[arg(long, value_parser = super::plan::parse_restart)]
    pub(crate) restart: Option<lowering::ir::RestartPolicy>,
    /// Print one JSON document on stdout; human text goes to stderr.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `123`, `64K`, `512M`, `2G` (also `KiB`, `MiB`, `GiB`): bytes, suffixes in powers of 1024.
fn parse_size(text: &str) -> Result<u64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("unknown unit `{unit}`: use K, M, G or T")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 512M, 2G)"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

fn parse_server_type(text: &str) -> Result<ServerType, String> {
    ServerType::from_name(text).ok_or_else(|| {
        let all: Vec<&str> = ServerType::ALL.iter().map(|t| t.as_str()).collect();
        format!("expected one of {}, not `{text}`", all.join(", "))
    })
}

/// The JSON (and human) result of a deployment.
#[derive(Serialize)]
struct Outcome<'a> {
    #[serde(flatten)]
    deployment: &'a Deployment,
    target: &'static str,
    /// The launch (container mode).
    launch: Option<&'a LaunchReport>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let Some((app, server)) = args.service.split_once('.') else {
        return Err(fail(
            args,
            2,
            "usage",
            &format!("`{}` is not a service id: write App.Server", args.service),
            None,
        ));
    };

    // The template chain and private profile, as the registry merges them.
    let resolved = resolve::load(&resolve::Args {
        template: args.template.clone(),
        parents: args.parents.clone(),
        index: args.index.clone(),
        profile: args.profile.clone(),
        explain: false,
        json: false,
    })?;
    let template_failed = resolved.resolution.failed
        || resolved
            .resolution
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error);
    if template_failed {
        let report = Report::with(resolved.sources, resolved.resolution.diagnostics.clone());
        return Err(template_failure(args, &report, "the template has errors"));
    }

    let inputs_bytes = std::fs::read(&args.node_inputs)
        .with_context(|| format!("cannot read {}", args.node_inputs.display()))?;
    let node_inputs = NodeInputs::from_json(&inputs_bytes)
        .with_context(|| format!("in {}", args.node_inputs.display()))?;
    let node = args
        .node
        .clone()
        .or_else(|| node_inputs.macros.get("nodename").cloned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    let input = DeployInput {
        app: app.to_owned(),
        server: server.to_owned(),
        node,
        package: args.package.clone(),
        profile: &resolved.resolution.config,
        node_inputs,
        image: args.image.clone(),
        server_type: args.server_type,
        mode: match args.mode {
            ModeArg::Container => RunMode::Container,
            ModeArg::Native => RunMode::Native,
        },
        target: match args.target {
            TargetArg::Linux => Target::Linux,
            TargetArg::Mac => Target::Mac,
        },
        tars_path: args.tars_path.clone(),
        log_path: args.log_path.clone(),
        host_path: args.host_path.clone().filter(|h| !h.is_empty()),
        policy: args.policy.allowed(),
        limits: Limits {
            max_bytes: args.max_package_bytes,
            max_entries: args.max_package_entries,
            max_entry_bytes: args.max_entry_bytes,
            max_path_bytes: args.max_path_bytes,
            max_ratio: args.max_compression_ratio,
        },
        restart_policy: args.restart,
    };

    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    tokio.block_on(deploy(args, &input))
}

async fn deploy(args: &Args, input: &DeployInput<'_>) -> anyhow::Result<Status> {
    let lock_dir = args
        .lock_dir
        .clone()
        .unwrap_or_else(runtime::lock::default_lock_dir);
    let lock_timeout = Duration::from_secs(args.lock_timeout);
    // Connect first in container mode, so an unreachable engine leaves the node untouched.
    let engine = if input.mode == RunMode::Container {
        Some(
            connect(args, &lock_dir, lock_timeout)
                .await
                .map_err(|e| runtime_failure(args, &e))?,
        )
    } else {
        None
    };
    // Layout changes of one service are serialised like its launches (a lock of its own: the
    // launch takes the service lock itself).
    let _layout_lock = runtime::lock::lock_service(
        &lock_dir,
        &format!("{}.{}.deploy", input.app, input.server),
        lock_timeout,
    )
    .await
    .map_err(|e| runtime_failure(args, &e))?;

    let deployment = match runtime::deploy::prepare(input) {
        Ok(deployment) => deployment,
        Err(error) => return Err(deploy_failure(args, &error)),
    };
    note(&format!(
        "{}: bin {}, config {}, tars_start.sh {} ({})",
        deployment.name,
        action(&deployment.bin),
        action(&deployment.config),
        action(&deployment.script),
        deployment.package_digest
    ));
    for warning in &deployment.warnings {
        note(&format!("warning: {warning}"));
    }

    let mut launched = None;
    if let (Some(engine), Some(request)) = (&engine, &deployment.request) {
        if !deployment.restored.is_empty() {
            // Files of the package were changed from inside the container: run the restored
            // ones in a fresh container, not in the one that changed them.
            let removed = engine
                .remove(
                    &deployment.name,
                    args.stop_timeout.map(Duration::from_secs),
                    false,
                )
                .await
                .map_err(|e| runtime_failure(args, &e))?;
            if removed.id.is_some() {
                note(&format!(
                    "{}: container removed (its package files had been changed)",
                    deployment.name
                ));
            }
        }
        let options = LaunchOptions {
            adopt: false,
            stop_timeout: args.stop_timeout.map(Duration::from_secs),
            pull: if args.no_pull {
                PullPolicy::Never
            } else {
                PullPolicy::IfNeeded
            },
            auth: None,
            policy: runtime::LaunchPolicy {
                allow: input.policy,
                tars_root: Some(
                    input
                        .host_path
                        .clone()
                        .unwrap_or_else(|| input.tars_path.clone()),
                ),
                // With TARS_HOSTPATH the log root on the host is `<host path>/app_log`.
                log_root: input.host_path.is_none().then(|| input.log_path.clone()),
            },
        };
        let report = engine
            .launch(request, &options, &mut |event| {
                if matches!(
                    event,
                    LaunchEvent::Pulling { .. } | LaunchEvent::Created { .. }
                ) {
                    note(&event.to_string());
                }
            })
            .await
            .map_err(|e| runtime_failure(args, &e))?;
        for warning in &report.warnings {
            note(&format!("warning: engine: {warning}"));
        }
        launched = Some(report);
    }

    let outcome = Outcome {
        deployment: &deployment,
        target: match input.target {
            Target::Linux => "linux",
            Target::Mac => "mac",
        },
        launch: launched.as_ref(),
    };
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let mut text = serde_json::to_string_pretty(&outcome).context("cannot serialise")?;
        text.push('\n');
        stdout.write_all(text.as_bytes())?;
    } else {
        stdout.write_all(human(&outcome).as_bytes())?;
    }
    Ok(Status::Success)
}

async fn connect(
    args: &Args,
    lock_dir: &std::path::Path,
    lock_timeout: Duration,
) -> Result<Runtime, runtime::Error> {
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let (address, _) =
        EngineAddress::resolve(args.docker_socket.as_deref(), None, docker_host.as_deref())?;
    Runtime::connect(
        &address,
        RuntimeOptions {
            request_timeout: Duration::from_secs(args.engine_timeout),
            lock_dir: lock_dir.to_path_buf(),
            lock_timeout,
        },
    )
    .await
}

fn action(action: &FileAction) -> &'static str {
    match action {
        FileAction::Created => "created",
        FileAction::Replaced { .. } => "replaced",
        FileAction::Unchanged => "unchanged",
    }
}

fn human(outcome: &Outcome<'_>) -> String {
    let d = outcome.deployment;
    let mut out = format!(
        "{} ({} server, {} mode) in {}\n",
        d.name,
        d.server_type,
        d.mode.as_str(),
        d.layout.server_dir
    );
    let restored = if d.restored.is_empty() {
        String::new()
    } else {
        format!(", restored: {}", d.restored.join(", "))
    };
    out.push_str(&format!(
        "  package     {} ({}{restored})\n",
        d.package_digest,
        action(&d.bin)
    ));
    let backup = match &d.config {
        FileAction::Replaced {
            backup: Some(backup),
        } => format!(", old one kept as {backup}"),
        _ => String::new(),
    };
    out.push_str(&format!(
        "  config      {} ({}{backup})\n",
        d.layout.config_file,
        action(&d.config)
    ));
    out.push_str(&format!(
        "  start       {} ({})\n",
        d.layout.start_script,
        action(&d.script)
    ));
    out.push_str(&format!("  logs        {}\n", d.layout.log_dir));
    if let Some(report) = outcome.launch {
        let id = &report.id[..report.id.len().min(12)];
        let what = match report.action {
            runtime::LaunchAction::Unchanged => "unchanged, running".to_owned(),
            runtime::LaunchAction::Started => "started again".to_owned(),
            runtime::LaunchAction::Created => "created and started".to_owned(),
            runtime::LaunchAction::Replaced => format!(
                "replaced ({})",
                report.reason.as_deref().unwrap_or("changed")
            ),
        };
        out.push_str(&format!(
            "  container   {} {what}, {} on {} ({})\n",
            d.name, id, report.image, outcome.target
        ));
        if report.state != "running" {
            out.push_str(&format!(
                "  WARNING     the container is {} now\n",
                report.state
            ));
        }
    } else {
        out.push_str(&format!("  start it    {}\n", d.native_start));
    }
    for listen in &d.listen {
        out.push_str(&format!(
            "  listens     {}/{} ({})\n",
            listen.address, listen.proto, listen.what
        ));
    }
    out
}

/// A runtime failure: its class's exit code (the engine commands' table), JSON under `--json`.
fn runtime_failure(args: &Args, error: &runtime::Error) -> anyhow::Error {
    let code = super::engine_args::exit_code(error.kind());
    fail(args, code, error.kind().as_str(), &error.to_string(), None)
}

fn deploy_failure(args: &Args, error: &DeployError) -> anyhow::Error {
    if let DeployError::Plan { diagnostics, text } = error {
        let mut report = Report::new();
        let id = report.sources.add(
            format!("{}.config.conf (generated)", args.service),
            text.clone(),
        );
        report.diagnostics = diagnostics
            .iter()
            .cloned()
            .map(|mut d| {
                d.relocate(id);
                d
            })
            .collect();
        debug_assert_eq!(id, SourceId::MAIN);
        return template_failure(args, &report, &error.to_string());
    }
    let kind = error.kind();
    let code = match kind {
        DeployErrorKind::Usage => 2,
        DeployErrorKind::Template => 1,
        DeployErrorKind::Package => EXIT_PACKAGE,
        DeployErrorKind::Layout => EXIT_LAYOUT,
    };
    fail(args, code, kind.as_str(), &error.to_string(), None)
}

fn template_failure(args: &Args, report: &Report, message: &str) -> anyhow::Error {
    let diagnostics = serde_json::from_str::<serde_json::Value>(&render::json::render(report))
        .ok()
        .and_then(|mut doc| doc.get_mut("diagnostics").map(serde_json::Value::take));
    if !args.json {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(render::human::render(report, false, 100).as_bytes());
    }
    fail(args, 1, "template", message, diagnostics)
}

/// The error carrying `code`; under `--json` its JSON is printed on stdout first.
fn fail(
    args: &Args,
    code: u8,
    kind: &str,
    message: &str,
    diagnostics: Option<serde_json::Value>,
) -> anyhow::Error {
    if args.json {
        let mut body = json!({"error": {"kind": kind, "exit_code": code, "message": message}});
        if let Some(diagnostics) = diagnostics {
            body["error"]["diagnostics"] = diagnostics;
        }
        let text = serde_json::to_string_pretty(&body).unwrap_or_default();
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }
    Failure {
        code,
        message: message.to_owned(),
    }
    .into()
}

/// One line of progress on stderr.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
