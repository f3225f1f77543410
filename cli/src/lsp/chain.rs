//! Chain context for the language server: when an open template is listed in the template
//! index of its settings (`[lint] index` of `tarsdock.toml`, else the `index` initialization
//! option), its chain is resolved with every open buffer in place of its file on disk, and the
//! server publishes the chain findings (`TARS-C…`) and shows provenance on hover.
//!
//! Indexes are read once (with the disk text of every template they list) and read again on
//! [`Indexes::clear`]; a set is rebuilt from them and the open buffers for each publish.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lowering::lint::LintOptions;
use lowering::resolve::{Definition, Resolution, Template, TemplateSet};
use parser::{Diagnostic, Parse, SourceFile, SourceId, Span};
use tower_lsp_server::ls_types::{
    self as lsp, DiagnosticRelatedInformation, Location, Position, Range, Uri,
};

use super::document::{Document, lsp_diagnostic, lsp_position};
use super::hover::shown_value;
use crate::commands::chain::{IndexFile, read_index};

/// The template indexes read so far, by the path they are configured as.
#[derive(Default)]
pub(crate) struct Indexes {
    loaded: HashMap<PathBuf, Option<Arc<Index>>>,
    /// Warnings already shown since the last [`Indexes::clear`].
    warned: HashSet<String>,
}

/// One index as read from disk, with the disk text and parse of every template it lists.
pub(crate) struct Index {
    file: IndexFile,
    /// For the index's own URI in related information.
    canonical_path: Option<PathBuf>,
    entries: Vec<OnDisk>,
}

struct OnDisk {
    canonical: Option<PathBuf>,
    /// The file and its parse, or why it could not be read.
    read: Result<(Arc<SourceFile>, Parse), String>,
}

/// An open document, as the set builder sees it.
pub(crate) struct Buffer<'a> {
    /// Canonical when it could be made so.
    pub(crate) path: &'a Path,
    pub(crate) uri: &'a Uri,
    pub(crate) document: &'a Document,
}

impl Indexes {
    /// Forgets every index and warning, so that the next use reads the files again.
    pub(crate) fn clear(&mut self) {
        self.loaded.clear();
        self.warned.clear();
    }

    /// The index at `path`, read on first use. A broken index yields `None` and, the first
    /// time, the warning to show.
    pub(crate) fn get(&mut self, path: &Path) -> (Option<Arc<Index>>, Option<String>) {
        if let Some(index) = self.loaded.get(path) {
            return (index.clone(), None);
        }
        let (index, message) = match read_index(path) {
            Ok(file) => (Some(Arc::new(Index::new(file))), None),
            Err(error) => (
                None,
                self.warn_once(format!(
                    "tarsdock: {error:#}; linting without chain context"
                )),
            ),
        };
        self.loaded.insert(path.to_path_buf(), index.clone());
        (index, message)
    }

    /// `message` the first time it is seen since the last clear.
    pub(crate) fn warn_once(&mut self, message: String) -> Option<String> {
        self.warned.insert(message.clone()).then_some(message)
    }

    /// Whether `path` is one of the loaded indexes or a template listed in one.
    pub(crate) fn concerns(&self, path: &Path) -> bool {
        let canonical = path.canonicalize().ok();
        self.loaded.iter().any(|(index_path, index)| {
            index_path == path
                || (canonical.is_some() && index_path.canonicalize().ok() == canonical)
                || index
                    .as_ref()
                    .is_some_and(|index| index.member(path, canonical.as_deref()).is_some())
        })
    }
}

impl Index {
    fn new(file: IndexFile) -> Self {
        let entries = file
            .entries
            .iter()
            .map(|entry| OnDisk {
                canonical: entry.file.canonicalize().ok(),
                read: std::fs::read(&entry.file)
                    .map(|bytes| {
                        let parse = parser::parse(bytes.clone());
                        let source = SourceFile::new(entry.file.display().to_string(), bytes);
                        (Arc::new(source), parse)
                    })
                    .map_err(|error| {
                        format!(
                            "cannot read template `{}` from {}: {error}",
                            entry.name,
                            entry.file.display()
                        )
                    }),
            })
            .collect();
        Self {
            canonical_path: file.path.canonicalize().ok(),
            file,
            entries,
        }
    }

