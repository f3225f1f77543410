//! Fuzz target `render`: any bytes linted with every family and rendered in every format
//! (human at two widths, with and without colour, concise, JSON, SARIF, GitHub, Checkstyle):
//! no panic, output bounded by the findings, no control character in human output. Run with
//! `-rss_limit_mb=512 -timeout=2` to hold the issue-13 budget per input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tarsdock_fuzz::check_render(data);
});
