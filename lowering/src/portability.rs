//! The XML portability pass (`TARS-G`): reads the template a second time as an XML reader
//! would, and reports every place where that reading differs from TC_Config's.
//!
//! The model is TarsGo's reader (`tars/util/conf`): Go's `encoding/xml` decoder in strict
//! mode, whose errors are ignored (reading simply stops), with the text between tags split into
//! lines, `#` lines skipped, each other line split at its first `=` (no unescaping), and lines
//! without `=` or with an empty key dropped. quick-xml tokenises the text; Go's stricter rules
//! (XML names, the five predefined entities, quoted attributes, character ranges) are checked on
//! top, so the first stop is where Go's decoder would stop.

use parser::{Diagnostic, Line, LineKind, Parse, Span};
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::codes::portability as codes;

/// The code prefix of this pass, for [`crate::selection::Selection::any_enabled`].
pub const FAMILY: &str = "TARS-G";

/// Every portability finding in `parse`, in source order.
#[must_use]
pub fn check(parse: &Parse) -> Vec<Diagnostic> {
    let source = parse.source();
    let xml = XmlReading::read(source);
    let mut out = Vec::new();
    let limit = xml.stop.as_ref().map_or(u32::MAX, |stop| stop.span.start);
    let mut markup = xml.markup.iter().peekable();
    let mut refs = xml.refs.iter().peekable();
    for line in &parse.tree.lines {
        if line.full.start >= limit {
            break;
        }
        let mut on_line = Vec::new();
        while let Some(m) = markup.next_if(|m| m.span.start < line.full.end) {
            on_line.push(m);
        }
        let mut refs_on_line = Vec::new();
        while let Some(r) = refs.next_if(|r| r.span.start < line.full.end) {
            refs_on_line.push(r);
        }
        check_line(source, line, &on_line, &refs_on_line, &mut out);
    }
    if let Some(stop) = &xml.stop {
        let lines_lost = parse
            .tree
            .lines
            .iter()
            .filter(|line| line.full.start > stop.span.start && line.kind != LineKind::Blank)
            .count();
        out.push(codes::xml_reader_stops(stop.span, &stop.reason, lines_lost));
    }
    out
}

/// What the XML reader saw: markup with names, entity references, and where it stopped.
#[derive(Debug, Default)]
struct XmlReading {
    markup: Vec<Markup>,
    refs: Vec<Reference>,
    stop: Option<Stop>,
}

#[derive(Debug)]
struct Markup {
    span: Span,
    kind: MarkupKind,
    /// The local name (after any namespace prefix) for elements.
    name: Vec<u8>,
    /// The whole qualified name as written.
    qname: Vec<u8>,
    has_attributes: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MarkupKind {
    Start,
    End,
    Empty,
    /// Comment, CDATA, declaration, processing instruction or DOCTYPE.
    Other(&'static str),
}

#[derive(Debug)]
struct Reference {
    span: Span,
    decoded: String,
}

#[derive(Debug)]
struct Stop {
    span: Span,
    reason: String,
}

impl XmlReading {
    fn read(source: &[u8]) -> Self {
        let mut reading = Self::default();
        let char_stop = first_illegal_char(source);
        // quick-xml reads UTF-8 only: invalid bytes become `?`, one for one, so offsets still
        // match the source (the reader stops at the first of them anyway, through `char_stop`).
        let sanitized: std::borrow::Cow<'_, [u8]> = if char_stop.is_some() {
            std::borrow::Cow::Owned(replace_invalid_utf8(source))
        } else {
            std::borrow::Cow::Borrowed(source)
        };
        let mut reader = Reader::from_reader(sanitized.as_ref());
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
        loop {
            let before = offset(reader.buffer_position());
            if let Some(stop) = &char_stop
                && before >= stop.span.start
            {
                break;
            }
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(error) => {
                    let at = offset(reader.error_position());
                    reading.stop = Some(Stop {
                        span: stop_span(source, at),
                        reason: describe(&error, source, at),
                    });
                    break;
                }
            };
            let after = offset(reader.buffer_position());
            let span = Span::new(before, after);
            let result = match event {
                Event::Eof => break,
                Event::Start(tag) => reading.element(MarkupKind::Start, &tag, span),
                Event::Empty(tag) => reading.element(MarkupKind::Empty, &tag, span),
                Event::End(tag) => reading.end(tag.name().into_inner().as_bytes(), span),
                Event::GeneralRef(reference) => reading.reference(&reference, span),
                Event::Comment(_) => reading.other("an XML comment", span),
                Event::CData(_) => reading.other("a CDATA section", span),
                Event::Decl(_) => reading.other("an XML declaration", span),
                Event::PI(_) => reading.other("a processing instruction", span),
                Event::DocType(_) => reading.other("a DOCTYPE declaration", span),
                Event::Text(_) => Ok(()),
            };
            if let Err(stop) = result {
                reading.stop = Some(stop);
                break;
            }
        }
        if let Some(char_stop) = char_stop
            && reading
                .stop
                .as_ref()
                .is_none_or(|stop| stop.span.start > char_stop.span.start)
        {
            reading.stop = Some(char_stop);
        }
        reading
    }

