//! Fuzz target `parse`: any bytes through `parser::parse`, checking every invariant that holds
//! for any input (lossless lines, diagnostics in bounds and sorted, upstream errors reported
//! as errors, the quiet parse agreeing, `to_text` and `fmt` never panicking).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tarsdock_fuzz::check_parse(data);
});
