//! A service package (the tgz the operator uploads): checked, digested and unpacked safely.
//!
//! The archive is streamed (never read whole into memory) through one function,
//! [`stream`], twice at most: [`Package::scan`] reads it without writing anything (every check,
//! the listing, the content digest), and [`Package::unpack`] reads it again into a fresh
//! directory, through the [`crate::beneath`] discipline, and must arrive at the same digest.
//! Both make the same decisions because they run the same code:
//!
//! - paths: absolute paths, `..`, empty names, names longer than the limit, an entry below a
//!   link or below a file, and a second entry of the same name (directories aside) are
//!   refused; devices, fifos and sparse files are refused;
//! - modes: files keep only `0o755` of their mode (no setuid, setgid, sticky, group or world
//!   write); directories are `0o755`; nothing is chowned (root owns what it unpacks);
//! - regular files and directories are created as they come, exclusively, below the fresh
//!   directory; hard links only to a regular file of the package unpacked before them;
//! - symbolic links are created last, once the whole tree is known, and only when their target
//!   resolves — through the package's own links, `..` included, as the kernel would — to an
//!   entry of the package: nothing outside, nothing missing, no loop;
//! - limits ([`Limits`]) on unpacked bytes, entries, one entry's size, path length, the
//!   compression ratio, and the size of an entry's headers (GNU long names and pax records are
//!   held in memory by the tar reader, so they get 1 MiB at most).
//!
//! Tars packages (`make tar`) hold one top-level directory named after the server
//! (`HelloServer/HelloServer`, …). When the archive has exactly one top-level directory, its
//! contents are the package's *content*; otherwise the archive's root is.
//!
//! The digest is over the content as it lies on disk once unpacked — each path with its kind,
//! its normalised mode, the SHA-256 of its bytes or its link's target — not over the tgz bytes,
//! so a repack of the same files (other times, owners, order, compression) is the same
//! package, and [`Package::verify`] can compute the same records from an installed tree to find
//! what was changed in it. A top-level `tars_start.sh` is left out: deploy writes its own.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest as _, Sha256};

use crate::beneath::{DirHandle, FsError, Kind};

/// The start script's name: deploy writes it at the top of the content.
pub const START_SCRIPT: &str = "tars_start.sh";

/// What a package may unpack to. The defaults fit real services (a large Java or Node service
/// stays well within them) and stop archive bombs early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of all files together (default 2 GiB).
    pub max_bytes: u64,
    /// Entries: files, directories, links (default 100,000).
    pub max_entries: u64,
    /// Bytes of one file (default 1 GiB).
    pub max_entry_bytes: u64,
    /// Bytes of one entry's path in the archive (default 1024).
    pub max_path_bytes: u64,
    /// Unpacked archive bytes per compressed byte, checked once more than [`RATIO_FLOOR`]
    /// bytes were unpacked (default 100; gzip tops out near 1030).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 2 << 30,
            max_entries: 100_000,
            max_entry_bytes: 1 << 30,
            max_path_bytes: 1024,
            max_ratio: 100,
        }
    }
}

/// Below this many unpacked bytes the compression ratio is not checked (a small package of
/// text may compress very well).
pub const RATIO_FLOOR: u64 = 16 << 20;

/// What an entry's headers (GNU long name and long link, pax records) may take.
const HEADER_ALLOWANCE: u64 = 1 << 20;

/// Steps the link resolution of one package may take (a lookup each): bounds the work a
/// package of many long, chained links can cause.
const LINK_STEPS: u64 = 10_000_000;

/// Links followed while resolving one target (the kernel's `MAXSYMLINKS`).
const MAX_HOPS: u32 = 40;

/// Which limit a package hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Bytes,
    Entries,
    EntryBytes,
    PathBytes,
    Ratio,
    Headers,
}

impl Limit {
    /// The `deploy` flag that raises it.
    #[must_use]
    pub const fn flag(self) -> &'static str {
        match self {
            Self::Bytes => "--max-package-bytes",
            Self::Entries => "--max-package-entries",
            Self::EntryBytes => "--max-entry-bytes",
            Self::PathBytes => "--max-path-bytes",
            Self::Ratio => "--max-compression-ratio",
            Self::Headers => "",
        }
    }

    const fn what(self) -> &'static str {
        match self {
            Self::Bytes => "unpacks to more than {} bytes",
            Self::Entries => "has more than {} entries",
            Self::EntryBytes => "has a file larger than {} bytes",
            Self::PathBytes => "has a path or link target longer than {} bytes",
            Self::Ratio => "inflates more than {}-fold (its compression ratio)",
            Self::Headers => "has an entry whose headers (long name, pax records) exceed {} bytes",
        }
    }

    fn describe(self, value: u64) -> String {
        let text = self.what().replace("{}", &value.to_string());
        match self.flag() {
            "" => text,
            flag => format!("{text}; raise the limit with {flag} if this is intended"),
        }
    }
}

