//! `tarsdock lint PATH...`: every finding of every template in one pass.
//!
//! A path is a template file, `-` (standard input) or a directory, whose `*.conf` files are
//! linted (walked with the `ignore` crate: `.gitignore`, `.ignore` and hidden files are
//! respected, links are not followed). Each file is linted with the settings of the nearest
//! `tarsdock.toml` (see [`crate::config`]) merged with the flags; suppression comments are
//! applied by `lowering`. A file listed in the chain's index (`--index`, `--parent`, else the
//! config's `[lint] index`) also gets the findings of resolving its chain.
//!
//! `--fix` applies the checked, preferred fixes first (the ones the language server offers as
//! preferred; see [`crate::fix`]) and writes each changed file atomically; `--diff` prints them
//! as a unified diff instead. The chosen format goes to stdout (or `--output-file`) and nothing
//! else does; the one-line summary goes to stderr. A path that cannot be read is reported, the
//! others are linted, and the exit code is 2.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use parser::Severity;

use super::chain::LoadedSet;

use crate::config::{Overrides, Resolver, Settings};
use crate::exit::Status;
use crate::render::{self, Color, Format, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Template files or directories to check (a directory: its `*.conf` files, respecting
    /// `.gitignore`); `-` reads standard input.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) format: Format,
    /// Colour for human output [`auto`: when stdout is a terminal and `TERM` is not `dumb`;
    /// `NO_COLOR` turns it off, `CLICOLOR_FORCE` on].
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: Color,
    /// Lowest severity that makes the exit code 1 [default: `fail-level` of tarsdock.toml, else
    /// error].
    #[arg(long, value_parser = parse_severity)]
    pub(crate) fail_level: Option<Severity>,
    /// Exit 0 even when there are findings (an unreadable path or a bad config still exits 2).
    #[arg(long)]
    pub(crate) exit_zero: bool,
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
    /// Apply the safe fixes (those that remove their finding, add none and keep the template
    /// accepted upstream) and write the files; report what remains. With `-`, the fixed text
    /// goes to stdout and the findings to stderr.
    #[arg(long, conflicts_with = "diff")]
    pub(crate) fix: bool,
    /// Print the fixes `--fix` would apply as a unified diff, write nothing; exit 1 when there
    /// is one.
    #[arg(long)]
    pub(crate) diff: bool,
    /// Print how many findings each code has instead of the findings (`--format json`: as
    /// JSON).
    #[arg(long, conflicts_with = "diff")]
    pub(crate) statistics: bool,
    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output_file: Option<PathBuf>,
    /// Print nothing on stderr but errors (no summary line).
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

pub(crate) fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::from_name(s).ok_or_else(|| format!("expected info, warning or error, not `{s}`"))
}

/// The findings of one run, and whether any file has a finding at or above its fail level.
pub(crate) struct Outcome {
    pub(crate) report: Report,
    pub(crate) fails: bool,
    /// How many templates were linted (the report's sources also hold chain files).
    pub(crate) n_files: usize,
}

/// One template to lint.
struct Target {
    /// The path as given or found; `-` for standard input.
    path: PathBuf,
    /// Its text when already read (standard input, a fixed text).
    text: Option<Vec<u8>>,
}

impl Target {
    fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }
}

/// A path that could not be read or walked, and why.
struct Unreadable {
    path: PathBuf,
    reason: String,
}

/// The templates named by `paths`: files as given, directories walked for `*.conf`, each path
/// once. Paths that cannot be walked are returned apart.
fn expand(paths: &[PathBuf]) -> (Vec<Target>, Vec<Unreadable>) {
    let mut seen = HashSet::new();
    let mut targets = Vec::new();
    let mut unreadable = Vec::new();
    let mut push = |path: PathBuf, targets: &mut Vec<Target>| {
        if seen.insert(path.clone()) {
            targets.push(Target { path, text: None });
        }
    };
    for path in paths {
        if path.as_os_str() != "-" && path.is_dir() {
            let mut found = Vec::new();
            let walker = ignore::WalkBuilder::new(path)
                .require_git(false)
                .follow_links(false)
                .build();
            for entry in walker {
                match entry {
                    Ok(entry) => {
                        let is_file = entry.file_type().is_some_and(|t| t.is_file());
                        if is_file && entry.path().extension().is_some_and(|e| e == "conf") {
                            found.push(entry.into_path());
                        }
                    }
                    Err(error) => unreadable.push(Unreadable {
                        path: path.clone(),
                        reason: error.to_string(),
                    }),
                }
            }
            found.sort();
            for file in found {
                push(file, &mut targets);
            }
        } else {
            push(path.clone(), &mut targets);
        }
    }
    (targets, unreadable)
}

