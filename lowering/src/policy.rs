//! The mount and container policy: the one list of what a service may not take from the host,
//! and the decisions every path to the engine shares.
//!
//! - `lint` and `plan` (through [`crate::lower`]) check every mount of a plan with
//!   [`check_mount`]: the `<volumes>` lines and the default mounts derived from the config
//!   (server directory, log directory, `/etc/localtime`). Findings become `TARS-X` diagnostics.
//! - The runtime checks the create body it is about to send with [`check_create_body`], just
//!   before the container is created, whoever built the body (`launch CONFIG`, `launch
//!   --request`, `deploy`, the Engine API front).
//!
//! Both see host paths through a [`HostView`]. This module does no I/O: the view's resolver is
//! the caller's (lint and tests use the lexical one, which resolves nothing; `plan`, `launch`
//! and the runtime pass one that follows links on the host, see `runtime::policy`). A mount is
//! checked twice: as written (cleaned lexically, as the daemon cleans it) and as resolved, and
//! refused when either is on the list, so the runtime refuses at least what `lint` reports.
//!
//! # What is refused
//!
//! A host path is checked against [`SENSITIVE`] with two kinds of entry: a *tree* (`/etc`) is
//! refused itself, below it (`/etc/ssl`) and above it (`/`, which contains it); a *directory*
//! (`/usr`) only itself and above it, so that `/usr/local/app/tars/...` stays usable.
//! Container-engine sockets are refused by name wherever they are, by identity with the socket
//! the runtime talks to, and through `/run` and `/var/run`, which hold them. Under the tars root
//! (the `TarsPath`, or `TARS_HOSTPATH` when tarsnode runs in a container), a service may mount
//! its own server directory and the shared log root (as upstream does), nothing else of
//! tarsnode's or of other services. The time-zone files (`/etc/localtime`, `/etc/timezone`,
//! `/usr/share/zoneinfo`) may be mounted read-only. Container settings (privileged, host
//! namespaces, capabilities, devices, security options, sysctls, shared propagation, …) are
//! refused unless the caller allows them by name ([`Allowance`]).

use std::fmt;
use std::sync::Arc;

use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, Mount,
    MountBindOptionsPropagationEnum, MountType,
};

use crate::paths;

/// Something the policy refuses unless the caller names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Allowance {
    /// Host system paths (`/`, `/etc`, `/usr`, `/var/lib/docker`, …) and device nodes.
    HostMounts,
    /// A container engine's socket, or a directory holding one (`/run`, `/var/run`).
    EngineSocket,
    /// The tars root, tarsnode's directories and other services' directories.
    TarsDirs,
    /// `Privileged`.
    Privileged,
    /// `CapAdd`.
    CapAdd,
    /// `Devices`, `DeviceRequests`, `DeviceCgroupRules`.
    Devices,
    /// `PidMode` (host, or another container's).
    Pid,
    /// `IpcMode` of another container (`host` is what tarsdock plans on Linux).
    Ipc,
    /// `UsernsMode=host`.
    Userns,
    /// `UTSMode=host`.
    Uts,
    /// `CgroupnsMode=host`, `Cgroup`.
    Cgroupns,
    /// `SecurityOpt` (unconfined seccomp/AppArmor, `label=disable`, …), `MaskedPaths`,
    /// `ReadonlyPaths`.
    SecurityOpt,
    /// `Sysctls`.
    Sysctls,
    /// `shared`/`rshared` bind propagation.
    Propagation,
    /// `VolumesFrom`.
    VolumesFrom,
    /// `NetworkMode=container:…`.
    NetworkContainer,
    /// A tmpfs over `/proc` or `/sys` in the container.
    Tmpfs,
    /// A mount whose host path lies inside another mount the container can write.
    NestedMounts,
}

impl Allowance {
    /// Every allowance, in declaration order.
    pub const ALL: [Self; 18] = [
        Self::HostMounts,
        Self::EngineSocket,
        Self::TarsDirs,
        Self::Privileged,
        Self::CapAdd,
        Self::Devices,
        Self::Pid,
        Self::Ipc,
        Self::Userns,
        Self::Uts,
        Self::Cgroupns,
        Self::SecurityOpt,
        Self::Sysctls,
        Self::Propagation,
        Self::VolumesFrom,
        Self::NetworkContainer,
        Self::Tmpfs,
        Self::NestedMounts,
    ];

    /// The name used by `--allow`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HostMounts => "host-mounts",
            Self::EngineSocket => "engine-socket",
            Self::TarsDirs => "tars-dirs",
            Self::Privileged => "privileged",
            Self::CapAdd => "cap-add",
            Self::Devices => "devices",
            Self::Pid => "pid",
            Self::Ipc => "ipc",
            Self::Userns => "userns",
            Self::Uts => "uts",
            Self::Cgroupns => "cgroupns",
            Self::SecurityOpt => "security-opt",
            Self::Sysctls => "sysctls",
            Self::Propagation => "propagation",
            Self::VolumesFrom => "volumes-from",
            Self::NetworkContainer => "network-container",
            Self::Tmpfs => "tmpfs",
            Self::NestedMounts => "nested-mounts",
        }
    }

    /// The allowance of a name (as [`Self::name`] spells it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the caller allows: a set of [`Allowance`]s. The default allows nothing.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Allow(u32);

impl Allow {
    /// Nothing allowed.
    pub const NONE: Self = Self(0);

    /// What `--allow-host-mounts` allows: every mount refusal (system paths, engine sockets,
    /// tars directories, mounts inside writable mounts).
    pub const HOST_MOUNTS: Self = Self(
        Allowance::HostMounts.bit()
            | Allowance::EngineSocket.bit()
            | Allowance::TarsDirs.bit()
            | Allowance::NestedMounts.bit(),
    );

    /// This set and `allowance`.
    #[must_use]
    pub const fn with(self, allowance: Allowance) -> Self {
        Self(self.0 | allowance.bit())
    }

    /// Both sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `allowance` is in the set.
    #[must_use]
    pub const fn allows(self, allowance: Allowance) -> bool {
        self.0 & allowance.bit() != 0
    }

    /// The set of the two historical flags, `--allow-host-mounts` and `--allow-privileged`.
    #[must_use]
    pub const fn from_flags(host_mounts: bool, privileged: bool) -> Self {
        let mut allow = Self::NONE;
        if host_mounts {
            allow = allow.union(Self::HOST_MOUNTS);
        }
        if privileged {
            allow = allow.with(Allowance::Privileged);
        }
        allow
    }

    /// Parses names separated by commas (`cap-add,pid`); blanks are ignored.
    ///
    /// # Errors
    /// The first unknown name, with the list of known ones.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allow = Self::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Allowance::from_name(name) {
                Some(a) => allow = allow.with(a),
                None => {
                    let known: Vec<&str> = Allowance::ALL.iter().map(|a| a.name()).collect();
                    return Err(format!(
                        "unknown allowance `{name}` (known: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(allow)
    }

    /// The allowances in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Allowance> {
        Allowance::ALL.into_iter().filter(move |a| self.allows(*a))
    }
}

impl fmt::Debug for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Allowance::name))
            .finish()
    }
}

/// Which kind of path a mount hits; decides the `TARS-X` code of a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A host system path or a device node (`TARS-X001`).
    System,
    /// A container engine's socket or a directory holding one (`TARS-X002`).
    EngineSocket,
    /// The tars root, tarsnode's or another service's directory (`TARS-X004`).
    TarsDir,
}

impl Class {
    /// The allowance that lets a mount of this class through.
    #[must_use]
    pub const fn allowance(self) -> Allowance {
        match self {
            Self::System => Allowance::HostMounts,
            Self::EngineSocket => Allowance::EngineSocket,
            Self::TarsDir => Allowance::TarsDirs,
        }
    }
}

