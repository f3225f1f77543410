//! `tarsdock rm NAME`: stop (the stop sequence, with the grace period) and remove a container
//! tarsdock created. An absent container is not an error (exit 0).

use runtime::RemoveReport;

use super::engine_args::{EngineArgs, seconds};
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// Seconds between SIGTERM and SIGKILL when it is still running [default: the
    /// container's own StopTimeout; else 10].
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Act on a container tarsdock did not create.
    #[arg(long)]
    adopt: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let name = args.name.clone();
    let timeout = args.timeout.map(seconds);
    let adopt = args.adopt;
    args.engine.run(
        |rt| async move { rt.remove(&name, timeout, adopt).await },
        human,
    )
}

fn human(report: &RemoveReport) -> String {
    if report.removed {
        format!(
            "{}: {}removed\n",
            report.name,
            match (report.stopped, report.ended_by) {
                (true, Some(by)) => format!("stopped by {} and ", by.as_str()),
                (true, None) => "stopped and ".to_owned(),
                (false, _) => String::new(),
            }
        )
    } else {
        format!("{}: no such container\n", report.name)
    }
}
