//! Family `TARS-X`: what a template may not ask of the host unless a policy allows it.
//!
//! Every code here is an error by default. When the caller's [`crate::lower::Policy`] allows
//! the finding, it is reported as a warning instead (lint keeps telling, the plan goes ahead).

use parser::{Diagnostic, Severity, Span};

parser::define_codes! {
    SENSITIVE_HOST_MOUNT = "TARS-X001", "sensitive-host-mount", Error,
    "a volume mounts a sensitive host directory",
"## What it does
Flags a volume whose host path (after cleaning) is `/`, or is or lies below `/etc`, `/proc`,
`/sys`, `/dev` or `/boot`. `/etc/localtime` and `/etc/timezone` are allowed: they are the usual
way to share the host's time zone.

## Why is this bad?
Such a mount hands the service the host's configuration, kernel interfaces or devices. Mounts
are writable, so a bug or a compromise in one service can change the whole host. A policy
option (`--allow-host-mounts`) permits it deliberately.

## Example
```text
/etc=/host-etc
```

Use instead: mount only the file or directory the service needs, below `/data` or similar.";

    DOCKER_SOCKET_MOUNT = "TARS-X002", "docker-socket-mount", Error,
    "a volume mounts the Docker socket",
"## What it does
Flags a volume whose host path is a `docker.sock` or `podman.sock` file, or `/run` or `/var/run`
(which contain it).

## Why is this bad?
Whoever can talk to the Docker socket is root on the host: the service could start a privileged
container with the host's `/` mounted. A policy option (`--allow-host-mounts`) permits it
deliberately, for services that manage containers themselves.

## Example
```text
/var/run/docker.sock=/var/run/docker.sock
```

Use instead: do not give services the Docker socket.";

    PRIVILEGED_CONTAINER = "TARS-X003", "privileged-container", Error,
    "the template asks for a privileged container",
"## What it does
Flags `privileged=true` (or `1`, `yes`, `y`, `on`) in `<tars><application><container>`.

## Why is this bad?
A privileged container has every capability and every host device: it is as powerful as root on
the host. Upstream ran every container privileged; tarsdock runs none privileged unless the
template asks and a policy option (`--allow-privileged`) allows it.

## Example
```text
<container>
  privileged=true
</container>
```

Use instead: drop the line; grant the single capability the service needs outside the
template.";
}

/// The severity of a security finding: an error, or a warning when the policy allows it.
fn severity(allowed: bool) -> Severity {
    if allowed {
        Severity::Warning
    } else {
        Severity::Error
    }
}

pub(crate) fn sensitive_host_mount(span: Span, path: &str, dir: &str, allowed: bool) -> Diagnostic {
    let mut d = Diagnostic::from_code(
        &SENSITIVE_HOST_MOUNT,
        format!("volume mounts the sensitive host path `{path}`"),
    )
    .with_label(span, format!("`{dir}` belongs to the host system"));
    d.severity = severity(allowed);
    if allowed {
        d.with_help("allowed by policy (--allow-host-mounts)")
    } else {
        d.with_help("mount a dedicated directory instead, or allow it with --allow-host-mounts")
    }
}

pub(crate) fn docker_socket_mount(span: Span, path: &str, allowed: bool) -> Diagnostic {
    let mut d = Diagnostic::from_code(
        &DOCKER_SOCKET_MOUNT,
        format!("volume mounts the container engine's socket through `{path}`"),
    )
    .with_label(span, "access to this socket is root on the host");
    d.severity = severity(allowed);
    if allowed {
        d.with_help("allowed by policy (--allow-host-mounts)")
    } else {
        d.with_help("remove this volume, or allow it with --allow-host-mounts")
    }
}

pub(crate) fn privileged_container(span: Span, allowed: bool) -> Diagnostic {
    let mut d = Diagnostic::from_code(
        &PRIVILEGED_CONTAINER,
        "template asks for a privileged container",
    )
    .with_label(span, "every capability and every host device");
    d.severity = severity(allowed);
    if allowed {
        d.with_help("allowed by policy (--allow-privileged)")
    } else {
        d.with_help("remove this line, or allow it with --allow-privileged")
    }
}
