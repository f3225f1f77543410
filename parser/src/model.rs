//! The TC_Config semantic model: domains, parameters and raw lines, with upstream's lookups.
//!
//! Strings are bytes, as upstream reads them. Keys and values that equal their source text
//! (no escapes) are stored as spans into the shared source; others are owned.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::path::{self, PathError};
use crate::span::Span;

/// Bytes held by the model: a span of the config's source, or owned bytes.
#[derive(Clone, Debug)]
pub(crate) enum Text {
    Src(Span),
    Owned(Box<[u8]>),
}

impl Text {
    pub(crate) fn owned(bytes: &[u8]) -> Self {
        Self::Owned(bytes.into())
    }
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

#[derive(Clone, Debug)]
struct Entry {
    key: Text,
    value: Text,
    origin: Option<ParamOrigin>,
    live: bool,
}

/// One `<domain>`: parameters in upstream's key order, sub-domains in first-appearance order,
/// and every raw parameter line (duplicates included).
#[derive(Clone, Debug)]
pub(crate) struct Domain {
    /// The raw tag text: upstream's map key.
    raw: Text,
    /// The trimmed name: what close tags are compared with and `tostr` writes.
    name: Text,
    /// Spans of the raw name of every open tag that opened (or re-opened) this domain.
    opens: Vec<Span>,
    entries: Vec<Entry>,
    entry_index: HashTable<u32>,
    children: Vec<Domain>,
    child_index: HashTable<u32>,
    lines: Vec<Span>,
}

fn hash(bytes: &[u8]) -> u64 {
    foldhash::fast::FixedState::default().hash_one(bytes)
}

fn resolve<'a>(src: &'a [u8], text: &'a Text) -> &'a [u8] {
    match text {
        Text::Src(span) => src.get(span.range()).unwrap_or_default(),
        Text::Owned(bytes) => bytes,
    }
}

impl Domain {
    pub(crate) fn new(raw: Text, name: Text) -> Self {
        Self {
            raw,
            name,
            opens: Vec::new(),
            entries: Vec::new(),
            entry_index: HashTable::new(),
            children: Vec::new(),
            child_index: HashTable::new(),
            lines: Vec::new(),
        }
    }

    fn find_entry(&self, src: &[u8], key: &[u8]) -> Option<usize> {
        self.entry_index
            .find(hash(key), |&i| {
                resolve(src, &self.entries[i as usize].key) == key
            })
            .map(|&i| i as usize)
    }

    fn find_child(&self, src: &[u8], raw: &[u8]) -> Option<usize> {
        self.child_index
            .find(hash(raw), |&i| {
                resolve(src, &self.children[i as usize].raw) == raw
            })
            .map(|&i| i as usize)
    }

    /// Upstream `setParamValue(key, value)` as used by parsing: the last value wins and the key
    /// moves to the end. Returns the origin of the entry it replaced, if any.
    pub(crate) fn assign(
        &mut self,
        src: &[u8],
        key: Text,
        value: Text,
        origin: Option<ParamOrigin>,
    ) -> Option<Option<ParamOrigin>> {
        let key_bytes = resolve(src, &key);
        let h = hash(key_bytes);
        let new_index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let entries = &self.entries;
        let previous = match self
            .entry_index
            .find_mut(h, |&i| resolve(src, &entries[i as usize].key) == key_bytes)
        {
            Some(slot) => {
                let old = *slot as usize;
                *slot = new_index;
                Some(old)
            }
            None => {
                self.entry_index.insert_unique(h, new_index, |&i| {
                    hash(resolve(src, &entries[i as usize].key))
                });
                None
            }
        };
        let replaced = previous.map(|old| {
            self.entries[old].live = false;
            self.entries[old].origin
        });
        self.entries.push(Entry {
            key,
            value,
            origin,
            live: true,
        });
        replaced
    }

    /// Upstream `set`/`insertDomainParam` on one key: an existing key keeps its position.
    fn set(&mut self, src: &[u8], key: &[u8], value: &[u8]) {
        match self.find_entry(src, key) {
            Some(i) => {
                self.entries[i].value = Text::owned(value);
                self.entries[i].origin = None;
            }
            None => {
                self.assign(src, Text::owned(key), Text::owned(value), None);
            }
        }
    }

    fn erase(&mut self, src: &[u8], key: &[u8]) {
        if let Some(i) = self.find_entry(src, key) {
            self.entries[i].live = false;
            let entries = &self.entries;
            if let Ok(slot) = self.entry_index.find_entry(hash(key), |&j| {
                resolve(src, &entries[j as usize].key) == key
            }) {
                slot.remove();
            }
        }
    }

    /// Upstream `addSubDomain(raw)`: reuses an existing child with the same raw key.
    /// Returns the child's index and whether it already existed.
    pub(crate) fn add_child(&mut self, src: &[u8], raw: Text, name: Text) -> (usize, bool) {
        let raw_bytes = resolve(src, &raw);
        if let Some(i) = self.find_child(src, raw_bytes) {
            return (i, true);
        }
        let h = hash(raw_bytes);
        let index = self.children.len();
        let children = &self.children;
        self.child_index
            .insert_unique(h, u32::try_from(index).unwrap_or(u32::MAX), |&i| {
                hash(resolve(src, &children[i as usize].raw))
            });
        self.children.push(Self::new(raw, name));
        (index, false)
    }

    fn remove_child(&mut self, src: &[u8], index: usize) {
        self.children.remove(index);
        self.child_index.clear();
        for (i, child) in self.children.iter().enumerate() {
            let children = &self.children;
            self.child_index.insert_unique(
                hash(resolve(src, &child.raw)),
                u32::try_from(i).unwrap_or(u32::MAX),
                |&j| hash(resolve(src, &children[j as usize].raw)),
            );
        }
    }

