//! Template chain resolution as tarsregistry does it (`CDbHandle::getProfileTemplate`): the
//! child joined over its resolved parent, recursively; then the service's private profile
//! joined over the result (`getServers`). With provenance and the diagnostics upstream never
//! gives.

use std::collections::{BTreeMap, HashMap, HashSet};

use parser::{Config, Diagnostic, Parse, SourceId, Span};
use serde::Serialize;

use crate::codes::chain as codes;

/// One template of a set: what `t_profile_template` holds for it.
#[derive(Debug)]
pub struct Template {
    pub name: String,
    /// `parents_name`; empty or `None` means no parent.
    pub parent: Option<String>,
    /// Where the parent is named (an index file entry), for diagnostics; `None` points at the
    /// start of the template itself.
    pub parent_at: Option<(SourceId, Span)>,
    pub source: SourceId,
    pub parse: Parse,
}

/// A set of templates by name (what tarsregistry reads from its database).
#[derive(Debug, Default)]
pub struct TemplateSet {
    templates: Vec<Template>,
    by_name: HashMap<String, usize>,
}

impl TemplateSet {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a template; a later template with the same name replaces the earlier one.
    pub fn add(&mut self, template: Template) {
        let index = self.templates.len();
        self.by_name.insert(template.name.clone(), index);
        self.templates.push(template);
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Template> {
        self.by_name.get(name).map(|&i| &self.templates[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.templates.iter()
    }
}

/// The private profile of a service (`t_server_conf.profile`).
#[derive(Debug)]
pub struct Profile<'a> {
    pub name: String,
    pub source: SourceId,
    pub parse: &'a Parse,
}

/// One file that contributed to a resolved config, lowest precedence first.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub name: String,
    pub source: SourceId,
    pub profile: bool,
}

/// One definition of a key in a chain member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Definition {
    /// Index into [`Resolution::members`].
    pub member: usize,
    pub source: SourceId,
    /// The trimmed source line.
    pub line: Span,
    pub value: String,
}

/// Where one key of the resolved config came from.
#[derive(Clone, Debug, Serialize)]
pub struct KeyProvenance {
    /// Domain names from the root, e.g. `["tars", "application", "server"]`.
    pub domain: Vec<String>,
    pub key: String,
    /// The definition that wins.
    pub defined: Definition,
    /// Earlier definitions it overrides, lowest precedence first.
    pub overridden: Vec<Definition>,
}

/// A resolved chain: the config upstream produces, which files made it, where each key came
/// from, and what upstream did silently.
#[derive(Debug)]
pub struct Resolution {
    /// The resolved config (empty when upstream yields an empty template).
    pub config: Config,
    /// Its upstream `tostr` form; what the registry serves.
    pub text: Vec<u8>,
    /// Contributing files, lowest precedence first.
    pub members: Vec<Member>,
    /// One entry per key of the resolved config, in domain then key order, for keys at most
    /// [`parser::limits::MAX_DEPTH`] domains deep (deeper ones are not tracked: each key's
    /// path would make the table grow with the square of the depth).
    pub provenance: Vec<KeyProvenance>,
    /// Upstream's resolution log (`(name:OK)(parent:template not found)…`), as text.
    pub log: String,
    /// The same log as upstream's bytes (its messages quote the templates' bytes as they are).
    pub log_bytes: Vec<u8>,
    pub diagnostics: Vec<Diagnostic>,
    /// The private profile could not be merged: upstream fails to load the service.
    pub failed: bool,
}

struct Resolver<'a> {
    set: &'a TemplateSet,
    log: Vec<u8>,
    diagnostics: Vec<Diagnostic>,
    reported: HashSet<(String, &'static str)>,
}

/// Resolves the chain of `name` as `getProfileTemplate` does, then joins `profile` over it as
/// `getServers` does (profile wins).
#[must_use]
pub fn resolve(set: &TemplateSet, name: &str, profile: Option<&Profile<'_>>) -> Resolution {
    let mut resolver = Resolver {
        set,
        log: Vec::new(),
        diagnostics: Vec::new(),
        reported: HashSet::new(),
    };
    let (text, mut members) = resolver.template(name);
    let mut failed = false;
    let mut config = Config::parse_upstream(text.clone()).unwrap_or_default();
    let mut text = text;
    if let Some(profile) = profile {
        let merged = match &profile.parse.upstream_error {
            Some(e) => Err((e.span, "cannot be parsed".to_owned())),
            None => config
                .join(&profile.parse.config, true)
                .and_then(|()| config.to_text().map_err(parser::JoinError::Tostr))
                .map(|joined| text = joined)
                .map_err(|e| (join_error_span(&e), cannot(&e))),
        };
        match merged {
            Ok(()) => {
                members.push(Member {
                    name: profile.name.clone(),
                    source: profile.source,
                    profile: true,
                });
            }
            Err((span, why)) => {
                failed = true;
                resolver.diagnostics.push(codes::dropped_member(
                    profile.source,
                    span,
                    &profile.name,
                    &why,
                    true,
                ));
            }
        }
    }
    let mut resolution = Resolution {
        config,
        text,
        provenance: Vec::new(),
        log: String::from_utf8_lossy(&resolver.log).into_owned(),
        log_bytes: resolver.log,
        diagnostics: resolver.diagnostics,
        members,
        failed,
    };
    let parses = member_parses(set, profile, &resolution.members);
    resolution.provenance = provenance(&resolution.members, &parses);
    empty_overrides(&mut resolution);
    resolution.diagnostics.sort_by_key(Diagnostic::sort_key);
    resolution
}

