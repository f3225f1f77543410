//! `tarsdock plan CONFIG --image IMAGE`: the container a service would run in, as the Engine
//! API create body, the equivalent `docker run` line and every finding, without touching Docker.
//!
//! Exit codes: 0 planned (warnings and information allowed), 1 findings at error level (no
//! create body is printed), 2 usage or I/O error.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;

use lowering::ir::{ContainerPlan, MountOrigin, PortOrigin, RestartPolicy, Target, TemplateLine};
use lowering::lower::{Lowered, PlanOptions};
use lowering::plan::{ServiceOverrides, plan_generated_config, plan_rendered};
use lowering::render::{NodeInputs, render};
use parser::{Severity, SourceId, Sources};
use serde_json::{Value, json};

use crate::exit::Status;
use crate::render::{self, Color, Report};

/// Output of `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PlanFormat {
    /// Findings, then a summary of the container and its `docker run` line.
    Human,
    /// `{"name", "create_body", "docker_run", "diagnostics"}` on stdout.
    Json,
    /// The `docker run` line alone on stdout (findings on stderr).
    DockerRun,
}

/// Target platform (`linux`: host network and IPC; `mac`: Docker Desktop, bridge and ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TargetArg {
    Linux,
    Mac,
}

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The service's generated config; with `--node-inputs`, the registry-merged profile
    /// (`-` reads standard input).
    pub(crate) config: PathBuf,
    /// Node facts as JSON (as for `tarsdock render`): CONFIG is then rendered first, and the
    /// adapters are published on their configured endpoints.
    #[arg(long, value_name = "INPUTS.json")]
    pub(crate) node_inputs: Option<PathBuf>,
    /// The image to run the service in, used as is (e.g. `tarscloud/tars.cppbase:latest`).
    #[arg(long)]
    pub(crate) image: String,
    /// Target platform.
    #[arg(long, value_enum, default_value = "linux")]
    pub(crate) target: TargetArg,
    /// tarsnode's install path (`TarsPath`); default: the parent of the log path.
    #[arg(long, value_name = "P")]
    pub(crate) tars_path: Option<String>,
    /// Host side of tarsnode's data mount when tarsnode runs in a container.
    #[arg(long, value_name = "H", env = "TARS_HOSTPATH")]
    pub(crate) host_path: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) format: PlanFormat,
    /// Colour for human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: Color,
    /// Application name (default: `/tars/application/server<app>`).
    #[arg(long)]
    pub(crate) app: Option<String>,
    /// Server name (default: `/tars/application/server<server>`).
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// Node name for the `tarsdock.node` label (default: `<nodename>`).
    #[arg(long)]
    pub(crate) node: Option<String>,
    /// Server directory (default: the parent of `<datapath>`).
    #[arg(long)]
    pub(crate) server_dir: Option<String>,
    /// Directory of `tars_start.sh` (default: `<basepath>`).
    #[arg(long)]
    pub(crate) exe_path: Option<String>,
    /// Log directory (default: `<logpath>`).
    #[arg(long)]
    pub(crate) log_path: Option<String>,
    /// Replaces `<exe-path>/tars_start.sh` as the container's entrypoint.
    #[arg(long)]
    pub(crate) entrypoint: Option<String>,
    /// Working directory in the container (default `/`).
    #[arg(long)]
    pub(crate) workdir: Option<String>,
    /// Docker restart policy: no, always, unless-stopped, on-failure[:N] (default: none, as
    /// tarsnode restarts services itself).
    #[arg(long, value_parser = parse_restart)]
    pub(crate) restart: Option<RestartPolicy>,
    #[command(flatten)]
    pub(crate) policy: super::allow::AllowArgs,
    /// Name shown for standard input (`-`) in findings.
    #[arg(long)]
    pub(crate) stdin_filename: Option<String>,
}

pub(crate) fn parse_restart(text: &str) -> Result<RestartPolicy, String> {
    RestartPolicy::from_name(text).ok_or_else(|| {
        format!("expected no, always, unless-stopped or on-failure[:N], not `{text}`")
    })
}

