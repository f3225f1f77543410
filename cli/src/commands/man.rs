//! `tarsdock man`: the manual page (roff) generated from the CLI definition (clap_mangen):
//! the main page with one section per command, or one command's page.
//!
//! ```text
//! tarsdock man > /usr/share/man/man1/tarsdock.1
//! tarsdock man lint > /usr/share/man/man1/tarsdock-lint.1
//! ```

use std::io::Write as _;

use anyhow::Context as _;

use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A command whose own page to print (e.g. `lint`); the main page when absent.
    pub(crate) command: Option<String>,
}

pub(crate) fn run(args: &Args, command: clap::Command) -> anyhow::Result<Status> {
    let mut command = command;
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => {
            let sub = command
                .find_subcommand(name)
                .with_context(|| format!("no command `{name}`"))?
                .clone();
            let full = format!("{}-{}", command.get_name(), sub.get_name());
            sub.display_name(full).version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(Status::Success)
}
