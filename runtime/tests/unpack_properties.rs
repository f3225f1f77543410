//! Property test of package unpacking (issue 12): generated archives — random mixes of
//! directories, files, symbolic and hard links whose names and targets use `..`, `.`, absolute
//! paths, chains, self references and duplicates, a link then entries through it — are
//! scanned and unpacked into a directory that has a sibling "outside" tree. Whatever the
//! archive, nothing outside changes; a refused archive leaves nothing behind; an accepted one
//! holds exactly its files (content, normalised mode), and every link on disk resolves, by
//! the kernel, to something inside the package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use runtime::beneath::DirHandle;
use runtime::package::{Limits, Package};

/// One generated entry.
#[derive(Clone, Debug)]
enum Entry {
    Dir(String),
    File(String, u32, Vec<u8>),
    Symlink(String, String),
    Hardlink(String, String),
}

/// Path components the generator draws from: few names (so entries collide and nest), the
/// dangerous ones, and the way out to the sibling tree.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("a".to_owned()),
        3 => Just("b".to_owned()),
        3 => Just("c".to_owned()),
        3 => Just("lib".to_owned()),
        3 => Just("x.so".to_owned()),
        3 => Just("conf".to_owned()),
        2 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("outside".to_owned()),
        2 => Just("Server".to_owned()),
    ]
}

fn relative_path() -> impl Strategy<Value = String> {
    prop::collection::vec(component(), 1..4).prop_map(|parts| parts.join("/"))
}

/// A path without `..` (an entry name that can be accepted).
fn plain_path() -> impl Strategy<Value = String> {
    relative_path().prop_map(|p| p.replace("../", "").replace("/..", "").replace("..", "c"))
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => relative_path(),
        1 => relative_path().prop_map(|p| format!("/{p}")),
        1 => Just("/".to_owned()),
        1 => relative_path().prop_map(|p| format!("../../../{p}")),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    // Entry names are mostly plain (else nearly every archive is refused at once); link
    // targets are where the `..` go.
    let name = || prop_oneof![6 => plain_path(), 1 => relative_path()];
    prop_oneof![
        2 => name().prop_map(Entry::Dir),
        4 => (
            name(),
            prop_oneof![Just(0o644_u32), Just(0o755), Just(0o4755), Just(0o6777), Just(0o1777), Just(0o000)],
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(p, m, d)| Entry::File(p, m, d)),
        3 => (name(), target()).prop_map(|(p, t)| Entry::Symlink(p, t)),
        1 => (name(), relative_path()).prop_map(|(p, t)| Entry::Hardlink(p, t)),
    ]
}

/// Writes the entries as a tgz with raw header names (the tar crate's builder refuses `..`).
fn write_archive(path: &Path, entries: &[Entry]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for entry in entries {
        let (name, kind, mode, data, link): (&str, tar::EntryType, u32, &[u8], Option<&str>) =
            match entry {
                Entry::Dir(p) => (p, tar::EntryType::Directory, 0o755, b"", None),
                Entry::File(p, m, d) => (p, tar::EntryType::Regular, *m, d, None),
                Entry::Symlink(p, t) => (p, tar::EntryType::Symlink, 0o777, b"", Some(t)),
                Entry::Hardlink(p, t) => (p, tar::EntryType::Link, 0o644, b"", Some(t)),
            };
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.append(&header, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// Everything below `root` (links not followed): kind, mode, owner, bytes or link target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", meta.mode())
            } else {
                format!(
                    "file {:o} {} {:?}",
                    meta.mode(),
                    meta.uid(),
                    std::fs::read(&path).unwrap()
                )
            };
            out.insert(path.strip_prefix(root).unwrap().to_path_buf(), what);
        }
    }
    out
}

