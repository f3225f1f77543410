//! The server: the engine connected and described once, the socket made, then connections
//! accepted and served (HTTP/1.1, upgrades allowed) until shutdown.
//!
//! Every connection is a task with bounded request heads (size and time to arrive). At
//! shutdown the listener closes first, connections finish the request in flight and close
//! (`graceful_shutdown`), and what is still open after the shutdown timeout — streams such as
//! `logs -f`, upgraded `exec -it` sessions — is closed.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lowering::ir::Target;
use runtime::engine::Platform;
use runtime::{EngineAddress, Runtime, RuntimeOptions};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, debug, info, info_span, warn};

use crate::config::{FrontConfig, FrontError, TargetChoice};
use crate::handler;
use crate::listener::{self, SocketFile};
use crate::proxy::Engine;
use crate::state::State;

/// The most header fields a request may have (the Docker CLI sends about ten).
const MAX_HEADERS: usize = 128;

/// A bound front, ready to serve.
#[derive(Debug)]
pub struct Front {
    listener: UnixListener,
    socket: SocketFile,
    state: Arc<State>,
    tasks: TaskTracker,
    closing: CancellationToken,
    shutdown_timeout: Duration,
}

impl Front {
    /// Connects to the engine (negotiating its API version), decides the target platform,
    /// and makes the listening socket.
    ///
    /// # Errors
    /// [`FrontError::EngineIsFront`] when the engine address is the listening socket;
    /// [`FrontError::Engine`] when the engine cannot be reached; [`FrontError::Socket`],
    /// [`FrontError::UnknownGroup`] for the socket.
    pub async fn bind(config: FrontConfig) -> Result<Self, FrontError> {
        if let EngineAddress::Unix(engine) = &config.engine
            && same_file(engine, &config.listen)
        {
            return Err(FrontError::EngineIsFront {
                path: config.listen.clone(),
            });
        }
        let group = config
            .group
            .as_deref()
            .map(listener::resolve_group)
            .transpose()?;
        let options = |request_timeout| RuntimeOptions {
            request_timeout,
            lock_dir: config.lock_dir.clone(),
            lock_timeout: config.lock_timeout,
        };
        let runtime = Runtime::connect(&config.engine, options(config.engine_timeout)).await?;
        let pull_runtime = Runtime::connect(&config.engine, options(config.pull_timeout)).await?;
        let target = match config.plan.target {
            TargetChoice::Fixed(target) => target,
            TargetChoice::Auto => {
                let info = runtime.info().await?;
                if info.rootless {
                    warn!(
                        "the engine runs rootless: it refuses host IPC, which Linux plans ask for"
                    );
                }
                match info.platform {
                    Platform::Linux => Target::Linux,
                    Platform::Mac => Target::Mac,
                }
            }
        };
        let (listener, socket) = listener::bind(&config.listen, group)?;
        let tasks = TaskTracker::new();
        let closing = CancellationToken::new();
        let engine = Engine::new(
            config.engine.clone(),
            config.connect_timeout,
            config.engine_timeout,
            tasks.clone(),
            closing.clone(),
        );
        info!(
            listen = %config.listen.display(),
            engine = %config.engine,
            api = %runtime.api_version(),
            %target,
            lock_dir = %config.lock_dir.display(),
            "serving the Docker Engine API for tarsnode"
        );
        Ok(Self {
            listener,
            socket,
            state: Arc::new(State {
                runtime,
                pull_runtime,
                pull_timeout: config.pull_timeout,
                engine,
                target,
                plan: config.plan,
                limits: config.limits.clone(),
                listen: config.listen.clone(),
                lock_dir: config.lock_dir,
            }),
            tasks,
            closing,
            shutdown_timeout: config.limits.shutdown_timeout,
        })
    }

    /// The socket's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.socket.path()
    }

    /// The platform services are planned for.
    #[must_use]
    pub fn target(&self) -> Target {
        self.state.target
    }

    /// Serves until `shutdown` completes, then drains (see the module documentation) and
    /// removes the socket.
    ///
    /// Connections are served on the calling thread (a [`tokio::task::LocalSet`]): the
    /// runtime's launch and pull report progress through callbacks that are not `Send`. Every
    /// request is still concurrent with every other; what is parallel is the engine's work.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        tokio::task::LocalSet::new()
            .run_until(self.serve_local(shutdown))
            .await;
    }

    async fn serve_local(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            socket,
            state,
            tasks,
            closing,
            shutdown_timeout,
        } = self;
        let draining = CancellationToken::new();
        let connections = AtomicU64::new(1);
        let mut shutdown = pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: wait rather than spin.
                    warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let number = connections.fetch_add(1, Ordering::Relaxed);
            let peer = stream.peer_cred().ok();
            let span = info_span!(
                "connection",
                c = number,
                uid = peer.map(|p| p.uid()),
                pid = peer.and_then(|p| p.pid()),
            );
            let state = Arc::clone(&state);
            let draining = draining.clone();
            let closing = closing.clone();
            let limits = state.limits.clone();
            tasks.spawn_local(
                async move {
                    let service =
                        service_fn(move |request| handler::handle(Arc::clone(&state), request));
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_read_timeout)
                        .max_header_size(limits.max_header_bytes)
                        .max_headers(MAX_HEADERS)
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    let mut connection = pin!(connection);
                    let result = tokio::select! {
                        result = connection.as_mut() => result,
                        () = draining.cancelled() => {
                            connection.as_mut().graceful_shutdown();
                            tokio::select! {
                                result = connection.as_mut() => result,
                                () = closing.cancelled() => Ok(()),
                            }
                        }
                    };
                    if let Err(e) = result {
                        debug!(error = %e, "connection ended with an error");
                    }
                }
                .instrument(span),
            );
        }
        drop(listener);
        info!(
            open = tasks.len(),
            timeout_s = shutdown_timeout.as_secs(),
            "shutting down: finishing the requests in flight"
        );
        draining.cancel();
        tasks.close();
        if tokio::time::timeout(shutdown_timeout, tasks.wait())
            .await
            .is_err()
        {
            warn!(open = tasks.len(), "closing what is still open");
            closing.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
        }
        drop(socket);
        info!("stopped");
    }
}

/// Whether two paths name the same file (or are the same text when either does not exist).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => normalise(a) == normalise(b),
    }
}

fn normalise(path: &Path) -> PathBuf {
    PathBuf::from(lowering::paths::clean(&path.to_string_lossy()))
}
