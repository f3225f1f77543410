//! Family `TARS-V`: `<tars><application><container><volumes>` lines (`/host/path=/container/path`).
//!
//! `V0xx` are errors (Docker refuses the mount, or mounts something else than written), `V1xx`
//! warnings (upstream drops or replaces a mount without a word).

use parser::{Diagnostic, SourceId, Span};

parser::define_codes! {
    VOLUME_WITHOUT_EQUALS = "TARS-V001", "volume-without-equals", Error,
    "a volume line has no `=` between host path and container path",
"## What it does
Flags a line in `<volumes>` that has no `=`.

## Why is this bad?
Upstream reads the whole line as a host path with an empty container path and sends that to
Docker, which refuses to create the container (`invalid mount config`), so the service never
starts and the reason is only in the tarsnode log.

## Example
```text
<volumes>
  /data/host/dir
</volumes>
```

Use instead:
```text
<volumes>
  /data/host/dir=/data/host/dir
</volumes>
```";

    VOLUME_EMPTY_PATH = "TARS-V002", "volume-empty-path", Error,
    "one side of a volume line is empty",
"## What it does
Flags `=/container/path` (no host path) and `/host/path=` (no container path).

## Why is this bad?
Docker refuses a bind mount without a source (`field Source must not be empty`) or without a
target, so the container cannot be created.

## Example
```text
/data/logs=
```

Use instead:
```text
/data/logs=/data/logs
```";

    VOLUME_PATH_NOT_ABSOLUTE = "TARS-V003", "volume-path-not-absolute", Error,
    "a volume path is not absolute",
"## What it does
Flags a host or container path that does not start with `/`.

## Why is this bad?
A container path must be absolute (`invalid mount path: ... mount path must be absolute`). A
relative host path is worse: in `-v` syntax Docker silently takes it as the name of a *named
volume*, so the service writes into an empty Docker volume instead of the host directory.

## Example
```text
data/cache=/cache
```

Use instead:
```text
/data/cache=/cache
```";

    VOLUME_PATH_PARENT_SEGMENT = "TARS-V004", "volume-path-parent-segment", Error,
    "a volume path contains a `..` segment",
"## What it does
Flags `..` as a path segment in a host or container path, such as `/data/app/../../etc`.

## Why is this bad?
`..` makes a path mean something else than it reads: `/data/app/../../etc` is `/etc`. It hides
mounts of sensitive host directories from review and from the security checks of other tools,
and lets a template escape the directory it appears to stay in.

## Example
```text
/data/app/../../etc=/host-etc
```

Use instead: write the resolved path (and reconsider mounting it).";

    VOLUME_TARGET_ROOT = "TARS-V005", "volume-target-root", Error,
    "a volume is mounted on the container's `/`",
"## What it does
Flags a container path that is `/` (after removing `.`, `//` and trailing slashes).

## Why is this bad?
Docker refuses it (`invalid specification: destination can't be '/'`): the image's root file
system cannot be replaced by a bind mount.

## Example
```text
/data/root=/
```

Use instead:
```text
/data/root=/data/root
```";

    VOLUME_COLON_IN_PATH = "TARS-V006", "volume-colon-in-path", Error,
    "a volume path contains `:`",
"## What it does
Flags `:` in a host or container path.

## Why is this bad?
`:` separates source, target and options in Docker's `-v` syntax, so the mount cannot be
written as a `docker run` line (`invalid volume specification`), and upstream offers no way to
give options: the text after the colon is not an option but part of the path. Upstream has no
`:ro` syntax either.

## Example
```text
/data/conf=/conf:ro
```

Use instead:
```text
/data/conf=/conf
```";

    DUPLICATE_VOLUME_TARGET = "TARS-V007", "duplicate-volume-target", Error,
    "two mounts share one container path",
"## What it does
Flags a container path that is already the target of another volume line or of one of
tarsnode's own mounts (server directory, log directory, `/etc/localtime`). Paths are compared
after cleaning (`/a/` and `/a` are the same target).

## Why is this bad?
Docker refuses to create a container with two mounts on one target (`Duplicate mount point`), so
the service cannot start; upstream only says `create container error` in its log.

## Example
```text
/data/a=/data/shared
/data/b=/data/shared
```

Use instead: give each mount its own container path.";

    VOLUME_PATH_NOT_UTF8 = "TARS-V008", "volume-path-not-utf8", Error,
    "a volume path is not valid UTF-8",
"## What it does
Flags a host or container path with bytes that are not UTF-8 (such as a GBK-encoded name).

## Why is this bad?
The Docker Engine API takes JSON strings, which are Unicode: the path cannot be sent as written.

## Example
A path saved in GBK, such as `/data/\\xc4\\xe3=/data/x`.

Use instead: save the template as UTF-8, or use an ASCII path.";

    DUPLICATE_VOLUME_SOURCE = "TARS-V101", "duplicate-volume-source", Warning,
    "a host path is mounted twice; only the last line is kept",
"## What it does
Flags a volume line whose host path (the key) is written again later in `<volumes>`.

## Why is this bad?
Volumes are a TC_Config domain keyed by host path, so upstream keeps only the last line: the
earlier mount is silently lost and the service does not see the directory it expects.

## Example
```text
/data/shared=/data/a
/data/shared=/data/b
```

Use instead: keep one line per host path (mount a parent directory if both targets are needed).";

    VOLUME_REPLACES_DEFAULT_MOUNT = "TARS-V102", "volume-replaces-default-mount", Warning,
    "a volume line replaces one of tarsnode's own mounts",
"## What it does
Flags a volume line whose host path is the source of one of tarsnode's own mounts (server
directory, log directory, `/etc/localtime`).

