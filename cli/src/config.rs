//! `tarsdock.toml`: lint settings looked up upward from each linted file, merged with flags.
//!
//! ```toml
//! [lint]
//! select = ["TARS-S", "TARS-L"]        # replaces the default set (everything but TARS-G)
//! extend-select = ["TARS-G"]           # added to it
//! ignore = ["duplicate-domain"]        # codes, code prefixes or rule names
//! fail-level = "warning"               # lowest severity that makes the exit code 1
//! index = "templates.toml"             # the template set, for chain findings and hover
//!
//! [lint.severity]                      # per-code (or prefix, or rule name) overrides
//! TARS-S103 = "error"
//! duplicate-key = "info"
//! ```
//!
//! The file nearest to the template wins (files are not merged). For standard input the
//! lookup starts in the directory of `--stdin-filename`, else in the working directory.
//! Flags win over the file: `--select` replaces its `select`, `--extend-select` and `--ignore`
//! add to its lists, `--fail-level` replaces its `fail-level`, and `--index` or `--parent`
//! replace its `index`. `index` is relative to the directory of the `tarsdock.toml`; it names
//! a template index (see [`crate::commands::chain`]) so that `tarsdock lint` and `tarsdock lsp`
//! lint the templates listed in it in the context of their chain. Other top-level tables are
//! left to other commands; unknown keys inside `[lint]` are an error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use lowering::lint::LintOptions;
use lowering::selection::{Selection, SelectionRequest};
use parser::Severity;
use serde::Deserialize;

/// The file name looked up upward from each template.
pub(crate) const FILE_NAME: &str = "tarsdock.toml";

/// Flags that take part in resolving the settings of every file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) select: Option<Vec<String>>,
    pub(crate) extend_select: Vec<String>,
    pub(crate) ignore: Vec<String>,
    pub(crate) fail_level: Option<Severity>,
    /// Use this file for every template instead of looking one up.
    pub(crate) config: Option<PathBuf>,
    /// Look up no file at all.
    pub(crate) no_config: bool,
}

/// What one template is linted with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) options: LintOptions,
    pub(crate) fail_level: Severity,
    /// The config file these settings came from.
    pub(crate) source: Option<PathBuf>,
    /// The template index of `[lint] index`, joined to the config file's directory.
    pub(crate) index: Option<PathBuf>,
}

/// Resolves settings per template directory, reading each config file once.
#[derive(Debug)]
pub(crate) struct Resolver {
    overrides: Overrides,
    /// Directory → nearest config file (or none).
    lookups: HashMap<PathBuf, Option<PathBuf>>,
    /// Config file (or none) → resolved settings.
    resolved: HashMap<Option<PathBuf>, Arc<Settings>>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    lint: LintSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct LintSection {
    select: Option<Vec<String>>,
    #[serde(default)]
    extend_select: Vec<String>,
    #[serde(default)]
    ignore: Vec<String>,
    fail_level: Option<String>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
    index: Option<PathBuf>,
}

impl Resolver {
    pub(crate) fn new(overrides: Overrides) -> Self {
        Self {
            overrides,
            lookups: HashMap::new(),
            resolved: HashMap::new(),
        }
    }

    /// The settings for the template at `path` (which need not exist: for standard input it
    /// is the `--stdin-filename`, or `None` for the working directory).
    ///
    /// # Errors
    /// An unreadable or invalid config file, or an unknown selector in it or in the flags.
    pub(crate) fn settings_for(&mut self, path: Option<&Path>) -> anyhow::Result<Arc<Settings>> {
        let file = if self.overrides.no_config {
            None
        } else if let Some(config) = &self.overrides.config {
            Some(config.clone())
        } else {
            let dir = start_dir(path);
            self.lookup(&dir)
        };
        if let Some(settings) = self.resolved.get(&file) {
            return Ok(Arc::clone(settings));
        }
        let settings = Arc::new(self.resolve(file.as_deref())?);
        self.resolved.insert(file, Arc::clone(&settings));
        Ok(settings)
    }

    fn lookup(&mut self, dir: &Path) -> Option<PathBuf> {
        if let Some(found) = self.lookups.get(dir) {
            return found.clone();
        }
        let found = dir
            .ancestors()
            .map(|d| d.join(FILE_NAME))
            .find(|candidate| candidate.is_file());
        self.lookups.insert(dir.to_path_buf(), found.clone());
        found
    }

    fn resolve(&self, file: Option<&Path>) -> anyhow::Result<Settings> {
        let section = match file {
            Some(path) => read(path)?,
            None => LintSection::default(),
        };
        self.settings_from(section, file)
    }

