//! The standalone node workflow: a service laid out from its tgz package the way tarsnode lays
//! it out, its config generated, its `tars_start.sh` written, and (in container mode) the
//! launch request that runs it.
//!
//! [`prepare`] decides everything it can before writing: the package is read and checked
//! entry by entry (streamed, with [`Limits`]), the executable for the server type is found in
//! it, the config is rendered and planned, and the service and log directories are inspected.
//! Only then does it write: the directories, the config (the old one kept as `.bak` when it
//! changes), and `bin/`. A refused input therefore writes nothing.
//!
//! Everything below `<tars path>/tarsnode/data/App.Server/` and `<log path>/App/Server/` is
//! written through [`crate::beneath`]: the service's container mounts those directories
//! read-write and may have planted links there. A link or foreign object where deploy manages
//! a directory or file (`bin`, `conf`, `data`, the config, `.bin-<digest>`, …) is an error that
//! names it ([`DeployError::Layout`]), found before anything is written.
//!
//! `bin/` is a symbolic link to `.bin-<content digest>` beside it, so a new package replaces
//! `bin/` with one `rename` (atomic: a reader sees the old or the new package, never a mix).
//! The same package deployed again is compared with what lies in `.bin-<digest>/` — every
//! path, mode, owner and byte ([`Package::verify`]) — so files changed from inside the
//! container (a replaced binary, a library dropped beside it, a setuid bit) are found; they are
//! *replaced*: the package is unpacked afresh and swapped in, and [`Deployment::restored`]
//! says what had changed. The launch request's plan hash covers the container plan, the
//! package, the config and the script, so the runtime replaces the container exactly when one
//! of them changed (and the CLI replaces it after a restore).
//!
//! Native and container mode use the same directory: stop the container, deploy with
//! `RunMode::Native` (which rewrites the config and script, and restores the package if it was
//! changed) and run `<server dir>/bin/tars_start.sh`; and back.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use lowering::ir::{ContainerPlan, Target};
use lowering::lower::{PlanOptions, Policy};
use lowering::plan::{ServiceOverrides, plan_generated_config};
use lowering::render::{EndpointPolicy, NodeInputs, RenderError, render, render_for};
use parser::terminal::escape_lossy;
use parser::{Config, Diagnostic, Severity};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::beneath::{DirHandle, FsError, Kind};
pub use crate::package::ListedEntry;
use crate::package::{Limits, Package, PackageError, START_SCRIPT};
use crate::plan_request::launch_request;
use crate::request::LaunchRequest;
use crate::script::{
    Executable, Layout, RunMode, ScriptSettings, ServerType, interpreter, php_entrance, quote,
    start_script,
};

/// Label on deployed containers: the package's content digest.
pub const LABEL_PACKAGE: &str = "tarsdock.package";

/// What to deploy, and where.
#[derive(Debug)]
pub struct DeployInput<'a> {
    /// The Tars application.
    pub app: String,
    /// The Tars server.
    pub server: String,
    /// The node name (label `tarsdock.node`).
    pub node: String,
    /// The tgz package.
    pub package: PathBuf,
    /// The registry-merged profile (template chain + private profile).
    pub profile: &'a Config,
    /// What tarsnode knows (node key, adapters, macros). The layout's own macros win.
    pub node_inputs: NodeInputs,
    pub image: String,
    pub server_type: ServerType,
    pub mode: RunMode,
    pub target: Target,
    /// tarsnode's install path (`TarsPath`): services go to `<tars path>/tarsnode/data/`.
    pub tars_path: String,
    /// The log path (`<log path>/App/Server/`).
    pub log_path: String,
    /// `TARS_HOSTPATH`, when tarsnode itself runs in a container.
    pub host_path: Option<String>,
    pub policy: Policy,
    /// What the package may unpack to.
    pub limits: Limits,
    /// Keepalive: the engine restart policy of the container (see [`crate::keepalive`]);
    /// `None` under tarsnode, whose own keepalive restarts the service.
    pub restart_policy: Option<lowering::ir::RestartPolicy>,
}

