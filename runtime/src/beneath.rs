//! One filesystem discipline for everything tarsdock opens, creates, renames or removes below a
//! service's directory and its log directory.
//!
//! Those directories are mounted read-write into the service's container, which runs as root
//! and can plant links (or fifos, or hard links) between two deploys, or while one runs. So
//! nothing below them is reached by path text: the operator's roots (the tars path's data
//! directory, the log path) are opened once as a [`DirHandle`], and every name below is resolved
//! *beneath* such a handle with the kernel refusing every symbolic link on the way:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` and `O_NOFOLLOW`
//! (kernels without `openat2`, before Linux 5.6, get the same guarantee from a walk that opens
//! one component at a time with `O_NOFOLLOW | O_DIRECTORY`). The `*at` calls that act on a
//! final name (`mkdirat`, `unlinkat`, `renameat`, `symlinkat`, `linkat`, `fstatat` with
//! `AT_SYMLINK_NOFOLLOW`) never follow it either.
//!
//! - A link, or an object of the wrong kind, where tarsdock expects a directory or file it
//!   manages is an [`FsError`] naming the path; the caller writes and removes nothing then.
//! - Files are written through a temporary name created exclusively (`O_CREAT | O_EXCL`)
//!   beside the target and renamed over it, so a planted name is never opened, only refused.
//! - Reads open with `O_NONBLOCK` and check the object is a regular file (a planted fifo does
//!   not hang a deploy), and are bounded by the caller.
//! - [`DirHandle::remove_tree`] removes a tree without following any link in it: a link is
//!   unlinked, never entered.
//!
//! The roots themselves come from the operator and may contain links (`/usr/local/app` being a
//! link to a data disk is common); only what lies below them is hostile.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why an operation below a handle failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A symbolic link where tarsdock expects a directory or file it manages.
    #[error(
        "{} is a symbolic link{}, where tarsdock manages a {expected}: links below a service's \
         directories are never followed (something else put it there); remove it and deploy again",
        shown(path),
        target.as_ref().map(|t| format!(" to `{}`", shown(t))).unwrap_or_default()
    )]
    Link {
        path: PathBuf,
        target: Option<PathBuf>,
        expected: &'static str,
    },
    /// Something of the wrong kind (a file where a directory belongs, a fifo, …).
    #[error(
        "{} is a {found}, where tarsdock manages a {expected}; remove it and deploy again",
        shown(path)
    )]
    Kind {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
    },
    /// The name is not one plain path component (empty, `.`, `..`, with `/` or NUL).
    #[error("`{}` is not a plain file name", shown(name))]
    BadName { name: PathBuf },
    #[error("cannot {op} {}: {source}", shown(path))]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl FsError {
    /// The path the error is about.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Self::Link { path, .. }
            | Self::Kind { path, .. }
            | Self::Io { path, .. }
            | Self::BadName { name: path } => path,
        }
    }

    /// Whether the error is a link or a foreign object found where tarsdock manages one.
    #[must_use]
    pub const fn is_planted(&self) -> bool {
        matches!(self, Self::Link { .. } | Self::Kind { .. })
    }
}

/// A path as safe text: names below a service directory are chosen by the container.
fn shown(path: &Path) -> std::borrow::Cow<'_, str> {
    parser::terminal::escape_lossy(path.as_os_str().as_bytes())
}

/// What a name below a handle is, without following it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A fifo, socket or device.
    Other(&'static str),
}

impl Kind {
    fn of(mode: u32) -> Self {
        match FileType::from_raw_mode(mode) {
            FileType::RegularFile => Self::File,
            FileType::Directory => Self::Dir,
            FileType::Symlink => Self::Symlink,
            FileType::Fifo => Self::Other("fifo"),
            FileType::Socket => Self::Other("socket"),
            FileType::CharacterDevice => Self::Other("character device"),
            FileType::BlockDevice => Self::Other("block device"),
            FileType::Unknown => Self::Other("special file"),
        }
    }

