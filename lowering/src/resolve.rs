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
    /// One entry per key of the resolved config, in domain then key order.
    pub provenance: Vec<KeyProvenance>,
    /// Upstream's resolution log (`(name:OK)(parent:template not found)…`).
    pub log: String,
    pub diagnostics: Vec<Diagnostic>,
    /// The private profile could not be merged: upstream fails to load the service.
    pub failed: bool,
}

struct Resolver<'a> {
    set: &'a TemplateSet,
    log: String,
    diagnostics: Vec<Diagnostic>,
    reported: HashSet<(String, &'static str)>,
}

/// Resolves the chain of `name` as `getProfileTemplate` does, then joins `profile` over it as
/// `getServers` does (profile wins).
#[must_use]
pub fn resolve(set: &TemplateSet, name: &str, profile: Option<&Profile<'_>>) -> Resolution {
    let mut resolver = Resolver {
        set,
        log: String::new(),
        diagnostics: Vec::new(),
        reported: HashSet::new(),
    };
    let mut stack = Vec::new();
    let mut visited = HashSet::new();
    let (text, mut members) = resolver.template(name, &mut visited, &mut stack);
    let mut failed = false;
    let mut config = Config::parse_upstream(text.clone()).unwrap_or_default();
    let mut text = text;
    if let Some(profile) = profile {
        let merged = match &profile.parse.upstream_error {
            Some(e) => Err((e.span, "cannot be parsed".to_owned())),
            None => config
                .join(&profile.parse.config, true)
                .map_err(|e| (join_error_span(&e), "cannot be serialised".to_owned())),
        };
        match merged {
            Ok(()) => {
                text = config.to_text().unwrap_or_default();
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
        log: resolver.log,
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
    match e {
        parser::JoinError::Tostr(t) => t.span.unwrap_or_default(),
        parser::JoinError::Parse(p) => p.span,
    }
}

impl Resolver<'_> {
    /// `getProfileTemplate(name, visited)`: the resolved text of `name` and the members that
    /// made it (lowest precedence first). An exception anywhere in this level yields `""`.
    fn template(
        &mut self,
        name: &str,
        visited: &mut HashSet<String>,
        stack: &mut Vec<String>,
    ) -> (Vec<u8>, Vec<Member>) {
        let Some(template) = self.set.get(name) else {
            self.log.push_str(&format!("({name}:template not found)"));
            return (Vec::new(), Vec::new());
        };
        if let Some(e) = &template.parse.upstream_error {
            self.log.push_str(&format!("({name}:{})", e.message));
            self.report_once(name, "parse", || {
                codes::dropped_member(template.source, e.span, name, "cannot be parsed", false)
            });
            return (Vec::new(), Vec::new());
        }
        let mut me = template.parse.config.clone();
        visited.insert(template.name.clone());
        stack.push(template.name.clone());
        let mut members = Vec::new();
        let parent = template.parent.as_deref().unwrap_or_default();
        let at = template
            .parent_at
            .unwrap_or((template.source, Span::empty(0)));
        if !parent.is_empty() && parent != template.name {
            if visited.contains(parent) {
                let start = stack.iter().position(|n| n == parent).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].to_vec();
                cycle.push(parent.to_owned());
                self.report_once(name, "cycle", || codes::chain_cycle(at, &cycle));
            } else {
                if self.set.get(parent).is_none() {
                    self.report_once(name, "missing", || codes::missing_parent(at, name, parent));
                }
                let (parent_text, parent_members) = self.template(parent, visited, stack);
                let joined = Config::parse_upstream(parent_text)
                    .map_err(parser::JoinError::Parse)
                    .and_then(|parent_config| me.join(&parent_config, false));
                if let Err(e) = joined {
                    self.log.push_str(&format!("({name}:{e})"));
                    let span = join_error_span(&e);
                    self.report_once(name, "serialise", || {
                        codes::dropped_member(
                            template.source,
                            span,
                            name,
                            "cannot be serialised",
                            false,
                        )
                    });
                    stack.pop();
                    return (Vec::new(), Vec::new());
                }
                members = parent_members;
            }
        }
        stack.pop();
        match me.to_text() {
            Ok(text) => {
                self.log.push_str(&format!("({name}:OK)"));
                members.push(Member {
                    name: template.name.clone(),
                    source: template.source,
                    profile: false,
                });
                (text, members)
            }
            Err(e) => {
                self.log.push_str(&format!("({name}:{e})"));
                let span = e.span.unwrap_or_default();
                self.report_once(name, "serialise", || {
                    codes::dropped_member(
                        template.source,
                        span,
                        name,
                        "cannot be serialised",
                        false,
                    )
                });
                (Vec::new(), Vec::new())
            }
        }
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
            collect(child, &mut Vec::new(), index, member.source, &mut table);
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

fn collect(
    domain: parser::DomainRef<'_>,
    path: &mut Vec<Vec<u8>>,
    member: usize,
    source: SourceId,
    table: &mut BTreeMap<KeyPath, Vec<Definition>>,
) {
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
    for child in domain.children() {
        collect(child, path, member, source, table);
    }
    path.pop();
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
