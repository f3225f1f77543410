//! `tarsdock launch --request FILE`: make the service's container match a launch request
//! (JSON of [`runtime::LaunchRequest`]: name, app, server, node, image, optional expected
//! image id, the Engine API create body, the plan hash, and the origin of every mount and
//! port).
//!
//! Idempotent: an unchanged running container is left alone, a stopped one is started, a
//! changed plan or image replaces it. Launches of one service are serialised across
//! processes; a launch killed at any point is repaired by the next one.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use runtime::{LaunchEvent, LaunchOptions, LaunchReport, LaunchRequest, PullPolicy};

use super::engine_args::{EngineArgs, note, seconds};
use super::image::{CredentialArgs, PullView};
use super::input;
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The launch request (JSON), or `-` for standard input. When its `plan_hash` is empty,
    /// the hash of its create body is used.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// Replace a container of the same name that tarsdock did not create.
    #[arg(long)]
    adopt: bool,
    /// Seconds between SIGTERM and SIGKILL when an old container is replaced.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    stop_timeout: u64,
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

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    if args.request.as_os_str() == "-" && args.credentials.reads_stdin() {
        bail!("--request - and --password-stdin both want standard input");
    }
    let text = input::read(&args.request)?;
    let mut request: LaunchRequest = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a launch request",
            input::display_name(&args.request, None)
        )
    })?;
    if request.plan_hash.trim().is_empty() {
        request.plan_hash = runtime::plan_hash(&request.body);
    }
    let options = LaunchOptions {
        adopt: args.adopt,
        stop_timeout: seconds(args.stop_timeout),
        pull: if args.no_pull {
            PullPolicy::Never
        } else {
            PullPolicy::IfNeeded
        },
        auth: args.credentials.resolve()?,
    };
    let verbose = args.verbose;
    args.engine.run(
        |rt| async move {
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
