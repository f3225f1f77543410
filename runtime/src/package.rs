//! A service package (the tgz the operator uploads) checked and unpacked safely.
//!
//! Every entry is checked before anything is written ([`check_entry`], pure): absolute paths,
//! `..`, links whose target leaves the package, entries below a link, and special files
//! (devices, fifos) are refused. Unpacking goes into a fresh directory that the caller renames
//! into place; on any failure that directory is removed, so nothing is left half-written.
//!
//! Tars packages (`make tar`) hold one top-level directory named after the server
//! (`HelloServer/HelloServer`, …). When the archive has exactly one top-level directory, its
//! contents become `bin/`; otherwise the archive's root does.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Why a package was refused or could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read the package {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a tgz package (no gzip header); build it with `tar czf`")]
    NotGzip { path: PathBuf },
    #[error("{path} is not a tgz package: {reason}")]
    NotTar { path: PathBuf, reason: String },
    #[error("{path}: entry `{entry}` is refused: {reason}")]
    Unsafe {
        path: PathBuf,
        entry: String,
        reason: UnsafeEntry,
    },
    #[error("{path} is empty: it has no files")]
    Empty { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why one entry is unsafe.
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
    #[error("it lies below the link `{0}`")]
    BelowLink(String),
    #[error("it is a {0}, which a package may not hold")]
    Special(&'static str),
    #[error("its path is not valid UTF-8 or is empty")]
    BadName,
}

/// The kind of an archive entry, as far as the safety check cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// Metadata entries (pax headers, GNU long names) that carry no file.
    Meta,
    /// Devices, fifos and anything else.
    Special(&'static str),
}

/// The decision for one entry: skip it (the root itself, metadata) or write it at this
/// relative path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryDecision {
    Skip,
    Write(PathBuf),
}

/// Checks one entry: its `path`, its `kind`, its link target (symlinks: relative to the
/// entry's directory; hard links: relative to the package root), and the symlinks written
/// before it (`links`, relative paths).
///
/// # Errors
/// The reason the entry is unsafe.
pub fn check_entry(
    path: &Path,
    kind: EntryKind,
    link: Option<&Path>,
    links: &HashSet<PathBuf>,
) -> Result<EntryDecision, UnsafeEntry> {
    match kind {
        EntryKind::Meta => return Ok(EntryDecision::Skip),
        EntryKind::Special(what) => return Err(UnsafeEntry::Special(what)),
        _ => {}
    }
    let relative = clean_relative(path)?;
    if relative.as_os_str().is_empty() {
        return match kind {
            EntryKind::Dir => Ok(EntryDecision::Skip),
            _ => Err(UnsafeEntry::BadName),
        };
    }
    for ancestor in relative.ancestors().skip(1) {
        if links.contains(ancestor) {
            return Err(UnsafeEntry::BelowLink(ancestor.display().to_string()));
        }
    }
    match kind {
        EntryKind::Symlink => {
            let target = link.ok_or(UnsafeEntry::BadName)?;
            let shown = target.display().to_string();
            if target.has_root() {
                return Err(UnsafeEntry::AbsoluteLink(shown));
            }
            let base = relative.parent().unwrap_or_else(|| Path::new(""));
            let mut depth = base.components().count();
            for component in target.components() {
                match component {
                    Component::ParentDir => {
                        depth = depth
                            .checked_sub(1)
                            .ok_or_else(|| UnsafeEntry::LinkOutside(shown.clone()))?;
                    }
                    Component::Normal(_) => depth += 1,
                    Component::CurDir => {}
                    Component::RootDir | Component::Prefix(_) => {
                        return Err(UnsafeEntry::AbsoluteLink(shown));
                    }
                }
            }
        }
        EntryKind::Hardlink => {
            let target = link.ok_or(UnsafeEntry::BadName)?;
            let shown = target.display().to_string();
            match clean_relative(target) {
                Ok(t) if !t.as_os_str().is_empty() => {
                    if t.ancestors().any(|a| links.contains(a)) {
                        return Err(UnsafeEntry::LinkOutside(shown));
                    }
                }
                Ok(_) => return Err(UnsafeEntry::LinkOutside(shown)),
                Err(UnsafeEntry::Absolute) => return Err(UnsafeEntry::AbsoluteLink(shown)),
                Err(_) => return Err(UnsafeEntry::LinkOutside(shown)),
            }
        }
        _ => {}
    }
    Ok(EntryDecision::Write(relative))
}

/// `path` without `.` components; refused when absolute or when it has `..`.
fn clean_relative(path: &Path) -> Result<PathBuf, UnsafeEntry> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnsafeEntry::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(UnsafeEntry::Absolute),
        }
    }
    Ok(out)
}

