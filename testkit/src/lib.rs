//! Test-only helpers shared by the crates' test suites.
//!
//! The upstream conformance fixtures stay in `../shared/fixtures-upstream` (never copied into
//! the project). Tests find them through `TARSDOCK_UPSTREAM_FIXTURES`, defaulting to that
//! folder beside the workspace. Where they are absent a test prints that it is skipped; under
//! `CI=true` their absence is a failure.

#![allow(clippy::print_stderr)]

use std::path::PathBuf;

pub mod daemon;
pub mod docker;
pub mod fake_engine;
pub mod output;

/// The environment variable naming the upstream fixtures folder.
pub const ENV: &str = "TARSDOCK_UPSTREAM_FIXTURES";

/// The workspace root (the folder holding the top-level `Cargo.toml`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The upstream fixtures folder, or `None` (after printing a skip notice) when it is absent.
///
/// # Panics
/// When the folder is absent and `CI=true`: conformance must not be skipped silently in CI.
#[must_use]
pub fn upstream_fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(ENV).map_or_else(
        || workspace_root().join("../shared/fixtures-upstream"),
        PathBuf::from,
    );
    if dir.join("golden").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: upstream fixtures not found at {} (set {ENV}); required under CI=true",
        dir.display()
    );
    eprintln!(
        "SKIPPED {test}: upstream fixtures not found at {} (set {ENV})",
        dir.display()
    );
    None
}

/// The environment variable naming the real upstream Tars service folder (HelloServer package
/// and `hello_client`, see its README).
pub const TARSCPP_HELLO_ENV: &str = "TARSDOCK_TARSCPP_HELLO";

/// The real upstream HelloServer folder (`../shared/third-party/tarscpp-hello`, or
/// [`TARSCPP_HELLO_ENV`]), or `None` (after printing a skip notice) when it is absent.
///
/// # Panics
/// When the folder is absent and `CI=true`.
#[must_use]
pub fn tarscpp_hello(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(TARSCPP_HELLO_ENV).map_or_else(
        || workspace_root().join("../shared/third-party/tarscpp-hello"),
        PathBuf::from,
    );
    if dir.join("HelloServer.tgz").is_file() && dir.join("hello_client").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: the real HelloServer (HelloServer.tgz, hello_client) was not found at {} \
         (set {TARSCPP_HELLO_ENV}); required under CI=true",
        dir.display()
    );
    eprintln!(
        "SKIPPED {test}: the real HelloServer was not found at {} (set {TARSCPP_HELLO_ENV})",
        dir.display()
    );
    None
}

/// The environment variable naming the upstream `tcconf` binary (upstream `TC_Config`
/// compiled unchanged; `../shared/bench/README.md`).
pub const TCCONF_ENV: &str = "TARSDOCK_TCCONF";

/// The upstream `tcconf` oracle, or `None` (after printing a skip notice) when it is absent.
///
/// # Panics
/// When it is absent and `CI=true`: differential tests must not be skipped silently in CI.
#[must_use]
pub fn upstream_tcconf(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os(TCCONF_ENV).map_or_else(
        || workspace_root().join("../shared/bench/upstream/tcconf"),
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: upstream tcconf not found at {} (set {TCCONF_ENV}); required under CI=true",
        path.display()
    );
    eprintln!(
        "SKIPPED {test}: upstream tcconf not found at {} (set {TCCONF_ENV})",
        path.display()
    );
    None
}

/// Reads a file that a test needs, with the path in the panic message.
///
/// # Panics
/// When the file cannot be read.
#[must_use]
pub fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The parent template the Tars installer (`deploy/tars-install.sh`, `update_template`)
/// assigns to each upstream template (`fixtures-upstream/templates/README.md`).
#[must_use]
pub fn installer_parent(name: &str) -> &'static str {
    match name {
        "tars.springboot" => "tars.tarsjava.default",
        "tars.tarsAdminRegistry"
        | "tars.tarsconfig"
        | "tars.tarsnotify"
        | "tars.tarsproperty"
        | "tars.tarsqueryproperty"
        | "tars.tarsstat"
        | "tars.tarsquerystat"
        | "tars.tarsregistry" => "tars.framework-db",
        _ => "tars.default",
    }
}
