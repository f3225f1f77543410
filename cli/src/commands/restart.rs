//! `tarsdock restart NAME`: stop an existing container as `stop` does (`AdminF::shutdown`
//! first, then the engine's stop with the grace period) and start it again.

use runtime::RestartReport;

use super::engine_args::{EngineArgs, seconds};
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// Seconds between SIGTERM and SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
    /// Act on a container tarsdock did not create.
    #[arg(long)]
    adopt: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let name = args.name.clone();
    let timeout = seconds(args.timeout);
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
