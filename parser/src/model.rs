//! The TC_Config semantic model: domains, parameters and raw lines, with upstream's lookups.
//!
//! Strings are bytes, as upstream reads them. Keys and values that equal their source text
//! (no escapes) are stored as spans into the shared source; others live in one owned buffer.
//!
//! Layout: every domain, parameter, raw line and open-tag span of a config sits in a few flat
//! arrays, linked by `u32` indices, with one hash index for keys and one for sub-domains. So a
//! parse allocates a handful of times whatever the number of domains, and nothing (drop, clone,
//! serialisation) recurses over the nesting depth.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::path::{self, PathError};
use crate::span::Span;

/// "No such index" in the links between domains and entries.
pub(crate) const NONE: u32 = u32::MAX;

/// The root domain's index.
pub(crate) const ROOT: u32 = 0;

/// Bytes held by the model: a span of the config's source, or of its owned buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Text {
    Src(Span),
    Buf(Span),
}

impl Text {
    pub(crate) const EMPTY: Self = Self::Buf(Span::empty(0));
}

/// Where a parameter came from in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ParamOrigin {
    /// The trimmed line.
    pub line: Span,
    /// The raw (escaped) key.
    pub key: Span,
    /// The raw (escaped) value; `None` for a line without `=`.
    pub value: Option<Span>,
}

/// One assignment. Entries of a domain form a list (`next`) in assignment order; an entry
/// replaced by a later assignment of its key stays in the list, not `live`.
#[derive(Clone, Copy, Debug)]
struct Entry {
    domain: u32,
    next: u32,
    key: Text,
    value: Text,
    origin: Option<ParamOrigin>,
    live: bool,
}

/// A `u32` range into one of the config's span arrays.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Range32 {
    start: u32,
    end: u32,
}

impl Range32 {
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One `<domain>`: its names, its place in the tree and the heads of its lists.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Domain {
    /// The raw tag text: upstream's map key.
    raw: Text,
    /// The trimmed name: what close tags are compared with and `tostr` writes.
    name: Text,
    parent: u32,
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
    first_entry: u32,
    last_entry: u32,
    /// The raw name's span in the first open tag of this domain.
    first_open: Option<Span>,
    /// Raw parameter lines, in `Config::line_spans`.
    lines: Range32,
    /// Raw names of every open tag, in `Config::open_spans`.
    opens: Range32,
}

impl Domain {
    fn new(raw: Text, name: Text, parent: u32) -> Self {
        Self {
            raw,
            name,
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            first_entry: NONE,
            last_entry: NONE,
            first_open: None,
            lines: Range32::default(),
            opens: Range32::default(),
        }
    }

    pub(crate) fn name_text(&self) -> Text {
        self.name
    }

    pub(crate) fn raw_text(&self) -> Text {
        self.raw
    }

    pub(crate) fn first_open(&self) -> Option<Span> {
        self.first_open
    }

    pub(crate) fn first_child(&self) -> u32 {
        self.first_child
    }

    pub(crate) fn next_sibling(&self) -> u32 {
        self.next_sibling
    }
}

fn hash(scope: u32, bytes: &[u8]) -> u64 {
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    h.write_u32(scope);
    h.write(bytes);
    h.finish()
}

/// A parsed (or built) TC_Config: the root domain `""` and the source its spans point into.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) src: Arc<[u8]>,
    /// Bytes that are not in `src`: unescaped keys and values, names and values set by the API.
    buf: Vec<u8>,
    /// `domains[0]` is the root.
    domains: Vec<Domain>,
    entries: Vec<Entry>,
    /// Live entries by (domain, key).
    entry_index: HashTable<u32>,
    /// Domains by (parent, raw name).
    child_index: HashTable<u32>,
    line_spans: Vec<Span>,
    open_spans: Vec<Span>,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// A failed `operator[]` lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The path is malformed (upstream `TC_Config_Exception`).
    Path(PathError),
    /// The domain does not exist (upstream: `path '<p>' not exits!`).
    NoDomain,
    /// The key does not exist in the domain (upstream: `param '<k>' not exits!`).
    NoParam,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(e) => e.fmt(f),
            Self::NoDomain => f.write_str("domain does not exist"),
            Self::NoParam => f.write_str("parameter does not exist"),
        }
    }
}