/// How a path relates to the listed path it hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// It is the listed path.
    Is,
    /// It lies below the listed path.
    Below,
    /// It contains the listed path (a parent directory).
    Contains,
}

/// Whether a listed path is refused below itself too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The path, everything below it, and every directory above it.
    Tree,
    /// The path and every directory above it; what lies below is not refused by this entry.
    Directory,
}

/// One entry of the sensitive list. A pattern segment ending in `*` matches names starting
/// with what precedes it (`/lib*` is `/lib`, `/lib64`, `/libx32`…; `/home/*` any home).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sensitive {
    pub pattern: &'static str,
    pub scope: Scope,
    pub class: Class,
    /// What it is, for messages ("the host's configuration").
    pub what: &'static str,
}

const fn tree(pattern: &'static str, class: Class, what: &'static str) -> Sensitive {
    Sensitive {
        pattern,
        scope: Scope::Tree,
        class,
        what,
    }
}

const fn directory(pattern: &'static str, what: &'static str) -> Sensitive {
    Sensitive {
        pattern,
        scope: Scope::Directory,
        class: Class::System,
        what,
    }
}

/// The host paths a service may not mount (besides engine sockets by name and the tars
/// directories, which depend on the context). Anchors: kube-linter's `sensitive-host-mounts`,
/// the Pod Security Standards' hostPath rules, and what Docker's own documentation warns about.
pub const SENSITIVE: &[Sensitive] = &[
    tree(
        "/run",
        Class::EngineSocket,
        "the host's runtime state, with the container engines' sockets",
    ),
    tree(
        "/var/run",
        Class::EngineSocket,
        "the host's runtime state, with the container engines' sockets",
    ),
    tree("/etc", Class::System, "the host's configuration"),
    tree("/proc", Class::System, "the kernel's process interface"),
    tree("/sys", Class::System, "the kernel's device interface"),
    tree("/dev", Class::System, "the host's devices"),
    tree("/boot", Class::System, "the kernel and boot loader"),
    tree("/root", Class::System, "root's home directory"),
    tree("/bin", Class::System, "the host's programs"),
    tree("/sbin", Class::System, "the host's programs"),
    tree("/lib*", Class::System, "the host's libraries"),
    directory("/usr", "the host's installed software"),
    tree("/usr/bin", Class::System, "the host's programs"),
    tree("/usr/sbin", Class::System, "the host's programs"),
    tree("/usr/lib*", Class::System, "the host's libraries"),
    tree("/usr/libexec", Class::System, "the host's programs"),
    directory("/usr/local", "locally installed software"),
    tree("/usr/local/bin", Class::System, "programs on root's PATH"),
    tree("/usr/local/sbin", Class::System, "programs on root's PATH"),
    tree(
        "/usr/local/lib*",
        Class::System,
        "locally installed libraries",
    ),
    directory("/var", "the host's variable data"),
    directory("/var/lib", "the host's services' state"),
    tree(
        "/var/lib/docker",
        Class::System,
        "the Docker engine's state, with every container's files",
    ),
    tree("/var/lib/containerd", Class::System, "containerd's state"),
    tree(
        "/var/lib/containers",
        Class::System,
        "CRI-O's and Podman's state",
    ),
    tree("/var/lib/kubelet", Class::System, "the kubelet's state"),
    directory("/var/log", "the host's logs"),
    directory("/var/spool", "the host's spool"),
    tree("/var/spool/cron", Class::System, "cron jobs run as root"),
    directory("/home", "the users' home directories"),
    directory("/home/*", "a user's home directory"),
    tree(
        "/home/*/.*",
        Class::System,
        "a user's login and shell settings",
    ),
];

/// File names of container-engine sockets, refused wherever they are.
pub const ENGINE_SOCKET_NAMES: &[&str] = &[
    "docker.sock",
    "dockershim.sock",
    "cri-dockerd.sock",
    "containerd.sock",
    "containerd.sock.ttrpc",
    "crio.sock",
    "podman.sock",
    "buildkitd.sock",
    "kubelet.sock",
];

/// Files a service may mount read-only: the host's time zone.
pub const TIME_ZONE_FILES: &[&str] = &["/etc/localtime", "/etc/timezone"];

/// The time-zone database, which `/etc/localtime` links into.
pub const TIME_ZONE_DIR: &str = "/usr/share/zoneinfo";

/// Whether `path` (cleaned) is one of the time-zone files a service may mount read-only.
#[must_use]
pub fn is_time_zone_path(path: &str) -> bool {
    TIME_ZONE_FILES.contains(&path) || paths::is_within(path, TIME_ZONE_DIR)
}

/// What kind of file a host path is, as far as the view knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathKind {
    /// Not looked at (the lexical view).
    #[default]
    Unknown,
    /// It does not exist (yet).
    Missing,
    Directory,
    File,
    Socket,
    /// A block or character device.
    Device,
    /// A FIFO or anything else.
    Other,
}

/// A file's identity on the host (device and inode), to recognise the engine's socket under
/// any name (hard links included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// What the host says about a path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The path with every link followed (`realpath`, also through missing components), when
    /// it was resolved.
    pub resolved: Option<String>,
    pub kind: PathKind,
    pub id: Option<FileId>,
}

/// A socket of a container engine tarsdock knows about (the one it talks to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSocket {
    /// Its resolved path.
    pub path: String,
    pub id: Option<FileId>,
}

/// How a host path is looked up.
pub type Resolver = Arc<dyn Fn(&str) -> HostFacts + Send + Sync>;

/// How the policy sees the host: a resolver for host paths (none: lexical only) and the
/// engine sockets to protect beyond the well-known names.
#[derive(Clone, Default)]
pub struct HostView {
    resolver: Option<Resolver>,
    /// Engine sockets to refuse by path and by identity.
    pub engine_sockets: Vec<EngineSocket>,
}

impl HostView {
    /// The lexical view: paths are taken as written (what `lint` sees).
    #[must_use]
    pub fn lexical() -> Self {
        Self::default()
    }

    /// A view that looks host paths up with `resolver`.
    #[must_use]
    pub fn resolving(resolver: Resolver, engine_sockets: Vec<EngineSocket>) -> Self {
        Self {
            resolver: Some(resolver),
            engine_sockets,
        }
    }

    /// Whether paths are resolved.
    #[must_use]
    pub fn resolves(&self) -> bool {
        self.resolver.is_some()
    }

    /// What the host says about `path` (nothing in the lexical view).
    #[must_use]
    pub fn facts(&self, path: &str) -> HostFacts {
        self.resolver
            .as_ref()
            .map_or_else(HostFacts::default, |resolve| resolve(path))
    }
}

impl fmt::Debug for HostView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostView")
            .field("resolves", &self.resolves())
            .field("engine_sockets", &self.engine_sockets)
            .finish()
    }
}

impl PartialEq for HostView {
    fn eq(&self, other: &Self) -> bool {
        let same_resolver = match (&self.resolver, &other.resolver) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_resolver && self.engine_sockets == other.engine_sockets
    }
}

impl Eq for HostView {}

/// What the policy knows about the service and the node, for the tars directories.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The tars root on the host (`TARS_HOSTPATH`, else `TarsPath`), cleaned. `None`: the tars
    /// directories are not checked.
    pub tars_root: Option<String>,
    /// The service (`App`, `Server`).
    pub service: Option<(String, String)>,
    /// The shared log root on the host (the log directory mount's source), cleaned; default
    /// `<tars root>/app_log`.
    pub log_root: Option<String>,
}

impl Context {
    /// A context for `app.server` under `tars_root` (either may be unknown).
    #[must_use]
    pub fn new(tars_root: Option<&str>, service: Option<(&str, &str)>) -> Self {
        Self {
            tars_root: tars_root.filter(|r| r.starts_with('/')).map(paths::clean),
            service: service.map(|(a, s)| (a.to_owned(), s.to_owned())),
            log_root: None,
        }
    }

