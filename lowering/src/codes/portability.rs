//! Family `TARS-G`: where an XML reader reads a template differently from TC_Config.
//!
//! TarsGo (`tars/util/conf`) reads templates with Go's `encoding/xml` in strict mode: it takes
//! tags as XML elements and splits the text between them into `key=value` lines. It ignores the
//! decoder's errors, so at the first XML syntax error it silently stops and keeps what it has
//! read so far. These codes matter only for templates that a Go service (or another XML reader)
//! reads, so the family is opt-in: enable it with `select`/`extend-select` (`TARS-G`).

use parser::{Diagnostic, Span};

parser::define_codes! {
    XML_READER_STOPS = "TARS-G001", "xml-reader-stops", Warning,
    "an XML reader stops reading the template here",
"## What it does
Flags the first point where an XML reader (Go's `encoding/xml`, as TarsGo uses it) finds a
syntax error: a bare `&` or an unknown entity (also inside `#` comments), a tag name that is not
an XML name (`<${app}>`, `< server >`, `<1st>`), an attribute without a quoted value, a close tag
that does not match, `--` inside `<!-- -->`, a control character or invalid UTF-8 (a GBK
template).

## Why is this bad?
TarsGo ignores the decoder's error and keeps only what it read before this point: every domain
and parameter after it is silently missing from the service's configuration, while C++ and Java
services (TC_Config) read the whole template.

## Example
```text
<tars>
  # check registry && update
  <application>
```

Use instead:
```text
<tars>
  # check registry and update
  <application>
```";

    TAG_READ_DIFFERENTLY = "TARS-G002", "tag-read-differently", Warning,
    "an XML reader reads this tag line as something else",
"## What it does
Flags a tag line whose meaning differs for an XML reader: a name with a trailing space
(`<server >` is `server ` to TC_Config, `server` to XML), a namespace prefix (`<x:server>` is
`server` to XML), attributes (`<server a=\"1\">`), a self-closing tag (`<server/>`), or an XML
comment, declaration, processing instruction or CDATA section, which TC_Config reads as a domain.

## Why is this bad?
The same path names a different domain (or none) for Go services and for C++/Java services.

## Example
```text
<server >
```

Use instead:
```text
<server>
```";

    MARKUP_OUTSIDE_TAG_LINE = "TARS-G003", "markup-outside-tag-line", Warning,
    "an XML reader reads a tag where TC_Config reads text",
"## What it does
Flags `<…>` markup that TC_Config does not read as a tag: inside a `#` comment, inside a key or
value, or after the first tag of a line.

## Why is this bad?
An XML reader opens (or closes) an element there, so the lines that follow land in another
domain, or the reader stops at the mismatched close tag: `# see <server>` in a comment opens a
`server` element for TarsGo.

## Example
```text
# timeouts for <client>
```

Use instead:
```text
# timeouts for the client domain
```";

    PARAM_READ_DIFFERENTLY = "TARS-G004", "param-read-differently", Warning,
    "TC_Config and an XML reader read different parameters from this line",
"## What it does
Flags a line that gives one parameter to TC_Config and another (or none) to an XML reader: a
bare `key` without `=` and a line with an empty key (TC_Config keeps them, TarsGo drops them), a
key with an escaped `\\=` (TC_Config reads one key, TarsGo splits at that `=`), and text after a
tag (TC_Config ignores it, TarsGo reads it as a parameter).

## Why is this bad?
Go services and C++/Java services see different configuration from one template.

## Example
```text
<servers>
  tars.tarsstat;1.1.1.1
</servers>
```

Use instead:
```text
<servers>
  tars.tarsstat;1.1.1.1=1
</servers>
```";

    ESCAPE_READ_LITERALLY = "TARS-G005", "escape-read-literally", Info,
    "an XML reader keeps TC_Config's backslash escapes literally",
"## What it does
Notes a value that contains TC_Config escapes (`\\\\`, `\\=`, `\\n`, `\\r`, `\\t`).

## Why is this bad?
TC_Config unescapes them; an XML reader does not, so `-Dssl\\=false` reaches a Go service as
`-Dssl\\=false` and a C++ or Java service as `-Dssl=false`.

## Example
```text
jvmparams=-Dssl\\=false
```

Use instead: a value without backslashes where a Go service reads it (`=` after the first `=`
needs no escape: `jvmparams=-Dssl=false`).";

    ENTITY_IN_TEXT = "TARS-G006", "entity-in-text", Warning,
    "an XML reader decodes an entity that TC_Config keeps as text",
"## What it does
Flags an XML entity or character reference such as `&amp;`, `&lt;` or `&#38;` in a key or
value.

## Why is this bad?
An XML reader replaces it (`&amp;` becomes `&`); TC_Config keeps the five characters, so Go
services and C++/Java services read different values.

## Example
```text
url=http://host/?a=1&amp;b=2
```

Use instead: avoid `&` in values that a Go service reads.";
}

pub(crate) fn xml_reader_stops(span: Span, reason: &str, lines_lost: usize) -> Diagnostic {
    let lost = match lines_lost {
        0 => "nothing after it is lost".to_owned(),
        1 => "the last line is not read".to_owned(),
        n => format!("the remaining {n} lines are not read"),
    };
    Diagnostic::from_code(
        &XML_READER_STOPS,
        format!("an XML reader stops here: {reason}"),
    )
    .with_label(span, format!("TarsGo stops reading here; {lost}"))
    .with_help(stop_help(reason))
}

fn stop_help(reason: &str) -> &'static str {
    if reason.contains('&') {
        "avoid `&` in templates that a Go service reads (write `and` in comments)"
    } else if reason.contains("name") {
        "use tag names made of letters, digits, `_`, `-` and `.`, starting with a letter"
    } else if reason.contains("UTF-8") {
        "save the template as UTF-8"
    } else {
        "keep the template well-formed XML where a Go service reads it"
    }
}

pub(crate) fn tag_read_differently(span: Span, tc: &str, xml: &str, fix: &str) -> Diagnostic {
    Diagnostic::from_code(
        &TAG_READ_DIFFERENTLY,
        format!("TC_Config reads {tc}, an XML reader {xml}"),
    )
    .with_label(span, "read differently by XML readers")
    .with_help(fix.to_owned())
}

pub(crate) fn markup_outside_tag_line(span: Span, markup: &str, place: &str) -> Diagnostic {
    Diagnostic::from_code(
        &MARKUP_OUTSIDE_TAG_LINE,
        format!("an XML reader reads `{markup}` {place} as markup"),
    )
    .with_label(span, "TC_Config reads this as text")
    .with_help("keep `<` and `>` out of comments, keys and values, one tag per line")
}

pub(crate) fn param_read_differently(
    span: Span,
    message: String,
    label: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::from_code(&PARAM_READ_DIFFERENTLY, message)
        .with_label(span, label)
        .with_help(help.to_owned())
}

pub(crate) fn escape_read_literally(span: Span, escape: &str) -> Diagnostic {
    Diagnostic::from_code(
        &ESCAPE_READ_LITERALLY,
        format!("`{escape}` is unescaped by TC_Config but read literally by an XML reader"),
    )
    .with_label(span, "Go services see the backslash")
    .with_help("avoid backslash escapes in values that a Go service reads")
}

pub(crate) fn entity_in_text(span: Span, entity: &str, decoded: &str) -> Diagnostic {
    Diagnostic::from_code(
        &ENTITY_IN_TEXT,
        format!("an XML reader reads `{entity}` as `{decoded}`"),
    )
    .with_label(span, "TC_Config keeps this text as it is")
    .with_help("avoid `&` in keys and values that a Go service reads")
}
