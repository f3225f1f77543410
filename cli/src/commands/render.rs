//! `tarsdock render PROFILE --node-inputs INPUTS.json`: the per-service config file tarsnode
//! would write (`App.Server.config.conf`) from the registry-merged profile.
//!
//! In container mode, `--endpoints` decides where the service listens: `host-network` (the
//! default; Linux) keeps each adapter's configured host and puts `local` on loopback,
//! `bridge` (Docker Desktop) listens on `0.0.0.0` inside the container, and `tarsnode` is
//! tarsnode's output byte for byte (every adapter on `0.0.0.0`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use lowering::render::{EndpointPolicy, NodeInputs, render_for};

use crate::exit::Status;
use crate::render::{self as output, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The registry-merged profile (what `tarsdock resolve --profile` prints).
    pub(crate) profile: PathBuf,
    /// Node facts as JSON: node key, adapters, local endpoint, macro values (see README).
    #[arg(long, value_name = "JSON")]
    pub(crate) node_inputs: PathBuf,
    /// Container-mode endpoint hosts: `host-network` keeps the configured hosts (`local` on
    /// loopback), `bridge` listens on 0.0.0.0 in the container, `tarsnode` is upstream's exact
    /// output (every adapter on 0.0.0.0).
    #[arg(long, value_enum, default_value_t = Endpoints::HostNetwork)]
    pub(crate) endpoints: Endpoints,
}

/// `--endpoints`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Endpoints {
    HostNetwork,
    Bridge,
    Tarsnode,
}

impl From<Endpoints> for EndpointPolicy {
    fn from(value: Endpoints) -> Self {
        match value {
            Endpoints::HostNetwork => Self::HostNetwork,
            Endpoints::Bridge => Self::Bridge,
            Endpoints::Tarsnode => Self::Tarsnode,
        }
    }
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let bytes = super::input::read(&args.profile)?;
    let parse = parser::parse(bytes.clone());
    if let Some(e) = &parse.upstream_error {
        let mut report = Report::new();
        let id = report
            .sources
            .add(args.profile.display().to_string(), bytes);
        report.diagnostics = parse
            .diagnostics
            .iter()
            .filter(|d| d.severity == parser::Severity::Error)
            .cloned()
            .map(|mut d| {
                d.relocate(id);
                d
            })
            .collect();
        eprint!("{}", output::human::render(&report, false, 100));
        eprintln!("error: tarsnode cannot load this profile: {e}");
        return Ok(Status::Findings);
    }
    let inputs_bytes = std::fs::read(&args.node_inputs)
        .with_context(|| format!("cannot read {}", args.node_inputs.display()))?;
    let inputs = NodeInputs::from_json(&inputs_bytes)
        .with_context(|| format!("in {}", args.node_inputs.display()))?;
    let rendered = render_for(&parse.config, &inputs, args.endpoints.into())
        .with_context(|| format!("cannot render {}", args.profile.display()))?;
    std::io::stdout().lock().write_all(&rendered.text)?;
    Ok(Status::Success)
}
