//! Family `TARS-X`: what a service may not take from the host unless the caller allows it.
//!
//! The decisions are [`crate::policy`]'s (one list, shared with the runtime's check of the
//! create body); this file only words them. Every code here is an error by default. When the
//! caller's [`crate::policy::Allow`] lets the finding through (`plan`, `launch`, `deploy` with
//! `--allow NAME`), it is reported as a warning instead: the tool keeps telling, the plan goes
//! ahead. `lint` allows nothing: it reports what the runtime refuses by default.

use parser::{Diagnostic, Severity, Span};

use crate::policy::{Allowance, Class, Finding};

parser::define_codes! {
    SENSITIVE_HOST_MOUNT = "TARS-X001", "sensitive-host-mount", Error,
    "a mount gives the container a sensitive host path",
"## What it does
Flags a mount whose host path is a host system path: a `<volumes>` line, or one of the mounts
derived from the config (the server directory from `datapath`, the log directory from
`logpath`). Paths are compared after cleaning (`//`, `.`, `..`, trailing `/`), and `plan`,
`launch` and `deploy` also check where they lead on the host (every link followed), again just
before the container is created.

Refused, with everything below them and every directory above them (`/` contains `/etc`):
`/etc`, `/proc`, `/sys`, `/dev`, `/boot`, `/root`, `/bin`, `/sbin`, `/lib*`, `/usr/bin`,
`/usr/sbin`, `/usr/lib*`, `/usr/libexec`, `/usr/local/bin`, `/usr/local/sbin`,
`/usr/local/lib*`, `/var/lib/docker`, `/var/lib/containerd`, `/var/lib/containers`,
`/var/lib/kubelet`, `/var/spool/cron`, the dot files of a home (`/home/*/.*`).
Refused themselves and above, but not below: `/`, `/usr`, `/usr/local`, `/var`, `/var/lib`,
`/var/log`, `/var/spool`, `/home`, `/home/*` (so `/usr/local/app/tars/…` or `/var/lib/mysql`
stay usable). Also refused: a device node, wherever it is. Allowed read-only:
`/etc/localtime`, `/etc/timezone` and `/usr/share/zoneinfo` (a `<volumes>` line of them is
mounted read-only).

## Why is this bad?
Mounts are writable: the service, or whoever takes it over, can change the host's
configuration, programs, libraries, boot files, cron jobs or login keys, and through them
become root on the host. The list follows kube-linter's `sensitive-host-mounts`, the Pod
Security Standards' hostPath rules and Docker's own warnings.

`plan`, `launch` and `deploy` accept it with `--allow host-mounts` (or the older
`--allow-host-mounts`), reporting a warning; `lint` has no such option: suppress the line
with a reason (`# tarsdock: ignore TARS-X001 reason…`) when the mount is deliberate.

## Example
```text
<volumes>
  /etc=/host-etc
</volumes>
```
or, in a service config, `logpath=/etc/` (the log directory is mounted on itself).

Use instead: mount only the directory the service needs, below `/data` or similar.";

    DOCKER_SOCKET_MOUNT = "TARS-X002", "docker-socket-mount", Error,
    "a mount gives the container a container engine's socket",
"## What it does
Flags a mount whose host path is a container engine's socket or a directory holding one:
any file named `docker.sock`, `containerd.sock`, `containerd.sock.ttrpc`, `crio.sock`,
`podman.sock`, `cri-dockerd.sock`, `dockershim.sock`, `buildkitd.sock` or `kubelet.sock`
wherever it is,
`/run` and `/var/run` (and everything in them), and, at launch, the socket of the engine
tarsdock talks to under any name (compared by identity, so a link or a hard link to it is
caught too).

## Why is this bad?
Whoever can talk to a container engine is root on the host: the service could start a
privileged container with the host's `/` mounted.

`plan`, `launch` and `deploy` accept it with `--allow engine-socket` (or the older
`--allow-host-mounts`), reporting a warning, for services that manage containers themselves;
`lint` has no such option: suppress the line with a reason when it is deliberate.

## Example
```text
/var/run/docker.sock=/var/run/docker.sock
```

Use instead: do not give services the engine's socket.";

    PRIVILEGED_CONTAINER = "TARS-X003", "privileged-container", Error,
    "the template asks for a privileged container",
"## What it does
Flags `privileged=true` (or `1`, `yes`, `y`, `on`) in `<tars><application><container>`.

## Why is this bad?
A privileged container has every capability and every host device: it is as powerful as root on
the host. Upstream ran every container privileged; tarsdock runs none privileged unless the
template asks and the caller allows it: `plan`, `launch` and `deploy` with
`--allow privileged` (or the older `--allow-privileged`). `lint` has no such option.

## Example
```text
<container>
  privileged=true
</container>
```

Use instead: drop the line; grant the single capability the service needs outside the
template.";

    TARS_DIRECTORY_MOUNT = "TARS-X004", "tars-directory-mount", Error,
    "a mount gives the container tarsnode's or another service's directory",
"## What it does
Flags a mount below the tars root that is not the service's own: the tars root itself (and
every directory above it), tarsnode's directory (`<tars>/tarsnode`, or
`<TARS_HOSTPATH>/tarsnode-data`) except the service's own server directory
(`…/data/App.Server`), a Tars framework server's directory (`<tars>/tars*`), and another
service's log directory below the log root. The log root itself (`logpath`) stays allowed:
upstream tarsnode mounts it into every container.

The tars root is the node's `TarsPath` (`--tars-path`, by default the parent of `logpath`, as
tarsnode computes it) or, when tarsnode runs in a container, `TARS_HOSTPATH`. It is checked
for service configs (where the service and the paths are known) and at launch.

## Why is this bad?
tarsnode's directory holds every service's package, config and data, and tarsnode's own
binary and config; a service that can write there can change another service, or tarsnode,
which runs as root.

