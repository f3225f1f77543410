//! `tarsdock stop NAME`: run the stop script inside the container (the exec is started and
//! waited for, unlike upstream), then stop with the grace period. The stopped container is
//! kept, so an unchanged relaunch only starts it; `--rm` removes it.

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
    let what = match report.action {
        StopAction::Absent => format!("{}: no such container", report.name),
        StopAction::AlreadyStopped => format!("{}: already stopped", report.name),
        StopAction::Stopped => format!(
            "{}: stopped{}",
            report.name,
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