impl std::error::Error for LookupError {}

impl Config {
    /// An empty config (just the root domain).
    #[must_use]
    pub fn new() -> Self {
        Self::with_source(Arc::from(Vec::new()))
    }

    pub(crate) fn with_source(src: Arc<[u8]>) -> Self {
        // Sized for typical templates (a domain per ~800 bytes, a parameter per ~35) so that
        // parsing rarely grows an array or rehashes.
        let n = src.len();
        let mut domains = Vec::with_capacity(n / 800 + 4);
        domains.push(Domain::new(Text::EMPTY, Text::EMPTY, NONE));
        Self {
            src,
            buf: Vec::new(),
            domains,
            entries: Vec::with_capacity(n / 36 + 4),
            entry_index: HashTable::with_capacity(n / 36 + 4),
            child_index: HashTable::with_capacity(n / 800 + 4),
            line_spans: Vec::new(),
            open_spans: Vec::new(),
        }
    }

    /// The source text the spans of this config point into.
    #[must_use]
    pub fn source(&self) -> &[u8] {
        &self.src
    }

    /// The root domain.
    #[must_use]
    pub fn root(&self) -> DomainRef<'_> {
        DomainRef {
            config: self,
            id: ROOT,
        }
    }

    /// The domain at `path` (`/a/b`; `/` is the root), or `None`.
    ///
    /// # Errors
    /// A malformed path.
    pub fn domain(&self, path: &[u8]) -> Result<Option<DomainRef<'_>>, PathError> {
        let segments = path::domain_path(path)?;
        Ok(self.root().descend(&segments))
    }

    /// Upstream `get(path, def)`: the value at `/a/b<key>`, `None` when the domain or key is
    /// missing.
    ///
    /// # Errors
    /// A malformed path (upstream throws even from `get`).
    pub fn get(&self, path: &[u8]) -> Result<Option<&[u8]>, PathError> {
        let (segments, key) = path::param_path(path)?;
        Ok(self
            .root()
            .descend(&segments)
            .and_then(|d| d.param(key))
            .map(|p| p.value))
    }

    /// Upstream `operator[](path)`: like [`Config::get`] but a missing domain or key is an
    /// error.
    ///
    /// # Errors
    /// A malformed path, a missing domain or a missing key.
    pub fn lookup(&self, path: &[u8]) -> Result<&[u8], LookupError> {
        let (segments, key) = path::param_path(path).map_err(LookupError::Path)?;
        let domain = self
            .root()
            .descend(&segments)
            .ok_or(LookupError::NoDomain)?;
        domain
            .param(key)
            .map(|p| p.value)
            .ok_or(LookupError::NoParam)
    }

    /// Upstream `getDomainMap`: key → value, sorted by key; empty when the domain is missing.
    ///
    /// # Errors
    /// A malformed path.
    pub fn domain_map(&self, path: &[u8]) -> Result<BTreeMap<&[u8], &[u8]>, PathError> {
        Ok(self
            .domain(path)?
            .map(|d| d.params().map(|p| (p.key, p.value)).collect())
            .unwrap_or_default())
    }

    /// Upstream `getDomainKey`: keys in upstream's key order.
    ///
    /// # Errors
    /// A malformed path.
    pub fn domain_keys(&self, path: &[u8]) -> Result<Vec<&[u8]>, PathError> {
        Ok(self
            .domain(path)?
            .map(|d| d.params().map(|p| p.key).collect())
            .unwrap_or_default())
    }

    /// Upstream `getDomainLine`: every raw parameter line of the domain, duplicates included.
    ///
    /// # Errors
    /// A malformed path.
    pub fn domain_lines(&self, path: &[u8]) -> Result<Vec<&[u8]>, PathError> {
        Ok(self
            .domain(path)?
            .map(|d| d.lines().collect())
            .unwrap_or_default())
    }

    /// Upstream `getDomainVector`: the raw names of the sub-domains in first-appearance order.
    ///
    /// # Errors
    /// A malformed path.
    pub fn domain_vector(&self, path: &[u8]) -> Result<Vec<&[u8]>, PathError> {
        Ok(self
            .domain(path)?
            .map(|d| d.children().map(|c| c.raw_name()).collect())
            .unwrap_or_default())
    }

    /// Upstream `hasDomainVector`.
    ///
    /// # Errors
    /// A malformed path.
    pub fn has_domain(&self, path: &[u8]) -> Result<bool, PathError> {
        Ok(self.domain(path)?.is_some())
    }

    /// Upstream `set(path<key>, value)`: creates missing domains; an existing key keeps its
    /// position, a new key is appended.
    ///
    /// # Errors
    /// A malformed path.
    pub fn set(&mut self, path: &[u8], value: &[u8]) -> Result<(), PathError> {
        let (segments, key) = path::param_path(path)?;
        let domain = self.create_path(&segments);
        self.set_param(domain, key, value);
        Ok(())
    }

    /// Upstream `insertDomainParam(path, map, create)`: `set` of every entry, in sorted key
    /// order. Returns `false` (upstream -1) when the domain is missing and `create` is false.
    ///
    /// # Errors
    /// A malformed path.
    pub fn insert_domain_params(
        &mut self,
        path: &[u8],
        params: &BTreeMap<Vec<u8>, Vec<u8>>,
        create: bool,
    ) -> Result<bool, PathError> {
        let segments = path::domain_path(path)?;
        if !create && self.root().descend(&segments).is_none() {
            return Ok(false);
        }
        let domain = self.create_path(&segments);
        for (key, value) in params {
            self.set_param(domain, key, value);
        }
        Ok(true)
    }

    /// Upstream `erase(path<key>)`; silent when missing.
    ///
    /// # Errors
    /// A malformed path.
    pub fn erase(&mut self, path: &[u8]) -> Result<(), PathError> {
        let (segments, key) = path::param_path(path)?;
        if let Some(domain) = self.root().descend(&segments).map(|d| d.id) {
            let h = hash(domain, key);
            let (entries, src, buf) = (&self.entries, &self.src, &self.buf);
            if let Ok(slot) = self.entry_index.find_entry(h, |&i| {
                let e = &entries[i as usize];
                e.domain == domain && text(src, buf, e.key) == key
            }) {
                let (i, _) = slot.remove();
                self.entries[i as usize].live = false;
            }
        }
        Ok(())
    }

    /// Upstream `eraseDomain(path)`; silent when missing. Erasing `/` empties nothing.
    ///
    /// # Errors
    /// A malformed path.
    pub fn erase_domain(&mut self, path: &[u8]) -> Result<(), PathError> {
        let segments = path::domain_path(path)?;
        let Some((last, parents)) = segments.split_last() else {
            return Ok(());
        };
        let Some(parent) = self.root().descend(parents).map(|d| d.id) else {
            return Ok(());
        };
        let h = hash(parent, last);
        let (domains, src, buf) = (&self.domains, &self.src, &self.buf);
        let Ok(slot) = self.child_index.find_entry(h, |&i| {
            let d = &domains[i as usize];
            d.parent == parent && text(src, buf, d.raw) == *last
        }) else {
            return Ok(());
        };
        let (child, _) = slot.remove();
        // Unlink it from its parent's list; the subtree stays in the arrays, unreachable.
        let next = self.domains[child as usize].next_sibling;
        let mut prev = NONE;
        let mut at = self.domains[parent as usize].first_child;
        while at != NONE && at != child {
            prev = at;
            at = self.domains[at as usize].next_sibling;
        }
        if prev == NONE {
            self.domains[parent as usize].first_child = next;
        } else {
            self.domains[prev as usize].next_sibling = next;
        }
        if self.domains[parent as usize].last_child == child {
            self.domains[parent as usize].last_child = prev;
        }
        Ok(())
    }

    // ---- building, for the parser and the API ---------------------------------------------

    /// The bytes of a text of this config.
    pub(crate) fn bytes(&self, t: Text) -> &[u8] {
        text(&self.src, &self.buf, t)
    }

    pub(crate) fn domain_at(&self, id: u32) -> &Domain {
        &self.domains[id as usize]
    }

    /// Copies `bytes` into the owned buffer.
    pub(crate) fn own(&mut self, bytes: &[u8]) -> Text {
        let start = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(bytes);
        let end = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        Text::Buf(Span::new(start, end))
    }

    /// Upstream `addSubDomain(raw)`: reuses the child of `parent` with the same raw key.
    /// Returns the child's index and whether it already existed.
    pub(crate) fn add_child(&mut self, parent: u32, raw: Text, name: Text) -> (u32, bool) {
        let (domains, src, buf) = (&self.domains, &self.src, &self.buf);
        let raw_bytes = text(src, buf, raw);
        let h = hash(parent, raw_bytes);
        let found = self.child_index.find(h, |&i| {
            let d = &domains[i as usize];
            d.parent == parent && text(src, buf, d.raw) == raw_bytes
        });
        if let Some(&i) = found {
            return (i, true);
        }
        let id = u32::try_from(domains.len()).unwrap_or(NONE);
        self.child_index.insert_unique(h, id, |&i| {
            let d = &domains[i as usize];
            hash(d.parent, text(src, buf, d.raw))
        });
        self.domains.push(Domain::new(raw, name, parent));
        let p = &mut self.domains[parent as usize];
        if p.last_child == NONE {
            p.first_child = id;
        } else {
            let last = p.last_child;
            self.domains[last as usize].next_sibling = id;
        }
        self.domains[parent as usize].last_child = id;
        (id, false)
    }

    pub(crate) fn set_first_open(&mut self, domain: u32, span: Span) {
        let d = &mut self.domains[domain as usize];
        if d.first_open.is_none() {
            d.first_open = Some(span);
        }
    }

    /// Upstream `setParamValue(key, value)` as used by parsing: the last value wins and the key
    /// moves to the end. Returns the origin of the entry it replaced, if any.
    pub(crate) fn assign(
        &mut self,
        domain: u32,
        key: Text,
        value: Text,
        origin: Option<ParamOrigin>,
    ) -> Option<Option<ParamOrigin>> {
        let (entries, src, buf) = (&self.entries, &self.src, &self.buf);
        let key_bytes = text(src, buf, key);
        let id = u32::try_from(entries.len()).unwrap_or(NONE);
        let slot = self.entry_index.entry(
            hash(domain, key_bytes),
            |&i| {
                let e = &entries[i as usize];
                e.domain == domain && text(src, buf, e.key) == key_bytes
            },
            |&i| {
                let e = &entries[i as usize];
                hash(e.domain, text(src, buf, e.key))
            },
        );
        let replaced = match slot {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let old = std::mem::replace(o.get_mut(), id) as usize;
                self.entries[old].live = false;
                Some(self.entries[old].origin)
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(id);
                None
            }
        };
        self.entries.push(Entry {
            domain,
            next: NONE,
            key,
            value,
            origin,
            live: true,
        });
        let d = &mut self.domains[domain as usize];
        if d.last_entry == NONE {
            d.first_entry = id;
        } else {
            let last = d.last_entry;
            self.entries[last as usize].next = id;
        }
        self.domains[domain as usize].last_entry = id;
        replaced
    }

    /// Upstream `set`/`insertDomainParam` on one key: an existing key keeps its position.
    fn set_param(&mut self, domain: u32, key: &[u8], value: &[u8]) {
        let (entries, src, buf) = (&self.entries, &self.src, &self.buf);
        let found = self.entry_index.find(hash(domain, key), |&i| {
            let e = &entries[i as usize];
            e.domain == domain && text(src, buf, e.key) == key
        });
        match found.copied() {
            Some(i) => {
                let value = self.own(value);
                let e = &mut self.entries[i as usize];
                e.value = value;
                e.origin = None;
            }
            None => {
                let (key, value) = (self.own(key), self.own(value));
                self.assign(domain, key, value, None);
            }
        }
    }

    fn create_path(&mut self, segments: &[&[u8]]) -> u32 {
        let mut domain = ROOT;
        for segment in segments {
            let existing = self.domain_ref(domain).child(segment).map(|d| d.id);
            domain = match existing {
                Some(id) => id,
                None => {
                    let name = self.own(segment);
                    self.add_child(domain, name, name).0
                }
            };
        }
        domain
    }

    pub(crate) fn domain_ref(&self, id: u32) -> DomainRef<'_> {
        DomainRef { config: self, id }
    }

    /// Files the raw parameter lines and open-tag spans collected during a parse, given as
    /// `(domain, span)` in source order, so that each domain's are contiguous and in order.
    pub(crate) fn file_spans(&mut self, lines: &[(u32, Span)], opens: &[(u32, Span)]) {
        self.line_spans = group(&mut self.domains, lines, |d| &mut d.lines);
        self.open_spans = group(&mut self.domains, opens, |d| &mut d.opens);
    }
}

