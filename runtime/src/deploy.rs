//! The standalone node workflow: a service laid out from its tgz package the way tarsnode lays
//! it out, its config generated, its `tars_start.sh` written, and (in container mode) the
//! launch request that runs it.
//!
//! [`prepare`] decides everything in memory first (the package is checked entry by entry, the
//! executable for the server type is found in it, the config is rendered and planned), and
//! only then writes: the directories, the config (the old one kept as `.bak` when it changes),
//! and `bin/`. A refused input therefore writes nothing.
//!
//! `bin/` is a symbolic link to `.bin-<package digest>` beside it, so a new package replaces
//! `bin/` with one `rename` (atomic: a reader sees the old or the new package, never a mix).
//! The same package deployed again changes nothing. The launch request's plan hash covers the
//! container plan, the package, the config and the script, so the runtime replaces the
//! container exactly when one of them changed.
//!
//! Native and container mode use the same directory: stop the container, deploy with
//! `RunMode::Native` (which rewrites the config and script only) and run
//! `<server dir>/bin/tars_start.sh`; and back.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use lowering::ir::{ContainerPlan, Target};
use lowering::lower::{PlanOptions, Policy};
use lowering::plan::{ServiceOverrides, plan_generated_config};
use lowering::render::{NodeInputs, RenderError, render};
use parser::{Config, Diagnostic, Severity};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::package::{Package, PackageError};
use crate::plan_request::launch_request;
use crate::request::LaunchRequest;
use crate::script::{
    Executable, Layout, RunMode, ScriptSettings, ServerType, interpreter, php_entrance,
    start_script,
};

/// Label on deployed containers: the package digest.
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
}

/// Why a deployment was refused; nothing has been written when one is returned, except for
/// [`DeployError::Layout`] raised while writing (then the previous deployment is intact).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("`{0}` is not a service id: write it as App.Server (letters, digits, `_`, `-`)")]
    ServiceId(String),
    #[error("the {what} `{path}` is not absolute")]
    RelativePath { what: &'static str, path: String },
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
    #[error("{package}: no executable for a {server_type} server: {reason}")]
    NoExecutable {
        package: PathBuf,
        server_type: ServerType,
        reason: String,
    },
    #[error("cannot write {path}: {source}")]
    Layout {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The classes of [`DeployError`] a caller maps to outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployErrorKind {
    /// Bad arguments (service id, relative paths).
    Usage,
    /// The template or node inputs do not give a usable config.
    Template,
    /// The package is not a tgz, is unsafe, or has no executable.
    Package,
    /// The service directory or log directory cannot be written.
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
            Self::ServiceId(_) | Self::RelativePath { .. } | Self::Policy(_) => {
                DeployErrorKind::Usage
            }
            Self::Render(_) | Self::Plan { .. } => DeployErrorKind::Template,
            Self::Package(PackageError::Write { .. }) | Self::Layout { .. } => {
                DeployErrorKind::Layout
            }
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
    /// `sha256:<hex>` of the package.
    pub package_digest: String,
    pub bin: FileAction,
    pub config: FileAction,
    pub script: FileAction,
    /// What the start script runs.
    pub executable: String,
    /// The container's launch request (container mode only).
    #[serde(skip)]
    pub request: Option<LaunchRequest>,
    /// Where the service listens.
    pub listen: Vec<Listen>,
    /// The command that starts the laid-out service natively.
    pub native_start: String,
    /// Warnings from planning the container.
    pub warnings: Vec<String>,
}

/// Lays the service out (see the module documentation) and returns what to launch.
///
/// # Errors
/// Every [`DeployError`]; only [`DeployError::Layout`] (and [`PackageError::Write`]) can
/// come after something was written.
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
        if !path.starts_with('/') {
            return Err(DeployError::RelativePath {
                what,
                path: path.clone(),
            });
        }
    }
    crate::policy::check_deploy_paths(
        &input.tars_path,
        &input.log_path,
        &input.app,
        &input.server,
        input.policy,
    )?;
    let layout = Layout::new(&input.tars_path, &input.log_path, &input.app, &input.server);

    // 2. The package, checked without writing.
    let package = Package::read(&input.package)?;
    let server_dir = PathBuf::from(&layout.server_dir);
    let version_name = format!(".bin-{}", &package.hex()[..16]);
    let version_dir = server_dir.join(&version_name);
    let bin_link = server_dir.join("bin");
    let current = std::fs::read_link(&bin_link).ok();
    let same_package = current.as_deref() == Some(Path::new(&version_name)) && version_dir.is_dir();
    let listing = package.listing()?;

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
    let rendered = render(input.profile, &inputs)?;
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

    // 4. The executable and the start script.
    let settings = ScriptSettings::from_config(&config);
    let executable =
        find_executable(input.server_type, &layout, &settings, &listing).map_err(|reason| {
            DeployError::NoExecutable {
                package: input.package.clone(),
                server_type: input.server_type,
                reason,
            }
        })?;
    let script = start_script(
        input.server_type,
        input.mode,
        &layout,
        &settings,
        &executable,
    );

    // 5. Write: directories, config, bin/.
    for dir in [
        &layout.server_dir,
        &layout.conf_dir,
        &layout.data_path,
        &layout.log_dir,
    ] {
        create_dir(Path::new(dir))?;
    }
    let config_action =
        write_if_changed(Path::new(&layout.config_file), &config_text, true, false)?;
    let (bin_action, script_action) = if same_package {
        let action = write_if_changed(
            &version_dir.join("tars_start.sh"),
            script.as_bytes(),
            false,
            true,
        )?;
        (FileAction::Unchanged, action)
    } else {
        let staging = server_dir.join(format!(
            ".bin-staging-{}-{}",
            std::process::id(),
            &package.hex()[..16]
        ));
        let _ = std::fs::remove_dir_all(&staging);
        let had_bin = std::fs::symlink_metadata(&bin_link).is_ok();
        let content = package.unpack(&staging)?;
        let installed = (|| {
            write_file(&content.join("tars_start.sh"), script.as_bytes(), true)?;
            if version_dir.exists() {
                std::fs::remove_dir_all(&version_dir).map_err(layout_error(&version_dir))?;
            }
            std::fs::rename(&content, &version_dir).map_err(layout_error(&version_dir))?;
            swap_link(&bin_link, &version_name)
        })();
        let _ = std::fs::remove_dir_all(&staging);
        let previous = installed?;
        if let Some(old) = previous
            && old != version_dir
        {
            let _ = std::fs::remove_dir_all(&old);
        }
        let action = if had_bin {
            FileAction::Replaced { backup: None }
        } else {
            FileAction::Created
        };
        (action.clone(), action)
    };

    // 6. What to launch and where it listens.
    let request = plan.as_ref().map(|plan| {
        let mut request = launch_request(plan, &input.node, None);
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
        bin: bin_action,
        config: config_action,
        script: script_action,
        executable: executable.program,
        request,
        listen,
        warnings,
    })
}

