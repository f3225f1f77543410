//! Parser benchmarks (divan): `parse`, `to_text` and `join` over the 20 upstream templates and
//! the shared 1 MB template, and over generated inputs of growing size and odd shapes to show
//! that time grows linearly. Results and method: `BENCHMARKS.md` (`## Parser`).
//!
//! Run with `cargo bench -p parser`; filter with e.g. `cargo bench -p parser -- scaling`.
//! The upstream inputs are read from `../shared` (or `TARSDOCK_UPSTREAM_FIXTURES`); when absent,
//! those benchmarks print a notice and measure nothing.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use common::{JOIN_PAIRS, KB, LARGE, MB, Shape, TEMPLATES, realistic, shaped};
use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use parser::parse;

fn main() {
    divan::main();
}

// ---- benchmarks -------------------------------------------------------------------------

/// The 20 upstream templates, parsed in turn (one iteration = all 20).
mod templates {
    use super::{Arc, Bencher, BytesCount, TEMPLATES, black_box, parse};

    fn total_bytes() -> usize {
        TEMPLATES
            .as_ref()
            .map_or(0, |t| t.iter().map(|t| t.text.len()).sum())
    }

    #[divan::bench]
    fn parse_all(bencher: Bencher) {
        let Some(templates) = TEMPLATES.as_ref() else {
            return;
        };
        bencher.counter(BytesCount::new(total_bytes())).bench(|| {
            for t in templates {
                black_box(parse(Arc::clone(black_box(&t.text))));
            }
        });
    }

    /// What `join` and the resolver use: the model only, no lines or diagnostics.
    #[divan::bench]
    fn parse_upstream_all(bencher: Bencher) {
        let Some(templates) = TEMPLATES.as_ref() else {
            return;
        };
        bencher.counter(BytesCount::new(total_bytes())).bench(|| {
            for t in templates {
                black_box(parser::Config::parse_upstream(Arc::clone(black_box(&t.text))).ok());
            }
        });
    }

    #[divan::bench]
    fn to_text_all(bencher: Bencher) {
        let Some(templates) = TEMPLATES.as_ref() else {
            return;
        };
        let configs: Vec<_> = templates
            .iter()
            .map(|t| parse(Arc::clone(&t.text)).config)
            .collect();
        let bytes: usize = configs.iter().map(|c| c.to_text().unwrap().len()).sum();
        bencher.counter(BytesCount::new(bytes)).bench(|| {
            for c in &configs {
                black_box(black_box(c).to_text().ok());
            }
        });
    }
}

/// `child.join(resolved parent, false)`, as the registry resolves a template chain.
mod join {
    use super::{Bencher, JOIN_PAIRS, black_box};

    /// `tars.cpp.default` over the resolved `tars.default`.
    #[divan::bench]
    fn cpp_default_over_default(bencher: Bencher) {
        let Some(pairs) = JOIN_PAIRS.as_ref() else {
            return;
        };
        let Some((_, child, parent)) = pairs.iter().find(|p| p.0 == "tars.cpp.default") else {
            return;
        };
        bencher
            .with_inputs(|| child.clone())
            .bench_local_refs(|c| c.join(black_box(parent), false));
    }

    /// All 19 (child, resolved parent) pairs in turn (one iteration = 19 joins).
    #[divan::bench]
    fn all_pairs(bencher: Bencher) {
        let Some(pairs) = JOIN_PAIRS.as_ref() else {
            return;
        };
        bencher
            .with_inputs(|| pairs.iter().map(|p| p.1.clone()).collect::<Vec<_>>())
            .bench_local_refs(|children| {
                for (child, (_, _, parent)) in children.iter_mut().zip(pairs) {
                    black_box(child.join(black_box(parent), false).ok());
                }
            });
    }
}

/// `shared/bench/large-1mb.conf`.
mod large_1mb {
    use super::{Arc, Bencher, BytesCount, LARGE, black_box};

    #[divan::bench]
    fn parse(bencher: Bencher) {
        let Some(text) = LARGE.as_ref() else {
            return;
        };
        bencher
            .counter(BytesCount::of_slice(&**text))
            .bench(|| parser::parse(Arc::clone(black_box(text))));
    }

    #[divan::bench]
    fn parse_upstream(bencher: Bencher) {
        let Some(text) = LARGE.as_ref() else {
            return;
        };
        bencher
            .counter(BytesCount::of_slice(&**text))
            .bench(|| parser::Config::parse_upstream(Arc::clone(black_box(text))).ok());
    }

    #[divan::bench]
    fn to_text(bencher: Bencher) {
        let Some(text) = LARGE.as_ref() else {
            return;
        };
        let config = parser::parse(Arc::clone(text)).config;
        let bytes = config.to_text().unwrap().len();
        bencher
            .counter(BytesCount::new(bytes))
            .bench(|| black_box(&config).to_text().ok());
    }
}

/// Generated realistic templates of growing size: time should grow linearly.
mod scaling {
    use super::{Arc, Bencher, BytesCount, KB, MB, black_box, realistic};

    const SIZES: [usize; 4] = [10 * KB, 100 * KB, MB, 4 * MB];

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn parse(bencher: Bencher, size: usize) {
        let text = realistic(size);
        bencher
            .counter(BytesCount::of_slice(&*text))
            .bench(|| parser::parse(Arc::clone(black_box(&text))));
    }

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn to_text(bencher: Bencher, size: usize) {
        let config = parser::parse(realistic(size)).config;
        let bytes = config.to_text().unwrap().len();
        bencher
            .counter(BytesCount::new(bytes))
            .bench(|| black_box(&config).to_text().ok());
    }

    /// A generated template joined over itself (every key overridden).
    #[divan::bench(args = SIZES, sample_count = 20)]
    fn join(bencher: Bencher, size: usize) {
        let config = parser::parse(realistic(size)).config;
        let bytes = 2 * config.to_text().unwrap().len();
        bencher
            .counter(BytesCount::new(bytes))
            .with_inputs(|| config.clone())
            .bench_local_refs(|c| c.join(black_box(&config), true));
    }
}

/// Odd shapes at 100 KB and 1 MB, parsed: the 1 MB time should be about ten times the 100 KB
/// one.
mod shapes {
    use super::{Arc, Bencher, BytesCount, KB, MB, Shape, black_box, parse, shaped};

    const SIZES: [usize; 2] = [100 * KB, MB];

    /// Parse only: `tostr` of a deep tree is quadratic by definition (two spaces of indent per
    /// level), whatever the implementation.
    fn bench_shape(bencher: Bencher, shape: Shape, size: usize) {
        let text = shaped(shape, size);
        bencher
            .counter(BytesCount::of_slice(&*text))
            .bench(|| parse(Arc::clone(black_box(&text))));
    }

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn flat_keys(bencher: Bencher, size: usize) {
        bench_shape(bencher, Shape::FlatKeys, size);
    }

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn same_key(bencher: Bencher, size: usize) {
        bench_shape(bencher, Shape::SameKey, size);
    }

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn many_domains(bencher: Bencher, size: usize) {
        bench_shape(bencher, Shape::ManyDomains, size);
    }

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn same_domain(bencher: Bencher, size: usize) {
        bench_shape(bencher, Shape::SameDomain, size);
    }

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn deep(bencher: Bencher, size: usize) {
        bench_shape(bencher, Shape::Deep, size);
    }

    #[divan::bench(args = SIZES, sample_count = 20)]
    fn long_line(bencher: Bencher, size: usize) {
        bench_shape(bencher, Shape::LongLine, size);
    }
}
