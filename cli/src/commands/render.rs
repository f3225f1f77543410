//! `tarsdock render PROFILE --node-inputs INPUTS.json`: the per-service config file tarsnode
//! would write (`App.Server.config.conf`) from the registry-merged profile.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use lowering::render::{NodeInputs, render};

use crate::exit::Status;
use crate::render::{self as output, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The registry-merged profile (what `tarsdock resolve --profile` prints).
    pub(crate) profile: PathBuf,
    /// Node facts as JSON: node key, adapters, local endpoint, macro values (see README).
    #[arg(long, value_name = "JSON")]
    pub(crate) node_inputs: PathBuf,
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
    let rendered = render(&parse.config, &inputs)
        .with_context(|| format!("cannot render {}", args.profile.display()))?;
    std::io::stdout().lock().write_all(&rendered.text)?;
    Ok(Status::Success)
}