/// Why a package was refused or could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read the package {}: {source}", shown(path))]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{} is not a tgz package (no gzip header); build it with `tar czf`",
        shown(path)
    )]
    NotGzip { path: PathBuf },
    #[error("{} is not a tgz package: {reason}", shown(path))]
    NotTar { path: PathBuf, reason: String },
    /// `entry` is the entry's name as safe text (escaped).
    #[error("{}: entry `{entry}` is refused: {reason}", shown(path))]
    Unsafe {
        path: PathBuf,
        entry: String,
        reason: UnsafeEntry,
    },
    #[error("{} is empty: it has no files", shown(path))]
    Empty { path: PathBuf },
    #[error("{} is refused: it {}", shown(path), limit.describe(*value))]
    Limit {
        path: PathBuf,
        limit: Limit,
        value: u64,
    },
    #[error(
        "{} changed while it was unpacked (its content digest differs); deploy it again",
        shown(path)
    )]
    Changed { path: PathBuf },
    /// Writing below the service directory failed (or met something planted there).
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Why one entry is unsafe. Names and targets in it are safe text (escaped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeEntry {
    #[error("its path is absolute")]
    Absolute,
    #[error("its path goes up with `..`")]
    ParentDir,
    #[error("its link target `{0}` is absolute")]
    AbsoluteLink(String),
    #[error("its link target `{0}` points outside the package")]
    LinkOutside(String),
    #[error("its link target `{0}` is not in the package")]
    LinkMissing(String),
    #[error("its link target `{0}` goes round in a loop of links")]
    LinkLoop(String),
    #[error("its hard link target `{0}` is not a regular file unpacked before it")]
    HardlinkTarget(String),
    #[error("it lies below the link `{0}`")]
    BelowLink(String),
    #[error("it lies below the file `{0}`")]
    BelowFile(String),
    #[error("the package has it twice")]
    Duplicate,
    #[error("it is a {0}, which a package may not hold")]
    Special(&'static str),
    #[error("`{START_SCRIPT}` at the top of a package must be a file (deploy writes its own)")]
    Reserved,
    #[error("a name in its path is longer than 255 bytes")]
    NameTooLong,
    #[error("its path or link target is empty")]
    BadName,
    #[error("the package's links take more than {LINK_STEPS} steps to check")]
    TooIntricate,
}

/// One entry of a package listing: its path below `bin/`, and whether it is an executable
/// regular file (a link counts as what it resolves to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedEntry {
    pub path: PathBuf,
    pub is_dir: bool,
    pub executable: bool,
}

/// One entry of the content as the digest and [`Package::verify`] see it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    /// Below the content root; empty for the root itself.
    pub path: PathBuf,
    pub what: What,
}

/// What an entry is, as far as the digest cares.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        sha256: [u8; 32],
    },
    Link {
        target: PathBuf,
    },
    /// Found on disk only (a fifo, a socket…); never in a package.
    Other(&'static str),
}

/// A checked package: where it is, its content digest, what it holds.
#[derive(Clone, Debug)]
pub struct Package {
    pub path: PathBuf,
    /// `sha256:<hex>` over the content ([`Record`]s), not over the tgz bytes.
    pub digest: String,
    /// The content's entries, below `bin/`, in path order.
    pub listing: Vec<ListedEntry>,
    /// The single top-level directory whose contents are the package, if any.
    pub top: Option<PathBuf>,
    /// Bytes of all files.
    pub bytes: u64,
    records: Vec<Record>,
}

impl Package {
    /// Reads and checks every entry without writing anything; computes the listing and the
    /// content digest.
    ///
    /// # Errors
    /// Every [`PackageError`] but [`PackageError::Fs`] and [`PackageError::Changed`].
    pub fn scan(path: &Path, limits: &Limits) -> Result<Self, PackageError> {
        stream(path, limits, &mut Check)
    }

    /// The digest's hex without the `sha256:` prefix.
    #[must_use]
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// The content's records (sorted by path), as [`Package::verify`] compares them.
    #[must_use]
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Unpacks into the new directory `name` below `into` (it must not exist; it is removed
    /// again on failure) and returns the path of the content below `into` (`name`, or its
    /// single top-level directory).
    ///
    /// # Errors
    /// Every [`PackageError`]; [`PackageError::Changed`] when the file no longer has the
    /// digest [`Package::scan`] found.
    pub fn unpack(
        &self,
        into: &DirHandle,
        name: &OsStr,
        limits: &Limits,
    ) -> Result<PathBuf, PackageError> {
        if !into.mkdir(name, 0o755)? {
            return Err(PackageError::Fs(FsError::Kind {
                path: into.display(name),
                found: "directory left from another run",
                expected: "new directory",
            }));
        }
        let result = (|| {
            let dir = into.open_dir(Path::new(name))?;
            let mut sink = Unpack { root: dir };
            let unpacked = stream(&self.path, limits, &mut sink)?;
            if unpacked.digest != self.digest {
                return Err(PackageError::Changed {
                    path: self.path.clone(),
                });
            }
            Ok(unpacked
                .top
                .map_or_else(|| PathBuf::from(name), |top| Path::new(name).join(top)))
        })();
        if result.is_err() {
            let _ = into.remove_tree(name);
        }
        result
    }

    /// Compares the tree installed in `dir` (the content root, start script aside) with the
    /// package: every path, kind, mode, owner (this process's user), byte and link target.
    /// Returns what differs (empty: the tree is the package), at most a few paths named.
    ///
    /// # Errors
    /// [`FsError`] when the tree cannot be read (a link or foreign object where the walk
    /// expects a directory it can enter is reported as a difference, not an error).
    pub fn verify(&self, dir: &DirHandle, limits: &Limits) -> Result<Vec<String>, FsError> {
        let found = match installed_records(dir, limits)? {
            Ok(records) => records,
            Err(reason) => return Ok(vec![reason]),
        };
        Ok(differences(&self.records, &found))
    }
}

/// What [`stream`] does with each entry it accepts: nothing (a check) or write it.
trait Sink {
    /// Creates the directory `rel` (its parent exists).
    fn dir(&mut self, rel: &Path) -> Result<(), PackageError>;
    /// Creates the file `rel` exclusively, with `mode`, to be written; `None` when checking.
    fn file(&mut self, rel: &Path, mode: u32) -> Result<Option<File>, PackageError>;
    /// Creates the hard link `rel` to the file `target` (both relative to the root).
    fn hardlink(&mut self, rel: &Path, target: &Path) -> Result<(), PackageError>;
    /// Creates the symbolic link `rel` -> `target` (checked already).
    fn symlink(&mut self, rel: &Path, target: &Path) -> Result<(), PackageError>;
}

/// Checks only.
struct Check;

impl Sink for Check {
    fn dir(&mut self, _: &Path) -> Result<(), PackageError> {
        Ok(())
    }
    fn file(&mut self, _: &Path, _: u32) -> Result<Option<File>, PackageError> {
        Ok(None)
    }
    fn hardlink(&mut self, _: &Path, _: &Path) -> Result<(), PackageError> {
        Ok(())
    }
    fn symlink(&mut self, _: &Path, _: &Path) -> Result<(), PackageError> {
        Ok(())
    }
}

/// Writes below `root`, a directory this run created.
struct Unpack {
    root: DirHandle,
}

impl Unpack {
    /// The handle of `rel`'s parent and `rel`'s last name.
    fn parent<'a>(&self, rel: &'a Path) -> Result<(Option<DirHandle>, &'a OsStr), PackageError> {
        let name = rel.file_name().ok_or_else(|| FsError::BadName {
            name: rel.to_path_buf(),
        })?;
        let parent = match rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => Some(self.root.open_dir(parent)?),
            None => None,
        };
        Ok((parent, name))
    }
}