    fn element(
        &mut self,
        kind: MarkupKind,
        tag: &quick_xml::events::BytesStart<'_>,
        span: Span,
    ) -> Result<(), Stop> {
        let qname = tag.name().into_inner().as_bytes().to_vec();
        check_name(&qname, span)?;
        let mut has_attributes = false;
        for attribute in tag.attributes().with_checks(true) {
            if let Err(error) = attribute {
                return Err(Stop {
                    span,
                    reason: format!("the tag has a malformed attribute ({error})"),
                });
            }
            has_attributes = true;
        }
        self.markup.push(Markup {
            span,
            kind,
            name: tag.local_name().into_inner().as_bytes().to_vec(),
            qname,
            has_attributes,
        });
        Ok(())
    }

    fn end(&mut self, name: &[u8], span: Span) -> Result<(), Stop> {
        check_name(name, span)?;
        self.markup.push(Markup {
            span,
            kind: MarkupKind::End,
            name: local(name).to_vec(),
            qname: name.to_vec(),
            has_attributes: false,
        });
        Ok(())
    }

    fn reference(
        &mut self,
        reference: &quick_xml::events::BytesRef<'_>,
        span: Span,
    ) -> Result<(), Stop> {
        let name: &[u8] = reference.as_bytes();
        let decoded = if reference.is_char_ref() {
            match reference.resolve_char_ref() {
                Ok(Some(c)) if is_xml_char(c) => c.to_string(),
                _ => {
                    return Err(Stop {
                        span,
                        reason: format!(
                            "`&{};` is not a valid character reference",
                            String::from_utf8_lossy(name)
                        ),
                    });
                }
            }
        } else {
            match name {
                b"amp" => "&".to_owned(),
                b"lt" => "<".to_owned(),
                b"gt" => ">".to_owned(),
                b"apos" => "'".to_owned(),
                b"quot" => "\"".to_owned(),
                _ => {
                    return Err(Stop {
                        span,
                        reason: format!(
                            "`&{};` is not one of the five XML entities",
                            String::from_utf8_lossy(name)
                        ),
                    });
                }
            }
        };
        self.refs.push(Reference { span, decoded });
        Ok(())
    }

    fn other(&mut self, what: &'static str, span: Span) -> Result<(), Stop> {
        self.markup.push(Markup {
            span,
            kind: MarkupKind::Other(what),
            name: Vec::new(),
            qname: Vec::new(),
            has_attributes: false,
        });
        Ok(())
    }
}

fn check_line(
    source: &[u8],
    line: &Line,
    markup: &[&Markup],
    refs: &[&Reference],
    out: &mut Vec<Diagnostic>,
) {
    let text = |span: Span| String::from_utf8_lossy(source.get(span.range()).unwrap_or_default());
    match line.kind {
        LineKind::Open { name, rest } | LineKind::Close { name, rest } => {
            let close = matches!(line.kind, LineKind::Close { .. });
            let (first, others) = match markup.split_first() {
                Some((first, others)) if first.span.start == line.content.start => {
                    (Some(*first), others)
                }
                _ => (None, markup),
            };
            if let Some(first) = first {
                let tc_name = source.get(name.range()).unwrap_or_default();
                compare_tag(first, tc_name, close, name, out);
            }
            for m in others {
                out.push(codes::markup_outside_tag_line(
                    m.span,
                    &text(m.span),
                    "after the first tag of the line",
                ));
            }
            // Text after the tag: TC_Config ignores it, an XML reader reads its lines.
            let after = first.map_or(rest.start, |m| m.span.end.max(rest.start));
            let until = others.first().map_or(rest.end, |m| m.span.start);
            let gap = source
                .get(after as usize..until as usize)
                .unwrap_or_default();
            let (s, e) = trim_range(gap);
            if s < e {
                let span = Span::new(after, until).sub(s, e);
                let bytes = source.get(span.range()).unwrap_or_default();
                if let Some((key, _)) = go_param(bytes) {
                    out.push(codes::param_read_differently(
                        span,
                        format!(
                            "an XML reader reads `{}` after the tag as a parameter",
                            String::from_utf8_lossy(key)
                        ),
                        "TC_Config ignores text after a tag",
                        "put the parameter on its own line",
                    ));
                }
            }
        }
        LineKind::Comment => {
            for m in markup {
                out.push(codes::markup_outside_tag_line(
                    m.span,
                    &text(m.span),
                    "inside a `#` comment",
                ));
            }
        }
        LineKind::Param { key, eq, value } => {
            for m in markup {
                out.push(codes::markup_outside_tag_line(
                    m.span,
                    &text(m.span),
                    "inside a parameter line",
                ));
            }
            for r in refs {
                out.push(codes::entity_in_text(r.span, &text(r.span), &r.decoded));
            }
            check_param(source, line, key, eq, value, out);
        }
        LineKind::Blank | LineKind::Unterminated => {}
    }
}