/// The plan of one config with its sources, ready to print.
pub(crate) struct Planned {
    pub(crate) report: Report,
    pub(crate) lowered: Lowered,
    /// The source the plan's spans point into (the rendered config with `--node-inputs`).
    pub(crate) plan_source: SourceId,
}

/// Reads, parses and plans `args.config`.
pub(crate) fn plan(args: &Args) -> anyhow::Result<Planned> {
    let text = super::input::read(&args.config)?;
    let name = super::input::display_name(&args.config, args.stdin_filename.as_deref());
    let mut report = Report::new();
    let id = report.sources.add(name, text.clone());
    let parse = parser::parse(text);
    let options = PlanOptions {
        image: args.image.clone(),
        target: match args.target {
            TargetArg::Linux => Target::Linux,
            TargetArg::Mac => Target::Mac,
        },
        tars_path: args.tars_path.clone(),
        host_path: args.host_path.clone().filter(|h| !h.is_empty()),
        policy: args.policy.allowed(),
        // Host paths are resolved here (links followed), as the runtime resolves them again
        // just before the container is created.
        host: host_view(),
        entrypoint: args.entrypoint.clone().map(|e| vec![e]),
        working_dir: args.workdir.clone(),
        restart_policy: args.restart,
    };
    let overrides = ServiceOverrides {
        app: args.app.clone(),
        server: args.server.clone(),
        node: args.node.clone(),
        server_dir: args.server_dir.clone(),
        exe_path: args.exe_path.clone(),
        log_path: args.log_path.clone(),
    };
    let (mut lowered, lowered_source) = match &args.node_inputs {
        None => (
            plan_generated_config(&parse.config, &overrides, &options),
            id,
        ),
        Some(path) if parse.upstream_error.is_none() => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let inputs =
                NodeInputs::from_json(&bytes).with_context(|| format!("in {}", path.display()))?;
            let rendered = render(&parse.config, &inputs)
                .with_context(|| format!("cannot render {}", args.config.display()))?;
            let rendered_id = report.sources.add(
                format!(
                    "{} (rendered)",
                    super::input::display_name(&args.config, args.stdin_filename.as_deref())
                ),
                rendered.text.clone(),
            );
            (plan_rendered(&rendered, &overrides, &options), rendered_id)
        }
        // Upstream refuses the profile: its errors are the findings; nothing is rendered.
        Some(_) => (
            Lowered {
                plan: None,
                diagnostics: Vec::new(),
                context: lowering::policy::Context::default(),
            },
            id,
        ),
    };
    for d in &mut lowered.diagnostics {
        d.relocate(lowered_source);
    }
    let mut diagnostics = parse.diagnostics;
    for d in &mut diagnostics {
        d.relocate(id);
    }
    diagnostics.append(&mut lowered.diagnostics);
    diagnostics.sort_by_key(parser::Diagnostic::sort_key);
    report.diagnostics = diagnostics;
    Ok(Planned {
        report,
        lowered,
        plan_source: lowered_source,
    })
}

/// The host as the policy sees it at plan time: paths resolved, and the engine socket of
/// `DOCKER_HOST` protected besides the well-known ones.
fn host_view() -> lowering::policy::HostView {
    let docker_host = std::env::var("DOCKER_HOST").unwrap_or_default();
    runtime::policy::host_view(&[docker_host.as_str()])
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let planned = plan(args)?;
    let failed = planned.report.fails(Severity::Error);
    let usable = planned.lowered.plan.as_ref().filter(|_| !failed);
    let stdout = std::io::stdout();
    let out = match args.format {
        PlanFormat::Json => json_document(&planned, usable),
        PlanFormat::DockerRun => {
            if !planned.report.diagnostics.is_empty() {
                eprint!("{}", render::concise::render(&planned.report));
            }
            usable.map_or_else(String::new, |plan| {
                format!(
                    "{}\n",
                    lowering::docker::shell_line(&lowering::docker::docker_run(plan))
                )
            })
        }
        PlanFormat::Human => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            let mut text = render::human::render(&planned.report, color, 100);
            match usable {
                Some(plan) => {
                    text.push_str(&summary(plan, &planned.report.sources, planned.plan_source))
                }
                None => text.push_str("no container planned: fix the errors above\n"),
            }
            text
        }
    };
    stdout.lock().write_all(out.as_bytes())?;
    if args.format == PlanFormat::Human {
        eprintln!("{}", planned.report.summary());
    }
    Ok(if failed {
        Status::Findings
    } else {
        Status::Success
    })
}

