//! On-CPU time of the parser operations, for a machine shared with other work: each sample is
//! the time this thread actually ran (`/proc/thread-self/schedstat`, ~150 ms per sample), so
//! waiting for a core does not count, unlike divan's wall-clock samples. Prints a Markdown table (median of the
//! samples); `BENCHMARKS.md` explains both.
//!
//! Run with `cargo bench -p parser --bench cputime` (Linux only; elsewhere it says so and
//! exits).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::hint::black_box;
use std::sync::Arc;

use common::{JOIN_PAIRS, KB, LARGE, MB, Shape, TEMPLATES, realistic, shaped};
use parser::{Config, parse};

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Median on-CPU nanoseconds per call of `f`, over `samples` samples of about 150 ms of CPU
/// time each. The kernel advances the counter at scheduler ticks (a few ms), hence the long
/// samples.
fn measure(samples: usize, mut f: impl FnMut()) -> f64 {
    let start = cpu_ns().unwrap_or(0);
    let mut calls = 0u64;
    while cpu_ns().unwrap_or(u64::MAX).saturating_sub(start) < 50_000_000 {
        f();
        calls += 1;
    }
    let iters = (calls * 3).max(1);
    let mut per_call: Vec<f64> = (0..samples)
        .map(|_| {
            let t0 = cpu_ns().unwrap_or(0);
            for _ in 0..iters {
                f();
            }
            (cpu_ns().unwrap_or(0).saturating_sub(t0)) as f64 / iters as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

fn row(name: &str, bytes: usize, ns: f64) {
    let time = if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} µs", ns / 1e3)
    };
    let rate = if bytes == 0 {
        String::from("–")
    } else {
        format!("{:.0} MB/s", bytes as f64 / ns * 1e3)
    };
    println!("| {name} | {bytes} | {time} | {rate} |");
}

fn main() {
    if cpu_ns().is_none() {
        eprintln!("SKIPPED cputime: /proc/thread-self/schedstat is not readable here");
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not: measure nothing.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("cputime: measures only under `cargo bench`");
        return;
    }
    let samples = 7;
    println!("| operation | bytes | on-CPU time (median) | throughput |");
    println!("| --- | ---: | ---: | ---: |");
    if let Some(templates) = TEMPLATES.as_ref() {
        let bytes: usize = templates.iter().map(|t| t.text.len()).sum();
        let ns = measure(samples, || {
            for t in templates {
                black_box(parse(Arc::clone(&t.text)));
            }
        });
        row("parse, 20 templates (all)", bytes, ns);
        let ns = measure(samples, || {
            for t in templates {
                black_box(Config::parse_upstream(Arc::clone(&t.text)).ok());
            }
        });
        row("parse_upstream, 20 templates (all)", bytes, ns);
        let configs: Vec<_> = templates
            .iter()
            .map(|t| parse(Arc::clone(&t.text)).config)
            .collect();
        let ns = measure(samples, || {
            for c in &configs {
                black_box(c.to_text().ok());
            }
        });
        row("to_text, 20 templates (all)", bytes, ns);
    }
    if let Some(pairs) = JOIN_PAIRS.as_ref() {
        if let Some((_, child, parent)) = pairs.iter().find(|p| p.0 == "tars.cpp.default") {
            let ns = measure(samples, || {
                let mut c = child.clone();
                black_box(c.join(parent, false).ok());
            });
            row(
                "join tars.cpp.default over tars.default (incl. clone)",
                0,
                ns,
            );
        }
        let ns = measure(samples, || {
            for (_, child, parent) in pairs {
                let mut c = child.clone();
                black_box(c.join(parent, false).ok());
            }
        });
        row("join, all 19 pairs (incl. clones)", 0, ns);
    }
    if let Some(text) = LARGE.as_ref() {
        let ns = measure(samples, || {
            black_box(parse(Arc::clone(text)));
        });
        row("parse, large-1mb.conf", text.len(), ns);
        let ns = measure(samples, || {
            black_box(Config::parse_upstream(Arc::clone(text)).ok());
        });
        row("parse_upstream, large-1mb.conf", text.len(), ns);
        let config = parse(Arc::clone(text)).config;
        let ns = measure(samples, || {
            black_box(config.to_text().ok());
        });
        row("to_text, large-1mb.conf", text.len(), ns);
    }
    for size in [10 * KB, 100 * KB, MB, 4 * MB] {
        let text = realistic(size);
        let ns = measure(samples.min(5), || {
            black_box(parse(Arc::clone(&text)));
        });
        row(&format!("parse, generated {}", human(size)), text.len(), ns);
        let config = parse(Arc::clone(&text)).config;
        let ns = measure(samples.min(5), || {
            black_box(config.to_text().ok());
        });
        row(
            &format!("to_text, generated {}", human(size)),
            text.len(),
            ns,
        );
        let ns = measure(samples.min(5), || {
            let mut c = config.clone();
            black_box(c.join(&config, true).ok());
        });
        row(
            &format!("join over itself, generated {}", human(size)),
            2 * text.len(),
            ns,
        );
    }
    for (name, shape) in [
        ("flat keys", Shape::FlatKeys),
        ("same key", Shape::SameKey),
        ("many domains", Shape::ManyDomains),
        ("same domain", Shape::SameDomain),
        ("deep", Shape::Deep),
        ("long line", Shape::LongLine),
    ] {
        for size in [100 * KB, MB] {
            let text = shaped(shape, size);
            let ns = measure(samples.min(5), || {
                black_box(parse(Arc::clone(&text)));
            });
            row(&format!("parse, {name} {}", human(size)), text.len(), ns);
        }
    }
}

fn human(size: usize) -> String {
    if size >= MB {
        format!("{} MB", size / MB)
    } else {
        format!("{} KB", size / KB)
    }
}
