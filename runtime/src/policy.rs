//! The runtime side of the mount and container policy ([`lowering::policy`]): host paths
//! resolved on this host, and the check of a create body just before the container is created.
//!
//! Every path to the engine reaches [`enforce`]: [`crate::Runtime::launch`] calls it right
//! before `POST /containers/create`, whoever built the request (a plan, `launch --request`,
//! `deploy`, the Engine API front), so a link swapped in since the plan was checked is caught
//! there. Callers that want to refuse before anything else happens (no pull, no replaced
//! container) call it first too; it is cheap (a `stat` per path component).
//!
//! [`host_facts`] is the resolver `plan` and `launch` give lowering, so the plan-time check
//! and this one see the host the same way.

use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig};
use lowering::policy::{
    Allow, Context, EngineSocket, FileId, HostFacts, HostMount, HostView, PathKind, Refusal,
};
use parser::terminal::escape_controls;

use crate::error::{Error, Result};
use crate::request::LaunchRequest;

/// Links followed when resolving one path before giving up (the kernel's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The engine sockets protected whatever address tarsdock uses: Docker, containerd, CRI-O and
/// Podman at their usual places.
pub const WELL_KNOWN_SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/podman/podman.sock",
];

/// What the caller of a launch allows and knows about the node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchPolicy {
    /// What is let through (nothing by default).
    pub allow: Allow,
    /// The tars root on the host (`TARS_HOSTPATH`, else `TarsPath`); `None`: the tars
    /// directories are not checked (nothing is known about the node's layout).
    pub tars_root: Option<String>,
    /// The shared log root on the host; default `<tars root>/app_log`.
    pub log_root: Option<String>,
}

impl LaunchPolicy {
    /// The policy context for `request`'s service.
    #[must_use]
    pub fn context(&self, request: &LaunchRequest) -> Context {
        Context::new(
            self.tars_root.as_deref(),
            Some((request.app.as_str(), request.server.as_str())),
        )
        .with_log_root(self.log_root.as_deref())
    }
}

/// Refusals of the policy, described for people (each names the setting or mount, its
/// origin, why, and the allowance that would let it through).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .refusals.join("; "))]
pub struct Refused {
    pub refusals: Vec<String>,
}

/// Checks the create body of `request` against the policy, with host paths resolved now.
///
/// # Errors
/// [`Error::PolicyRefused`] naming every refused setting and mount with its origin (the
/// template line or default it came from, or the request field).
pub fn enforce(
    request: &LaunchRequest,
    body: &ContainerCreateBody,
    policy: &LaunchPolicy,
    engine_address: &str,
) -> Result<()> {
    let host = host_view(&[engine_address]);
    let refusals = lowering::policy::refused(
        lowering::policy::check_create_body(body, &policy.context(request), &host),
        policy.allow,
    );
    request_refused(request, &refusals)
}

/// The label recording what the launch that created a container allowed (`--allow` names,
/// comma-separated; absent: nothing). A later start of that container by tarsdock
/// ([`enforce_existing`]) is checked against the same allowances, and a launch with other
/// allowances replaces the container (the label is part of what is compared).
pub const LABEL_ALLOWED: &str = "tarsdock.allowed";

/// Records `allow` in `body`'s labels as [`LABEL_ALLOWED`] (removing a caller's value).
pub fn record_allowed(body: &mut ContainerCreateBody, allow: Allow) {
    let names: Vec<&str> = allow.iter().map(|a| a.name()).collect();
    let labels = body.labels.get_or_insert_with(Default::default);
    labels.remove(LABEL_ALLOWED);
    if !names.is_empty() {
        labels.insert(LABEL_ALLOWED.to_owned(), names.join(","));
    }
}

