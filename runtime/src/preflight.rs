//! Binary preflight: before a service's container is created (the first start on an image, and
//! every new package), its executable is checked against what the image holds — the ELF
//! interpreter (the loader), every `DT_NEEDED` library, and every symbol version it needs
//! (`GLIBC_2.34` from `libc.so.6`) — so that a binary built for another environment is refused
//! with a diagnostic naming what is missing, instead of starting and dying with a loader error
//! in its log. Static binaries pass at once; files that are not ELF (scripts, jars) are not
//! checked.
//!
//! The files are read through the Engine API without running anything: a container is created
//! (never started) from the service's own create body — so the service's mounts are there and
//! the package's libraries beside the executable are found as the loader would find them — and
//! read with `GET /containers/{id}/archive`; symbolic links are followed inside the
//! container's view, a bounded number of hops. Every read is bounded (file size, total bytes,
//! number of objects), and the container is removed afterwards.
//!
//! The search follows the loader: the object's `DT_RUNPATH`/`DT_RPATH` (with `$ORIGIN`), the
//! container's `LD_LIBRARY_PATH` and the executable's directory (`tars_start.sh` puts it on
//! `LD_LIBRARY_PATH`), then the default and multiarch directories. Directories added only by
//! `/etc/ld.so.conf` are not read (a library found only there is reported missing).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

use goblin::elf::Elf;
use goblin::elf::header::{EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64};
use parser::CodeInfo;
use serde::Serialize;

