//! Family `TARS-L`: findings about the lint run itself (suppression comments).
//!
//! Suppressions are whole-line comments, so upstream TC_Config never sees them; these codes
//! keep them honest: every suppression says why, names a real code, and still suppresses
//! something. See [`crate::suppress`] for the syntax.

use parser::{Diagnostic, Span};

parser::define_codes! {
    SUPPRESSION_WITHOUT_REASON = "TARS-L001", "suppression-without-reason", Warning,
    "a suppression comment does not say why",
"## What it does
Flags a `# tarsdock: ignore CODE` or `# tarsdock: file-ignore CODE` comment that gives no reason
after the codes.

## Why is this bad?
A suppression hides a finding from everyone who reads the template later. Without a reason
nobody can tell whether it is still needed, or whether it was a shortcut. The suppression still
applies; only the reason is missing.

## Example
```text
# tarsdock: ignore TARS-S103
threads=4 # per core
```

Use instead:
```text
# tarsdock: ignore TARS-S103 the value is passed verbatim to a shell script
threads=4 # per core
```";

    UNUSED_SUPPRESSION = "TARS-L002", "unused-suppression", Warning,
    "a suppression comment suppresses nothing",
"## What it does
Flags a code in a suppression comment when that code is enabled but reported nothing on the
line the comment applies to (or, for `file-ignore`, anywhere in the file).

## Why is this bad?
The finding it was written for has been fixed, or the comment sits above the wrong line. A
stale suppression would silently hide the next real finding of that kind.

## Example
```text
# tarsdock: ignore TARS-S104 kept for the old node agent
timeout=100
```
where `timeout` is set only once.

Use instead: remove the comment.";

    INVALID_SUPPRESSION = "TARS-L003", "invalid-suppression", Warning,
    "a suppression comment cannot be understood or cannot apply",
"## What it does
Flags a `# tarsdock:` comment that is not `ignore` or `file-ignore` followed by codes, that
names an unknown code or rule, that names a code which cannot be suppressed (syntax errors that
make upstream refuse the template, and the `TARS-L` codes themselves), or a line suppression
with no line after it.

## Why is this bad?
The comment does nothing, although whoever wrote it believed it hides a finding.

## Example
```text
# tarsdock: ignore TARS-S999 typo in the code
```

Use instead: name an existing code or rule (`tarsdock rules` lists them), such as
`# tarsdock: ignore TARS-S103 reason`.";
}

pub(crate) fn suppression_without_reason(span: Span, directive: &str, codes: &str) -> Diagnostic {
    Diagnostic::from_code(
        &SUPPRESSION_WITHOUT_REASON,
        format!("`{directive}` without a reason"),
    )
    .with_label(span, "say why this finding is acceptable here")
    .with_help(format!("write `# tarsdock: {directive} {codes} <reason>`"))
}

pub(crate) fn unused_suppression(span: Span, code: &str, file_level: bool) -> Diagnostic {
    let (message, label) = if file_level {
        (
            format!("`{code}` is suppressed in this file but reports nothing"),
            "nothing in this file to suppress",
        )
    } else {
        (
            format!("`{code}` is suppressed on the next line but reports nothing there"),
            "nothing on the next line to suppress",
        )
    };
    Diagnostic::from_code(&UNUSED_SUPPRESSION, message)
        .with_label(span, label)
        .with_help("remove this code from the comment (or the whole comment)")
}

pub(crate) fn invalid_suppression(
    span: Span,
    message: impl Into<String>,
    label: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::from_code(&INVALID_SUPPRESSION, message)
        .with_label(span, label)
        .with_help(help.to_owned())
}
