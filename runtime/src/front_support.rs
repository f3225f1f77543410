//! What `tarsdock serve` (the `front` crate) needs from the engine besides the lifecycle calls
//! of [`Runtime`]: a command run in a service container with its exit code and output — the
//! stop script tarsnode asks for with `exec`, which upstream never starts. It goes through the
//! runtime's bounded engine calls and maps failures the way the rest of the runtime does.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt as _;
use serde::Serialize;

use crate::engine::{Failure, classify};
use crate::error::{Error, Operation, Result};
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
/// started attached, its output drained, and then inspected for the exit code. Each engine
/// call is bounded by the engine timeout, the whole run by `timeout`.
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
    let engine = runtime.engine();
    let fail = |failure: Failure| -> Error {
        match failure {
            Failure::Server { status, message } => Error::EngineRefused {
                operation: Operation::Exec,
                name: container.to_owned(),
                status: Some(status),
                message,
                origin: None,
            },
            other => engine.error(other, Operation::Exec, container),
        }
    };
    let create = CreateExecOptions {
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
    };
    let exec_id = engine
        .call(engine.limit(), |d| async move {
            d.create_exec(container, create).await
        })
        .await
        .map_err(fail)?
        .id;
    let mut report = ExecReport {
        exec_id: exec_id.clone(),
        exit_code: None,
        timed_out: false,
        output: Vec::new(),
        truncated: false,
    };
    let run = async {
        let started = engine
            .call(engine.limit(), |d| {
                let exec = exec_id.clone();
                async move { d.start_exec(&exec, Some(StartExecOptions::default())).await }
            })
            .await?;
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                let bytes = chunk
                    .map_err(|e| classify(&e, engine.limit()))?
                    .into_bytes();
                let room = OUTPUT_LIMIT.saturating_sub(report.output.len());
                if bytes.len() > room {
                    report.truncated = true;
                }
                report
                    .output
                    .extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
        }
        Ok::<(), Failure>(())
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => return Err(fail(failure)),
        Err(_) => report.timed_out = true,
    }
    let inspect = engine
        .call(engine.limit(), |d| {
            let exec = exec_id.clone();
            async move { d.inspect_exec(&exec).await }
        })
        .await
        .map_err(fail)?;
    if inspect.running == Some(true) {
        report.timed_out = true;
    } else {
        report.exit_code = inspect.exit_code;
    }
    Ok(report)
}
