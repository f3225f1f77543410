//! Reading a service's generated config, `<server dir>/conf/App.Server.config.conf`, from a
//! directory the service itself can write (it is mounted read-write into its container).
//!
//! The server directory is the node's (its path comes from tarsnode's call); what lies inside
//! it is the service's. So it goes through the runtime's filesystem discipline
//! ([`runtime::beneath`], the one `deploy` uses): the server directory is opened as a root,
//! and `conf/` and the file are resolved beneath it with every symbolic link refused, the file
//! opened without blocking (a planted FIFO cannot stall the front), checked to be a regular file
//! on the open descriptor, and read with a bound.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use runtime::beneath::{DirHandle, FsError};

/// Why the config could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("{}: does not exist", shown(path))]
    Missing { path: PathBuf },
    #[error("{}: {reason}", shown(path))]
    Refused { path: PathBuf, reason: String },
    #[error("{} is larger than {limit} bytes", shown(path))]
    TooLarge { path: PathBuf, limit: u64 },
}

fn shown(path: &Path) -> String {
    crate::reply::shown(path.display())
}

/// The config file's path under `server_dir`, for messages and diagnostics.
pub(crate) fn config_path(server_dir: &Path, name: &str) -> PathBuf {
    server_dir.join("conf").join(file_name(name))
}

fn file_name(name: &str) -> String {
    format!("{name}.config.conf")
}

/// Reads `<server_dir>/conf/<name>.config.conf`, at most `limit` bytes, following no link
/// below `server_dir`.
///
/// # Errors
/// [`ConfigError`] naming the path and the reason (missing, a link, not a regular file, too
/// large, unreadable).
pub(crate) fn read(server_dir: &Path, name: &str, limit: u64) -> Result<Vec<u8>, ConfigError> {
    let path = config_path(server_dir, name);
    let refused = |error: FsError| ConfigError::Refused {
        path: path.clone(),
        reason: reason(&error),
    };
    let conf = DirHandle::open_root(server_dir)
        .and_then(|root| root.open_dir(Path::new("conf")))
        .map_err(|error| match &error {
            FsError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ConfigError::Missing { path: path.clone() }
            }
            _ => refused(error),
        })?;
    let Some((bytes, _)) = conf
        .read_file(OsStr::new(&file_name(name)), limit)
        .map_err(refused)?
    else {
        return Err(ConfigError::Missing { path });
    };
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(ConfigError::TooLarge { path, limit });
    }
    Ok(bytes)
}

/// Replaces `<server_dir>/conf/<name>.config.conf` with `bytes` (mode `0644`, as tarsnode
/// writes it), through the same discipline: a temporary created exclusively beneath `conf/`,
/// renamed over the file, which must be a regular file; no link is followed.
///
/// # Errors
/// [`ConfigError::Refused`] naming the path and the reason.
pub(crate) fn write(server_dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ConfigError> {
    let path = config_path(server_dir, name);
    DirHandle::open_root(server_dir)
        .and_then(|root| root.open_dir(Path::new("conf")))
        .and_then(|conf| conf.write_file(OsStr::new(&file_name(name)), bytes, 0o644))
        .map_err(|error| ConfigError::Refused {
            path,
            reason: reason(&error),
        })
}

/// What was found, in the front's words (the discipline's own messages speak of deploying).
fn reason(error: &FsError) -> String {
    match error {
        FsError::Link { path, .. } => format!(
            "{} is a symbolic link (links in a service directory are never followed)",
            shown(path)
        ),
        FsError::Kind { path, found, .. } => format!(
            "{} is a {found}, not a regular file (tarsdock reads only regular files there)",
            shown(path)
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use rustix::fs::Mode;

    use super::*;

    #[test]
    fn a_rewrite_replaces_the_file_and_never_follows_a_link() {
        let (dir, server) = layout();
        let path = config_path(&server, "A.B");
        std::fs::write(&path, "old").unwrap();
        write(&server, "A.B", b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        // The file planted as a link to a file elsewhere: refused, the target untouched.
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "precious").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        let err = write(&server, "A.B", b"new").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
    }

    fn layout() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let server = dir.path().join("A.B");
        std::fs::create_dir_all(server.join("conf")).unwrap();
        (dir, server)
    }

    #[test]
    fn reads_a_regular_config() {
        let (_dir, server) = layout();
        std::fs::write(config_path(&server, "A.B"), "<tars>\n</tars>\n").unwrap();
        assert_eq!(read(&server, "A.B", 1024).unwrap(), b"<tars>\n</tars>\n");
    }

    #[test]
    fn refuses_links_at_every_level_below_the_server_dir() {
        let (dir, server) = layout();
        let outside = dir.path().join("secret.conf");
        std::fs::write(&outside, "secret").unwrap();
        std::os::unix::fs::symlink(&outside, config_path(&server, "A.B")).unwrap();
        let err = read(&server, "A.B", 1024).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");

        // `conf` itself replaced by a link to a directory holding a valid-looking file.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("A.B.config.conf"), "x").unwrap();
        std::fs::remove_file(config_path(&server, "A.B")).unwrap();
        std::fs::remove_dir(server.join("conf")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, server.join("conf")).unwrap();
        let err = read(&server, "A.B", 1024).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn refuses_fifos_directories_and_large_files_without_blocking() {
        let (_dir, server) = layout();
        let path = config_path(&server, "A.B");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read(&server, "A.B", 1024).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = read(&server, "A.B", 1024).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        std::fs::remove_dir(&path).unwrap();
        std::fs::write(&path, vec![b'x'; 2048]).unwrap();
        assert!(matches!(
            read(&server, "A.B", 1024),
            Err(ConfigError::TooLarge { limit: 1024, .. })
        ));
        let err = read(&server, "X.Y", 1024).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = read(&server.join("missing"), "A.B", 1024).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