/// Checks the mounts of an existing container before tarsdock starts it again (`restart`,
/// the front's start), also against its `neighbours` ([`enforce_neighbours`]): the engine
/// mounts the bind sources anew at every start, following whatever links are there now, so a
/// source another container could since have turned into a link to `/etc` or the engine
/// socket is caught here, as [`enforce`] catches it before create. The allowances are the
/// ones recorded by the launch that created it ([`LABEL_ALLOWED`]); an unreadable record
/// allows nothing.
///
/// # Errors
/// [`Error::PolicyRefused`] naming every refused setting and mount.
pub fn enforce_existing(
    name: &str,
    existing: &ContainerInspectResponse,
    neighbours: &[Neighbour],
    engine_address: &str,
) -> Result<()> {
    let labels = existing.config.as_ref().and_then(|c| c.labels.as_ref());
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    let allow = label(LABEL_ALLOWED)
        .map_or(Ok(Allow::NONE), Allow::parse)
        .unwrap_or(Allow::NONE);
    let service = label(crate::request::LABEL_APP).zip(label(crate::request::LABEL_SERVER));
    let context = Context::new(None, service);
    // Only the mounts: the settings were checked at create and cannot change, and the engine
    // reports its own defaults for them (masked paths, cgroup namespace) that no request
    // asked for.
    let host_config = existing.host_config.as_ref().map(|h| HostConfig {
        binds: h.binds.clone(),
        mounts: h.mounts.clone(),
        ..HostConfig::default()
    });
    let body = ContainerCreateBody {
        host_config,
        ..ContainerCreateBody::default()
    };
    let host = host_view(&[engine_address]);
    let mut refusals = lowering::policy::refused(
        lowering::policy::check_create_body(&body, &context, &host),
        allow,
    );
    refusals.extend(neighbour_refusals(name, &body, allow, neighbours, &host));
    if refusals.is_empty() {
        return Ok(());
    }
    let origin = |r: &Refusal| format!("the existing container's {}", r.field);
    Err(Error::PolicyRefused {
        name: escape_controls(name).into_owned(),
        refusals: refusals.iter().map(|r| describe(r, &origin(r))).collect(),
        origin: refusals
            .first()
            .map(|r| escape_controls(&origin(r)).into_owned()),
    })
}

/// Another container tarsdock made, by its bind mounts (source as the engine recorded it,
/// and whether the container can write it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub name: String,
    pub binds: Vec<(String, bool)>,
}

/// Checks `request`'s bind mounts against the other containers tarsdock made on this engine:
/// a host path that lies inside a path another container can write (or that holds another
/// container's host path, where this one can write) could be swapped for a link by that
/// container, and the engine follows it at every start — including the starts it makes by
/// itself for a keepalive restart policy, which nobody checks. The nested-mount rule
/// (`TARS-X005`) catches this within one container; this is the same rule across containers,
/// let through by the same allowance (`nested-mounts`).
///
/// # Errors
/// [`Error::PolicyRefused`] naming each such mount and the other container.
pub fn enforce_neighbours(
    request: &LaunchRequest,
    body: &ContainerCreateBody,
    policy: &LaunchPolicy,
    neighbours: &[Neighbour],
    engine_address: &str,
) -> Result<()> {
    let host = host_view(&[engine_address]);
    let refusals = neighbour_refusals(&request.name, body, policy.allow, neighbours, &host);
    request_refused(request, &refusals)
}

/// The refusals of [`enforce_neighbours`] for the container `name` with `body`.
///
/// One pass, linear in all the mounts times their depth: every host path is resolved once,
/// the writable ones (theirs, then ours) are indexed by path, and each path looks up its
/// ancestors.
fn neighbour_refusals(
    name: &str,
    body: &ContainerCreateBody,
    allow: Allow,
    neighbours: &[Neighbour],
    host: &HostView,
) -> Vec<Refusal> {
    use lowering::policy::{mount_forms, strict_ancestors};
    use std::collections::HashMap;

    let mut refusals = Vec::new();
    if allow.allows(lowering::policy::Allowance::NestedMounts) || neighbours.is_empty() {
        return refusals;
    }
    let Some(own) = body
        .host_config
        .as_ref()
        .map(lowering::policy::bind_sources)
        .filter(|own| !own.is_empty())
    else {
        return refusals;
    };
    let own_forms: Vec<Vec<String>> = own.iter().map(|b| mount_forms(b.source, host)).collect();
    // Their mounts: (container, source, writable, forms).
    let theirs: Vec<(&str, &str, bool, Vec<String>)> = neighbours
        .iter()
        .filter(|n| n.name != name)
        .flat_map(|n| {
            n.binds.iter().map(|(source, writable)| {
                (
                    n.name.as_str(),
                    source.as_str(),
                    *writable,
                    mount_forms(source, host),
                )
            })
        })
        .collect();

    // Ours inside a path one of them can write.
    let mut their_writable: HashMap<&str, usize> = HashMap::new();
    for (k, (_, _, writable, forms)) in theirs.iter().enumerate() {
        if *writable {
            for form in forms {
                their_writable.entry(form.as_str()).or_insert(k);
            }
        }
    }
    for (i, forms) in own_forms.iter().enumerate() {
        let outer = forms
            .iter()
            .find_map(|f| strict_ancestors(f).find_map(|a| their_writable.get(a).copied()));
        if let Some(k) = outer {
            let (container, outer, _, _) = theirs[k];
            let source = own[i].source;
            refusals.push(nested_refusal(
                &own[i],
                format!(
                    "`{source}` lies inside `{outer}`, which container {container} can write: it \
                     could replace the path with a link before this container's next start"
                ),
            ));
        }
    }

    // One of theirs inside a path ours can write.
    let mut our_writable: HashMap<&str, usize> = HashMap::new();
    for (i, forms) in own_forms.iter().enumerate() {
        if !own[i].read_only {
            for form in forms {
                our_writable.entry(form.as_str()).or_insert(i);
            }
        }
    }
    let mut held: Vec<bool> = vec![false; own.len()];
    for (container, inner, _, forms) in &theirs {
        let outer = forms
            .iter()
            .find_map(|f| strict_ancestors(f).find_map(|a| our_writable.get(a).copied()));
        if let Some(i) = outer.filter(|&i| !held[i]) {
            held[i] = true;
            let source = own[i].source;
            refusals.push(nested_refusal(
                &own[i],
                format!(
                    "this container could write `{source}`, which holds `{inner}`, a mount of \
                     container {container}: it could replace that path with a link before the \
                     other's next start"
                ),
            ));
        }
    }
    refusals
}