parser::define_codes! {
    MISSING_LOADER = "TARS-B001", "missing-loader", Error,
    "the executable's ELF interpreter (dynamic loader) is not in the image",
"## What it does
Before a service's container is created, reads the executable's ELF interpreter
(`PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`) and looks for it in the image (through the
Engine API, without running anything). Refuses the launch when it is not there.

## Why is this bad?
Without its loader a dynamically linked program cannot start at all: the kernel answers
`exec` with `ENOENT` (\"no such file or directory\", for a file that plainly exists), the
container dies at once, and the reason is buried in its log. A typical case is a binary built
with glibc on a build machine and deployed onto a minimal image (busybox, alpine).

## Example
A service built on Debian (`interpreter /lib64/ld-linux-x86-64.so.2`) deployed with
`--image busybox-static`.

Use instead: link the service statically (`-static`, or Rust's `+crt-static`), or run it on a
base image built like its build environment.";

    MISSING_LIBRARY = "TARS-B002", "missing-library", Error,
    "a shared library the executable needs is neither in the image nor in its package",
"## What it does
Follows the executable's `DT_NEEDED` entries (and those of every library found) the way the
dynamic loader does — `DT_RUNPATH`/`DT_RPATH` with `$ORIGIN`, `LD_LIBRARY_PATH` and the
executable's own directory, then the default and multiarch library directories of the image —
and refuses the launch when one cannot be found.

## Why is this bad?
The loader stops with `error while loading shared libraries: libX.so.N: cannot open shared
object file` before the service runs a line of its own.

## Example
A C++ server needing `libstdc++.so.6` on an image that has only the C library.

Use instead: ship the library in the package beside the executable (`tars_start.sh` puts
that directory on `LD_LIBRARY_PATH`), install it in the image, or link statically.";

    MISSING_SYMBOL_VERSION = "TARS-B003", "missing-symbol-version", Error,
    "a library in the image lacks a symbol version the executable needs (e.g. a newer GLIBC)",
"## What it does
Compares the symbol versions each object requires (`.gnu.version_r`, e.g. `GLIBC_2.34` from
`libc.so.6`) with the versions the library found in the image defines (`.gnu.version_d`).

## Why is this bad?
A program linked against a newer glibc than the image's starts its loader and fails with
`version 'GLIBC_2.34' not found`. This is the case upstream's seed warns about: \"if you use
the official base images, your build environment must match theirs\".

## Example
A server built on a distribution with glibc 2.36, deployed on an image with glibc 2.28.

Use instead: build on (or for) the image's distribution, or link statically.";

    FOREIGN_ARCHITECTURE = "TARS-B004", "foreign-architecture", Error,
    "the executable is built for another machine than the image",
"## What it does
Compares the executable's ELF machine (x86-64, AArch64, …) with the image's architecture.

## Why is this bad?
The kernel refuses to run it (`exec format error`), unless an emulator is registered, in
which case it runs many times slower without saying so.

## Example
An `aarch64` build deployed onto an `amd64` image.

Use instead: build the service for the image's architecture.";
}

/// How many symbolic links are followed for one path (the kernel's own limit is 40).
const MAX_LINK_HOPS: usize = 16;
/// The largest executable read (a Tars server with debug information can be big).
pub const MAX_EXECUTABLE: usize = 256 * 1024 * 1024;
/// The largest library read.
pub const MAX_LIBRARY: usize = 64 * 1024 * 1024;
/// The most bytes read for one check.
pub const MAX_TOTAL: usize = 512 * 1024 * 1024;
/// The most objects (executable and libraries) loaded for one check.
pub const MAX_OBJECTS: usize = 128;

/// One finding of the preflight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `TARS-B001` …
    pub code: &'static str,
    /// The rule name, `missing-loader` …
    pub rule: &'static str,
    pub message: String,
}

impl Finding {
    /// The message names paths and library names read from the request and the ELF files:
    /// untrusted text, shown escaped.
    fn new(info: &CodeInfo, message: String) -> Self {
        Self {
            code: info.code.as_str(),
            rule: info.name,
            message: parser::terminal::escape_controls(&message).into_owned(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

/// What kind of executable was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryKind {
    /// No interpreter and no libraries: nothing to find in the image.
    Static,
    /// Loader and libraries were looked for.
    Dynamic,
    /// Not an ELF file (a script, a jar): not checked.
    NotElf,
    /// Larger than [`MAX_EXECUTABLE`]: not checked.
    TooLarge,
    /// Not found in the container's view (the start script will say so).
    Absent,
}

/// A library and where it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub name: String,
    pub path: String,
}

/// The outcome of a preflight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    pub executable: String,
    pub image: String,
    pub kind: BinaryKind,
    pub interpreter: Option<String>,
    pub libraries: Vec<Found>,
    /// Empty when the executable can start on the image.
    pub findings: Vec<Finding>,
}

/// What a path is in the container's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    File(Vec<u8>),
    Link(String),
    Missing,
    /// A regular file over the limit asked for.
    TooLarge,
    /// A directory, device, …
    Other,
}

/// A read-only view of a container's files.
pub trait Files {
    /// Reads `path` without following a final symbolic link; files over `limit` bytes are
    /// [`Entry::TooLarge`].
    fn read(
        &mut self,
        path: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Entry, String>> + Send;
}

/// A loaded object: what the check needs from its ELF.
struct Object {
    path: String,
    machine: u16,
    is_64: bool,
    needed: Vec<String>,
    search: Vec<String>,
    /// (library name, versions needed from it)
    verneed: Vec<(String, Vec<String>)>,
    verdef: BTreeSet<String>,
}

impl Object {
    fn parse(path: &str, bytes: &[u8]) -> Option<Self> {
        let elf = Elf::parse(bytes).ok()?;
        let dir = parent(path);
        let mut search = Vec::new();
        // DT_RUNPATH wins over DT_RPATH when both are there, as in the loader.
        let paths = if elf.runpaths.is_empty() {
            &elf.rpaths
        } else {
            &elf.runpaths
        };
        for entry in paths {
            for part in entry.split(':').filter(|p| !p.is_empty()) {
                search.push(part.replace("${ORIGIN}", &dir).replace("$ORIGIN", &dir));
            }
        }
        let mut verneed = Vec::new();
        if let Some(section) = &elf.verneed {
            for need in section.iter() {
                let file = elf.dynstrtab.get_at(need.vn_file).unwrap_or_default();
                let versions = need
                    .iter()
                    .filter_map(|aux| elf.dynstrtab.get_at(aux.vna_name))
                    .map(str::to_owned)
                    .collect();
                verneed.push((file.to_owned(), versions));
            }
        }
        let mut verdef = BTreeSet::new();
        if let Some(section) = &elf.verdef {
            for def in section.iter() {
                // The first auxiliary entry is the version's own name; the rest are parents.
                if let Some(aux) = def.iter().next()
                    && let Some(name) = elf.dynstrtab.get_at(aux.vda_name)
                {
                    verdef.insert(name.to_owned());
                }
            }
        }
        Some(Self {
            path: path.to_owned(),
            machine: elf.header.e_machine,
            is_64: elf.is_64,
            needed: elf.libraries.iter().map(|s| (*s).to_owned()).collect(),
            search,
            verneed,
            verdef,
        })
    }
}

/// What the check needs to know besides the files.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The image reference, for messages.
    pub image: String,
    /// The image's architecture as the engine names it (`amd64`, `arm64`), when known.
    pub architecture: Option<String>,
    /// `LD_LIBRARY_PATH` of the container's environment.
    pub library_path: Vec<String>,
}

/// Checks `executable` against the files of `files`.
///
/// # Errors
/// When the files cannot be read (engine errors); findings are not errors.
pub async fn check<F: Files>(
    files: &mut F,
    executable: &str,
    context: &Context,
) -> Result<PreflightReport, String> {
    let mut budget = MAX_TOTAL;
    let mut report = PreflightReport {
        executable: executable.to_owned(),
        image: context.image.clone(),
        kind: BinaryKind::Static,
        interpreter: None,
        libraries: Vec::new(),
        findings: Vec::new(),
    };
    let (path, bytes) = match resolve(files, executable, MAX_EXECUTABLE, &mut budget).await? {
        Resolved::File(path, bytes) => (path, bytes),
        Resolved::Missing(_) => {
            report.kind = BinaryKind::Absent;
            return Ok(report);
        }
        Resolved::TooLarge => {
            report.kind = BinaryKind::TooLarge;
            return Ok(report);
        }
    };
    let (interpreter, exe) = match Elf::parse(&bytes) {
        Ok(elf) => (
            elf.interpreter.map(str::to_owned),
            Object::parse(&path, &bytes),
        ),
        Err(_) => (None, None),
    };
    drop(bytes);
    let Some(exe) = exe else {
        report.kind = BinaryKind::NotElf;
        return Ok(report);
    };
    if let Some(arch) = &context.architecture
        && let Some(expected) = machine_of(arch)
        && expected != exe.machine
    {
        report.findings.push(Finding::new(
            &FOREIGN_ARCHITECTURE,
            format!(
                "{executable} is built for {}, but image {} is {arch}",
                machine_name(exe.machine),
                context.image
            ),
        ));
        return Ok(report);
    }
    if interpreter.is_none() && exe.needed.is_empty() {
        return Ok(report);
    }
    report.kind = BinaryKind::Dynamic;
    let mut loaded: HashMap<String, Object> = HashMap::new();

    if let Some(interp) = &interpreter {
        report.interpreter = Some(interp.clone());
        match resolve(files, interp, MAX_LIBRARY, &mut budget).await? {
            Resolved::File(path, bytes) => {
                if let Some(object) = Object::parse(&path, &bytes) {
                    let name = file_name(interp).to_owned();
                    loaded.insert(name, object);
                }
            }
            Resolved::Missing(hop) => report.findings.push(Finding::new(
                &MISSING_LOADER,
                format!(
                    "{executable} needs the loader {interp}, which image {} does not have{}",
                    context.image,
                    hop.filter(|h| h != interp)
                        .map(|h| format!(" ({interp} leads to {h}, which is missing)"))
                        .unwrap_or_default()
                ),
            )),
            Resolved::TooLarge => {}
        }
    }

    // Breadth first, as the loader orders its search.
    let mut queue: VecDeque<(String, String)> = exe
        .needed
        .iter()
        .map(|n| (n.clone(), executable.to_owned()))
        .collect();
    let exe_dir = parent(&path);
    let objects: Vec<Object> = vec![exe];
    let mut missing = BTreeSet::new();
    while let Some((name, requester)) = queue.pop_front() {
        if loaded.contains_key(&name) || missing.contains(&name) {
            continue;
        }
        // The loader itself, when it is missing, is reported once (as the loader).
        if interpreter.as_deref().is_some_and(|i| file_name(i) == name)
            && report
                .findings
                .iter()
                .any(|f| f.code == MISSING_LOADER.code.as_str())
        {
            continue;
        }
        if loaded.len() + objects.len() >= MAX_OBJECTS {
            break;
        }
        let requester_object = objects
            .iter()
            .chain(loaded.values())
            .find(|o| o.path == requester || requester == executable && o.path == path);
        let mut dirs: Vec<String> = requester_object
            .map(|o| o.search.clone())
            .unwrap_or_default();
        dirs.extend(context.library_path.iter().cloned());
        dirs.push(exe_dir.clone());
        dirs.extend(default_dirs(objects[0].machine, objects[0].is_64));
        dedup(&mut dirs);
        let candidates: Vec<String> = if name.contains('/') {
            vec![name.clone()]
        } else {
            dirs.iter().map(|d| join(d, &name)).collect()
        };
        let mut found = None;
        for candidate in &candidates {
            if let Resolved::File(real, bytes) =
                resolve(files, candidate, MAX_LIBRARY, &mut budget).await?
                && let Some(object) = Object::parse(&real, &bytes)
                // The loader skips a library of another class or machine and searches on.
                && object.machine == objects[0].machine
                && object.is_64 == objects[0].is_64
            {
                found = Some((candidate.clone(), object));
                break;
            }
        }
        match found {
            Some((at, object)) => {
                report.libraries.push(Found {
                    name: name.clone(),
                    path: at,
                });
                for needed in &object.needed {
                    queue.push_back((needed.clone(), object.path.clone()));
                }
                loaded.insert(name, object);
            }
            None => {
                report.findings.push(Finding::new(
                    &MISSING_LIBRARY,
                    format!(
                        "{} needs {name}, which is neither in image {} nor beside the \
                         executable (searched {})",
                        if requester == executable {
                            executable.to_owned()
                        } else {
                            requester.clone()
                        },
                        context.image,
                        if name.contains('/') {
                            name.clone()
                        } else {
                            dirs.join(", ")
                        }
                    ),
                ));
                missing.insert(name);
            }
        }
    }

    // Symbol versions: every object's needs against the definitions of what was found.
    let mut everyone: Vec<&Object> = objects.iter().collect();
    everyone.extend(loaded.values());
    for object in everyone {
        for (library, versions) in &object.verneed {
            let Some(provider) = loaded.get(library) else {
                continue;
            };
            let absent: Vec<&String> = versions
                .iter()
                .filter(|v| !provider.verdef.contains(*v))
                .collect();
            if absent.is_empty() {
                continue;
            }
            let prefix = absent[0].split('_').next().unwrap_or_default().to_owned();
            let newest = provider
                .verdef
                .iter()
                .filter(|v| v.starts_with(&format!("{prefix}_")))
                .max_by(|a, b| version_order(a, b));
            report.findings.push(Finding::new(
                &MISSING_SYMBOL_VERSION,
                format!(
                    "{} needs {} from {library}, but image {}'s {library} ({}) {}",
                    object.path,
                    absent
                        .iter()
                        .map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    context.image,
                    provider.path,
                    newest.map_or_else(
                        || "defines no such version".to_owned(),
                        |n| format!("provides up to {n}")
                    )
                ),
            ));
        }
    }
    report
        .findings
        .sort_by(|a, b| (a.code, &a.message).cmp(&(b.code, &b.message)));
    report.findings.dedup();
    Ok(report)
}

/// A created, never started container's files, read with `GET /containers/{id}/archive`.
pub struct EngineFiles<'a> {
    pub docker: &'a bollard::Docker,
    pub container: &'a str,
    /// The longest one read may take.
    pub limit: std::time::Duration,
}

