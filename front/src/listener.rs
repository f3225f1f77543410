//! The listening socket: created with mode `0660` and the operator's group before anyone can
//! reach it, never over something that is not a stale socket, and removed on exit only if it
//! is still ours.
//!
//! The socket is bound inside a fresh private directory (mode `0700`) beside the final path,
//! given its mode and group there, and renamed into place: no client can connect while its
//! permissions are still the umask's. An existing path is replaced only when it is a socket
//! nobody answers on (left by a crashed run); a live one means another server is listening,
//! and anything else is refused. (Tools that list sockets by their bound name, such as `ss -x`,
//! show the private directory's path: the name a socket was bound to does not follow a
//! rename.)

use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group};
use tokio::net::UnixListener;

use crate::config::FrontError;

/// The socket's mode: owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// The socket file; removed when dropped if it is still the one this process made.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Its path.
    #[must_use]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the socket");
        }
    }
}

/// Resolves `--group`: a numeric gid, or a group name looked up in the system's group
/// database.
///
/// # Errors
/// [`FrontError::UnknownGroup`] when no such group exists.
pub fn resolve_group(spec: &str) -> Result<Gid, FrontError> {
    if let Ok(gid) = spec.parse::<u32>() {
        return Ok(Gid::from_raw(gid));
    }
    match Group::from_name(spec) {
        Ok(Some(group)) => Ok(group.gid),
        _ => Err(FrontError::UnknownGroup(spec.to_owned())),
    }
}

/// Binds `path` with mode `0660` (and `group`, when given).
///
/// # Errors
/// [`FrontError::Socket`] when the path is taken by a live socket or by something else, or
/// when the socket cannot be made.
pub(crate) fn bind(
    path: &Path,
    group: Option<Gid>,
) -> Result<(UnixListener, SocketFile), FrontError> {
    let fail = |reason: String| FrontError::Socket {
        path: path.to_path_buf(),
        reason,
    };
    check_free(path).map_err(&fail)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| fail("the path has no file name".to_owned()))?;
    let private = tempfile::Builder::new()
        .prefix(".tarsdock-serve-")
        .tempdir_in(dir)
        .map_err(|e| {
            fail(format!(
                "cannot make a private directory in {}: {e}",
                dir.display()
            ))
        })?;
    let staged = private.path().join(file_name);
    let listener = std::os::unix::net::UnixListener::bind(&staged)
        .map_err(|e| fail(format!("cannot bind: {e}")))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| fail(format!("cannot set its mode: {e}")))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(&staged, None, Some(gid.as_raw()))
            .map_err(|e| fail(format!("cannot give it to group {gid}: {e}")))?;
    }
    std::fs::rename(&staged, path).map_err(|e| fail(format!("cannot move it into place: {e}")))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| fail(e.to_string()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| fail(e.to_string()))?;
    let listener = UnixListener::from_std(listener).map_err(|e| fail(e.to_string()))?;
    Ok((
        listener,
        SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        },
    ))
}

/// Whether `path` may be taken: absent, or a socket nobody listens on.
fn check_free(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt as _;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.file_type().is_socket() {
        return Err("it exists and is not a socket; tarsdock does not replace it".to_owned());
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err("another server is listening there".to_owned()),
        // Nobody answers: a socket left by a run that did not clean up.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(format!("cannot tell whether it is in use: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileTypeExt as _;

    use super::*;

    #[tokio::test]
    async fn socket_is_0660_replaces_only_stale_sockets_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("front.sock");
        let own_gid = nix::unistd::getegid();
        let (listener, file) = bind(&path, Some(own_gid)).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert_eq!(meta.gid(), own_gid.as_raw());
        // No private directory is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // A live socket is not taken over.
        let err = bind(&path, None).unwrap_err();
        assert!(err.to_string().contains("another server"), "{err}");

        // A stale one is.
        drop(listener);
        std::mem::forget(file);
        let (_listener, file) = bind(&path, None).unwrap();
        drop(file);
        assert!(!path.exists());

        // Anything else is never replaced.
        std::fs::write(&path, "data").unwrap();
        let err = bind(&path, None).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }

    #[test]
    fn groups_resolve_by_number_and_name() {
        assert_eq!(resolve_group("0").unwrap(), Gid::from_raw(0));
        assert_eq!(resolve_group("root").unwrap(), Gid::from_raw(0));
        assert!(resolve_group("no-such-group-tarsdock").is_err());
    }

    #[tokio::test]
    async fn a_socket_replaced_by_someone_else_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("front.sock");
        let (_listener, file) = bind(&path, None).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "someone else's").unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    }
}