    fn settings_from(&self, section: LintSection, file: Option<&Path>) -> anyhow::Result<Settings> {
        let describe = |what: &str| match file {
            Some(path) => format!("{what} in {}", path.display()),
            None => what.to_owned(),
        };
        let mut severity = Vec::with_capacity(section.severity.len());
        for (selector, level) in &section.severity {
            let level = Severity::from_name(level).with_context(|| {
                describe(&format!(
                    "severity of `{selector}` must be info, warning or error, not `{level}`"
                ))
            })?;
            severity.push((selector.clone(), level));
        }
        let file_fail_level = section
            .fail_level
            .as_deref()
            .map(|level| {
                Severity::from_name(level).with_context(|| {
                    describe(&format!(
                        "fail-level must be info, warning or error, not `{level}`"
                    ))
                })
            })
            .transpose()?;
        let request = SelectionRequest {
            select: self.overrides.select.clone().or(section.select),
            extend_select: section
                .extend_select
                .into_iter()
                .chain(self.overrides.extend_select.iter().cloned())
                .collect(),
            ignore: section
                .ignore
                .into_iter()
                .chain(self.overrides.ignore.iter().cloned())
                .collect(),
            severity,
        };
        let selection = Selection::resolve(&request).map_err(|error| match file {
            Some(path) => anyhow::anyhow!("{error} (in {} or the flags)", path.display()),
            None => anyhow::anyhow!("{error}"),
        })?;
        // Other fields of `LintOptions` (chain context) keep their defaults.
        #[allow(clippy::needless_update)]
        let options = LintOptions {
            selection,
            ..LintOptions::default()
        };
        Ok(Settings {
            options,
            fail_level: self
                .overrides
                .fail_level
                .or(file_fail_level)
                .unwrap_or(Severity::Error),
            source: file.map(Path::to_path_buf),
            index: section
                .index
                .map(|index| match file.and_then(Path::parent) {
                    Some(dir) => dir.join(index),
                    None => index,
                }),
        })
    }
}

/// A problem in the text of a config file: its byte range when known, and the message.
pub(crate) struct Problem {
    pub(crate) range: Option<std::ops::Range<usize>>,
    pub(crate) message: String,
}

/// What is wrong with `text` as the config file at `path` (which need not be saved): invalid
/// TOML, unknown fields, bad severities or selectors, an index that cannot be read. Empty when
/// `tarsdock lint` would accept it.
pub(crate) fn check_text(text: &str, path: &Path) -> Vec<Problem> {
    let file: ConfigFile = match toml::from_str(text) {
        Ok(file) => file,
        Err(error) => {
            return vec![Problem {
                range: error.span(),
                message: error.message().trim_end().to_owned(),
            }];
        }
    };
    let index_range = index_range(text);
    match Resolver::new(Overrides::default()).settings_from(file.lint, Some(path)) {
        Err(error) => vec![Problem {
            range: None,
            message: format!("{error:#}"),
        }],
        Ok(settings) => settings
            .index
            .and_then(|index| crate::commands::chain::read_index(&index).err())
            .map(|error| Problem {
                range: index_range,
                message: format!("{error:#}"),
            })
            .into_iter()
            .collect(),
    }
}

/// The byte range of `[lint] index`'s value in `text`, if it can be found.
fn index_range(text: &str) -> Option<std::ops::Range<usize>> {
    let table: toml::de::DeTable<'_> = toml::de::DeTable::parse(text).ok()?.into_inner();
    let lint = table.get("lint")?;
    let toml::de::DeValue::Table(lint) = lint.get_ref() else {
        return None;
    };
    Some(lint.get("index")?.span())
}

fn read(path: &Path) -> anyhow::Result<LintSection> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: ConfigFile =
        toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
    Ok(file.lint)
}

/// Where the upward lookup starts: the template's directory, made absolute.
fn start_dir(path: Option<&Path>) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let Some(path) = path else {
        return cwd;
    };
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    absolute
        .parent()
        .map_or_else(|| cwd.clone(), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn nearest_file_wins_and_flags_extend_it() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        write(root.path(), "[lint]\nignore = [\"TARS-S103\"]\n");
        let near = write(
            &root.path().join("a"),
            "[lint]\nfail-level = \"warning\"\nextend-select = [\"TARS-G\"]\n",
        );
        let mut resolver = Resolver::new(Overrides {
            ignore: vec!["duplicate-key".to_owned()],
            ..Overrides::default()
        });
        let settings = resolver.settings_for(Some(&nested.join("t.conf"))).unwrap();
        assert_eq!(settings.source.as_deref(), Some(near.as_path()));
        assert_eq!(settings.fail_level, Severity::Warning);
        let selection = &settings.options.selection;
        assert!(selection.any_enabled("TARS-G"));
        assert!(selection.is_enabled(parser::DiagnosticCode("TARS-S103")));
        assert!(!selection.is_enabled(parser::DiagnosticCode("TARS-S104")));
    }

    #[test]
    fn the_index_is_relative_to_the_config_file() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a");
        std::fs::create_dir_all(&nested).unwrap();
        write(root.path(), "[lint]\nindex = \"tpl/templates.toml\"\n");
        let mut resolver = Resolver::new(Overrides::default());
        let settings = resolver.settings_for(Some(&nested.join("t.conf"))).unwrap();
        assert_eq!(
            settings.index.as_deref(),
            Some(root.path().join("tpl/templates.toml").as_path())
        );
        let mut resolver = Resolver::new(Overrides {
            no_config: true,
            ..Overrides::default()
        });
        let settings = resolver.settings_for(Some(&nested.join("t.conf"))).unwrap();
        assert_eq!(settings.index, None);
    }

    #[test]
    fn errors_name_the_file() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "[lint]\nignore = [\"no-such-rule\"]\n");
        let mut resolver = Resolver::new(Overrides::default());
        let error = resolver
            .settings_for(Some(&root.path().join("t.conf")))
            .unwrap_err();
        assert!(format!("{error:#}").contains(FILE_NAME), "{error:#}");
        write(root.path(), "[lint]\nselct = []\n");
        let mut resolver = Resolver::new(Overrides::default());
        let error = resolver
            .settings_for(Some(&root.path().join("t.conf")))
            .unwrap_err();
        assert!(format!("{error:#}").contains("selct"), "{error:#}");
    }
}
