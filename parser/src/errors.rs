//! Every diagnostic the parser emits: its code, documentation and constructor, in one place.
//!
//! Family `TARS-S` (syntax). `S0xx` are errors (upstream refuses the text, or accepts it and
//! then fails every merge), `S1xx` warnings (upstream accepts it, probably not as meant),
//! `S2xx` information.

use crate::diagnostic::{CodeInfo, Diagnostic, SourceId};
use crate::span::Span;

crate::define_codes! {
    UNTERMINATED_TAG = "TARS-S001", "unterminated-tag", Error,
    "a tag line has no `>`",
"## What it does
Flags a line that starts with `<` but contains no `>`.

## Why is this bad?
Upstream TC_Config throws `parse error! line : <line>` and the whole template is refused:
the registry serves an empty template and tarsnode cannot load the service.

## Example
```text
<tars
```

Use instead:
```text
<tars>
```";

    MISMATCHED_CLOSE_TAG = "TARS-S002", "mismatched-close-tag", Error,
    "a close tag does not match the domain it closes",
"## What it does
Flags `</name>` when the innermost open domain has another name. Close tag names are compared
exactly, without trimming: `</ t >` does not close `<t>`.

## Why is this bad?
Upstream throws `parse error! <open> hasn't match <close>.` and refuses the template.

## Example
```text
<server>
</sever>
```

Use instead:
```text
<server>
</server>
```";

    UNCLOSED_DOMAIN = "TARS-S003", "unclosed-domain", Error,
    "a domain is still open at the end of the file",
"## What it does
Flags each `<name>` that has no matching `</name>` before the end of the file.

## Why is this bad?
Upstream throws `parse error : hasn't match` at the end of input and refuses the template.

## Example
```text
<tars>
  a=1
```

Use instead:
```text
<tars>
  a=1
</tars>
```";

    UNMATCHED_CLOSE_TAG = "TARS-S004", "unmatched-close-tag", Error,
    "a close tag has no open domain to close",
"## What it does
Flags a close tag at the top level: an extra `</name>`, or `</>`, which upstream takes as
closing the (unnamed) root domain itself.

## Why is this bad?
Upstream refuses the template: an extra `</name>` throws `<> hasn't match <name>.`; after
`</>` a further close tag throws `<name> hasn't matched domain.`, an unterminated tag line
`parse error! line : <…`, and the end of input `hasn't match`.

**Upstream crashes** when an open tag or a parameter line follows `</>`: it reads the top of
its (now empty) domain stack, which is undefined behaviour; the upstream parser used for
tarsdock's differential tests dies with a signal there. tarsdock refuses such a template with
its own message (`tarsdock: a line after </> …`), as no upstream message exists.

## Example
```text
<t>
</t>
</t>
```

Use instead:
```text
<t>
</t>
```";

    INVALID_ESCAPE = "TARS-S005", "invalid-escape", Error,
    "a key or value has an escape upstream cannot read",
"## What it does
Flags `\\x` where `x` is not one of `\\ r n t =`, and a lone `\\` at the end of a key or value.

## Why is this bad?
Upstream throws `'<text>' is invalid, '\\x' couldn't be parse!` and refuses the template. A
Windows path such as `C:\\data` is the usual cause (TarsFramework#62).

## Example
```text
path=C:\\data
```

Use instead:
```text
path=C:\\\\data
```";

    ANGLE_BRACKET_IN_TEXT = "TARS-S006", "angle-bracket-in-text", Error,
    "a key, value or domain name contains `<` or `>`",
"## What it does
Flags `<` or `>` inside a key, a value or a domain name (`<a<b>` opens a domain named `a<b`).

## Why is this bad?
Upstream parses the line, but its serialiser (`tostr`, via `reverse_parse`) throws on `<` and
`>`. Every template merge (parent chain, private profile) and every node config is built by
serialising, so the service can never be loaded. There is no escape for these characters.

## Example
```text
cmd=a>b
```

Use instead: keep `<` and `>` out of templates (put such text in a file the service reads).";

    FILE_TOO_LARGE = "TARS-S007", "file-too-large", Error,
    "the file is larger than 4 MiB",
"## What it does
Refuses a template larger than 4 MiB (tarsdock's input bound; README \"Limits\").

## Why is this bad?
No real template comes near this size (the largest upstream template is 6 KB); such an input
is almost certainly not a template, and every command that reads it must stay within bounded
time and memory. Nothing is parsed, normalised or written.

## Example
A 20 MB log file passed to `tarsdock lint` by mistake.";

    NESTING_TOO_DEEP = "TARS-S008", "nesting-too-deep", Error,
    "domains are nested more than 128 levels deep",
"## What it does
Flags the first open tag that nests a domain more than 128 levels deep (tarsdock's depth
bound; README \"Limits\").

## Why is this bad?
Upstream accepts any depth, but its `tostr` writes two spaces of indent per level for every
line, so the serialised template grows with the square of the depth: 90 KB of nested tags
become 200 MB, and every merge (parent chain, private profile, node config) serialises. Real
templates nest five or six levels; this is a generated or corrupted file. `fmt` refuses it,
and `normalize`, `resolve`, `render` and `deploy` refuse once the serialised text would pass
64 MiB.

## Example
```text
<a>
  <a>
    <a>
      …  (129 levels)
```

Use instead: a flat structure; TC_Config domains are for grouping, not for data.";

    LINE_TOO_LONG = "TARS-S009", "line-too-long", Error,
    "a line is longer than 1 MiB",
"## What it does
Flags a line longer than 1 MiB (tarsdock's line bound; README \"Limits\").

## Why is this bad?
Upstream reads it, but no template needs it (the longest line of the upstream templates has
1,427 bytes): such a line is generated or corrupted text, and it makes every tool that shows
the template (editors, diffs, the web editor) slow. `fmt` refuses the file.

## Example
A value holding a base64-encoded file.

Use instead: keep large data in a file the service reads.";

    TEXT_AFTER_TAG = "TARS-S101", "text-after-tag", Warning,
    "text after `>` on a tag line is ignored",
"## What it does
Flags text after the first `>` on a tag line, such as `<tars> # main`.

## Why is this bad?
Upstream ignores everything after the first `>` without a word, so a value or comment written
there is lost.

## Example
```text
<server> threads=4
```

Use instead:
```text
<server>
  threads=4
```";

    SEVERAL_TAGS_ON_LINE = "TARS-S102", "several-tags-on-line", Warning,
    "only the first tag on a line counts",
"## What it does
Flags a line with more than one tag, such as `<tars><application>`.

## Why is this bad?
Upstream reads only the first tag and drops the rest of the line: `<tars><application>` opens
only `tars`, and the matching close tags then fail to match.

## Example
```text
<tars><application>
```

Use instead:
```text
<tars>
  <application>
```";

    HASH_IN_VALUE = "TARS-S103", "hash-in-value", Warning,
    "`#` after a value is part of the value, not a comment",
"## What it does
Flags a value containing whitespace followed by `#`, such as `a=1 # note`.

## Why is this bad?
TC_Config has whole-line comments only: `a=1 # note` sets `a` to `1 # note`.

## Example
```text
threads=4 # per core
```

Use instead:
```text
# per core
threads=4
```";

    DUPLICATE_KEY = "TARS-S104", "duplicate-key", Warning,
    "a key is set twice in one domain; the last value wins",
"## What it does
Flags a key assigned again in the same domain (including a domain opened twice).

## Why is this bad?
Upstream keeps the last value and moves the key to the end of the domain; the earlier line is
silently ignored, which is rarely what the author meant.

## Example
```text
<client>
  timeout=100
  timeout=200
</client>
```

Use instead: keep one of the two lines.";

    PADDED_TAG_NAME = "TARS-S105", "padded-tag-name", Warning,
    "a tag name has leading or trailing spaces",
"## What it does
Flags an open tag such as `< t >`.

## Why is this bad?
Upstream keys the domain by the untrimmed text, so path lookups such as `/t<a>` do not find it
until the template has been serialised and read again; `</ t >` does not close it either.

## Example
```text
< server >
```

Use instead:
```text
<server>
```";

    XML_STYLE_TAG = "TARS-S106", "xml-style-tag", Warning,
    "an XML-style or empty tag is an ordinary domain upstream",
"## What it does
Flags tags such as `<a/>`, `<!-- note -->`, `<?xml ...?>` and `<>`.

## Why is this bad?
TC_Config is not XML: `<a/>` opens a domain named `a/` and `<!-- c -->` one named `!-- c --`;
both then need a matching close tag, and `<>` opens a domain with an empty name.

## Example
```text
<!-- old settings -->
```

Use instead:
```text
# old settings
```";

    EMPTY_KEY = "TARS-S107", "empty-key", Warning,
    "a parameter has an empty key",
"## What it does
Flags a line such as `=value`.

## Why is this bad?
Upstream stores the value under the key `\"\"`, which no normal lookup reads; with an empty
value the line disappears on the next merge.

## Example
```text
=8080
```

Use instead:
```text
port=8080
```";

    ROOT_LEVEL_PARAM = "TARS-S108", "root-level-param", Warning,
    "a parameter outside every domain is dropped by every merge",
"## What it does
Flags a parameter line before the first or after the last top-level domain.

## Why is this bad?
Upstream's serialiser writes only the root's sub-domains, so root-level parameters vanish from
the stored template, the resolved chain and the node's generated config.

## Example
```text
timeout=10
<tars>
</tars>
```

Use instead: move the line inside a domain.";

    ESCAPED_BACKSLASH_BEFORE_EQUALS = "TARS-S109", "escaped-backslash-before-equals", Warning,
    "`\\\\=` is read as an escaped `=`, so the line has no key/value split there",
"## What it does
Flags `\\\\=` where the author meant a key ending in a backslash followed by the `=` separator.

## Why is this bad?
Upstream looks only at the one character before `=`: after `\\\\` it sees `\\` and takes the `=`
as escaped, so `a\\\\=b` is one bare key `a\\=b` with an empty value.

## Example
```text
dir\\\\=x
```

Use instead: avoid keys that end in a backslash.";

    DUPLICATE_DOMAIN = "TARS-S201", "duplicate-domain", Info,
    "a domain opened twice is merged with the first",
"## What it does
Notes a `<name>` that was already opened in the same parent.

## Why is this bad?
Upstream merges both into the first (keys of the second win); the second block does not start
a new domain. Usually harmless, sometimes an editing mistake.

## Example
```text
<t>
  a=1
</t>
<t>
  b=2
</t>
```

Use instead: one `<t>` block.";
}

/// Looks up a parser code.
#[must_use]
pub fn find(code: &str) -> Option<&'static CodeInfo> {
    CATALOGUE.iter().find(|c| c.code.as_str() == code)
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn unterminated_tag(span: Span) -> Diagnostic {
    Diagnostic::from_code(&UNTERMINATED_TAG, "tag line has no closing `>`")
        .with_label(span, "expected `>` to end this tag")
        .with_help("end the tag with `>`; upstream refuses the whole template")
}

pub(crate) fn mismatched_close_tag(
    close: Span,
    close_name: &[u8],
    open: Option<Span>,
    open_name: &[u8],
) -> Diagnostic {
    let mut d = Diagnostic::from_code(
        &MISMATCHED_CLOSE_TAG,
        format!(
            "`</{}>` does not close `<{}>`",
            show(close_name),
            show(open_name)
        ),
    )
    .with_label(close, format!("expected `</{}>`", show(open_name)));
    if let Some(open) = open {
        d = d.with_related(SourceId::MAIN, open, "the innermost open domain");
    }
    let trimmed = crate::syntax::trim_range(close_name);
    if close_name.get(trimmed.0..trimmed.1) == Some(open_name) {
        d.with_help(format!(
            "upstream does not trim close tag names: write `</{}>`",
            show(open_name)
        ))
    } else {
        d.with_help(format!(
            "close `<{}>` first, or fix the name",
            show(open_name)
        ))
    }
}

pub(crate) fn unclosed_domain(open: Span, name: &[u8]) -> Diagnostic {
    Diagnostic::from_code(
        &UNCLOSED_DOMAIN,
        format!("`<{}>` is never closed", show(name)),
    )
    .with_label(open, "opened here")
    .with_help(format!("add `</{}>` where the domain ends", show(name)))
}

pub(crate) fn unmatched_close_tag(close: Span, name: &[u8]) -> Diagnostic {
    if name.is_empty() {
        Diagnostic::from_code(&UNMATCHED_CLOSE_TAG, "`</>` closes the root domain")
            .with_label(
                close,
                "upstream pops the root here and then refuses the file",
            )
            .with_help("remove this line")
    } else {
        Diagnostic::from_code(
            &UNMATCHED_CLOSE_TAG,
            format!("`</{}>` has no open domain to close", show(name)),
        )
        .with_label(close, "no domain is open here")
        .with_help("remove this line, or add the missing open tag")
    }
}

pub(crate) fn invalid_escape(span: Span, byte: Option<u8>) -> Diagnostic {
    match byte {
        Some(b) => Diagnostic::from_code(
            &INVALID_ESCAPE,
            format!("unknown escape `\\{}`", show(&[b])),
        )
        .with_label(span, "upstream knows only `\\\\ \\r \\n \\t \\=`")
        .with_help("write `\\\\` for a literal backslash"),
        None => Diagnostic::from_code(&INVALID_ESCAPE, "trailing backslash")
            .with_label(span, "nothing follows this `\\`")
            .with_help("write `\\\\` for a literal backslash"),
    }
}

pub(crate) fn angle_bracket_in_text(span: Span, what: &str) -> Diagnostic {
    Diagnostic::from_code(
        &ANGLE_BRACKET_IN_TEXT,
        format!("`<` or `>` in a {what} breaks every merge"),
    )
    .with_label(span, "upstream cannot serialise this")
    .with_help("remove `<` and `>`: TC_Config has no escape for them")
}

pub(crate) fn file_too_large(limit: usize) -> Diagnostic {
    Diagnostic::from_code(
        &FILE_TOO_LARGE,
        format!("file is larger than {} MiB", limit / (1024 * 1024)),
    )
    .with_label(Span::empty(0), "not parsed")
    .with_help("tarsdock reads templates of of up to 4 MiB")
}

pub(crate) fn nesting_too_deep(open: Span, limit: u32) -> Diagnostic {
    Diagnostic::from_code(
        &NESTING_TOO_DEEP,
        format!("domains are nested more than {limit} levels deep"),
    )
    .with_label(open, format!("level {} opens here", limit + 1))
    .with_help(
        "upstream serialises every level with two more spaces on every line: flatten the template",
    )
}

pub(crate) fn line_too_long(line: Span, limit: usize) -> Diagnostic {
    Diagnostic::from_code(
        &LINE_TOO_LONG,
        format!("line is longer than {} MiB", limit / (1024 * 1024)),
    )
    .with_label(Span::new(line.start, line.start), "this line starts here")
    .with_help("keep large data out of templates")
}

pub(crate) fn text_after_tag(rest: Span) -> Diagnostic {
    Diagnostic::from_code(&TEXT_AFTER_TAG, "text after the tag is ignored")
        .with_label(rest, "upstream drops this")
        .with_help("move it to a line of its own (comments start a line with `#`)")
}

pub(crate) fn several_tags_on_line(rest: Span) -> Diagnostic {
    Diagnostic::from_code(
        &SEVERAL_TAGS_ON_LINE,
        "only the first tag on this line is read",
    )
    .with_label(rest, "upstream drops this")
    .with_help("put each tag on a line of its own")
}

pub(crate) fn hash_in_value(span: Span) -> Diagnostic {
    Diagnostic::from_code(
        &HASH_IN_VALUE,
        "`#` here is part of the value, not a comment",
    )
    .with_label(span, "this text belongs to the value")
    .with_help("comments must be whole lines starting with `#`")
}

pub(crate) fn duplicate_key(key: &[u8], line: Span, previous: Option<Span>) -> Diagnostic {
    let d = Diagnostic::from_code(
        &DUPLICATE_KEY,
        format!("`{}` is set again; the last value wins", show(key)),
    )
    .with_label(line, "this value wins");
    match previous {
        Some(p) => d.with_related(SourceId::MAIN, p, "overridden value"),
        None => d,
    }
    .with_help("remove one of the two lines")
}

pub(crate) fn padded_tag_name(name: Span, trimmed: &[u8]) -> Diagnostic {
    Diagnostic::from_code(&PADDED_TAG_NAME, "tag name has leading or trailing spaces")
        .with_label(name, "upstream keys the domain by this untrimmed text")
        .with_help(format!("write `<{}>`", show(trimmed)))
}

pub(crate) fn xml_style_tag(name: Span, raw: &[u8]) -> Diagnostic {
    let help = if raw.starts_with(b"!--") {
        "comments are whole lines starting with `#`".to_owned()
    } else if raw.is_empty() {
        "give the domain a name".to_owned()
    } else {
        format!(
            "this opens a domain named `{}` that must be closed with `</{}>`",
            show(raw),
            show(raw)
        )
    };
    Diagnostic::from_code(
        &XML_STYLE_TAG,
        format!("`<{}>` is not XML here but a domain", show(raw)),
    )
    .with_label(name, "read as a domain name")
    .with_help(help)
}

pub(crate) fn empty_key(line: Span) -> Diagnostic {
    Diagnostic::from_code(&EMPTY_KEY, "parameter has an empty key")
        .with_label(line, "no key before `=`")
        .with_help("write `key=value`")
}

pub(crate) fn root_level_param(line: Span) -> Diagnostic {
    Diagnostic::from_code(
        &ROOT_LEVEL_PARAM,
        "parameter outside every domain is dropped by every merge",
    )
    .with_label(line, "not inside a domain")
    .with_help("move it inside the domain it belongs to")
}

pub(crate) fn escaped_backslash_before_equals(span: Span) -> Diagnostic {
    Diagnostic::from_code(
        &ESCAPED_BACKSLASH_BEFORE_EQUALS,
        "`\\\\=` is read as an escaped `=`",
    )
    .with_label(span, "upstream does not split the line here")
    .with_help("the whole line becomes one key with an empty value")
}

pub(crate) fn duplicate_domain(open: Span, first: Option<Span>, name: &[u8]) -> Diagnostic {
    let d = Diagnostic::from_code(
        &DUPLICATE_DOMAIN,
        format!(
            "`<{}>` is opened again and merged with the first",
            show(name)
        ),
    )
    .with_label(open, "merged into the earlier domain");
    match first {
        Some(f) => d.with_related(SourceId::MAIN, f, "first opened here"),
        None => d,
    }
}