    /// The entry whose file is `path` (`canonical` is `path` canonicalised, when it can be).
    pub(crate) fn member(&self, path: &Path, canonical: Option<&Path>) -> Option<usize> {
        self.file
            .entries
            .iter()
            .zip(&self.entries)
            .position(|(entry, disk)| {
                entry.file == path
                    || (canonical.is_some() && disk.canonical.as_deref() == canonical)
            })
    }

    fn buffer_of<'a>(&self, i: usize, buffers: &'a [Buffer<'a>]) -> Option<&'a Buffer<'a>> {
        let entry = self.file.entries.get(i)?;
        let canonical = self.entries.get(i)?.canonical.as_deref();
        buffers
            .iter()
            .find(|b| b.path == entry.file || canonical == Some(b.path))
    }

    /// The template set with every open buffer in place of its file on disk.
    ///
    /// # Errors
    /// A template that is neither open nor readable, as a message for the user.
    pub(crate) fn build(&self, buffers: &[Buffer<'_>]) -> Result<Built, String> {
        let index_dir = self.file.path.parent().unwrap_or_else(|| Path::new(""));
        let shown = |path: &Path| {
            path.strip_prefix(index_dir)
                .unwrap_or(path)
                .display()
                .to_string()
        };
        let mut files = vec![FileView {
            uri: uri_of(&self.file.path, self.canonical_path.as_deref()),
            shown: shown(&self.file.path),
            text: Arc::new(SourceFile::new(
                self.file.path.display().to_string(),
                self.file.text.as_bytes().to_vec(),
            )),
        }];
        let index_source = SourceId::MAIN;
        let mut set = TemplateSet::new();
        for (i, (entry, disk)) in self.file.entries.iter().zip(&self.entries).enumerate() {
            let source = SourceId(u32::try_from(files.len()).unwrap_or(u32::MAX));
            let (uri, text, parse) = match self.buffer_of(i, buffers) {
                Some(buffer) => (
                    Some(buffer.uri.clone()),
                    Arc::new(SourceFile::new(
                        entry.file.display().to_string(),
                        buffer.document.text.as_bytes().to_vec(),
                    )),
                    buffer.document.parse.clone(),
                ),
                None => {
                    let (text, parse) = disk.read.as_ref().map_err(Clone::clone)?;
                    (
                        uri_of(&entry.file, disk.canonical.as_deref()),
                        Arc::clone(text),
                        parse.clone(),
                    )
                }
            };
            files.push(FileView {
                uri,
                shown: shown(&entry.file),
                text,
            });
            let (parent, parent_at) = match &entry.parent {
                Some((name, span)) => (Some(name.clone()), Some((index_source, *span))),
                None => (None, None),
            };
            set.add(Template {
                name: entry.name.clone(),
                parent,
                parent_at,
                source,
                parse,
            });
        }
        Ok(Built {
            set,
            files,
            shown_index: shown(&self.file.path),
        })
    }

    /// The template name of entry `i`.
    pub(crate) fn name(&self, i: usize) -> Option<&str> {
        self.file.entries.get(i).map(|e| e.name.as_str())
    }
}

fn uri_of(path: &Path, canonical: Option<&Path>) -> Option<Uri> {
    Uri::from_file_path(path).or_else(|| canonical.and_then(Uri::from_file_path))
}

/// A template set built for one publish or hover: the index (source 0) and each template.
pub(crate) struct Built {
    set: TemplateSet,
    /// By `SourceId`.
    files: Vec<FileView>,
    shown_index: String,
}

struct FileView {
    uri: Option<Uri>,
    /// The path relative to the index's directory, for messages.
    shown: String,
    text: Arc<SourceFile>,
}

impl Built {
    fn file(&self, source: SourceId) -> Option<&FileView> {
        self.files.get(source.0 as usize)
    }

