//! `tarsdock fmt FILE...`: re-indents templates in place, or checks them.
//!
//! A file is replaced the way an editor that cares does it: the new text goes to a temporary
//! file beside the target (created exclusively), gets the target's mode, owner and group, and
//! is swapped in with one atomic exchange (`renameat2(RENAME_EXCHANGE)`), so a reader never
//! sees half a template. The file is checked to be the one that was read, with the content
//! that was read, just before the swap and again just after it (through the descriptor of the
//! old file): a change in between — an append by a service or an operator — swaps the old file
//! back, so nothing written meanwhile is lost. A symbolic link or a file with several hard
//! links is refused unless `--follow` says what to do with it.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rustix::fs::{CWD, Mode, OFlags, RenameFlags};

use crate::exit::Status;
use crate::render::{self, Report};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Template files (`-` formats standard input to standard output).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Write nothing; exit 1 when a file would change.
    #[arg(long)]
    pub(crate) check: bool,
    /// Format the file a symbolic link points to (the link stays), and rewrite a file with
    /// several hard links in place (every name sees the change). Without it both are refused.
    #[arg(long)]
    pub(crate) follow: bool,
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let mut status = Status::Success;
    for path in &args.files {
        let target = if path.as_os_str() == "-" {
            None
        } else {
            Some(Target::open(path, args.follow)?)
        };
        let text = match &target {
            Some(target) => target.original.clone(),
            None => super::input::read(path)?,
        };
        let parse = parser::parse(text.clone());
        if parse.has_errors() {
            let mut report = Report::new();
            let id = report
                .sources
                .add(super::input::display_name(path, None), text.clone());
            report.diagnostics = parse
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == parser::Severity::Error)
                .map(|mut d| {
                    d.relocate(id);
                    d
                })
                .collect();
            report.omitted_by_parse(id, parse.omitted);
            eprint!("{}", render::human::render(&report, false, 100));
            eprintln!("error: not formatting {}: it has errors", path.display());
            status = Status::Findings;
            continue;
        }
        let formatted = match parser::fmt::format(&parse) {
            Ok(formatted) => formatted,
            Err(e) => {
                eprintln!("error: not formatting {}: {e}", path.display());
                status = Status::Findings;
                continue;
            }
        };
        let Some(target) = target else {
            std::io::stdout().lock().write_all(&formatted)?;
            continue;
        };
        if formatted == text {
            continue;
        }
        if args.check {
            eprintln!("would reformat {}", path.display());
            status = Status::Findings;
        } else {
            target.replace(&formatted, || {})?;
            eprintln!("formatted {}", path.display());
        }
    }
    Ok(status)
}

/// Replaces the template at `path`, which the caller read as `original`, with `text`, through
/// the discipline of `fmt` (`lint --fix` writes this way): refused when `path` is a symbolic
/// link or has several hard links, or no longer holds `original`; mode, owner and group kept.
pub(crate) fn write_atomically(path: &Path, original: &[u8], text: &[u8]) -> anyhow::Result<()> {
    let target = Target::open(path, false)?;
    if target.original != original {
        bail!(target.changed());
    }
    target.replace(text, || {})
}

/// A template file opened for formatting: the file (not followed if a link), what it was
/// when read, and its text.
pub(crate) struct Target {
    /// The path written: the argument, or with `--follow` the file a link points to.
    path: PathBuf,
    /// The file as opened; kept open so that its content can be checked after the swap.
    file: File,
    meta: std::fs::Metadata,
    original: Vec<u8>,
}

impl Target {
    pub(crate) fn open(path: &Path, follow: bool) -> anyhow::Result<Self> {
        let link = std::fs::symlink_metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let real = if link.file_type().is_symlink() {
            if !follow {
                bail!(
                    "{} is a symbolic link: not replaced (use --follow to format the file it \
                     points to)",
                    path.display()
                );
            }
            std::fs::canonicalize(path)
                .with_context(|| format!("cannot resolve the link {}", path.display()))?
        } else {
            path.to_path_buf()
        };
        // O_NOFOLLOW: a link swapped in after the check above is refused, not followed.
        let fd = rustix::fs::openat(
            CWD,
            &real,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open {}", real.display()))?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if !meta.is_file() {
            bail!("{} is not a regular file", real.display());
        }
        if meta.nlink() > 1 && !follow {
            bail!(
                "{} has {} hard links: replacing it would split them (use --follow to rewrite \
                 it in place)",
                real.display(),
                meta.nlink()
            );
        }
        let mut original = Vec::new();
        (&file)
            .take(parser::limits::MAX_INPUT as u64 + 1)
            .read_to_end(&mut original)
            .with_context(|| format!("cannot read {}", real.display()))?;
        Ok(Self {
            path: real,
            file,
            meta,
            original,
        })
    }