impl Sink for Unpack {
    fn dir(&mut self, rel: &Path) -> Result<(), PackageError> {
        let (parent, name) = self.parent(rel)?;
        parent.as_ref().unwrap_or(&self.root).mkdir(name, 0o755)?;
        Ok(())
    }

    fn file(&mut self, rel: &Path, mode: u32) -> Result<Option<File>, PackageError> {
        let (parent, name) = self.parent(rel)?;
        Ok(Some(
            parent
                .as_ref()
                .unwrap_or(&self.root)
                .create_file(name, mode)?,
        ))
    }

    fn hardlink(&mut self, rel: &Path, target: &Path) -> Result<(), PackageError> {
        let (parent, name) = self.parent(rel)?;
        let (from, from_name) = self.parent(target)?;
        parent.as_ref().unwrap_or(&self.root).hard_link(
            from.as_ref().unwrap_or(&self.root),
            from_name,
            name,
        )?;
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, target: &Path) -> Result<(), PackageError> {
        let (parent, name) = self.parent(rel)?;
        parent
            .as_ref()
            .unwrap_or(&self.root)
            .symlink(target, name)?;
        Ok(())
    }
}

/// One node of the package as [`stream`] has built it so far (paths from the archive root).
#[derive(Clone, Debug)]
enum Node {
    Dir,
    File { mode: u32, sha256: [u8; 32] },
    Link { target: PathBuf },
}

