//! Lowering a service config to a [`ContainerPlan`]: the `<container>` checks, the default
//! mounts, the published ports, the target's network and IPC modes, labels and the plan hash.
//!
//! [`lower`] is pure and deterministic: its diagnostics are sorted by span, then code.

use parser::{Config, Diagnostic, Span};

use crate::codes::{security as sec, target as codes};
use crate::endpoint::{Endpoint, rewrite_loopback};
use crate::field::Line;
use crate::hash;
use crate::ir::{
    ContainerPlan, DefaultMount, EndpointRewrite, IpcMode, Labels, MountOrigin, Network,
    PortBinding, PortOrigin, PortRange, RestartPolicy, Target, TemplateLine, ValueOrigin,
};
use crate::policy::Allowance;
use crate::ports::{self, AutomaticPort};
use crate::volumes::{self, DefaultMountInputs};

/// The path of the `<container>` domain.
pub const CONTAINER_PATH: &[u8] = b"/tars/application/container";

/// The host name Docker Desktop gives containers for the host (upstream `hostIp()` on
/// non-Linux builds).
pub const DOCKER_DESKTOP_HOST: &str = "host.docker.internal";

/// What the caller allows a template to ask of the host (see [`crate::policy`]). Everything
/// is refused by default.
pub use crate::policy::Allow as Policy;

/// A value of the service, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: ValueOrigin,
}

impl Setting {
    /// A value given by the caller (a flag, node inputs).
    #[must_use]
    pub fn from_option(value: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            origin: ValueOrigin::Option { name: name.into() },
        }
    }

    /// A value read from a config line.
    #[must_use]
    pub fn from_line(value: impl Into<String>, line: TemplateLine) -> Self {
        Self {
            value: value.into(),
            origin: ValueOrigin::Config(line),
        }
    }

    /// The span to point at: the value of the line, or `fallback`.
    #[must_use]
    pub fn span_or(&self, fallback: Span) -> Span {
        match &self.origin {
            ValueOrigin::Config(line) => line.value.unwrap_or(line.line),
            _ => fallback,
        }
    }
}

/// A servant adapter: its name and the endpoint it is published on (the configured one, before
/// the container-mode rewrite of its host to `0.0.0.0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    pub name: String,
    pub endpoint: Endpoint,
    pub line: Option<TemplateLine>,
}

/// Everything about the service that a plan needs besides the `<container>` domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub app: String,
    pub server: String,
    pub node: Option<String>,
    /// `serverDir`: mounted on itself.
    pub server_dir: Setting,
    /// `exePath`: the entrypoint is `<exePath>/tars_start.sh`.
    pub exe_path: Setting,
    /// The log directory: mounted on itself.
    pub log_path: Setting,
    pub adapters: Vec<Adapter>,
    /// The local admin endpoint (published on 127.0.0.1 on a bridged network).
    pub local: Option<(Endpoint, Option<TemplateLine>)>,
    /// `/tars/application/server<node>`, for the Docker Desktop rewrite.
    pub node_endpoint: Option<Setting>,
    /// `/tars/application/client<locator>`, for the Docker Desktop rewrite.
    pub locator: Option<Setting>,
    /// `/tars/application/server<deactivating-timeout>` in milliseconds.
    pub deactivating_timeout: Option<Setting>,
}

/// How to lower: target, image, host layout and policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    pub image: String,
    pub target: Target,
    /// tarsnode's `TarsPath` (with or without a trailing `/`); default: the parent of the log
    /// path, as TarsCpp computes it.
    pub tars_path: Option<String>,
    /// `TARS_HOSTPATH`: the host side of tarsnode's data mount when tarsnode runs in a
    /// container. The cli reads the environment; lowering only takes the value.
    pub host_path: Option<String>,
    pub policy: Policy,
    /// How host paths are seen: as written (the default, and what `lint` sees), or resolved on
    /// the host by the caller's resolver (`plan`, `launch`, `deploy`).
    pub host: crate::policy::HostView,
    /// Replaces `<exePath>/tars_start.sh`.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the working directory `/`.
    pub working_dir: Option<String>,
    pub restart_policy: Option<RestartPolicy>,
}

