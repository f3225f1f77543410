//! Conformance of chain resolution and node config rendering with upstream: every
//! `golden/resolved/*.conf`, `registry-merged-profile.conf` and `node-generated-config.conf`,
//! byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on bad fixtures.

use std::path::Path;

use lowering::render::{NodeInputs, render};
use lowering::resolve::{Profile, Template, TemplateSet, resolve};
use parser::{SourceId, Sources};

fn upstream_set(dir: &Path, sources: &mut Sources) -> TemplateSet {
    let mut set = TemplateSet::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir.join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = testkit::read(&path);
        let source = sources.add(name.clone(), text.clone());
        set.add(Template {
            parent: Some(testkit::installer_parent(&name).to_owned()),
            parent_at: None,
            source,
            parse: parser::parse(text),
            name,
        });
    }
    set
}

#[test]
fn resolved_templates_match_upstream() {
    let Some(dir) = testkit::upstream_fixtures("resolved_templates_match_upstream") else {
        return;
    };
    let mut sources = Sources::new();
    let set = upstream_set(&dir, &mut sources);
    let mut failed = Vec::new();
    let mut n = 0;
    for template in set.iter() {
        n += 1;
        let res = resolve(&set, &template.name, None);
        let expected = testkit::read(
            &dir.join("golden/resolved")
                .join(format!("{}.conf", template.name)),
        );
        if res.text != expected {
            failed.push(template.name.clone());
        }
        assert!(!res.failed);
        // Provenance agrees with the merged config for every key.
        for key in &res.provenance {
            let path = format!("/{}<{}>", key.domain.join("/"), key.key);
            let value = res.config.get(path.as_bytes()).unwrap();
            assert_eq!(
                value,
                Some(key.defined.value.as_bytes()),
                "{}: {path}",
                template.name
            );
        }
        let last = res.members.last().unwrap();
        assert_eq!(last.name, template.name);
    }
    assert_eq!(n, 20);
    assert!(failed.is_empty(), "resolved output differs for {failed:?}");
}

#[test]
fn springboot_chain_has_three_members_and_provenance() {
    let Some(dir) = testkit::upstream_fixtures("springboot_chain") else {
        return;
    };
    let mut sources = Sources::new();
    let set = upstream_set(&dir, &mut sources);
    let res = resolve(&set, "tars.springboot", None);
    let names: Vec<&str> = res.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["tars.default", "tars.tarsjava.default", "tars.springboot"]
    );
    assert_eq!(
        res.log,
        "(tars.default:OK)(tars.tarsjava.default:OK)(tars.springboot:OK)"
    );
    // `mainclass` is defined by tars.tarsjava.default and overridden by tars.springboot.
    let mainclass = res
        .provenance
        .iter()
        .find(|k| k.key == "mainclass")
        .unwrap();
    assert_eq!(
        res.members[mainclass.defined.member].name,
        "tars.springboot"
    );
    assert!(
        mainclass
            .overridden
            .iter()
            .any(|d| res.members[d.member].name == "tars.tarsjava.default")
    );
}

#[test]
fn profile_merge_and_node_config_match_upstream() {
    let Some(dir) = testkit::upstream_fixtures("profile_merge_and_node_config") else {
        return;
    };
    let example = dir.join("golden/node-config-example");
    let mut sources = Sources::new();
    let set = upstream_set(&dir, &mut sources);
    let profile_text = testkit::read(&example.join("input-private-profile.conf"));
    let profile_source = sources.add("input-private-profile.conf", profile_text.clone());
    let profile_parse = parser::parse(profile_text);
    let profile = Profile {
        name: "input-private-profile.conf".into(),
        source: profile_source,
        parse: &profile_parse,
    };
    let res = resolve(&set, "tars.cpp.default", Some(&profile));
    assert!(!res.failed);
    let expected = testkit::read(&example.join("registry-merged-profile.conf"));
    assert_eq!(
        String::from_utf8_lossy(&res.text),
        String::from_utf8_lossy(&expected)
    );
    // logLevel comes from the profile and overrides the template.
    let log_level = res.provenance.iter().find(|k| k.key == "logLevel").unwrap();
    assert_eq!(log_level.defined.source, profile_source);
    assert!(!log_level.overridden.is_empty());

    let inputs = NodeInputs::from_json(&testkit::read(&example.join("inputs.json"))).unwrap();
    let merged = parser::parse(expected).config;
    let rendered = render(&merged, &inputs).unwrap();
    let expected = testkit::read(&example.join("node-generated-config.conf"));
    assert_eq!(
        String::from_utf8_lossy(&rendered.text),
        String::from_utf8_lossy(&expected)
    );
    let ports: Vec<(String, u16)> = rendered
        .adapter_ports
        .iter()
        .map(|p| (p.endpoint.host.clone(), p.endpoint.port))
        .collect();
    assert_eq!(
        ports,
        [
            ("192.168.1.10".to_owned(), 10001),
            ("192.168.1.10".to_owned(), 10002)
        ]
    );
    assert_eq!(rendered.local.unwrap().port, 30001);
    let _ = SourceId::MAIN;
}
