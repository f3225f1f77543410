//! Family `TARS-P`: `<tars><application><container><ports>` lines (`80/tcp=192.168.0.1:80`) and
//! the ports published for the service's own endpoints.
//!
//! `P0xx` are errors (upstream drops the line, publishes something else, or Docker refuses it),
//! `P1xx` warnings, `P2xx` information. Messages reuse Docker's wording (`invalid hostPort`, …)
//! so that they can be searched for.

use parser::{Diagnostic, SourceId, Span};

parser::define_codes! {
    PORT_WITHOUT_HOST_ADDRESS = "TARS-P001", "port-without-host-address", Error,
    "a port line's value is not `host_ip:host_port`",
"## What it does
Flags a `<ports>` line whose value has no `:`, including a line without `=` or with an empty
value.

## Why is this bad?
Upstream skips such a line and logs it only at debug level (`ServerObject::addPorts line ... is
illegal`), so the port is silently not published.

## Example
```text
<ports>
  80/tcp=8080
</ports>
```

Use instead (`:8080` publishes on every interface):
```text
<ports>
  80/tcp=0.0.0.0:8080
</ports>
```";

    INVALID_CONTAINER_PORT = "TARS-P002", "invalid-container-port", Error,
    "a port line's key is not a container port or range",
"## What it does
Flags a key that is not `port`, `port/proto`, `start-end` or `start-end/proto`, with ports
1–65535 and `start <= end`.

## Why is this bad?
Upstream passes the key verbatim to Docker, which refuses the create (`invalid containerPort`),
or (for port 0) refuses the binding (`invalid port specification`).

## Example
```text
http/tcp=0.0.0.0:80
```

Use instead:
```text
80/tcp=0.0.0.0:80
```";

    INVALID_PORT_PROTOCOL = "TARS-P003", "invalid-port-protocol", Error,
    "a port's protocol is not tcp, udp or sctp",
"## What it does
Flags `/proto` when it is not `tcp`, `udp` or `sctp` (in any case), or is empty.

## Why is this bad?
Docker refuses it (`invalid proto`), so the container cannot be created.

## Example
```text
80/http=0.0.0.0:80
```

Use instead:
```text
80/tcp=0.0.0.0:80
```";

    INVALID_HOST_PORT = "TARS-P004", "invalid-host-port", Error,
    "a port line's host port is not a number or range",
"## What it does
Flags a host port that is empty, not a decimal number, above 65535, or a range with
`start > end`.

## Why is this bad?
Upstream converts the host port with `strto<int>`, so a typo becomes `0` and Docker publishes
the service on a random ephemeral port: clients cannot find it and nothing says why.

## Example
```text
80/tcp=0.0.0.0:80a
```

Use instead:
```text
80/tcp=0.0.0.0:80
```";

    INVALID_HOST_IP = "TARS-P005", "invalid-host-ip", Error,
    "a port line's host address is not an IP address",
"## What it does
Flags a host address that is not an IPv4 address, a bracketed IPv6 address (`[::1]`) or empty.
An unbracketed IPv6 address is flagged too: its last `:` is ambiguous.

## Why is this bad?
Docker refuses host names and malformed addresses (`invalid IP address`); upstream splits at
the last `:`, so `::1:80` only works by accident.

## Example
```text
80/tcp=localhost:80
```

Use instead:
```text
80/tcp=127.0.0.1:80
```";

    PORT_RANGE_MISMATCH = "TARS-P006", "port-range-mismatch", Error,
    "container and host port ranges have different lengths",
"## What it does
Flags a container port range bound to a host range of another length, or to a single host port.
(A single container port with a host range is allowed: Docker picks a free port in the range.)

## Why is this bad?
Docker refuses it: `invalid ranges specified for container and host Ports`.

## Example
```text
8000-8009/tcp=0.0.0.0:9000-9004
```

Use instead:
```text
8000-8009/tcp=0.0.0.0:9000-9009
```";

    HOST_PORT_CONFLICT = "TARS-P007", "host-port-conflict", Error,
    "two ports are published on the same host address and port",
"## What it does
Flags two bindings of the same protocol whose host ports overlap on the same host address, where
an empty address or `0.0.0.0`/`[::]` overlaps every address. Service endpoints that tarsdock
publishes automatically on the `mac` target take part.

## Why is this bad?
The second binding fails when the container starts (`port is already allocated`), after the
container was created: the service does not start.

## Example
```text
80/tcp=0.0.0.0:8080
81/tcp=0.0.0.0:8080
```

Use instead: give each binding its own host port.";

    PRIVILEGED_HOST_PORT = "TARS-P101", "privileged-host-port", Warning,
    "a port is published on a host port below 1024",
"## What it does
Flags a host port between 1 and 1023.

## Why is this bad?
Binding ports below 1024 needs root on the host (or a lowered
`net.ipv4.ip_unprivileged_port_start`); rootless Docker and Podman refuse it, and such ports
are usually reserved for system services.

## Example
```text
80/tcp=0.0.0.0:80
```

Use instead:
```text
80/tcp=0.0.0.0:8080
```";

    PORT_OVERRIDES_ENDPOINT = "TARS-P201", "port-overrides-endpoint", Info,
    "a port line replaces the port published for a service endpoint",
"## What it does
Notes a `<ports>` line with the same container port and protocol as a service endpoint (an
adapter, or the local admin port), which tarsdock publishes automatically on the `mac` target.

## Why is this bad?
It is allowed, and the template line wins as in upstream, but the endpoint is then no longer
published where the registry says it is, which is worth knowing when clients cannot connect.

## Example
```text
10001/tcp=0.0.0.0:20001
```
for an adapter listening on port 10001.";
}

