//! `tarsdock image pull IMAGE`: pull an image, with registry credentials taken from stdin,
//! a file or the environment (never from the command line), showing layer progress.
//!
//! On a terminal, one progress bar per layer (bytes); otherwise one plain line per layer
//! status change. The whole engine stream is read; an error inside it fails the pull.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use runtime::{PullProgress, RegistryAuth};

use super::engine_args::{EngineArgs, note};
use crate::exit::Status;

/// The environment variable a password may come from.
pub(crate) const PASSWORD_ENV: &str = "TARSDOCK_REGISTRY_PASSWORD";

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Pull an image (the whole progress stream is read; an error inside it fails the pull).
    Pull(PullArgs),
    /// Ensure every image of a manifest (pull when missing or its id differs from the
    /// expected one), concurrently; one line per image with its id and result.
    Sync(super::image_sync::SyncArgs),
    /// Try each registry's credentials of a manifest through the engine (`POST /auth`).
    LoginCheck(super::image_sync::LoginCheckArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct PullArgs {
    /// The image reference (`repo[:tag]` or `repo@digest`); `latest` when no tag is given.
    image: String,
    #[command(flatten)]
    credentials: CredentialArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Registry credentials. The password is never accepted as an argument.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct CredentialArgs {
    /// The registry the credentials are for (`host[:port]`) [default: the image's registry].
    #[arg(long, value_name = "REGISTRY")]
    registry: Option<String>,
    /// Registry user name; the password comes from --password-stdin, --password-file or
    /// the TARSDOCK_REGISTRY_PASSWORD environment variable.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// Read the password from standard input (trailing newlines removed).
    #[arg(long, conflicts_with = "password_file")]
    password_stdin: bool,
    /// Read the password from a file (trailing newlines removed): a regular file owned by
    /// the current user, with no group or other permissions (chmod 600), not a link.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl CredentialArgs {
    /// Whether the password is to be read from standard input.
    pub(crate) const fn reads_stdin(&self) -> bool {
        self.password_stdin
    }

    /// The credentials, if a user name was given.
    pub(crate) fn resolve(&self) -> anyhow::Result<Option<RegistryAuth>> {
        let Some(username) = self.username.clone() else {
            if self.password_stdin || self.password_file.is_some() {
                bail!("a password was given without --username");
            }
            return Ok(None);
        };
        let password = if self.password_stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the password from standard input")?;
            text
        } else if let Some(path) = &self.password_file {
            // A private regular file only, as for a manifest's `password-file`.
            runtime::secret::read_secret_file(path)?
        } else if let Ok(text) = std::env::var(PASSWORD_ENV) {
            text
        } else {
            bail!(
                "--username needs a password: --password-stdin, --password-file FILE or {PASSWORD_ENV}"
            );
        };
        let password = password.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            bail!("the registry password is empty");
        }
        Ok(Some(RegistryAuth {
            username,
            password,
            server_address: self.registry.clone(),
        }))
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    match &args.command {
        Command::Pull(pull) => run_pull(pull),
        Command::Sync(sync) => super::image_sync::run_sync(sync),
        Command::LoginCheck(check) => super::image_sync::run_login_check(check),
    }
}

fn run_pull(args: &PullArgs) -> anyhow::Result<Status> {
    let auth = args.credentials.resolve()?;
    let image = args.image.clone();
    args.engine.run(
        |rt| async move {
            let mut view = PullView::new(&image);
            let result = rt
                .pull(&image, auth.as_ref(), &mut |p| view.update(p))
                .await;
            view.finish();
            result
        },
        |report| {
            format!(
                "pulled {} ({}){}\n",
                report.image,
                report.id,
                report
                    .digest
                    .as_ref()
                    .map(|d| format!(", digest {d}"))
                    .unwrap_or_default()
            )
        },
    )
}

/// Shows pull progress on stderr: bars on a terminal, plain lines otherwise.
pub(crate) struct PullView {
    image: String,
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    last_status: HashMap<String, String>,
}

impl PullView {
    pub(crate) fn new(image: &str) -> Self {
        let bars = std::io::stderr().is_terminal().then(|| {
            (
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                HashMap::new(),
            )
        });
        Self {
            image: image.to_owned(),
            bars,
            last_status: HashMap::new(),
        }
    }

    pub(crate) fn update(&mut self, progress: &PullProgress) {
        // `<tag>: Pulling from <repo>` carries the tag in the id field; it is not a layer.
        let layer = progress
            .layer
            .as_ref()
            .filter(|_| !progress.status.starts_with("Pulling from"));
        let key = layer.cloned().unwrap_or_default();
        if let Some((multi, bars)) = &mut self.bars {
            if layer.is_none() {
                let _ = multi.println(format!("{}: {}", self.image, progress.status));
                return;
            }
            let bar = bars.entry(key.clone()).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new(0));
                if let Ok(style) = ProgressStyle::with_template(
                    "{prefix:>12} {msg:<20} [{bar:30}] {bytes:>10}/{total_bytes:<10}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(key.clone());
                bar
            });
            bar.set_message(progress.status.clone());
            if let (Some(current), Some(total)) = (progress.current, progress.total) {
                bar.set_length(u64::try_from(total).unwrap_or(0));
                bar.set_position(u64::try_from(current).unwrap_or(0));
            }
            if progress.status == "Pull complete" || progress.status == "Already exists" {
                bar.finish();
            }
            return;
        }
        // Plain: one line per status change of a layer.
        if self.last_status.get(&key) != Some(&progress.status) {
            self.last_status
                .insert(key.clone(), progress.status.clone());
            match layer {
                Some(layer) => note(&format!("{}: {layer}: {}", self.image, progress.status)),
                None => note(&format!("{}: {}", self.image, progress.status)),
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some((multi, bars)) = &self.bars {
            for bar in bars.values() {
                bar.finish();
            }
            let _ = multi.clear();
        }
    }
}