fn nested_refusal(bind: &lowering::policy::BindSource<'_>, reason: String) -> Refusal {
    Refusal {
        field: bind.field.clone(),
        value: bind.value.clone(),
        allowance: lowering::policy::Allowance::NestedMounts,
        reason,
        host_path: Some(bind.source.to_owned()),
        finding: None,
    }
}

/// Checks the directories `deploy` writes and mounts: the tars path, the service's server
/// directory below it, the log path and the service's log directory below that, resolved.
///
/// # Errors
/// [`Refused`] naming each refused path.
pub fn check_deploy_paths(
    tars_path: &str,
    log_path: &str,
    app: &str,
    server: &str,
    allow: Allow,
) -> std::result::Result<(), Refused> {
    let host = host_view(&[]);
    let tars_root = lowering::paths::clean(tars_path);
    let log_root = lowering::paths::clean(log_path);
    let service =
        Context::new(Some(&tars_root), Some((app, server))).with_log_root(Some(&log_root));
    let checks = [
        ("--tars-path", tars_root.clone(), Context::default()),
        (
            "the server directory",
            format!("{tars_root}/tarsnode/data/{app}.{server}"),
            service.clone(),
        ),
        ("--log-path", log_root.clone(), service.clone()),
        (
            "the log directory",
            format!("{log_root}/{app}/{server}"),
            service,
        ),
    ];
    let mut refusals = Vec::new();
    for (what, path, context) in checks {
        let mount = HostMount {
            source: &path,
            read_only: false,
        };
        if let Some(finding) = lowering::policy::check_mount(mount, &context, &host)
            && !allow.allows(finding.allowance())
        {
            refusals.push(format!(
                "{what} {} (allow with --allow {})",
                escape_controls(&finding.to_string()),
                finding.allowance()
            ));
            if what == "--tars-path" {
                // Everything else is below it.
                break;
            }
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(Refused { refusals })
    }
}

/// The policy's view of this host: paths resolved with [`host_facts`], and the engine sockets
/// at `engine_addresses` (`unix://…` or a path; others are ignored) plus the
/// [`WELL_KNOWN_SOCKETS`].
#[must_use]
pub fn host_view(engine_addresses: &[&str]) -> HostView {
    let mut sockets: Vec<EngineSocket> = Vec::new();
    let addresses = engine_addresses
        .iter()
        .filter_map(|a| socket_path(a))
        .chain(WELL_KNOWN_SOCKETS.iter().map(PathBuf::from));
    for path in addresses {
        let facts = host_facts(&path.to_string_lossy());
        let Some(resolved) = facts.resolved else {
            continue;
        };
        let socket = EngineSocket {
            path: resolved,
            id: facts.id,
        };
        if !sockets.contains(&socket) {
            sockets.push(socket);
        }
    }
    HostView::resolving(Arc::new(|p: &str| host_facts(p)), sockets)
}

/// The socket path of an engine address (`unix:///run/docker.sock` or `/run/docker.sock`).
fn socket_path(address: &str) -> Option<PathBuf> {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// What this host says about `path`: where it leads with every link followed (through
/// missing components too, as `realpath -m`), what it is, and its identity. A relative path,
/// or one with more than 40 links, is not resolved.
#[must_use]
pub fn host_facts(path: &str) -> HostFacts {
    let Some(resolved) = resolve(Path::new(path)) else {
        return HostFacts::default();
    };
    let (kind, id) = match std::fs::metadata(&resolved) {
        Ok(meta) => {
            let t = meta.file_type();
            let kind = if t.is_dir() {
                PathKind::Directory
            } else if t.is_file() {
                PathKind::File
            } else if t.is_socket() {
                PathKind::Socket
            } else if t.is_block_device() || t.is_char_device() {
                PathKind::Device
            } else {
                PathKind::Other
            };
            (
                kind,
                Some(FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                }),
            )
        }
        Err(_) => (PathKind::Missing, None),
    };
    HostFacts {
        resolved: Some(resolved.to_string_lossy().into_owned()),
        kind,
        id,
    }
}

/// `realpath -m`: components resolved one by one, links followed (at most [`MAX_LINKS`]),
/// `..` applied to what has been resolved so far (as the kernel does); from the first
/// missing component on, the rest is appended as written.
fn resolve(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut current = PathBuf::from("/");
    let mut links = 0;
    let mut missing = false;
    while let Some(part) = pending.pop() {
        if part == ".." {
            current.pop();
            continue;
        }
        let next = current.join(&part);
        if missing {
            current = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&next).ok()?;
                if target.is_absolute() {
                    current = PathBuf::from("/");
                }
                push_components(&mut pending, &target);
            }
            Ok(_) => current = next,
            Err(_) => {
                missing = true;
                current = next;
            }
        }
    }
    Some(current)
}