pub(crate) fn port_without_host_address(
    span: Span,
    key: &str,
    value: &str,
    suggested_port: &str,
) -> Diagnostic {
    let label = if value.is_empty() {
        "expected `=host_ip:host_port`"
    } else {
        "expected `host_ip:host_port`"
    };
    Diagnostic::from_code(
        &PORT_WITHOUT_HOST_ADDRESS,
        format!("port `{key}` has no host address; upstream drops this line"),
    )
    .with_label(span, label)
    .with_help(format!(
        "write `{key}=0.0.0.0:{suggested_port}` (or `{key}=:{suggested_port}` for every interface)"
    ))
}

pub(crate) fn invalid_container_port(
    span: Span,
    text: &str,
    reason: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::from_code(
        &INVALID_CONTAINER_PORT,
        format!("invalid containerPort: `{text}`"),
    )
    .with_label(span, reason)
    .with_help(help.to_owned())
}

pub(crate) fn invalid_port_protocol(span: Span, proto: &str) -> Diagnostic {
    let message = if proto.is_empty() {
        "invalid proto: the protocol after `/` is empty".to_owned()
    } else {
        format!("invalid proto: `{proto}`")
    };
    Diagnostic::from_code(&INVALID_PORT_PROTOCOL, message)
        .with_label(span, "expected `tcp`, `udp` or `sctp`")
        .with_help("write `/tcp`, `/udp` or `/sctp` (no suffix means tcp)")
}

pub(crate) fn invalid_host_port(span: Span, text: &str, reason: &str, help: &str) -> Diagnostic {
    Diagnostic::from_code(&INVALID_HOST_PORT, format!("invalid hostPort: `{text}`"))
        .with_label(span, reason)
        .with_help(help.to_owned())
}

pub(crate) fn invalid_host_ip(span: Span, text: &str, reason: &str, help: &str) -> Diagnostic {
    Diagnostic::from_code(&INVALID_HOST_IP, format!("invalid IP address: `{text}`"))
        .with_label(span, reason)
        .with_help(help.to_owned())
}

pub(crate) fn port_range_mismatch(
    span: Span,
    container: &str,
    host: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::from_code(
        &PORT_RANGE_MISMATCH,
        format!(
            "invalid ranges specified for container and host Ports: `{container}` and `{host}`"
        ),
    )
    .with_label(span, "the two ranges must have the same length")
    .with_help(help.to_owned())
}

pub(crate) fn host_port_conflict(
    span: Span,
    binding: &str,
    previous: Option<Span>,
    previous_what: &str,
) -> Diagnostic {
    let d = Diagnostic::from_code(
        &HOST_PORT_CONFLICT,
        format!("host port {binding} is already published by {previous_what}"),
    )
    .with_label(
        span,
        "this binding would fail at start: port is already allocated",
    );
    match previous {
        Some(p) => d.with_related(SourceId::MAIN, p, "first published here"),
        None => d,
    }
    .with_help("choose another host port")
}

pub(crate) fn privileged_host_port(span: Span, port: u16) -> Diagnostic {
    Diagnostic::from_code(
        &PRIVILEGED_HOST_PORT,
        format!("host port {port} is below 1024"),
    )
    .with_label(span, "needs root on the host; rootless engines refuse it")
    .with_help(format!(
        "publish on a port above 1023, such as {}",
        u32::from(port) + 8000
    ))
}

pub(crate) fn port_overrides_endpoint(span: Span, key: &str, what: &str) -> Diagnostic {
    Diagnostic::from_code(
        &PORT_OVERRIDES_ENDPOINT,
        format!("`{key}` replaces the port published for {what}"),
    )
    .with_label(span, "this binding wins, as in upstream")
}