    pub(crate) fn child_mut(&mut self, index: usize) -> &mut Self {
        &mut self.children[index]
    }

    pub(crate) fn child(&self, index: usize) -> &Self {
        &self.children[index]
    }

    pub(crate) fn push_open(&mut self, span: Span) {
        self.opens.push(span);
    }

    pub(crate) fn first_open(&self) -> Option<Span> {
        self.opens.first().copied()
    }

    pub(crate) fn push_line(&mut self, span: Span) {
        self.lines.push(span);
    }

    pub(crate) fn name_text(&self) -> &Text {
        &self.name
    }

    pub(crate) fn raw_text(&self) -> &Text {
        &self.raw
    }

    pub(crate) fn live_entries(&self) -> impl Iterator<Item = (&Text, &Text, Option<ParamOrigin>)> {
        self.entries
            .iter()
            .filter(|e| e.live)
            .map(|e| (&e.key, &e.value, e.origin))
    }

    pub(crate) fn children(&self) -> &[Self] {
        &self.children
    }
}

/// A parsed (or built) TC_Config: the root domain `""` and the source its spans point into.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) src: Arc<[u8]>,
    pub(crate) root: Domain,
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
        Self {
            src,
            root: Domain::new(Text::owned(b""), Text::owned(b"")),
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
            src: &self.src,
            domain: &self.root,
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
        let src = Arc::clone(&self.src);
        let domain = self.create_path(&segments);
        domain.set(&src, key, value);
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
        let src = Arc::clone(&self.src);
        let domain = self.create_path(&segments);
        for (key, value) in params {
            domain.set(&src, key, value);
        }
        Ok(true)
    }

    /// Upstream `erase(path<key>)`; silent when missing.
    ///
    /// # Errors
    /// A malformed path.
    pub fn erase(&mut self, path: &[u8]) -> Result<(), PathError> {
        let (segments, key) = path::param_path(path)?;
        let src = Arc::clone(&self.src);
        if let Some(domain) = self.domain_mut(&segments) {
            domain.erase(&src, key);
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
        let src = Arc::clone(&self.src);
        if let Some(parent) = self.domain_mut(parents)
            && let Some(i) = parent.find_child(&src, last)
        {
            parent.remove_child(&src, i);
        }
        Ok(())
    }

    fn domain_mut(&mut self, segments: &[&[u8]]) -> Option<&mut Domain> {
        let src = &self.src;
        let mut domain = &mut self.root;
        for segment in segments {
            let i = domain.find_child(src, segment)?;
            domain = &mut domain.children[i];
        }
        Some(domain)
    }

    fn create_path(&mut self, segments: &[&[u8]]) -> &mut Domain {
        let src = &self.src;
        let mut domain = &mut self.root;
        for segment in segments {
            let (i, _) = domain.add_child(src, Text::owned(segment), Text::owned(segment));
            domain = &mut domain.children[i];
        }
        domain
    }
}

/// A borrowed view of one domain.
#[derive(Clone, Copy)]
pub struct DomainRef<'a> {
    src: &'a [u8],
    domain: &'a Domain,
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
    /// The trimmed name.
    #[must_use]
    pub fn name(&self) -> &'a [u8] {
        resolve(self.src, &self.domain.name)
    }

    /// The raw tag text (upstream's map key), e.g. `" t "` for `< t >`.
    #[must_use]
    pub fn raw_name(&self) -> &'a [u8] {
        resolve(self.src, &self.domain.raw)
    }

    /// Spans of the raw name in every open tag of this domain (duplicates merge).
    #[must_use]
    pub fn open_spans(&self) -> &'a [Span] {
        &self.domain.opens
    }

    /// Live parameters in upstream key order.
    pub fn params(&self) -> impl Iterator<Item = ParamRef<'a>> + 'a {
        let src = self.src;
        self.domain
            .entries
            .iter()
            .filter(|e| e.live)
            .map(move |e| ParamRef {
                key: resolve(src, &e.key),
                value: resolve(src, &e.value),
                origin: e.origin,
            })
    }

    /// The live parameter `key`.
    #[must_use]
    pub fn param(&self, key: &[u8]) -> Option<ParamRef<'a>> {
        let e = &self.domain.entries[self.domain.find_entry(self.src, key)?];
        Some(ParamRef {
            key: resolve(self.src, &e.key),
            value: resolve(self.src, &e.value),
            origin: e.origin,
        })
    }

    /// Sub-domains in first-appearance order.
    pub fn children(&self) -> impl Iterator<Item = DomainRef<'a>> + 'a {
        let src = self.src;
        self.domain
            .children
            .iter()
            .map(move |domain| DomainRef { src, domain })
    }

    /// The sub-domain whose raw name is `raw`.
    #[must_use]
    pub fn child(&self, raw: &[u8]) -> Option<DomainRef<'a>> {
        let i = self.domain.find_child(self.src, raw)?;
        Some(DomainRef {
            src: self.src,
            domain: &self.domain.children[i],
        })
    }

    /// Raw trimmed parameter lines in file order, duplicates included.
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let src = self.src;
        self.domain
            .lines
            .iter()
            .map(move |s| src.get(s.range()).unwrap_or_default())
    }

    /// Spans of the raw parameter lines.
    #[must_use]
    pub fn line_spans(&self) -> &'a [Span] {
        &self.domain.lines
    }

    pub(crate) fn descend(self, segments: &[&[u8]]) -> Option<Self> {
        let mut current = self;
        for segment in segments {
            current = current.child(segment)?;
        }
        Some(current)
    }
}

impl std::fmt::Debug for DomainRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainRef")
            .field("name", &String::from_utf8_lossy(self.name()))
            .finish_non_exhaustive()
    }
}
