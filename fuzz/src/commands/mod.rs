//! The CLI's code catalogue, compiled from `cli/src/commands/catalogue.rs` as it is (the
//! renderers name rules through `crate::commands::catalogue`).

#[path = "../../../cli/src/commands/catalogue.rs"]
pub(crate) mod catalogue;
