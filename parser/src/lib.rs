//! TC_Config, the text format of Tars templates, read and written exactly as upstream
//! (TarsCpp `util/src/tc_config.cpp`) does, with a lossless syntax and diagnostics.
//!
//! [`parse`] never fails: it returns the lines ([`SyntaxTree`]), the model ([`Config`]),
//! every finding ([`Diagnostic`]) and where upstream itself would refuse the text
//! ([`UpstreamError`]). [`Config::to_text`] is upstream `tostr`, [`Config::join`] upstream
//! `joinConfig`.
//!
//! This crate does no I/O, knows nothing of Docker or of what `<container>` means, and is
//! synchronous.

pub mod diagnostic;
pub mod errors;
pub mod escape;
pub mod fmt;
pub mod limits;
mod model;
mod parse;
pub mod path;
pub mod span;
pub mod syntax;
pub mod terminal;
mod tostr;

pub use diagnostic::{
    CodeInfo, Diagnostic, DiagnosticCode, Label, Severity, SourceFile, SourceId, Sources,
};
pub use model::{Config, DomainRef, LookupError, ParamOrigin, ParamRef};
pub use parse::{Parse, UpstreamError, parse};
pub use path::PathError;
pub use span::{LineCol, LineIndex, Span};
pub use syntax::{Line, LineKind, SyntaxTree};
pub use tostr::{JoinError, TostrError};