/// Counting sort of `(domain, span)` pairs by domain, keeping source order within a domain;
/// each domain's range is written through `range`.
fn group(
    domains: &mut [Domain],
    pairs: &[(u32, Span)],
    range: impl Fn(&mut Domain) -> &mut Range32,
) -> Vec<Span> {
    for &(d, _) in pairs {
        if let Some(domain) = domains.get_mut(d as usize) {
            range(domain).end += 1;
        }
    }
    let mut at = 0u32;
    for domain in domains.iter_mut() {
        let r = range(domain);
        let len = r.end;
        *r = Range32 { start: at, end: at };
        at += len;
    }
    let mut spans = vec![Span::default(); at as usize];
    for &(d, span) in pairs {
        if let Some(domain) = domains.get_mut(d as usize) {
            let r = range(domain);
            if let Some(slot) = spans.get_mut(r.end as usize) {
                *slot = span;
                r.end += 1;
            }
        }
    }
    spans
}

fn text<'a>(src: &'a [u8], buf: &'a [u8], t: Text) -> &'a [u8] {
    match t {
        Text::Src(s) => src.get(s.range()).unwrap_or_default(),
        Text::Buf(s) => buf.get(s.range()).unwrap_or_default(),
    }
}

/// A borrowed view of one domain.
#[derive(Clone, Copy)]
pub struct DomainRef<'a> {
    config: &'a Config,
    id: u32,
}

