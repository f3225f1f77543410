//! Properties of chain resolution over random template sets (random texts, random parent
//! links with cycles, self-parents and missing parents): it never panics, it is deterministic,
//! its text equals a naive re-statement of tarsregistry's algorithm, and its provenance agrees
//! with the merged config.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::collections::{HashMap, HashSet};

use lowering::resolve::{Profile, Template, TemplateSet, resolve};
use parser::{Config, SourceId};
use proptest::prelude::*;

/// tarsregistry's `getProfileTemplate`, stated as plainly as possible.
fn oracle(
    set: &HashMap<String, (String, Vec<u8>)>,
    name: &str,
    visited: &mut HashSet<String>,
) -> Vec<u8> {
    let Some((parent, text)) = set.get(name) else {
        return Vec::new();
    };
    let Ok(mut me) = Config::parse_upstream(text.clone()) else {
        return Vec::new();
    };
    visited.insert(name.to_owned());
    if !parent.is_empty() && !visited.contains(parent) {
        let parent_text = oracle(set, parent, visited);
        let Ok(parent_config) = Config::parse_upstream(parent_text) else {
            return Vec::new();
        };
        if me.join(&parent_config, false).is_err() {
            return Vec::new();
        }
    }
    me.to_text().unwrap_or_default()
}

fn template_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["a", "b", "logLevel", "k", "x y"]);
    let value = prop::sample::select(vec!["1", "", "DEBUG", "v=w", "p<q", "${app}", "c\\d"]);
    let domain = prop::sample::select(vec!["tars", "server", "client", " tars "]);
    prop::collection::vec(
        (
            domain,
            prop::collection::vec((key, value), 0..4),
            any::<bool>(),
        ),
        0..4,
    )
    .prop_map(|blocks| {
        let mut out = String::new();
        for (domain, params, nested) in blocks {
            out.push_str(&format!("<{domain}>\n"));
            if nested {
                out.push_str("<server>\n");
            }
            for (k, v) in params {
                out.push_str(&format!("{k}={v}\n"));
            }
            if nested {
                out.push_str("</server>\n");
            }
            out.push_str(&format!("</{}>\n", domain.trim()));
        }
        out
    })
}

fn template_set() -> impl Strategy<Value = Vec<(String, String)>> {
    // Up to 5 templates t0..t4; each parent is one of them, itself, empty, or missing.
    prop::collection::vec(
        (
            template_text(),
            prop::sample::select(vec!["t0", "t1", "t2", "t3", "t4", "", "missing"]),
        ),
        1..5,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(text, parent)| (text, parent.to_owned()))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn resolution_matches_oracle_and_is_deterministic(
        templates in template_set(),
        profile in template_text(),
    ) {
        let mut set = TemplateSet::new();
        let mut plain = HashMap::new();
        for (i, (text, parent)) in templates.iter().enumerate() {
            let name = format!("t{i}");
            plain.insert(name.clone(), (parent.clone(), text.as_bytes().to_vec()));
            set.add(Template {
                name,
                parent: Some(parent.clone()),
                parent_at: None,
                source: SourceId(u32::try_from(i).unwrap()),
                parse: parser::parse(text.as_bytes().to_vec()),
            });
        }
        let profile_parse = parser::parse(profile.as_bytes().to_vec());
        let profile = Profile { name: "profile".into(), source: SourceId(99), parse: &profile_parse };
        for i in 0..templates.len() {
            let name = format!("t{i}");
            let first = resolve(&set, &name, None);
            let expected = oracle(&plain, &name, &mut HashSet::new());
            prop_assert_eq!(&first.text, &expected);
            let again = resolve(&set, &name, None);
            prop_assert_eq!(&again.text, &first.text);
            prop_assert_eq!(&again.diagnostics, &first.diagnostics);
            prop_assert_eq!(&again.log, &first.log);

            let with_profile = resolve(&set, &name, Some(&profile));
            if !with_profile.failed {
                for key in &with_profile.provenance {
                    let path = format!("/{}<{}>", key.domain.join("/"), key.key);
                    // Domain names holding `/` cannot be addressed by a path; skip those.
                    if key.domain.iter().any(|d| d.contains('/')) {
                        continue;
                    }
                    let got = with_profile.config.get(path.as_bytes()).unwrap();
                    prop_assert_eq!(got, Some(key.defined.value.as_bytes()), "{}", path);
                }
            }
        }
    }
}