    /// The same context with the service's log root.
    #[must_use]
    pub fn with_log_root(mut self, log_root: Option<&str>) -> Self {
        self.log_root = log_root.filter(|l| l.starts_with('/')).map(paths::clean);
        self
    }
}

/// A host path that a mount would give the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostMount<'a> {
    /// The source as written.
    pub source: &'a str,
    pub read_only: bool,
}

/// Why a host path is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub class: Class,
    /// The source as written.
    pub path: String,
    /// Where the source leads when that, not the written path, is what the policy refuses.
    pub resolved: Option<String>,
    /// The listed path it hits (a pattern such as `/lib*` is shown as the matching directory).
    pub entry: String,
    pub relation: Relation,
    /// What the listed path is.
    pub what: String,
    /// Advice for this case, when there is better advice than "mount something else".
    pub hint: Option<&'static str>,
}

impl Finding {
    /// The allowance that would let this mount through.
    #[must_use]
    pub const fn allowance(&self) -> Allowance {
        self.class.allowance()
    }

    /// The refused path and why, as a phrase: "`/proc/sys`, below `/proc` (the kernel's
    /// process interface)", "`/data/x`, which resolves to `/etc` (the host's configuration)".
    #[must_use]
    pub fn phrase(&self) -> String {
        let mut text = format!("`{}`", self.path);
        if let Some(resolved) = &self.resolved {
            text.push_str(&format!(", which resolves to `{resolved}`"));
        }
        let shown = self.resolved.as_deref().unwrap_or(&self.path);
        match self.relation {
            Relation::Is if paths::clean(shown) == self.entry => {
                text.push_str(&format!(" ({})", self.what));
            }
            Relation::Is => text.push_str(&format!(", `{}` ({})", self.entry, self.what)),
            Relation::Below => text.push_str(&format!(", below `{}` ({})", self.entry, self.what)),
            Relation::Contains => {
                let which = if self.resolved.is_some() {
                    "and"
                } else {
                    "which"
                };
                text.push_str(&format!(
                    ", {which} contains `{}` ({})",
                    self.entry, self.what
                ));
            }
        }
        text
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.phrase())?;
        if let Some(hint) = self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// Checks one host path a mount gives the container. `None`: the policy lets it through.
///
/// The written path is cleaned lexically and checked; then, when the view resolves paths,
/// where it leads. The first finding is returned (the written path's, so that messages do not
/// depend on the host when the text alone is refused).
#[must_use]
pub fn check_mount(mount: HostMount<'_>, context: &Context, host: &HostView) -> Option<Finding> {
    let written = paths::clean(mount.source);
    if !written.starts_with('/') {
        // The engine refuses a relative bind source; nothing on the host is named.
        return None;
    }
    if let Some(finding) = check_path(&written, None, mount, context, host, None) {
        return Some(finding);
    }
    if !host.resolves() {
        return None;
    }
    let facts = host.facts(mount.source);
    let resolved = facts
        .resolved
        .as_deref()
        .filter(|r| r.starts_with('/'))
        .map(paths::clean);
    let shown = resolved.clone().filter(|r| *r != written);
    let target = resolved.as_deref().unwrap_or(&written);
    check_path(target, shown, mount, context, host, Some(&facts))
}

/// A mount whose host path lies inside the host path of another mount that the container can
/// write (`inner` inside `outer`, indices into the list given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nested {
    pub inner: usize,
    pub outer: usize,
}

/// Every mount whose host path (as written or as resolved) lies strictly inside the host path
/// of a writable mount. The container can replace such a path with a link through the outer
/// mount, and the engine follows links in a bind source every time the container starts.
#[must_use]
pub fn nested_in_writable(mounts: &[HostMount<'_>], host: &HostView) -> Vec<Nested> {
    let forms: Vec<Vec<String>> = mounts.iter().map(|m| mount_forms(m.source, host)).collect();
    // Each writable form by path, so that every mount looks up its ancestors (linear in the
    // number of mounts times their depth, not quadratic: lint runs this per keystroke).
    let mut writable: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (j, mount) in mounts.iter().enumerate() {
        if !mount.read_only {
            for form in forms[j].iter().filter(|f| f.starts_with('/')) {
                writable.entry(form.as_str()).or_insert(j);
            }
        }
    }
    let mut out = Vec::new();
    for (inner, inner_forms) in forms.iter().enumerate() {
        let outer = inner_forms.iter().find_map(|form| {
            strict_ancestors(form)
                .find_map(|ancestor| writable.get(ancestor).copied().filter(|&j| j != inner))
        });
        if let Some(outer) = outer {
            out.push(Nested { inner, outer });
        }
    }
    out
}

/// The forms a mount's host path is compared in: as written (cleaned) and, when the view
/// resolves and the path leads elsewhere, as resolved.
#[must_use]
pub fn mount_forms(source: &str, host: &HostView) -> Vec<String> {
    let written = paths::clean(source);
    let mut forms = vec![written.clone()];
    if host.resolves()
        && let Some(resolved) = host.facts(source).resolved
    {
        let resolved = paths::clean(&resolved);
        if resolved != written {
            forms.push(resolved);
        }
    }
    forms
}

/// The directories strictly above a cleaned absolute path, nearest first, `/` last
/// (`/a/b/c` → `/a/b`, `/a`, `/`); nothing for `/` or a relative path.
pub fn strict_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path.starts_with('/').then_some(path);
    std::iter::from_fn(move || {
        let current = rest?;
        let cut = current.rfind('/')?;
        let parent = if cut == 0 { "/" } else { &current[..cut] };
        rest = (parent != current && parent != "/").then_some(parent);
        (parent != current).then_some(parent)
    })
}

/// One cleaned absolute path against the time-zone exception, the engine sockets, the list and
/// the tars directories.
fn check_path(
    path: &str,
    resolved: Option<String>,
    mount: HostMount<'_>,
    context: &Context,
    host: &HostView,
    facts: Option<&HostFacts>,
) -> Option<Finding> {
    let finding = |class, entry: &str, relation, what: &str, hint| Finding {
        class,
        path: mount.source.to_owned(),
        resolved: resolved.clone(),
        entry: entry.to_owned(),
        relation,
        what: what.to_owned(),
        hint,
    };
    let parts = segments(path);
    let listed = |parts: &[&str], class: Class| {
        SENSITIVE
            .iter()
            .filter(|e| e.class == class)
            .find_map(|entry| {
                let relation = relate_pattern(parts, entry.pattern)?;
                let refused = match (entry.scope, relation) {
                    (_, Relation::Is | Relation::Contains) | (Scope::Tree, Relation::Below) => true,
                    (Scope::Directory, Relation::Below) => false,
                };
                refused.then(|| {
                    finding(
                        class,
                        &instantiate(&segments(entry.pattern), parts),
                        relation,
                        entry.what,
                        None,
                    )
                })
            })
    };
    if parts.is_empty() {
        return Some(finding(
            Class::System,
            "/",
            Relation::Is,
            "the host's root directory",
            None,
        ));
    }

    // Engine sockets: by identity, by kind and name, by the paths of known engines.
    if let Some(facts) = facts
        && let Some(id) = facts.id
        && host.engine_sockets.iter().any(|s| s.id == Some(id))
    {
        return Some(finding(
            Class::EngineSocket,
            path,
            Relation::Is,
            "a container engine's socket (the same file, under another name)",
            None,
        ));
    }
    if parts
        .last()
        .is_some_and(|name| ENGINE_SOCKET_NAMES.contains(name))
    {
        return Some(finding(
            Class::EngineSocket,
            path,
            Relation::Is,
            "a container engine's socket",
            None,
        ));
    }

    if let Some(found) = listed(&parts, Class::EngineSocket) {
        return Some(found);
    }
    for socket in &host.engine_sockets {
        let socket_segments = segments(&socket.path);
        if let Some(relation @ (Relation::Is | Relation::Contains)) =
            relate(&parts, &socket_segments)
        {
            return Some(finding(
                Class::EngineSocket,
                &socket.path,
                relation,
                "a container engine's socket",
                None,
            ));
        }
    }

    // The host's time zone, read-only.
    if is_time_zone_path(path) {
        return (!mount.read_only).then(|| {
            finding(
                Class::System,
                path,
                Relation::Is,
                "the host's time zone",
                Some("mount it read-only (tarsnode's default mount of /etc/localtime is)"),
            )
        });
    }
    if let Some(found) = listed(&parts, Class::System) {
        return Some(found);
    }

    if let Some(facts) = facts
        && facts.kind == PathKind::Device
    {
        return Some(finding(
            Class::System,
            path,
            Relation::Is,
            "a device node",
            None,
        ));
    }

    tars_dirs(&parts, context)
        .map(|(entry, relation, what)| finding(Class::TarsDir, &entry, relation, what, None))
}

