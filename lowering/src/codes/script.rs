//! Family `TARS-H`: what the generated `tars_start.sh` would run that the template did not
//! mean to.

use parser::{Diagnostic, Span};

parser::define_codes! {
    SHELL_SYNTAX_IN_SCRIPT_VALUE = "TARS-H001", "shell-syntax-in-script-value", Warning,
    "a value that goes into tars_start.sh unquoted holds shell syntax",
"## What it does
Flags a value of `<tars><application><server>` that tarsnode writes into the service's
`tars_start.sh` as shell text, unquoted — `env` (each item becomes an `export` line),
`jvmparams`, `classpath`, `mainclass`, `java`, `nodejs`, `php`, `entrance` — when it holds
command substitution (`$(` or a backtick), `;`, `|`, `&` or a line break (in `env`, `;` and
`|` separate the items and are not flagged).

## Why is this bad?
The start script runs as the service's user — on a node that is usually root — and these
values are shell code there: `jvmparams=-Xmx1g; curl …` runs `curl` on every start, and a
template is edited in the web editor by more people than the node's administrators. tarsdock
keeps upstream's meaning (word splitting, `$VAR` expansion, the `-cp <classpath>/*` glob) so
that existing templates keep working, and says so here; `tarsdock deploy` repeats the warning
for the generated config.

## Example
```text
<server>
  jvmparams=-Xms256m -Xmx512m; touch /tmp/x
</server>
```

Use instead:
```text
<server>
  jvmparams=-Xms256m -Xmx512m
</server>
```";
}

pub(crate) fn shell_syntax_in_script_value(
    span: Span,
    key: &str,
    role: &str,
    what: &str,
) -> Diagnostic {
    Diagnostic::from_code(
        &SHELL_SYNTAX_IN_SCRIPT_VALUE,
        format!("`{key}` goes into tars_start.sh unquoted ({role}), and holds shell syntax"),
    )
    .with_label(span, what.to_owned())
    .with_help(
        "remove the shell syntax; if it is meant, say so on the line above: \
         `# tarsdock: ignore TARS-H001 <reason>`",
    )
}
