//! Fuzz target `fmt`: formatting an input without errors gives text without errors that
//! reads as the same model (raw lines included), and formatting that text changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parser::fmt::format;
use tarsdock_fuzz::{check_parse, dump};

fuzz_target!(|data: &[u8]| {
    let p = check_parse(data);
    if p.has_errors() {
        return;
    }
    // Within the output bound for any input the fuzzer makes (it is 64 MiB).
    let Ok(formatted) = format(&p) else {
        return;
    };
    let again = check_parse(&formatted);
    assert!(
        !again.has_errors(),
        "formatted text has errors: {:?}",
        again.diagnostics
    );
    // The same text, or the same refusal (upstream's message; its span moves with the
    // layout).
    let text = |c: &parser::Config| c.to_text().map_err(|e| e.bytes());
    assert_eq!(text(&again.config), text(&p.config), "same to_text");
    assert_eq!(dump(&again.config), dump(&p.config), "same model");
    assert_eq!(format(&again), Ok(formatted), "idempotent");
});