/// Why a deployment was refused; nothing has been written when one is returned, except for
/// [`DeployError::Layout`] raised while writing (then the previous deployment is intact).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("`{}` is not a service id: write it as App.Server (letters, digits, `_`, `-`)", escape_lossy(.0.as_bytes()))]
    ServiceId(String),
    #[error("the {what} `{}` {reason}", escape_lossy(.path.as_bytes()))]
    BadRoot {
        what: &'static str,
        path: String,
        reason: &'static str,
    },
    #[error("refused by the mount policy: {0}")]
    Policy(#[from] crate::policy::Refused),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("the config cannot be generated: {0}")]
    Render(#[from] RenderError),
    #[error("the generated config cannot be planned ({} error(s))", .diagnostics.iter().filter(|d| d.severity == Severity::Error).count())]
    Plan {
        /// Findings against the generated config (`text`).
        diagnostics: Vec<Diagnostic>,
        /// The generated config the findings point into.
        text: Vec<u8>,
    },
    #[error("{}: no executable for a {server_type} server: {reason}", escape_lossy(.package.as_os_str().as_bytes()))]
    NoExecutable {
        package: PathBuf,
        server_type: ServerType,
        reason: String,
    },
    /// The service or log directory cannot be written, or holds a link or foreign object
    /// where deploy manages one ([`FsError::is_planted`]).
    #[error(transparent)]
    Layout(#[from] FsError),
}

/// The classes of [`DeployError`] a caller maps to outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployErrorKind {
    /// Bad arguments (service id, tars or log path).
    Usage,
    /// The template or node inputs do not give a usable config.
    Template,
    /// The package is not a tgz, is unsafe, is over a limit, or has no executable.
    Package,
    /// The service directory or log directory cannot be written, or holds something planted.
    Layout,
}

impl DeployErrorKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Template => "template",
            Self::Package => "package",
            Self::Layout => "layout",
        }
    }
}

impl DeployError {
    #[must_use]
    pub const fn kind(&self) -> DeployErrorKind {
        match self {
            Self::ServiceId(_) | Self::BadRoot { .. } | Self::Policy(_) => DeployErrorKind::Usage,
            Self::Render(_) | Self::Plan { .. } => DeployErrorKind::Template,
            Self::Package(PackageError::Fs(_)) | Self::Layout(_) => DeployErrorKind::Layout,
            Self::Package(_) | Self::NoExecutable { .. } => DeployErrorKind::Package,
        }
    }
}

/// What happened to a file or to `bin/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum FileAction {
    /// Written for the first time.
    Created,
    /// Replaced; `backup` names the copy of the old content, when one was kept.
    Replaced { backup: Option<String> },
    /// Already as wanted; not touched.
    Unchanged,
}

/// Where the service listens, as seen from the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listen {
    /// The adapter (or `local`, or a `<ports>` line).
    pub what: String,
    /// `host:port` to connect to.
    pub address: String,
    pub proto: String,
}

/// A laid-out service, ready to launch.
#[derive(Clone, Debug, Serialize)]
pub struct Deployment {
    pub name: String,
    pub server_type: ServerType,
    pub mode: RunMode,
    pub layout: Layout,
    /// `sha256:<hex>` of the package's content (paths, modes, bytes; not the tgz bytes).
    pub package_digest: String,
    pub bin: FileAction,
    /// What had been changed in the installed package (found and undone by this deploy);
    /// empty when nothing was.
    pub restored: Vec<String>,
    pub config: FileAction,
    pub script: FileAction,
    /// What the start script runs.
    pub executable: String,
    /// The container's launch request (container mode only).
    #[serde(skip)]
    pub request: Option<LaunchRequest>,
    /// Where the service listens.
    pub listen: Vec<Listen>,
    /// The command that starts the laid-out service natively (every path quoted).
    pub native_start: String,
    /// Warnings from planning the container, from the script values (`TARS-H001`), and
    /// about leftovers that could not be removed.
    pub warnings: Vec<String>,
}