/// Reads the package at `path`, checking every entry against `limits` and handing what it
/// accepts to `sink`; returns the package it found.
fn stream(path: &Path, limits: &Limits, sink: &mut dyn Sink) -> Result<Package, PackageError> {
    let not_tar = |reason: String| PackageError::NotTar {
        path: path.to_path_buf(),
        reason,
    };
    let limit = |limit: Limit, value: u64| PackageError::Limit {
        path: path.to_path_buf(),
        limit,
        value,
    };
    let mut file = File::open(path).map_err(|source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut magic = [0_u8; 2];
    if file.read_exact(&mut magic).is_err() || magic != [0x1f, 0x8b] {
        return Err(PackageError::NotGzip {
            path: path.to_path_buf(),
        });
    }
    let compressed = Rc::new(Cell::new(2_u64));
    let meter = Rc::new(Meter::default());
    let gz = flate2::read::GzDecoder::new(io::Cursor::new(magic).chain(Counted {
        inner: file,
        count: Rc::clone(&compressed),
    }));
    let mut archive = tar::Archive::new(Metered {
        inner: gz,
        meter: Rc::clone(&meter),
    });
    // Mapped from a failed read: a limit the meter enforced, or a broken archive.
    let read_error = |error: io::Error| -> PackageError {
        if error.get_ref().is_some_and(|e| e.is::<HeadersTooLarge>()) {
            limit(Limit::Headers, HEADER_ALLOWANCE)
        } else {
            not_tar(parser::terminal::escape_controls(&error.to_string()).into_owned())
        }
    };

    let mut model: BTreeMap<PathBuf, Node> = BTreeMap::new();
    let mut links: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    let mut entries = 0_u64;
    let mut total = 0_u64;
    let mut files = 0_u64;
    let ratio = |meter: &Meter| {
        let out = meter.read.get();
        if out > RATIO_FLOOR && out / compressed.get().max(1) > limits.max_ratio {
            Err(limit(Limit::Ratio, limits.max_ratio))
        } else {
            Ok(())
        }
    };

    let iter = archive.entries().map_err(read_error)?;
    for entry in iter {
        let mut entry = entry.map_err(read_error)?;
        let raw_name = entry.path_bytes().into_owned();
        let shown = parser::terminal::escape_lossy(&raw_name).into_owned();
        let unsafe_entry = |reason: UnsafeEntry| PackageError::Unsafe {
            path: path.to_path_buf(),
            entry: shown.clone(),
            reason,
        };
        let kind = entry_kind(entry.header().entry_type());
        let size = entry.size();
        if size > limits.max_entry_bytes {
            return Err(limit(Limit::EntryBytes, limits.max_entry_bytes));
        }
        // The data of this entry, its padding and the next entry's headers may be read.
        meter.allow(size.div_ceil(512) * 512 + HEADER_ALLOWANCE);
        if kind == EntryKind::Meta {
            continue;
        }
        if let EntryKind::Special(what) = kind {
            return Err(unsafe_entry(UnsafeEntry::Special(what)));
        }
        if raw_name.len() as u64 > limits.max_path_bytes {
            return Err(limit(Limit::PathBytes, limits.max_path_bytes));
        }
        let relative =
            clean_relative(Path::new(OsStr::from_bytes(&raw_name))).map_err(unsafe_entry)?;
        if relative.as_os_str().is_empty() {
            if kind == EntryKind::Dir {
                continue;
            }
            return Err(unsafe_entry(UnsafeEntry::BadName));
        }
        entries += 1;
        if entries > limits.max_entries {
            return Err(limit(Limit::Entries, limits.max_entries));
        }

        // Every ancestor must be a directory of the package (made here when implicit).
        let ancestors: Vec<&Path> = relative
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .collect();
        for ancestor in ancestors.into_iter().rev() {
            match model.get(ancestor) {
                Some(Node::Dir) => {}
                Some(Node::Link { .. }) => {
                    return Err(unsafe_entry(UnsafeEntry::BelowLink(safe(ancestor))));
                }
                Some(Node::File { .. }) => {
                    return Err(unsafe_entry(UnsafeEntry::BelowFile(safe(ancestor))));
                }
                None => {
                    entries += 1;
                    if entries > limits.max_entries {
                        return Err(limit(Limit::Entries, limits.max_entries));
                    }
                    sink.dir(ancestor)?;
                    model.insert(ancestor.to_path_buf(), Node::Dir);
                }
            }
        }
        match (model.get(&relative), kind) {
            (None, _) => {}
            (Some(Node::Dir), EntryKind::Dir) => {
                entries -= 1;
                continue;
            }
            (Some(_), _) => return Err(unsafe_entry(UnsafeEntry::Duplicate)),
        }

        match kind {
            EntryKind::Dir => {
                sink.dir(&relative)?;
                model.insert(relative, Node::Dir);
            }
            EntryKind::File => {
                total = total.saturating_add(size);
                if total > limits.max_bytes {
                    return Err(limit(Limit::Bytes, limits.max_bytes));
                }
                let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
                let mut out = sink.file(&relative, mode)?;
                let mut hasher = Sha256::new();
                let mut buffer = vec![0_u8; 64 * 1024];
                let mut copied = 0_u64;
                loop {
                    let n = entry.read(&mut buffer).map_err(read_error)?;
                    if n == 0 {
                        break;
                    }
                    copied += n as u64;
                    hasher.update(&buffer[..n]);
                    if let Some(out) = out.as_mut() {
                        out.write_all(&buffer[..n]).map_err(|source| FsError::Io {
                            op: "write",
                            path: relative.clone(),
                            source,
                        })?;
                    }
                    ratio(&meter)?;
                }
                if copied != size {
                    return Err(not_tar(format!("entry `{shown}` is truncated")));
                }
                files += 1;
                model.insert(
                    relative,
                    Node::File {
                        mode,
                        sha256: hasher.finalize().into(),
                    },
                );
            }
            EntryKind::Hardlink => {
                let target_raw = entry.link_name_bytes().map(std::borrow::Cow::into_owned);
                let target_raw = target_raw.unwrap_or_default();
                if target_raw.len() as u64 > limits.max_path_bytes {
                    return Err(limit(Limit::PathBytes, limits.max_path_bytes));
                }
                let shown_target = parser::terminal::escape_lossy(&target_raw).into_owned();
                let target = clean_relative(Path::new(OsStr::from_bytes(&target_raw)))
                    .ok()
                    .filter(|t| !t.as_os_str().is_empty())
                    .ok_or_else(|| {
                        unsafe_entry(UnsafeEntry::HardlinkTarget(shown_target.clone()))
                    })?;
                let Some(node @ Node::File { .. }) = model.get(&target).cloned() else {
                    return Err(unsafe_entry(UnsafeEntry::HardlinkTarget(shown_target)));
                };
                sink.hardlink(&relative, &target)?;
                files += 1;
                model.insert(relative, node);
            }
            EntryKind::Symlink => {
                let target_raw = entry.link_name_bytes().map(std::borrow::Cow::into_owned);
                let target_raw = target_raw.unwrap_or_default();
                if target_raw.len() as u64 > limits.max_path_bytes {
                    return Err(limit(Limit::PathBytes, limits.max_path_bytes));
                }
                if target_raw.is_empty() {
                    return Err(unsafe_entry(UnsafeEntry::BadName));
                }
                let target = PathBuf::from(OsStr::from_bytes(&target_raw));
                if target.has_root() {
                    return Err(unsafe_entry(UnsafeEntry::AbsoluteLink(safe(&target))));
                }
                links.push((relative.clone(), target.clone(), shown.clone()));
                model.insert(relative, Node::Link { target });
            }
            EntryKind::Meta | EntryKind::Special(_) => {}
        }
        ratio(&meter)?;
    }
    // Read the end of the archive and the gzip trailer, so truncation is found (at most the
    // allowance after the last entry: padding, not another archive).
    let mut inner = archive.into_inner();
    io::copy(&mut inner, &mut io::sink()).map_err(|error| {
        if error.get_ref().is_some_and(|e| e.is::<HeadersTooLarge>()) {
            not_tar(format!(
                "more than {HEADER_ALLOWANCE} bytes follow the end of the archive"
            ))
        } else {
            read_error(error)
        }
    })?;
    ratio(&meter)?;
    if files == 0 {
        return Err(PackageError::Empty {
            path: path.to_path_buf(),
        });
    }

    let top = single_top_dir(&model);
    let root: &Path = top.as_deref().unwrap_or(Path::new(""));
    let script = root.join(START_SCRIPT);
    if matches!(model.get(&script), Some(Node::Dir | Node::Link { .. })) {
        return Err(PackageError::Unsafe {
            path: path.to_path_buf(),
            entry: safe(&script),
            reason: UnsafeEntry::Reserved,
        });
    }
    // Links last: each must resolve inside the content, then it is created.
    let mut steps = 0_u64;
    for (link, target, shown) in &links {
        resolve(&model, root, link, &mut steps).map_err(|reason| PackageError::Unsafe {
            path: path.to_path_buf(),
            entry: shown.clone(),
            reason,
        })?;
        sink.symlink(link, target)?;
    }

    let mut listing = Vec::new();
    let mut records = vec![Record {
        path: PathBuf::new(),
        what: What::Dir { mode: 0o755 },
    }];
    for (full, node) in &model {
        let Ok(rel) = full.strip_prefix(root) else {
            continue;
        };
        if rel.as_os_str().is_empty() || rel == Path::new(START_SCRIPT) {
            continue;
        }
        let (is_dir, executable) = match node {
            Node::Dir => (true, false),
            Node::File { mode, .. } => (false, mode & 0o111 != 0),
            Node::Link { .. } => match resolve(&model, root, full, &mut steps) {
                Ok(Node::Dir) => (true, false),
                Ok(Node::File { mode, .. }) => (false, mode & 0o111 != 0),
                _ => (false, false),
            },
        };
        listing.push(ListedEntry {
            path: rel.to_path_buf(),
            is_dir,
            executable,
        });
        records.push(Record {
            path: rel.to_path_buf(),
            what: match node {
                Node::Dir => What::Dir { mode: 0o755 },
                Node::File { mode, sha256 } => What::File {
                    mode: *mode,
                    sha256: *sha256,
                },
                Node::Link { target } => What::Link {
                    target: target.clone(),
                },
            },
        });
    }
    records.sort();
    Ok(Package {
        path: path.to_path_buf(),
        digest: digest(&records),
        listing,
        top,
        bytes: total,
        records,
    })
}

/// Resolves the link `link` (a path from the archive root) in `model` as the kernel would once
/// the content lies at `root`: `..` never above `root`, links followed (at most
/// [`MAX_HOPS`]), every component present. Returns the node it ends at.
fn resolve(
    model: &BTreeMap<PathBuf, Node>,
    root: &Path,
    link: &Path,
    steps: &mut u64,
) -> Result<Node, UnsafeEntry> {
    let Some(Node::Link { target }) = model.get(link) else {
        return Err(UnsafeEntry::BadName);
    };
    let shown = safe(target);
    let floor = root.components().count();
    let mut at: Vec<OsString> = link
        .parent()
        .map(|p| p.iter().map(OsStr::to_os_string).collect())
        .unwrap_or_default();
    let mut pending: Vec<OsString> = Vec::new();
    let push_target = |pending: &mut Vec<OsString>, target: &Path| -> Result<(), UnsafeEntry> {
        if target.has_root() || target.as_os_str().is_empty() {
            return Err(UnsafeEntry::AbsoluteLink(safe(target)));
        }
        // Split on the bytes, as the kernel does: `Path::components` would drop a `.` and a
        // trailing `/`, which both demand a directory (`file/.` does not resolve). A
        // trailing `/` becomes a `.`. `pending` is a stack: the first component on top.
        let bytes = target.as_os_str().as_bytes();
        let mut parts: Vec<&[u8]> = bytes
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        if bytes.ends_with(b"/") {
            parts.push(b".");
        }
        for part in parts.into_iter().rev() {
            pending.push(OsStr::from_bytes(part).to_os_string());
        }
        Ok(())
    };
    push_target(&mut pending, target)?;
    let mut hops = 0_u32;
    let mut node = Node::Dir;
    while let Some(component) = pending.pop() {
        *steps += 1;
        if *steps > LINK_STEPS {
            return Err(UnsafeEntry::TooIntricate);
        }
        // `.`, `..` and any name must follow a directory (`file/..` does not resolve).
        if !matches!(node, Node::Dir) {
            return Err(UnsafeEntry::LinkMissing(shown));
        }
        if component == "." {
            continue;
        }
        if component == ".." {
            if at.len() <= floor {
                return Err(UnsafeEntry::LinkOutside(shown));
            }
            at.pop();
            node = Node::Dir;
            continue;
        }
        at.push(component);
        let here: PathBuf = at.iter().collect();
        match model.get(&here) {
            None => return Err(UnsafeEntry::LinkMissing(shown)),
            Some(Node::Link { target }) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(UnsafeEntry::LinkLoop(shown));
                }
                at.pop();
                push_target(&mut pending, target)?;
                node = Node::Dir;
            }
            Some(found) => node = found.clone(),
        }
    }
    if at.len() < floor {
        return Err(UnsafeEntry::LinkOutside(shown));
    }
    Ok(node)
}

