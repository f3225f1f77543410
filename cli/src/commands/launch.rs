//! `tarsdock launch CONFIG --image IMAGE [plan flags]`: plan the service's container (findings
//! with errors stop here, exit 1), then make the running container match the plan.
//! `tarsdock launch --request FILE` does the same from a ready launch request (JSON of
//! [`runtime::LaunchRequest`]: name, app, server, node, image, optional expected image id,
//! the Engine API create body, the plan hash, and the origin of every mount and port).
//!
//! Idempotent: an unchanged running container is left alone, a stopped one is started, a
//! changed plan or image replaces it. Launches of one service are serialised across
//! processes; a launch killed at any point is repaired by the next one.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use runtime::{LaunchEvent, LaunchOptions, LaunchPolicy, LaunchReport, LaunchRequest, PullPolicy};

use parser::Severity;

use super::engine_args::{ConnectOrRun, EngineArgs, note, seconds};
use super::image::{CredentialArgs, PullView};
use super::input;
use super::plan::{self, TargetArg};
use crate::exit::Status;
use crate::render::{self, Color};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The service's generated config (with `--node-inputs`, its registry-merged profile), as
    /// for `tarsdock plan`.
    #[arg(required_unless_present = "request", conflicts_with = "request")]
    config: Option<PathBuf>,
    /// The image to run the service in (with CONFIG).
    #[arg(long, required_unless_present = "request", conflicts_with = "request")]
    image: Option<String>,
    /// The image id the service must run on; a local image with another id is pulled again.
    /// (A request gives it as `expected_image_id`.)
    #[arg(long, value_name = "ID", conflicts_with = "request")]
    image_id: Option<String>,
    /// Node facts (JSON, as for `tarsdock render`): CONFIG is rendered first.
    #[arg(long, value_name = "INPUTS.json", conflicts_with = "request")]
    node_inputs: Option<PathBuf>,
    /// Target platform; `auto` asks the engine (Docker Desktop or non-Linux: mac).
    #[arg(long, value_enum, default_value = "auto", conflicts_with = "request")]
    target: LaunchTarget,
    /// tarsnode's install path (`TarsPath`); default: the parent of the log path. With a
    /// request, it tells the policy where the tars directories are.
    #[arg(long, value_name = "P")]
    tars_path: Option<String>,
    /// Host side of tarsnode's data mount when tarsnode runs in a container (with a request:
    /// for the policy).
    #[arg(long, value_name = "H", env = "TARS_HOSTPATH")]
    host_path: Option<String>,
    /// Application name (default: `/tars/application/server<app>`).
    #[arg(long, conflicts_with = "request")]
    app: Option<String>,
    /// Server name (default: `/tars/application/server<server>`).
    #[arg(long, conflicts_with = "request")]
    server: Option<String>,
    /// Node name for the `tarsdock.node` label (default: `<nodename>`).
    #[arg(long, conflicts_with = "request")]
    node: Option<String>,
    /// Server directory (default: the parent of `<datapath>`).
    #[arg(long, conflicts_with = "request")]
    server_dir: Option<String>,
    /// Directory of `tars_start.sh` (default: `<basepath>`).
    #[arg(long, conflicts_with = "request")]
    exe_path: Option<String>,
    /// Log directory (default: `<logpath>`).
    #[arg(long)]
    log_path: Option<String>,
    /// Keepalive: the engine's restart policy (no, always, unless-stopped, on-failure[:N]);
    /// a stop lifts it and a start puts it back. Default: none (tarsnode restarts services
    /// itself).
    #[arg(long, value_parser = plan::parse_restart)]
    restart: Option<lowering::ir::RestartPolicy>,
    #[command(flatten)]
    policy: super::allow::AllowArgs,
    /// A ready launch request (JSON), or `-` for standard input. When its `plan_hash` is
    /// empty, the hash of its create body is used. The flags that shape a plan (`--image`,
    /// `--image-id`, `--node`, `--app`, `--server`, `--target`, `--node-inputs`,
    /// `--server-dir`, `--exe-path`) cannot be honoured with a request and are refused
    /// (exit 2): the request says all of that itself. `--tars-path`, `--host-path` and
    /// `--log-path` tell the policy where the node's directories are.
    #[arg(long, value_name = "FILE")]
    request: Option<PathBuf>,
    /// Replace a container of the same name that tarsdock did not create.
    #[arg(long)]
    adopt: bool,
    /// Seconds between SIGTERM and SIGKILL when an old container is replaced [default: the
    /// old container's own StopTimeout, its plan's deactivating-timeout; else 10].
    #[arg(long, value_name = "SECS")]
    stop_timeout: Option<u64>,
    /// Never pull: a missing image (or one with another id than expected) is an error.
    #[arg(long)]
    no_pull: bool,
    /// Print each step on stderr.
    #[arg(long, short = 'v')]
    verbose: bool,
    #[command(flatten)]
    credentials: CredentialArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Target platform of `launch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LaunchTarget {
    Auto,
    Linux,
    Mac,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let (request, policy) = match (&args.request, &args.config) {
        (Some(path), _) => (read_request(path, args)?, request_policy(args)),
        (None, Some(config)) => match planned_request(config, args)? {
            Some(planned) => planned,
            None => return Ok(Status::Findings),
        },
        (None, None) => bail!("give CONFIG (with --image) or --request FILE"),
    };
    launch(args, request, policy)
}

/// The policy for a ready request: the allow flags, and the node's layout from `--host-path`
/// (else `--tars-path`) and `--log-path` when given, so the tars directories are checked.
fn request_policy(args: &Args) -> LaunchPolicy {
    LaunchPolicy {
        allow: args.policy.allowed(),
        tars_root: args
            .host_path
            .clone()
            .filter(|h| !h.is_empty())
            .or_else(|| args.tars_path.clone()),
        log_root: args.log_path.clone(),
    }
}

fn read_request(path: &std::path::Path, args: &Args) -> anyhow::Result<LaunchRequest> {
    if path.as_os_str() == "-" && args.credentials.reads_stdin() {
        bail!("--request - and --password-stdin both want standard input");
    }
    let text = input::read(path)?;
    let mut request: LaunchRequest = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a launch request",
            input::display_name(path, None)
        )
    })?;
    if request.plan_hash.trim().is_empty() {
        request.plan_hash = runtime::plan_hash(&request.body);
    }
    Ok(request)
}

/// Plans CONFIG as `tarsdock plan` does; prints the findings on stderr. `None` when a finding
/// is an error (or no plan could be made): nothing is launched then.
#[allow(clippy::print_stderr)]
fn planned_request(
    config: &std::path::Path,
    args: &Args,
) -> anyhow::Result<Option<(LaunchRequest, LaunchPolicy)>> {
    let target = match args.target {
        LaunchTarget::Linux => TargetArg::Linux,
        LaunchTarget::Mac => TargetArg::Mac,
        LaunchTarget::Auto => engine_target(&args.engine)?,
    };
    let plan_args = plan::Args {
        config: config.to_path_buf(),
        node_inputs: args.node_inputs.clone(),
        image: args.image.clone().unwrap_or_default(),
        target,
        tars_path: args.tars_path.clone(),
        host_path: args.host_path.clone(),
        format: plan::PlanFormat::Json,
        color: Color::Never,
        app: args.app.clone(),
        server: args.server.clone(),
        node: args.node.clone(),
        server_dir: args.server_dir.clone(),
        exe_path: args.exe_path.clone(),
        log_path: args.log_path.clone(),
        entrypoint: None,
        workdir: None,
        restart: args.restart,
        policy: args.policy.clone(),
        stdin_filename: None,
    };
    let planned = plan::plan(&plan_args)?;
    if !planned.report.diagnostics.is_empty() {
        eprint!("{}", render::human::render(&planned.report, false, 100));
    }
    let plan = match &planned.lowered.plan {
        Some(plan) if !planned.report.fails(Severity::Error) => plan,
        _ => {
            eprintln!("error: the plan has errors; nothing was launched");
            return Ok(None);
        }
    };
    let file = planned.report.sources.get(planned.plan_source);
    let line_of = |offset: u32| -> (String, u32) {
        file.map_or_else(
            || (String::new(), 0),
            |f| (f.name.clone(), f.line_col(offset).line),
        )
    };
    // The node label: the flag, else the plan's `<nodename>`, else this host's name.
    let node = args
        .node
        .clone()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let mut request = runtime::plan_request::launch_request(plan, &node, Some(&line_of));
    request.expected_image_id.clone_from(&args.image_id);
    // The runtime checks the plan's mounts again just before create, against the same layout.
    let context = &planned.lowered.context;
    let policy = LaunchPolicy {
        allow: args.policy.allowed(),
        tars_root: context.tars_root.clone(),
        log_root: context.log_root.clone(),
    };
    Ok(Some((request, policy)))
}

/// The platform the engine asks for: Docker Desktop or a non-Linux engine means `mac`.
fn engine_target(engine: &EngineArgs) -> anyhow::Result<TargetArg> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let info = tokio.block_on(async {
        let rt = engine.connect().await?;
        rt.info().await.map_err(ConnectOrRun::from)
    });
    match info {
        Ok(info) => Ok(match info.platform {
            runtime::engine::Platform::Linux => TargetArg::Linux,
            _ => TargetArg::Mac,
        }),
        Err(ConnectOrRun::Runtime(e)) => Err(engine.fail(&e)),
        Err(ConnectOrRun::Setup(e)) => Err(e),
    }
}

fn launch(args: &Args, request: LaunchRequest, policy: LaunchPolicy) -> anyhow::Result<Status> {
    let options = LaunchOptions {
        adopt: args.adopt,
        stop_timeout: args.stop_timeout.map(seconds),
        pull: if args.no_pull {
            PullPolicy::Never
        } else {
            PullPolicy::IfNeeded
        },
        auth: args.credentials.resolve()?,
        policy,
    };
    let verbose = args.verbose;
    args.engine.run(
        |rt| async move {
            // Refused before anything happens (no pull, no replaced container); the runtime
            // checks again just before create.
            runtime::policy::enforce(
                &request,
                &request.to_create_body()?,
                &options.policy,
                rt.address(),
            )?;
            let mut view: Option<PullView> = None;
            let result = rt
                .launch(&request, &options, &mut |event| match event {
                    LaunchEvent::Pull(progress) => view
                        .get_or_insert_with(|| PullView::new(&request.image))
                        .update(&progress),
                    other if verbose => note(&other.to_string()),
                    _ => {}
                })
                .await;
            if let Some(view) = &mut view {
                view.finish();
            }
            if let Ok(report) = &result {
                for warning in &report.warnings {
                    note(&format!("warning: engine: {warning}"));
                }
            }
            result
        },
        human,
    )
}

fn human(report: &LaunchReport) -> String {
    let id: String = report.id.chars().take(12).collect();
    let what = match report.action {
        runtime::LaunchAction::Unchanged => "unchanged, running".to_owned(),
        runtime::LaunchAction::Started => "started again".to_owned(),
        runtime::LaunchAction::Created => "created and started".to_owned(),
        runtime::LaunchAction::Replaced => format!(
            "replaced ({})",
            report.reason.as_deref().unwrap_or("changed")
        ),
    };
    let mut out = format!("{}: {what} {id}", report.name);
    if let Some(pid) = report.pid {
        out.push_str(&format!(", pid {pid}"));
    }
    if report.state != "running" {
        out.push_str(&format!(", but it is {} now", report.state));
    }
    out.push('\n');
    out
}