/// A borrowed view of one live parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamRef<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Where it was parsed from; `None` for values set through the API.
    pub origin: Option<ParamOrigin>,
}

impl<'a> DomainRef<'a> {
    fn data(&self) -> &'a Domain {
        &self.config.domains[self.id as usize]
    }

    /// The trimmed name.
    #[must_use]
    pub fn name(&self) -> &'a [u8] {
        self.config.bytes(self.data().name)
    }

    /// The raw tag text (upstream's map key), e.g. `" t "` for `< t >`.
    #[must_use]
    pub fn raw_name(&self) -> &'a [u8] {
        self.config.bytes(self.data().raw)
    }

    /// Spans of the raw name in every open tag of this domain (duplicates merge).
    #[must_use]
    pub fn open_spans(&self) -> &'a [Span] {
        self.config
            .open_spans
            .get(self.data().opens.range())
            .unwrap_or_default()
    }

    /// Live parameters in upstream key order.
    pub fn params(&self) -> impl Iterator<Item = ParamRef<'a>> + 'a {
        let config = self.config;
        let mut at = self.data().first_entry;
        std::iter::from_fn(move || {
            while let Some(e) = config.entries.get(at as usize) {
                at = e.next;
                if e.live {
                    return Some(ParamRef {
                        key: config.bytes(e.key),
                        value: config.bytes(e.value),
                        origin: e.origin,
                    });
                }
            }
            None
        })
    }

    /// The live parameter `key`.
    #[must_use]
    pub fn param(&self, key: &[u8]) -> Option<ParamRef<'a>> {
        let config = self.config;
        let id = self.id;
        let &i = config.entry_index.find(hash(id, key), |&i| {
            let e = &config.entries[i as usize];
            e.domain == id && config.bytes(e.key) == key
        })?;
        let e = &config.entries[i as usize];
        Some(ParamRef {
            key: config.bytes(e.key),
            value: config.bytes(e.value),
            origin: e.origin,
        })
    }

    /// Sub-domains in first-appearance order.
    pub fn children(&self) -> impl Iterator<Item = DomainRef<'a>> + 'a {
        let config = self.config;
        let mut at = self.data().first_child;
        std::iter::from_fn(move || {
            let d = config.domains.get(at as usize)?;
            let id = at;
            at = d.next_sibling;
            Some(DomainRef { config, id })
        })
    }

    /// The sub-domain whose raw name is `raw`.
    #[must_use]
    pub fn child(&self, raw: &[u8]) -> Option<DomainRef<'a>> {
        let config = self.config;
        let parent = self.id;
        let &id = config.child_index.find(hash(parent, raw), |&i| {
            let d = &config.domains[i as usize];
            d.parent == parent && config.bytes(d.raw) == raw
        })?;
        Some(DomainRef { config, id })
    }

    /// Raw trimmed parameter lines in file order, duplicates included.
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let src: &'a [u8] = &self.config.src;
        self.line_spans()
            .iter()
            .map(move |s| src.get(s.range()).unwrap_or_default())
    }

    /// Spans of the raw parameter lines.
    #[must_use]
    pub fn line_spans(&self) -> &'a [Span] {
        self.config
            .line_spans
            .get(self.data().lines.range())
            .unwrap_or_default()
    }

    pub(crate) fn descend(self, segments: &[&[u8]]) -> Option<Self> {
        let mut current = self;
        for segment in segments {
            current = current.child(segment)?;
        }
        Some(current)
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }
}