impl Files for EngineFiles<'_> {
    async fn read(&mut self, path: &str, limit: usize) -> Result<Entry, String> {
        use futures_util::StreamExt as _;
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let stream = self
            .docker
            .download_from_container(self.container, Some(options));
        let mut stream = Box::pin(stream);
        let deadline = tokio::time::Instant::now() + self.limit;
        // The tar stream: one header (PAX and GNU long-name records add a few), the content,
        // padding. Read no more than the limit allows.
        let cap = limit.saturating_add(64 * 1024);
        let mut archive = Vec::new();
        let mut truncated = false;
        loop {
            let Ok(next) = tokio::time::timeout_at(deadline, stream.next()).await else {
                return Err(format!(
                    "reading {path} from the image took longer than {}s",
                    self.limit.as_secs()
                ));
            };
            let Some(chunk) = next else { break };
            match chunk {
                Ok(bytes) => {
                    archive.extend_from_slice(&bytes);
                    if archive.len() > cap {
                        truncated = true;
                        break;
                    }
                }
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(Entry::Missing),
                Err(e) => return Err(format!("cannot read {path} from the image: {e}")),
            }
        }
        drop(stream);
        first_entry(&archive, limit, truncated)
    }
}

/// The first entry of a tar archive as an [`Entry`].
fn first_entry(archive: &[u8], limit: usize, truncated: bool) -> Result<Entry, String> {
    let mut tar = tar::Archive::new(archive);
    let mut entries = tar.entries().map_err(|e| e.to_string())?;
    let Some(entry) = entries.next() else {
        return Ok(Entry::Missing);
    };
    let mut entry = match entry {
        Ok(entry) => entry,
        // A header cut off by the read limit: a file far over the limit.
        Err(_) if truncated => return Ok(Entry::TooLarge),
        Err(e) => return Err(format!("unreadable archive from the engine: {e}")),
    };
    let kind = entry.header().entry_type();
    if kind.is_symlink() {
        let target = entry
            .link_name()
            .map_err(|e| e.to_string())?
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(Entry::Link(target));
    }
    if !kind.is_file() {
        return Ok(Entry::Other);
    }
    let size = entry.header().size().map_err(|e| e.to_string())?;
    if usize::try_from(size).map_or(true, |s| s > limit) {
        return Ok(Entry::TooLarge);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| {
        if truncated {
            "the file grew past its limit while it was read".to_owned()
        } else {
            e.to_string()
        }
    })?;
    Ok(Entry::File(bytes))
}

