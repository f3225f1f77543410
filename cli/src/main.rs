//! `tarsdock`: the command-line front end. Thin: flags, output formats and exit codes; the
//! work is done by the `parser`, `lowering` and `runtime` crates.

mod commands;
mod config;
mod exit;
mod lsp;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Compile, check and run Tars service templates in containers.
#[derive(Parser, Debug)]
#[command(name = "tarsdock", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check templates and report every finding.
    Lint(commands::lint::Args),
    /// Print a template as upstream `tostr()` writes it (the form the Tars database stores).
    Normalize(commands::normalize::Args),
    /// Re-indent templates (two spaces per level), keeping comments and order.
    Fmt(commands::fmt::Args),
    /// Plan the container of a service: Engine API body, `docker run` line, findings.
    Plan(Box<commands::plan::Args>),
    /// Resolve a template through its parent chain and private profile, as tarsregistry does.
    Resolve(commands::resolve::Args),
    /// Generate a service's config file from its merged profile, as tarsnode does.
    Render(commands::render::Args),
    /// Print the documentation of a diagnostic code.
    Explain(commands::explain::Args),
    /// List every diagnostic code.
    Rules(commands::rules::Args),
    /// Run the language server on standard input and output (diagnostics, hover, quick fixes).
    Lsp(lsp::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint(args) => commands::lint::run(&args),
        Command::Normalize(args) => commands::normalize::run(&args),
        Command::Fmt(args) => commands::fmt::run(&args),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Resolve(args) => commands::resolve::run(&args),
        Command::Render(args) => commands::render::run(&args),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Rules(args) => commands::rules::run(&args),
        Command::Lsp(args) => lsp::run(&args),
    };
    exit::finish(result)
}
