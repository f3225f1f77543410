//! `tarsdock lint FILE...`: every finding of every file in one pass.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use parser::Severity;

use crate::exit::Status;
use crate::render::{self, Color, Format, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Template files to check (`-` reads standard input).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) format: Format,
    /// Colour for human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: Color,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, default_value = "error", value_parser = parse_severity)]
    pub(crate) fail_level: Severity,
    /// Name shown for standard input (`-`) in findings.
    #[arg(long)]
    pub(crate) stdin_filename: Option<String>,
}

pub(crate) fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::from_name(s).ok_or_else(|| format!("expected info, warning or error, not `{s}`"))
}

/// Lints every file into one report. An unreadable file is an error (exit 2).
pub(crate) fn collect(args: &Args) -> anyhow::Result<Report> {
    let mut report = Report::new();
    let options = lowering::lint::LintOptions::default();
    for path in &args.files {
        let text = super::input::read(path)?;
        let name = super::input::display_name(path, args.stdin_filename.as_deref());
        let id = report.sources.add(name, text.clone());
        let parse = parser::parse(text);
        for mut d in lowering::lint::check_template(&parse, &options) {
            d.relocate(id);
            report.diagnostics.push(d);
        }
    }
    Ok(report)
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let report = collect(args)?;
    let stdout = std::io::stdout();
    let out = match args.format {
        Format::Human => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            };
            render::human::render(&report, color, 100)
        }
        Format::Concise => render::human::render_concise(&report),
        Format::Json => render::json::render(&report),
    };
    stdout.lock().write_all(out.as_bytes())?;
    if args.format != Format::Json {
        eprintln!("{}", report.summary());
    }
    Ok(if report.fails(args.fail_level) {
        Status::Findings
    } else {
        Status::Success
    })
}