/// The tars directories rule: under the tars root a service may mount its own server
/// directory, the log root (upstream shares it with every service) and its own log directory.
fn tars_dirs(path: &[&str], context: &Context) -> Option<(String, Relation, &'static str)> {
    let root_text = context.tars_root.as_deref()?;
    let root = segments(root_text);
    let join = |parts: &[&str]| -> String {
        if parts.is_empty() {
            "/".to_owned()
        } else {
            format!("/{}", parts.join("/"))
        }
    };
    match relate(path, &root) {
        Some(relation @ (Relation::Is | Relation::Contains)) => {
            return Some((
                join(&root),
                relation,
                "the tars root, with tarsnode and every service",
            ));
        }
        Some(Relation::Below) => {}
        None => return log_root_rule(path, context, &root, &join),
    }
    let rel = path.get(root.len()..).unwrap_or_default();
    let service = context
        .service
        .as_ref()
        .map(|(app, server)| (app.as_str(), server.as_str(), format!("{app}.{server}")));

    // tarsnode's directory, with the service's own server directory in it.
    let own_server = |first: &[&str], at: usize| {
        service.as_ref().is_some_and(|(_, _, id)| {
            rel.len() > at && rel.get(..at) == Some(first) && rel.get(at) == Some(&id.as_str())
        })
    };
    if own_server(&["tarsnode", "data"], 2) || own_server(&["tarsnode-data"], 1) {
        return None;
    }
    if let Some(first @ ("tarsnode" | "tarsnode-data")) = rel.first().copied() {
        let mut entry = root.clone();
        entry.push(first);
        return Some((
            join(&entry),
            if rel.len() == 1 {
                Relation::Is
            } else {
                Relation::Below
            },
            "tarsnode's directory, with every service's files",
        ));
    }
    if let Some(first) = rel.first().filter(|f| f.starts_with("tars")) {
        let mut entry = root.clone();
        entry.push(first);
        return Some((
            join(&entry),
            if rel.len() == 1 {
                Relation::Is
            } else {
                Relation::Below
            },
            "a Tars framework server's directory",
        ));
    }

    log_root_rule(path, context, &root, &join)
}

/// The log root: itself (upstream's default mount) and the service's own log directory
/// (`<log root>/App/Server`), nothing else in it or above it.
fn log_root_rule(
    path: &[&str],
    context: &Context,
    root: &[&str],
    join: &dyn Fn(&[&str]) -> String,
) -> Option<(String, Relation, &'static str)> {
    let default_log = {
        let mut l = root.to_vec();
        l.push("app_log");
        l
    };
    let log_root = context.log_root.as_deref().map_or(default_log, segments);
    // A log root that is `/` or holds the tars root is refused as such; it protects nothing.
    if log_root.is_empty()
        || matches!(
            relate(&log_root, root),
            Some(Relation::Is | Relation::Contains)
        )
    {
        return None;
    }
    match relate(path, &log_root) {
        Some(Relation::Is) => None,
        Some(Relation::Below) => {
            let below = path.get(log_root.len()..).unwrap_or_default();
            let own = context.service.as_ref().is_some_and(|(app, server)| {
                below.len() >= 2 && below[0] == app.as_str() && below[1] == server.as_str()
            });
            if own {
                None
            } else {
                Some((
                    join(&log_root),
                    Relation::Below,
                    "the log root, with every service's logs",
                ))
            }
        }
        Some(Relation::Contains) => Some((
            join(&log_root),
            Relation::Contains,
            "the log root, with every service's logs",
        )),
        None => None,
    }
}

/// A path's segments (cleaned, absolute: no empty, `.` or `..` segments).
fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Whether a path segment matches a pattern segment (`lib*` matches `lib64`).
fn matches(segment: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => segment.starts_with(prefix),
        None => segment == pattern,
    }
}

/// How `path` relates to the list's `pattern`, segment by segment (wildcards allowed).
/// Called for every entry of the list on every mount (lint runs it per keystroke), so the
/// pattern is walked in place rather than split into a vector.
fn relate_pattern(path: &[&str], pattern: &str) -> Option<Relation> {
    let mut len = 0;
    for (i, p) in pattern.split('/').filter(|p| !p.is_empty()).enumerate() {
        if let Some(s) = path.get(i)
            && !matches(s, p)
        {
            return None;
        }
        len = i + 1;
    }
    Some(match path.len().cmp(&len) {
        std::cmp::Ordering::Equal => Relation::Is,
        std::cmp::Ordering::Greater => Relation::Below,
        std::cmp::Ordering::Less => Relation::Contains,
    })
}

/// How `path` relates to `other`, segment by segment (literally).
fn relate(path: &[&str], other: &[&str]) -> Option<Relation> {
    relate_by(path, other, |a, b| a == b)
}

fn relate_by(path: &[&str], pattern: &[&str], eq: fn(&str, &str) -> bool) -> Option<Relation> {
    if !path.iter().zip(pattern).all(|(s, p)| eq(s, p)) {
        return None;
    }
    Some(match path.len().cmp(&pattern.len()) {
        std::cmp::Ordering::Equal => Relation::Is,
        std::cmp::Ordering::Greater => Relation::Below,
        std::cmp::Ordering::Less => Relation::Contains,
    })
}

/// The pattern with its wildcards replaced by the path's segments where they overlap
/// (`/lib*` shown as `/lib64`, `/home/*/.*` as `/home/bob/.*`).
fn instantiate(pattern: &[&str], path: &[&str]) -> String {
    let parts: Vec<&str> = pattern
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.ends_with('*') {
                path.get(i).copied().unwrap_or(p)
            } else {
                p
            }
        })
        .collect();
    format!("/{}", parts.join("/"))
}