/// `sha256:<hex>` over the records, each written unambiguously.
fn digest(records: &[Record]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"tarsdock-package-content-v1\0");
    for record in records {
        let path = record.path.as_os_str().as_bytes();
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path);
        match &record.what {
            What::Dir { mode } => {
                hasher.update(b"D");
                hasher.update(mode.to_le_bytes());
            }
            What::File { mode, sha256 } => {
                hasher.update(b"F");
                hasher.update(mode.to_le_bytes());
                hasher.update(sha256);
            }
            What::Link { target } => {
                let target = target.as_os_str().as_bytes();
                hasher.update(b"L");
                hasher.update((target.len() as u64).to_le_bytes());
                hasher.update(target);
            }
            What::Other(what) => {
                hasher.update(b"X");
                hasher.update(what.as_bytes());
            }
        }
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The records of the tree installed in `dir`, read without following links; `Err(reason)`
/// when the tree is beyond the limits (then it is not the package either).
fn installed_records(
    dir: &DirHandle,
    limits: &Limits,
) -> Result<Result<Vec<Record>, String>, FsError> {
    let uid = rustix::process::geteuid().as_raw();
    let mut records = Vec::new();
    let mut total = 0_u64;
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    let root_meta = dir.meta()?;
    records.push(Record {
        path: PathBuf::new(),
        what: What::Dir {
            mode: root_meta.mode,
        },
    });
    if root_meta.uid != uid {
        return Ok(Err(format!(
            "the package directory is owned by uid {}",
            root_meta.uid
        )));
    }
    while let Some(rel) = stack.pop() {
        let here = if rel.as_os_str().is_empty() {
            dir.try_clone()?
        } else {
            match dir.open_dir(&rel) {
                Ok(here) => here,
                // Swapped for something else while we walk.
                Err(e) if e.is_planted() => return Ok(Err(e.to_string())),
                Err(e) => return Err(e),
            }
        };
        let room = usize::try_from(limits.max_entries)
            .unwrap_or(usize::MAX)
            .saturating_sub(records.len())
            .saturating_add(2);
        let (entries, more) = here.entries(room)?;
        if more {
            return Ok(Err("it holds more entries than a package may".to_owned()));
        }
        for (name, _) in entries {
            let path = rel.join(&name);
            if path == Path::new(START_SCRIPT) {
                continue;
            }
            if records.len() as u64 > limits.max_entries {
                return Ok(Err("it holds more entries than a package may".to_owned()));
            }
            let Some(meta) = here.stat(&name)? else {
                continue;
            };
            if meta.uid != uid {
                return Ok(Err(format!("{} is owned by uid {}", safe(&path), meta.uid)));
            }
            let what = match meta.kind {
                Kind::Dir => {
                    stack.push(path.clone());
                    What::Dir { mode: meta.mode }
                }
                Kind::Symlink => What::Link {
                    target: here.read_link(&name)?.unwrap_or_default(),
                },
                Kind::File => {
                    total = total.saturating_add(meta.size);
                    if total > limits.max_bytes {
                        return Ok(Err("it holds more bytes than a package may".to_owned()));
                    }
                    let Some((mut file, meta)) = (match here.open_file(Path::new(&name)) {
                        Ok(found) => found,
                        Err(e) if e.is_planted() => return Ok(Err(e.to_string())),
                        Err(e) => return Err(e),
                    }) else {
                        continue;
                    };
                    let mut hasher = Sha256::new();
                    io::copy(
                        &mut (&mut file).take(limits.max_entry_bytes + 1),
                        &mut hasher,
                    )
                    .map_err(|source| FsError::Io {
                        op: "read",
                        path: here.display(&name),
                        source,
                    })?;
                    What::File {
                        mode: meta.mode,
                        sha256: hasher.finalize().into(),
                    }
                }
                Kind::Other(what) => What::Other(what),
            };
            records.push(Record { path, what });
        }
    }
    records.sort();
    Ok(Ok(records))
}