/// Pushes the components of `path` so that popping yields them in order (`.` dropped).
fn push_components(pending: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    pending.extend(parts.into_iter().rev());
}

/// `Ok` without refusals; else [`Error::PolicyRefused`] for `request`, each refusal with the
/// origin of what it refuses.
fn request_refused(request: &LaunchRequest, refusals: &[Refusal]) -> Result<()> {
    if refusals.is_empty() {
        return Ok(());
    }
    Err(Error::PolicyRefused {
        name: escape_controls(&request.name).into_owned(),
        refusals: refusals
            .iter()
            .map(|r| describe(r, &origin_of(request, r)))
            .collect(),
        origin: refusals.first().map(|r| origin_of(request, r)),
    })
}

/// Where a refused mount or setting came from: the request's description of the mount (a
/// template line or a default), else the body field.
fn origin_of(request: &LaunchRequest, refusal: &Refusal) -> String {
    let described = refusal.host_path.as_deref().and_then(|host| {
        request
            .mounts
            .iter()
            .find(|m| m.host_path == host)
            .map(|m| m.origin.as_str())
    });
    escape_controls(&match described {
        Some(origin) => origin.to_owned(),
        None => format!("request field {}", refusal.field),
    })
    .into_owned()
}

fn describe(refusal: &Refusal, origin: &str) -> String {
    let text = match &refusal.finding {
        Some(finding) => format!(
            "mount {} (from {origin}): {finding} (allow with --allow {})",
            refusal.value, refusal.allowance
        ),
        None => format!(
            "{} = {} (from {origin}): {} (allow with --allow {})",
            refusal.field, refusal.value, refusal.reason, refusal.allowance
        ),
    };
    escape_controls(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn resolve_follows_links_through_missing_components() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        symlink(root.join("real"), root.join("abs")).unwrap();
        symlink("real", root.join("rel")).unwrap();
        symlink("/etc/nonexistent-tarsdock-x", root.join("dangling")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let facts = |p: &Path| host_facts(&p.to_string_lossy());

        let f = facts(&root.join("abs"));
        assert_eq!(
            f.resolved.as_deref(),
            Some(&*root.join("real").to_string_lossy())
        );
        assert_eq!(f.kind, PathKind::Directory);
        assert_eq!(
            facts(&root.join("rel/x/y")).resolved.as_deref(),
            Some(&*root.join("real/x/y").to_string_lossy())
        );
        assert_eq!(facts(&root.join("rel/x/y")).kind, PathKind::Missing);
        // A dangling link still says where it points.
        assert_eq!(
            facts(&root.join("dangling/sub")).resolved.as_deref(),
            Some("/etc/nonexistent-tarsdock-x/sub")
        );
        // `..` applies to the link's target, as in the kernel.
        assert_eq!(
            facts(&root.join("abs/../rel")).resolved.as_deref(),
            Some(&*root.join("real").to_string_lossy())
        );
        assert_eq!(facts(&root.join("loop")), HostFacts::default());
        assert_eq!(host_facts("relative/path"), HostFacts::default());
    }

    #[test]
    fn sockets_are_known_by_identity() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("engine.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let link = dir.path().join("innocent");
        std::fs::hard_link(&socket, &link).unwrap();
        let address = format!("unix://{}", socket.display());
        let host = host_view(&[&address]);
        let finding = lowering::policy::check_mount(
            HostMount {
                source: &link.to_string_lossy(),
                read_only: true,
            },
            &Context::default(),
            &host,
        )
        .unwrap();
        assert_eq!(finding.class, lowering::policy::Class::EngineSocket);
        assert_eq!(host_facts(&socket.to_string_lossy()).kind, PathKind::Socket);
    }
}