    /// Replaces the file's content with `text`, keeping its mode, owner and group; refuses
    /// when the file changed since it was read. `before_swap` runs between the last check and
    /// the swap (tests use it to change the file at the worst moment).
    pub(crate) fn replace(&self, text: &[u8], before_swap: impl FnOnce()) -> anyhow::Result<()> {
        if self.meta.nlink() > 1 {
            return self.rewrite_in_place(text);
        }
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tarsdock-fmt")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        tmp.write_all(text)?;
        let file = tmp.as_file();
        file.set_permissions(std::fs::Permissions::from_mode(self.meta.mode() & 0o7777))?;
        rustix::fs::fchown(
            file,
            Some(rustix::fs::Uid::from_raw(self.meta.uid())),
            Some(rustix::fs::Gid::from_raw(self.meta.gid())),
        )
        .with_context(|| {
            format!(
                "cannot give the new file the owner and group of {}: not replaced",
                self.path.display()
            )
        })?;
        // chown may clear setuid/setgid bits: set the mode again.
        file.set_permissions(std::fs::Permissions::from_mode(self.meta.mode() & 0o7777))?;
        file.sync_all()?;
        self.check_unchanged()?;
        before_swap();
        match rustix::fs::renameat_with(CWD, tmp.path(), CWD, &self.path, RenameFlags::EXCHANGE) {
            Ok(()) => {
                // The old file now sits at the temporary path (and is removed with it).
                if !self.content_is_original()? {
                    rustix::fs::renameat_with(
                        CWD,
                        tmp.path(),
                        CWD,
                        &self.path,
                        RenameFlags::EXCHANGE,
                    )
                    .with_context(|| {
                        format!(
                            "{} changed while it was formatted and could not be put back; its \
                             content is in {}",
                            self.path.display(),
                            tmp.path().display()
                        )
                    })?;
                    bail!(self.changed());
                }
                Ok(())
            }
            // A file system without RENAME_EXCHANGE: a plain rename after the check.
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
                tmp.persist(&self.path)
                    .with_context(|| format!("cannot replace {}", self.path.display()))?;
                if !self.content_is_original()? {
                    bail!(
                        "{} changed while it was formatted; what was written to the old file \
                         meanwhile is not in the new one",
                        self.path.display()
                    );
                }
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("cannot replace {}", self.path.display())),
        }
    }

    /// A file with several names: written through the same inode, after the same check.
    fn rewrite_in_place(&self, text: &[u8]) -> anyhow::Result<()> {
        self.check_unchanged()?;
        let fd = rustix::fs::openat(
            CWD,
            &self.path,
            OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open {} for writing", self.path.display()))?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if (meta.dev(), meta.ino()) != (self.meta.dev(), self.meta.ino()) {
            bail!(self.changed());
        }
        file.write_all_at(text, 0)?;
        file.set_len(text.len() as u64)?;
        file.sync_all()?;
        Ok(())
    }

    /// The path still names the file that was read, and its content is what was read.
    fn check_unchanged(&self) -> anyhow::Result<()> {
        let now = std::fs::symlink_metadata(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        if (now.dev(), now.ino()) != (self.meta.dev(), self.meta.ino())
            || !self.content_is_original()?
        {
            bail!(self.changed());
        }
        Ok(())
    }

    /// Whether the open file (whatever its name now) holds exactly what was read.
    fn content_is_original(&self) -> anyhow::Result<bool> {
        let mut now = vec![0u8; self.original.len() + 1];
        let mut at = 0;
        while at < now.len() {
            let n = self.file.read_at(&mut now[at..], at as u64)?;
            if n == 0 {
                break;
            }
            at += n;
        }
        Ok(now[..at] == self.original[..])
    }

    fn changed(&self) -> String {
        format!(
            "{} changed since it was read: not replaced (run fmt again)",
            self.path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn template(dir: &Path) -> PathBuf {
        let path = dir.join("t.conf");
        std::fs::write(&path, "<a>\nk=1\n</a>\n").unwrap();
        path
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    /// Issue 12 item 11: a file changed after it was read is not replaced, and the change is
    /// kept.
    #[test]
    fn a_file_changed_since_it_was_read_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = template(dir.path());
        let target = Target::open(&path, false).unwrap();
        append(&path, "# appended\n");
        let err = target.replace(b"<a>\n  k=1\n</a>\n", || {}).unwrap_err();
        assert!(
            err.to_string().contains("changed since it was read"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "<a>\nk=1\n</a>\n# appended\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    /// An append that lands after the last check, just before the swap, is not lost either:
    /// the old file is swapped back.
    #[test]
    fn an_append_racing_the_swap_is_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = template(dir.path());
        let target = Target::open(&path, false).unwrap();
        let err = target
            .replace(b"<a>\n  k=1\n</a>\n", || append(&path, "# late\n"))
            .unwrap_err();
        assert!(
            err.to_string().contains("changed since it was read"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "<a>\nk=1\n</a>\n# late\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn an_unchanged_file_is_replaced_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = template(dir.path());
        let target = Target::open(&path, false).unwrap();
        target.replace(b"<a>\n  k=1\n</a>\n", || {}).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "<a>\n  k=1\n</a>\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