/// What differs between the package's records and those found, at most three paths named.
fn differences(expected: &[Record], found: &[Record]) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0_usize;
    let (mut i, mut j) = (0, 0);
    let mut note = |text: String, out: &mut Vec<String>| {
        total += 1;
        if out.len() < 3 {
            out.push(text);
        }
    };
    while i < expected.len() || j < found.len() {
        match (expected.get(i), found.get(j)) {
            (Some(e), Some(f)) if e.path == f.path => {
                if e.what != f.what {
                    note(
                        format!("{} {}", show_path(&e.path), change(&e.what, &f.what)),
                        &mut out,
                    );
                }
                i += 1;
                j += 1;
            }
            (Some(e), Some(f)) if e.path < f.path => {
                note(format!("{} is missing", show_path(&e.path)), &mut out);
                i += 1;
            }
            (Some(_) | None, Some(f)) => {
                note(format!("{} was added", show_path(&f.path)), &mut out);
                j += 1;
            }
            (Some(e), None) => {
                note(format!("{} is missing", show_path(&e.path)), &mut out);
                i += 1;
            }
            (None, None) => break,
        }
    }
    if total > out.len() {
        out.push(format!("{} more", total - out.len()));
    }
    out
}

fn change(expected: &What, found: &What) -> String {
    match (expected, found) {
        (What::File { mode: a, sha256: x }, What::File { mode: b, sha256: y }) => {
            if x == y {
                format!("has mode {b:o}, not {a:o}")
            } else if a == b {
                "has other content".to_owned()
            } else {
                format!("has other content and mode {b:o}")
            }
        }
        (What::Dir { mode: a }, What::Dir { mode: b }) => format!("has mode {b:o}, not {a:o}"),
        (What::Link { .. }, What::Link { target }) => format!("points at `{}`", safe(target)),
        (_, found) => format!("is now a {}", what_kind(found)),
    }
}

const fn what_kind(what: &What) -> &'static str {
    match what {
        What::Dir { .. } => "directory",
        What::File { .. } => "file",
        What::Link { .. } => "link",
        What::Other(what) => what,
    }
}

fn show_path(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        "the package directory".to_owned()
    } else {
        format!("`{}`", safe(path))
    }
}

/// The top-level directory when every entry lies in it.
fn single_top_dir(model: &BTreeMap<PathBuf, Node>) -> Option<PathBuf> {
    let mut top: Option<&OsStr> = None;
    for path in model.keys() {
        let first = path.iter().next()?;
        match top {
            None => top = Some(first),
            Some(t) if t == first => {}
            Some(_) => return None,
        }
    }
    let top = PathBuf::from(top?);
    matches!(model.get(&top), Some(Node::Dir)).then_some(top)
}

