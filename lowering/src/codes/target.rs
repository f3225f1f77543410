//! Family `TARS-T`: the service and its target platform: settings a plan needs from the config,
//! the `<container>` domain itself, and what a target does differently.
//!
//! `T0xx` are errors, `T1xx` warnings, `T2xx` information.

use parser::{Diagnostic, SourceId, Span};

parser::define_codes! {
    MISSING_SERVICE_SETTING = "TARS-T001", "missing-service-setting", Error,
    "the config lacks a setting a container plan needs",
"## What it does
Flags a generated service config without one of `/tars/application/server<app>`, `<server>`,
`<basepath>`, `<datapath>` or `<logpath>` when no flag gives the value instead.

## Why is this bad?
The container's name, entrypoint and mounts are made from these values (as tarsnode makes them);
without one there is no container to plan.

## Example
A config whose `<server>` domain has no `logpath`.

Use instead: plan from the config tarsnode generated for the service, or pass `--log-path`.";

    INVALID_SERVICE_SETTING = "TARS-T002", "invalid-service-setting", Error,
    "a setting a container plan needs has an unusable value",
"## What it does
Flags a directory setting that is not an absolute path, an application or server name that
cannot be part of a container name, and an adapter or local endpoint that cannot be read
(`tcp -h host -p port ...`).

## Why is this bad?
The mount sources, the entrypoint and the published ports are computed from these values; a
wrong one gives a container that cannot start, or that publishes nothing.

## Example
```text
<server>
  logpath=app_log
</server>
```

Use instead:
```text
<server>
  logpath=/usr/local/app/tars/app_log/
</server>
```";

    INVALID_CONTAINER_SETTING = "TARS-T003", "invalid-container-setting", Error,
    "a `<container>` setting has a value tarsdock cannot read",
"## What it does
Flags `privileged` in `<tars><application><container>` with a value that is not a yes/no word
(`true`/`false`, `1`/`0`, `yes`/`no`, `y`/`n`, `on`/`off`).

## Why is this bad?
Whether the container is privileged must not depend on a guess.

## Example
```text
privileged=maybe
```

Use instead:
```text
privileged=false
```";

    UNKNOWN_CONTAINER_SETTING = "TARS-T101", "unknown-container-setting", Warning,
    "a `<container>` setting is not one tarsdock or tarsnode reads",
"## What it does
Flags keys and sub-domains of `<tars><application><container>` other than `<volumes>`,
`<ports>` and `privileged`, such as a misspelt `<volume>`.

## Why is this bad?
Upstream reads only `<volumes>` and `<ports>` and ignores everything else without a word, so a
typo silently drops every mount or port in it.

## Example
```text
<container>
  <volume>
    /data/a=/data/a
  </volume>
</container>
```

Use instead:
```text
<container>
  <volumes>
    /data/a=/data/a
  </volumes>
</container>
```";

    PORTS_IGNORED_ON_HOST_NETWORK = "TARS-T201", "ports-ignored-on-host-network", Info,
    "`<ports>` lines are not used on the host network",
"## What it does
Notes, on the `linux` target, every `<ports>` line: the container shares the host's network, so
nothing is published and these lines have no effect.

## Why is this bad?
It is not: on Linux the service listens on the host's interfaces directly, as tarsnode runs it.
The lines matter on the `mac` target (Docker Desktop); on Linux they are dead configuration,
which Docker would only mention after the fact (`Published ports are discarded when using host
network mode`).

## Example
```text
<ports>
  80/tcp=0.0.0.0:8080
</ports>
```
planned with `--target linux`.";

    LOOPBACK_ENDPOINT_REWRITTEN = "TARS-T202", "loopback-endpoint-rewritten", Info,
    "a node or registry endpoint on the loopback is rewritten to `host.docker.internal`",
"## What it does
Notes, on the `mac` target, that the node endpoint (`/tars/application/server<node>`) or the
locator (`/tars/application/client<locator>`) names `127.0.0.1` or `localhost`, and that the
plan rewrites it to `host.docker.internal`, as tarsnode's `hostIp()` does on non-Linux builds.

## Why is this bad?
In a bridged container the loopback is the container itself: without the rewrite the service
cannot reach tarsnode or the registry.

## Example
```text
locator=tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890
```
becomes `tcp -h host.docker.internal -p 17890` on `mac`.";
}

pub(crate) fn missing_service_setting(span: Span, path: &str, flag: &str) -> Diagnostic {
    Diagnostic::from_code(
        &MISSING_SERVICE_SETTING,
        format!("config has no `{path}`, which the container plan needs"),
    )
    .with_label(span, "looked for here")
    .with_help(format!(
        "plan from the config tarsnode generated for the service, or pass `{flag}`"
    ))
}

pub(crate) fn invalid_service_setting(
    span: Span,
    what: &str,
    value: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::from_code(
        &INVALID_SERVICE_SETTING,
        format!("{what} `{value}` cannot be used"),
    )
    .with_label(span, format!("unusable {what}"))
    .with_help(help.to_owned())
}

pub(crate) fn invalid_container_setting(span: Span, key: &str, value: &str) -> Diagnostic {
    Diagnostic::from_code(
        &INVALID_CONTAINER_SETTING,
        format!("`{key}={value}` is neither yes nor no"),
    )
    .with_label(span, "expected `true` or `false`")
    .with_help(format!("write `{key}=false` (or `{key}=true`)"))
}

pub(crate) fn unknown_container_setting(
    span: Span,
    what: &str,
    name: &str,
    suggestion: Option<&str>,
) -> Diagnostic {
    let d = Diagnostic::from_code(
        &UNKNOWN_CONTAINER_SETTING,
        format!("{what} `{name}` in `<container>` is ignored"),
    )
    .with_label(span, "neither tarsnode nor tarsdock reads this");
    match suggestion {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help("`<container>` knows `<volumes>`, `<ports>` and `privileged`"),
    }
}

pub(crate) fn ports_ignored_on_host_network(domain: Span, lines: &[Span]) -> Diagnostic {
    let n = lines.len();
    let mut d = Diagnostic::from_code(
        &PORTS_IGNORED_ON_HOST_NETWORK,
        format!(
            "{n} `<ports>` line{} ignored: the `linux` target uses the host network",
            if n == 1 { " is" } else { "s are" }
        ),
    )
    .with_label(domain, "nothing is published with `NetworkMode=host`");
    for &line in lines {
        d = d.with_related(SourceId::MAIN, line, "ignored on linux");
    }
    d.with_help("the service listens on the host's interfaces directly; these lines apply to `--target mac`")
}

pub(crate) fn loopback_endpoint_rewritten(span: Span, path: &str, to: &str) -> Diagnostic {
    Diagnostic::from_code(
        &LOOPBACK_ENDPOINT_REWRITTEN,
        format!("`{path}` points at the loopback; rewritten for Docker Desktop"),
    )
    .with_label(
        span,
        "inside a bridged container this is the container itself",
    )
    .with_help(format!("the service config gets `{to}`"))
}