    const fn describe(self) -> &'static str {
        match self {
            Self::File => "regular file",
            Self::Dir => "directory",
            Self::Symlink => "symbolic link",
            Self::Other(what) => what,
        }
    }
}

/// What [`DirHandle::stat`] tells about a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
}

/// An open directory that names below it are resolved beneath, never following a link.
#[derive(Debug)]
pub struct DirHandle {
    fd: OwnedFd,
    /// Where it is, for messages only (never used to reach anything).
    path: PathBuf,
}

/// Names [`DirHandle::remove_tree`] reads from one directory at a time.
const REMOVE_BATCH: usize = 4096;

/// Whether the kernel has `openat2` (cleared on the first `ENOSYS`).
static OPENAT2: AtomicBool = AtomicBool::new(true);
/// Makes temporary names unique within the process (with the pid and the time).
static COUNTER: AtomicU64 = AtomicU64::new(0);

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl DirHandle {
    /// Opens an operator-given root (links in it are followed: the operator chose it).
    ///
    /// # Errors
    /// [`FsError::Io`] when it cannot be opened as a directory.
    pub fn open_root(path: &Path) -> Result<Self, FsError> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error("open", path, e))?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Creates an operator-given root with its parents (`0755`) when missing, then opens it.
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn create_root(path: &Path) -> Result<Self, FsError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(path)
            .map_err(|source| FsError::Io {
                op: "create",
                path: path.to_path_buf(),
                source,
            })?;
        Self::open_root(path)
    }

    /// What this directory is (mode, owner).
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn meta(&self) -> Result<Meta, FsError> {
        let st = rustix::fs::fstat(&self.fd).map_err(|e| io_error("inspect", &self.path, e))?;
        Ok(Meta {
            kind: Kind::of(st.st_mode),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            size: u64::try_from(st.st_size).unwrap_or(0),
        })
    }

    /// Where this directory is (for messages).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The display path of `rel` below this directory.
    #[must_use]
    pub fn display(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// Opens the directory `rel` (plain components) below this one.
    ///
    /// # Errors
    /// [`FsError::Link`]/[`FsError::Kind`] naming the first component that is a link or not a
    /// directory; [`FsError::Io`] (not found included).
    pub fn open_dir(&self, rel: &Path) -> Result<Self, FsError> {
        check_rel(rel)?;
        match open_beneath(self.fd.as_fd(), rel, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Self {
                fd,
                path: self.display(rel),
            }),
            Err(e) => Err(self.explain(rel, "directory", "open", e)),
        }
    }

    /// Opens the directory `rel` below this one, or `None` when it does not exist.
    ///
    /// # Errors
    /// As [`DirHandle::open_dir`], except for "not found".
    pub fn open_dir_if_exists(&self, rel: &Path) -> Result<Option<Self>, FsError> {
        match self.open_dir(rel) {
            Ok(dir) => Ok(Some(dir)),
            Err(FsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates every missing directory of `rel` (with `mode`) and opens the last one. A
    /// component that exists must be a real directory.
    ///
    /// # Errors
    /// As [`DirHandle::open_dir`].
    pub fn ensure_dir(&self, rel: &Path, mode: u32) -> Result<Self, FsError> {
        check_rel(rel)?;
        let mut current: Option<Self> = None;
        for component in rel.components() {
            let parent = current.as_ref().unwrap_or(self);
            let name = component.as_os_str();
            parent.mkdir(name, mode)?;
            current = Some(parent.open_dir(Path::new(name))?);
        }
        current.map_or_else(|| self.try_clone(), Ok)
    }

    /// Creates the directory `name`; `false` when it exists already (as a directory).
    ///
    /// # Errors
    /// [`FsError::Link`]/[`FsError::Kind`] when `name` exists as something else.
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> Result<bool, FsError> {
        check_name(name)?;
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode)) {
            Ok(()) => {
                // The umask may have cleared bits; set exactly what was asked.
                let dir = self.open_dir(Path::new(name))?;
                rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(mode))
                    .map_err(|e| io_error("chmod", &dir.path, e))?;
                Ok(true)
            }
            Err(Errno::EXIST) => match self.stat(name)? {
                Some(meta) if meta.kind == Kind::Dir => Ok(false),
                found => Err(self.wrong_kind(name, found, "directory")),
            },
            Err(e) => Err(io_error("create", &self.display(name), e)),
        }
    }

    /// What `name` is, without following it; `None` when it does not exist.
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn stat(&self, name: &OsStr) -> Result<Option<Meta>, FsError> {
        check_name(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta {
                kind: Kind::of(st.st_mode),
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                size: u64::try_from(st.st_size).unwrap_or(0),
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_error("inspect", &self.display(name), e)),
        }
    }

    /// What `name` is when it is absent or of the `expected` kind; a link or anything else
    /// there is an error naming it (`what` says what tarsdock keeps there).
    ///
    /// # Errors
    /// [`FsError::Link`], [`FsError::Kind`], [`FsError::Io`].
    pub fn expect(
        &self,
        name: &OsStr,
        expected: Kind,
        what: &'static str,
    ) -> Result<Option<Meta>, FsError> {
        match self.stat(name)? {
            None => Ok(None),
            Some(meta) if meta.kind == expected => Ok(Some(meta)),
            found => Err(self.wrong_kind(name, found, what)),
        }
    }

    /// Swaps `name` here and `to` in `dir` atomically (both must exist); `Ok(false)` when the
    /// filesystem cannot (then nothing changed).
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn exchange(&self, name: &OsStr, dir: &Self, to: &OsStr) -> Result<bool, FsError> {
        check_name(name)?;
        check_name(to)?;
        match rustix::fs::renameat_with(
            &self.fd,
            name,
            &dir.fd,
            to,
            rustix::fs::RenameFlags::EXCHANGE,
        ) {
            Ok(()) => Ok(true),
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Ok(false),
            Err(e) => Err(io_error("replace", &dir.display(to), e)),
        }
    }

    /// The target of the link `name`; `None` when `name` does not exist or is not a link.
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn read_link(&self, name: &OsStr) -> Result<Option<PathBuf>, FsError> {
        check_name(name)?;
        match rustix::fs::readlinkat(&self.fd, name, Vec::new()) {
            Ok(target) => Ok(Some(PathBuf::from(OsString::from_vec(target.into_bytes())))),
            Err(Errno::NOENT | Errno::INVAL) => Ok(None),
            Err(e) => Err(io_error("read the link", &self.display(name), e)),
        }
    }

    /// Opens the regular file `rel` for reading (never a link, never blocking on a fifo);
    /// `None` when it does not exist.
    ///
    /// # Errors
    /// [`FsError::Link`]/[`FsError::Kind`] when it is not a regular file; [`FsError::Io`].
    pub fn open_file(&self, rel: &Path) -> Result<Option<(File, Meta)>, FsError> {
        check_rel(rel)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match open_beneath(self.fd.as_fd(), rel, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.explain(rel, "regular file", "open", e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("inspect", &self.display(rel), e))?;
        let meta = Meta {
            kind: Kind::of(st.st_mode),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            size: u64::try_from(st.st_size).unwrap_or(0),
        };
        if meta.kind != Kind::File {
            return Err(FsError::Kind {
                path: self.display(rel),
                found: meta.kind.describe(),
                expected: "regular file",
            });
        }
        Ok(Some((File::from(fd), meta)))
    }

    /// Reads at most `limit` bytes of the regular file `name` (more means "longer than
    /// `limit`": the result then holds `limit + 1` bytes). `None` when it does not exist.
    ///
    /// # Errors
    /// As [`DirHandle::open_file`].
    pub fn read_file(&self, name: &OsStr, limit: u64) -> Result<Option<(Vec<u8>, Meta)>, FsError> {
        let Some((file, meta)) = self.open_file(Path::new(name))? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| FsError::Io {
                op: "read",
                path: self.display(name),
                source,
            })?;
        Ok(Some((bytes, meta)))
    }

    /// Creates the file `name` exclusively (it must not exist, as anything) with `mode`.
    ///
    /// # Errors
    /// [`FsError::Link`]/[`FsError::Kind`] when the name is taken; [`FsError::Io`].
    pub fn create_file(&self, name: &OsStr, mode: u32) -> Result<File, FsError> {
        check_name(name)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                    .map_err(|e| io_error("chmod", &self.display(name), e))?;
                Ok(File::from(fd))
            }
            Err(Errno::EXIST) => {
                let found = self.stat(name)?;
                Err(self.wrong_kind(name, found, "new file"))
            }
            Err(e) => Err(io_error("create", &self.display(name), e)),
        }
    }

    /// Writes `bytes` to `name` with `mode`: a temporary file created exclusively beside it,
    /// synced, then renamed over `name`. `name` itself is never opened; when it exists it must
    /// be a regular file.
    ///
    /// # Errors
    /// [`FsError::Link`]/[`FsError::Kind`] when `name` is not a regular file; [`FsError::Io`].
    pub fn write_file(&self, name: &OsStr, bytes: &[u8], mode: u32) -> Result<(), FsError> {
        self.expect_file_or_absent(name)?;
        let (temp, mut file) = self.temporary(name, mode)?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| FsError::Io {
                op: "write",
                path: self.display(&temp),
                source,
            });
        drop(file);
        let result = written.and_then(|()| self.rename(&temp, self, name));
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, temp.as_os_str(), AtFlags::empty());
        }
        result
    }

    /// Gives the regular file `name` a second name `to` (replacing `to` when it is a regular
    /// file) without copying it: a hard link under a temporary name, renamed over `to`.
    ///
    /// # Errors
    /// As [`DirHandle::write_file`].
    pub fn link_as(&self, name: &OsStr, to: &OsStr) -> Result<(), FsError> {
        match self.stat(name)? {
            Some(meta) if meta.kind == Kind::File => {}
            found => return Err(self.wrong_kind(name, found, "regular file")),
        }
        self.expect_file_or_absent(to)?;
        for _ in 0..16 {
            let temp = temporary_name(to);
            match rustix::fs::linkat(&self.fd, name, &self.fd, &temp, AtFlags::empty()) {
                Ok(()) => {
                    let result = self.rename(&temp, self, to);
                    if result.is_err() {
                        let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
                    }
                    return result;
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(io_error("link", &self.display(to), e)),
            }
        }
        Err(io_error("link", &self.display(to), Errno::EXIST))
    }

    /// Makes `name` a symbolic link to `target` (text, not checked), replacing a link or file
    /// of that name atomically.
    ///
    /// # Errors
    /// [`FsError::Kind`] when `name` is a directory; [`FsError::Io`].
    pub fn replace_symlink(&self, target: &Path, name: &OsStr) -> Result<(), FsError> {
        check_name(name)?;
        if let Some(meta) = self.stat(name)?
            && meta.kind == Kind::Dir
        {
            return Err(self.wrong_kind(name, Some(meta), "symbolic link"));
        }
        for _ in 0..16 {
            let temp = temporary_name(name);
            match rustix::fs::symlinkat(target, &self.fd, &temp) {
                Ok(()) => {
                    let result = self.rename(&temp, self, name);
                    if result.is_err() {
                        let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
                    }
                    return result;
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(io_error("create the link", &self.display(name), e)),
            }
        }
        Err(io_error(
            "create the link",
            &self.display(name),
            Errno::EXIST,
        ))
    }

    /// Creates the symbolic link `name` -> `target`; `name` must not exist.
    ///
    /// # Errors
    /// [`FsError::Kind`]/[`FsError::Link`] when the name is taken; [`FsError::Io`].
    pub fn symlink(&self, target: &Path, name: &OsStr) -> Result<(), FsError> {
        check_name(name)?;
        match rustix::fs::symlinkat(target, &self.fd, name) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let found = self.stat(name)?;
                Err(self.wrong_kind(name, found, "new symbolic link"))
            }
            Err(e) => Err(io_error("create the link", &self.display(name), e)),
        }
    }

    /// A hard link `name` (here) to the regular file `from_name` in `from` (no link followed).
    ///
    /// # Errors
    /// [`FsError::Io`], [`FsError::Kind`] when `name` is taken.
    pub fn hard_link(&self, from: &Self, from_name: &OsStr, name: &OsStr) -> Result<(), FsError> {
        check_name(from_name)?;
        check_name(name)?;
        match rustix::fs::linkat(&from.fd, from_name, &self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let found = self.stat(name)?;
                Err(self.wrong_kind(name, found, "new hard link"))
            }
            Err(e) => Err(io_error("link", &self.display(name), e)),
        }
    }

    /// Renames `name` here to `to` in `dir` (neither followed; `to` is replaced when the
    /// kernel allows: a file or link by anything but a directory, an empty directory by a
    /// directory).
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn rename(&self, name: &OsStr, dir: &Self, to: &OsStr) -> Result<(), FsError> {
        check_name(name)?;
        check_name(to)?;
        rustix::fs::renameat(&self.fd, name, &dir.fd, to)
            .map_err(|e| io_error("rename", &dir.display(to), e))
    }

    /// Removes the file or link `name` (a missing name is fine).
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn remove_file(&self, name: &OsStr) -> Result<(), FsError> {
        check_name(name)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io_error("remove", &self.display(name), e)),
        }
    }

    /// Removes `name` and, when it is a directory, everything in it, without following any
    /// link: links are removed, never entered. A missing name is fine.
    ///
    /// The walk re-opens each directory from this handle (beneath, no links), so it holds no
    /// chain of descriptors however deep the tree is; a tree deeper than the kernel's path
    /// limit is an error and left partly in place.
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn remove_tree(&self, name: &OsStr) -> Result<(), FsError> {
        match self.stat(name)? {
            None => return Ok(()),
            Some(meta) if meta.kind != Kind::Dir => return self.remove_file(name),
            Some(_) => {}
        }
        // Post-order over relative paths: a directory is removed once it has no
        // subdirectory left (its other entries are removed when it is first read).
        let mut stack: Vec<PathBuf> = vec![PathBuf::from(name)];
        let mut rounds = 0_u32;
        // Bounds the walk when something keeps adding names while it runs.
        let mut batches = 0_u32;
        while let Some(top) = stack.last().cloned() {
            batches += 1;
            if batches > 1_000_000 {
                return Err(io_error("remove", &self.display(name), Errno::BUSY));
            }
            let dir = match self.open_dir(&top) {
                Ok(dir) => dir,
                Err(FsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    stack.pop();
                    continue;
                }
                Err(e) => return Err(e),
            };
            // In batches, so a directory of millions of names is not read into memory at once.
            let mut subdirs = Vec::new();
            let (entries, more) = dir.entries(REMOVE_BATCH)?;
            for (entry, kind) in entries {
                if kind == Kind::Dir {
                    subdirs.push(top.join(&entry));
                } else {
                    dir.remove_file(&entry)?;
                }
            }
            if more && subdirs.is_empty() {
                continue;
            }
            if subdirs.is_empty() {
                stack.pop();
                let parent = top.parent().filter(|p| !p.as_os_str().is_empty());
                let holder = match parent {
                    Some(parent) => self.open_dir(parent)?,
                    None => self.try_clone()?,
                };
                let leaf = top.file_name().unwrap_or_default();
                match rustix::fs::unlinkat(&holder.fd, leaf, AtFlags::REMOVEDIR) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    // Something was added meanwhile: read it again, a bounded number of times.
                    Err(Errno::NOTEMPTY) if rounds < 64 => {
                        rounds += 1;
                        stack.push(top);
                    }
                    Err(e) => return Err(io_error("remove", &self.display(&top), e)),
                }
            } else {
                stack.extend(subdirs);
            }
        }
        Ok(())
    }

    /// The names in this directory with what each is (not followed), `.` and `..` left out:
    /// at most `limit` of them, and whether there were more.
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn entries(&self, limit: usize) -> Result<(Vec<(OsString, Kind)>, bool), FsError> {
        let mut dir =
            rustix::fs::Dir::read_from(&self.fd).map_err(|e| io_error("read", &self.path, e))?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            if out.len() >= limit {
                return Ok((out, true));
            }
            let entry = entry.map_err(|e| io_error("read", &self.path, e))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => self
                    .stat(name)?
                    .map_or(Kind::Other("vanished entry"), |m| m.kind),
                other => Kind::of(other.as_raw_mode()),
            };
            out.push((name.to_os_string(), kind));
        }
        Ok((out, false))
    }

    /// A second handle on the same directory.
    ///
    /// # Errors
    /// [`FsError::Io`].
    pub fn try_clone(&self) -> Result<Self, FsError> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)
            .map_err(|e| io_error("open", &self.path, e))?;
        Ok(Self {
            fd,
            path: self.path.clone(),
        })
    }

    /// A name no other writer uses, for a temporary beside `name`, created exclusively.
    fn temporary(&self, name: &OsStr, mode: u32) -> Result<(OsString, File), FsError> {
        for _ in 0..16 {
            let temp = temporary_name(name);
            match self.create_file(&temp, mode) {
                Ok(file) => return Ok((temp, file)),
                // Taken (planted, or a leftover): another name.
                Err(FsError::Link { .. } | FsError::Kind { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(io_error(
            "create a temporary for",
            &self.display(name),
            Errno::EXIST,
        ))
    }

    fn expect_file_or_absent(&self, name: &OsStr) -> Result<(), FsError> {
        match self.stat(name)? {
            None => Ok(()),
            Some(meta) if meta.kind == Kind::File => Ok(()),
            found => Err(self.wrong_kind(name, found, "regular file")),
        }
    }

    fn wrong_kind(&self, name: &OsStr, found: Option<Meta>, expected: &'static str) -> FsError {
        let path = self.display(name);
        match found.map(|m| m.kind) {
            Some(Kind::Symlink) => FsError::Link {
                target: self.read_link(name).ok().flatten(),
                path,
                expected,
            },
            Some(kind) => FsError::Kind {
                path,
                found: kind.describe(),
                expected,
            },
            None => FsError::Io {
                op: "create",
                path,
                source: io::Error::from(io::ErrorKind::AlreadyExists),
            },
        }
    }

    /// Turns a failed open of `rel` into the error that names its first offending component.
    fn explain(
        &self,
        rel: &Path,
        expected: &'static str,
        op: &'static str,
        error: Errno,
    ) -> FsError {
        if matches!(error, Errno::LOOP | Errno::NOTDIR | Errno::XDEV) {
            let mut dir = match self.try_clone() {
                Ok(dir) => dir,
                Err(e) => return e,
            };
            let components: Vec<&OsStr> = rel.iter().collect();
            for (i, name) in components.iter().enumerate() {
                let last = i + 1 == components.len();
                let meta = match dir.stat(name) {
                    Ok(Some(meta)) => meta,
                    Ok(None) => break,
                    Err(e) => return e,
                };
                let wanted = if last { expected } else { "directory" };
                match meta.kind {
                    Kind::Dir if !last => match dir.open_dir(Path::new(name)) {
                        Ok(next) => dir = next,
                        Err(e) => return e,
                    },
                    Kind::Dir if wanted == "directory" => break,
                    Kind::File if last && wanted != "directory" => break,
                    _ => return dir.wrong_kind(name, Some(meta), wanted),
                }
            }
        }
        io_error(op, &self.display(rel), error)
    }
}

/// `.<name>.tarsdock-<pid>-<time>-<n>`: unique in the process, unlikely elsewhere; created
/// with `O_EXCL` anyway, so a taken name is only skipped.
fn temporary_name(name: &OsStr) -> OsString {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut temp = OsString::from(".");
    // Keep the whole name within NAME_MAX.
    let bytes = name.as_bytes();
    temp.push(OsStr::from_bytes(&bytes[..bytes.len().min(200)]));
    temp.push(format!(".tarsdock-{}-{nanos:x}-{n}", std::process::id()));
    temp
}

/// Opens `rel` below `dir` with no link anywhere on the way.
fn open_beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if OPENAT2.load(Ordering::Relaxed) {
        for _ in 0..8 {
            match rustix::fs::openat2(dir, rel, flags, mode, RESOLVE) {
                // A concurrent rename elsewhere on the system: try again.
                Err(Errno::AGAIN) => {}
                Err(Errno::NOSYS) => {
                    OPENAT2.store(false, Ordering::Relaxed);
                    break;
                }
                result => return result,
            }
        }
        if OPENAT2.load(Ordering::Relaxed) {
            return Err(Errno::AGAIN);
        }
    }
    open_by_components(dir, rel, flags, mode)
}

/// The same guarantee without `openat2`: one component at a time, each opened with
/// `O_NOFOLLOW` (and `O_DIRECTORY` on the way).
fn open_by_components(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    let components: Vec<&OsStr> = rel.iter().collect();
    let Some((last, parents)) = components.split_last() else {
        return Err(Errno::INVAL);
    };
    let mut current: Option<OwnedFd> = None;
    for name in parents {
        let at = current.as_ref().map_or(dir, AsFd::as_fd);
        current = Some(rustix::fs::openat(at, *name, DIR_FLAGS, Mode::empty())?);
    }
    let at = current.as_ref().map_or(dir, AsFd::as_fd);
    rustix::fs::openat(at, *last, flags, mode)
}

/// A single plain component: not empty, not `.` or `..`, no `/`, no NUL.
fn check_name(name: &OsStr) -> Result<(), FsError> {
    let bytes = name.as_bytes();
    if bytes.is_empty()
        || bytes == b"."
        || bytes == b".."
        || bytes.contains(&b'/')
        || bytes.contains(&0)
    {
        return Err(FsError::BadName {
            name: PathBuf::from(name),
        });
    }
    Ok(())
}

/// One or more plain components.
fn check_rel(rel: &Path) -> Result<(), FsError> {
    let plain = rel.as_os_str().as_bytes().first() != Some(&b'/')
        && rel.components().count() > 0
        && rel
            .components()
            .all(|c| matches!(c, Component::Normal(n) if check_name(n).is_ok()));
    if plain {
        Ok(())
    } else {
        Err(FsError::BadName {
            name: rel.to_path_buf(),
        })
    }
}

fn io_error(op: &'static str, path: &Path, error: Errno) -> FsError {
    FsError::Io {
        op,
        path: path.to_path_buf(),
        source: io::Error::from(error),
    }
}

/// Forces the walk that does without `openat2`, for tests of that path.
#[doc(hidden)]
pub fn disable_openat2_for_tests() {
    OPENAT2.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, DirHandle, PathBuf) {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let outside = temp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let handle = DirHandle::open_root(&root).unwrap();
        (temp, handle, outside)
    }

    #[test]
    fn a_link_on_the_way_is_refused_and_named() {
        let (_temp, root, outside) = setup();
        std::os::unix::fs::symlink(&outside, root.path().join("conf")).unwrap();
        let error = root.open_dir(Path::new("conf")).unwrap_err();
        assert!(matches!(error, FsError::Link { .. }), "{error}");
        assert!(error.to_string().contains("conf"), "{error}");
        let error = root.ensure_dir(Path::new("conf/sub"), 0o755).unwrap_err();
        assert!(matches!(error, FsError::Link { .. }), "{error}");
        assert!(!outside.join("sub").exists());
        // A link deeper down is named too.
        std::fs::create_dir(root.path().join("a")).unwrap();
        std::os::unix::fs::symlink(&outside, root.path().join("a/b")).unwrap();
        let error = root.open_dir(Path::new("a/b")).unwrap_err();
        assert_eq!(error.path(), root.path().join("a/b"));
        // A file where a directory belongs.
        std::fs::write(root.path().join("f"), "x").unwrap();
        let error = root.open_dir(Path::new("f/x")).unwrap_err();
        assert!(matches!(error, FsError::Kind { .. }), "{error}");
    }

    #[test]
    fn writes_never_go_through_a_planted_name() {
        let (_temp, root, outside) = setup();
        // A link planted at the file's name: write_file refuses it.
        std::os::unix::fs::symlink(outside.join("x"), root.path().join("config")).unwrap();
        let error = root
            .write_file(OsStr::new("config"), b"new", 0o644)
            .unwrap_err();
        assert!(matches!(error, FsError::Link { .. }), "{error}");
        assert!(!outside.join("x").exists());
        // A name taken by a planted link is refused by the exclusive create, never opened.
        let planted = OsStr::new(".script.planted");
        std::os::unix::fs::symlink(outside.join("y"), root.path().join(planted)).unwrap();
        assert!(matches!(
            root.create_file(planted, 0o644),
            Err(FsError::Link { .. })
        ));
        assert!(!outside.join("y").exists());
        let name = OsStr::new("script");
        root.write_file(name, b"#!/bin/sh\n", 0o755).unwrap();
        let (bytes, meta) = root.read_file(name, 100).unwrap().unwrap();
        assert_eq!(bytes, b"#!/bin/sh\n");
        assert_eq!(meta.mode, 0o755);
        // create_file never opens an existing name.
        assert!(root.create_file(name, 0o644).is_err());
    }

    #[test]
    fn reads_refuse_links_and_fifos() {
        let (_temp, root, outside) = setup();
        std::fs::write(outside.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.path().join("l")).unwrap();
        assert!(matches!(
            root.read_file(OsStr::new("l"), 10),
            Err(FsError::Link { .. })
        ));
        rustix::fs::mknodat(
            &root.fd,
            "fifo",
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            root.read_file(OsStr::new("fifo"), 10),
            Err(FsError::Kind { .. })
        ));
        assert!(root.read_file(OsStr::new("missing"), 10).unwrap().is_none());
    }

    #[test]
    fn remove_tree_unlinks_links_without_entering_them() {
        let (_temp, root, outside) = setup();
        std::fs::write(outside.join("precious"), "keep").unwrap();
        let tree = root.path().join("old");
        std::fs::create_dir_all(tree.join("a/b/c")).unwrap();
        std::fs::write(tree.join("a/b/c/f"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("a/link")).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("a/b/c/link")).unwrap();
        root.remove_tree(OsStr::new("old")).unwrap();
        assert!(!tree.exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("precious")).unwrap(),
            "keep"
        );
        // A link given as the tree itself is only unlinked.
        std::os::unix::fs::symlink(&outside, root.path().join("bin")).unwrap();
        root.remove_tree(OsStr::new("bin")).unwrap();
        assert!(outside.join("precious").exists());
        assert!(root.remove_tree(OsStr::new("missing")).is_ok());
    }

    #[test]
    fn names_must_be_plain() {
        let (_temp, root, _outside) = setup();
        for bad in ["", ".", "..", "a/b", "/etc"] {
            assert!(
                matches!(root.stat(OsStr::new(bad)), Err(FsError::BadName { .. })),
                "{bad}"
            );
        }
        for bad in ["../x", "/etc", "a/../b", ""] {
            assert!(root.open_dir(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_walk_without_openat2_refuses_links_too() {
        let (_temp, root, outside) = setup();
        std::fs::create_dir(root.path().join("a")).unwrap();
        std::os::unix::fs::symlink(&outside, root.path().join("a/b")).unwrap();
        let result =
            open_by_components(root.fd.as_fd(), Path::new("a/b"), DIR_FLAGS, Mode::empty());
        assert!(
            matches!(result, Err(Errno::LOOP | Errno::NOTDIR)),
            "{result:?}"
        );
        std::fs::create_dir(root.path().join("a/c")).unwrap();
        assert!(
            open_by_components(root.fd.as_fd(), Path::new("a/c"), DIR_FLAGS, Mode::empty()).is_ok()
        );
    }
}
