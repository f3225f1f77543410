//! Conformance with upstream TC_Config: every case of `golden/tc_config_cases.jsonl` and every
//! `golden/normalized/*.conf`, compared byte for byte (error messages included).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on bad fixtures.

use std::collections::BTreeMap;

use parser::{Config, LookupError, PathError, parse};
use serde_json::Value;

fn lookup_json(config: &Config, path: &str) -> Value {
    match config.lookup(path.as_bytes()) {
        Ok(v) => Value::String(String::from_utf8(v.to_vec()).unwrap()),
        Err(LookupError::NoDomain) => serde_json::json!({
            "error": format!("[TC_Config::operator[]] path '{path}' not exits!")
        }),
        Err(LookupError::NoParam) => {
            let key = parser::path::param_path(path.as_bytes()).unwrap().1;
            serde_json::json!({
                "error": format!(
                    "[TC_ConfigDomain::getParamValue] param '{}' not exits!",
                    String::from_utf8_lossy(key)
                )
            })
        }
        Err(LookupError::Path(PathError::Invalid(p))) => serde_json::json!({
            "error": format!("[TC_Config::parseDomainName] : param path '{}' is invalid!", String::from_utf8_lossy(&p))
        }),
        Err(LookupError::Path(PathError::NoLeadingSlash(p))) => serde_json::json!({
            "error": format!("[TC_Config::parseDomainName] : param path '{}' must start with '/'!", String::from_utf8_lossy(&p))
        }),
    }
}

fn strings(v: Vec<&[u8]>) -> Vec<String> {
    v.into_iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect()
}

/// A `Config` accessor returning a list of byte strings for a path.
type Accessor = for<'a> fn(&'a Config, &[u8]) -> Result<Vec<&'a [u8]>, PathError>;

fn check_case(case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().unwrap_or("?");
    if let Some(this) = case.get("join_this") {
        let mut a = Config::parse_upstream(this.as_str().unwrap().as_bytes().to_vec())
            .map_err(|e| format!("{name}: join_this: {e}"))?;
        let b = Config::parse_upstream(case["join_other"].as_str().unwrap().as_bytes().to_vec())
            .map_err(|e| format!("{name}: join_other: {e}"))?;
        let update = case["bUpdate"].as_bool().unwrap();
        let res = a.join(&b, update);
        match (case.get("tostr"), case.get("error"), res) {
            (Some(expected), _, Ok(())) => {
                let got = String::from_utf8(a.to_text().unwrap()).unwrap();
                if got != expected.as_str().unwrap() {
                    return Err(format!(
                        "{name}: join tostr\n got: {got:?}\nwant: {expected}"
                    ));
                }
            }
            (None, Some(expected), Err(e)) => {
                if e.to_string() != expected.as_str().unwrap() {
                    return Err(format!("{name}: join error {e} != {expected}"));
                }
            }
            (_, _, r) => return Err(format!("{name}: join result {r:?}")),
        }
        return Ok(());
    }
    let input = case["input"].as_str().unwrap();
    let parsed = parse(input.as_bytes().to_vec());
    assert_eq!(
        parsed.tree.text(parsed.source()),
        input.as_bytes(),
        "{name}: lossless"
    );
    match case["parse"].as_str().unwrap() {
        "error" => {
            let expected = case["error"].as_str().unwrap();
            match &parsed.upstream_error {
                Some(e) if e.message == expected => {}
                other => {
                    return Err(format!(
                        "{name}: expected error {expected:?}, got {other:?}"
                    ));
                }
            }
            if !parsed.has_errors() {
                return Err(format!(
                    "{name}: upstream error without an error diagnostic"
                ));
            }
            return Ok(());
        }
        "ok" => {
            if let Some(e) = &parsed.upstream_error {
                return Err(format!("{name}: unexpected error {e}"));
            }
        }
        other => return Err(format!("{name}: bad parse field {other}")),
    }
    let config = &parsed.config;
    if let Some(expected) = case.get("tostr") {
        let got = config
            .to_text()
            .map_err(|e| format!("{name}: tostr failed: {e}"))?;
        if got != expected.as_str().unwrap().as_bytes() {
            return Err(format!(
                "{name}: tostr\n got: {:?}\nwant: {expected}",
                String::from_utf8_lossy(&got)
            ));
        }
    }
    if let Some(expected) = case.get("tostr_error") {
        match config.to_text() {
            Err(e) if e.to_string() == expected.as_str().unwrap() => {}
            other => {
                return Err(format!(
                    "{name}: expected tostr error {expected}, got {other:?}"
                ));
            }
        }
    }
    if let Some(gets) = case.get("get").and_then(Value::as_object) {
        for (path, expected) in gets {
            let got = lookup_json(config, path);
            if &got != expected {
                return Err(format!("{name}: get {path}: got {got}, want {expected}"));
            }
        }
    }
    let fields: [(&str, Accessor); 3] = [
        ("domain_keys", |c, p| c.domain_keys(p)),
        ("domain_lines", |c, p| c.domain_lines(p)),
        ("subdomains", |c, p| c.domain_vector(p)),
    ];
    for (field, f) in fields {
        if let Some(map) = case.get(field).and_then(Value::as_object) {
            for (path, expected) in map {
                let got = strings(f(config, path.as_bytes()).unwrap());
                let want: Vec<String> = serde_json::from_value(expected.clone()).unwrap();
                if got != want {
                    return Err(format!(
                        "{name}: {field} {path}: got {got:?}, want {want:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn tc_config_cases() {
    let Some(dir) = testkit::upstream_fixtures("tc_config_cases") else {
        return;
    };
    let text = String::from_utf8(testkit::read(&dir.join("golden/tc_config_cases.jsonl"))).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        n += 1;
        if let Err(e) = check_case(&case) {
            failures.push(e);
        }
    }
    assert_eq!(n, 36, "expected all 36 upstream cases");
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn normalized_templates() {
    let Some(dir) = testkit::upstream_fixtures("normalized_templates") else {
        return;
    };
    let mut results = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("templates")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = testkit::read(&path);
        let expected = testkit::read(&dir.join("golden/normalized").join(&name));
        let parsed = parse(input.clone());
        assert_eq!(parsed.tree.text(parsed.source()), input, "{name}: lossless");
        assert!(
            parsed.upstream_error.is_none(),
            "{name}: {:?}",
            parsed.upstream_error
        );
        let got = parsed.config.to_text().unwrap();
        results.insert(name, got == expected);
        if got != expected {
            eprintln!("--- {}\n{}", path.display(), String::from_utf8_lossy(&got));
        }
    }
    assert_eq!(results.len(), 20, "expected the 20 upstream templates");
    let failed: Vec<_> = results
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(n, _)| n)
        .collect();
    assert!(
        failed.is_empty(),
        "normalized output differs for {failed:?}"
    );
}