fn join_error_span(e: &parser::JoinError) -> Span {
    e.span().unwrap_or_default()
}

/// Why a member was dropped, for its TARS-C003 finding.
fn cannot(e: &parser::JoinError) -> String {
    match e {
        parser::JoinError::Tostr(parser::TostrError::TooLarge(limit)) => format!(
            "cannot be serialised within {} MiB",
            limit.limit / (1024 * 1024)
        ),
        parser::JoinError::Parse(_) => "cannot be parsed again after serialising".to_owned(),
        parser::JoinError::Tostr(_) => "cannot be serialised".to_owned(),
    }
}

/// One level of `getProfileTemplate` on the way down the chain.
struct Level<'a> {
    template: &'a Template,
    /// Whether this level asked for its parent (upstream calls `getProfileTemplate(parent)`
    /// when the parent is named and not yet visited); its result is the level below's.
    calls_parent: bool,
}

impl Resolver<'_> {
    /// `getProfileTemplate(name, visited)`: the resolved text of `name` and the members that
    /// made it (lowest precedence first). An exception anywhere in a level yields `""` for
    /// that level, which its child then joins as an empty parent.
    ///
    /// Upstream recurses once per chain level; this walks down the chain collecting the
    /// levels, then joins them bottom-up, so a chain of any length uses no stack.
    fn template(&mut self, name: &str) -> (Vec<u8>, Vec<Member>) {
        let mut visited: HashSet<&str> = HashSet::new();
        let mut chain: Vec<String> = Vec::new();
        let mut levels: Vec<Level<'_>> = Vec::new();
        let set = self.set;
        let mut current = name.to_owned();
        loop {
            let Some(template) = set.get(&current) else {
                self.log_entry(&current, b"template not found");
                break;
            };
            if let Some(e) = &template.parse.upstream_error {
                self.log_entry(&current, &e.bytes);
                self.report_once(&current, "parse", || {
                    codes::dropped_member(
                        template.source,
                        e.span,
                        &current,
                        "cannot be parsed",
                        false,
                    )
                });
                break;
            }
            visited.insert(template.name.as_str());
            chain.push(template.name.clone());
            let parent = template.parent.as_deref().unwrap_or_default();
            let at = template
                .parent_at
                .unwrap_or((template.source, Span::empty(0)));
            let calls_parent = !parent.is_empty() && !visited.contains(parent);
            if !parent.is_empty() && parent != template.name && visited.contains(parent) {
                let start = chain.iter().position(|n| n == parent).unwrap_or(0);
                let mut cycle: Vec<String> = chain[start..].to_vec();
                cycle.push(parent.to_owned());
                self.report_once(&current, "cycle", || codes::chain_cycle(at, &cycle));
            }
            if calls_parent && set.get(parent).is_none() {
                self.report_once(&current, "missing", || {
                    codes::missing_parent(at, &current, parent)
                });
            }
            levels.push(Level {
                template,
                calls_parent,
            });
            if !calls_parent {
                break;
            }
            current = parent.to_owned();
        }
        // Bottom-up: each level joins the text of the level below (or `""`).
        let mut below: (Vec<u8>, Vec<Member>) = (Vec::new(), Vec::new());
        for level in levels.iter().rev() {
            below = self.level(level, std::mem::take(&mut below));
        }
        below
    }

    /// One level of `getProfileTemplate` once its parent's result is known.
    fn level(
        &mut self,
        level: &Level<'_>,
        (parent_text, parent_members): (Vec<u8>, Vec<Member>),
    ) -> (Vec<u8>, Vec<Member>) {
        let template = level.template;
        let name = template.name.as_str();
        let mut me = template.parse.config.clone();
        let mut members = Vec::new();
        if level.calls_parent {
            let joined = Config::parse_upstream(parent_text)
                .map_err(parser::JoinError::Parse)
                .and_then(|parent_config| me.join(&parent_config, false));
            if let Err(e) = joined {
                self.log_entry(name, &e.bytes());
                self.drop_member(template, &e);
                return (Vec::new(), Vec::new());
            }
            members = parent_members;
        }
        // Upstream logs success before its final `tostr`, which may still throw: then both
        // entries are in the log.
        self.log_entry(name, b"OK");
        match me.to_text() {
            Ok(text) => {
                members.push(Member {
                    name: template.name.clone(),
                    source: template.source,
                    profile: false,
                });
                (text, members)
            }
            Err(e) => {
                self.log_entry(name, &e.bytes());
                self.drop_member(template, &parser::JoinError::Tostr(e));
                (Vec::new(), Vec::new())
            }
        }
    }

    fn log_entry(&mut self, name: &str, what: &[u8]) {
        self.log.push(b'(');
        self.log.extend_from_slice(name.as_bytes());
        self.log.push(b':');
        self.log.extend_from_slice(what);
        self.log.push(b')');
    }

    fn drop_member(&mut self, template: &Template, e: &parser::JoinError) {
        let span = join_error_span(e);
        let why = cannot(e);
        self.report_once(&template.name, "serialise", || {
            codes::dropped_member(template.source, span, &template.name, &why, false)
        });
    }

    fn report_once(&mut self, name: &str, what: &'static str, make: impl FnOnce() -> Diagnostic) {
        if self.reported.insert((name.to_owned(), what)) {
            self.diagnostics.push(make());
        }
    }
}

