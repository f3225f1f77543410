//! `tarsdock status NAME`: the container's state as tarsnode needs it (running, exited,
//! absent, replacing, …; host pid, start time, exit code, OOM kill, plan hash, and what
//! another tarsdock command is doing to it). An absent container is an answer, not an
//! error: the exit code is 0 whatever the state. While a launch replaces the container the
//! state is `replacing` (read from the service lock, so `status` needs the same lock
//! directory as the launch; it never waits for the lock).

use runtime::ContainerStatus;

use super::engine_args::EngineArgs;
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// Also ask the server itself: `tars.viewstatus` on its admin endpoint (`unresponsive`
    /// when the container runs but the server does not answer).
    #[arg(long)]
    probe: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let name = args.name.clone();
    let probe = args.probe;
    args.engine.run(
        |rt| async move {
            if probe {
                rt.status_probe(&name, std::time::Duration::from_secs(5))
                    .await
            } else {
                rt.status(&name).await
            }
        },
        human,
    )
}

fn human(status: &ContainerStatus) -> String {
    let mut out = format!("{}: {}\n", status.name, status.state);
    let mut field = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push_str(&format!("  {key:<12} {value}\n"));
        }
    };
    field("id", status.id.clone());
    field("pid", status.pid.map(|p| p.to_string()));
    field("started at", status.started_at.clone());
    field("finished at", status.finished_at.clone());
    field(
        "exit code",
        status
            .exit_code
            .filter(|_| status.state != "running")
            .map(|c| c.to_string()),
    );
    field(
        "oom killed",
        status.oom_killed.filter(|&k| k).map(|k| k.to_string()),
    );
    field("error", status.error.clone());
    field("activity", status.activity.clone());
    if status.id.is_some() {
        field(
            "managed",
            Some(
                if status.managed {
                    "yes"
                } else {
                    "no (not created by tarsdock)"
                }
                .to_owned(),
            ),
        );
    }
    field("plan hash", status.plan_hash.clone());
    field("image", status.image.clone());
    field("node", status.node.clone());
    field(
        "restarts",
        status
            .restart_count
            .filter(|&n| n > 0)
            .map(|n| n.to_string()),
    );
    if let Some(probe) = &status.probe {
        let escape = |t: &str| parser::terminal::escape_controls(t).into_owned();
        field(
            "server",
            Some(match (&probe.endpoint, &probe.error) {
                (Some(at), None) => format!("{} (AdminObj at {at})", probe.state),
                (Some(at), Some(e)) => format!("{} (AdminObj at {at}): {}", probe.state, escape(e)),
                (None, Some(e)) => format!("{}: {}", probe.state, escape(e)),
                (None, None) => probe.state.clone(),
            }),
        );
        if let Some(answer) = &probe.answer {
            for line in escape(answer).lines() {
                out.push_str(&format!("  | {line}\n"));
            }
        }
    }
    out
}
