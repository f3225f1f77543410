//! `tarsdock`: the command-line front end. Thin: flags, output formats and exit codes; the
//! work is done by the `parser`, `lowering`, `runtime` and `front` crates.

mod commands;
mod config;
mod exit;
mod fix;
mod lsp;
mod render;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

// jemalloc keeps freed pages for reuse; glibc unmaps large buffers on free, so the language
// server page-faulted every re-parse of a large template in again (BENCHMARKS.md, "Lint").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Launch a service container from a launch request (idempotent, serialised per service).
    Launch(Box<commands::launch::Args>),
    /// Stop a service: `AdminF::shutdown` first, then the engine's stop; keeps it unless `--rm`.
    Stop(commands::stop::Args),
    /// Restart a service container.
    Restart(commands::restart::Args),
    /// Show a service container's state (running, exited, absent, …).
    Status(commands::status::Args),
    /// Print a service container's output.
    Logs(commands::logs::Args),
    /// Stop and remove a service container.
    Rm(commands::rm::Args),
    /// Send an admin command to a running Tars service (`AdminF::notify`) and print its answer.
    Notify(commands::notify::Args),
    /// Pull images (registry credentials from stdin, a file or the environment).
    Image(commands::image::Args),
    /// Lay a service out from its tgz package as tarsnode does and run it in a container.
    Deploy(Box<commands::deploy::Args>),
    /// Serve the Docker Engine API on a Unix socket for tarsnode: its containers are planned
    /// and run by tarsdock, everything else is passed to the engine.
    Serve(Box<commands::serve::Args>),
    /// Run the language server on standard input and output (diagnostics, hover, quick fixes).
    Lsp(lsp::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(commands::completions::Args),
    /// Print the manual page (roff), or one command's page.
    Man(commands::man::Args),
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
        Command::Launch(args) => commands::launch::run(&args),
        Command::Stop(args) => commands::stop::run(&args),
        Command::Restart(args) => commands::restart::run(&args),
        Command::Status(args) => commands::status::run(&args),
        Command::Logs(args) => commands::logs::run(&args),
        Command::Rm(args) => commands::rm::run(&args),
        Command::Notify(args) => commands::notify::run(&args),
        Command::Image(args) => commands::image::run(&args),
        Command::Deploy(args) => commands::deploy::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Lsp(args) => lsp::run(&args),
        Command::Completions(args) => commands::completions::run(&args, Cli::command()),
        Command::Man(args) => commands::man::run(&args, Cli::command()),
    };
    exit::finish(result)
}