/// A package read into memory with its digest.
#[derive(Clone, Debug)]
pub struct Package {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of the tgz file.
    pub digest: String,
}

impl Package {
    /// Reads the package and checks the gzip header.
    ///
    /// # Errors
    /// [`PackageError::Read`], [`PackageError::NotGzip`].
    pub fn read(path: &Path) -> Result<Self, PackageError> {
        let bytes = std::fs::read(path).map_err(|source| PackageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(PackageError::NotGzip {
                path: path.to_path_buf(),
            });
        }
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            digest: format!("sha256:{hex}"),
        })
    }

    /// The digest's hex without the `sha256:` prefix.
    #[must_use]
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// Checks every entry without writing anything.
    ///
    /// # Errors
    /// [`PackageError::NotTar`], [`PackageError::Unsafe`], [`PackageError::Empty`].
    pub fn check(&self) -> Result<(), PackageError> {
        self.walk(None).map(|_| ())
    }

    /// Every entry that would be written (files, directories, links) as `(relative path,
    /// is a directory, is an executable regular file)`, checked, in archive order.
    ///
    /// # Errors
    /// See [`Package::check`].
    pub fn entries(&self) -> Result<Vec<(PathBuf, bool, bool)>, PackageError> {
        self.walk(None)
    }

    /// Unpacks into `dest`, which must not exist yet; on failure `dest` is removed. Returns
    /// the directory that holds the package's contents (`dest`, or its single top-level
    /// directory).
    ///
    /// # Errors
    /// Every [`PackageError`].
    pub fn unpack(&self, dest: &Path) -> Result<PathBuf, PackageError> {
        // Check everything first, so a refused package writes nothing at all.
        let entries = self.entries()?;
        std::fs::create_dir(dest).map_err(|source| PackageError::Write {
            path: dest.to_path_buf(),
            source,
        })?;
        if let Err(error) = self.walk(Some(dest)) {
            let _ = std::fs::remove_dir_all(dest);
            return Err(error);
        }
        Ok(single_top_dir(&entries).map_or_else(|| dest.to_path_buf(), |top| dest.join(top)))
    }

    /// Reads every entry, checking it, and writes it below `dest` when given.
    fn walk(&self, dest: Option<&Path>) -> Result<Vec<(PathBuf, bool, bool)>, PackageError> {
        let not_tar = |reason: String| PackageError::NotTar {
            path: self.path.clone(),
            reason,
        };
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(self.bytes.as_slice()));
        archive.set_preserve_permissions(true);
        archive.set_overwrite(true);
        archive.set_unpack_xattrs(false);
        let entries = archive.entries().map_err(|e| not_tar(e.to_string()))?;
        let mut links: HashSet<PathBuf> = HashSet::new();
        let mut files = 0_usize;
        let mut written = Vec::new();
        for entry in entries {
            let mut entry = entry.map_err(|e| not_tar(e.to_string()))?;
            let name = entry
                .path()
                .map_err(|e| not_tar(e.to_string()))?
                .into_owned();
            let shown = name.display().to_string();
            let kind = entry_kind(entry.header().entry_type());
            let link = entry
                .link_name()
                .map_err(|e| not_tar(e.to_string()))?
                .map(std::borrow::Cow::into_owned);
            let decision = check_entry(&name, kind, link.as_deref(), &links).map_err(|reason| {
                PackageError::Unsafe {
                    path: self.path.clone(),
                    entry: shown.clone(),
                    reason,
                }
            })?;
            let EntryDecision::Write(relative) = decision else {
                continue;
            };
            if kind == EntryKind::Symlink {
                links.insert(relative.clone());
            }
            if kind != EntryKind::Dir {
                files += 1;
            }
            let executable = kind == EntryKind::File
                && entry.header().mode().is_ok_and(|mode| mode & 0o111 != 0);
            written.push((relative.clone(), kind == EntryKind::Dir, executable));
            match dest {
                None => {
                    // Drain the data so a truncated archive is found by `check` too.
                    std::io::copy(&mut entry, &mut std::io::sink())
                        .map_err(|e| not_tar(format!("entry `{shown}`: {e}")))?;
                }
                Some(dest) => {
                    let unpacked = entry.unpack_in(dest).map_err(|e| PackageError::Write {
                        path: dest.join(&relative),
                        source: e,
                    })?;
                    if !unpacked {
                        return Err(PackageError::Unsafe {
                            path: self.path.clone(),
                            entry: shown,
                            reason: UnsafeEntry::ParentDir,
                        });
                    }
                }
            }
        }
        let mut rest = Vec::new();
        let _ = archive.into_inner().read_to_end(&mut rest);
        if files == 0 {
            return Err(PackageError::Empty {
                path: self.path.clone(),
            });
        }
        Ok(written)
    }
}