/// Lays the service out (see the module documentation) and returns what to launch.
///
/// # Errors
/// Every [`DeployError`]; only [`DeployError::Layout`] (and [`PackageError::Fs`]) can come
/// after something was written.
pub fn prepare(input: &DeployInput<'_>) -> Result<Deployment, DeployError> {
    // 1. Arguments.
    let name = format!("{}.{}", input.app, input.server);
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !part_ok(&input.app) || !part_ok(&input.server) {
        return Err(DeployError::ServiceId(name));
    }
    for (what, path) in [
        ("tars path", &input.tars_path),
        ("log path", &input.log_path),
    ] {
        check_root(what, path)?;
    }
    crate::policy::check_deploy_paths(
        &input.tars_path,
        &input.log_path,
        &input.app,
        &input.server,
        input.policy,
    )?;
    let layout = Layout::new(&input.tars_path, &input.log_path, &input.app, &input.server);

    // 2. The package, read and checked without writing.
    let package = Package::scan(&input.package, &input.limits)?;

    // 3. The config, rendered and planned.
    let mut inputs = input.node_inputs.clone();
    inputs.container_mode = input.mode == RunMode::Container;
    for (key, value) in layout.macros() {
        inputs.macros.insert(key.to_owned(), value);
    }
    if let Some(local) = &inputs.local {
        inputs
            .macros
            .entry("local".to_owned())
            .or_insert_with(|| local.clone());
    }
    // The service's own config: adapters listen no wider than configured on the host network,
    // `local` (the unauthenticated AdminObj) on loopback; a bridge listens on `0.0.0.0`.
    let rendered = render_for(
        input.profile,
        &inputs,
        EndpointPolicy::for_target(input.target),
    )?;
    let mut config_text = rendered.text.clone();
    let mut config = rendered.config;
    let mut plan: Option<ContainerPlan> = None;
    let mut warnings = Vec::new();
    if input.mode == RunMode::Container {
        // The plan publishes each adapter on its configured host (tarsnode's `addPort` records
        // it before the host becomes `0.0.0.0`), so it is made from the config as rendered
        // without that rewrite; the container gets the rewritten one.
        let mut configured_inputs = inputs.clone();
        configured_inputs.container_mode = false;
        let configured = render(input.profile, &configured_inputs)?;
        let mut planned = plan_config(&configured.config, &configured.text, input, &layout)?;
        if !planned.0.endpoint_rewrites.is_empty() {
            // Docker Desktop: the node and registry are not on the container's loopback.
            let mut rewritten = config.clone();
            for rewrite in &planned.0.endpoint_rewrites {
                if let Some((domain, key)) = rewrite.path.trim_end_matches('>').split_once('<') {
                    let params =
                        BTreeMap::from([(key.as_bytes().to_vec(), rewrite.to.as_bytes().to_vec())]);
                    let _ = rewritten.insert_domain_params(domain.as_bytes(), &params, true);
                }
            }
            if let Ok(text) = rewritten.to_text()
                && let Ok(parsed) = Config::parse_upstream(text.clone())
            {
                config_text = text;
                config = parsed;
                planned.1.push(format!(
                    "{} config value(s) rewritten for Docker Desktop: {}",
                    planned.0.endpoint_rewrites.len(),
                    planned
                        .0
                        .endpoint_rewrites
                        .iter()
                        .map(|r| format!("{} = {}", r.path, r.to))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        warnings = planned.1;
        plan = Some(planned.0);
    }
    // Values the start script takes raw: say when one holds shell syntax.
    warnings.extend(
        lowering::script::check(&config)
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message)),
    );

    // 4. The executable and the start script.
    let settings = ScriptSettings::from_config(&config);
    let executable = find_executable(input.server_type, &layout, &settings, &package.listing)
        .map_err(|reason| DeployError::NoExecutable {
            package: input.package.clone(),
            server_type: input.server_type,
            reason,
        })?;
    let script = start_script(
        input.server_type,
        input.mode,
        &layout,
        &settings,
        &executable,
    );

    // 5. Inspect what is there, then write: directories, config, bin/.
    let names = Names::new(&layout, &package);
    inspect(&names, input.mode)?;
    let written = write(&names, &package, &input.limits, &config_text, &script)?;
    warnings.extend(written.warnings);
    if !written.restored.is_empty() {
        warnings.push(format!(
            "the installed package in {} had been changed ({}); it was restored from {}",
            names.server_path().display(),
            written.restored.join(", "),
            escape_lossy(input.package.as_os_str().as_bytes())
        ));
    }

    // 6. What to launch and where it listens.
    let request = plan.as_ref().map(|plan| {
        let mut request = launch_request(plan, &input.node, None);
        // A compiled server is checked against the image before its container is created
        // (interpreters and scripts are not ELF, and pass).
        if matches!(input.server_type, ServerType::Cpp | ServerType::Go) {
            request.executable = Some(executable.program.clone());
        }
        let labels = request.body.labels.get_or_insert_with(Default::default);
        labels.insert(LABEL_PACKAGE.to_owned(), package.digest.clone());
        let mut hasher = Sha256::new();
        for part in [
            plan.labels.plan_hash.as_bytes(),
            package.digest.as_bytes(),
            &config_text,
            script.as_bytes(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        request.plan_hash = format!("sha256:{digest}");
        request
    });
    let listen = listen(plan.as_ref(), &rendered.adapter_ports);
    Ok(Deployment {
        name,
        server_type: input.server_type,
        mode: input.mode,
        native_start: native_start(&layout),
        layout,
        package_digest: package.digest,
        bin: written.bin,
        restored: written.restored,
        config: written.config,
        script: written.script,
        executable: executable.program,
        request,
        listen,
        warnings,
    })
}

/// An operator-given root: absolute, no control characters or NUL.
fn check_root(what: &'static str, path: &str) -> Result<(), DeployError> {
    let reason = if !path.starts_with('/') {
        Some("is not absolute")
    } else if path
        .chars()
        .any(|c| c.is_control() || parser::terminal::is_unsafe_char(c))
    {
        Some("holds control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DeployError::BadRoot {
            what,
            path: path.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The documented native start: the script, with the log directory as working directory
/// (where tarsnode starts services) and output appended to the service's log directory.
#[must_use]
pub fn native_start(layout: &Layout) -> String {
    format!(
        "cd {log} && nohup {script} >> {out} 2>&1 &",
        log = quote(&layout.log_dir),
        script = quote(&layout.start_script),
        out = quote(&format!("{}{}.out", layout.log_dir, layout.server_id()))
    )
}

/// Finds what the start script of `server_type` runs, from the package `listing` (paths below
/// `bin/`). Pure.
///
/// - cpp/go: `bin/<Server>`, else (as tarsnode's `canExecute`) the first file directly in
///   `bin/` whose name contains `Server` or `server`; it must be executable.
/// - java: the package must hold a `.jar` or `.war`.
/// - nodejs: the directory of the first `package.json` (tarsnode's `searchPackage`, skipping
///   `node_modules` and `tars_nodejs`).
/// - php: the entrance (`<entrance>`, default `bin/src/index.php`) when it lies in `bin/`.
///
/// # Errors
/// A sentence saying what was looked for.
pub fn find_executable(
    server_type: ServerType,
    layout: &Layout,
    settings: &ScriptSettings,
    listing: &[ListedEntry],
) -> Result<Executable, String> {
    let at_root = |e: &&ListedEntry| !e.is_dir && e.path.components().count() == 1;
    match server_type {
        ServerType::Cpp | ServerType::Go => {
            let named = listing
                .iter()
                .filter(at_root)
                .find(|e| e.path == Path::new(&layout.server));
            let mut fallback: Vec<&ListedEntry> = listing
                .iter()
                .filter(at_root)
                .filter(|e| {
                    let name = e.path.to_string_lossy();
                    (name.contains("Server") || name.contains("server"))
                        && !name.starts_with("tars_")
                })
                .collect();
            fallback.sort_by(|a, b| a.path.cmp(&b.path));
            let Some(found) = named.or_else(|| fallback.first().copied()) else {
                return Err(format!(
                    "no `{}` (nor any file named like `*Server*`) at the top of the package",
                    layout.server
                ));
            };
            if !found.executable {
                return Err(format!(
                    "`{}` is not executable (chmod +x it before packing)",
                    escape_lossy(found.path.as_os_str().as_bytes())
                ));
            }
            Ok(Executable {
                program: format!("{}{}", layout.exe_path, found.path.display()),
                nodejs_dir: None,
            })
        }
        ServerType::Java => {
            let has_archive = listing
                .iter()
                .any(|e| !e.is_dir && e.path.extension().is_some_and(|x| x == "jar" || x == "war"));
            if !has_archive {
                return Err("no `.jar` or `.war` in the package".to_owned());
            }
            Ok(Executable {
                program: interpreter(server_type, settings).unwrap_or_default(),
                nodejs_dir: None,
            })
        }
        ServerType::Nodejs => {
            let found = search_package_json(listing).ok_or_else(|| {
                "no `package.json` in the package (outside node_modules and tars_nodejs)".to_owned()
            })?;
            let dir = found.parent().unwrap_or_else(|| Path::new(""));
            Ok(Executable {
                program: interpreter(server_type, settings).unwrap_or_default(),
                nodejs_dir: Some(lowering::paths::simplify_directory(&format!(
                    "{}{}",
                    layout.exe_path,
                    dir.display()
                ))),
            })
        }
        ServerType::Php => {
            let entrance = php_entrance(layout, settings);
            let bin = format!("{}/bin/", layout.server_dir);
            if let Some(relative) = entrance.strip_prefix(&bin)
                && !listing
                    .iter()
                    .any(|e| !e.is_dir && e.path == Path::new(relative))
            {
                return Err(format!(
                    "no `{}` (the php entrance) in the package",
                    escape_lossy(relative.as_bytes())
                ));
            }
            Ok(Executable {
                program: interpreter(server_type, settings).unwrap_or_default(),
                nodejs_dir: None,
            })
        }
    }
}

/// tarsnode's `searchPackage`: in each directory, a `package.json` file wins; then its
/// subdirectories in name order, skipping `node_modules` and `tars_nodejs`.
fn search_package_json(listing: &[ListedEntry]) -> Option<PathBuf> {
    let mut candidates: Vec<&Path> = listing
        .iter()
        .filter(|e| !e.is_dir && e.path.file_name().is_some_and(|n| n == "package.json"))
        .map(|e| e.path.as_path())
        .filter(|p| {
            !p.components()
                .any(|c| c.as_os_str() == "node_modules" || c.as_os_str() == "tars_nodejs")
        })
        .collect();
    // Shallowest first (breadth-first as upstream), then by path.
    candidates.sort_by(|a, b| {
        a.components()
            .count()
            .cmp(&b.components().count())
            .then(a.cmp(b))
    });
    candidates.first().map(|p| p.to_path_buf())
}

fn plan_config(
    config: &Config,
    text: &[u8],
    input: &DeployInput<'_>,
    layout: &Layout,
) -> Result<(ContainerPlan, Vec<String>), DeployError> {
    let options = PlanOptions {
        image: input.image.clone(),
        target: input.target,
        tars_path: Some(input.tars_path.clone()),
        host_path: input.host_path.clone().filter(|h| !h.is_empty()),
        policy: input.policy,
        host: crate::policy::host_view(&[]),
        entrypoint: None,
        working_dir: None,
        restart_policy: input.restart_policy,
    };
    let overrides = ServiceOverrides {
        app: Some(input.app.clone()),
        server: Some(input.server.clone()),
        node: Some(input.node.clone()),
        server_dir: Some(layout.server_dir.clone()),
        exe_path: Some(layout.exe_path.clone()),
        log_path: Some(layout.log_path.clone()),
    };
    let lowered = plan_generated_config(config, &overrides, &options);
    let failed = lowered.has_errors();
    match lowered.plan {
        Some(plan) if !failed => {
            let warnings = lowered
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .map(|d| format!("{}: {}", d.code, d.message))
                .collect();
            Ok((plan, warnings))
        }
        _ => Err(DeployError::Plan {
            diagnostics: lowered.diagnostics,
            text: text.to_vec(),
        }),
    }
}

fn listen(plan: Option<&ContainerPlan>, adapters: &[lowering::render::AdapterPort]) -> Vec<Listen> {
    let host_network = plan.is_none_or(|p| p.network.ports().is_empty());
    if host_network {
        return adapters
            .iter()
            .map(|a| Listen {
                what: a.adapter.clone(),
                address: format!("{}:{}", a.endpoint.host, a.endpoint.port),
                proto: a.endpoint.transport.proto().as_str().to_owned(),
            })
            .collect();
    }
    plan.map(|p| {
        p.network
            .ports()
            .iter()
            .map(|port| Listen {
                what: match &port.origin {
                    lowering::ir::PortOrigin::Adapter { name, .. } => name.clone(),
                    lowering::ir::PortOrigin::LocalAdmin { .. } => "local".to_owned(),
                    lowering::ir::PortOrigin::Template(_) => format!("<ports> {}", port.key()),
                },
                address: format!(
                    "{}:{}",
                    if port.host_ip.is_empty() {
                        "0.0.0.0"
                    } else {
                        port.host_ip.as_str()
                    },
                    port.host_port
                ),
                proto: port.proto.as_str().to_owned(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The names deploy manages, below the operator's two roots.
struct Names {
    /// `<tars path>/tarsnode/data` (operator).
    data_dir: PathBuf,
    /// `App.Server`.
    server: OsString,
    /// `<log path>` (operator).
    log_root: PathBuf,
    /// `App/Server`.
    log_dir: PathBuf,
    /// `App.Server.config.conf` (in `conf/`).
    config: OsString,
    /// `App.Server.config.conf.bak`.
    backup: OsString,
    /// `.bin-<16 hex digits of the content digest>`.
    version: OsString,
    /// What the native start writes in the log directory: its output and the pid file.
    native_files: [OsString; 2],
}

const BIN: &str = "bin";
const CONF: &str = "conf";
const DATA: &str = "data";
/// The prefix of the package directories `bin` points at.
const VERSION_PREFIX: &str = ".bin-";

impl Names {
    fn new(layout: &Layout, package: &Package) -> Self {
        let id = layout.server_id();
        Self {
            data_dir: PathBuf::from(&layout.data_dir),
            server: OsString::from(&id),
            log_root: PathBuf::from(&layout.log_path),
            log_dir: Path::new(&layout.app).join(&layout.server),
            config: OsString::from(format!("{id}.config.conf")),
            backup: OsString::from(format!("{id}.config.conf.bak")),
            version: OsString::from(format!(
                "{VERSION_PREFIX}{}",
                &package.hex()[..16.min(package.hex().len())]
            )),
            native_files: [
                OsString::from(format!("{id}.out")),
                OsString::from(format!("{START_SCRIPT}.pid")),
            ],
        }
    }

    fn server_path(&self) -> PathBuf {
        self.data_dir.join(&self.server)
    }
}

/// Whether `name` is one of the package directories deploy makes (`.bin-` + 16 hex digits).
fn is_version_name(name: &OsStr) -> bool {
    name.as_bytes()
        .strip_prefix(VERSION_PREFIX.as_bytes())
        .is_some_and(|hex| hex.len() == 16 && hex.iter().all(u8::is_ascii_hexdigit))
}

/// What `bin` is now.
enum Bin {
    Absent,
    /// A link to one of deploy's package directories.
    Version(OsString),
    /// A real directory (laid out by tarsnode, or by hand).
    Directory,
}

/// Reads what `bin` is; a link anywhere else, or a file, is refused.
fn current_bin(server: &DirHandle) -> Result<Bin, FsError> {
    let Some(meta) = server.stat(OsStr::new(BIN))? else {
        return Ok(Bin::Absent);
    };
    match meta.kind {
        Kind::Dir => Ok(Bin::Directory),
        Kind::Symlink => {
            let target = server.read_link(OsStr::new(BIN))?.unwrap_or_default();
            if is_version_name(target.as_os_str()) {
                Ok(Bin::Version(target.into_os_string()))
            } else {
                Err(FsError::Link {
                    path: server.display(BIN),
                    target: Some(target),
                    expected: "link to a `.bin-<digest>` package directory",
                })
            }
        }
        _ => Err(server
            .expect(
                OsStr::new(BIN),
                Kind::Symlink,
                "link to a package directory",
            )
            .err()
            .unwrap_or_else(|| FsError::Kind {
                path: server.display(BIN),
                found: "file",
                expected: "link to a package directory",
            })),
    }
}

/// Checks, before anything is written, that every name deploy will touch is absent or what
/// deploy keeps there. Reads only. For a native start, also the files its printed command
/// writes as root in the log directory (`App.Server.out`, `tars_start.sh.pid`), which a shell
/// redirection would follow.
fn inspect(names: &Names, mode: RunMode) -> Result<(), FsError> {
    if let Ok(data) = DirHandle::open_root(&names.data_dir)
        && let Some(server) = data.open_dir_if_exists(Path::new(&names.server))?
    {
        server.expect(OsStr::new(DATA), Kind::Dir, "directory")?;
        if server
            .expect(OsStr::new(CONF), Kind::Dir, "directory")?
            .is_some()
        {
            let conf = server.open_dir(Path::new(CONF))?;
            conf.expect(&names.config, Kind::File, "config file")?;
            conf.expect(&names.backup, Kind::File, "config backup")?;
        }
        let mut versions = vec![names.version.clone()];
        if let Bin::Version(current) = current_bin(&server)? {
            versions.push(current);
        }
        for version in versions {
            if server
                .expect(&version, Kind::Dir, "package directory")?
                .is_some()
            {
                let dir = server.open_dir(Path::new(&version))?;
                dir.expect(OsStr::new(START_SCRIPT), Kind::File, "start script")?;
            }
        }
    }
    if let Ok(logs) = DirHandle::open_root(&names.log_root)
        && let Some(log_dir) = logs.open_dir_if_exists(&names.log_dir)?
        && mode == RunMode::Native
    {
        for name in &names.native_files {
            log_dir.expect(name, Kind::File, "file the native start writes")?;
        }
    }
    Ok(())
}

/// What [`write`] did.
struct Written {
    bin: FileAction,
    restored: Vec<String>,
    config: FileAction,
    script: FileAction,
    warnings: Vec<String>,
}

/// Creates the directories, writes the config and installs the package and its script.
fn write(
    names: &Names,
    package: &Package,
    limits: &Limits,
    config_text: &[u8],
    script: &str,
) -> Result<Written, DeployError> {
    let data = DirHandle::create_root(&names.data_dir)?;
    let server = data.ensure_dir(Path::new(&names.server), 0o755)?;
    let conf = server.ensure_dir(Path::new(CONF), 0o755)?;
    server.ensure_dir(Path::new(DATA), 0o755)?;
    let logs = DirHandle::create_root(&names.log_root)?;
    logs.ensure_dir(&names.log_dir, 0o755)?;

    let config = write_if_changed(
        &conf,
        &names.config,
        config_text,
        0o644,
        Some(&names.backup),
    )?;

    let mut warnings = Vec::new();
    let current = current_bin(&server)?;
    let mut restored = Vec::new();
    if let Bin::Version(name) = &current
        && *name == names.version
        && let Some(version) = server.open_dir_if_exists(Path::new(&names.version))?
    {
        restored = package.verify(&version, limits)?;
        if restored.is_empty() {
            let script_action = write_if_changed(
                &version,
                OsStr::new(START_SCRIPT),
                script.as_bytes(),
                0o755,
                None,
            )?;
            return Ok(Written {
                bin: FileAction::Unchanged,
                restored,
                config,
                script: script_action,
                warnings,
            });
        }
    }

    // A new (or restored) package: unpacked beside `bin`, then swapped in.
    let staging = unique_name(".bin-staging-");
    let content = package.unpack(&server, &staging, limits)?;
    let mut trash: Vec<OsString> = Vec::new();
    let installed = (|| -> Result<(), FsError> {
        let dir = server.open_dir(&content)?;
        dir.write_file(OsStr::new(START_SCRIPT), script.as_bytes(), 0o755)?;
        // `content` is `staging` or `staging/<top>`.
        let (holder, leaf) = match content.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => (
                server.open_dir(parent)?,
                content.file_name().unwrap_or_default(),
            ),
            None => (server.try_clone()?, content.as_os_str()),
        };
        if server
            .expect(&names.version, Kind::Dir, "package directory")?
            .is_some()
        {
            // Stale or changed: swap in one step where the filesystem can, else move it aside.
            if !holder.exchange(leaf, &server, &names.version)? {
                let aside = unique_name(".bin-aside-");
                server.rename(&names.version, &server, &aside)?;
                trash.push(aside);
                holder.rename(leaf, &server, &names.version)?;
            }
        } else {
            holder.rename(leaf, &server, &names.version)?;
        }
        if let Bin::Directory = current {
            let aside = unique_name(".bin-replaced-");
            server.rename(OsStr::new(BIN), &server, &aside)?;
            trash.push(aside);
        }
        server.replace_symlink(Path::new(&names.version), OsStr::new(BIN))
    })();
    // The staging directory is empty, or holds what the swap moved out.
    trash.push(staging);
    if let Err(error) = installed {
        for name in &trash {
            let _ = server.remove_tree(name);
        }
        return Err(error.into());
    }
    if let Bin::Version(old) = &current
        && *old != names.version
    {
        trash.push(old.clone());
    }
    for name in &trash {
        if let Err(error) = server.remove_tree(name) {
            warnings.push(format!("left in place: {error}"));
        }
    }
    let action = match current {
        Bin::Absent => FileAction::Created,
        Bin::Version(_) | Bin::Directory => FileAction::Replaced { backup: None },
    };
    Ok(Written {
        bin: action.clone(),
        restored,
        config,
        script: action,
        warnings,
    })
}

/// `prefix<pid>-<nanos>-<n>`: a name for a directory this run creates (exclusively).
fn unique_name(prefix: &str) -> OsString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    OsString::from(format!(
        "{prefix}{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes `bytes` to `name` in `dir` with `mode` unless it holds them already (same bytes,
/// mode and owner). With `backup`, the old file is kept under that name (a second link to it,
/// not a copy).
fn write_if_changed(
    dir: &DirHandle,
    name: &OsStr,
    bytes: &[u8],
    mode: u32,
    backup: Option<&OsStr>,
) -> Result<FileAction, FsError> {
    let uid = rustix::process::geteuid().as_raw();
    let old = dir.read_file(name, bytes.len() as u64)?;
    if let Some((old, meta)) = &old
        && old.as_slice() == bytes
        && meta.mode == mode
        && meta.uid == uid
    {
        return Ok(FileAction::Unchanged);
    }
    let mut kept = None;
    if let Some(backup) = backup
        && old.is_some()
    {
        dir.link_as(name, backup)?;
        kept = Some(dir.display(backup).display().to_string());
    }
    dir.write_file(name, bytes, mode)?;
    Ok(if old.is_some() {
        FileAction::Replaced { backup: kept }
    } else {
        FileAction::Created
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::new("/t", "/t/app_log", "Test", "HelloServer")
    }

    fn entry(path: &str, is_dir: bool, executable: bool) -> ListedEntry {
        ListedEntry {
            path: PathBuf::from(path),
            is_dir,
            executable,
        }
    }

    #[test]
    fn cpp_takes_the_server_binary_or_a_server_like_name() {
        let settings = ScriptSettings::default();
        let exe = find_executable(
            ServerType::Cpp,
            &layout(),
            &settings,
            &[entry("HelloServer", false, true), entry("lib", true, false)],
        )
        .unwrap();
        assert_eq!(
            exe.program,
            "/t/tarsnode/data/Test.HelloServer/bin/HelloServer"
        );
        let exe = find_executable(
            ServerType::Go,
            &layout(),
            &settings,
            &[entry("OtherServer", false, true)],
        )
        .unwrap();
        assert!(exe.program.ends_with("/bin/OtherServer"));
        let err = find_executable(
            ServerType::Cpp,
            &layout(),
            &settings,
            &[entry("README", false, false)],
        )
        .unwrap_err();
        assert!(err.contains("no `HelloServer`"), "{err}");
        let err = find_executable(
            ServerType::Cpp,
            &layout(),
            &settings,
            &[entry("HelloServer", false, false)],
        )
        .unwrap_err();
        assert!(err.contains("not executable"), "{err}");
    }

    #[test]
    fn other_types_need_their_entry_files() {
        let settings = ScriptSettings::default();
        assert!(
            find_executable(
                ServerType::Java,
                &layout(),
                &settings,
                &[entry("a.txt", false, false)]
            )
            .is_err()
        );
        assert_eq!(
            find_executable(
                ServerType::Java,
                &layout(),
                &settings,
                &[entry("lib/app.jar", false, false)]
            )
            .unwrap()
            .program,
            "java"
        );
        let node = find_executable(
            ServerType::Nodejs,
            &layout(),
            &settings,
            &[
                entry("node_modules/x/package.json", false, false),
                entry("app/package.json", false, false),
            ],
        )
        .unwrap();
        assert_eq!(
            node.nodejs_dir.as_deref(),
            Some("/t/tarsnode/data/Test.HelloServer/bin/app")
        );
        assert!(
            find_executable(
                ServerType::Nodejs,
                &layout(),
                &settings,
                &[entry("node_modules/package.json", false, false)]
            )
            .is_err()
        );
        assert!(
            find_executable(
                ServerType::Php,
                &layout(),
                &settings,
                &[entry("index.php", false, false)]
            )
            .is_err()
        );
        assert!(
            find_executable(
                ServerType::Php,
                &layout(),
                &settings,
                &[entry("src/index.php", false, false)]
            )
            .is_ok()
        );
    }

    #[test]
    fn native_start_runs_the_script_from_the_log_dir() {
        assert_eq!(
            native_start(&layout()),
            "cd /t/app_log/Test/HelloServer/ && nohup /t/tarsnode/data/Test.HelloServer/bin/tars_start.sh \
             >> /t/app_log/Test/HelloServer/Test.HelloServer.out 2>&1 &"
        );
    }
}
