//! `tarsdock lint FILE...`: every finding of every file in one pass.
//!
//! Each file is linted with the settings of the nearest `tarsdock.toml` (see [`crate::config`])
//! merged with the flags; suppression comments are applied by `lowering`. A file listed in the
//! chain's index (`--index`, `--parent`, else the config's `[lint] index`) also gets the
//! findings of resolving its chain. The chosen format goes
//! to stdout and nothing else does; the one-line summary goes to stderr.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use parser::Severity;

use super::chain::LoadedSet;

use crate::config::{Overrides, Resolver};
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
    /// Lowest severity that makes the exit code 1 [default: `fail-level` of tarsdock.toml, else
    /// error].
    #[arg(long, value_parser = parse_severity)]
    pub(crate) fail_level: Option<Severity>,
    /// Name shown for standard input (`-`) in findings; tarsdock.toml is looked up from its
    /// directory.
    #[arg(long)]
    pub(crate) stdin_filename: Option<String>,
    /// Report only these codes, code prefixes or rule names (replaces `select` of
    /// tarsdock.toml). Comma-separated or repeated; `ALL` selects everything.
    #[arg(long, value_delimiter = ',')]
    pub(crate) select: Option<Vec<String>>,
    /// Report these codes, prefixes or rule names in addition (e.g. `TARS-G`).
    #[arg(long, value_delimiter = ',')]
    pub(crate) extend_select: Vec<String>,
    /// Do not report these codes, prefixes or rule names.
    #[arg(long, value_delimiter = ',')]
    pub(crate) ignore: Vec<String>,
    /// Use this config file for every template instead of looking up tarsdock.toml.
    #[arg(long, conflicts_with = "no_config")]
    pub(crate) config: Option<PathBuf>,
    /// Read no config file.
    #[arg(long)]
    pub(crate) no_config: bool,
    /// Lint templates in the context of their chain: a TOML index of the template set (see
    /// `tarsdock resolve`). Files listed in it also get chain findings [default: `index` of
    /// tarsdock.toml].
    #[arg(long, value_name = "TOML", conflicts_with = "parents")]
    pub(crate) index: Option<PathBuf>,
    /// Lint a single template in the context of these parents, nearest first.
    #[arg(long = "parent", value_name = "FILE")]
    pub(crate) parents: Vec<PathBuf>,
}

pub(crate) fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::from_name(s).ok_or_else(|| format!("expected info, warning or error, not `{s}`"))
}

/// The findings of one run, and whether any file has a finding at or above its fail level.
pub(crate) struct Outcome {
    pub(crate) report: Report,
    pub(crate) fails: bool,
}

/// Lints every file into one report. An unreadable file or a bad config is an error (exit 2).
pub(crate) fn collect(args: &Args) -> anyhow::Result<Outcome> {
    let mut resolver = Resolver::new(Overrides {
        select: args.select.clone(),
        extend_select: args.extend_select.clone(),
        ignore: args.ignore.clone(),
        fail_level: args.fail_level,
        config: args.config.clone(),
        no_config: args.no_config,
    });
    let mut report = Report::new();
    let mut fails = false;
    if !args.parents.is_empty() && args.files.len() != 1 {
        anyhow::bail!("--parent describes the chain of one template: give exactly one file");
    }
    let flagged = match (&args.index, args.parents.is_empty()) {
        (Some(index), _) => Some(super::chain::load_index(index, &mut report.sources)?),
        (None, false) => {
            let (loaded, _) =
                super::chain::load_chain(&args.files[0], &args.parents, &mut report.sources)?;
            Some(loaded)
        }
        (None, true) => None,
    };
    // Indexes named by `[lint] index` (used when no flag gives a chain), each read once.
    let mut configured: HashMap<PathBuf, LoadedSet> = HashMap::new();
    for path in &args.files {
        let stdin = path.as_os_str() == "-";
        let lookup_path = if stdin {
            args.stdin_filename.as_deref().map(Path::new)
        } else {
            Some(path.as_path())
        };
        let settings = resolver.settings_for(lookup_path)?;
        let chain = match (&flagged, &settings.index) {
            (Some(loaded), _) => Some(loaded),
            (None, Some(index)) => {
                if !configured.contains_key(index) {
                    let loaded = super::chain::load_index(index, &mut report.sources)
                        .with_context(|| match &settings.source {
                            Some(config) => format!("[lint] index of {}", config.display()),
                            None => "[lint] index".to_owned(),
                        })?;
                    configured.insert(index.clone(), loaded);
                }
                configured.get(index)
            }
            (None, None) => None,
        };
        // A file of the chain was read with it: lint that copy, then add the chain findings.
        let member = chain.and_then(|c| {
            let name = c.name_of(path)?;
            c.set.get(name).map(|t| (c, t))
        });
        let (id, owned);
        let parse = match member {
            Some((_, template)) => {
                id = template.source;
                &template.parse
            }
            None => {
                let text = super::input::read(path)?;
                let name = super::input::display_name(path, args.stdin_filename.as_deref());
                id = report.sources.add(name, text.clone());
                owned = parser::parse(text);
                &owned
            }
        };
        for mut d in lowering::lint::check_template(parse, &settings.options) {
            fails |= d.severity >= settings.fail_level;
            d.relocate(id);
            report.diagnostics.push(d);
        }
        report.omitted_by_parse(id, parse.omitted);
        if let Some((loaded, template)) = member {
            let resolution = lowering::resolve::resolve(&loaded.set, &template.name, None);
            for d in lowering::lint::check_chain(&resolution, &settings.options) {
                fails |= d.severity >= settings.fail_level;
                report.diagnostics.push(d);
            }
        }
    }
    Ok(Outcome { report, fails })
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let Outcome { mut report, fails } = collect(args)?;
    report.cap();
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
        Format::Sarif => render::sarif::render(&report),
        Format::Github => render::github::render(&report),
        Format::Checkstyle => render::checkstyle::render(&report)?,
    };
    stdout.lock().write_all(out.as_bytes())?;
    eprintln!("{}", report.summary());
    Ok(if fails {
        Status::Findings
    } else {
        Status::Success
    })
}