/// `path` as the package would hold it (`.` dropped), or `None` when it is refused anyway.
fn cleaned(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => out.push(other),
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Checks one archive; `Ok(true)` when it was accepted.
fn check(entries: &[Entry]) -> Result<bool, TestCaseError> {
    let temp = tempfile::tempdir().unwrap();
    // `into/` receives the package; `outside/` and a file beside them must never change.
    let into = temp.path().join("into");
    let outside = temp.path().join("outside");
    std::fs::create_dir_all(outside.join("a/b")).unwrap();
    std::fs::write(outside.join("a/b/c"), "precious").unwrap();
    std::fs::write(outside.join("Server"), "precious").unwrap();
    std::fs::write(temp.path().join("beside"), "precious").unwrap();
    std::fs::create_dir(&into).unwrap();
    let archive = temp.path().join("package.tgz");
    write_archive(&archive, entries);
    let before = snapshot(temp.path());

    let limits = Limits::default();
    let handle = DirHandle::open_root(&into).unwrap();
    let outcome = Package::scan(&archive, &limits).map(|package| {
        let unpacked = package.unpack(&handle, OsStr::new("staging"), &limits);
        (package, unpacked)
    });

    // Nothing outside `into/` changed, whatever happened.
    let mut after = snapshot(temp.path());
    after.retain(|path, _| !path.starts_with("into"));
    let mut expected = before.clone();
    expected.retain(|path, _| !path.starts_with("into"));
    prop_assert_eq!(&after, &expected, "something outside changed");

    let staging = into.join("staging");
    let (package, unpacked) = match outcome {
        Err(_) => {
            // Refused while checking: nothing was written at all.
            prop_assert!(std::fs::read_dir(&into).unwrap().next().is_none());
            return Ok(false);
        }
        Ok((_, Err(error))) => {
            prop_assert!(
                !staging.exists(),
                "a refused unpack left {staging:?}: {error}"
            );
            return Ok(false);
        }
        Ok((package, Ok(content))) => (package, content),
    };

    // Accepted: the content moves to where deploy puts it (its top directory, if any, is
    // renamed), and there the tree is the package, and only the package.
    let content = into.join("installed");
    std::fs::rename(into.join(&unpacked), &content).unwrap();
    let content_handle = DirHandle::open_root(&content).unwrap();
    let differences = package.verify(&content_handle, &limits).unwrap();
    prop_assert!(differences.is_empty(), "{differences:?}");
    let root = std::fs::canonicalize(&content).unwrap();
    for (path, what) in snapshot(&content) {
        let full = content.join(&path);
        let meta = std::fs::symlink_metadata(&full).unwrap();
        if what.starts_with("link") {
            // The kernel resolves it inside the package.
            let resolved = std::fs::canonicalize(&full);
            prop_assert!(
                resolved.as_ref().is_ok_and(|r| r.starts_with(&root)),
                "{path:?} -> {resolved:?} leaves {root:?}"
            );
        } else {
            prop_assert_eq!(
                meta.mode() & 0o7777 & !0o755,
                0,
                "{:?} has mode {:o}",
                path,
                meta.mode()
            );
        }
    }
    // Every file entry is there with its bytes (no duplicates were accepted, so each is last).
    let top = unpacked.strip_prefix("staging").unwrap().to_path_buf();
    for entry in entries {
        if let Entry::File(name, mode, data) = entry {
            let Some(path) = cleaned(name) else {
                continue;
            };
            let Ok(path) = path.strip_prefix(&top) else {
                prop_assert!(false, "{path:?} is outside the top directory {top:?}");
                continue;
            };
            let full = content.join(path);
            prop_assert_eq!(&std::fs::read(&full).unwrap(), data, "{:?}", path);
            let on_disk = std::fs::metadata(&full).unwrap().permissions().mode() & 0o7777;
            prop_assert_eq!(on_disk, mode & 0o755, "{:?}", path);
        }
    }
    Ok(true)
}

/// Archives as Tars packages are made half of the time: everything below one top directory
/// (whose contents become `bin/`, so a link may not climb out of it either). Half of the links
/// are aimed at another entry of the archive (through `..` as needed), which makes chains,
/// loops and self references common.
fn archive() -> impl Strategy<Value = Vec<Entry>> {
    (
        any::<bool>(),
        prop::collection::vec(entry(), 1..9),
        prop::collection::vec(any::<Option<prop::sample::Index>>(), 12),
    )
        .prop_map(|(top, entries, aims)| {
            let names: Vec<String> = entries
                .iter()
                .map(|e| match e {
                    Entry::Dir(p)
                    | Entry::File(p, _, _)
                    | Entry::Symlink(p, _)
                    | Entry::Hardlink(p, _) => p.clone(),
                })
                .collect();
            let entries = entries
                .into_iter()
                .zip(aims)
                .map(|(entry, aim)| match (entry, aim) {
                    (Entry::Symlink(p, _), Some(aim)) => {
                        let up = "../".repeat(p.split('/').count() - 1);
                        let target = format!("{up}{}", aim.get(&names));
                        Entry::Symlink(p, target)
                    }
                    (entry, _) => entry,
                });
            if !top {
                return entries.collect();
            }
            let under = |p: &str| format!("Top/{p}");
            entries
                .map(|entry| match entry {
                    Entry::Dir(p) => Entry::Dir(under(&p)),
                    Entry::File(p, m, d) => Entry::File(under(&p), m, d),
                    Entry::Symlink(p, t) => Entry::Symlink(under(&p), t),
                    // Hard link targets are named from the archive's root.
                    Entry::Hardlink(p, t) => Entry::Hardlink(under(&p), under(&t)),
                })
                .collect()
        })
}

#[test]
fn unpacking_never_reaches_outside() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 1024,
        ..ProptestConfig::default()
    });
    let accepted = std::cell::Cell::new(0_u32);
    runner
        .run(&archive(), |entries| {
            if check(&entries)? {
                accepted.set(accepted.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // The property says something about accepted archives only if there are some.
    assert!(
        accepted.get() >= 100,
        "only {} archives accepted",
        accepted.get()
    );
}

/// Hand-written cases the generator finds only by luck.
#[test]
fn known_escapes_are_contained() {
    use Entry::{Dir, File, Hardlink, Symlink};
    let file = |p: &str| File(p.to_owned(), 0o755, b"x".to_vec());
    let link = |p: &str, t: &str| Symlink(p.to_owned(), t.to_owned());
    let cases: Vec<Vec<Entry>> = vec![
        // The chained escape of issue 12 item 2.
        vec![
            file("Server"),
            link("d/e/s1", "../.."),
            link("d/e/s2", "s1/../../outside/a"),
        ],
        // A link, then a file written through it.
        vec![file("Server"), link("a", "../outside"), file("a/b/c")],
        // A directory swapped for a link after files went into it.
        vec![file("a/x"), link("a", "../outside")],
        // Self reference, loops, absolute targets, a hard link to something outside.
        vec![
            file("Server"),
            link("s", "s"),
            link("p", "q"),
            link("q", "p"),
        ],
        vec![file("Server"), link("abs", "/")],
        vec![
            file("Server"),
            Hardlink("h".to_owned(), "../outside/Server".to_owned()),
        ],
        vec![
            file("Server"),
            link("l", "Server"),
            Hardlink("h".to_owned(), "l".to_owned()),
        ],
        // Duplicates.
        vec![file("Server"), file("Server")],
        vec![Dir("a".to_owned()), file("a"), file("Server")],
        // Accepted: a .so chain and a link to a directory.
        vec![
            file("lib/libx.so.1.2"),
            link("lib/libx.so.1", "libx.so.1.2"),
            link("lib/libx.so", "libx.so.1"),
            link("current", "lib"),
        ],
    ];
    let mut accepted = 0;
    for entries in &cases {
        if check(entries).unwrap_or_else(|e| panic!("{entries:?}: {e}")) {
            accepted += 1;
        }
    }
    // Only the last case is a package to accept.
    assert_eq!(accepted, 1);
}
