//! `tarsdock restart NAME`: the stop sequence (`AdminF::shutdown` first when the service has
//! an admin endpoint, then the engine's stop with the grace period) and a start of an existing
//! container. An absent container is an error (exit 10): there is nothing to start.

use runtime::RestartReport;

use super::engine_args::{EngineArgs, seconds};
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// Seconds between SIGTERM and SIGKILL [default: the container's own StopTimeout;
    /// else 10].
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
        |rt| async move { rt.restart(&name, timeout, adopt).await },
        human,
    )
}

fn human(report: &RestartReport) -> String {
    format!(
        "{}: {} ({}){}{}\n",
        report.name,
        report.state,
        report.id.chars().take(12).collect::<String>(),
        report
            .pid
            .map(|pid| format!(", pid {pid}"))
            .unwrap_or_default(),
        report
            .ended_by
            .map(|by| format!("; the old process ended by {}", by.as_str()))
            .unwrap_or_default()
    )
}
