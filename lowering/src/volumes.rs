//! `<volumes>` lines (`/host/path=/container/path`): the path grammar, the checks that need only
//! the template, and the default mounts tarsnode adds (with the `TARS_HOSTPATH` rewrite).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use nom::Parser as _;
use nom::bytes::complete::take_till;
use nom::character::complete::char;
use nom::combinator::opt;
use nom::multi::separated_list0;
use parser::{Config, Diagnostic, Span};

use crate::codes::volumes as codes;
use crate::field::{Line, raw_key};
use crate::ir::{DefaultMount, Mount, MountOrigin, TemplateLine};
use crate::lower::MountChecks;
use crate::paths;

/// The path of the volumes domain.
pub const VOLUMES_PATH: &[u8] = b"/tars/application/container/volumes";

/// Which side of a volume line a path is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The key: a host path.
    Host,
    /// The value: a container path.
    Container,
}

impl Side {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Container => "container",
        }
    }
}

/// What is wrong with a mount path, with the byte range (into the path) to point at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathProblem {
    Empty,
    NotAbsolute,
    /// A `..` segment.
    ParentSegment(Range<usize>),
    /// A `:`.
    Colon(Range<usize>),
    /// The container path is `/` after cleaning.
    TargetRoot,
}

/// A mount path split by the grammar `['/'] segment ('/' segment)*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathSyntax {
    pub absolute: bool,
    /// Byte ranges of the segments (empty ones included, e.g. for `//`).
    pub segments: Vec<Range<usize>>,
}

/// Splits a path into its segments. Never fails: every text is a (possibly bad) path.
#[must_use]
pub fn parse_path(text: &str) -> PathSyntax {
    let base = text.as_ptr().addr();
    let parsed: nom::IResult<&str, (Option<char>, Vec<&str>)> = (
        opt(char('/')),
        separated_list0(char('/'), take_till(|c| c == '/')),
    )
        .parse(text);
    match parsed {
        Ok((_, (slash, segments))) => PathSyntax {
            absolute: slash.is_some(),
            segments: segments
                .iter()
                .map(|s| {
                    let start = s.as_ptr().addr() - base;
                    start..start + s.len()
                })
                .collect(),
        },
        // `take_till` and `opt` cannot fail on complete input; keep the whole text as one
        // segment should that ever change.
        Err(_) => PathSyntax {
            absolute: text.starts_with('/'),
            segments: std::iter::once(0..text.len()).collect(),
        },
    }
}

/// Every problem of one mount path, in text order.
#[must_use]
pub fn check_path(text: &str, side: Side) -> Vec<PathProblem> {
    if text.is_empty() {
        return vec![PathProblem::Empty];
    }
    let syntax = parse_path(text);
    let mut problems = Vec::new();
    if !syntax.absolute {
        problems.push(PathProblem::NotAbsolute);
    }
    // One finding per path: the first `..` (the help shows the whole path resolved).
    if let Some(segment) = syntax
        .segments
        .iter()
        .find(|s| text.get((*s).clone()) == Some(".."))
    {
        problems.push(PathProblem::ParentSegment(segment.clone()));
    }
    if let Some(i) = text.find(':') {
        problems.push(PathProblem::Colon(i..i + 1));
    }
    if side == Side::Container && syntax.absolute && paths::clean(text) == "/" {
        problems.push(PathProblem::TargetRoot);
    }
    problems
}

/// A valid `<volumes>` line.
#[derive(Clone, Debug)]
pub(crate) struct TemplateVolume {
    pub(crate) source: String,
    pub(crate) target: String,
    pub(crate) target_clean: String,
    /// The time-zone files are mounted read-only (the policy refuses them writable).
    pub(crate) read_only: bool,
    pub(crate) origin: TemplateLine,
    /// The spans of the host path (key) and container path (value).
    pub(crate) source_span: Span,
    pub(crate) target_span: Span,
}

