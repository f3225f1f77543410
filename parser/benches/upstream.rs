//! tarsdock's parser side by side with upstream `TC_Config` (`../shared/bench/upstream/tcconf`,
//! upstream's `tc_config.cpp` compiled unchanged), in the same run on the same machine:
//! parse, `tostr` and join over the same inputs. Each round times tarsdock (on-CPU time of
//! this thread, `/proc/thread-self/schedstat`) and then upstream (`tcconf time`, which reports
//! its own thread's on-CPU time per iteration), so both sides see the same machine load;
//! the table gives the median over the rounds and the ratio tarsdock / upstream.
//!
//! Run with `cargo bench -p parser --bench upstream` (Linux; `TARSDOCK_TCCONF` names the
//! oracle, default `../shared/bench/upstream/tcconf`; without it, or without the upstream
//! fixtures, it says so and measures nothing).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::upstream_dir;
use parser::{Config, parse};

const ROUNDS: usize = 5;

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// On-CPU nanoseconds per call of `f` over `iters` calls.
fn ours(iters: u64, mut f: impl FnMut()) -> f64 {
    let t0 = cpu_ns().unwrap_or(0);
    for _ in 0..iters {
        f();
    }
    cpu_ns().unwrap_or(0).saturating_sub(t0) as f64 / iters as f64
}

/// Upstream's on-CPU nanoseconds per iteration of `op` over `files` (`tcconf time`).
fn theirs(tcconf: &Path, op: &str, iters: u64, files: &[PathBuf]) -> f64 {
    let out = Command::new(tcconf)
        .arg("time")
        .arg(op)
        .arg(iters.to_string())
        .args(files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("thread_ns_per_iter="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("tcconf time {op}: {text}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn show(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// One comparison: `iters` calls per round on each side, `ROUNDS` interleaved rounds.
fn compare(
    name: &str,
    tcconf: &Path,
    op: &str,
    files: &[PathBuf],
    iters: u64,
    mut f: impl FnMut(),
) {
    f(); // warm-up
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(ours(iters, &mut f));
        b.push(theirs(tcconf, op, iters, files));
    }
    let (a, b) = (median(a), median(b));
    println!("| {name} | {} | {} | {:.2}× |", show(a), show(b), a / b);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("upstream: measures only under `cargo bench`");
        return;
    }
    if cpu_ns().is_none() {
        eprintln!("SKIPPED upstream: /proc/thread-self/schedstat is not readable here");
        return;
    }
    let tcconf = std::env::var_os("TARSDOCK_TCCONF").map_or_else(
        || testkit::workspace_root().join("../shared/bench/upstream/tcconf"),
        PathBuf::from,
    );
    if !tcconf.is_file() {
        eprintln!("SKIPPED upstream: no tcconf at {}", tcconf.display());
        return;
    }
    let Some(dir) = upstream_dir() else { return };
    let mut template_files: Vec<PathBuf> = std::fs::read_dir(dir.join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    template_files.sort();
    let templates: Vec<Arc<[u8]>> = template_files
        .iter()
        .map(|p| Arc::from(std::fs::read(p).unwrap()))
        .collect();
    let large_file = dir.join("../bench/large-1mb.conf");
    let large: Arc<[u8]> = Arc::from(std::fs::read(&large_file).unwrap());
    let child_file = dir.join("templates/tars.cpp.default.conf");
    let parent_file = dir.join("golden/resolved/tars.default.conf");

    println!("| operation | tarsdock (on-CPU, median of {ROUNDS}) | upstream | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    compare(
        "parse (model only), 20 templates",
        &tcconf,
        "parse",
        &template_files,
        2_000,
        || {
            for t in &templates {
                black_box(Config::parse_upstream(Arc::clone(t)).ok());
            }
        },
    );
    compare(
        "parse (lines, model, diagnostics), 20 templates",
        &tcconf,
        "parse",
        &template_files,
        2_000,
        || {
            for t in &templates {
                black_box(parse(Arc::clone(t)));
            }
        },
    );
    let configs: Vec<Config> = templates
        .iter()
        .map(|t| Config::parse_upstream(Arc::clone(t)).unwrap())
        .collect();
    compare(
        "tostr, 20 templates",
        &tcconf,
        "tostr",
        &template_files,
        2_000,
        || {
            for c in &configs {
                black_box(c.to_text().ok());
            }
        },
    );
    let child = Config::parse_upstream(std::fs::read(&child_file).unwrap()).unwrap();
    let parent = Config::parse_upstream(std::fs::read(&parent_file).unwrap()).unwrap();
    compare(
        "join tars.cpp.default over resolved tars.default (incl. copy)",
        &tcconf,
        "join",
        &[child_file.clone(), parent_file.clone()],
        5_000,
        || {
            let mut c = child.clone();
            black_box(c.join(&parent, false).ok());
        },
    );
    let large_files = [large_file.clone()];
    compare(
        "parse (model only), large-1mb.conf",
        &tcconf,
        "parse",
        &large_files,
        20,
        || {
            black_box(Config::parse_upstream(Arc::clone(&large)).ok());
        },
    );
    compare(
        "parse (lines, model, diagnostics), large-1mb.conf",
        &tcconf,
        "parse",
        &large_files,
        20,
        || {
            black_box(parse(Arc::clone(&large)));
        },
    );
    let large_config = Config::parse_upstream(Arc::clone(&large)).unwrap();
    compare(
        "tostr, large-1mb.conf",
        &tcconf,
        "tostr",
        &large_files,
        40,
        || {
            black_box(large_config.to_text().ok());
        },
    );
}
