//! Reading a service's generated config, `<server dir>/conf/App.Server.config.conf`, from a
//! directory the service itself can write (it is mounted read-write into its container).
//!
//! The server directory is the node's (its path comes from tarsnode's call); what lies
//! inside it is the service's. So below the server directory nothing is followed: `conf`
//! must be a directory and the config a regular file, each opened relative to its parent
//! with `O_NOFOLLOW` (a symbolic link fails with `ELOOP` instead of being followed), the
//! file with `O_NONBLOCK` (a FIFO planted there cannot stall the open) and checked with
//! `fstat` on the open descriptor before one bounded read.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, openat};
use rustix::io::Errno;

/// Why the config could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("{}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    #[error("{} is not a regular file (tarsdock reads only regular files it can trust)", path.display())]
    NotRegular { path: PathBuf },
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The config file's path under `server_dir`, for messages and diagnostics.
#[must_use]
pub(crate) fn config_path(server_dir: &Path, name: &str) -> PathBuf {
    server_dir.join("conf").join(format!("{name}.config.conf"))
}

/// Reads `<server_dir>/conf/<name>.config.conf`, at most `limit` bytes, following no link
/// below `server_dir`.
///
/// # Errors
/// [`ConfigError`] naming the path and the reason (missing, a link, not a regular file, too
/// large, unreadable).
pub(crate) fn read(server_dir: &Path, name: &str, limit: u64) -> Result<Vec<u8>, ConfigError> {
    let conf_dir = server_dir.join("conf");
    let path = config_path(server_dir, name);
    let open_error = |at: &Path, errno: Errno| ConfigError::Open {
        path: at.to_path_buf(),
        reason: describe(errno, is_link(at)),
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let server = openat(rustix::fs::CWD, server_dir, dir_flags, Mode::empty())
        .map_err(|e| open_error(server_dir, e))?;
    let conf =
        openat(&server, "conf", dir_flags, Mode::empty()).map_err(|e| open_error(&conf_dir, e))?;
    let file = openat(
        &conf,
        format!("{name}.config.conf"),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| open_error(&path, e))?;
    let stat = rustix::fs::fstat(&file).map_err(|e| open_error(&path, e))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(ConfigError::NotRegular { path });
    }
    if u64::try_from(stat.st_size).unwrap_or(u64::MAX) > limit {
        return Err(ConfigError::TooLarge { path, limit });
    }
    let mut bytes = Vec::new();
    std::fs::File::from(file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
    // The file may have grown between fstat and read.
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(ConfigError::TooLarge { path, limit });
    }
    Ok(bytes)
}

/// Whether `path` itself is a symbolic link (`O_NOFOLLOW | O_DIRECTORY` on a link to a
/// directory fails with `ENOTDIR`, not `ELOOP`). Only used to word the error.
fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn describe(errno: Errno, link: bool) -> String {
    match errno {
        Errno::LOOP | Errno::NOTDIR if link => {
            "is a symbolic link (tarsdock does not follow links in a service directory)".to_owned()
        }
        Errno::NOTDIR => "is not a directory".to_owned(),
        Errno::NOENT => "does not exist".to_owned(),
        Errno::ACCESS => "permission denied".to_owned(),
        other => std::io::Error::from(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            read(&server, "A.B", 1024),
            Err(ConfigError::NotRegular { .. })
        ));
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(
            read(&server, "A.B", 1024),
            Err(ConfigError::NotRegular { .. })
        ));
        std::fs::remove_dir(&path).unwrap();
        std::fs::write(&path, vec![b'x'; 2048]).unwrap();
        assert!(matches!(
            read(&server, "A.B", 1024),
            Err(ConfigError::TooLarge { limit: 1024, .. })
        ));
        let err = read(&server, "X.Y", 1024).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
