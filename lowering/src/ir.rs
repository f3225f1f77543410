//! The container IR: one [`ContainerPlan`] per service, already decided for a [`Target`], with
//! the origin of every mount and port (a framework default, a service endpoint, or a template
//! line with its spans).
//!
//! Serialisation is stable: field order is declaration order, collections are sorted or kept in
//! a documented order, and nothing depends on hashing or the clock. Spans in origins point into
//! the config text that was lowered.

use std::collections::BTreeMap;
use std::fmt;

use parser::{ParamOrigin, Span};
use serde::Serialize;

/// Label key: always `tarsdock`, so that `tarsdock` never touches a container it did not make.
pub const LABEL_MANAGED_BY: &str = "tarsdock.managed-by";
/// Label key: the Tars application.
pub const LABEL_APP: &str = "tarsdock.app";
/// Label key: the Tars server name.
pub const LABEL_SERVER: &str = "tarsdock.server";
/// Label key: the Tars node the container was planned for.
pub const LABEL_NODE: &str = "tarsdock.node";
/// Label key: [`crate::hash::plan_hash`] of everything that defines the container.
pub const LABEL_PLAN_HASH: &str = "tarsdock.plan-hash";
/// Label key: where the host reaches the service's admin servant (`AdminObj`): its `local`
/// endpoint as tarsdock connects to it (see [`crate::endpoint::admin_address`]), written
/// `tcp -h HOST -p PORT`. The runtime's graceful stop, `notify` and `status --probe` read it.
pub const LABEL_ADMIN_ENDPOINT: &str = "tarsdock.admin-endpoint";
/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "tarsdock";

/// The platform a plan is lowered for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Docker on Linux: host network and host IPC, nothing published.
    #[default]
    Linux,
    /// Docker Desktop on macOS: bridge network with published ports; the node and registry are
    /// reached through `host.docker.internal`.
    Mac,
}

impl Target {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Mac => "mac",
        }
    }

    /// Parses `linux` or `mac`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "linux" => Some(Self::Linux),
            "mac" => Some(Self::Mac),
            _ => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container, fully decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerPlan {
    /// `App.Server`, as tarsnode names it.
    pub name: String,
    pub image: String,
    pub target: Target,
    /// `["<exePath>/tars_start.sh"]` unless overridden. No `Cmd` is sent.
    pub entrypoint: Vec<String>,
    pub entrypoint_origin: ValueOrigin,
    /// Sent as the container's `WorkingDir` (upstream meant `/` but misplaced it).
    pub working_dir: String,
    pub network: Network,
    pub ipc_mode: IpcMode,
    /// Sorted by source, then target (upstream sends its host-path map in key order).
    pub mounts: Vec<Mount>,
    pub labels: Labels,
    pub privileged: bool,
    /// Seconds between SIGTERM and SIGKILL on stop.
    pub stop_timeout: u32,
    pub stop_timeout_origin: ValueOrigin,
    /// `None`: no restart policy is sent (tarsnode supervises and restarts the service).
    pub restart_policy: Option<RestartPolicy>,
    /// Edits the service config needs on this target (see [`EndpointRewrite`]).
    pub endpoint_rewrites: Vec<EndpointRewrite>,
}

/// Where a single value of the plan came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ValueOrigin {
    /// tarsdock's (or tarsnode's) default.
    Default,
    /// An option of the caller (a CLI flag, node inputs).
    Option { name: String },
    /// A line of the lowered config.
    Config(TemplateLine),
}

/// A line of the lowered config: the trimmed line, the raw key and the raw value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateLine {
    pub line: Span,
    pub key: Span,
    pub value: Option<Span>,
}

impl From<ParamOrigin> for TemplateLine {
    fn from(origin: ParamOrigin) -> Self {
        Self {
            line: origin.line,
            key: origin.key,
            value: origin.value,
        }
    }
}

/// The container's network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Network {
    /// `NetworkMode=host`: the service binds host interfaces directly; nothing is published.
    Host,
    /// `NetworkMode=bridge` with these published ports, in container-port order.
    Bridge { ports: Vec<PortBinding> },
}

impl Network {
    #[must_use]
    pub const fn mode(&self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Bridge { .. } => "bridge",
        }
    }

    /// The published ports (none on the host network).
    #[must_use]
    pub fn ports(&self) -> &[PortBinding] {
        match self {
            Self::Host => &[],
            Self::Bridge { ports } => ports,
        }
    }
}

/// The container's IPC namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpcMode {
    /// `IpcMode=host`: shared memory with the host (what tarsnode meant to send on Linux).
    Host,
    /// Nothing sent: the daemon's default (private or shareable).
    Default,
}