enum Resolved {
    File(String, Vec<u8>),
    /// Missing; the path where the chain of links broke, when it was a link's target.
    Missing(Option<String>),
    TooLarge,
}

/// Reads `path`, following symbolic links in the container's view.
async fn resolve<F: Files>(
    files: &mut F,
    path: &str,
    limit: usize,
    budget: &mut usize,
) -> Result<Resolved, String> {
    let mut current = normalize(path);
    for _ in 0..=MAX_LINK_HOPS {
        match files.read(&current, limit.min(*budget)).await? {
            Entry::File(bytes) => {
                *budget = budget.saturating_sub(bytes.len());
                return Ok(Resolved::File(current, bytes));
            }
            Entry::Link(target) => {
                current = if target.starts_with('/') {
                    normalize(&target)
                } else {
                    normalize(&join(&parent(&current), &target))
                };
            }
            Entry::Missing => {
                return Ok(Resolved::Missing(
                    (current != normalize(path)).then_some(current),
                ));
            }
            Entry::TooLarge => return Ok(Resolved::TooLarge),
            Entry::Other => return Ok(Resolved::Missing(None)),
        }
    }
    Ok(Resolved::Missing(Some(current)))
}

/// The loader's default directories, with Debian's multiarch ones for the machine.
fn default_dirs(machine: u16, is_64: bool) -> Vec<String> {
    let triple = match machine {
        EM_X86_64 => Some("x86_64-linux-gnu"),
        EM_AARCH64 => Some("aarch64-linux-gnu"),
        EM_386 => Some("i386-linux-gnu"),
        EM_ARM => Some("arm-linux-gnueabihf"),
        EM_PPC64 => Some("powerpc64le-linux-gnu"),
        EM_S390 => Some("s390x-linux-gnu"),
        EM_RISCV => Some("riscv64-linux-gnu"),
        _ => None,
    };
    let mut dirs = Vec::new();
    if let Some(triple) = triple {
        dirs.push(format!("/lib/{triple}"));
        dirs.push(format!("/usr/lib/{triple}"));
    }
    if is_64 {
        dirs.push("/lib64".to_owned());
        dirs.push("/usr/lib64".to_owned());
    }
    dirs.push("/lib".to_owned());
    dirs.push("/usr/lib".to_owned());
    dirs.push("/usr/local/lib".to_owned());
    dirs
}

