//! `tarsdock fmt` on files that are not plain (issue 12 item 11): it runs as root beside
//! tarsnode, so it must not replace a link by a regular file, split hard links, or change who
//! owns a template. (A change made to the file while `fmt` runs is covered by the unit tests
//! of `commands::fmt`, which can change the file at the worst moment.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Command;

const UNFORMATTED: &str = "<a>\nk=1\n</a>\n";
const FORMATTED: &str = "<a>\n  k=1\n</a>\n";

fn fmt(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tarsdock"))
        .arg("fmt")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run tarsdock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mode_owner_and_group_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.conf");
    std::fs::write(&path, UNFORMATTED).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    // As root (as tarsdock runs beside tarsnode) the file can belong to someone else; as
    // another user only the mode can differ from a fresh file's.
    let root = is_root();
    if root {
        std::os::unix::fs::chown(&path, Some(1234), Some(5678)).unwrap();
    }
    let before = std::fs::metadata(&path).unwrap();
    let (code, err) = fmt(dir.path(), &["t.conf"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FORMATTED);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_ne!(
        after.ino(),
        before.ino(),
        "written through a new file, swapped in"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn a_symbolic_link_is_refused_unless_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.conf");
    std::fs::write(&target, UNFORMATTED).unwrap();
    std::os::unix::fs::symlink("real.conf", dir.path().join("link.conf")).unwrap();
    let (code, err) = fmt(dir.path(), &["link.conf"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), UNFORMATTED);
    let (code, err) = fmt(dir.path(), &["--follow", "link.conf"]);
    assert_eq!(code, 0, "{err}");
    let link = std::fs::symlink_metadata(dir.path().join("link.conf")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), FORMATTED);
}

#[test]
fn a_file_with_several_hard_links_is_refused_unless_followed() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.conf");
    let b = dir.path().join("b.conf");
    std::fs::write(&a, UNFORMATTED).unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    let (code, err) = fmt(dir.path(), &["a.conf"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("hard links"), "{err}");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), UNFORMATTED);
    let (code, err) = fmt(dir.path(), &["--follow", "a.conf"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&b).unwrap(),
        FORMATTED,
        "both names"
    );
    let (ma, mb) = (
        std::fs::metadata(&a).unwrap(),
        std::fs::metadata(&b).unwrap(),
    );
    assert_eq!((ma.ino(), ma.nlink()), (mb.ino(), 2), "still one file");
}

fn is_root() -> bool {
    // The owner of a file this process creates is its effective uid.
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}
