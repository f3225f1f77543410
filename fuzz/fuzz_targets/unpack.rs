//! Fuzz target `unpack`: any bytes, taken as a tar stream, gzipped and handed to the package
//! reader as a service package. Whatever they hold, scanning and unpacking never panic and
//! never touch anything outside the directory they unpack into; an accepted package is on
//! disk exactly as its records say, with modes within `0o755`, and each of its links resolves
//! inside it after the content is moved to where deploy puts it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tarsdock_fuzz::unpack::check_unpack(data);
});
