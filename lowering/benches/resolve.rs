//! Benchmarks of chain resolution and node config rendering over the upstream templates:
//! resolving every one of the 20 upstream chains (with provenance and diagnostics), and
//! rendering the upstream node-config example. Run with `cargo bench -p lowering --bench resolve`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmarks fail loudly on missing data.

use std::path::PathBuf;

use divan::Bencher;
use lowering::render::{NodeInputs, render};
use lowering::resolve::{Template, TemplateSet, resolve};
use parser::SourceId;

fn main() {
    divan::main();
}

fn upstream() -> Option<PathBuf> {
    let dir = std::env::var_os("TARSDOCK_UPSTREAM_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures-upstream"),
        PathBuf::from,
    );
    dir.join("templates").is_dir().then_some(dir)
}

fn upstream_set(dir: &std::path::Path) -> (TemplateSet, Vec<String>) {
    let mut set = TemplateSet::new();
    let mut names = Vec::new();
    for (i, entry) in std::fs::read_dir(dir.join("templates"))
        .unwrap()
        .enumerate()
    {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "conf") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        names.push(name.clone());
        set.add(Template {
            parent: Some(testkit::installer_parent(&name).to_owned()),
            parent_at: None,
            source: SourceId(u32::try_from(i).unwrap()),
            parse: parser::parse(std::fs::read(&path).unwrap()),
            name,
        });
    }
    (set, names)
}

/// All 20 upstream chains resolved, one after the other (parsing excluded).
#[divan::bench]
fn resolve_all_upstream_chains(bencher: Bencher<'_, '_>) {
    let Some(dir) = upstream() else {
        eprintln!("SKIPPED: upstream fixtures not found");
        return;
    };
    let (set, names) = upstream_set(&dir);
    bencher.bench(|| {
        for name in &names {
            divan::black_box(resolve(&set, name, None));
        }
    });
}

/// tars.cpp.default over tars.default plus the example private profile.
#[divan::bench]
fn resolve_cpp_default_with_profile(bencher: Bencher<'_, '_>) {
    let Some(dir) = upstream() else {
        return;
    };
    let (set, _) = upstream_set(&dir);
    let profile_text =
        std::fs::read(dir.join("golden/node-config-example/input-private-profile.conf")).unwrap();
    let profile_parse = parser::parse(profile_text);
    let profile = lowering::resolve::Profile {
        name: "profile".into(),
        source: SourceId(99),
        parse: &profile_parse,
    };
    bencher.bench(|| divan::black_box(resolve(&set, "tars.cpp.default", Some(&profile))));
}

/// The upstream node-config example: registry-merged profile + inputs → generated config.
#[divan::bench]
fn render_node_config(bencher: Bencher<'_, '_>) {
    let Some(dir) = upstream() else {
        return;
    };
    let example = dir.join("golden/node-config-example");
    let merged =
        parser::parse(std::fs::read(example.join("registry-merged-profile.conf")).unwrap()).config;
    let inputs =
        NodeInputs::from_json(&std::fs::read(example.join("inputs.json")).unwrap()).unwrap();
    bencher.bench(|| divan::black_box(render(&merged, &inputs).unwrap()));
}
