//! `tarsdock logs NAME`: the container's output. Human mode copies the container's stdout
//! to stdout and its stderr to stderr; `--json` prints one JSON object per chunk
//! (`{"stream": "stdout", "text": "..."}`) on stdout.

use std::io::Write as _;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use runtime::{LogStream, LogsRequest};
use serde::Serialize;

use super::engine_args::{ConnectOrRun, EngineArgs};
use crate::exit::Status;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The container name (`App.Server`).
    name: String,
    /// Keep printing new output until interrupted.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<u64>,
    /// Prefix each line with the engine's timestamp.
    #[arg(long)]
    timestamps: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Serialize)]
struct Chunk<'a> {
    stream: LogStream,
    text: &'a str,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Status> {
    let request = LogsRequest {
        follow: args.follow,
        tail: args.tail,
        timestamps: args.timestamps,
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result: Result<(), ConnectOrRun> = tokio.block_on(async {
        let rt = args.engine.connect().await?;
        let mut stream = Box::pin(rt.logs(&args.name, request).await?);
        let mut stdout = std::io::stdout().lock();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            let written = if args.engine.json {
                let text = String::from_utf8_lossy(&chunk.bytes);
                serde_json::to_string(&Chunk {
                    stream: chunk.stream,
                    text: &text,
                })
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(stdout, "{line}"))
            } else if chunk.stream == LogStream::Stderr {
                std::io::stderr().lock().write_all(&chunk.bytes)
            } else {
                stdout.write_all(&chunk.bytes)
            };
            // A closed pipe (`| head`) ends the output quietly.
            if written.and_then(|()| stdout.flush()).is_err() {
                break;
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(Status::Success),
        Err(ConnectOrRun::Runtime(error)) => Err(args.engine.fail(&error)),
        Err(ConnectOrRun::Setup(error)) => Err(error),
    }
}