fn compare_tag(
    m: &Markup,
    tc_name: &[u8],
    close: bool,
    name_span: Span,
    out: &mut Vec<Diagnostic>,
) {
    let tc = String::from_utf8_lossy(tc_name);
    let xml_name = String::from_utf8_lossy(&m.name);
    let shown = if close {
        format!("`</{tc}>`")
    } else {
        format!("the domain `{tc}`")
    };
    match m.kind {
        MarkupKind::Other(what) => out.push(codes::tag_read_differently(
            m.span,
            &shown,
            what,
            "use a `#` comment line instead",
        )),
        MarkupKind::Empty => out.push(codes::tag_read_differently(
            m.span,
            &shown,
            &format!("an empty element `{xml_name}`"),
            &format!("write `<{xml_name}>` and `</{xml_name}>`"),
        )),
        MarkupKind::Start | MarkupKind::End => {
            if m.name.as_slice() == tc_name {
                return;
            }
            let what = if m.has_attributes {
                format!("the element `{xml_name}` with attributes")
            } else if m.qname != m.name {
                format!(
                    "the element `{xml_name}` (namespace prefix `{}`)",
                    String::from_utf8_lossy(
                        m.qname
                            .get(..m.qname.len() - m.name.len())
                            .unwrap_or_default()
                    )
                )
            } else {
                format!("the element `{xml_name}`")
            };
            let fix = if close {
                format!("write `</{xml_name}>`")
            } else {
                format!("write `<{xml_name}>`")
            };
            let span = if name_span.is_empty() {
                m.span
            } else {
                name_span
            };
            out.push(codes::tag_read_differently(span, &shown, &what, &fix));
        }
    }
}

fn check_param(
    source: &[u8],
    line: &Line,
    key: Span,
    eq: Option<u32>,
    value: Option<Span>,
    out: &mut Vec<Diagnostic>,
) {
    let content = source.get(line.content.range()).unwrap_or_default();
    let key_text = source.get(key.range()).unwrap_or_default();
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match go_param(content) {
        None if eq.is_none() => out.push(codes::param_read_differently(
            line.content,
            format!(
                "TC_Config reads `{}` as a key with an empty value; an XML reader drops the line",
                show(key_text)
            ),
            "no `=` on this line",
            &format!("write `{}=`", show(key_text)),
        )),
        None => out.push(codes::param_read_differently(
            line.content,
            "TC_Config keeps a parameter with an empty key; an XML reader drops the line"
                .to_owned(),
            "empty key",
            "give the parameter a key",
        )),
        Some((go_key, _)) => {
            if go_key != key_text {
                out.push(codes::param_read_differently(
                    key,
                    format!(
                        "TC_Config reads the key `{}`, an XML reader `{}`",
                        show(key_text),
                        show(go_key)
                    ),
                    "an XML reader splits at the first `=`, escaped or not",
                    "avoid `=` in keys",
                ));
            }
        }
    }
    if let Some(value) = value {
        let bytes = source.get(value.range()).unwrap_or_default();
        let mut i = 0;
        while let Some(pos) = bytes.get(i..).and_then(memchr_backslash) {
            let at = i + pos;
            let escape_len = if bytes.get(at + 1).is_some() { 2 } else { 1 };
            let span = value.sub(at, at + escape_len);
            out.push(codes::escape_read_literally(
                span,
                &show(bytes.get(at..at + escape_len).unwrap_or_default()),
            ));
            i = at + escape_len;
        }
    }
}

fn memchr_backslash(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\\', bytes)
}