/// One setting or mount of a create body that the policy refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The body field, e.g. `HostConfig.PidMode` or `HostConfig.Mounts[2]`.
    pub field: String,
    /// Its value as sent (a mount as `source:target`).
    pub value: String,
    pub allowance: Allowance,
    /// Why, in the user's terms.
    pub reason: String,
    /// For mounts: the host path as written, to find the mount's origin.
    pub host_path: Option<String>,
    /// For mounts: the finding on the host path.
    pub finding: Option<Finding>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}`: {} (allow with --allow {})",
            self.field, self.value, self.reason, self.allowance
        )
    }
}

/// Every setting and mount of `body` that the policy refuses, allowed or not (the caller
/// filters with its [`Allow`]). Host paths are checked with [`check_mount`].
#[must_use]
pub fn check_create_body(
    body: &ContainerCreateBody,
    context: &Context,
    host: &HostView,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    if let Some(host_config) = &body.host_config {
        check_settings(host_config, &mut out);
        check_mounts(host_config, context, host, &mut out);
    }
    out
}

/// The refusals that `allow` does not let through.
#[must_use]
pub fn refused(refusals: Vec<Refusal>, allow: Allow) -> Vec<Refusal> {
    refusals
        .into_iter()
        .filter(|r| !allow.allows(r.allowance))
        .collect()
}

fn setting(field: &str, value: impl Into<String>, allowance: Allowance, reason: &str) -> Refusal {
    Refusal {
        field: format!("HostConfig.{field}"),
        value: value.into(),
        allowance,
        reason: reason.to_owned(),
        host_path: None,
        finding: None,
    }
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

fn check_settings(hc: &HostConfig, out: &mut Vec<Refusal>) {
    if hc.privileged == Some(true) {
        out.push(setting(
            "Privileged",
            "true",
            Allowance::Privileged,
            "a privileged container has every capability and every host device",
        ));
    }
    if let Some(mode) = non_empty(hc.pid_mode.as_ref()) {
        out.push(setting(
            "PidMode",
            mode,
            Allowance::Pid,
            if mode == "host" {
                "shares the host's processes (signals, /proc of every process)"
            } else {
                "joins another process namespace"
            },
        ));
    }
    if let Some(mode) = non_empty(hc.ipc_mode.as_ref())
        && !matches!(mode, "host" | "none" | "private" | "shareable")
    {
        out.push(setting(
            "IpcMode",
            mode,
            Allowance::Ipc,
            "joins another container's IPC namespace (tarsdock plans `host` or nothing)",
        ));
    }
    if let Some(mode) = non_empty(hc.userns_mode.as_ref()) {
        out.push(setting(
            "UsernsMode",
            mode,
            Allowance::Userns,
            "leaves the daemon's user-namespace remapping: root in the container is root on the host",
        ));
    }
    if let Some(mode) = non_empty(hc.uts_mode.as_ref()) {
        out.push(setting(
            "UTSMode",
            mode,
            Allowance::Uts,
            "shares the host's host name and lets the container change it",
        ));
    }
    if hc.cgroupns_mode == Some(HostConfigCgroupnsModeEnum::HOST) {
        out.push(setting(
            "CgroupnsMode",
            "host",
            Allowance::Cgroupns,
            "shares the host's cgroup namespace",
        ));
    }
    if let Some(cgroup) = non_empty(hc.cgroup.as_ref()) {
        out.push(setting(
            "Cgroup",
            cgroup,
            Allowance::Cgroupns,
            "joins another cgroup",
        ));
    }
    if let Some(caps) = hc.cap_add.as_ref().filter(|c| !c.is_empty()) {
        out.push(setting(
            "CapAdd",
            caps.join(","),
            Allowance::CapAdd,
            "adds capabilities beyond the engine's default set",
        ));
    }
    if let Some(devices) = hc.devices.as_ref().filter(|d| !d.is_empty()) {
        let list: Vec<String> = devices
            .iter()
            .map(|d| d.path_on_host.clone().unwrap_or_default())
            .collect();
        out.push(setting(
            "Devices",
            list.join(","),
            Allowance::Devices,
            "gives the container host devices",
        ));
    }
    if hc.device_requests.as_ref().is_some_and(|d| !d.is_empty()) {
        out.push(setting(
            "DeviceRequests",
            "…",
            Allowance::Devices,
            "gives the container host devices (GPUs)",
        ));
    }
    if let Some(rules) = hc.device_cgroup_rules.as_ref().filter(|r| !r.is_empty()) {
        out.push(setting(
            "DeviceCgroupRules",
            rules.join(","),
            Allowance::Devices,
            "lets the container open host devices",
        ));
    }
    for option in hc.security_opt.iter().flatten() {
        let normal = option.replace('=', ":");
        if matches!(
            normal.as_str(),
            "no-new-privileges" | "no-new-privileges:true"
        ) {
            continue;
        }
        out.push(setting(
            "SecurityOpt",
            option.as_str(),
            Allowance::SecurityOpt,
            "changes the engine's confinement (seccomp, AppArmor, SELinux, system paths)",
        ));
    }
    if let Some(masked) = &hc.masked_paths {
        out.push(setting(
            "MaskedPaths",
            masked.join(","),
            Allowance::SecurityOpt,
            "replaces the paths the engine hides from the container (/proc/kcore, …)",
        ));
    }
    if let Some(readonly) = &hc.readonly_paths {
        out.push(setting(
            "ReadonlyPaths",
            readonly.join(","),
            Allowance::SecurityOpt,
            "replaces the kernel paths the engine makes read-only (/proc/sys, …)",
        ));
    }
    if let Some(sysctls) = hc.sysctls.as_ref().filter(|s| !s.is_empty()) {
        let mut keys: Vec<&str> = sysctls.keys().map(String::as_str).collect();
        keys.sort_unstable();
        out.push(setting(
            "Sysctls",
            keys.join(","),
            Allowance::Sysctls,
            "sets kernel parameters (on the host network, the host's)",
        ));
    }
    if let Some(mode) = non_empty(hc.network_mode.as_ref())
        && mode.starts_with("container:")
    {
        out.push(setting(
            "NetworkMode",
            mode,
            Allowance::NetworkContainer,
            "joins another container's network namespace",
        ));
    }
    if let Some(from) = hc.volumes_from.as_ref().filter(|v| !v.is_empty()) {
        out.push(setting(
            "VolumesFrom",
            from.join(","),
            Allowance::VolumesFrom,
            "takes another container's mounts, which this policy never checked",
        ));
    }
}

fn check_mounts(hc: &HostConfig, context: &Context, host: &HostView, out: &mut Vec<Refusal>) {
    for (i, bind) in hc.binds.iter().flatten().enumerate() {
        let field = format!("HostConfig.Binds[{i}]");
        let Some(parsed) = parse_bind(bind) else {
            continue;
        };
        if let Some(source) = parsed.source {
            host_path(&field, bind, source, parsed.read_only, context, host, out);
            if let Some(p) = parsed
                .propagation
                .filter(|p| matches!(*p, "shared" | "rshared"))
            {
                out.push(propagation(&field, bind, p));
            }
        }
    }
    for (i, mount) in hc.mounts.iter().flatten().enumerate() {
        check_one_mount(i, mount, context, host, out);
    }
    check_nested(hc, host, out);
    for target in hc.tmpfs.iter().flat_map(|t| t.keys()) {
        if let Some(refusal) = tmpfs_target("HostConfig.Tmpfs", target) {
            out.push(refusal);
        }
    }
}

/// A host path given to the container as a bind mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindSource<'a> {
    /// The body field, `HostConfig.Binds[i]` or `HostConfig.Mounts[i]`.
    pub field: String,
    /// The mount as `source:target`.
    pub value: String,
    /// The host path as written.
    pub source: &'a str,
    pub read_only: bool,
}

/// Every bind mount of `hc` with a host path (`Binds` then `Mounts`), in order.
#[must_use]
pub fn bind_sources(hc: &HostConfig) -> Vec<BindSource<'_>> {
    let mut out = Vec::new();
    for (i, bind) in hc.binds.iter().flatten().enumerate() {
        if let Some(parsed) = parse_bind(bind)
            && let Some(source) = parsed.source
        {
            out.push(BindSource {
                field: format!("HostConfig.Binds[{i}]"),
                value: bind.clone(),
                source,
                read_only: parsed.read_only,
            });
        }
    }
    for (i, mount) in hc.mounts.iter().flatten().enumerate() {
        if mount.typ == Some(MountType::BIND)
            && let Some(source) = mount.source.as_deref()
        {
            out.push(BindSource {
                field: format!("HostConfig.Mounts[{i}]"),
                value: format!("{source}:{}", mount.target.as_deref().unwrap_or_default()),
                source,
                read_only: mount.read_only == Some(true),
            });
        }
    }
    out
}

/// Host paths given to the container, with their field, for the nested-mount rule.
fn check_nested(hc: &HostConfig, host: &HostView, out: &mut Vec<Refusal>) {
    let fields = bind_sources(hc);
    let mounts: Vec<HostMount<'_>> = fields
        .iter()
        .map(|b| HostMount {
            source: b.source,
            read_only: b.read_only,
        })
        .collect();
    for nested in nested_in_writable(&mounts, host) {
        let BindSource {
            field,
            value,
            source,
            ..
        } = &fields[nested.inner];
        let BindSource {
            field: outer_field,
            source: outer_source,
            ..
        } = &fields[nested.outer];
        out.push(Refusal {
            field: field.clone(),
            value: value.clone(),
            allowance: Allowance::NestedMounts,
            reason: format!(
                "`{source}` lies inside `{outer_source}` ({outer_field}), which the container \
                 can write: it could replace the path with a link before the next start"
            ),
            host_path: Some((*source).to_owned()),
            finding: None,
        });
    }
}

fn check_one_mount(
    i: usize,
    mount: &Mount,
    context: &Context,
    host: &HostView,
    out: &mut Vec<Refusal>,
) {
    let field = format!("HostConfig.Mounts[{i}]");
    let source = mount.source.as_deref().unwrap_or_default();
    let target = mount.target.as_deref().unwrap_or_default();
    let value = format!("{source}:{target}");
    let read_only = mount.read_only == Some(true);
    match mount.typ {
        Some(MountType::BIND) => {
            host_path(&field, &value, source, read_only, context, host, out);
            if let Some(p) = mount.bind_options.as_ref().and_then(|b| b.propagation)
                && matches!(
                    p,
                    MountBindOptionsPropagationEnum::SHARED
                        | MountBindOptionsPropagationEnum::RSHARED
                )
            {
                out.push(propagation(&field, &value, p.as_ref()));
            }
        }
        Some(MountType::VOLUME) => {
            // A local volume with `device=/path` (and `o=bind`) is a bind mount in disguise.
            if let Some(device) = mount
                .volume_options
                .as_ref()
                .and_then(|v| v.driver_config.as_ref())
                .and_then(|d| d.options.as_ref())
                .and_then(|o| o.get("device"))
                .filter(|d| d.starts_with('/'))
            {
                host_path(&field, &value, device, read_only, context, host, out);
            }
        }
        Some(MountType::TMPFS) => {
            if let Some(refusal) = tmpfs_target(&field, target) {
                out.push(refusal);
            }
        }
        Some(MountType::IMAGE) | None => {}
        Some(other @ (MountType::NPIPE | MountType::CLUSTER)) => out.push(Refusal {
            field,
            value,
            allowance: Allowance::HostMounts,
            reason: format!("a mount of type `{other}` is not checked by this policy"),
            host_path: None,
            finding: None,
        }),
    }
}

fn host_path(
    field: &str,
    value: &str,
    source: &str,
    read_only: bool,
    context: &Context,
    host: &HostView,
    out: &mut Vec<Refusal>,
) {
    if let Some(finding) = check_mount(HostMount { source, read_only }, context, host) {
        out.push(Refusal {
            field: field.to_owned(),
            value: value.to_owned(),
            allowance: finding.allowance(),
            reason: finding.to_string(),
            host_path: Some(source.to_owned()),
            finding: Some(finding),
        });
    }
}

fn propagation(field: &str, value: &str, mode: &str) -> Refusal {
    Refusal {
        field: field.to_owned(),
        value: value.to_owned(),
        allowance: Allowance::Propagation,
        reason: format!(
            "`{mode}` propagation carries mounts made in the container back to the host"
        ),
        host_path: None,
        finding: None,
    }
}

fn tmpfs_target(field: &str, target: &str) -> Option<Refusal> {
    let clean = paths::clean(target);
    ["/proc", "/sys"]
        .iter()
        .any(|dir| paths::is_within(&clean, dir))
        .then(|| Refusal {
            field: field.to_owned(),
            value: target.to_owned(),
            allowance: Allowance::Tmpfs,
            reason: "a tmpfs there hides the kernel paths the engine masks or makes read-only"
                .to_owned(),
            host_path: None,
            finding: None,
        })
}

/// A `Binds` entry: `source:target[:options]`; a source without `/` is a named volume.
struct Bind<'a> {
    source: Option<&'a str>,
    read_only: bool,
    propagation: Option<&'a str>,
}

fn parse_bind(text: &str) -> Option<Bind<'_>> {
    let mut parts = text.splitn(3, ':');
    let first = parts.next()?;
    let Some(_target) = parts.next() else {
        // A lone path is an anonymous volume.
        return None;
    };
    let options = parts.next().unwrap_or_default();
    let mut read_only = false;
    let mut propagation = None;
    for option in options.split(',') {
        match option {
            "ro" => read_only = true,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                propagation = Some(option);
            }
            _ => {}
        }
    }
    Some(Bind {
        source: first.starts_with('/').then_some(first),
        read_only,
        propagation,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard_stubs::models::{DeviceMapping, MountBindOptions};

    use super::*;

    #[test]
    fn strict_ancestors_nearest_first_root_last() {
        fn all(p: &str) -> Vec<&str> {
            strict_ancestors(p).collect()
        }
        assert_eq!(all("/a/b/c"), ["/a/b", "/a", "/"]);
        assert_eq!(all("/a"), ["/"]);
        assert!(all("/").is_empty());
        assert!(all("relative/path").is_empty());
    }

    fn lexical(path: &str) -> Option<Finding> {
        check_mount(
            HostMount {
                source: path,
                read_only: false,
            },
            &Context::default(),
            &HostView::lexical(),
        )
    }

    fn class(path: &str) -> Option<(Class, Relation)> {
        lexical(path).map(|f| (f.class, f.relation))
    }

    #[test]
    fn system_trees_are_refused_at_above_and_below() {
        for path in [
            "/etc",
            "/etc/ssl",
            "/etc/",
            "//etc//",
            "/proc/sys",
            "/sys",
            "/dev/sda",
            "/boot",
            "/root/.ssh",
            "/bin",
            "/sbin/init",
            "/lib",
            "/lib64",
            "/libx32/x",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/local/bin",
            "/var/lib/docker/volumes",
            "/var/lib/containerd",
            "/var/spool/cron/crontabs",
            "/home/bob/.ssh",
        ] {
            assert_eq!(
                lexical(path).map(|f| f.class),
                Some(Class::System),
                "{path}"
            );
        }
        assert_eq!(class("/etc/ssl"), Some((Class::System, Relation::Below)));
        assert_eq!(class("/"), Some((Class::System, Relation::Is)));
    }

    #[test]
    fn directories_are_refused_themselves_and_above_only() {
        for path in [
            "/usr",
            "/usr/local",
            "/var",
            "/var/lib",
            "/home",
            "/home/bob",
        ] {
            assert!(lexical(path).is_some(), "{path}");
        }
        for path in [
            "/usr/local/app/tars/app_log",
            "/var/lib/mysql",
            "/var/log/tars",
            "/home/bob/data",
            "/usr/share/doc",
        ] {
            assert_eq!(lexical(path), None, "{path}");
        }
    }

    #[test]
    fn prefix_is_not_parent() {
        for path in [
            "/etcfoo",
            "/etc-data",
            "/proc2",
            "/runner",
            "/var/runs",
            "/data/etc",
            "/bins",
            "/data/lib",
        ] {
            assert_eq!(lexical(path), None, "{path}");
        }
        // `/lib*` is a pattern: every top-level directory starting with `lib`.
        assert!(lexical("/library").is_some());
    }

    #[test]
    fn parent_segments_are_resolved_lexically() {
        assert_eq!(class("/data/../etc"), Some((Class::System, Relation::Is)));
        assert_eq!(
            class("/data/./x/../../"),
            Some((Class::System, Relation::Is))
        );
        assert_eq!(class("/../../etc/passwd").map(|c| c.0), Some(Class::System));
    }

    #[test]
    fn parents_of_sensitive_paths_are_refused() {
        // `/var` contains `/var/run`, where the engine's socket is.
        assert_eq!(
            class("/var"),
            Some((Class::EngineSocket, Relation::Contains))
        );
        assert_eq!(class("/usr/local"), Some((Class::System, Relation::Is)));
        assert_eq!(class("/var/spool"), Some((Class::System, Relation::Is)));
        // `/var/lib` is a directory entry, and contains `/var/lib/docker`.
        assert_eq!(class("/var/lib"), Some((Class::System, Relation::Is)));
        assert_eq!(class("/usr/share"), None);
    }

    #[test]
    fn engine_sockets_by_name_and_by_directory() {
        for path in [
            "/var/run/docker.sock",
            "/run/containerd/containerd.sock",
            "/data/x/docker.sock",
            "/opt/podman.sock",
            "/run",
            "/var/run/",
        ] {
            assert_eq!(
                lexical(path).map(|f| f.class),
                Some(Class::EngineSocket),
                "{path}"
            );
        }
        assert_eq!(lexical("/data/app/app.sock"), None);
        let host = HostView {
            resolver: None,
            engine_sockets: vec![EngineSocket {
                path: "/srv/engine/api.sock".into(),
                id: None,
            }],
        };
        let check = |p: &str| {
            check_mount(
                HostMount {
                    source: p,
                    read_only: true,
                },
                &Context::default(),
                &host,
            )
            .map(|f| (f.class, f.relation))
        };
        assert_eq!(
            check("/srv/engine"),
            Some((Class::EngineSocket, Relation::Contains))
        );
        assert_eq!(
            check("/srv/engine/api.sock"),
            Some((Class::EngineSocket, Relation::Is))
        );
        assert_eq!(check("/srv/other"), None);
    }

    #[test]
    fn time_zone_files_only_read_only() {
        let ro = |p: &str| {
            check_mount(
                HostMount {
                    source: p,
                    read_only: true,
                },
                &Context::default(),
                &HostView::lexical(),
            )
        };
        assert_eq!(ro("/etc/localtime"), None);
        assert_eq!(ro("/etc/timezone"), None);
        assert_eq!(ro("/usr/share/zoneinfo/Asia/Shanghai"), None);
        let rw = lexical("/etc/localtime").unwrap();
        assert!(rw.hint.is_some());
        assert!(ro("/etc/hostname").is_some());
    }

    fn resolving(map: &'static [(&'static str, &'static str, PathKind)]) -> HostView {
        HostView::resolving(
            Arc::new(move |p: &str| {
                map.iter().find(|(from, _, _)| *from == p).map_or_else(
                    HostFacts::default,
                    |(_, to, kind)| HostFacts {
                        resolved: Some((*to).to_owned()),
                        kind: *kind,
                        id: (*kind == PathKind::Socket).then_some(FileId { dev: 1, ino: 2 }),
                    },
                )
            }),
            vec![EngineSocket {
                path: "/run/docker.sock".into(),
                id: Some(FileId { dev: 1, ino: 2 }),
            }],
        )
    }

    #[test]
    fn links_are_followed_when_the_view_resolves() {
        let host = resolving(&[
            ("/data/link", "/etc", PathKind::Directory),
            ("/data/sock", "/srv/hard-link-to-engine", PathKind::Socket),
            ("/data/dev", "/data/dev", PathKind::Device),
            ("/data/fine", "/data/real", PathKind::Directory),
        ]);
        let check = |p: &str| {
            check_mount(
                HostMount {
                    source: p,
                    read_only: false,
                },
                &Context::default(),
                &host,
            )
        };
        let f = check("/data/link").unwrap();
        assert_eq!(f.class, Class::System);
        assert_eq!(f.resolved.as_deref(), Some("/etc"));
        assert_eq!(
            f.to_string(),
            "`/data/link`, which resolves to `/etc` (the host's configuration)"
        );
        assert_eq!(check("/data/sock").unwrap().class, Class::EngineSocket);
        assert_eq!(check("/data/dev").unwrap().what, "a device node");
        assert_eq!(check("/data/fine"), None);
        // The written path is refused first, without mentioning the host.
        assert_eq!(check("/etc").unwrap().resolved, None);
    }

    fn tars() -> Context {
        Context::new(Some("/usr/local/app/tars/"), Some(("Test", "Hello")))
    }

    fn in_tars(path: &str) -> Option<(Class, Relation, String)> {
        check_mount(
            HostMount {
                source: path,
                read_only: false,
            },
            &tars(),
            &HostView::lexical(),
        )
        .map(|f| (f.class, f.relation, f.entry))
    }

    #[test]
    fn tars_directories() {
        for own in [
            "/usr/local/app/tars/tarsnode/data/Test.Hello",
            "/usr/local/app/tars/tarsnode/data/Test.Hello/data/cache",
            "/usr/local/app/tars/tarsnode-data/Test.Hello",
            "/usr/local/app/tars/app_log",
            "/usr/local/app/tars/app_log/",
            "/usr/local/app/tars/app_log/Test/Hello",
            "/usr/local/app/tars/app_log/Test/Hello/x",
            "/usr/local/app/tars/other",
            "/data/x",
        ] {
            assert_eq!(in_tars(own), None, "{own}");
        }
        for (path, relation, entry) in [
            ("/usr/local/app/tars", Relation::Is, "/usr/local/app/tars"),
            ("/usr/local/app", Relation::Contains, "/usr/local/app/tars"),
            (
                "/usr/local/app/tars/tarsnode",
                Relation::Is,
                "/usr/local/app/tars/tarsnode",
            ),
            (
                "/usr/local/app/tars/tarsnode/data",
                Relation::Below,
                "/usr/local/app/tars/tarsnode",
            ),
            (
                "/usr/local/app/tars/tarsnode/data/Other.Server",
                Relation::Below,
                "/usr/local/app/tars/tarsnode",
            ),
            (
                "/usr/local/app/tars/tarsnode/data/Test.Hello2",
                Relation::Below,
                "/usr/local/app/tars/tarsnode",
            ),
            (
                "/usr/local/app/tars/tarsregistry/conf",
                Relation::Below,
                "/usr/local/app/tars/tarsregistry",
            ),
            (
                "/usr/local/app/tars/app_log/Other/Server",
                Relation::Below,
                "/usr/local/app/tars/app_log",
            ),
            (
                "/usr/local/app/tars/app_log/Test",
                Relation::Below,
                "/usr/local/app/tars/app_log",
            ),
        ] {
            assert_eq!(
                in_tars(path),
                Some((Class::TarsDir, relation, entry.to_owned())),
                "{path}"
            );
        }
        // A log root elsewhere: the default `app_log` is not special any more.
        let context = tars().with_log_root(Some("/data/logs/"));
        let check = |p: &str| {
            check_mount(
                HostMount {
                    source: p,
                    read_only: false,
                },
                &context,
                &HostView::lexical(),
            )
            .map(|f| f.entry)
        };
        assert_eq!(check("/data/logs"), None);
        assert_eq!(check("/data/logs/Test/Hello"), None);
        assert_eq!(check("/data/logs/A/B").as_deref(), Some("/data/logs"));
        assert_eq!(check("/data").as_deref(), Some("/data/logs"));
    }

    #[test]
    fn allow_sets() {
        let allow = Allow::parse("cap-add, pid,,").unwrap();
        assert!(allow.allows(Allowance::CapAdd) && allow.allows(Allowance::Pid));
        assert!(!allow.allows(Allowance::Privileged));
        assert!(Allow::parse("cap-add,root").unwrap_err().contains("`root`"));
        assert_eq!(format!("{allow:?}"), r#"{"cap-add", "pid"}"#);
        let legacy = Allow::from_flags(true, true);
        for a in [
            Allowance::HostMounts,
            Allowance::EngineSocket,
            Allowance::TarsDirs,
            Allowance::Privileged,
        ] {
            assert!(legacy.allows(a));
        }
        for a in Allowance::ALL {
            assert_eq!(Allowance::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn create_body_settings() {
        let body = ContainerCreateBody {
            host_config: Some(HostConfig {
                privileged: Some(true),
                pid_mode: Some("host".into()),
                ipc_mode: Some("container:x".into()),
                userns_mode: Some("host".into()),
                uts_mode: Some("host".into()),
                cgroupns_mode: Some(HostConfigCgroupnsModeEnum::HOST),
                cap_add: Some(vec!["SYS_ADMIN".into()]),
                devices: Some(vec![DeviceMapping {
                    path_on_host: Some("/dev/sda".into()),
                    ..Default::default()
                }]),
                security_opt: Some(vec![
                    "no-new-privileges".into(),
                    "seccomp=unconfined".into(),
                    "label:disable".into(),
                ]),
                masked_paths: Some(vec![]),
                sysctls: Some(HashMap::from([("kernel.x".into(), "1".into())])),
                network_mode: Some("container:abc".into()),
                volumes_from: Some(vec!["other".into()]),
                tmpfs: Some(HashMap::from([("/proc/sys".into(), String::new())])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let refusals = check_create_body(&body, &Context::default(), &HostView::lexical());
        let fields: Vec<&str> = refusals.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "HostConfig.Privileged",
                "HostConfig.PidMode",
                "HostConfig.IpcMode",
                "HostConfig.UsernsMode",
                "HostConfig.UTSMode",
                "HostConfig.CgroupnsMode",
                "HostConfig.CapAdd",
                "HostConfig.Devices",
                "HostConfig.SecurityOpt",
                "HostConfig.SecurityOpt",
                "HostConfig.MaskedPaths",
                "HostConfig.Sysctls",
                "HostConfig.NetworkMode",
                "HostConfig.VolumesFrom",
                "HostConfig.Tmpfs",
            ]
        );
        let all = Allow::parse(
            "privileged,pid,ipc,userns,uts,cgroupns,cap-add,devices,security-opt,sysctls,\
             network-container,volumes-from,tmpfs",
        )
        .unwrap();
        assert!(refused(refusals, all).is_empty());
    }

    #[test]
    fn what_tarsdock_plans_passes() {
        let body = ContainerCreateBody {
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                ipc_mode: Some("host".into()),
                privileged: Some(false),
                mounts: Some(vec![Mount {
                    source: Some("/etc/localtime".into()),
                    target: Some("/etc/localtime".into()),
                    typ: Some(MountType::BIND),
                    read_only: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check_create_body(&body, &Context::default(), &HostView::lexical()).is_empty());
    }

    #[test]
    fn mounts_inside_writable_mounts() {
        let m = |source, read_only| HostMount { source, read_only };
        let mounts = [
            m("/srv/svc", false),
            m("/srv/svc/data/cache", false),
            m("/srv/ro", true),
            m("/srv/ro/x", false),
            m("/srv/svcx", false),
            m("/srv//svc/", false),
        ];
        assert_eq!(
            nested_in_writable(&mounts, &HostView::lexical()),
            [Nested { inner: 1, outer: 0 }]
        );
        // Resolved: a link elsewhere that leads inside a writable mount.
        let host = resolving(&[("/data/link", "/srv/svc/data", PathKind::Directory)]);
        let mounts = [m("/srv/svc", false), m("/data/link", true)];
        assert_eq!(
            nested_in_writable(&mounts, &host),
            [Nested { inner: 1, outer: 0 }]
        );
    }

    #[test]
    fn create_body_mounts() {
        let bind = |source: &str, propagation: Option<MountBindOptionsPropagationEnum>| Mount {
            source: Some(source.into()),
            target: Some("/x".into()),
            typ: Some(MountType::BIND),
            bind_options: propagation.map(|p| MountBindOptions {
                propagation: Some(p),
                ..Default::default()
            }),
            ..Default::default()
        };
        let volume = Mount {
            source: Some("v".into()),
            target: Some("/v".into()),
            typ: Some(MountType::VOLUME),
            volume_options: Some(bollard_stubs::models::MountVolumeOptions {
                driver_config: Some(bollard_stubs::models::MountVolumeOptionsDriverConfig {
                    name: Some("local".into()),
                    options: Some(HashMap::from([
                        ("device".into(), "/etc".into()),
                        ("o".into(), "bind".into()),
                    ])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            host_config: Some(HostConfig {
                binds: Some(vec![
                    // Read-only: refused for what it is, but nothing is nested in a writable `/`.
                    "/:/host:ro".into(),
                    "/data/a:/a:ro,rshared".into(),
                    "named:/n".into(),
                    "/anonymous".into(),
                    "/var/run/docker.sock:/var/run/docker.sock".into(),
                ]),
                mounts: Some(vec![
                    bind("/data/b", Some(MountBindOptionsPropagationEnum::SHARED)),
                    bind("/data/c", Some(MountBindOptionsPropagationEnum::RSLAVE)),
                    volume,
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let refusals = check_create_body(&body, &Context::default(), &HostView::lexical());
        let got: Vec<(&str, Allowance)> = refusals
            .iter()
            .map(|r| (r.field.as_str(), r.allowance))
            .collect();
        assert_eq!(
            got,
            [
                ("HostConfig.Binds[0]", Allowance::HostMounts),
                ("HostConfig.Binds[1]", Allowance::Propagation),
                ("HostConfig.Binds[4]", Allowance::EngineSocket),
                ("HostConfig.Mounts[0]", Allowance::Propagation),
                ("HostConfig.Mounts[2]", Allowance::HostMounts),
            ]
        );
        assert_eq!(refusals[0].host_path.as_deref(), Some("/"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("etc".to_owned()),
            Just("run".to_owned()),
            Just("usr".to_owned()),
            Just("local".to_owned()),
            Just("data".to_owned()),
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just(String::new()),
            "[a-z]{1,6}",
        ]
    }

    proptest! {
        /// Spelling does not matter: `//`, `.`, trailing slashes and `..` give the decision of
        /// the cleaned path.
        #[test]
        fn decision_depends_on_the_cleaned_path_only(parts in prop::collection::vec(segment(), 0..7), trailing in any::<bool>()) {
            let mut path = format!("/{}", parts.join("/"));
            if trailing {
                path.push('/');
            }
            let clean = paths::clean(&path);
            let decide = |p: &str| check_mount(HostMount { source: p, read_only: false }, &Context::default(), &HostView::lexical()).map(|f| (f.class, f.relation, f.entry));
            prop_assert_eq!(decide(&path), decide(&clean));
        }

        /// Anything below a refused tree is refused.
        #[test]
        fn below_a_tree_is_refused(tail in prop::collection::vec("[a-z]{1,5}", 0..4)) {
            for entry in SENSITIVE.iter().filter(|e| e.scope == Scope::Tree && !e.pattern.contains('*')) {
                let path = format!("{}/{}", entry.pattern, tail.join("/"));
                let found = check_mount(HostMount { source: &path, read_only: false }, &Context::default(), &HostView::lexical());
                prop_assert!(found.is_some(), "{} not refused", path);
            }
        }
    }
}