/// Lints every target into one report. A bad config or index is an error (exit 2); a file that
/// cannot be read is added to `unreadable` and skipped.
fn collect(
    args: &Args,
    resolver: &mut Resolver,
    targets: &mut [Target],
    unreadable: &mut Vec<Unreadable>,
) -> anyhow::Result<Outcome> {
    let mut report = Report::new();
    let mut fails = false;
    let mut n_files = 0;
    if !args.parents.is_empty() && targets.len() != 1 {
        anyhow::bail!("--parent describes the chain of one template: give exactly one file");
    }
    let flagged = match (&args.index, args.parents.is_empty()) {
        (Some(index), _) => Some(super::chain::load_index(index, &mut report.sources)?),
        (None, false) => {
            let (loaded, _) =
                super::chain::load_chain(&targets[0].path, &args.parents, &mut report.sources)?;
            Some(loaded)
        }
        (None, true) => None,
    };
    // Indexes named by `[lint] index` (used when no flag gives a chain), each read once.
    let mut configured: HashMap<PathBuf, LoadedSet> = HashMap::new();
    for target in targets.iter_mut() {
        let settings = settings_for(args, resolver, target)?;
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
            let name = c.name_of(&target.path)?;
            c.set.get(name).map(|t| (c, t))
        });
        let (id, owned);
        let parse = match member {
            Some((_, template)) => {
                id = template.source;
                &template.parse
            }
            None => {
                let text = match read(target) {
                    Ok(text) => text,
                    Err(reason) => {
                        unreadable.push(Unreadable {
                            path: target.path.clone(),
                            reason,
                        });
                        continue;
                    }
                };
                let name = super::input::display_name(&target.path, args.stdin_filename.as_deref());
                id = report.sources.add(name, text.clone());
                owned = parser::parse(text);
                &owned
            }
        };
        n_files += 1;
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
    Ok(Outcome {
        report,
        fails,
        n_files,
    })
}

fn settings_for(
    args: &Args,
    resolver: &mut Resolver,
    target: &Target,
) -> anyhow::Result<Arc<Settings>> {
    let lookup_path = if target.is_stdin() {
        args.stdin_filename.as_deref().map(Path::new)
    } else {
        Some(target.path.as_path())
    };
    resolver.settings_for(lookup_path)
}

/// The text of `target`, read once (standard input can be read only once).
fn read(target: &mut Target) -> Result<Vec<u8>, String> {
    if let Some(text) = &target.text {
        return Ok(text.clone());
    }
    let text = super::input::read(&target.path).map_err(|e| format!("{:#}", e.root_cause()))?;
    target.text = Some(text.clone());
    Ok(text)
}

/// What `--fix` or `--diff` did.
#[derive(Default)]
struct Fixed {
    n_fixes: usize,
    n_files: usize,
    /// The unified diff (`--diff`).
    diff: String,
    /// The fixed text of standard input (`--fix -`).
    stdin: Option<Vec<u8>>,
}

