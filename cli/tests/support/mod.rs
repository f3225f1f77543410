//! Helpers shared by the CLI test suites.

#![allow(dead_code, unreachable_pub)]

pub mod lsp_client;
