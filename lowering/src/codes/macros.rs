//! Macro diagnostics (`TARS-M`): `${name}` references that tarsnode leaves alone or replaces
//! where the author did not mean it.

use parser::{Diagnostic, Span};

parser::define_codes! {
    UNKNOWN_MACRO = "TARS-M001", "unknown-macro", Warning,
    "`${name}` is not a macro tarsnode knows; it stays as written",
"## What it does
Flags a `${name}` in a key, value or tag whose name is not one of the macros tarsnode fills in
(`app`, `server`, `basepath`, `datapath`, `logpath`, `locator`, `local`, `localip`,
`nodename`, `modulename`, `serverid`, `setdivision`, `enableset`, `asyncthread`, `mainclass`,
`exe`, `priKey`, `config-center-port`, `baseimage`, `sha`).

## Why is this bad?
tarsnode replaces only the names it knows and leaves every other `${...}` in the generated
config verbatim, so a misspelt macro becomes a literal string. (Some services substitute their
own placeholders, such as tarsstat's `${TABLE}`; suppress the finding there.)

## Example
```text
logpath=${logpth}
```

Use instead:
```text
logpath=${logpath}
```";

    MACRO_IN_KEY_OR_TAG = "TARS-M002", "macro-in-key-or-tag", Warning,
    "a macro in a key or tag name is replaced too",
"## What it does
Flags a known `${name}` inside a key or a domain name.

## Why is this bad?
tarsnode's substitution is a plain text replace over the whole config, so it renames the key
or domain too; lookups by the written name then fail, and a value with `=` or `\\` changes the
line's meaning.

## Example
```text
<${app}>
```

Use instead: keep macros in values.";

    UNTERMINATED_MACRO = "TARS-M003", "unterminated-macro", Warning,
    "`${` without a closing `}` is not a macro",
"## What it does
Flags `${` that is not followed by a name and `}`.

## Why is this bad?
tarsnode only replaces complete `${name}` references; an unterminated one stays in the config
as literal text.

## Example
```text
basepath=${basepath
```

Use instead:
```text
basepath=${basepath}
```";
}

pub(crate) fn unknown_macro(span: Span, name: &str, suggestion: Option<&str>) -> Diagnostic {
    let d = Diagnostic::from_code(
        &UNKNOWN_MACRO,
        format!("`${{{name}}}` is not a tarsnode macro"),
    )
    .with_label(span, "left as written in the generated config");
    match suggestion {
        Some(s) => d.with_help(format!("did you mean `${{{s}}}`?")),
        None => d.with_help("fine if the service substitutes it itself; otherwise fix the name"),
    }
}

pub(crate) fn macro_in_key_or_tag(span: Span, name: &str, place: &str) -> Diagnostic {
    Diagnostic::from_code(
        &MACRO_IN_KEY_OR_TAG,
        format!("`${{{name}}}` in a {place} is replaced too"),
    )
    .with_label(span, "tarsnode's replace does not know the syntax")
    .with_help("keep macros in values")
}

pub(crate) fn unterminated_macro(span: Span) -> Diagnostic {
    Diagnostic::from_code(&UNTERMINATED_MACRO, "`${` is never closed")
        .with_label(span, "no `}` after the name")
        .with_help("write `${name}`")
}