/// Applies the preferred checked fixes to every target: written back (`--fix`), or as a diff
/// (`--diff`).
fn fix(
    args: &Args,
    resolver: &mut Resolver,
    targets: &mut [Target],
    unreadable: &mut Vec<Unreadable>,
) -> anyhow::Result<Fixed> {
    let mut fixed = Fixed::default();
    for target in targets.iter_mut() {
        let text = match read(target) {
            Ok(text) => text,
            Err(reason) => {
                unreadable.push(Unreadable {
                    path: target.path.clone(),
                    reason,
                });
                // Skipped from here on: reported once.
                target.text = Some(Vec::new());
                continue;
            }
        };
        let settings = settings_for(args, resolver, target)?;
        let result = crate::fix::fix_all(&text, &settings.options);
        if target.is_stdin() && args.fix {
            fixed.stdin = Some(result.text.clone());
        }
        if result.applied == 0 {
            continue;
        }
        fixed.n_fixes += result.applied;
        fixed.n_files += 1;
        let name = super::input::display_name(&target.path, args.stdin_filename.as_deref());
        if args.diff {
            fixed
                .diff
                .push_str(&unified_diff(&name, &text, &result.text));
        } else if !target.is_stdin() {
            super::fmt::write_atomically(&target.path, &text, &result.text)?;
        }
        target.text = Some(result.text);
    }
    Ok(fixed)
}

