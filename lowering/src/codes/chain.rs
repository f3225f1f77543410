//! Template chain diagnostics (`TARS-C`): what tarsregistry does silently when it resolves
//! parents and merges the private profile.

use parser::{Diagnostic, SourceId, Span};

parser::define_codes! {
    CHAIN_CYCLE = "TARS-C001", "chain-cycle", Warning,
    "the parent chain loops back on itself",
"## What it does
Flags a template whose parent chain comes back to a template already in the chain
(`a → b → a`). A template naming itself as its parent (the installer does this for
`tars.default`) is not a cycle: it simply has no parent.

## Why is this bad?
tarsregistry stops at the repeated template without a word, so the templates after it never
contribute, and which ones those are depends on where resolution started.

## Example
```text
tars.a  parent = tars.b
tars.b  parent = tars.a
```

Use instead: give the chain a root whose parent is empty (or itself).";

    MISSING_PARENT = "TARS-C002", "missing-parent", Error,
    "a template's parent template does not exist",
"## What it does
Flags a template whose `parents_name` names a template that is not in the set.

## Why is this bad?
tarsregistry logs `(name:template not found)` and resolves the child alone: every setting the
parent should have supplied (locator, log settings, timeouts) silently disappears.

## Example
```text
tars.cpp.myservice  parent = tars.cpp.defualt
```

Use instead: name an existing template.";

    DROPPED_CHAIN_MEMBER = "TARS-C003", "dropped-chain-member", Error,
    "a chain member cannot be parsed or serialised, so upstream drops it",
"## What it does
Flags a template (or private profile) that upstream cannot parse, or that contains `<` or `>`
in a name, key or value so that it cannot be serialised.

## Why is this bad?
tarsregistry catches the exception and returns an empty template for that level: the template
and everything it inherited vanish from the resolved config. For the private profile the node
cannot load the service at all.

## Example
```text
<server>
  cmd=a>b
</server>
```

Use instead: fix the errors the file reports (`TARS-S0xx`).";

    EMPTY_OVERRIDE = "TARS-C004", "empty-override", Warning,
    "a template overrides an inherited value with an empty one",
"## What it does
Flags a key set to an empty value (`key=` or a bare `key`) where a parent template (or, for a
private profile, the template chain) gives it a value.

## Why is this bad?
TC_Config has no way to delete an inherited key; an empty value is the closest thing, and it
is written back as a bare key. Services usually read an empty value differently from a
missing one (no default is applied), so this is worth a second look.

## Example
```text
# parent: logLevel=DEBUG
logLevel=
```

Use instead: set the value you want explicitly.";
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn chain_cycle(at: (SourceId, Span), cycle: &[String]) -> Diagnostic {
    Diagnostic::from_code(
        &CHAIN_CYCLE,
        format!("parent chain loops: {}", cycle.join(" → ")),
    )
    .with_source(at.0)
    .with_label(at.1, "the chain comes back here")
    .with_help("upstream stops at the repeated template; break the loop")
}

pub(crate) fn missing_parent(at: (SourceId, Span), child: &str, parent: &str) -> Diagnostic {
    Diagnostic::from_code(
        &MISSING_PARENT,
        format!("parent template `{parent}` of `{child}` does not exist"),
    )
    .with_source(at.0)
    .with_label(at.1, "named here")
    .with_help(format!(
        "upstream resolves `{child}` without any parent settings; add `{parent}` or fix the name"
    ))
}

pub(crate) fn dropped_member(
    source: SourceId,
    span: Span,
    name: &str,
    why: &str,
    profile: bool,
) -> Diagnostic {
    let message = if profile {
        format!("private profile `{name}` {why}: the node cannot load the service")
    } else {
        format!("template `{name}` {why}: upstream drops it and everything it inherits")
    };
    Diagnostic::from_code(&DROPPED_CHAIN_MEMBER, message)
        .with_source(source)
        .with_label(span, why.to_owned())
        .with_help("fix the errors reported for this file")
}

pub(crate) fn empty_override(
    at: (SourceId, Span),
    key: &[u8],
    previous: (SourceId, Span),
    previous_value: &[u8],
) -> Diagnostic {
    Diagnostic::from_code(
        &EMPTY_OVERRIDE,
        format!(
            "`{}` is emptied here; it was `{}`",
            show(key),
            show(previous_value)
        ),
    )
    .with_source(at.0)
    .with_label(at.1, "empty value overrides the inherited one")
    .with_related(previous.0, previous.1, "inherited value")
    .with_help("TC_Config cannot delete inherited keys; set the value you want explicitly")
}