impl std::fmt::Debug for DomainRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainRef")
            .field("name", &String::from_utf8_lossy(self.name()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    /// `depth` nested `<d>` domains, each with one parameter.
    fn nested(depth: usize) -> Vec<u8> {
        let mut text = b"<d>\nk=v\n".repeat(depth);
        text.extend(b"</d>\n".repeat(depth));
        text
    }

    /// Runs `f` on a thread with a small stack: anything that recurses once per nesting level
    /// overflows it.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    /// Found by the `shapes::deep` benchmark: the tree was a `Domain` holding its children by
    /// value, so drop and clone recursed once per level, and each line walked the path from
    /// the root (quadratic: 206 s at depth 10,000).
    #[test]
    fn deep_nesting_does_not_recurse() {
        on_small_stack(|| {
            let p = parse(nested(20_000));
            assert!(p.upstream_error.is_none());
            let copy = p.config.clone();
            assert_eq!(copy.domain_lines(b"/d/d/d").unwrap(), vec![&b"k=v"[..]]);
            drop(copy);
            drop(p);
        });
    }

    /// `tostr` of a deep tree used to recurse once per level too.
    #[test]
    fn deep_to_text_does_not_recurse() {
        on_small_stack(|| {
            let config = parse(nested(1_500)).config;
            let text = config.to_text().unwrap();
            assert!(text.starts_with(b"<d>\n  k=v\n  <d>\n"));
            assert!(text.ends_with(b"  </d>\n</d>\n"));
        });
    }

    /// Issue 13: `tostr` grows with the square of the depth (90 KB in, 200 MB out). Past
    /// `MAX_OUTPUT` it is a refusal, not an allocation of gigabytes.
    #[test]
    fn deep_to_text_is_bounded() {
        let config = parse(nested(20_000)).config;
        assert_eq!(
            config.to_text(),
            Err(crate::TostrError::TooLarge(crate::limits::TooLarge {
                limit: crate::limits::MAX_OUTPUT
            }))
        );
        let mut joined = config.clone();
        assert!(matches!(
            joined.join(&config, false),
            Err(crate::JoinError::Tostr(crate::TostrError::TooLarge(_)))
        ));
        let p = parse(nested(20_000));
        assert!(crate::fmt::format(&p).is_err());
    }
}
