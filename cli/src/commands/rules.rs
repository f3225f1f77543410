//! `tarsdock rules`: every diagnostic code with its name, default severity and summary.

use std::io::Write as _;

use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Print JSON (`[{"code", "name", "severity", "summary"}]`) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    code: &'static str,
    name: &'static str,
    severity: &'static str,
    summary: &'static str,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let rows: Vec<Row> = super::catalogue::all()
        .into_iter()
        .map(|c| Row {
            code: c.code.as_str(),
            name: c.name,
            severity: c.severity.as_str(),
            summary: c.summary,
        })
        .collect();
    let mut out = String::new();
    if args.json {
        out = serde_json::to_string_pretty(&rows)?;
        out.push('\n');
    } else {
        let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in &rows {
            out.push_str(&format!(
                "{:<10} {:<width$} {:<8} {}\n",
                r.code, r.name, r.severity, r.summary
            ));
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(Status::Success)
}
