//! `tarsdock fmt FILE...`: re-indents templates in place (atomically), or checks them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::exit::Status;
use crate::render::{self, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Template files (`-` formats standard input to standard output).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Write nothing; exit 1 when a file would change.
    #[arg(long)]
    pub(crate) check: bool,
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    for path in &args.files {
        let text = super::input::read(path)?;
        let parse = parser::parse(text.clone());
        if parse.has_errors() {
            let mut report = Report::new();
            let id = report
                .sources
                .add(super::input::display_name(path, None), text);
            report.diagnostics = parse
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == parser::Severity::Error)
                .map(|mut d| {
                    d.relocate(id);
                    d
                })
                .collect();
            eprint!("{}", render::human::render(&report, false, 100));
            eprintln!("error: not formatting {}: it has errors", path.display());
            status = Status::Findings;
            continue;
        }
        let formatted = parser::fmt::format(&parse);
        if path.as_os_str() == "-" {
            std::io::stdout().lock().write_all(&formatted)?;
            continue;
        }
        if formatted == text {
            continue;
        }
        if args.check {
            eprintln!("would reformat {}", path.display());
            status = Status::Findings;
        } else {
            write_atomically(path, &formatted)?;
            eprintln!("formatted {}", path.display());
        }
    }
    Ok(status)
}

/// Writes through a temporary file in the same directory, then renames it over `path`, so a
/// reader never sees a half-written template. Keeps the file's permissions.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
