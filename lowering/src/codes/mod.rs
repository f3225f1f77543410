//! The catalogue of lowering diagnostic codes, one file per family.
//!
//! Each family file declares its codes with [`parser::define_codes!`] (code, rule name,
//! default severity, summary, `explain` text) next to the constructors that emit them.

pub mod chain;
pub mod lint;
pub mod macros;
pub mod portability;
pub mod ports;
pub mod script;
pub mod security;
pub mod target;
pub mod volumes;
use parser::CodeInfo;

/// Every lowering code, family by family, in code order.
#[must_use]
pub fn all() -> Vec<&'static CodeInfo> {
    let families: &[&'static [CodeInfo]] = &[
        chain::CATALOGUE,
        macros::CATALOGUE,
        ports::CATALOGUE,
        target::CATALOGUE,
        volumes::CATALOGUE,
        security::CATALOGUE,
        script::CATALOGUE,
        portability::CATALOGUE,
        lint::CATALOGUE,
    ];
    families.iter().flat_map(|f| f.iter()).collect()
}