/// `s` without spaces, tabs, CR and LF at either end, as offsets into `s`.
fn trim_range(s: &[u8]) -> (usize, usize) {
    let is_space = |b: &u8| matches!(b, b' ' | b'\n' | b'\t' | b'\r');
    let start = s.iter().position(|b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    (start, end)
}

/// How TarsGo reads one line of text: trimmed of `" \n\t"` (and `\r` by the line scanner),
/// `#` lines skipped, split at the first `=`, key and value trimmed, empty keys dropped.
fn go_param(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let trim = trim_range;
    let (s, e) = trim(line);
    let line = line.get(s..e)?;
    if line.first() == Some(&b'#') {
        return None;
    }
    let eq = memchr::memchr(b'=', line)?;
    let (key, value) = (line.get(..eq)?, line.get(eq + 1..)?);
    let (ks, ke) = trim(key);
    let (vs, ve) = trim(value);
    let key = key.get(ks..ke)?;
    (!key.is_empty()).then_some((key, value.get(vs..ve).unwrap_or_default()))
}

/// Go's rule for element names: bytes of `[A-Za-z0-9_:.-]` or non-ASCII, forming an XML name
/// (the first character a letter, `_` or `:`).
fn check_name(name: &[u8], span: Span) -> Result<(), Stop> {
    let valid = std::str::from_utf8(name).ok().is_some_and(|s| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
    });
    if valid {
        Ok(())
    } else {
        Err(Stop {
            span,
            reason: format!(
                "`{}` is not an XML name",
                String::from_utf8_lossy(name).trim()
            ),
        })
    }
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b':') {
        Some(i) if i + 1 < name.len() => name.get(i + 1..).unwrap_or(name),
        _ => name,
    }
}

/// XML 1.0's `Char` production (the definition the byte scan of [`first_illegal_char`] follows).
const fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The first byte an XML reader rejects: invalid UTF-8 or a character outside XML's range.
///
/// In valid UTF-8 (surrogates cannot occur) the characters outside XML's range are the ASCII
/// controls other than TAB, LF and CR, and U+FFFE and U+FFFF (`EF BF BE`, `EF BF BF`), so the
/// text is validated once and then scanned as bytes rather than decoded character by
/// character ([`first_illegal_char_slow`] in the tests is the definition).
fn first_illegal_char(source: &[u8]) -> Option<Stop> {
    let (valid, invalid) = match std::str::from_utf8(source) {
        Ok(_) => (source, None),
        Err(e) => {
            let at = e.valid_up_to();
            let len = e.error_len().unwrap_or(source.len() - at);
            (source.get(..at).unwrap_or_default(), Some((at, len)))
        }
    };
    let control = first_control(valid);
    let noncharacter = memchr::memchr_iter(0xEF, valid)
        .find(|&i| matches!(valid.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])));
    let illegal = match (control, noncharacter) {
        (Some(c), Some(n)) => Some(c.min(n)),
        (c, n) => c.or(n),
    };
    if let Some(i) = illegal {
        let rest = std::str::from_utf8(valid.get(i..).unwrap_or_default()).unwrap_or_default();
        let c = rest.chars().next().unwrap_or('\u{0}');
        let at = offset(u64::try_from(i).unwrap_or(u64::MAX));
        return Some(Stop {
            span: Span::new(at, at + u32::try_from(c.len_utf8()).unwrap_or(1)),
            reason: format!("the character U+{:04X} is not allowed in XML", u32::from(c)),
        });
    }
    invalid.map(|(at, len)| {
        let at = offset(u64::try_from(at).unwrap_or(u64::MAX));
        Stop {
            span: Span::new(at, at + u32::try_from(len).unwrap_or(1)),
            reason: "the text is not valid UTF-8".to_owned(),
        }
    })
}

/// The first ASCII control character other than TAB, LF and CR; 64 bytes at a time without an
/// early exit inside a block, so the compiler can vectorise the test.
fn first_control(bytes: &[u8]) -> Option<usize> {
    const fn is_control(b: u8) -> bool {
        b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r'
    }
    let mut blocks = bytes.chunks_exact(64);
    let mut base = 0;
    for block in &mut blocks {
        if block.iter().fold(false, |any, &b| any | is_control(b)) {
            return block.iter().position(|&b| is_control(b)).map(|i| base + i);
        }
        base += 64;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| is_control(b))
        .map(|i| base + i)
}

fn replace_invalid_utf8(source: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(source.len());
    for chunk in source.utf8_chunks() {
        out.extend_from_slice(chunk.valid().as_bytes());
        out.extend(std::iter::repeat_n(b'?', chunk.invalid().len()));
    }
    out
}

/// The reader's position as a span offset (templates are below 4 GiB).
fn offset(position: u64) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}

