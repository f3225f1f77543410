//! What `tarsdock serve` (the `front` crate) needs from the engine besides the lifecycle calls
//! of [`Runtime`]: a command run in a service container with its exit code and output (the
//! stop script tarsnode asks for with `exec`, which upstream never starts), and the grace
//! period a container was planned with (`Config.StopTimeout`, what tarsdock set from the
//! service's `deactivating-timeout`).
//!
//! Both go through [`Runtime::docker`] and map engine failures the way the rest of the
//! runtime does.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt as _;
use serde::Serialize;

use crate::engine::{Failure, classify};
use crate::error::{Error, Operation, Result};
use crate::image::engine_error;
use crate::runtime::Runtime;

/// How much of a command's output is kept.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// A command to run in a running container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecCommand {
    /// The argv; the first element is the program.
    pub argv: Vec<String>,
    /// `NAME=value` entries added to the container's environment.
    pub env: Vec<String>,
    /// The working directory inside the container (`/` when `None`).
    pub working_dir: Option<String>,
}

/// What happened to a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecReport {
    /// The engine's exec id.
    pub exec_id: String,
    /// The exit code, when the command finished.
    pub exit_code: Option<i64>,
    /// Whether it was still running at the deadline (it is left running then).
    pub timed_out: bool,
    /// Its output (stdout and stderr interleaved), cut at [`OUTPUT_LIMIT`] bytes.
    pub output: Vec<u8>,
    /// Whether the output was cut.
    pub truncated: bool,
}

/// Runs `command` in `container` and waits for it (at most `timeout`): the exec is created,
/// started attached, its output drained, and then inspected for the exit code.
///
/// # Errors
/// The engine's refusal to create the exec ([`Error::EngineRefused`], e.g. 409 when the
/// container is not running, 404 when it is absent), transport errors and timeouts while
/// creating or starting it. Once it runs, a timeout is reported in the [`ExecReport`].
pub async fn run_command(
    runtime: &Runtime,
    container: &str,
    command: &ExecCommand,
    timeout: Duration,
) -> Result<ExecReport> {
    let docker = runtime.docker();
    let fail = |error: &bollard::errors::Error| match classify(error) {
        Failure::Server { status, message } => Error::EngineRefused {
            operation: Operation::Exec,
            name: container.to_owned(),
            status: Some(status),
            message,
            origin: None,
        },
        failure => engine_error(
            failure,
            Operation::Exec,
            container,
            runtime.address(),
            docker,
        ),
    };
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(command.argv.clone()),
                env: (!command.env.is_empty()).then(|| command.env.clone()),
                working_dir: Some(
                    command
                        .working_dir
                        .clone()
                        .unwrap_or_else(|| "/".to_owned()),
                ),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(&e))?;
    let exec_id = created.id;
    let mut report = ExecReport {
        exec_id: exec_id.clone(),
        exit_code: None,
        timed_out: false,
        output: Vec::new(),
        truncated: false,
    };
    let run = async {
        match docker
            .start_exec(&exec_id, Some(StartExecOptions::default()))
            .await?
        {
            StartExecResults::Attached { mut output, .. } => {
                while let Some(chunk) = output.next().await {
                    let bytes = chunk?.into_bytes();
                    let room = OUTPUT_LIMIT.saturating_sub(report.output.len());
                    if bytes.len() > room {
                        report.truncated = true;
                    }
                    report
                        .output
                        .extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                Ok(())
            }
            StartExecResults::Detached => Ok(()),
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(fail(&e)),
        Err(_) => report.timed_out = true,
    }
    let inspect = docker.inspect_exec(&exec_id).await.map_err(|e| fail(&e))?;
    if inspect.running == Some(true) {
        report.timed_out = true;
    } else {
        report.exit_code = inspect.exit_code;
    }
    Ok(report)
}

/// The grace period the container *named* `name` was created with (`Config.StopTimeout`),
/// `None` when it has none or there is no such container.
///
/// # Errors
/// Transport, timeout and engine errors other than "no such container".
pub async fn planned_grace(runtime: &Runtime, name: &str) -> Result<Option<Duration>> {
    match runtime.docker().inspect_container(name, None).await {
        Ok(inspect) => {
            let named = inspect.name.as_deref().map(|n| n.trim_start_matches('/')) == Some(name);
            Ok(inspect
                .config
                .and_then(|c| c.stop_timeout)
                .filter(|_| named)
                .and_then(|secs| u64::try_from(secs).ok())
                .map(Duration::from_secs))
        }
        Err(e) => match classify(&e) {
            Failure::Server { status: 404, .. } => Ok(None),
            failure => Err(engine_error(
                failure,
                Operation::Inspect,
                name,
                runtime.address(),
                runtime.docker(),
            )),
        },
    }
}
