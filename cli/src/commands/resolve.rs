//! `tarsdock resolve`: a template resolved through its parent chain and the private profile,
//! as tarsregistry serves it; `--explain` shows where every key came from.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use lowering::resolve::{Profile, Resolution, resolve};
use parser::{Diagnostic, Parse, Severity, SourceId, Sources};
use serde::Serialize;

use super::chain::{self, LoadedSet};
use crate::exit::Status;
use crate::render::{self, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The template file; with `--index`, a template name (or a file listed in the index).
    pub(crate) template: String,
    /// Parent template files, nearest first (`--parent P --parent GRANDPARENT`).
    #[arg(long = "parent", value_name = "FILE", conflicts_with = "index")]
    pub(crate) parents: Vec<PathBuf>,
    /// A TOML index of a template set with parent names (see README).
    #[arg(long, value_name = "TOML")]
    pub(crate) index: Option<PathBuf>,
    /// The service's private profile, merged over the chain (it wins).
    #[arg(long, value_name = "FILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Print where every key of the result came from instead of the result.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Print one JSON document (result, members, provenance, diagnostics).
    #[arg(long)]
    pub(crate) json: bool,
}

/// A resolved chain with the sources its diagnostics and provenance point into.
pub(crate) struct Resolved {
    pub(crate) sources: Sources,
    pub(crate) resolution: Resolution,
    pub(crate) template: String,
}

/// Loads and resolves what `args` names.
pub(crate) fn load(args: &Args) -> anyhow::Result<Resolved> {
    let mut sources = Sources::new();
    let (loaded, name): (LoadedSet, String) = match &args.index {
        Some(index) => {
            let loaded = chain::load_index(index, &mut sources)?;
            let name = if loaded.set.get(&args.template).is_some() {
                args.template.clone()
            } else {
                loaded
                    .name_of(std::path::Path::new(&args.template))
                    .map(str::to_owned)
                    .with_context(|| {
                        format!("no template `{}` in {}", args.template, index.display())
                    })?
            };
            (loaded, name)
        }
        None => chain::load_chain(
            std::path::Path::new(&args.template),
            &args.parents,
            &mut sources,
        )?,
    };
    let profile_parse = match &args.profile {
        Some(path) => {
            let bytes = super::input::read(path)?;
            let source = sources.add(path.display().to_string(), bytes.clone());
            Some((path.display().to_string(), source, parser::parse(bytes)))
        }
        None => None,
    };
    let profile = profile_parse.as_ref().map(|(name, source, parse)| Profile {
        name: name.clone(),
        source: *source,
        parse,
    });
    let mut resolution = resolve(&loaded.set, &name, profile.as_ref());
    // A member upstream cannot parse is dropped (TARS-C003, at the point upstream stops): show
    // why, with that file's own errors, so that the finding's "fix the errors reported for
    // this file" has them to point at.
    let dropped: Vec<(SourceId, &Parse)> = loaded
        .set
        .iter()
        .map(|t| (t.source, &t.parse))
        .chain(profile.as_ref().map(|p| (p.source, p.parse)))
        .filter(|(source, parse)| {
            parse.upstream_error.is_some()
                && resolution.diagnostics.iter().any(|d| {
                    d.source == *source
                        && d.code == lowering::codes::chain::DROPPED_CHAIN_MEMBER.code
                })
        })
        .collect();
    for (source, parse) in dropped {
        for mut d in parse
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .cloned()
        {
            d.relocate(source);
            resolution.diagnostics.push(d);
        }
    }
    resolution.diagnostics.sort_by_key(Diagnostic::sort_key);
    Ok(Resolved {
        sources,
        resolution,
        template: name,
    })
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let Resolved {
        sources,
        resolution,
        template,
    } = load(args)?;
    let mut report = Report::with(sources, resolution.diagnostics.clone());
    let failed = resolution.failed
        || report
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error);
    report.cap();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        // Serialised as it is written, not built as a `serde_json::Value` first: the
        // provenance of a large template is hundreds of thousands of entries.
        let doc = JsonDoc {
            diagnostics: render::json::diagnostics_value(&report),
            failed: resolution.failed,
            log: &resolution.log,
            members: resolution
                .members
                .iter()
                .map(|m| JsonMember {
                    file: report.sources.get(m.source).map(|f| f.name.as_str()),
                    name: &m.name,
                    profile: m.profile,
                })
                .collect(),
            provenance: ProvenanceJson {
                resolution: &resolution,
                sources: &report.sources,
            },
            template: &template,
            text: String::from_utf8_lossy(&resolution.text),
            version: render::json::VERSION,
        };
        let mut out = std::io::BufWriter::new(&mut stdout);
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        out.flush()?;
    } else {
        if !report.diagnostics.is_empty() {
            eprint!("{}", render::human::render(&report, false, 100));
        }
        if args.explain {
            stdout.write_all(explain(&resolution, &report.sources).as_bytes())?;
        } else {
            stdout.write_all(&resolution.text)?;
        }
    }
    Ok(if failed {
        Status::Findings
    } else {
        Status::Success
    })
}

