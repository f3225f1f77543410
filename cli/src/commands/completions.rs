//! `tarsdock completions SHELL`: a completion script generated from the CLI definition
//! (clap_complete), so it never drifts from the flags.
//!
//! ```text
//! tarsdock completions bash > /usr/share/bash-completion/completions/tarsdock
//! tarsdock completions zsh  > "${fpath[1]}/_tarsdock"
//! tarsdock completions fish > ~/.config/fish/completions/tarsdock.fish
//! ```

use std::io::Write as _;

use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

pub(crate) fn run(args: &Args, mut command: clap::Command) -> anyhow::Result<Status> {
    let mut out = Vec::new();
    let name = command.get_name().to_owned();
    clap_complete::generate(args.shell, &mut command, name, &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(Status::Success)
}
