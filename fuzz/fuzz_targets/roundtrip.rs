//! Fuzz target `roundtrip`: when upstream accepts a text and `to_text` serialises it, that
//! output parses cleanly (also with `parse_upstream`) and serialises to itself, except where
//! upstream itself loses information (see `roundtrip_quirk`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parser::Config;
use tarsdock_fuzz::{check_parse, roundtrip_quirk};

fuzz_target!(|data: &[u8]| {
    let p = check_parse(data);
    if p.upstream_error.is_some() {
        return;
    }
    let Ok(text) = p.config.to_text() else {
        return;
    };
    let again = check_parse(&text);
    if roundtrip_quirk(&p.config).is_some() {
        return;
    }
    assert!(
        !again.has_errors(),
        "to_text output has errors: {:?}",
        again.diagnostics
    );
    let quiet = Config::parse_upstream(text.clone()).expect("to_text output parses upstream");
    assert_eq!(
        quiet.to_text().as_deref(),
        Ok(text.as_slice()),
        "to_text is a fixpoint"
    );
    assert_eq!(
        again.config.to_text().as_deref(),
        Ok(text.as_slice()),
        "to_text is a fixpoint"
    );
});