/// The documented native start: the script, with the log directory as working directory
/// (where tarsnode starts services) and output appended to the service's log directory.
#[must_use]
pub fn native_start(layout: &Layout) -> String {
    format!(
        "cd {log} && nohup {script} >> {log}{id}.out 2>&1 &",
        log = layout.log_dir,
        script = layout.start_script,
        id = layout.server_id()
    )
}

/// One entry of a package listing: its path below `bin/`, and whether it is an executable
/// regular file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedEntry {
    pub path: PathBuf,
    pub is_dir: bool,
    pub executable: bool,
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
                    found.path.display()
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
                return Err(format!("no `{relative}` (the php entrance) in the package"));
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
        restart_policy: None,
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

fn layout_error(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |source| DeployError::Layout {
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir(path: &Path) -> Result<(), DeployError> {
    std::fs::create_dir_all(path).map_err(layout_error(path))
}

/// Writes `bytes` to `path` through a temporary file and a rename, unless it holds them
/// already. With `backup`, the old content is copied to `<path>.bak` first (as tarsnode does).
fn write_if_changed(
    path: &Path,
    bytes: &[u8],
    backup: bool,
    executable: bool,
) -> Result<FileAction, DeployError> {
    let old = std::fs::read(path).ok();
    if old.as_deref() == Some(bytes) {
        return Ok(FileAction::Unchanged);
    }
    let mut kept = None;
    if backup && let Some(old) = &old {
        let mut name = path.as_os_str().to_owned();
        name.push(".bak");
        let bak = PathBuf::from(name);
        write_file(&bak, old, false)?;
        kept = Some(bak.display().to_string());
    }
    write_file(path, bytes, executable)?;
    Ok(if old.is_some() {
        FileAction::Replaced { backup: kept }
    } else {
        FileAction::Created
    })
}

/// Writes a whole file atomically (temporary file in the same directory, then rename).
fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<(), DeployError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    let temp = PathBuf::from(name);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(layout_error(path))
}

/// Points `link` (`bin`) at `target` with one rename, and returns the directory it pointed at
/// before (to remove). A real directory `bin/` (laid out by tarsnode) is moved aside first.
fn swap_link(link: &Path, target: &str) -> Result<Option<PathBuf>, DeployError> {
    let dir = link.parent().unwrap_or_else(|| Path::new("."));
    let previous = match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::read_link(link).ok().map(|t| dir.join(t))
        }
        Ok(meta) if meta.is_dir() => {
            let aside = dir.join(format!(".bin-replaced-{}", std::process::id()));
            std::fs::rename(link, &aside).map_err(layout_error(link))?;
            Some(aside)
        }
        Ok(_) => {
            std::fs::remove_file(link).map_err(layout_error(link))?;
            None
        }
        Err(_) => None,
    };
    let temp = dir.join(format!(".bin-link-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp).map_err(layout_error(&temp))?;
    if let Err(e) = std::fs::rename(&temp, link) {
        let _ = std::fs::remove_file(&temp);
        return Err(layout_error(link)(e));
    }
    Ok(previous)
}

impl Package {
    /// The package's entries as they will lie below `bin/` (the single top-level directory
    /// stripped, as [`Package::unpack`] does). Checks every entry.
    ///
    /// # Errors
    /// See [`Package::check`].
    pub fn listing(&self) -> Result<Vec<ListedEntry>, PackageError> {
        let raw = self.entries()?;
        let prefix = crate::package::single_top_dir(&raw);
        Ok(raw
            .into_iter()
            .filter_map(|(path, is_dir, executable)| {
                let path = match &prefix {
                    Some(top) => path.strip_prefix(top).ok()?.to_path_buf(),
                    None => path,
                };
                (!path.as_os_str().is_empty()).then_some(ListedEntry {
                    path,
                    is_dir,
                    executable,
                })
            })
            .collect())
    }
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