/// A bind mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Host path, as given (framework sources may be rewritten by `TARS_HOSTPATH`).
    pub source: String,
    /// Container path, as given.
    pub target: String,
    pub read_only: bool,
    pub origin: MountOrigin,
}

/// Why a mount exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MountOrigin {
    /// One of tarsnode's own mounts.
    Default { mount: DefaultMount },
    /// A `<volumes>` line `host=container`.
    Template(TemplateLine),
}

/// The mounts tarsnode always adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultMount {
    /// The service directory (`bin/`, `conf/`, `data/`).
    ServerDir,
    /// The log directory.
    LogDir,
    /// `/etc/localtime`, so the service logs in the host's time zone (mounted read-only).
    LocalTime,
}

impl DefaultMount {
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::ServerDir => "the server directory",
            Self::LogDir => "the log directory",
            Self::LocalTime => "`/etc/localtime`",
        }
    }
}

/// Transport protocol of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive port range; `start == end` is a single port. `0` as a host port asks the
/// daemon for an ephemeral port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    #[must_use]
    pub const fn single(port: u16) -> Self {
        Self {
            start: port,
            end: port,
        }
    }

    #[must_use]
    pub const fn is_single(self) -> bool {
        self.start == self.end
    }

    /// Number of ports minus one.
    #[must_use]
    pub const fn span(self) -> u16 {
        self.end - self.start
    }

    #[must_use]
    pub const fn overlaps(self, other: Self) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// One published port: `container_port/proto` on `host_ip:host_port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortBinding {
    pub container_port: u16,
    pub proto: Proto,
    /// Empty: every interface.
    pub host_ip: String,
    /// A single port, `0` (ephemeral), or a range to allocate from.
    pub host_port: PortRange,
    pub origin: PortOrigin,
}

impl PortBinding {
    /// The Engine API key, `80/tcp`.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

/// Why a port is published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PortOrigin {
    /// A servant adapter's endpoint (tarsnode publishes every one).
    Adapter {
        name: String,
        line: Option<TemplateLine>,
    },
    /// The local admin endpoint, on 127.0.0.1.
    LocalAdmin { line: Option<TemplateLine> },
    /// A `<ports>` line.
    Template(TemplateLine),
}

/// The labels put on the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Labels {
    pub app: String,
    pub server: String,
    pub node: Option<String>,
    /// `sha256:<hex>` of the plan (see [`crate::hash`]).
    pub plan_hash: String,
    /// [`LABEL_ADMIN_ENDPOINT`]: the admin endpoint as reached from the host, when the service
    /// has a usable `local` endpoint.
    pub admin_endpoint: Option<String>,
}

impl Labels {
    /// The label map sent to Docker, sorted by key.
    #[must_use]
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        map.insert(LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned());
        map.insert(LABEL_APP.to_owned(), self.app.clone());
        map.insert(LABEL_SERVER.to_owned(), self.server.clone());
        if let Some(node) = &self.node {
            map.insert(LABEL_NODE.to_owned(), node.clone());
        }
        map.insert(LABEL_PLAN_HASH.to_owned(), self.plan_hash.clone());
        if let Some(admin) = &self.admin_endpoint {
            map.insert(LABEL_ADMIN_ENDPOINT.to_owned(), admin.clone());
        }
        map
    }
}

/// A Docker restart policy. tarsdock sends none by default: tarsnode's keep-alive restarts a
/// dead service itself, and a daemon restart would race with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    UnlessStopped,
    OnFailure { max_retries: Option<u32> },
}

impl RestartPolicy {
    /// The Engine API / `docker run --restart` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Always => "always",
            Self::UnlessStopped => "unless-stopped",
            Self::OnFailure { .. } => "on-failure",
        }
    }

    /// Parses `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`.
    #[must_use]
    pub fn from_name(text: &str) -> Option<Self> {
        match text {
            "no" => Some(Self::No),
            "always" => Some(Self::Always),
            "unless-stopped" => Some(Self::UnlessStopped),
            "on-failure" => Some(Self::OnFailure { max_retries: None }),
            _ => {
                let retries = text.strip_prefix("on-failure:")?.parse().ok()?;
                Some(Self::OnFailure {
                    max_retries: Some(retries),
                })
            }
        }
    }
}

/// A value of the service config that must differ on this target: on Docker Desktop the node and
/// the registry are not on the container's loopback, so upstream writes `host.docker.internal`
/// where the node's endpoint and the locator say `127.0.0.1` or `localhost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointRewrite {
    /// The config path, e.g. `/tars/application/server<node>`.
    pub path: String,
    pub from: String,
    pub to: String,
    pub line: Option<TemplateLine>,
}
