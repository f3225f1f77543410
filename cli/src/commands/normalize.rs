//! `tarsdock normalize FILE`: upstream `tostr()` of a template on stdout.
//!
//! When upstream refuses the template, tarsdock's findings go to stderr and the last line is
//! upstream's own message, exactly as upstream's `what()` has it (as `tcconf norm` prints it:
//! its bytes as they are, GBK included), with control characters escaped as in every other
//! human-facing message, so that a script can compare the two. Where upstream has no message
//! (it crashes, or a tarsdock bound is reached) the line is tarsdock's, starting `tarsdock:`.

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

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let text = super::input::read(&args.file)?;
    let mut report = Report::new();
    let id = report
        .sources
        .add(super::input::display_name(&args.file, None), text.clone());
    let parse = parser::parse(text);
    // Upstream refuses the text, or cannot serialise it: show why, write nothing.
    let refusal = match &parse.upstream_error {
        Some(e) => Err(e.bytes.clone()),
        None => parse.config.to_text().map_err(|e| e.bytes()),
    };
    match refusal {
        Ok(bytes) => {
            std::io::stdout().lock().write_all(&bytes)?;
            Ok(Status::Success)
        }
        Err(message) => {
            report.diagnostics = parse
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|mut d| {
                    d.relocate(id);
                    d
                })
                .collect();
            report.omitted_by_parse(id, parse.omitted);
            let mut stderr = std::io::stderr().lock();
            stderr.write_all(render::human::render(&report, false, 100).as_bytes())?;
            stderr.write_all(&parser::terminal::escape_controls_bytes(&message))?;
            stderr.write_all(b"\n")?;
            Ok(Status::Findings)
        }
    }
}