/// `path` without `.` components; refused when absolute, when it has `..`, or when a name is
/// longer than `NAME_MAX`.
fn clean_relative(path: &Path) -> Result<PathBuf, UnsafeEntry> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                if part.len() > 255 {
                    return Err(UnsafeEntry::NameTooLong);
                }
                out.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(UnsafeEntry::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(UnsafeEntry::Absolute),
        }
    }
    Ok(out)
}

/// A package-chosen path as safe text.
fn safe(path: &Path) -> String {
    parser::terminal::escape_lossy(path.as_os_str().as_bytes()).into_owned()
}

fn shown(path: &Path) -> std::borrow::Cow<'_, str> {
    parser::terminal::escape_lossy(path.as_os_str().as_bytes())
}

/// The kind of an archive entry, as far as the checks care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// Metadata entries (pax global headers) that carry no file.
    Meta,
    /// Devices, fifos and anything else.
    Special(&'static str),
}

fn entry_kind(kind: tar::EntryType) -> EntryKind {
    use tar::EntryType as T;
    match kind {
        T::Regular | T::Continuous => EntryKind::File,
        T::Directory => EntryKind::Dir,
        T::Symlink => EntryKind::Symlink,
        T::Link => EntryKind::Hardlink,
        T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => EntryKind::Meta,
        T::Char => EntryKind::Special("character device"),
        T::Block => EntryKind::Special("block device"),
        T::Fifo => EntryKind::Special("fifo"),
        T::GNUSparse => EntryKind::Special("sparse file"),
        _ => EntryKind::Special("special entry"),
    }
}

/// Counts the bytes read from the package file (the compressed side of the ratio).
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Unpacked bytes read so far, and how far the tar reader may read before the next entry.
#[derive(Default)]
struct Meter {
    read: Cell<u64>,
    allowed: Cell<u64>,
}

impl Meter {
    /// Allows `bytes` more from here.
    fn allow(&self, bytes: u64) {
        self.allowed.set(self.read.get().saturating_add(bytes));
    }
}

/// The error a [`Metered`] reader gives when an entry's headers outgrow the allowance.
#[derive(Debug)]
struct HeadersTooLarge;

impl std::fmt::Display for HeadersTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an entry's headers are too large")
    }
}

impl std::error::Error for HeadersTooLarge {}

