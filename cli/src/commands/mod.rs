//! One module per subcommand, each with its clap `Args` and a `run` function.

pub(crate) mod allow;
pub(crate) mod catalogue;
pub(crate) mod chain;
pub(crate) mod completions;
pub(crate) mod deploy;
pub(crate) mod engine_args;
pub(crate) mod explain;
pub(crate) mod fmt;
pub(crate) mod image;
pub(crate) mod image_sync;
pub(crate) mod input;
pub(crate) mod launch;
pub(crate) mod lint;
pub(crate) mod logs;
pub(crate) mod man;
pub(crate) mod normalize;
pub(crate) mod notify;
pub(crate) mod plan;
pub(crate) mod render;
pub(crate) mod resolve;
pub(crate) mod restart;
pub(crate) mod rm;
pub(crate) mod rules;
pub(crate) mod serve;
pub(crate) mod status;
pub(crate) mod stop;
