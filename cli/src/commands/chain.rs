//! Loading template chains from disk: a TOML index of a template set (what tarsregistry keeps
//! in `t_profile_template`), or a single chain given on the command line.
//!
//! ```toml
//! # templates.toml — paths are relative to this file
//! [templates."tars.default"]
//! file = "tars.default.conf"
//! parent = "tars.default"          # itself: no parent, as the installer sets it
//!
//! [templates."tars.cpp.default"]
//! file = "tars.cpp.default.conf"
//! parent = "tars.default"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lowering::resolve::{Template, TemplateSet};
use parser::{Sources, Span};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    templates: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    file: PathBuf,
    #[serde(default)]
    parent: Option<toml::Spanned<String>>,
}

/// A loaded set: the templates and the file each came from.
pub(crate) struct LoadedSet {
    pub(crate) set: TemplateSet,
    pub(crate) files: Vec<(String, PathBuf)>,
}

impl LoadedSet {
    /// The template whose file is `path` (compared canonically).
    pub(crate) fn name_of(&self, path: &Path) -> Option<&str> {
        if let Some((name, _)) = self.files.iter().find(|(_, p)| p == path) {
            return Some(name);
        }
        let wanted = path.canonicalize().ok()?;
        self.files
            .iter()
            .find(|(_, p)| p.canonicalize().ok().as_deref() == Some(wanted.as_path()))
            .map(|(name, _)| name.as_str())
    }
}

/// A template index as read, before any template file is: its text and its entries.
#[derive(Debug)]
pub(crate) struct IndexFile {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    /// In name order.
    pub(crate) entries: Vec<IndexEntry>,
}

/// One `[templates."name"]` entry.
#[derive(Debug)]
pub(crate) struct IndexEntry {
    pub(crate) name: String,
    /// The template file, joined to the index's directory.
    pub(crate) file: PathBuf,
    /// The parent's name and where it is written in the index text.
    pub(crate) parent: Option<(String, Span)>,
}

/// Reads and checks a TOML index, without reading the templates it names.
pub(crate) fn read_index(path: &Path) -> anyhow::Result<IndexFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read index {}", path.display()))?;
    let index: Index = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid template index", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let entries = index
        .templates
        .into_iter()
        .map(|(name, entry)| IndexEntry {
            name,
            file: base.join(&entry.file),
            parent: entry.parent.map(|p| {
                let range = p.span();
                let span = Span::new(
                    u32::try_from(range.start).unwrap_or(0),
                    u32::try_from(range.end).unwrap_or(0),
                );
                (p.into_inner(), span)
            }),
        })
        .collect();
    Ok(IndexFile {
        path: path.to_path_buf(),
        text,
        entries,
    })
}

impl IndexFile {
    /// The template set, with each template's text from `read` (the file on disk, or an
    /// editor's buffer). The index text is added to `sources` first, then each template.
    pub(crate) fn load(
        &self,
        sources: &mut Sources,
        mut read: impl FnMut(&IndexEntry) -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<LoadedSet> {
        let index_source = sources.add(
            self.path.display().to_string(),
            self.text.as_bytes().to_vec(),
        );
        let mut set = TemplateSet::new();
        let mut files = Vec::new();
        for entry in &self.entries {
            let bytes = read(entry)?;
            let source = sources.add(entry.file.display().to_string(), bytes.clone());
            let (parent, parent_at) = match &entry.parent {
                Some((name, span)) => (Some(name.clone()), Some((index_source, *span))),
                None => (None, None),
            };
            files.push((entry.name.clone(), entry.file.clone()));
            set.add(Template {
                name: entry.name.clone(),
                parent,
                parent_at,
                source,
                parse: parser::parse(bytes),
            });
        }
        Ok(LoadedSet { set, files })
    }
}

/// Reads a TOML index and every template it names.
pub(crate) fn load_index(path: &Path, sources: &mut Sources) -> anyhow::Result<LoadedSet> {
    read_index(path)?.load(sources, |entry| {
        super::input::read(&entry.file).with_context(|| {
            format!(
                "cannot read template `{}` from {}",
                entry.name,
                entry.file.display()
            )
        })
    })
}

/// A single chain from the command line: `child`, then each `--parent` in order, each the
/// parent of the one before. Templates are named by their file path.
pub(crate) fn load_chain(
    child: &Path,
    parents: &[PathBuf],
    sources: &mut Sources,
) -> anyhow::Result<(LoadedSet, String)> {
    let mut chain: Vec<&Path> = vec![child];
    chain.extend(parents.iter().map(PathBuf::as_path));
    let mut set = TemplateSet::new();
    let mut files = Vec::new();
    for (i, path) in chain.iter().enumerate() {
        let name = path.display().to_string();
        if files.iter().any(|(n, _): &(String, PathBuf)| *n == name) {
            bail!("{name} appears twice in the chain");
        }
        let bytes = super::input::read(path)?;
        let source = sources.add(name.clone(), bytes.clone());
        files.push((name.clone(), path.to_path_buf()));
        set.add(Template {
            name,
            parent: chain.get(i + 1).map(|p| p.display().to_string()),
            parent_at: None,
            source,
            parse: parser::parse(bytes),
        });
    }
    Ok((LoadedSet { set, files }, child.display().to_string()))
}