`plan`, `launch` and `deploy` accept it with `--allow tars-dirs` (or the older
`--allow-host-mounts`), reporting a warning.

## Example
```text
/usr/local/app/tars/tarsnode/data/Other.Server=/other
```

Use instead: share data through a directory made for it, outside the tars root.";

    NESTED_MOUNT = "TARS-X005", "mount-inside-writable-mount", Error,
    "a mount's host path lies inside another mount the container can write",
"## What it does
Flags a mount whose host path lies inside the host path of another mount that is writable:
a `<volumes>` line below the server directory or the log root (which tarsnode mounts
read-write), or below another `<volumes>` line. Paths are compared as written and, in `plan`,
`launch` and `deploy`, as resolved on the host.

## Why is this bad?
Through the outer mount the container can delete the inner path and put a link in its place
(`ln -s /etc data/cache`). The engine follows links in a bind mount's source every time the
container starts, so after the next restart the service has `/etc` (or anything else) mounted
read-write. tarsdock checks resolved paths before each create and start, but not restarts the
engine does on its own.

`plan`, `launch` and `deploy` accept it with `--allow nested-mounts` (or the older
`--allow-host-mounts`), reporting a warning.

The same holds across containers, which lint cannot see: before it creates or starts a
container, the runtime also refuses a host path inside a path another container tarsdock made
can write, or a writable one that holds another's (the same allowance lets it through).

## Example
```text
/usr/local/app/tars/tarsnode/data/Test.HelloServer/data/cache=/cache
```

Use instead: use the path inside the container where the outer mount already puts it, or
mount a directory outside the service's own directories.";
}

/// The severity of a security finding: an error, or a warning when the policy allows it.
fn severity(allowed: bool) -> Severity {
    if allowed {
        Severity::Warning
    } else {
        Severity::Error
    }
}

/// The help line: allowed, or how to allow it.
fn help(allowance: Allowance, allowed: bool, instead: &str) -> String {
    let flag = match allowance {
        Allowance::HostMounts
        | Allowance::EngineSocket
        | Allowance::TarsDirs
        | Allowance::NestedMounts => {
            format!("--allow {allowance} (or --allow-host-mounts)")
        }
        Allowance::Privileged => format!("--allow {allowance} (or --allow-privileged)"),
        other => format!("--allow {other}"),
    };
    if allowed {
        format!("allowed by {flag}")
    } else {
        format!("{instead}; plan, launch and deploy accept it with {flag}")
    }
}

/// The code of a mount finding's class.
const fn code_of(class: Class) -> &'static parser::CodeInfo {
    match class {
        Class::System => &SENSITIVE_HOST_MOUNT,
        Class::EngineSocket => &DOCKER_SOCKET_MOUNT,
        Class::TarsDir => &TARS_DIRECTORY_MOUNT,
    }
}

/// A refused mount. `what` names it for the message: "volume", "the log directory (`logpath`)".
pub(crate) fn refused_mount(
    span: Span,
    what: &str,
    finding: &Finding,
    allowed: bool,
) -> Diagnostic {
    let mut d = Diagnostic::from_code(
        code_of(finding.class),
        format!("{what} mounts {}", finding.phrase()),
    )
    .with_label(
        span,
        match finding.class {
            Class::System => "belongs to the host system",
            Class::EngineSocket => "access to this socket is root on the host",
            Class::TarsDir => "tarsnode's or another service's files",
        },
    );
    d.severity = severity(allowed);
    let instead = finding.hint.unwrap_or(match finding.class {
        Class::System => "mount a dedicated directory instead",
        Class::EngineSocket => "remove this mount",
        Class::TarsDir => "share data through a directory outside the tars root",
    });
    d.with_help(help(finding.allowance(), allowed, instead))
}

/// A mount inside a writable mount; `outer` describes the outer mount. `span` is the inner
/// mount's line, or the outer one's when `at_outer` (the inner is a default mount).
pub(crate) fn nested_mount(
    span: Span,
    at_outer: bool,
    what: &str,
    source: &str,
    outer: &str,
    allowed: bool,
) -> Diagnostic {
    let mut d = Diagnostic::from_code(
        &NESTED_MOUNT,
        format!("{what} mounts `{source}`, which lies inside {outer}, writable by the container"),
    )
    .with_label(
        span,
        if at_outer {
            "the container can write below this path"
        } else {
            "the container can replace this path with a link"
        },
    );
    d.severity = severity(allowed);
    d.with_help(help(
        Allowance::NestedMounts,
        allowed,
        "use the path where the outer mount already puts it in the container",
    ))
}

pub(crate) fn privileged_container(span: Span, allowed: bool) -> Diagnostic {
    let mut d = Diagnostic::from_code(
        &PRIVILEGED_CONTAINER,
        "template asks for a privileged container",
    )
    .with_label(span, "every capability and every host device");
    d.severity = severity(allowed);
    d.with_help(help(Allowance::Privileged, allowed, "remove this line"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ENGINE_SOCKET_NAMES, SENSITIVE};

    /// `tarsdock explain` lists exactly what the policy refuses: every entry of the list is
    /// named in the explanation of its code.
    #[test]
    fn explanations_name_every_listed_path() {
        for entry in SENSITIVE {
            let explanation = code_of(entry.class).explanation;
            assert!(
                explanation.contains(&format!("`{}`", entry.pattern)),
                "{} is not in the explanation of {}",
                entry.pattern,
                code_of(entry.class).code.0
            );
        }
        for name in ENGINE_SOCKET_NAMES {
            assert!(
                DOCKER_SOCKET_MOUNT
                    .explanation
                    .contains(&format!("`{name}`")),
                "{name}"
            );
        }
    }
}