fn at(sources: &Sources, source: SourceId, span: parser::Span) -> (String, u32) {
    sources.get(source).map_or_else(
        || (String::new(), 0),
        |f| (f.name.clone(), f.line_col(span.start).line),
    )
}

fn explain(resolution: &Resolution, sources: &Sources) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# chain (lowest precedence first): {}",
        resolution
            .members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(" < ")
    );
    for key in &resolution.provenance {
        let (file, line) = at(sources, key.defined.source, key.defined.line);
        let _ = writeln!(
            out,
            "/{}<{}> = {}\n    from {file}:{line}",
            key.domain.join("/"),
            key.key,
            key.defined.value
        );
        for d in key.overridden.iter().rev() {
            let (file, line) = at(sources, d.source, d.line);
            let _ = writeln!(out, "    overrides {file}:{line} ({})", d.value);
        }
    }
    out
}

/// `resolve --json`, fields in the order they have always been written (alphabetical).
#[derive(Serialize)]
struct JsonDoc<'a> {
    diagnostics: serde_json::Value,
    failed: bool,
    log: &'a str,
    members: Vec<JsonMember<'a>>,
    provenance: ProvenanceJson<'a>,
    template: &'a str,
    text: std::borrow::Cow<'a, str>,
    version: u32,
}

#[derive(Serialize)]
struct JsonMember<'a> {
    file: Option<&'a str>,
    name: &'a str,
    profile: bool,
}

/// Every key's provenance, serialised one entry at a time.
struct ProvenanceJson<'a> {
    resolution: &'a Resolution,
    sources: &'a Sources,
}

#[derive(Serialize)]
struct JsonKey<'a> {
    defined: JsonDefinition<'a>,
    domain: &'a [String],
    key: &'a str,
    overridden: Vec<JsonDefinition<'a>>,
    value: &'a str,
}

#[derive(Serialize)]
struct JsonDefinition<'a> {
    file: &'a str,
    line: u32,
    value: &'a str,
}

fn json_definition<'a>(
    sources: &'a Sources,
    d: &'a lowering::resolve::Definition,
) -> JsonDefinition<'a> {
    let file = sources.get(d.source);
    JsonDefinition {
        file: file.map_or("", |f| f.name.as_str()),
        line: file.map_or(0, |f| f.line_col(d.line.start).line),
        value: &d.value,
    }
}

impl<'a> Serialize for ProvenanceJson<'a> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sources = self.sources;
        let def = |d: &'a lowering::resolve::Definition| json_definition(sources, d);
        serializer.collect_seq(self.resolution.provenance.iter().map(|k| JsonKey {
            defined: def(&k.defined),
            domain: &k.domain,
            key: &k.key,
            overridden: k.overridden.iter().map(def).collect(),
            value: &k.defined.value,
        }))
    }
}
