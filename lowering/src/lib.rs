//! From templates to containers: template chain resolution, `${macro}` expansion, node config
//! generation, the container IR, its validation, and its lowering to Docker create options.
//!
//! Pure and deterministic: no I/O, no async, no Docker client (bollard's *models* only).

pub mod codes;
pub mod docker;
pub mod endpoint;
mod field;
pub mod hash;
pub mod ir;
pub mod lint;
pub mod lower;
pub mod macros;
pub mod paths;
pub mod plan;
pub mod policy;
pub mod portability;
pub mod ports;
pub mod render;
pub mod resolve;
pub mod script;
pub mod selection;
pub mod suppress;
pub mod volumes;
