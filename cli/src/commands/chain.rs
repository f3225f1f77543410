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

/// Reads a TOML index and every template it names.
pub(crate) fn load_index(path: &Path, sources: &mut Sources) -> anyhow::Result<LoadedSet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read index {}", path.display()))?;
    let index: Index = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid template index", path.display()))?;
    let index_source = sources.add(path.display().to_string(), text.as_bytes().to_vec());
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let mut set = TemplateSet::new();
    let mut files = Vec::new();
    for (name, entry) in index.templates {
        let file = base.join(&entry.file);
        let bytes = std::fs::read(&file)
            .with_context(|| format!("cannot read template `{name}` from {}", file.display()))?;
        let source = sources.add(file.display().to_string(), bytes.clone());
        let (parent, parent_at) = match entry.parent {
            Some(p) => {
                let range = p.span();
                let span = Span::new(
                    u32::try_from(range.start).unwrap_or(0),
                    u32::try_from(range.end).unwrap_or(0),
                );
                (Some(p.into_inner()), Some((index_source, span)))
            }
            None => (None, None),
        };
        files.push((name.clone(), file));
        set.add(Template {
            name,
            parent,
            parent_at,
            source,
            parse: parser::parse(bytes),
        });
    }
    Ok(LoadedSet { set, files })
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
