//! Per-service locks across processes: an advisory `flock` on `<lock dir>/<name>.lock`.
//!
//! tarsnode runs one command per service, so two `tarsdock launch` of the same service can
//! run at once in separate processes. Each command that changes a container holds the
//! service's lock for its whole run. The kernel drops the lock when the holder exits, even
//! on `kill -9`, so a crashed command never blocks the next one. Lock files are left in
//! place: removing one while another process waits on it would let two holders in.
//!
//! **A lock only covers the processes that share a lock directory.** Every caller —
//! tarsnode, an operator's shell, `deploy`, the `serve` front — uses [`DEFAULT_LOCK_DIR`]
//! unless told otherwise (`--lock-dir`, `TARSDOCK_LOCK_DIR`); the default depends on nothing
//! in the caller's environment (not `TMPDIR`, not the working directory). Two commands given
//! different lock directories do not exclude each other; the launch still converges (a name
//! the engine reports taken is re-inspected and decided again), but may report a conflict.
//!
//! The directory is trusted only as far as it deserves: tarsdock runs as root, and a lock
//! directory another user can write to would let that user plant a link where the lock file
//! goes (root would then create or truncate any file) or hold every lock forever. So:
//! - missing directories are created `0700`;
//! - every directory above it (the real path, links in the given path resolved) must be owned
//!   by root or the current user and not writable by group or others unless it is sticky
//!   (`/tmp`): else another user could rename the lock directory away and put their own in
//!   its place. The walk opens each component beneath the one before without following a
//!   link, so what is checked is what is used;
//! - the directory itself is opened without following a link, and must be owned by the
//!   current user and not writable by group or others, else the command is refused;
//! - the lock file is created beneath that open directory (`openat`), with `O_NOFOLLOW`,
//!   mode `0600`, and must be a regular file owned by the current user.
//!
//! The holder may [`ServiceLock::announce`] what it is doing (`replacing …`); `status`
//! reads that through [`peek`] while the lock is held, so it can say `replacing` instead of
//! `absent` in the middle of a replacement.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::request::validate_name;

/// The lock directory every caller uses unless told otherwise: under `/run`, which only root
/// can write (unlike the world-writable `/run/lock` or the temporary directory).
#[cfg(target_os = "linux")]
pub const DEFAULT_LOCK_DIR: &str = "/run/tarsdock/locks";
/// The lock directory every caller uses unless told otherwise.
#[cfg(not(target_os = "linux"))]
pub const DEFAULT_LOCK_DIR: &str = "/var/run/tarsdock/locks";

/// The longest an activity note may be (it is read by `status`).
const ACTIVITY_LIMIT: usize = 512;

/// [`DEFAULT_LOCK_DIR`], the same for every caller.
#[must_use]
pub fn default_lock_dir() -> PathBuf {
    PathBuf::from(DEFAULT_LOCK_DIR)
}

/// A held service lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ServiceLock {
    path: PathBuf,
    // Closing the file releases the flock.
    file: File,
}

impl ServiceLock {
    /// The lock file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records what the holder is doing (one line, e.g. `replacing 0123abcd`), for
    /// [`peek`]. Failures are ignored: the note is informational.
    pub fn announce(&mut self, activity: &str) {
        let mut line: String = activity
            .chars()
            .filter(|c| !c.is_control())
            .take(ACTIVITY_LIMIT)
            .collect();
        line.push('\n');
        let written = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(line.as_bytes()))
            .and_then(|()| self.file.set_len(line.len() as u64));
        if let Err(e) = written {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot note the activity");
        }
    }
}

