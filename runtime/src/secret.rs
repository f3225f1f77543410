//! Reading a secret (a registry password) from a file, the way ssh reads a private key: the
//! file must be a regular file, owned by the user tarsdock runs as, with no permission bits
//! for group or others, and its last component must not be a link. Every command that takes
//! a password file (`image pull --password-file`, a manifest's `password-file`, …) reads it
//! with [`read_secret_file`].

use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The largest password file read (a password, not a key ring).
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a secret file is refused or unreadable. Messages never contain the file's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("cannot open the password file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the password file {} is a symbolic link; give the file itself",
        path.display()
    )]
    Link { path: PathBuf },
    #[error("the password file {} is not a regular file", path.display())]
    NotRegular { path: PathBuf },
    #[error(
        "the password file {} belongs to uid {owner}, not to the user tarsdock runs as \
         (uid {user}); chown it",
        path.display()
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error(
        "the password file {} has mode {mode:04o}: group and others may not have any \
         permission on it; chmod 600 it",
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("the password file {} is larger than {MAX_SECRET_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("cannot read the password file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the password file {} is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
}

/// Reads a secret file: opened without following a final link (`O_NOFOLLOW`, and without
/// blocking on a FIFO), then checked on the open file itself (regular, owned by the effective
/// user, mode `0?00`), so a file swapped after the check is never the one read. Trailing
/// newlines are removed.
///
/// # Errors
/// [`SecretError`] naming the rule the file breaks.
pub fn read_secret_file(path: &Path) -> Result<String, SecretError> {
    let open = OpenOptions::new()
        .read(true)
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::NONBLOCK
                | rustix::fs::OFlags::NOCTTY)
                .bits()
                .cast_signed(),
        )
        .open(path);
    let mut file = match open {
        Ok(file) => file,
        // `O_NOFOLLOW` on a link fails with ELOOP.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(SecretError::Link {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(SecretError::Open {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let meta = file.metadata().map_err(|source| SecretError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    check(path, &meta, rustix::process::geteuid().as_raw())?;
    let mut bytes = Vec::new();
    file.by_ref()
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| SecretError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| SecretError::NotText {
        path: path.to_path_buf(),
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// The rules on the open file's metadata.
fn check(path: &Path, meta: &std::fs::Metadata, user: u32) -> Result<(), SecretError> {
    if !meta.file_type().is_file() {
        return Err(SecretError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    if meta.uid() != user {
        return Err(SecretError::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            user,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn private_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_secret_file(&file(dir.path(), "p", 0o600)).unwrap(),
            "s3cret"
        );
        assert_eq!(
            read_secret_file(&file(dir.path(), "q", 0o400)).unwrap(),
            "s3cret"
        );
    }

    #[test]
    fn group_or_world_bits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // 0640 is how /etc/shadow is kept: readable by a group. 0644: by everyone.
        for mode in [0o640, 0o644, 0o604, 0o610, 0o620, 0o601] {
            let error = read_secret_file(&file(dir.path(), &format!("p{mode:o}"), mode))
                .unwrap_err()
                .to_string();
            assert!(error.contains("group and others"), "{mode:o}: {error}");
            assert!(error.contains(&format!("{mode:04o}")), "{error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn links_fifos_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = file(dir.path(), "target", 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            read_secret_file(&link),
            Err(SecretError::Link { .. })
        ));
        assert!(matches!(
            read_secret_file(dir.path()),
            Err(SecretError::NotRegular { .. })
        ));
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        // Opened without blocking, then refused.
        assert!(matches!(
            read_secret_file(&fifo),
            Err(SecretError::NotRegular { .. })
        ));
        assert!(matches!(
            read_secret_file(&dir.path().join("absent")),
            Err(SecretError::Open { .. })
        ));
    }

    #[test]
    fn another_owner_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "p", 0o600);
        let meta = std::fs::metadata(&path).unwrap();
        let error = check(&path, &meta, meta.uid() + 1).unwrap_err().to_string();
        assert!(error.contains("belongs to uid"), "{error}");
    }

    #[test]
    fn large_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 70_000]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            read_secret_file(&path),
            Err(SecretError::TooLarge { .. })
        ));
    }
}
