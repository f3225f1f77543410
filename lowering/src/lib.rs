//! From templates to containers: template chain resolution, `${macro}` expansion, node config
//! generation, the container IR, its validation, and its lowering to Docker create options.
//!
//! Pure and deterministic: no I/O, no async, no Docker client (bollard's *models* only).

pub mod codes;
pub mod lint;
