//! `tarsdock normalize FILE`: upstream `tostr()` of a template on stdout.

use std::io::Write as _;
use std::path::PathBuf;

use parser::Severity;

use crate::exit::Status;
use crate::render::{self, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Template file (`-` reads standard input).
    pub(crate) file: PathBuf,
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let text = super::input::read(&args.file)?;
    let mut report = Report::new();
    let id = report
        .sources
        .add(super::input::display_name(&args.file, None), text.clone());
    let parse = parser::parse(text);
    // Upstream refuses the text, or cannot serialise it: show why, write nothing.
    let refused = parse.upstream_error.is_some();
    let output = if refused {
        None
    } else {
        parse.config.to_text().ok()
    };
    match output {
        Some(bytes) => {
            std::io::stdout().lock().write_all(&bytes)?;
            Ok(Status::Success)
        }
        None => {
            report.diagnostics = parse
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|mut d| {
                    d.relocate(id);
                    d
                })
                .collect();
            eprint!("{}", render::human::render(&report, false, 100));
            eprintln!("error: upstream cannot serialise this template");
            Ok(Status::Findings)
        }
    }
}
