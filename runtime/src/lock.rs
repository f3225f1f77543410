//! Per-service locks across processes: an advisory `flock` on `<lock dir>/<name>.lock`.
//!
//! tarsnode runs one command per service, so two `tarsdock launch` of the same service can
//! run at once in separate processes. Each command that changes a container holds the
//! service's lock for its whole run. The kernel drops the lock when the holder exits, even
//! on `kill -9`, so a crashed command never blocks the next one. Lock files are left in
//! place: removing one while another process waits on it would let two holders in.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::TryLockError;

use crate::error::{Error, Result};
use crate::request::validate_name;

/// The default lock directory: `/run/lock/tarsdock` where `/run/lock` exists (tmpfs, the
/// conventional place), else `tarsdock-locks` in the temporary directory.
#[must_use]
pub fn default_lock_dir() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    if run_lock.is_dir() {
        run_lock.join("tarsdock")
    } else {
        std::env::temp_dir().join("tarsdock-locks")
    }
}

/// A held service lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ServiceLock {
    path: PathBuf,
    // Closing the file releases the flock.
    _file: File,
}

impl ServiceLock {
    /// The lock file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock of service `name` in `dir`, waiting up to `timeout`.
///
/// # Errors
/// [`Error::InvalidRequest`] for a bad name, [`Error::Lock`] when the directory or file
/// cannot be made, [`Error::LockTimeout`] when another process holds it too long.
pub async fn lock_service(dir: &Path, name: &str, timeout: Duration) -> Result<ServiceLock> {
    validate_name(name)?;
    let lock_error = |path: &Path, source| Error::Lock {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| lock_error(dir, e))?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| lock_error(&path, e))?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => return Ok(ServiceLock { path, _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(lock_error(&path, e)),
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

#[cfg(test)]
mod tests {
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
}