/// The result of [`lower`]: the plan (absent when the service cannot be planned at all) and
/// every finding, sorted by span then code.
#[derive(Clone, Debug)]
pub struct Lowered {
    pub plan: Option<ContainerPlan>,
    pub diagnostics: Vec<Diagnostic>,
    /// What the mounts were checked against (tars root, service, log root), for the runtime's
    /// second check of the same plan just before the container is created.
    pub context: crate::policy::Context,
}

impl Lowered {
    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == parser::Severity::Error)
    }
}

/// Every finding about the `<container>` domain that needs only the template: volume and port
/// lines, security, unknown settings. This is what `lint` reports; [`lower`] reports the same and
/// more. Sorted by span then code.
#[must_use]
pub fn check_container(config: &Config, policy: Policy) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let checks = MountChecks {
        allow: policy,
        context: &crate::policy::Context::default(),
        host: &crate::policy::HostView::lexical(),
    };
    let _ = Section::check(config, &checks, &mut out);
    out.sort_by_key(Diagnostic::sort_key);
    out
}

/// Lowers `config` (the service's generated config) for `service` with `options`.
#[must_use]
pub fn lower(config: &Config, service: &Service, options: &PlanOptions) -> Lowered {
    let mut out = Vec::new();
    let tars_path = options.tars_path.clone().map_or_else(
        || default_tars_path(&service.log_path.value),
        |p| {
            if p.ends_with('/') { p } else { format!("{p}/") }
        },
    );
    let host_path = options.host_path.as_deref().filter(|h| !h.is_empty());
    let defaults = volumes::default_mounts(&DefaultMountInputs {
        server_dir: &service.server_dir.value,
        log_path: &service.log_path.value,
        tars_path: &tars_path,
        host_path,
    });
    // Mount sources are host paths: with `TARS_HOSTPATH` the tars root on the host is that.
    let log_root = defaults
        .iter()
        .find(|m| {
            m.origin
                == MountOrigin::Default {
                    mount: DefaultMount::LogDir,
                }
        })
        .map(|m| m.source.clone());
    let context = crate::policy::Context::new(
        Some(host_path.unwrap_or(&tars_path)),
        Some((&service.app, &service.server)),
    )
    .with_log_root(log_root.as_deref());
    let checks = MountChecks {
        allow: options.policy,
        context: &context,
        host: &options.host,
    };
    let section = Section::check(config, &checks, &mut out);
    let defaults = check_default_mounts(defaults, service, &checks, &mut out);
    let mounts = volumes::merge(defaults, &section.volumes, &mut out);
    let mounts = check_nested_mounts(mounts, service, &checks, &mut out);

    let (network, ipc_mode, endpoint_rewrites) = match options.target {
        Target::Linux => {
            if let Some((domain, lines)) = &section.ports_domain
                && !lines.is_empty()
            {
                out.push(codes::ports_ignored_on_host_network(*domain, lines));
            }
            (Network::Host, IpcMode::Host, Vec::new())
        }
        Target::Mac => {
            let automatic = automatic_ports(service, &mut out);
            let ports = ports::combine(automatic, &section.ports, &mut out);
            let rewrites = loopback_rewrites(service, &mut out);
            (Network::Bridge { ports }, IpcMode::Default, rewrites)
        }
    };

    let (entrypoint, entrypoint_origin) = match &options.entrypoint {
        Some(e) => (
            e.clone(),
            ValueOrigin::Option {
                name: "entrypoint".to_owned(),
            },
        ),
        None => (
            vec![crate::paths::simplify_directory(&format!(
                "{}/tars_start.sh",
                service.exe_path.value
            ))],
            service.exe_path.origin.clone(),
        ),
    };
    let (stop_timeout, stop_timeout_origin) = stop_timeout(service);

    let mut plan = ContainerPlan {
        name: format!("{}.{}", service.app, service.server),
        image: options.image.clone(),
        target: options.target,
        entrypoint,
        entrypoint_origin,
        working_dir: options
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".to_owned()),
        network,
        ipc_mode,
        mounts,
        labels: Labels {
            app: service.app.clone(),
            server: service.server.clone(),
            node: service.node.clone(),
            plan_hash: String::new(),
            admin_endpoint: service.local.as_ref().and_then(|(local, _)| {
                crate::endpoint::admin_address(local, options.target)
                    .map(|(host, port)| format!("tcp -h {host} -p {port}"))
            }),
        },
        privileged: section.privileged && options.policy.allows(Allowance::Privileged),
        stop_timeout,
        stop_timeout_origin,
        restart_policy: options.restart_policy,
        endpoint_rewrites,
    };
    plan.labels.plan_hash = hash::plan_hash(&plan);
    out.sort_by_key(Diagnostic::sort_key);
    out.dedup();
    Lowered {
        plan: Some(plan),
        diagnostics: out,
        context,
    }
}

