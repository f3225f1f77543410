//! `tarsdock stop NAME`: the stop sequence — unpause a paused container, run the stop script
//! inside it (exec started and waited for, unlike upstream; at most one copy per container),
//! then stop it as tarsnode stops a Tars server: `AdminF::shutdown` on its admin endpoint and a
//! wait of up to its `deactivating-timeout` for it to exit by itself; only then the engine's
//! stop with the grace period (`--timeout`, else the container's own `StopTimeout`, i.e. the
//! plan's `deactivating-timeout`), then SIGKILL if it is still running. The report says which
//! step ended it (`ended_by`: `admin-shutdown`, `sigterm` or `sigkill`). The stopped container
//! is kept, so an unchanged relaunch only starts it; `--rm` removes it. An absent container is
//! not an error (the service is not running: exit 0).

use runtime::{EndedBy, StopAction, StopOptions, StopReport};

use super::engine_args::{EngineArgs, seconds};
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// Seconds between SIGTERM and SIGKILL [default: the container's own StopTimeout, the
    /// plan's deactivating-timeout; else 10].
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
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
        timeout: args.timeout.map(seconds),
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
        let joined = if script.joined {
            " (a copy started by an earlier stop was still running; waited for it)"
        } else {
            ""
        };
        out.push_str(&format!(
            "stop script {}: {outcome}{joined}\n",
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
        StopAction::Stopped => {
            let mut text = format!("{}: stopped", report.name);
            if report.steps.contains(&runtime::StopStep::Unpause) {
                text.push_str(" (was paused: unpaused first)");
            }
            if let Some(ended_by) = report.ended_by {
                text.push_str(match ended_by {
                    EndedBy::AdminShutdown => ", it exited by itself after AdminF::shutdown",
                    EndedBy::Sigterm => ", it exited on SIGTERM",
                    EndedBy::Sigkill => ", killed (SIGKILL)",
                });
            }
            if let (Some(grace), Some(EndedBy::Sigterm | EndedBy::Sigkill)) =
                (report.grace_period_s, report.ended_by)
            {
                text.push_str(&format!(" within a grace period of {grace}s"));
            }
            if let Some(code) = report.exit_code {
                text.push_str(&format!(" (exit code {code})"));
            }
            text
        }
    };
    out.push_str(&what);
    if report.removed {
        out.push_str(", removed");
    }
    out.push('\n');
    out
}