/// The unpacked tar stream, read no further than the [`Meter`] allows: the tar reader keeps
/// GNU long names and pax records in memory, so they may not be arbitrarily large.
struct Metered<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.meter.read.get();
        let allowed = self
            .meter
            .allowed
            .get()
            .max(HEADER_ALLOWANCE)
            .saturating_sub(read);
        if allowed == 0 {
            return Err(io::Error::other(HeadersTooLarge));
        }
        let len = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        self.meter.read.set(read + n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(entries: &[(&str, Node)]) -> BTreeMap<PathBuf, Node> {
        entries
            .iter()
            .map(|(p, n)| (PathBuf::from(p), n.clone()))
            .collect()
    }

    fn link(target: &str) -> Node {
        Node::Link {
            target: PathBuf::from(target),
        }
    }

    fn file() -> Node {
        Node::File {
            mode: 0o755,
            sha256: [0; 32],
        }
    }

    fn check(model: &BTreeMap<PathBuf, Node>, root: &str, link: &str) -> Result<Node, UnsafeEntry> {
        resolve(model, Path::new(root), Path::new(link), &mut 0)
    }

    #[test]
    fn links_resolve_through_links_as_the_kernel_does() {
        // d/e/s1 -> ../.. lands on the root; a link through it with one `..` more climbs out,
        // though a count of components says it stays inside.
        let m = model(&[
            ("d", Node::Dir),
            ("d/e", Node::Dir),
            ("d/e/s1", link("../..")),
            ("d/e/s2", link("s1/../../..")),
            ("d/e/ok", link("s1/d/e")),
            ("x", file()),
            ("lib.so", link("lib.so.1")),
            ("lib.so.1", link("lib.so.1.2")),
            ("lib.so.1.2", file()),
            ("self", link("self")),
            ("a", link("b")),
            ("b", link("a")),
            ("dangling", link("nothing")),
            ("through-file", link("x/y")),
            ("file-dot", link("x/.")),
            ("file-slash", link("x/")),
            ("dir-dot", link("d/./e/.")),
            ("file-up", link("x/..")),
        ]);
        assert!(matches!(check(&m, "", "d/e/s1"), Ok(Node::Dir)));
        assert!(matches!(check(&m, "", "d/e/ok"), Ok(Node::Dir)));
        assert_eq!(
            check(&m, "", "d/e/s2").unwrap_err(),
            UnsafeEntry::LinkOutside("s1/../../..".into())
        );
        assert!(matches!(check(&m, "", "lib.so"), Ok(Node::File { .. })));
        assert!(matches!(
            check(&m, "", "self"),
            Err(UnsafeEntry::LinkLoop(_))
        ));
        assert!(matches!(check(&m, "", "a"), Err(UnsafeEntry::LinkLoop(_))));
        assert!(matches!(
            check(&m, "", "dangling"),
            Err(UnsafeEntry::LinkMissing(_))
        ));
        assert!(matches!(
            check(&m, "", "through-file"),
            Err(UnsafeEntry::LinkMissing(_))
        ));
    }

    #[test]
    fn links_may_not_leave_the_top_directory() {
        // With one top directory, its contents become bin/: `..` from it leaves the package.
        let m = model(&[
            ("Top", Node::Dir),
            ("Top/x", file()),
            ("Top/up", link("../Top/x")),
            ("Top/in", link("./x")),
        ]);
        assert!(matches!(
            check(&m, "Top", "Top/up"),
            Err(UnsafeEntry::LinkOutside(_))
        ));
        assert!(matches!(check(&m, "Top", "Top/in"), Ok(Node::File { .. })));
        assert!(matches!(check(&m, "", "Top/up"), Ok(Node::File { .. })));
    }

    #[test]
    fn a_top_directory_is_found_only_when_it_holds_everything() {
        let m = model(&[("A", Node::Dir), ("A/x", file())]);
        assert_eq!(single_top_dir(&m), Some(PathBuf::from("A")));
        let m = model(&[("A", file())]);
        assert_eq!(single_top_dir(&m), None);
        let m = model(&[("A", Node::Dir), ("A/x", file()), ("B", file())]);
        assert_eq!(single_top_dir(&m), None);
        let m = model(&[("A", link("."))]);
        assert_eq!(single_top_dir(&m), None);
    }

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(
            clean_relative(Path::new("./a/./b")),
            Ok(PathBuf::from("a/b"))
        );
        assert_eq!(
            clean_relative(Path::new("/etc/passwd")),
            Err(UnsafeEntry::Absolute)
        );
        assert_eq!(
            clean_relative(Path::new("a/../../x")),
            Err(UnsafeEntry::ParentDir)
        );
        let long = "x".repeat(256);
        assert_eq!(
            clean_relative(Path::new(&long)),
            Err(UnsafeEntry::NameTooLong)
        );
    }

    /// A tgz of `(name, data)` files written with the tar crate (pax for long names).
    fn archive(dir: &Path, files: &[(&str, Vec<u8>)], links: &[(&str, &str)]) -> PathBuf {
        let path = dir.join("p.tgz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o755);
            header.set_size(data.len() as u64);
            tar.append_data(&mut header, name, data.as_slice()).unwrap();
        }
        for (name, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, name, target).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    fn refused_by(path: &Path, limits: &Limits) -> Option<Limit> {
        match Package::scan(path, limits) {
            Err(PackageError::Limit { limit, .. }) => Some(limit),
            Err(other) => panic!("{other}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn each_limit_refuses_and_can_be_raised() {
        let temp = tempfile::tempdir().unwrap();
        let files: Vec<(&str, Vec<u8>)> =
            vec![("S", vec![1; 3000]), ("a", vec![2; 10]), ("b", vec![])];
        let path = archive(temp.path(), &files, &[("l", "a")]);
        let small = |f: fn(&mut Limits)| {
            let mut limits = Limits::default();
            f(&mut limits);
            limits
        };
        assert_eq!(refused_by(&path, &Limits::default()), None);
        assert_eq!(
            refused_by(&path, &small(|l| l.max_entries = 3)),
            Some(Limit::Entries)
        );
        assert_eq!(
            refused_by(&path, &small(|l| l.max_bytes = 3005)),
            Some(Limit::Bytes)
        );
        assert_eq!(
            refused_by(&path, &small(|l| l.max_entry_bytes = 2999)),
            Some(Limit::EntryBytes)
        );
        assert_eq!(
            refused_by(&path, &small(|l| l.max_path_bytes = 0)),
            Some(Limit::PathBytes)
        );
        // A link target counts as a path.
        let long = "x/".repeat(600);
        let path = archive(temp.path(), &files, &[("l", long.as_str())]);
        assert_eq!(
            refused_by(&path, &Limits::default()),
            Some(Limit::PathBytes)
        );
    }

    #[test]
    fn headers_the_tar_reader_keeps_in_memory_are_bounded() {
        // A pax record larger than the allowance: refused before the reader holds it.
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("pax.tgz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let value = "v".repeat(2 << 20);
        tar.append_pax_extensions([("comment", value.as_bytes())])
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(1);
        header.set_mode(0o755);
        tar.append_data(&mut header, "S", &b"x"[..]).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        assert_eq!(refused_by(&path, &Limits::default()), Some(Limit::Headers));
    }

    #[test]
    fn the_digest_is_over_content_not_over_the_archive() {
        let temp = tempfile::tempdir().unwrap();
        let one = temp.path().join("one");
        let two = temp.path().join("two");
        std::fs::create_dir_all(&one).unwrap();
        std::fs::create_dir_all(&two).unwrap();
        let a = archive(&one, &[("S", vec![1; 10]), ("d/x", vec![2])], &[("l", "S")]);
        // Other order, explicit directory entry, other compression: the same package.
        let path = two.join("p.tgz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::best(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mtime(42);
        tar.append_link(&mut header, "l", "S").unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o700);
        header.set_size(0);
        tar.append_data(&mut header, "d/", &b""[..]).unwrap();
        for (name, data) in [("d/x", vec![2]), ("S", vec![1; 10])] {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o755);
            header.set_size(data.len() as u64);
            header.set_uid(1234);
            tar.append_data(&mut header, name, data.as_slice()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        let first = Package::scan(&a, &Limits::default()).unwrap();
        let second = Package::scan(&path, &Limits::default()).unwrap();
        assert_eq!(first.digest, second.digest);
        // A mode or a byte makes another package.
        let c = archive(&one, &[("S", vec![1; 10]), ("d/x", vec![3])], &[("l", "S")]);
        assert_ne!(
            Package::scan(&c, &Limits::default()).unwrap().digest,
            first.digest
        );
    }

    #[test]
    fn differences_name_a_few_paths() {
        let file = |p: &str, b: u8| Record {
            path: PathBuf::from(p),
            what: What::File {
                mode: 0o755,
                sha256: [b; 32],
            },
        };
        let expected = vec![file("a", 1), file("b", 1), file("c", 1)];
        assert!(differences(&expected, &expected).is_empty());
        let found = vec![file("a", 2), file("c", 1), file("d", 1)];
        assert_eq!(
            differences(&expected, &found),
            ["`a` has other content", "`b` is missing", "`d` was added"]
        );
    }
}