fn member_parses<'a>(
    set: &'a TemplateSet,
    profile: Option<&Profile<'a>>,
    members: &[Member],
) -> Vec<&'a Parse> {
    members
        .iter()
        .filter_map(|m| {
            if m.profile {
                profile.map(|p| p.parse)
            } else {
                set.get(&m.name).map(|t| &t.parse)
            }
        })
        .collect()
}

type KeyPath = (Vec<Vec<u8>>, Vec<u8>);

/// Walks the members from lowest to highest precedence: the last definition of a key wins,
/// exactly as upstream's text concatenation + reparse lets the later text win. Domains are
/// matched by trimmed name, as they are after upstream's serialise/parse round trip.
///
/// Known limit: upstream escapes domain names when it serialises but never unescapes them,
/// so a name holding `=`, `\\`, TAB, CR or LF changes at every level of a chain; such keys are
/// attributed by their name as written.
fn provenance(members: &[Member], parses: &[&Parse]) -> Vec<KeyProvenance> {
    let mut table: BTreeMap<KeyPath, Vec<Definition>> = BTreeMap::new();
    for (index, (member, parse)) in members.iter().zip(parses).enumerate() {
        // The order upstream serialises in, which decides who wins within one file: root
        // domains sorted by raw name (`< t >` before `<t>`), nested ones in first-appearance
        // order.
        let mut roots: Vec<_> = parse.config.root().children().collect();
        roots.sort_by(|a, b| a.raw_name().cmp(b.raw_name()));
        for child in roots {
            collect(child, index, member.source, &mut table);
        }
    }
    table
        .into_iter()
        .filter_map(|((domain, key), mut defs)| {
            let defined = defs.pop()?;
            Some(KeyProvenance {
                domain: domain
                    .iter()
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .collect(),
                key: String::from_utf8_lossy(&key).into_owned(),
                defined,
                overridden: defs,
            })
        })
        .collect()
}

/// Files the definitions of `top` and its sub-domains (pre-order, as `tostr` writes them),
/// down to [`parser::limits::MAX_DEPTH`] levels. Iterative: the depth is the user's.
fn collect(
    top: parser::DomainRef<'_>,
    member: usize,
    source: SourceId,
    table: &mut BTreeMap<KeyPath, Vec<Definition>>,
) {
    let mut path: Vec<Vec<u8>> = Vec::new();
    // Each entry: a domain and the depth of its path (its parents), popped in pre-order.
    let mut todo = vec![(top, 0usize)];
    while let Some((domain, depth)) = todo.pop() {
        path.truncate(depth);
        path.push(domain.name().to_vec());
        for param in domain.params() {
            let line = param.origin.map(|o| o.line).unwrap_or_default();
            table
                .entry((path.clone(), param.key.to_vec()))
                .or_default()
                .push(Definition {
                    member,
                    source,
                    line,
                    value: String::from_utf8_lossy(param.value).into_owned(),
                });
        }
        if path.len() >= parser::limits::MAX_DEPTH as usize {
            continue;
        }
        let first = todo.len();
        todo.extend(domain.children().map(|c| (c, depth + 1)));
        todo[first..].reverse();
    }
}

fn empty_overrides(resolution: &mut Resolution) {
    for key in &resolution.provenance {
        if !key.defined.value.is_empty() {
            continue;
        }
        // Only an override from another file counts; an emptied key within one file is a
        // duplicate key (TARS-S104).
        if let Some(previous) = key
            .overridden
            .iter()
            .rev()
            .find(|d| d.member != key.defined.member && !d.value.is_empty())
        {
            resolution.diagnostics.push(codes::empty_override(
                (key.defined.source, key.defined.line),
                key.key.as_bytes(),
                (previous.source, previous.line),
                previous.value.as_bytes(),
            ));
        }
    }
}