/// The top-level directory when every entry lies in the same one (and it is a directory).
pub(crate) fn single_top_dir(entries: &[(PathBuf, bool, bool)]) -> Option<PathBuf> {
    let mut tops: HashSet<PathBuf> = HashSet::new();
    for (path, is_dir, _) in entries {
        let top = PathBuf::from(path.components().next()?.as_os_str());
        if &top == path && !is_dir {
            return None;
        }
        tops.insert(top);
    }
    (tops.len() == 1).then(|| tops.into_iter().next()).flatten()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_top_directory_is_stripped() {
        let entries = vec![
            (PathBuf::from("HelloServer"), true, false),
            (PathBuf::from("HelloServer/HelloServer"), false, true),
        ];
        assert_eq!(single_top_dir(&entries), Some(PathBuf::from("HelloServer")));
        let entries = vec![(PathBuf::from("HelloServer"), false, true)];
        assert_eq!(single_top_dir(&entries), None);
        let entries = vec![
            (PathBuf::from("a/x"), false, true),
            (PathBuf::from("b/y"), false, true),
        ];
        assert_eq!(single_top_dir(&entries), None);
    }

    fn decide(
        path: &str,
        kind: EntryKind,
        link: Option<&str>,
    ) -> Result<EntryDecision, UnsafeEntry> {
        check_entry(Path::new(path), kind, link.map(Path::new), &HashSet::new())
    }

    #[test]
    fn plain_entries_are_written_cleaned() {
        assert_eq!(
            decide("./HelloServer/HelloServer", EntryKind::File, None),
            Ok(EntryDecision::Write(PathBuf::from(
                "HelloServer/HelloServer"
            )))
        );
        assert_eq!(decide("./", EntryKind::Dir, None), Ok(EntryDecision::Skip));
        assert_eq!(decide("x", EntryKind::Meta, None), Ok(EntryDecision::Skip));
    }

    #[test]
    fn escaping_paths_are_refused() {
        assert_eq!(
            decide("/etc/passwd", EntryKind::File, None),
            Err(UnsafeEntry::Absolute)
        );
        assert_eq!(
            decide("a/../../x", EntryKind::File, None),
            Err(UnsafeEntry::ParentDir)
        );
        assert_eq!(
            decide("..", EntryKind::Dir, None),
            Err(UnsafeEntry::ParentDir)
        );
        assert_eq!(
            decide("dev", EntryKind::Special("fifo"), None),
            Err(UnsafeEntry::Special("fifo"))
        );
    }

    #[test]
    fn links_must_stay_inside() {
        assert!(matches!(
            decide("a/lib.so", EntryKind::Symlink, Some("lib.so.1")),
            Ok(EntryDecision::Write(_))
        ));
        assert!(matches!(
            decide("a/b/up", EntryKind::Symlink, Some("../../top")),
            Ok(EntryDecision::Write(_))
        ));
        assert_eq!(
            decide("a/b/up", EntryKind::Symlink, Some("../../../out")),
            Err(UnsafeEntry::LinkOutside("../../../out".into()))
        );
        assert_eq!(
            decide("x", EntryKind::Symlink, Some("/etc")),
            Err(UnsafeEntry::AbsoluteLink("/etc".into()))
        );
        assert_eq!(
            decide("x", EntryKind::Hardlink, Some("../secret")),
            Err(UnsafeEntry::LinkOutside("../secret".into()))
        );
        assert_eq!(
            decide("x", EntryKind::Hardlink, Some("/etc/shadow")),
            Err(UnsafeEntry::AbsoluteLink("/etc/shadow".into()))
        );
        assert!(matches!(
            decide("x", EntryKind::Hardlink, Some("a/real")),
            Ok(EntryDecision::Write(_))
        ));
    }

    #[test]
    fn nothing_may_be_written_through_a_link() {
        let links: HashSet<PathBuf> = [PathBuf::from("dir")].into();
        assert_eq!(
            check_entry(Path::new("dir/file"), EntryKind::File, None, &links),
            Err(UnsafeEntry::BelowLink("dir".into()))
        );
        assert_eq!(
            check_entry(
                Path::new("h"),
                EntryKind::Hardlink,
                Some(Path::new("dir/x")),
                &links
            ),
            Err(UnsafeEntry::LinkOutside("dir/x".into()))
        );
    }
}