/// What the mount checks of one lowering share: the caller's allowances, the tars layout
/// and service, and how host paths are seen.
pub(crate) struct MountChecks<'a> {
    pub(crate) allow: Policy,
    pub(crate) context: &'a crate::policy::Context,
    pub(crate) host: &'a crate::policy::HostView,
}

impl MountChecks<'_> {
    /// Checks one host path; reports a finding at `span`. Returns whether the mount may go
    /// into the plan (no finding, or one the caller allows).
    pub(crate) fn allows(
        &self,
        source: &str,
        read_only: bool,
        span: Span,
        what: &str,
        out: &mut Vec<Diagnostic>,
    ) -> bool {
        let mount = crate::policy::HostMount { source, read_only };
        match crate::policy::check_mount(mount, self.context, self.host) {
            None => true,
            Some(finding) => {
                let allowed = self.allow.allows(finding.allowance());
                out.push(sec::refused_mount(span, what, &finding, allowed));
                allowed
            }
        }
    }
}

/// The mounts that do not lie inside another writable mount (or that the caller allows).
fn check_nested_mounts(
    mounts: Vec<crate::ir::Mount>,
    service: &Service,
    checks: &MountChecks<'_>,
    out: &mut Vec<Diagnostic>,
) -> Vec<crate::ir::Mount> {
    let hosts: Vec<crate::policy::HostMount<'_>> = mounts
        .iter()
        .map(|m| crate::policy::HostMount {
            source: &m.source,
            read_only: m.read_only,
        })
        .collect();
    let nested = crate::policy::nested_in_writable(&hosts, checks.host);
    if nested.is_empty() {
        return mounts;
    }
    let allowed = checks.allow.allows(Allowance::NestedMounts);
    let describe = |mount: &crate::ir::Mount| match &mount.origin {
        MountOrigin::Default {
            mount: DefaultMount::LocalTime,
        } => "tarsnode's mount of `/etc/localtime`".to_owned(),
        MountOrigin::Default { mount: which } => {
            format!("{} (`{}`)", which.describe(), mount.source)
        }
        MountOrigin::Template(_) => format!("the volume `{}`", mount.source),
    };
    let mut dropped = vec![false; mounts.len()];
    for n in &nested {
        let (Some(inner), Some(outer)) = (mounts.get(n.inner), mounts.get(n.outer)) else {
            continue;
        };
        // Point at the template line that makes the pair: the inner volume, else the outer one.
        let at_outer = !matches!(inner.origin, MountOrigin::Template(_))
            && matches!(outer.origin, MountOrigin::Template(_));
        let span = match (&inner.origin, &outer.origin) {
            (MountOrigin::Template(line), _) | (_, MountOrigin::Template(line)) => line.key,
            (MountOrigin::Default { mount: which }, MountOrigin::Default { .. }) => match which {
                DefaultMount::ServerDir => service.server_dir.span_or(Span::default()),
                DefaultMount::LogDir => service.log_path.span_or(Span::default()),
                DefaultMount::LocalTime => Span::default(),
            },
        };
        let what = match &inner.origin {
            MountOrigin::Template(_) => "volume".to_owned(),
            MountOrigin::Default {
                mount: DefaultMount::LocalTime,
            } => "tarsnode".to_owned(),
            MountOrigin::Default { mount: which } => which.describe().to_owned(),
        };
        out.push(sec::nested_mount(
            span,
            at_outer,
            &what,
            &inner.source,
            &describe(outer),
            allowed,
        ));
        if !allowed {
            dropped[n.inner] = true;
        }
    }
    mounts
        .into_iter()
        .zip(dropped)
        .filter_map(|(m, drop)| (!drop).then_some(m))
        .collect()
}

