//! `tarsdock stop NAME`: run the stop script inside the container (the exec is started and
//! waited for, unlike upstream), then stop as tarsnode stops a Tars server — `AdminF::shutdown`
//! on its admin endpoint and a wait of up to its `deactivating-timeout` — and only then with
//! the engine's stop and the grace period. The report says which step ended it
//! (`ended_by`: `admin-shutdown`, `sigterm` or `sigkill`). The stopped container is kept, so an
//! unchanged relaunch only starts it; `--rm` removes it.

use runtime::{StopAction, StopOptions, StopReport};

use super::engine_args::{EngineArgs, seconds};
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// Seconds between SIGTERM and SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
    /// A stop script to run inside the container first (a path inside the container).
    #[arg(long, value_name = "PATH")]
    script: Option<String>,
    /// Seconds the stop script may run.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    script_timeout: u64,
    /// Remove the container after stopping it.
    #[arg(long)]
    rm: bool,
    /// Act on a container tarsdock did not create.
    #[arg(long)]
    adopt: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let options = StopOptions {
        timeout: seconds(args.timeout),
        script: args.script.clone(),
        script_timeout: seconds(args.script_timeout),
        remove: args.rm,
        adopt: args.adopt,
    };
    let name = args.name.clone();
    args.engine
        .run(|rt| async move { rt.stop(&name, &options).await }, human)
}

fn human(report: &StopReport) -> String {
    let mut out = String::new();
    if let Some(script) = &report.script {
        let outcome = match (script.exit_code, script.timed_out, &script.error) {
            (_, _, Some(error)) => format!("could not run: {error}"),
            (_, true, None) => "timed out".to_owned(),
            (Some(code), false, None) => format!("exited with {code}"),
            (None, false, None) => "finished".to_owned(),
        };
        out.push_str(&format!(
            "stop script {}: {outcome}\n",
            script.command.join(" ")
        ));
        for line in script.output.lines() {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    if let Some(admin) = &report.admin {
        let outcome = match (&admin.error, admin.exited) {
            (Some(error), _) => format!(
                "not delivered: {}",
                parser::terminal::escape_controls(error)
            ),
            (None, true) => format!("{}, exited after {} ms", admin.shutdown, admin.waited_ms),
            (None, false) => format!(
                "{}, still running after {} ms",
                admin.shutdown, admin.waited_ms
            ),
        };
        out.push_str(&format!(
            "AdminF::shutdown to {}: {outcome}\n",
            admin.endpoint
        ));
    }
    let what = match report.action {
        StopAction::Absent => format!("{}: no such container", report.name),
        StopAction::AlreadyStopped => format!("{}: already stopped", report.name),
        StopAction::Stopped => format!(
            "{}: stopped{}{}",
            report.name,
            report
                .ended_by
                .map(|e| format!(" by {}", e.as_str()))
                .unwrap_or_default(),
            report
                .exit_code
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default()
        ),
    };
    out.push_str(&what);
    if report.removed {
        out.push_str(", removed");
    }
    out.push('\n');
    out
}