/// Takes the lock of service `name` in `dir`, waiting up to `timeout`.
///
/// # Errors
/// [`Error::InvalidRequest`] for a bad name, [`Error::Lock`] when the directory or file
/// cannot be made or is not safe to use, [`Error::LockTimeout`] when another process holds
/// it too long.
pub async fn lock_service(dir: &Path, name: &str, timeout: Duration) -> Result<ServiceLock> {
    validate_name(name)?;
    let directory = open_dir(dir, true)?;
    let path = dir.join(format!("{name}.lock"));
    let file = open_lock_file(&directory, &path, name, true)?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let mut lock = ServiceLock {
                    path,
                    file: File::from(file),
                };
                lock.announce("working");
                return Ok(lock);
            }
            Err(Errno::WOULDBLOCK | Errno::INTR) => {}
            Err(e) => return Err(lock_error(&path, e.into())),
        }
        if started.elapsed() >= timeout {
            return Err(Error::LockTimeout {
                name: name.to_owned(),
                path,
                after: timeout,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// What the current holder of service `name`'s lock in `dir` announced, when the lock is
/// held by someone; `None` when it is free or there is no lock file (nothing is created).
///
/// # Errors
/// [`Error::Lock`] when the directory or file is not safe to use.
pub fn peek(dir: &Path, name: &str) -> Result<Option<String>> {
    validate_name(name)?;
    let directory = match open_dir(dir, false) {
        Ok(directory) => directory,
        Err(Error::Lock { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let path = dir.join(format!("{name}.lock"));
    let file = match open_lock_file(&directory, &path, name, false) {
        Ok(file) => file,
        Err(Error::Lock { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared) {
        // Free: nobody is working on the service.
        Ok(()) => Ok(None),
        Err(Errno::WOULDBLOCK) => {
            let mut text = String::new();
            File::from(file)
                .take(ACTIVITY_LIMIT as u64 + 1)
                .read_to_string(&mut text)
                .map_err(|e| lock_error(&path, e))?;
            let line = text.lines().next().unwrap_or("").trim().to_owned();
            Ok(Some(if line.is_empty() {
                "working".to_owned()
            } else {
                line
            }))
        }
        Err(e) => Err(lock_error(&path, e.into())),
    }
}

fn lock_error(path: &Path, source: std::io::Error) -> Error {
    Error::Lock {
        path: path.to_path_buf(),
        source,
    }
}

fn refused(path: &Path, why: String) -> Error {
    lock_error(
        path,
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, why),
    )
}

/// Opens the lock directory (creating it `0700` when `create`): its parent by [`open_parent`],
/// the directory beneath it without following a link, and checks that only the current user
/// can write to it.
fn open_dir(dir: &Path, create: bool) -> Result<OwnedFd> {
    if create {
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            Ok(()) => {}
            // A link where the directory should be: reported below, by what it is.
            Err(_) if std::fs::symlink_metadata(dir).is_ok() => {}
            Err(e) => return Err(lock_error(dir, e)),
        }
    }
    let Some(last) = dir.file_name() else {
        return Err(refused(
            dir,
            "name the lock directory by a path that ends in a directory name".to_owned(),
        ));
    };
    let parent = open_parent(dir)?;
    let fd = rustix::fs::openat(
        &parent,
        last,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP => refused(
            dir,
            "the lock directory is a symbolic link; tarsdock does not follow it".to_owned(),
        ),
        Errno::NOTDIR if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_symlink()) => refused(
            dir,
            "the lock directory is a symbolic link; tarsdock does not follow it".to_owned(),
        ),
        Errno::NOTDIR => refused(dir, "the lock directory is not a directory".to_owned()),
        other => lock_error(dir, other.into()),
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| lock_error(dir, e.into()))?;
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(refused(
            dir,
            format!(
                "the lock directory is owned by uid {}, not by the current user (uid {me}); \
                 another user could take or hold every lock",
                stat.st_uid
            ),
        ));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(refused(
            dir,
            format!(
                "the lock directory is writable by group or others (mode {mode:04o}); \
                 make it 0700 (chmod 700) or choose another with --lock-dir"
            ),
        ));
    }
    Ok(fd)
}

/// Opens the directory that holds the lock directory, walking its real path from `/` one
/// component at a time (`openat` beneath the last, never following a link) and checking each
/// directory on the way: owned by root or the current user, and not writable by group or
/// others unless sticky. A directory someone else can write would let them move the lock
/// directory away and put their own in its place.
fn open_parent(dir: &Path) -> Result<OwnedFd> {
    let given = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let real = std::fs::canonicalize(given).map_err(|e| lock_error(given, e))?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let root = Path::new("/");
    let mut fd =
        rustix::fs::open(root, flags, Mode::empty()).map_err(|e| lock_error(root, e.into()))?;
    let mut walked = PathBuf::from(root);
    check_ancestor(&fd, &walked)?;
    for component in real.components() {
        let std::path::Component::Normal(name) = component else {
            continue;
        };
        walked.push(name);
        fd = rustix::fs::openat(&fd, name, flags, Mode::empty()).map_err(|e| match e {
            // The path was resolved an instant ago: a link now is one planted since.
            Errno::LOOP | Errno::NOTDIR => refused(
                &walked,
                "a directory above the lock directory was replaced while it was opened".to_owned(),
            ),
            other => lock_error(&walked, other.into()),
        })?;
        check_ancestor(&fd, &walked)?;
    }
    Ok(fd)
}

/// One directory above the lock directory: owned by root or the current user; not writable
/// by group or others unless the sticky bit keeps them from renaming what they do not own.
fn check_ancestor(fd: &OwnedFd, path: &Path) -> Result<()> {
    let stat = rustix::fs::fstat(fd).map_err(|e| lock_error(path, e.into()))?;
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != 0 && stat.st_uid != me {
        return Err(refused(
            path,
            format!(
                "a directory above the lock directory is owned by uid {}, who could replace \
                 the lock directory; choose another with --lock-dir",
                stat.st_uid
            ),
        ));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(refused(
            path,
            format!(
                "a directory above the lock directory is writable by group or others and not \
                 sticky (mode {mode:04o}), so they could replace the lock directory; choose \
                 another with --lock-dir"
            ),
        ));
    }
    Ok(())
}

/// Opens (creating when `create`, mode `0600`) `<name>.lock` beneath the open directory,
/// never following a link, and checks it is a regular file of the current user.
fn open_lock_file(directory: &OwnedFd, path: &Path, name: &str, create: bool) -> Result<OwnedFd> {
    // Non-blocking open: a FIFO planted there must not hang the command (it is refused
    // below, as not a regular file); on a regular file the flag changes nothing.
    let mut flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    flags |= if create {
        OFlags::RDWR | OFlags::CREATE
    } else {
        OFlags::RDONLY
    };
    let file = rustix::fs::openat(
        directory,
        format!("{name}.lock"),
        flags,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| match e {
        Errno::LOOP => refused(
            path,
            "the lock file is a symbolic link; tarsdock does not follow it".to_owned(),
        ),
        other => lock_error(path, other.into()),
    })?;
    let stat = rustix::fs::fstat(&file).map_err(|e| lock_error(path, e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(refused(
            path,
            "the lock file is not a regular file".to_owned(),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(refused(
            path,
            format!(
                "the lock file is owned by uid {}, not by the current user (uid {me})",
                stat.st_uid
            ),
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[tokio::test]
    async fn second_holder_waits_then_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_service(dir.path(), "A.B", Duration::from_secs(1))
            .await
            .unwrap();
        let err = lock_service(dir.path(), "A.B", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
        // Another service is independent.
        let _other = lock_service(dir.path(), "A.C", Duration::from_millis(50))
            .await
            .unwrap();
        drop(first);
        let again = lock_service(dir.path(), "A.B", Duration::from_millis(50))
            .await
            .unwrap();
        assert!(again.path().ends_with("A.B.lock"));
    }

    #[tokio::test]
    async fn bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            lock_service(dir.path(), "../x", Duration::from_millis(10))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn missing_directories_are_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("a/b/locks");
        let _lock = lock_service(&locks, "A.B", Duration::from_millis(50))
            .await
            .unwrap();
        for created in [dir.path().join("a"), dir.path().join("a/b"), locks.clone()] {
            let mode = std::fs::metadata(&created).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", created.display());
        }
        let mode = std::fs::metadata(locks.join("A.B.lock"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[tokio::test]
    async fn a_directory_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        std::fs::create_dir(&locks).unwrap();
        for mode in [0o777, 0o1777, 0o770, 0o702] {
            std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = lock_service(&locks, "A.B", Duration::from_millis(50))
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("writable by group or others"),
                "{mode:o}: {err}"
            );
            assert!(!locks.join("A.B.lock").exists(), "nothing created");
        }
    }

    #[tokio::test]
    async fn a_directory_of_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("SKIPPED a_directory_of_another_user_is_refused: needs root to chown");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        std::fs::create_dir(&locks).unwrap();
        std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&locks, Some(65534), Some(65534)).unwrap();
        let err = lock_service(&locks, "A.B", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    }

    #[tokio::test]
    async fn a_directory_above_that_others_can_replace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let above = dir.path().join("above");
        let locks = above.join("locks");
        std::fs::create_dir_all(&locks).unwrap();
        std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o700)).unwrap();
        for mode in [0o777, 0o775, 0o757] {
            std::fs::set_permissions(&above, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = lock_service(&locks, "A.B", Duration::from_millis(50))
                .await
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("above the lock directory"),
                "{mode:o}: {text}"
            );
            assert!(text.contains(&above.display().to_string()), "{text}");
            // status reads through the same check.
            assert!(peek(&locks, "A.B").is_err(), "{mode:o}");
        }
        // Sticky (as /tmp is): others cannot rename what they do not own.
        std::fs::set_permissions(&above, std::fs::Permissions::from_mode(0o1777)).unwrap();
        lock_service(&locks, "A.B", Duration::from_millis(50))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_directory_above_owned_by_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!(
                "SKIPPED a_directory_above_owned_by_another_user_is_refused: needs root to chown"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let above = dir.path().join("above");
        let locks = above.join("locks");
        std::fs::create_dir_all(&locks).unwrap();
        std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&above, Some(65534), Some(65534)).unwrap();
        let err = lock_service(&locks, "A.B", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        assert!(
            err.to_string().contains("above the lock directory"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_link_above_is_resolved_and_its_target_checked() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let alias = dir.path().join("alias");
        std::os::unix::fs::symlink(&real, &alias).unwrap();
        // Through a link above (as /var/run -> /run): the real directories are what count.
        let held = lock_service(&alias.join("locks"), "A.B", Duration::from_millis(50))
            .await
            .unwrap();
        assert!(real.join("locks").join("A.B.lock").is_file());
        drop(held);
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = lock_service(&alias.join("locks"), "A.B", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&real.display().to_string()),
            "{err}"
        );
    }

    #[tokio::test]
    async fn links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        // The lock file planted as a link to a file elsewhere: not followed, not truncated.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let locks = dir.path().join("locks");
        std::fs::create_dir(&locks).unwrap();
        std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&victim, locks.join("A.B.lock")).unwrap();
        let err = lock_service(&locks, "A.B", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // The lock directory itself a link: not followed either.
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&real, &linked).unwrap();
        let err = lock_service(&linked, "A.B", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!real.join("A.B.lock").exists());
    }

    #[test]
    fn the_default_does_not_depend_on_the_environment() {
        assert_eq!(default_lock_dir(), PathBuf::from(DEFAULT_LOCK_DIR));
        assert!(default_lock_dir().is_absolute());
        assert!(!default_lock_dir().starts_with(std::env::temp_dir()));
        assert!(!default_lock_dir().starts_with("/run/lock"));
    }

    #[tokio::test]
    async fn the_holder_announces_what_it_does() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(peek(dir.path(), "A.B").unwrap(), None, "no file yet");
        let mut lock = lock_service(dir.path(), "A.B", Duration::from_millis(50))
            .await
            .unwrap();
        lock.announce("replacing 0123456789ab");
        assert_eq!(
            peek(dir.path(), "A.B").unwrap().as_deref(),
            Some("replacing 0123456789ab")
        );
        lock.announce("x");
        assert_eq!(peek(dir.path(), "A.B").unwrap().as_deref(), Some("x"));
        drop(lock);
        assert_eq!(peek(dir.path(), "A.B").unwrap(), None, "released");
        // A peek does not keep a launch out.
        let _again = lock_service(dir.path(), "A.B", Duration::from_millis(50))
            .await
            .unwrap();
    }
}