## Why is this bad?
tarsnode builds all mounts in one map keyed by host path and inserts template lines last, so
the template line *replaces* the framework mount: the server or log directory is no longer
mounted where the service's config says it is. tarsdock does the same, for compatibility, and
says so.

## Example
```text
/usr/local/app/tars/app_log=/logs
```

Use instead: mount a different host directory, or drop the line (the log directory is already
mounted at its own path).";

}

fn quote(text: &str) -> String {
    format!("`{text}`")
}

pub(crate) fn volume_without_equals(line: Span, text: &str) -> Diagnostic {
    Diagnostic::from_code(
        &VOLUME_WITHOUT_EQUALS,
        format!("volume line {} has no `=`", quote(text)),
    )
    .with_label(line, "expected `/host/path=/container/path`")
    .with_help(format!(
        "write `{text}={text}` to mount it at the same path"
    ))
}

pub(crate) fn volume_empty_path(span: Span, side: &str, other: &str) -> Diagnostic {
    let help = if side == "host" {
        format!("write `{other}={other}` to mount the same path from the host")
    } else {
        format!("write `{other}={other}` to mount it at the same path")
    };
    Diagnostic::from_code(
        &VOLUME_EMPTY_PATH,
        format!("volume has an empty {side} path"),
    )
    .with_label(span, format!("expected an absolute {side} path here"))
    .with_help(help)
}

pub(crate) fn volume_path_not_absolute(span: Span, side: &str, path: &str) -> Diagnostic {
    let why = if side == "host" {
        "Docker would take this as a named volume"
    } else {
        "Docker needs an absolute mount path"
    };
    let suggestion = path.trim_start_matches("./");
    Diagnostic::from_code(
        &VOLUME_PATH_NOT_ABSOLUTE,
        format!("{side} path {} is not absolute", quote(path)),
    )
    .with_label(span, why)
    .with_help(format!("write an absolute path, such as `/{suggestion}`"))
}

pub(crate) fn volume_path_parent_segment(
    span: Span,
    side: &str,
    path: &str,
    clean: &str,
) -> Diagnostic {
    Diagnostic::from_code(
        &VOLUME_PATH_PARENT_SEGMENT,
        format!("{side} path {} contains `..`", quote(path)),
    )
    .with_label(span, "`..` here")
    .with_help(format!("this is `{clean}`; write that path instead"))
}

pub(crate) fn volume_target_root(span: Span) -> Diagnostic {
    Diagnostic::from_code(
        &VOLUME_TARGET_ROOT,
        "volume is mounted on the container's `/`",
    )
    .with_label(span, "Docker refuses `/` as a mount destination")
    .with_help("mount it on a directory such as `/data`")
}

pub(crate) fn volume_colon_in_path(span: Span, side: &str, path: &str) -> Diagnostic {
    let help = if path.ends_with(":ro") || path.ends_with(":rw") {
        "mount options are not supported: remove the suffix".to_owned()
    } else {
        "rename the directory, or mount a parent directory without `:`".to_owned()
    };
    Diagnostic::from_code(
        &VOLUME_COLON_IN_PATH,
        format!("{side} path {} contains `:`", quote(path)),
    )
    .with_label(span, "`:` separates fields in Docker's volume syntax")
    .with_help(help)
}

pub(crate) fn duplicate_volume_target(
    span: Span,
    target: &str,
    previous: Option<Span>,
    default: Option<&str>,
) -> Diagnostic {
    let d = Diagnostic::from_code(
        &DUPLICATE_VOLUME_TARGET,
        format!("container path {} is mounted twice", quote(target)),
    )
    .with_label(span, "second mount on this target");
    let d = match (previous, default) {
        (Some(p), _) => d.with_related(SourceId::MAIN, p, "first mounted here"),
        (None, Some(what)) => d.with_help(format!(
            "{what} is already mounted on `{target}` by tarsnode; choose another container path"
        )),
        (None, None) => d,
    };
    if previous.is_some() {
        d.with_help("Docker refuses two mounts on one target; choose another container path")
    } else {
        d
    }
}

pub(crate) fn duplicate_volume_source(lost: Span, kept: Option<Span>, source: &str) -> Diagnostic {
    let d = Diagnostic::from_code(
        &DUPLICATE_VOLUME_SOURCE,
        format!(
            "host path {} is mounted again; this line is lost",
            quote(source)
        ),
    )
    .with_label(lost, "this mount is dropped");
    match kept {
        Some(k) => d.with_related(SourceId::MAIN, k, "only this line is kept"),
        None => d,
    }
    .with_help("volumes are keyed by host path: keep one line per host path")
}

pub(crate) fn volume_replaces_default_mount(
    span: Span,
    source: &str,
    what: &str,
    old_target: &str,
) -> Diagnostic {
    Diagnostic::from_code(
        &VOLUME_REPLACES_DEFAULT_MOUNT,
        format!(
            "host path {} replaces tarsnode's mount of {what}",
            quote(source)
        ),
    )
    .with_label(
        span,
        format!("{what} is no longer mounted on `{old_target}`"),
    )
    .with_help("mount a different host directory, or remove this line")
}

pub(crate) fn volume_path_not_utf8(span: Span, side: &str) -> Diagnostic {
    Diagnostic::from_code(
        &VOLUME_PATH_NOT_UTF8,
        format!("{side} path is not valid UTF-8"),
    )
    .with_label(span, "the Docker API cannot carry these bytes")
    .with_help("save the template as UTF-8")
}