fn unified_diff(name: &str, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let name = parser::terminal::escape_controls(name);
    similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .header(&name, &name)
        .to_string()
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let mut resolver = Resolver::new(Overrides {
        select: args.select.clone(),
        extend_select: args.extend_select.clone(),
        ignore: args.ignore.clone(),
        fail_level: args.fail_level,
        config: args.config.clone(),
        no_config: args.no_config,
    });
    let (mut targets, mut unreadable) = expand(&args.files);
    let fixed = if args.fix || args.diff {
        fix(args, &mut resolver, &mut targets, &mut unreadable)?
    } else {
        Fixed::default()
    };
    // A target that could not be read for fixing is not tried again.
    let reported: HashSet<PathBuf> = unreadable.iter().map(|u| u.path.clone()).collect();
    targets.retain(|t| !reported.contains(&t.path));
    let Outcome {
        mut report,
        fails,
        n_files,
    } = collect(args, &mut resolver, &mut targets, &mut unreadable)?;

    let out = if args.diff {
        fixed.diff.clone()
    } else if args.statistics {
        statistics(&report, args.format == Format::Json)
    } else {
        // At most 10,000 findings per file are shown (README "Limits"); the rest are counted.
        report.cap();
        let to_terminal = args.output_file.is_none() && std::io::stdout().is_terminal();
        render_report(
            &report,
            args.format,
            color(args.color, to_terminal, &Env::real()),
        )?
    };
    let stdin_fixed = fixed.stdin.filter(|_| args.fix);
    // `--fix -`: the fixed text is the output; the report goes to the file, else to stderr.
    if let Some(text) = &stdin_fixed {
        std::io::stdout().lock().write_all(text)?;
    }
    match &args.output_file {
        Some(path) => std::fs::write(path, out.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None if stdin_fixed.is_some() => std::io::stderr().lock().write_all(out.as_bytes())?,
        None => std::io::stdout().lock().write_all(out.as_bytes())?,
    }
    for Unreadable { path, reason } in &unreadable {
        eprintln!(
            "error: cannot read {}: {}",
            parser::terminal::escape_controls(&path.display().to_string()),
            parser::terminal::escape_controls(reason)
        );
    }
    if !args.quiet {
        let mut summary = report.summary_of(n_files);
        if args.diff {
            let _ = write!(
                summary,
                "; {} would be applied to {}",
                plural(fixed.n_fixes, "fix", "fixes"),
                plural(fixed.n_files, "file", "files")
            );
        } else if args.fix {
            let _ = write!(summary, " ({} fixed)", fixed.n_fixes);
        }
        eprintln!("{summary}");
    }
    if !unreadable.is_empty() {
        anyhow::bail!(
            "{} could not be read",
            plural(unreadable.len(), "path", "paths")
        );
    }
    Ok(if args.diff {
        if fixed.n_fixes > 0 && !args.exit_zero {
            Status::Findings
        } else {
            Status::Success
        }
    } else if fails && !args.exit_zero {
        Status::Findings
    } else {
        Status::Success
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The report in `format`.
pub(crate) fn render_report(
    report: &Report,
    format: Format,
    color: bool,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Human => render::human::render(report, color, 100),
        Format::Concise => render::concise::render(report),
        Format::Json => render::json::render(report),
        Format::Sarif => render::sarif::render(report),
        Format::Github => render::github::render(report),
        Format::Checkstyle => render::checkstyle::render(report)?,
    })
}

/// `--statistics`: one row per code, most frequent first.
fn statistics(report: &Report, json: bool) -> String {
    let mut counts: BTreeMap<&str, (usize, Severity)> = BTreeMap::new();
    for d in &report.diagnostics {
        let entry = counts.entry(d.code.as_str()).or_insert((0, d.severity));
        entry.0 += 1;
        entry.1 = entry.1.max(d.severity);
    }
    let mut rows: Vec<(&str, usize, Severity)> =
        counts.into_iter().map(|(c, (n, s))| (c, n, s)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rule = |code: &str| crate::commands::catalogue::find(code).map_or("", |c| c.name);
    if json {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|(code, count, severity)| {
                serde_json::json!({
                    "code": code, "rule": rule(code), "severity": severity.as_str(), "count": count
                })
            })
            .collect();
        let mut out = serde_json::to_string_pretty(&rows).unwrap_or_default();
        out.push('\n');
        return out;
    }
    let width = rows
        .iter()
        .map(|r| r.1.to_string().len())
        .max()
        .unwrap_or(1);
    let mut out = String::new();
    for (code, count, severity) in rows {
        let _ = writeln!(
            out,
            "{count:>width$}  {code}  {:<7}  {}",
            severity.as_str(),
            rule(code)
        );
    }
    out
}

/// The environment variables that decide colour.
pub(crate) struct Env {
    pub(crate) no_color: bool,
    pub(crate) clicolor_force: bool,
    pub(crate) clicolor_off: bool,
    pub(crate) term_dumb: bool,
}

impl Env {
    fn real() -> Self {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let is = |name: &str, value: &str| std::env::var_os(name).is_some_and(|v| v == value);
        Self {
            no_color: set("NO_COLOR"),
            clicolor_force: set("CLICOLOR_FORCE") && !is("CLICOLOR_FORCE", "0"),
            clicolor_off: is("CLICOLOR", "0"),
            term_dumb: is("TERM", "dumb"),
        }
    }
}

/// Whether human output is coloured: the flag, else (`auto`) `NO_COLOR` off, `CLICOLOR_FORCE`
/// on, `CLICOLOR=0` off, else on a terminal whose `TERM` is not `dumb` (the conventions of
/// no-color.org and bixense.com/clicolors, in the order `anstream` applies them).
pub(crate) const fn color(flag: Color, to_terminal: bool, env: &Env) -> bool {
    match flag {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            if env.no_color {
                false
            } else if env.clicolor_force {
                true
            } else if env.clicolor_off {
                false
            } else {
                to_terminal && !env.term_dumb
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(no_color: bool, clicolor_force: bool, clicolor_off: bool, term_dumb: bool) -> Env {
        Env {
            no_color,
            clicolor_force,
            clicolor_off,
            term_dumb,
        }
    }

    #[test]
    fn colour_follows_the_conventions() {
        let plain = env(false, false, false, false);
        assert!(color(Color::Auto, true, &plain));
        assert!(!color(Color::Auto, false, &plain));
        // A dumb terminal shows escape sequences as text.
        assert!(!color(Color::Auto, true, &env(false, false, false, true)));
        // Forced into a pipe (CI logs that render ANSI).
        assert!(color(Color::Auto, false, &env(false, true, false, false)));
        assert!(color(Color::Auto, false, &env(false, true, false, true)));
        // NO_COLOR wins over everything but the flag.
        assert!(!color(Color::Auto, true, &env(true, true, false, false)));
        assert!(color(Color::Always, false, &env(true, false, false, true)));
        assert!(!color(Color::Auto, true, &env(false, false, true, false)));
        assert!(!color(Color::Never, true, &plain));
    }
}