/// `{"name", "create_body", "docker_run", "diagnostics"}`; the body and argv are `null` when
/// an error prevents the plan. Diagnostics have the shape of `lint --format json`.
pub(crate) fn json_document(planned: &Planned, usable: Option<&ContainerPlan>) -> String {
    let diagnostics = serde_json::from_str::<Value>(&render::json::render(&planned.report))
        .ok()
        .and_then(|mut doc| doc.get_mut("diagnostics").map(Value::take))
        .unwrap_or_else(|| json!([]));
    let document = json!({
        "name": planned.lowered.plan.as_ref().map(|p| p.name.clone()),
        "create_body": usable.map(|plan| {
            lowering::docker::create_body_json(&lowering::docker::create_body(plan))
        }),
        "docker_run": usable.map(lowering::docker::docker_run),
        "diagnostics": diagnostics,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

/// A short description of the container for people.
fn summary(plan: &ContainerPlan, sources: &Sources, source: SourceId) -> String {
    let at = |line: &TemplateLine| -> String {
        sources.get(source).map_or_else(String::new, |file| {
            format!("{}:{}", file.name, file.line_col(line.line.start).line)
        })
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "container {} (image {}, target {})",
        plan.name, plan.image, plan.target
    );
    let _ = writeln!(out, "  entrypoint  {}", plan.entrypoint.join(" "));
    let _ = writeln!(out, "  workdir     {}", plan.working_dir);
    let _ = writeln!(
        out,
        "  network     {}, ipc {}",
        plan.network.mode(),
        match plan.ipc_mode {
            lowering::ir::IpcMode::Host => "host",
            lowering::ir::IpcMode::Default => "default",
        }
    );
    let _ = writeln!(out, "  privileged  {}", plan.privileged);
    let _ = writeln!(out, "  stop        {} s", plan.stop_timeout);
    let _ = writeln!(out, "  mounts");
    for mount in &plan.mounts {
        let from = match &mount.origin {
            MountOrigin::Default { mount } => format!("tarsnode: {}", mount.describe()),
            MountOrigin::Template(line) => format!("volumes line {}", at(line)),
        };
        let ro = if mount.read_only { " (read-only)" } else { "" };
        let _ = writeln!(
            out,
            "    {} -> {}{ro}  [{from}]",
            mount.source, mount.target
        );
    }
    let ports = plan.network.ports();
    if !ports.is_empty() {
        let _ = writeln!(out, "  ports");
        for port in ports {
            let from = match &port.origin {
                PortOrigin::Adapter { name, .. } => format!("adapter {name}"),
                PortOrigin::LocalAdmin { .. } => "local admin endpoint".to_owned(),
                PortOrigin::Template(line) => format!("ports line {}", at(line)),
            };
            let host = if port.host_ip.contains(':') {
                format!("[{}]", port.host_ip)
            } else {
                port.host_ip.clone()
            };
            let _ = writeln!(
                out,
                "    {host}:{} -> {}  [{from}]",
                port.host_port,
                port.key()
            );
        }
    }
    for rewrite in &plan.endpoint_rewrites {
        let _ = writeln!(out, "  config      {} = {}", rewrite.path, rewrite.to);
    }
    let _ = writeln!(out, "  labels");
    for (key, value) in plan.labels.to_map() {
        let _ = writeln!(out, "    {key}={value}");
    }
    let _ = writeln!(
        out,
        "{}",
        lowering::docker::shell_line(&lowering::docker::docker_run(plan))
    );
    out
}