/// Checks every `<volumes>` line that can be checked without knowing the service, and returns
/// the lines that can be mounted.
pub(crate) fn check_template(
    config: &Config,
    checks: &MountChecks<'_>,
    out: &mut Vec<Diagnostic>,
) -> Vec<TemplateVolume> {
    let Ok(Some(domain)) = config.domain(VOLUMES_PATH) else {
        return Vec::new();
    };
    let fallback = domain.open_spans().first().copied().unwrap_or_default();
    let params: Vec<Line<'_>> = domain
        .params()
        .map(|p| Line::new(config, p, fallback))
        .collect();
    report_lost_lines(config, domain.line_spans(), &params, out);

    let mut volumes: Vec<TemplateVolume> = Vec::new();
    let mut targets: BTreeMap<String, Span> = BTreeMap::new();
    for line in &params {
        let Some(value) = line.value else {
            let text = String::from_utf8_lossy(line.key.bytes);
            out.push(codes::volume_without_equals(line.origin.line, &text));
            continue;
        };
        let (Some(host), Some(target)) = (line.key.text(), value.text()) else {
            if line.key.text().is_none() {
                out.push(codes::volume_path_not_utf8(line.key.span, "host"));
            }
            if value.text().is_none() {
                out.push(codes::volume_path_not_utf8(value.span, "container"));
            }
            continue;
        };
        let before = out.len();
        for (side, text, field) in [
            (Side::Host, host, line.key),
            (Side::Container, target, value),
        ] {
            let other = if side == Side::Host { target } else { host };
            for problem in check_path(text, side) {
                out.push(match problem {
                    PathProblem::Empty => {
                        // An empty value has an empty span; point at the `=` side's line.
                        let span = if field.span.is_empty() {
                            line.origin.line
                        } else {
                            field.span
                        };
                        codes::volume_empty_path(span, side.as_str(), other)
                    }
                    PathProblem::NotAbsolute => {
                        codes::volume_path_not_absolute(field.span, side.as_str(), text)
                    }
                    PathProblem::ParentSegment(r) => codes::volume_path_parent_segment(
                        field.sub(r.start, r.end),
                        side.as_str(),
                        text,
                        &paths::clean(text),
                    ),
                    PathProblem::Colon(r) => {
                        codes::volume_colon_in_path(field.sub(r.start, r.end), side.as_str(), text)
                    }
                    PathProblem::TargetRoot => codes::volume_target_root(field.span),
                });
            }
        }
        if out.len() > before {
            continue;
        }
        let read_only = crate::policy::is_time_zone_path(&paths::clean(host));
        if !checks.allows(host, read_only, line.key.span, "volume", out) {
            continue;
        }
        let target_clean = paths::clean(target);
        if let Some(&first) = targets.get(&target_clean) {
            out.push(codes::duplicate_volume_target(
                value.span,
                target,
                Some(first),
                None,
            ));
            continue;
        }
        targets.insert(target_clean.clone(), value.span);
        volumes.push(TemplateVolume {
            source: host.to_owned(),
            target: target.to_owned(),
            target_clean,
            read_only,
            origin: line.origin,
            source_span: line.key.span,
            target_span: value.span,
        });
    }
    volumes
}

/// Reports every raw line of the domain that lost to a later line with the same host path.
fn report_lost_lines(
    config: &Config,
    line_spans: &[Span],
    params: &[Line<'_>],
    out: &mut Vec<Diagnostic>,
) {
    let source = config.source();
    // Indexed once, so that each raw line is one lookup rather than a scan of every kept line.
    let kept_lines: HashSet<Span> = params.iter().map(|p| p.origin.line).collect();
    let mut kept_by_key: HashMap<&[u8], Span> = HashMap::new();
    for p in params {
        if let Some(key) = source.get(p.origin.key.range()) {
            kept_by_key.entry(key).or_insert(p.origin.line);
        }
    }
    for &span in line_spans {
        if kept_lines.contains(&span) {
            continue;
        }
        let raw = source.get(span.range()).unwrap_or_default();
        let key = raw_key(raw);
        out.push(codes::duplicate_volume_source(
            span,
            kept_by_key.get(key).copied(),
            &String::from_utf8_lossy(key),
        ));
    }
}

/// What the default mounts are made from.
#[derive(Clone, Debug)]
pub(crate) struct DefaultMountInputs<'a> {
    pub(crate) server_dir: &'a str,
    pub(crate) log_path: &'a str,
    /// tarsnode's install path (`TarsPath`), with its trailing `/`.
    pub(crate) tars_path: &'a str,
    /// `TARS_HOSTPATH`, when set and not empty.
    pub(crate) host_path: Option<&'a str>,
}

/// The mounts tarsnode always adds, exactly as `CommandStart::startContainer` computes them:
/// server dir and log dir on themselves (their sources rewritten to host paths when
/// `TARS_HOSTPATH` is set), and `/etc/localtime`.
pub(crate) fn default_mounts(inputs: &DefaultMountInputs<'_>) -> Vec<Mount> {
    let (server_source, log_source) = match inputs.host_path {
        Some(host) => (
            paths::simplify_directory(&paths::replace_all(
                inputs.server_dir,
                &paths::simplify_directory(&format!("{}/tarsnode/data", inputs.tars_path)),
                &format!("{host}/tarsnode-data"),
            )),
            paths::simplify_directory(&paths::replace_all(
                inputs.log_path,
                inputs.tars_path,
                &format!("{host}/"),
            )),
        ),
        None => (inputs.server_dir.to_owned(), inputs.log_path.to_owned()),
    };
    let mount = |source: String, target: &str, mount: DefaultMount| Mount {
        source,
        target: target.to_owned(),
        read_only: mount == DefaultMount::LocalTime,
        origin: MountOrigin::Default { mount },
    };
    vec![
        mount(server_source, inputs.server_dir, DefaultMount::ServerDir),
        mount(log_source, inputs.log_path, DefaultMount::LogDir),
        mount(
            "/etc/localtime".to_owned(),
            "/etc/localtime",
            DefaultMount::LocalTime,
        ),
    ]
}