/// A one-character span at `at`, or an empty one at the end of the text.
fn stop_span(source: &[u8], at: u32) -> Span {
    let len = source.len();
    let at = at.min(u32::try_from(len).unwrap_or(u32::MAX));
    if (at as usize) < len {
        Span::new(at, at + 1)
    } else {
        Span::empty(at)
    }
}

fn describe(error: &quick_xml::Error, source: &[u8], at: u32) -> String {
    if source.get(at as usize) == Some(&b'&') {
        return "`&` does not start an entity such as `&amp;`".to_owned();
    }
    format!("{error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<(String, String)> {
        let parse = parser::parse(text.as_bytes().to_vec());
        check(&parse)
            .iter()
            .map(|d| (d.code.as_str().to_owned(), text[d.span.range()].to_owned()))
            .collect()
    }

    #[test]
    fn a_well_formed_template_reads_the_same() {
        assert!(codes("<tars>\n  <application>\n    a=1\n  </application>\n</tars>\n").is_empty());
    }

    #[test]
    fn bare_ampersand_in_a_comment_stops_the_reader() {
        let found = codes("<tars>\n  # a && b\n  a=1\n</tars>\n");
        assert_eq!(found, vec![("TARS-G001".to_owned(), "&".to_owned())]);
    }

    #[test]
    fn tags_and_params_read_differently() {
        let found =
            codes("<tars >\n  <x:a>\n  </x:a>\n  bare\n  k\\=v=1\n  # see <b>\n  </b>\n</tars>\n");
        let codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            codes,
            vec![
                "TARS-G002",
                "TARS-G002",
                "TARS-G002",
                "TARS-G004",
                "TARS-G004",
                "TARS-G003"
            ],
            "{found:?}"
        );
    }

    #[test]
    fn entities_escapes_and_invalid_names() {
        let found = codes("<t>\n  a=x&amp;y\\n\n</t>\n<${app}>\n</${app}>\n");
        assert_eq!(
            found,
            vec![
                ("TARS-G006".to_owned(), "&amp;".to_owned()),
                ("TARS-G005".to_owned(), "\\n".to_owned()),
                ("TARS-G001".to_owned(), "<${app}>".to_owned()),
            ]
        );
    }

    /// The character-by-character definition of [`first_illegal_char`].
    fn first_illegal_char_slow(source: &[u8]) -> Option<Stop> {
        let mut offset_base = 0usize;
        for chunk in source.utf8_chunks() {
            let valid = chunk.valid();
            if let Some((i, c)) = valid.char_indices().find(|(_, c)| !is_xml_char(*c)) {
                let at = offset(u64::try_from(offset_base + i).unwrap());
                return Some(Stop {
                    span: Span::new(at, at + u32::try_from(c.len_utf8()).unwrap()),
                    reason: format!("the character U+{:04X} is not allowed in XML", u32::from(c)),
                });
            }
            offset_base += valid.len();
            if !chunk.invalid().is_empty() {
                let at = offset(u64::try_from(offset_base).unwrap());
                let len = u32::try_from(chunk.invalid().len()).unwrap();
                return Some(Stop {
                    span: Span::new(at, at + len),
                    reason: "the text is not valid UTF-8".to_owned(),
                });
            }
        }
        None
    }

    #[test]
    fn illegal_characters_found_as_the_definition_finds_them() {
        let pieces: [&[u8]; 14] = [
            b"a=1\n",
            b"\t",
            b"\r",
            b"\x00",
            b"\x1f",
            b"\x7f",
            "中".as_bytes(),
            "\u{FFFE}".as_bytes(),
            "\u{FFFF}".as_bytes(),
            "\u{FFFD}".as_bytes(),
            "😀".as_bytes(),
            b"\xEF\xBF",
            b"\xff",
            b"\xe4\xb8",
        ];
        // Every sequence of up to three pieces, then long texts that put them past a block.
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    texts.push([a, b, c].concat());
                }
            }
        }
        let long: Vec<Vec<u8>> = texts
            .iter()
            .take(400)
            .map(|t| [&b"x=y\n".repeat(40)[..], t, b"tail"].concat())
            .collect();
        texts.extend(long);
        for text in &texts {
            let fast = first_illegal_char(text).map(|s| (s.span, s.reason));
            let slow = first_illegal_char_slow(text).map(|s| (s.span, s.reason));
            assert_eq!(fast, slow, "{text:?}");
        }
    }

    #[test]
    fn invalid_utf8_stops_the_reader() {
        let parse = parser::parse(b"<t>\n  a=\xc4\xe3\n  b=1\n</t>\n".to_vec());
        let found = check(&parse);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code.as_str(), "TARS-G001");
        assert_eq!(found[0].span, Span::new(8, 9));
    }
}