fn machine_of(architecture: &str) -> Option<u16> {
    Some(match architecture {
        "amd64" | "x86_64" => EM_X86_64,
        "arm64" | "aarch64" => EM_AARCH64,
        "386" | "i386" => EM_386,
        "arm" => EM_ARM,
        "ppc64le" | "ppc64" => EM_PPC64,
        "s390x" => EM_S390,
        "riscv64" => EM_RISCV,
        _ => return None,
    })
}

fn machine_name(machine: u16) -> String {
    match machine {
        EM_X86_64 => "x86-64".to_owned(),
        EM_AARCH64 => "aarch64".to_owned(),
        EM_386 => "i386".to_owned(),
        EM_ARM => "arm".to_owned(),
        EM_PPC64 => "ppc64".to_owned(),
        EM_S390 => "s390x".to_owned(),
        EM_RISCV => "riscv".to_owned(),
        other => format!("ELF machine {other}"),
    }
}

/// Orders `GLIBC_2.9` before `GLIBC_2.34` (numerically by component).
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| -> Vec<u64> {
        v.rsplit('_')
            .next()
            .unwrap_or_default()
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    key(a).cmp(&key(b))
}

fn dedup(dirs: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
}

fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".to_owned(),
        Some((dir, _)) => dir.to_owned(),
        None => ".".to_owned(),
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// `/a/./b/../c` → `/a/c` (lexically, as the container's root is the root).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files from this host, under a map of container path → host path or link.
    struct HostFiles(HashMap<String, Entry>);

    impl HostFiles {
        fn new() -> Self {
            Self(HashMap::new())
        }
        fn file(mut self, at: &str, host: &str) -> Self {
            self.0
                .insert(at.to_owned(), Entry::File(std::fs::read(host).unwrap()));
            self
        }
        fn link(mut self, at: &str, target: &str) -> Self {
            self.0.insert(at.to_owned(), Entry::Link(target.to_owned()));
            self
        }
    }

    impl Files for HostFiles {
        async fn read(&mut self, path: &str, limit: usize) -> Result<Entry, String> {
            Ok(match self.0.get(path) {
                Some(Entry::File(b)) if b.len() > limit => Entry::TooLarge,
                Some(e) => e.clone(),
                None => Entry::Missing,
            })
        }
    }

    const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
    const MULTIARCH: &str = "/lib/x86_64-linux-gnu";

    fn context() -> Context {
        Context {
            image: "test/image:1".into(),
            architecture: Some("amd64".into()),
            library_path: Vec::new(),
        }
    }

    /// The running test binary: a dynamically linked glibc program.
    fn this_exe() -> String {
        std::env::current_exe().unwrap().display().to_string()
    }

    /// The host's glibc files this test binary needs, at the same paths.
    fn glibc() -> Option<HostFiles> {
        let loader = std::fs::canonicalize(LOADER).ok()?;
        let mut files = HostFiles::new()
            .file("/app/bin/server", &this_exe())
            .file(&loader.display().to_string(), &loader.display().to_string())
            .link(LOADER, &loader.display().to_string());
        for lib in ["libc.so.6", "libgcc_s.so.1", "libm.so.6"] {
            let host = format!("{MULTIARCH}/{lib}");
            if std::path::Path::new(&host).exists() {
                files = files.file(&host, &host);
            }
        }
        Some(files)
    }

    fn run(files: &mut HostFiles, exe: &str) -> PreflightReport {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(check(files, exe, &context())).unwrap()
    }

    #[test]
    fn a_dynamic_binary_on_an_image_with_its_glibc_passes() {
        let Some(mut files) = glibc() else { return };
        let report = run(&mut files, "/app/bin/server");
        assert_eq!(report.kind, BinaryKind::Dynamic);
        assert_eq!(report.findings, [], "{report:#?}");
        assert_eq!(report.interpreter.as_deref(), Some(LOADER));
        assert!(report.libraries.iter().any(|l| l.name == "libc.so.6"));
    }

    #[test]
    fn a_missing_loader_and_libraries_are_named() {
        let mut files = HostFiles::new().file("/app/bin/server", &this_exe());
        let report = run(&mut files, "/app/bin/server");
        let codes: Vec<&str> = report.findings.iter().map(|f| f.code).collect();
        assert!(codes.contains(&"TARS-B001"), "{report:#?}");
        assert!(codes.contains(&"TARS-B002"), "{report:#?}");
        let loader = &report.findings[0].message;
        assert!(
            loader.contains(LOADER) && loader.contains("test/image:1"),
            "{loader}"
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("needs libc.so.6")),
            "{report:#?}"
        );
    }

    #[test]
    fn a_library_beside_the_executable_is_found() {
        let Some(mut files) = glibc() else { return };
        // libgcc_s only in the package directory, not in the image.
        files.0.remove(&format!("{MULTIARCH}/libgcc_s.so.1"));
        files = files.file(
            "/app/bin/libgcc_s.so.1",
            &format!("{MULTIARCH}/libgcc_s.so.1"),
        );
        let report = run(&mut files, "/app/bin/server");
        assert_eq!(report.findings, [], "{report:#?}");
        assert!(
            report
                .libraries
                .iter()
                .any(|l| l.path == "/app/bin/libgcc_s.so.1")
        );
    }

    #[test]
    fn an_older_library_lacking_a_version_is_named_with_what_it_has() {
        let Some(mut files) = glibc() else { return };
        // An "image" whose libc.so.6 is another library: it defines no GLIBC_ versions.
        files = files.file(
            &format!("{MULTIARCH}/libc.so.6"),
            &format!("{MULTIARCH}/libgcc_s.so.1"),
        );
        let report = run(&mut files, "/app/bin/server");
        let version = report
            .findings
            .iter()
            .find(|f| f.code == "TARS-B003")
            .unwrap_or_else(|| panic!("{report:#?}"));
        assert!(version.message.contains("GLIBC_2."), "{}", version.message);
        assert!(
            version.message.contains("from libc.so.6"),
            "{}",
            version.message
        );
    }

    #[test]
    fn static_binaries_and_other_files_pass() {
        let mut files = HostFiles(HashMap::from([(
            "/app/start.sh".to_owned(),
            Entry::File(b"#!/bin/sh\nexec server\n".to_vec()),
        )]));
        assert_eq!(run(&mut files, "/app/start.sh").kind, BinaryKind::NotElf);
        assert_eq!(run(&mut files, "/app/nothing").kind, BinaryKind::Absent);
    }

    #[test]
    fn a_foreign_machine_is_refused() {
        let mut files = HostFiles::new().file("/app/bin/server", &this_exe());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let context = Context {
            architecture: Some("arm64".into()),
            ..context()
        };
        let report = rt
            .block_on(check(&mut files, "/app/bin/server", &context))
            .unwrap();
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].code, "TARS-B004");
        assert!(report.findings[0].message.contains("x86-64"));
    }

    #[test]
    fn link_loops_end() {
        let mut files = HostFiles::new().link("/a", "/b").link("/b", "/a");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut budget = MAX_TOTAL;
        let resolved = rt
            .block_on(resolve(&mut files, "/a", 10, &mut budget))
            .unwrap();
        assert!(matches!(resolved, Resolved::Missing(_)));
    }

    #[test]
    fn paths_and_versions() {
        assert_eq!(normalize("/a/./b/../c//d"), "/a/c/d");
        assert_eq!(normalize("/../../x"), "/x");
        assert_eq!(parent("/lib64/ld.so"), "/lib64");
        assert_eq!(parent("/ld.so"), "/");
        assert_eq!(
            version_order("GLIBC_2.9", "GLIBC_2.34"),
            std::cmp::Ordering::Less
        );
    }
}
