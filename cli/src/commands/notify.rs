//! `tarsdock notify NAME COMMAND`: send an admin command to a running service —
//! `AdminF::notify(COMMAND)` on its admin endpoint, over the Tars protocol — and print the
//! server's answer: what TarsWeb's "send command" does through tarsnode. TarsCpp servers know
//! `tars.viewstatus`, `tars.setloglevel LEVEL`, `tars.connection`, `tars.loadconfig FILE`,
//! `tars.help` and whatever commands the service registers itself.
//!
//! The answer is the server's text: it is printed with control characters escaped (a server
//! is not trusted to drive the terminal), and raw in `--json`.

use std::time::Duration;

use runtime::NotifyReport;

use super::engine_args::EngineArgs;
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// The command, e.g. `tars.viewstatus` or `tars.setloglevel DEBUG`; further words are
    /// joined to it with spaces.
    #[arg(required = true, num_args = 1.., value_name = "COMMAND")]
    command: Vec<String>,
    /// Seconds to wait for the server's answer.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    timeout: u64,
    #[command(flatten)]
    engine: EngineArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let name = args.name.clone();
    let command = args.command.join(" ");
    let timeout = Duration::from_secs(args.timeout.max(1));
    args.engine.run(
        |rt| async move { rt.notify(&name, &command, timeout).await },
        human,
    )
}

fn human(report: &NotifyReport) -> String {
    let mut out = parser::terminal::escape_controls(&report.answer).into_owned();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}
