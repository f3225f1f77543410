//! One module per subcommand, each with its clap `Args` and a `run` function.

pub(crate) mod catalogue;
pub(crate) mod chain;
pub(crate) mod explain;
pub(crate) mod fmt;
pub(crate) mod input;
pub(crate) mod lint;
pub(crate) mod normalize;
pub(crate) mod plan;
pub(crate) mod render;
pub(crate) mod resolve;
pub(crate) mod rules;