/// Merges template volumes into the default mounts the way tarsnode does (one map keyed by host
/// path, template lines last), reporting replaced defaults and targets mounted twice. The result
/// is sorted by source, then target.
pub(crate) fn merge(
    defaults: Vec<Mount>,
    template: &[TemplateVolume],
    out: &mut Vec<Diagnostic>,
) -> Vec<Mount> {
    let default_targets: Vec<(String, String, DefaultMount)> = defaults
        .iter()
        .filter_map(|m| match m.origin {
            MountOrigin::Default { mount } => {
                Some((m.source.clone(), paths::clean(&m.target), mount))
            }
            MountOrigin::Template(_) => None,
        })
        .collect();
    let mut by_source: BTreeMap<String, Mount> = BTreeMap::new();
    for mount in defaults {
        // Two defaults with one host path behave as upstream: the later wins.
        by_source.insert(mount.source.clone(), mount);
    }
    for volume in template {
        // Docker refuses two mounts on one target; a default this line replaces does not count.
        if let Some((_, _, what)) = default_targets
            .iter()
            .find(|(source, target, _)| *target == volume.target_clean && *source != volume.source)
        {
            out.push(codes::duplicate_volume_target(
                volume.target_span,
                &volume.target,
                None,
                Some(what.describe()),
            ));
            continue;
        }
        if let Some(replaced) = by_source.get(&volume.source)
            && let MountOrigin::Default { mount } = replaced.origin
            && paths::clean(&replaced.target) != volume.target_clean
        {
            out.push(codes::volume_replaces_default_mount(
                volume.source_span,
                &volume.source,
                mount.describe(),
                &replaced.target,
            ));
        }
        by_source.insert(
            volume.source.clone(),
            Mount {
                source: volume.source.clone(),
                target: volume.target.clone(),
                read_only: volume.read_only,
                origin: MountOrigin::Template(volume.origin),
            },
        );
    }
    let mut mounts: Vec<Mount> = by_source.into_values().collect();
    mounts.sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_grammar_splits_segments() {
        let p = parse_path("/a//b/..");
        assert!(p.absolute);
        assert_eq!(p.segments, vec![1..2, 3..3, 4..5, 6..8]);
        assert_eq!(parse_path("").segments, vec![0..0]);
        assert!(!parse_path("rel/x").absolute);
    }

    #[test]
    fn path_problems() {
        assert_eq!(check_path("", Side::Host), vec![PathProblem::Empty]);
        assert_eq!(
            check_path("data/../x:y", Side::Host),
            vec![
                PathProblem::NotAbsolute,
                PathProblem::ParentSegment(5..7),
                PathProblem::Colon(9..10)
            ]
        );
        assert_eq!(
            check_path("/./", Side::Container),
            vec![PathProblem::TargetRoot]
        );
        assert!(check_path("/", Side::Host).is_empty());
        assert!(check_path("/data/..x", Side::Host).is_empty());
    }

    #[test]
    fn default_mounts_with_tars_hostpath_follow_upstream_arithmetic() {
        let mounts = default_mounts(&DefaultMountInputs {
            server_dir: "/usr/local/app/tars/tarsnode/data/Test.BroadcastServer",
            log_path: "/usr/local/app/tars/app_log/",
            tars_path: "/usr/local/app/tars/",
            host_path: Some("/data/tars"),
        });
        assert_eq!(
            mounts[0].source,
            "/data/tars/tarsnode-data/Test.BroadcastServer"
        );
        assert_eq!(
            mounts[0].target,
            "/usr/local/app/tars/tarsnode/data/Test.BroadcastServer"
        );
        assert_eq!(mounts[1].source, "/data/tars/app_log");
        assert_eq!(mounts[1].target, "/usr/local/app/tars/app_log/");
        assert_eq!(mounts[2].source, "/etc/localtime");
        assert!(mounts[2].read_only);
    }

    #[test]
    fn default_mounts_outside_tars_path_are_not_rewritten() {
        let mounts = default_mounts(&DefaultMountInputs {
            server_dir: "/opt/svc/Test.A",
            log_path: "/var/log/tars/",
            tars_path: "/usr/local/app/tars/",
            host_path: Some("/data/tars"),
        });
        assert_eq!(mounts[0].source, "/opt/svc/Test.A");
        assert_eq!(mounts[1].source, "/var/log/tars");
    }
}