/// The default mounts that pass the policy. A refused one is reported at the setting it comes
/// from (`datapath`, `logpath`, or the caller's option) and left out.
fn check_default_mounts(
    defaults: Vec<crate::ir::Mount>,
    service: &Service,
    checks: &MountChecks<'_>,
    out: &mut Vec<Diagnostic>,
) -> Vec<crate::ir::Mount> {
    defaults
        .into_iter()
        .filter(|mount| {
            let MountOrigin::Default { mount: which } = mount.origin else {
                return true;
            };
            let (setting, what) = match which {
                DefaultMount::ServerDir => (Some(&service.server_dir), "server directory"),
                DefaultMount::LogDir => (Some(&service.log_path), "log directory"),
                DefaultMount::LocalTime => (None, "`/etc/localtime`"),
            };
            let span = setting.map_or_else(Span::default, |s| s.span_or(Span::default()));
            let what = match setting.map(|s| &s.origin) {
                Some(ValueOrigin::Config(_)) => format!(
                    "the {what} (from `{}`)",
                    if which == DefaultMount::ServerDir {
                        "datapath"
                    } else {
                        "logpath"
                    }
                ),
                Some(ValueOrigin::Option { name }) => format!("the {what} (from --{name})"),
                Some(ValueOrigin::Default) | None => format!("the default mount {what}"),
            };
            checks.allows(&mount.source, mount.read_only, span, &what, out)
        })
        .collect()
}

/// upstream `TarsPath`: `simplifyDirectory(LogPath + "/../") + "/"`.
#[must_use]
pub fn default_tars_path(log_path: &str) -> String {
    format!(
        "{}/",
        crate::paths::simplify_directory(&format!("{log_path}/../"))
    )
}

/// The `<container>` domain, checked.
struct Section {
    volumes: Vec<volumes::TemplateVolume>,
    ports: Vec<ports::TemplatePort>,
    /// The `<ports>` open tag and every line in it.
    ports_domain: Option<(Span, Vec<Span>)>,
    privileged: bool,
}

impl Section {
    fn check(config: &Config, checks: &MountChecks<'_>, out: &mut Vec<Diagnostic>) -> Self {
        let volumes = volumes::check_template(config, checks, out);
        let ports = ports::check_template(config, out);
        let ports_domain = config.domain(ports::PORTS_PATH).ok().flatten().map(|d| {
            (
                d.open_spans().first().copied().unwrap_or_default(),
                d.line_spans().to_vec(),
            )
        });
        let mut privileged = false;
        if let Ok(Some(domain)) = config.domain(CONTAINER_PATH) {
            let fallback = domain.open_spans().first().copied().unwrap_or_default();
            for param in domain.params() {
                let line = Line::new(config, param, fallback);
                if param.key == b"privileged" {
                    let value = String::from_utf8_lossy(param.value);
                    match yes_no(&value) {
                        Some(true) => {
                            privileged = true;
                            out.push(sec::privileged_container(
                                line.origin.line,
                                checks.allow.allows(Allowance::Privileged),
                            ));
                        }
                        Some(false) => {}
                        None => out.push(codes::invalid_container_setting(
                            line.value.map_or(line.origin.line, |v| v.span),
                            "privileged",
                            &value,
                        )),
                    }
                } else {
                    let key = String::from_utf8_lossy(param.key);
                    out.push(codes::unknown_container_setting(
                        line.key.span,
                        "key",
                        &key,
                        suggest(&key, &["privileged"]),
                    ));
                }
            }
            for child in domain.children() {
                let name = child.name();
                if name == b"volumes" || name == b"ports" {
                    continue;
                }
                let name = String::from_utf8_lossy(name);
                let suggestion = suggest(&name, &["volumes", "ports"]);
                for &open in child.open_spans() {
                    out.push(codes::unknown_container_setting(
                        open, "domain", &name, suggestion,
                    ));
                }
            }
        }
        Self {
            volumes,
            ports,
            ports_domain,
            privileged,
        }
    }
}

