//! Checks for the `unpack` target: a package unpacked beside an "outside" tree.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use runtime::beneath::DirHandle;
use runtime::package::{Limits, Package};

/// Gzips `tar` as a package, scans and unpacks it next to an outside tree, and checks the
/// invariants (module documentation of the target).
///
/// # Panics
/// When an invariant breaks (or the temporary directory cannot be made).
pub fn check_unpack(tar: &[u8]) {
    let temp = tempfile::tempdir().expect("temporary directory");
    let into = temp.path().join("into");
    let outside = temp.path().join("outside");
    std::fs::create_dir_all(outside.join("a/b")).expect("outside tree");
    std::fs::write(outside.join("a/b/c"), "precious").expect("outside file");
    std::fs::create_dir(&into).expect("into");
    let archive = temp.path().join("package.tgz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).expect("archive"),
        flate2::Compression::fast(),
    );
    gz.write_all(tar).expect("gzip");
    gz.finish().expect("gzip");
    let before = snapshot(temp.path(), "into");

    // Small limits keep each run fast; the checks are the same.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_entries: 1000,
        max_entry_bytes: 1 << 20,
        ..Limits::default()
    };
    let handle = DirHandle::open_root(&into).expect("open into");
    let outcome = Package::scan(&archive, &limits)
        .map(|package| {
            let unpacked = package.unpack(&handle, OsStr::new("staging"), &limits);
            (package, unpacked)
        });
    assert_eq!(snapshot(temp.path(), "into"), before, "something outside changed");

    let Ok((package, Ok(content))) = outcome else {
        // Refused: nothing may be left in `into`.
        assert!(
            std::fs::read_dir(&into).expect("read into").next().is_none(),
            "a refused package left files"
        );
        return;
    };
    let installed = into.join("installed");
    std::fs::rename(into.join(content), &installed).expect("move the content");
    let installed_handle = DirHandle::open_root(&installed).expect("open installed");
    let differences = package.verify(&installed_handle, &limits).expect("verify");
    assert!(differences.is_empty(), "{differences:?}");
    let root = std::fs::canonicalize(&installed).expect("canonical root");
    for path in snapshot(&installed, "").keys() {
        let full = installed.join(path);
        let meta = std::fs::symlink_metadata(&full).expect("metadata");
        if meta.file_type().is_symlink() {
            let resolved = std::fs::canonicalize(&full);
            assert!(
                resolved.as_ref().is_ok_and(|r| r.starts_with(&root)),
                "{path:?} -> {resolved:?}"
            );
        } else {
            assert_eq!(meta.mode() & 0o7777 & !0o755, 0, "{path:?}");
        }
    }
}

/// Everything below `root` but `skip` (links not followed): kind, mode, bytes, target.
fn snapshot(root: &Path, skip: &str) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            if !skip.is_empty() && relative.starts_with(skip) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let what = if meta.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&path).ok())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", meta.mode())
            } else {
                format!("file {:o} {:?}", meta.mode(), std::fs::read(&path).ok())
            };
            out.insert(relative, what);
        }
    }
    out
}