    fn position(&self, source: SourceId, offset: u32) -> Position {
        self.file(source).map_or_else(Position::default, |file| {
            lsp_position(file.text.line_col(offset))
        })
    }

    fn range(&self, source: SourceId, span: Span) -> Range {
        Range {
            start: self.position(source, span.start),
            end: self.position(source, span.end),
        }
    }

    /// 1-based line of `offset` in `source`.
    fn line(&self, source: SourceId, offset: u32) -> u32 {
        self.position(source, offset).line + 1
    }

    fn location(&self, source: SourceId, span: Span) -> Option<Location> {
        Some(Location {
            uri: self.file(source)?.uri.clone()?,
            range: self.range(source, span),
        })
    }

    fn shown(&self, source: SourceId) -> &str {
        self.file(source).map_or("?", |f| f.shown.as_str())
    }
}

/// One document's chain: the built set, its template and its resolution.
pub(crate) struct Context {
    built: Arc<Built>,
    name: String,
    /// The document's source in `built`.
    source: Option<SourceId>,
    resolution: Resolution,
}

impl Context {
    /// Resolves the chain of template `name` (the document's) in `built`.
    pub(crate) fn new(built: Arc<Built>, name: &str) -> Self {
        let resolution = lowering::resolve::resolve(&built.set, name, None);
        let source = built.set.get(name).map(|t| t.source);
        Self {
            built,
            name: name.to_owned(),
            source,
            resolution,
        }
    }

    /// The chain findings, selected as the document's own are, as LSP diagnostics of the
    /// document: at their place when they are in the document, else at its start
    /// with the file and line in the message and the place as related information.
    ///
    /// A finding in the document itself on the range of one of the document's own errors is
    /// left out: a parent that upstream drops (`dropped-chain-member`) because of its syntax
    /// error already shows that error there.
    pub(crate) fn diagnostics(
        &self,
        uri: &Uri,
        options: &LintOptions,
        own: &[lsp::Diagnostic],
    ) -> Vec<lsp::Diagnostic> {
        lowering::lint::check_chain(&self.resolution, options)
            .iter()
            .map(|d| self.to_lsp(uri, d))
            .filter(|d| {
                !own.iter().any(|o| {
                    o.range == d.range && o.severity == Some(lsp::DiagnosticSeverity::ERROR)
                })
            })
            .collect()
    }

    fn to_lsp(&self, uri: &Uri, d: &Diagnostic) -> lsp::Diagnostic {
        let built = &self.built;
        let mut related = Vec::new();
        let (range, place) = if Some(d.source) == self.source {
            (built.range(d.source, d.span), None)
        } else {
            // Elsewhere (the index, a parent): at the document's start, the place named.
            let place = format!(
                "{} line {}",
                built.shown(d.source),
                built.line(d.source, d.span.start)
            );
            if let Some(location) = built.location(d.source, d.span) {
                related.push(DiagnosticRelatedInformation {
                    location,
                    message: if d.label.is_empty() {
                        "here".to_owned()
                    } else {
                        d.label.clone()
                    },
                });
            }
            (Range::default(), Some(place))
        };
        related.extend(d.related.iter().filter_map(|label| {
            Some(DiagnosticRelatedInformation {
                location: built.location(label.source, label.span)?,
                message: label.message.clone(),
            })
        }));
        lsp_diagnostic(d, uri, range, place.as_deref(), related)
    }

    fn member_name(&self, resolution: &Resolution, definition: &Definition) -> String {
        resolution
            .members
            .get(definition.member)
            .map_or_else(|| "?".to_owned(), |m| m.name.clone())
    }

    fn describe(&self, resolution: &Resolution, definition: &Definition) -> String {
        format!(
            "`{}` line {}: {} ({})",
            self.member_name(resolution, definition),
            self.built.line(definition.source, definition.line.start),
            shown_value(&definition.value),
            self.built.shown(definition.source)
        )
    }