/// A yes/no word, in any case.
fn yes_no(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "0" | "no" | "n" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The known name closest to `name`, when it is a plausible typo (edit distance ≤ 2).
fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .copied()
        .map(|k| (edit_distance(&lower, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// tarsnode's automatic ports on a bridged network: every adapter on its configured host, and
/// the local admin port on 127.0.0.1.
fn automatic_ports(service: &Service, out: &mut Vec<Diagnostic>) -> Vec<AutomaticPort> {
    let mut ports = Vec::new();
    for adapter in &service.adapters {
        let span = adapter
            .line
            .map_or_else(Span::default, |l| l.value.unwrap_or(l.line));
        let host = adapter.endpoint.host.as_str();
        let host_ip = match host.parse::<std::net::IpAddr>() {
            Ok(_) => host.to_owned(),
            Err(_) => {
                out.push(codes::invalid_service_setting(
                    span,
                    "adapter host",
                    host,
                    "Docker publishes on IP addresses only: configure the adapter with the node's IP",
                ));
                continue;
            }
        };
        ports.push(AutomaticPort {
            binding: PortBinding {
                container_port: adapter.endpoint.port,
                proto: adapter.endpoint.transport.proto(),
                host_ip,
                host_port: PortRange::single(adapter.endpoint.port),
                origin: PortOrigin::Adapter {
                    name: adapter.name.clone(),
                    line: adapter.line,
                },
            },
            span,
            what: format!("adapter `{}`", adapter.name),
        });
    }
    if let Some((local, line)) = &service.local {
        let span = line.map_or_else(Span::default, |l| l.value.unwrap_or(l.line));
        ports.push(AutomaticPort {
            binding: PortBinding {
                container_port: local.port,
                proto: local.transport.proto(),
                host_ip: "127.0.0.1".to_owned(),
                host_port: PortRange::single(local.port),
                origin: PortOrigin::LocalAdmin { line: *line },
            },
            span,
            what: "the local admin endpoint".to_owned(),
        });
    }
    ports
}

/// On Docker Desktop the node endpoint and the locator must name `host.docker.internal` where
/// they say `127.0.0.1` or `localhost`.
fn loopback_rewrites(service: &Service, out: &mut Vec<Diagnostic>) -> Vec<EndpointRewrite> {
    let mut rewrites = Vec::new();
    for (path, setting) in [
        ("/tars/application/server<node>", &service.node_endpoint),
        ("/tars/application/client<locator>", &service.locator),
    ] {
        let Some(setting) = setting else { continue };
        let Some(to) = rewrite_loopback(&setting.value, DOCKER_DESKTOP_HOST) else {
            continue;
        };
        let line = match &setting.origin {
            ValueOrigin::Config(line) => Some(*line),
            _ => None,
        };
        if let Some(line) = line {
            out.push(codes::loopback_endpoint_rewritten(
                line.value.unwrap_or(line.line),
                path,
                &to,
            ));
        }
        rewrites.push(EndpointRewrite {
            path: path.to_owned(),
            from: setting.value.clone(),
            to,
            line,
        });
    }
    rewrites
}

/// Seconds between SIGTERM and SIGKILL: the service's `deactivating-timeout` (ms) in seconds,
/// clamped to 2–60 as tarsnode clamps its wait for a stopping service; 3 s (tarsnode's
/// `docker stop` timeout) without one.
fn stop_timeout(service: &Service) -> (u32, ValueOrigin) {
    const UPSTREAM_STOP_SECONDS: u32 = 3;
    match &service.deactivating_timeout {
        Some(setting) => match setting.value.trim().parse::<i64>() {
            Ok(ms) => {
                let seconds = (ms / 1000).clamp(2, 60);
                (
                    u32::try_from(seconds).unwrap_or(UPSTREAM_STOP_SECONDS),
                    setting.origin.clone(),
                )
            }
            Err(_) => (UPSTREAM_STOP_SECONDS, ValueOrigin::Default),
        },
        None => (UPSTREAM_STOP_SECONDS, ValueOrigin::Default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tars_path_is_the_parent_of_the_log_path() {
        assert_eq!(
            default_tars_path("/usr/local/app/tars/app_log/"),
            "/usr/local/app/tars/"
        );
        assert_eq!(default_tars_path("/a/b"), "/a/");
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("volume", &["volumes", "ports"]), Some("volumes"));
        assert_eq!(suggest("Port", &["volumes", "ports"]), Some("ports"));
        assert_eq!(suggest("network", &["volumes", "ports"]), None);
    }

    #[test]
    fn yes_and_no() {
        assert_eq!(yes_no("TRUE"), Some(true));
        assert_eq!(yes_no("off"), Some(false));
        assert_eq!(yes_no("maybe"), None);
    }
}
