//! `tarsdock image sync MANIFEST` and `tarsdock image login-check MANIFEST`: the base-image
//! manifest (registries and images, like upstream's `t_docker_registry`/`t_base_image`;
//! format in [`runtime::manifest`]) synced through the same ensure step as `launch`, and
//! each registry's credentials tried through the engine.
//!
//! Output: one line per image (or registry) on stdout, progress on stderr; `--json` prints
//! only the report on stdout. Exit codes: 0 when every image is there as expected (every
//! login succeeded or needed none); otherwise the code of the first failure's class in
//! manifest order (4 for a failed pull or a refused login, 2 for an unreadable password);
//! 2 for a bad manifest, 3 when no engine answers.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use runtime::ErrorKind;
use runtime::login::{LoginReport, LoginStatus};
use runtime::manifest::Manifest;
use runtime::sync::{SyncAction, SyncEvent, SyncReport};

use super::engine_args::{ConnectOrRun, EngineArgs, exit_code, note, print_json};
use crate::exit::{Failure, Status};

/// `image sync` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct SyncArgs {
    /// The manifest (TOML): `[[registry]]` id/address/username/password-env|password-file,
    /// `[[image]]` image/registry/id.
    manifest: PathBuf,
    /// How many images are ensured at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    #[command(flatten)]
    engine: EngineArgs,
}

/// `image login-check` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct LoginCheckArgs {
    /// The manifest (TOML); every `[[registry]]` is tried.
    manifest: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs `image sync`.
pub(crate) fn run_sync(args: &SyncArgs) -> anyhow::Result<Status> {
    let manifest = Manifest::load(&args.manifest)?;
    let jobs = usize::from(args.jobs);
    let quiet = args.engine.json;
    let report = with_engine(&args.engine, async |rt| {
        runtime::sync::sync(&rt, &manifest, jobs, &|event| {
            if let SyncEvent::Done(image) = event {
                let what = match image.action {
                    SyncAction::Present => "present",
                    SyncAction::Pulled => "pulled",
                    SyncAction::Failed => "FAILED",
                };
                if !quiet {
                    note(&format!("{}: {what}", image.image));
                }
            }
        })
        .await
    })?;
    if args.engine.json {
        print_json(&report)?;
    } else {
        write_stdout(&sync_text(&report))?;
        note(&format!(
            "{} image(s): {} present, {} pulled, {} failed",
            report.images.len(),
            report.present,
            report.pulled,
            report.failed
        ));
    }
    finish(report.first_failure())
}

/// Runs `image login-check`.
pub(crate) fn run_login_check(args: &LoginCheckArgs) -> anyhow::Result<Status> {
    let manifest = Manifest::load(&args.manifest)?;
    let report = with_engine(&args.engine, async |rt| {
        runtime::login::login_check(&rt, &manifest, 4).await
    })?;
    if args.engine.json {
        print_json(&report)?;
    } else {
        write_stdout(&login_text(&report))?;
    }
    finish(report_failure(&report))
}

fn report_failure(report: &LoginReport) -> Option<ErrorKind> {
    (report.failed > 0).then_some(ErrorKind::ImageUnavailable)
}

/// Connects and runs `work`; a connection failure is reported like every engine command's.
fn with_engine<T>(
    engine: &EngineArgs,
    work: impl AsyncFnOnce(runtime::Runtime) -> T,
) -> anyhow::Result<T> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    tokio.block_on(async {
        match engine.connect().await {
            Ok(rt) => Ok(work(rt).await),
            Err(ConnectOrRun::Runtime(error)) => Err(engine.fail(&error)),
            Err(ConnectOrRun::Setup(error)) => Err(error),
        }
    })
}

/// Success, or the first failure's exit code (the report is already printed).
fn finish(failure: Option<ErrorKind>) -> anyhow::Result<Status> {
    match failure {
        None => Ok(Status::Success),
        Some(kind) => Err(Failure {
            code: exit_code(kind),
            message: format!(
                "not every entry succeeded (first failure: {})",
                kind.as_str()
            ),
        }
        .into()),
    }
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")
}

fn sync_text(report: &SyncReport) -> String {
    let mut out = String::new();
    for image in &report.images {
        let action = match image.action {
            SyncAction::Present => "present",
            SyncAction::Pulled => "pulled",
            SyncAction::Failed => "failed",
        };
        out.push_str(&format!(
            "{}\t{action}\t{}\t{}\n",
            image.image,
            image.id.as_deref().unwrap_or("-"),
            image.result
        ));
    }
    out
}

fn login_text(report: &LoginReport) -> String {
    let mut out = String::new();
    for r in &report.registries {
        let status = match r.status {
            LoginStatus::Succeeded => "ok",
            LoginStatus::Failed => "failed",
            LoginStatus::Skipped => "skipped",
        };
        out.push_str(&format!("{}\t{status}\t{}\n", r.registry, r.line()));
    }
    out
}