    /// The chain, as a hover line.
    fn chain_line(&self) -> String {
        let names: Vec<String> = self
            .resolution
            .members
            .iter()
            .map(|m| format!("`{}`", m.name))
            .collect();
        if names.is_empty() {
            format!(
                "chain of `{}` ({}): empty, see the chain findings",
                self.name, self.built.shown_index
            )
        } else {
            format!("chain ({}): {}", self.built.shown_index, names.join(" → "))
        }
    }

    /// Provenance of key `key` in domain `domain` (trimmed names from the root): who wins,
    /// what it overrides, and which templates inheriting from this one override it.
    pub(crate) fn key_hover(&self, domain: &[String], key: &str) -> String {
        let mut out = self.chain_line();
        out.push_str("\n\n");
        let find = |resolution: &Resolution| {
            resolution
                .provenance
                .iter()
                .find(|p| p.domain == domain && p.key == key)
                .cloned()
        };
        let Some(provenance) = find(&self.resolution) else {
            out.push_str("not in the resolved chain");
            return out;
        };
        let resolution = &self.resolution;
        if self.member_name(resolution, &provenance.defined) == self.name {
            let _ = write!(
                out,
                "wins: {}",
                self.describe(resolution, &provenance.defined)
            );
        } else {
            let _ = write!(
                out,
                "overridden by {}",
                self.describe(resolution, &provenance.defined)
            );
        }
        let inherited: Vec<&Definition> = provenance
            .overridden
            .iter()
            .filter(|d| self.member_name(resolution, d) != self.name)
            .collect();
        if inherited.is_empty() {
            out.push_str("\n\ninherited: no parent template sets it");
        }
        for definition in inherited.iter().rev() {
            let _ = write!(
                out,
                "\n\ninherited: overrides {}",
                self.describe(resolution, definition)
            );
        }
        // Templates whose chain contains this one, and the definitions after it there.
        let mut seen = HashSet::new();
        for template in self.built.set.iter() {
            if template.name == self.name {
                continue;
            }
            let child = lowering::resolve::resolve(&self.built.set, &template.name, None);
            let Some(at) = child.members.iter().position(|m| m.name == self.name) else {
                continue;
            };
            let Some(provenance) = find(&child) else {
                continue;
            };
            for definition in provenance
                .overridden
                .iter()
                .chain(std::iter::once(&provenance.defined))
                .filter(|d| d.member > at)
            {
                let name = self.member_name(&child, definition);
                if seen.insert((name, definition.source, definition.line)) {
                    let _ = write!(
                        out,
                        "\n\noverridden in {}",
                        self.describe(&child, definition)
                    );
                }
            }
        }
        out
    }

    /// The keys the resolved chain sets in domain `domain` (trimmed names from the root):
    /// `(key, value, template that sets it)`, in the chain's order.
    pub(crate) fn keys_in(&self, domain: &[String]) -> Vec<(String, String, String)> {
        self.resolution
            .provenance
            .iter()
            .filter(|p| p.domain == domain)
            .map(|p| {
                (
                    p.key.clone(),
                    p.defined.value.clone(),
                    self.member_name(&self.resolution, &p.defined),
                )
            })
            .collect()
    }

    /// Which members of the chain set keys in domain `domain` (or below it).
    pub(crate) fn domain_hover(&self, domain: &[String]) -> String {
        let mut members = vec![false; self.resolution.members.len()];
        for key in &self.resolution.provenance {
            if key.domain.starts_with(domain) {
                for definition in key.overridden.iter().chain(std::iter::once(&key.defined)) {
                    if let Some(flag) = members.get_mut(definition.member) {
                        *flag = true;
                    }
                }
            }
        }
        let names: Vec<String> = self
            .resolution
            .members
            .iter()
            .zip(members)
            .filter(|(_, contributes)| *contributes)
            .map(|(m, _)| format!("`{}`", m.name))
            .collect();
        let mut out = self.chain_line();
        if names.is_empty() {
            out.push_str("\n\nno template of the chain sets a key here");
        } else {
            let _ = write!(out, "\n\nkeys from: {}", names.join(", "));
        }
        out
    }
}
