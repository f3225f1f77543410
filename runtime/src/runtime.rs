//! [`Runtime`]: the container lifecycle on one engine — launch (idempotent, serialised per
//! service), stop (running the stop script), restart, remove, status, logs — and image
//! pulls.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt as _};
use serde::Serialize;

use crate::diagnose;
use crate::engine::{self, EngineAddress, EngineInfo, Failure, classify};
use crate::error::{Error, Operation, Result};
use crate::image::{
    self, EnsuredImage, PullPolicy, PullProgress, PullReport, PullStep, RegistryAuth,
};
use crate::keepalive;
use crate::lock::{ServiceLock, default_lock_dir, lock_service};
use crate::request::{
    LABEL_APP, LABEL_MANAGED_BY, LABEL_NODE, LABEL_PLAN_HASH, LABEL_SERVER, LaunchRequest,
    MANAGED_BY_VALUE,
};

mod tars;

use crate::admin;
use tars::GracefulStop;
pub use tars::{NotifyReport, ProbeReport};

/// How the runtime talks to the engine and serialises its work.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// The timeout of one engine request (stop and restart add their grace period to it).
    pub request_timeout: Duration,
    /// Where the per-service lock files live.
    pub lock_dir: PathBuf,
    /// How long a command waits for another command on the same service.
    pub lock_timeout: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(120),
            lock_dir: default_lock_dir(),
            lock_timeout: Duration::from_secs(300),
        }
    }
}

/// A connected engine.
#[derive(Clone, Debug)]
pub struct Runtime {
    docker: Docker,
    address: String,
    options: RuntimeOptions,
}

/// How a launch may treat what it finds.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    /// Take over (replace) a container of the same name that tarsdock did not create.
    pub adopt: bool,
    /// Grace period when an old container is stopped to be replaced.
    pub stop_timeout: Duration,
    /// Whether a missing or different image may be pulled.
    pub pull: PullPolicy,
    /// Registry credentials for the pull.
    pub auth: Option<RegistryAuth>,
    /// What the mount and container policy lets through (nothing by default).
    pub policy: crate::policy::LaunchPolicy,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        Self {
            adopt: false,
            stop_timeout: Duration::from_secs(10),
            pull: PullPolicy::IfNeeded,
            auth: None,
            policy: crate::policy::LaunchPolicy::default(),
        }
    }
}

/// A step of a launch, for progress output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LaunchEvent {
    Locked {
        path: PathBuf,
    },
    ImagePresent {
        image: String,
        id: String,
    },
    Pulling {
        image: String,
        reason: String,
    },
    Pull(PullProgress),
    Found {
        id: String,
        state: String,
        managed: bool,
        same_plan: bool,
    },
    Stopping {
        id: String,
    },
    Removing {
        id: String,
    },
    Creating {
        name: String,
    },
    Created {
        id: String,
    },
    Starting {
        id: String,
    },
    Running {
        id: String,
        pid: Option<i64>,
    },
}

impl fmt::Display for LaunchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Locked { path } => write!(f, "locked {}", path.display()),
            Self::ImagePresent { image, id } => write!(f, "image {image} present ({id})"),
            Self::Pulling { image, reason } => write!(f, "pulling {image}: {reason}"),
            Self::Pull(p) => match &p.layer {
                Some(layer) => write!(f, "pull {layer}: {}", p.status),
                None => write!(f, "pull: {}", p.status),
            },
            Self::Found {
                id,
                state,
                managed,
                same_plan,
            } => write!(
                f,
                "found container {id} ({state}, {}, {})",
                if *managed {
                    "managed"
                } else {
                    "not managed by tarsdock"
                },
                if *same_plan {
                    "same plan"
                } else {
                    "different plan"
                }
            ),
            Self::Stopping { id } => write!(f, "stopping {id}"),
            Self::Removing { id } => write!(f, "removing {id}"),
            Self::Creating { name } => write!(f, "creating {name}"),
            Self::Created { id } => write!(f, "created {id}"),
            Self::Starting { id } => write!(f, "starting {id}"),
            Self::Running { id, pid } => match pid {
                Some(pid) => write!(f, "running {id} (pid {pid})"),
                None => write!(f, "{id} is not running after start"),
            },
        }
    }
}

/// What a launch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaunchAction {
    /// The running container already matched the plan; nothing was touched.
    Unchanged,
    /// A stopped container with the same plan was started again.
    Started,
    /// No container existed; one was created and started.
    Created,
    /// A container with another plan (or image, or an adopted one) was replaced.
    Replaced,
}

/// The outcome of a launch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LaunchReport {
    pub name: String,
    pub action: LaunchAction,
    pub id: String,
    /// The replaced container and why it was replaced.
    pub previous_id: Option<String>,
    pub reason: Option<String>,
    /// The container state after the launch (`running`, or `exited` when the service died
    /// at once).
    pub state: String,
    /// The host pid of the container's first process.
    pub pid: Option<i64>,
    pub started_at: Option<String>,
    pub image: String,
    pub image_id: String,
    /// Why the image was pulled, when it was.
    pub pulled: Option<String>,
    pub plan_hash: String,
    /// Warnings the engine returned on create.
    pub warnings: Vec<String>,
    /// The binary preflight, when a container was created for a request naming its
    /// executable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<crate::preflight::PreflightReport>,
}

/// How to stop a service.
#[derive(Clone, Debug)]
pub struct StopOptions {
    /// Grace period between SIGTERM and SIGKILL.
    pub timeout: Duration,
    /// A script (path inside the container) to run first, via exec.
    pub script: Option<String>,
    /// How long the script may run.
    pub script_timeout: Duration,
    /// Remove the container after stopping it.
    pub remove: bool,
    /// Act on a container tarsdock did not create.
    pub adopt: bool,
}

impl Default for StopOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            script: None,
            script_timeout: Duration::from_secs(60),
            remove: false,
            adopt: false,
        }
    }
}

/// What happened to the stop script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScriptReport {
    pub command: Vec<String>,
    /// The script's exit code, when it finished.
    pub exit_code: Option<i64>,
    /// Whether it was still running at the deadline.
    pub timed_out: bool,
    /// Its output (stdout and stderr interleaved), cut at 64 KiB.
    pub output: String,
    /// Why it could not be run, when it could not.
    pub error: Option<String>,
}

/// What a stop did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopAction {
    /// There was no such container.
    Absent,
    /// It was not running.
    AlreadyStopped,
    /// It was stopped.
    Stopped,
}

/// Which step of a stop ended the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndedBy {
    /// It exited by itself after `AdminF::shutdown` on its `local` endpoint (as tarsnode stops
    /// a Tars server), within its `deactivating-timeout`.
    AdminShutdown,
    /// The engine's stop: the stop signal, and the process exited within the grace period.
    Sigterm,
    /// The grace period ran out and the engine killed it.
    Sigkill,
}

impl EndedBy {
    /// The step's name as in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AdminShutdown => "admin-shutdown",
            Self::Sigterm => "sigterm",
            Self::Sigkill => "sigkill",
        }
    }

    /// After the engine's stop: SIGKILL leaves exit code 137 (128 + 9).
    fn after_engine_stop(exit_code: Option<i64>) -> Self {
        if exit_code == Some(137) {
            Self::Sigkill
        } else {
            Self::Sigterm
        }
    }
}

/// The outcome of a stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StopReport {
    pub name: String,
    pub action: StopAction,
    pub id: Option<String>,
    pub script: Option<ScriptReport>,
    /// The admin step (`AdminF::shutdown`), when the service has an admin endpoint.
    pub admin: Option<admin::AdminStep>,
    /// Which step ended it (when it was running).
    pub ended_by: Option<EndedBy>,
    /// The container's exit code after the stop.
    pub exit_code: Option<i64>,
    pub removed: bool,
}

/// The outcome of a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RestartReport {
    pub name: String,
    pub id: String,
    /// The admin step of the stop half, when the service was running with an admin endpoint.
    pub admin: Option<admin::AdminStep>,
    /// Which step ended the old process (when it was running).
    pub ended_by: Option<EndedBy>,
    pub state: String,
    pub pid: Option<i64>,
    pub started_at: Option<String>,
}

/// The outcome of a remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoveReport {
    pub name: String,
    pub id: Option<String>,
    /// Whether it had to be stopped first.
    pub stopped: bool,
    /// Which step ended it, when it had to be stopped.
    pub ended_by: Option<EndedBy>,
    /// Whether a container was removed (`false`: there was none).
    pub removed: bool,
}

/// A service container's state as tarsnode needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerStatus {
    pub name: String,
    /// `running`, `exited`, `created`, `paused`, `restarting`, `removing`, `dead`, or
    /// `absent` when there is no such container.
    pub state: String,
    pub id: Option<String>,
    /// The host pid of the first process, while running.
    pub pid: Option<i64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i64>,
    pub oom_killed: Option<bool>,
    /// The engine's error for the last start, when there was one.
    pub error: Option<String>,
    /// Whether tarsdock created it (label `tarsdock.managed-by=tarsdock`).
    pub managed: bool,
    pub plan_hash: Option<String>,
    pub app: Option<String>,
    pub server: Option<String>,
    pub node: Option<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub restart_count: Option<i64>,
    /// The server's own answer (`status --probe`), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeReport>,
}

impl ContainerStatus {
    fn absent(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: "absent".to_owned(),
            id: None,
            pid: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            oom_killed: None,
            error: None,
            managed: false,
            plan_hash: None,
            app: None,
            server: None,
            node: None,
            image: None,
            image_id: None,
            restart_count: None,
            probe: None,
        }
    }

    fn from_inspect(name: &str, inspect: &ContainerInspectResponse) -> Self {
        let state = inspect.state.as_ref();
        let status = state.and_then(|s| s.status);
        let running = status == Some(ContainerStateStatusEnum::RUNNING);
        let labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
        let label = |key: &str| labels.and_then(|l| l.get(key)).cloned();
        let time = |t: Option<&String>| {
            t.filter(|t| !t.is_empty() && !t.starts_with("0001-01-01"))
                .cloned()
        };
        Self {
            name: name.to_owned(),
            state: status.map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
            id: inspect.id.clone(),
            pid: state.and_then(|s| s.pid).filter(|&pid| {
                pid > 0 && (running || status == Some(ContainerStateStatusEnum::PAUSED))
            }),
            started_at: time(state.and_then(|s| s.started_at.as_ref())),
            finished_at: time(state.and_then(|s| s.finished_at.as_ref())),
            exit_code: state.and_then(|s| s.exit_code),
            oom_killed: state.and_then(|s| s.oom_killed),
            error: state
                .and_then(|s| s.error.clone())
                .filter(|e| !e.is_empty()),
            managed: label(LABEL_MANAGED_BY).as_deref() == Some(MANAGED_BY_VALUE),
            plan_hash: label(LABEL_PLAN_HASH),
            app: label(LABEL_APP),
            server: label(LABEL_SERVER),
            node: label(LABEL_NODE),
            image: inspect.config.as_ref().and_then(|c| c.image.clone()),
            image_id: inspect.image.clone(),
            restart_count: inspect.restart_count,
            probe: None,
        }
    }

    fn status_enum(&self) -> Option<ContainerStateStatusEnum> {
        self.state.parse().ok()
    }
}

/// How to read logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogsRequest {
    /// Keep streaming new output.
    pub follow: bool,
    /// Only the last N lines (all when `None`).
    pub tail: Option<u64>,
    /// Prefix each line with the engine's timestamp.
    pub timestamps: bool,
}

/// Which stream a log chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// A TTY container's combined output.
    Console,
    Stdin,
}

/// A piece of a container's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    pub stream: LogStream,
    pub bytes: Vec<u8>,
}

const SCRIPT_OUTPUT_LIMIT: usize = 64 * 1024;

impl Runtime {
    /// Connects to the engine at `address` and negotiates the API version.
    ///
    /// # Errors
    /// See [`engine::connect`].
    pub async fn connect(address: &EngineAddress, options: RuntimeOptions) -> Result<Self> {
        let docker = engine::connect(address, options.request_timeout).await?;
        Ok(Self {
            docker,
            address: address.to_string(),
            options,
        })
    }

    /// The bollard client (after negotiation).
    #[must_use]
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The engine address, as displayed in messages.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The negotiated API version (`1.41`).
    #[must_use]
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// What the engine says about itself, and the platform that implies.
    ///
    /// # Errors
    /// Transport, timeout and engine errors.
    pub async fn info(&self) -> Result<EngineInfo> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| self.error(&e, Operation::Info, "the engine"))?;
        Ok(EngineInfo::from_system_info(
            self.address.clone(),
            self.api_version(),
            &info,
        ))
    }

    /// Takes the service's lock (see [`crate::lock`]).
    ///
    /// # Errors
    /// See [`lock_service`].
    pub async fn lock(&self, name: &str) -> Result<ServiceLock> {
        lock_service(&self.options.lock_dir, name, self.options.lock_timeout).await
    }

    /// Pulls an image (see [`crate::image`] for the credential and stream handling).
    ///
    /// # Errors
    /// [`Error::PullFailed`], [`Error::Timeout`], [`Error::EngineUnreachable`].
    pub async fn pull(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        progress: &mut dyn FnMut(&PullProgress),
    ) -> Result<PullReport> {
        image::pull(&self.docker, &self.address, image, auth, progress).await
    }

    /// Makes the service's container match the request: an unchanged running container is
    /// left alone, a stopped one with the same plan is started, a changed plan or image
    /// replaces it. Holds the service lock throughout.
    ///
    /// # Errors
    /// Every [`Error`] class; see the crate documentation.
    pub async fn launch(
        &self,
        request: &LaunchRequest,
        options: &LaunchOptions,
        events: &mut dyn FnMut(LaunchEvent),
    ) -> Result<LaunchReport> {
        let mut body = request.to_create_body()?;
        keepalive::record(&mut body);
        let name = request.name.as_str();
        let lock = self.lock(name).await?;
        events(LaunchEvent::Locked {
            path: lock.path().to_path_buf(),
        });

        let image = self.ensure_image(request, options, events).await?;
        let mut report = LaunchReport {
            name: name.to_owned(),
            action: LaunchAction::Created,
            id: String::new(),
            previous_id: None,
            reason: None,
            state: String::new(),
            pid: None,
            started_at: None,
            image: request.image.clone(),
            image_id: image.id.clone(),
            pulled: image.pulled.clone(),
            plan_hash: request.plan_hash.clone(),
            warnings: Vec::new(),
            preflight: None,
        };

        if let Some(existing) = self.inspect_named(name).await? {
            let status = ContainerStatus::from_inspect(name, &existing);
            let id = status.id.clone().unwrap_or_else(|| name.to_owned());
            let same_plan =
                status.managed && status.plan_hash.as_deref() == Some(request.plan_hash.as_str());
            events(LaunchEvent::Found {
                id: id.clone(),
                state: status.state.clone(),
                managed: status.managed,
                same_plan,
            });
            if !status.managed && !options.adopt {
                return Err(Error::ForeignContainer {
                    name: name.to_owned(),
                    id,
                });
            }
            let same_image = status.image_id.as_deref() == Some(image.id.as_str());
            if same_plan && same_image {
                use ContainerStateStatusEnum as S;
                match status.status_enum() {
                    Some(S::RUNNING | S::RESTARTING | S::PAUSED) => {
                        report.action = LaunchAction::Unchanged;
                        fill_from_status(&mut report, &status, id);
                        return Ok(report);
                    }
                    Some(S::CREATED | S::EXITED) => {
                        crate::policy::enforce(request, &body, &options.policy, &self.address)?;
                        events(LaunchEvent::Starting { id: id.clone() });
                        // A stop lifted the restart policy; the start puts it back.
                        keepalive::restore(&self.docker, &id, &existing)
                            .await
                            .map_err(|e| self.refusal(&e, Operation::Start, name, None))?;
                        self.start(&id, request).await?;
                        let now = self.status_of(name, &id).await?;
                        events(LaunchEvent::Running {
                            id: id.clone(),
                            pid: now.pid,
                        });
                        report.action = LaunchAction::Started;
                        fill_from_status(&mut report, &now, id);
                        return Ok(report);
                    }
                    _ => {}
                }
            }
            let reason = if !status.managed {
                "adopted a container tarsdock did not create".to_owned()
            } else if !same_plan {
                format!(
                    "plan changed ({} -> {})",
                    status.plan_hash.as_deref().unwrap_or("none"),
                    request.plan_hash
                )
            } else if !same_image {
                format!(
                    "image changed ({} -> {})",
                    status.image_id.as_deref().unwrap_or("none"),
                    image.id
                )
            } else {
                format!("the container is {}", status.state)
            };
            // A body the policy refuses, or a package or image the service cannot run on,
            // must not take the old one down; the preflight container gets a checked body.
            crate::policy::enforce(request, &body, &options.policy, &self.address)?;
            report.preflight = self.preflight(request, &body).await?;
            self.stop_and_remove(&id, &status, &existing, options.stop_timeout, events)
                .await?;
            report.action = LaunchAction::Replaced;
            report.previous_id = Some(id);
            report.reason = Some(reason);
        } else {
            crate::policy::enforce(request, &body, &options.policy, &self.address)?;
            report.preflight = self.preflight(request, &body).await?;
        }

        events(LaunchEvent::Creating {
            name: name.to_owned(),
        });
        crate::policy::enforce(request, &body, &options.policy, &self.address)?;
        let create = CreateContainerOptionsBuilder::default().name(name).build();
        let created = self
            .docker
            .create_container(Some(create), body)
            .await
            .map_err(|e| self.create_error(&e, request))?;
        let id = created.id;
        report.warnings = created
            .warnings
            .into_iter()
            .filter(|w| !w.is_empty())
            .collect();
        events(LaunchEvent::Created { id: id.clone() });
        events(LaunchEvent::Starting { id: id.clone() });
        if let Err(error) = self.start(&id, request).await {
            // Leave nothing half-made: the next launch creates it afresh.
            let remove = RemoveContainerOptionsBuilder::default().force(true).build();
            if let Err(e) = self.docker.remove_container(&id, Some(remove)).await {
                tracing::warn!(%id, error = %e, "could not remove the container that failed to start");
            }
            return Err(error);
        }
        let now = self.status_of(name, &id).await?;
        events(LaunchEvent::Running {
            id: id.clone(),
            pid: now.pid,
        });
        fill_from_status(&mut report, &now, id);
        Ok(report)
    }

    /// Stops a service: runs the stop script inside the container first (exec created,
    /// started and waited for), then stops with the grace period. The stopped container is
    /// kept (an unchanged relaunch only starts it) unless `remove` is set.
    ///
    /// # Errors
    /// [`Error::ForeignContainer`] without `adopt`; engine errors.
    pub async fn stop(&self, name: &str, options: &StopOptions) -> Result<StopReport> {
        let _lock = self.lock(name).await?;
        let Some(existing) = self.inspect_named(name).await? else {
            return Ok(StopReport {
                name: name.to_owned(),
                action: StopAction::Absent,
                id: None,
                script: None,
                admin: None,
                ended_by: None,
                exit_code: None,
                removed: false,
            });
        };
        let status = ContainerStatus::from_inspect(name, &existing);
        let id = status.id.clone().unwrap_or_else(|| name.to_owned());
        if !status.managed && !options.adopt {
            return Err(Error::ForeignContainer {
                name: name.to_owned(),
                id,
            });
        }
        let state = status.status_enum();
        let running = matches!(
            state,
            Some(
                ContainerStateStatusEnum::RUNNING
                    | ContainerStateStatusEnum::RESTARTING
                    | ContainerStateStatusEnum::PAUSED
            )
        );
        let mut script = None;
        let mut stopped = GracefulStop::default();
        let action = if running {
            if let (Some(path), Some(ContainerStateStatusEnum::RUNNING)) =
                (options.script.as_deref(), state)
            {
                script = Some(self.run_script(&id, path, options.script_timeout).await);
            }
            stopped = self
                .stop_gracefully(&id, &existing, options.timeout)
                .await?;
            StopAction::Stopped
        } else {
            StopAction::AlreadyStopped
        };
        let after = self.status_of(name, &id).await?;
        let mut removed = false;
        if options.remove {
            self.remove_container(&id).await?;
            removed = true;
        }
        Ok(StopReport {
            name: name.to_owned(),
            action,
            id: Some(id),
            script,
            admin: stopped.admin,
            ended_by: stopped.ended_by,
            exit_code: after.exit_code,
            removed,
        })
    }

    /// Restarts an existing container (stop with the grace period, then start).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::ForeignContainer`] without `adopt`; engine errors.
    pub async fn restart(
        &self,
        name: &str,
        timeout: Duration,
        adopt: bool,
    ) -> Result<RestartReport> {
        let _lock = self.lock(name).await?;
        let status = self.managed_status(name, adopt).await?;
        let id = status.id.clone().unwrap_or_else(|| name.to_owned());
        // Stop the Tars way (as `stop` does), then start: the engine's own restart would only
        // send the stop signal.
        let mut stopped = GracefulStop::default();
        if is_running(&status)
            && let Some(inspect) = self.inspect(&id).await?
        {
            stopped = self.stop_gracefully(&id, &inspect, timeout).await?;
        }
        if let Some(inspect) = self.inspect(&id).await? {
            keepalive::restore(&self.docker, &id, &inspect)
                .await
                .map_err(|e| self.refusal(&e, Operation::Restart, name, None))?;
        }
        self.docker
            .start_container(&id, None)
            .await
            .map_err(|e| self.refusal(&e, Operation::Restart, name, None))?;
        let now = self.status_of(name, &id).await?;
        Ok(RestartReport {
            name: name.to_owned(),
            id,
            admin: stopped.admin,
            ended_by: stopped.ended_by,
            state: now.state,
            pid: now.pid,
            started_at: now.started_at,
        })
    }

    /// Removes a service container, stopping it first with the grace period. An absent
    /// container is not an error.
    ///
    /// # Errors
    /// [`Error::ForeignContainer`] without `adopt`; engine errors.
    pub async fn remove(&self, name: &str, timeout: Duration, adopt: bool) -> Result<RemoveReport> {
        let _lock = self.lock(name).await?;
        let Some(existing) = self.inspect_named(name).await? else {
            return Ok(RemoveReport {
                name: name.to_owned(),
                id: None,
                stopped: false,
                ended_by: None,
                removed: false,
            });
        };
        let status = ContainerStatus::from_inspect(name, &existing);
        let id = status.id.clone().unwrap_or_else(|| name.to_owned());
        if !status.managed && !adopt {
            return Err(Error::ForeignContainer {
                name: name.to_owned(),
                id,
            });
        }
        let stopped = is_running(&status);
        let mut ended_by = None;
        if stopped {
            ended_by = self
                .stop_gracefully(&id, &existing, timeout)
                .await?
                .ended_by;
        }
        self.remove_container(&id).await?;
        Ok(RemoveReport {
            name: name.to_owned(),
            id: Some(id),
            stopped,
            ended_by,
            removed: true,
        })
    }

    /// The container's state (`absent` when there is none).
    ///
    /// # Errors
    /// Transport, timeout and engine errors.
    pub async fn status(&self, name: &str) -> Result<ContainerStatus> {
        Ok(match self.inspect_named(name).await? {
            Some(inspect) => ContainerStatus::from_inspect(name, &inspect),
            None => ContainerStatus::absent(name),
        })
    }

    /// The container's output, as a stream (endless with `follow`).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such container; stream items carry engine
    /// errors.
    pub async fn logs(
        &self,
        name: &str,
        request: LogsRequest,
    ) -> Result<impl Stream<Item = Result<LogChunk>> + Send + 'static + use<>> {
        if self.inspect_named(name).await?.is_none() {
            return Err(Error::NotFound {
                name: name.to_owned(),
            });
        }
        let tail = request
            .tail
            .map_or_else(|| "all".to_owned(), |n| n.to_string());
        let options = LogsOptionsBuilder::default()
            .follow(request.follow)
            .stdout(true)
            .stderr(true)
            .timestamps(request.timestamps)
            .tail(&tail)
            .build();
        let address = self.address.clone();
        let target = name.to_owned();
        let timeout = self.docker.timeout();
        Ok(self
            .docker
            .logs(name, Some(options))
            .map(move |item| match item {
                Ok(output) => {
                    use bollard::container::LogOutput as L;
                    let (stream, bytes) = match output {
                        L::StdOut { message } => (LogStream::Stdout, message),
                        L::StdErr { message } => (LogStream::Stderr, message),
                        L::Console { message } => (LogStream::Console, message),
                        L::StdIn { message } => (LogStream::Stdin, message),
                    };
                    Ok(LogChunk {
                        stream,
                        bytes: bytes.to_vec(),
                    })
                }
                Err(e) => Err(match classify(&e) {
                    Failure::Timeout => Error::Timeout {
                        operation: Operation::Logs,
                        target: target.clone(),
                        address: address.clone(),
                        after: timeout,
                    },
                    Failure::Transport(reason) => Error::EngineUnreachable {
                        address: address.clone(),
                        reason,
                    },
                    Failure::Server { message, .. } | Failure::Other(message) => Error::Engine {
                        operation: Operation::Logs,
                        target: target.clone(),
                        message,
                    },
                }),
            }))
    }

    async fn ensure_image(
        &self,
        request: &LaunchRequest,
        options: &LaunchOptions,
        events: &mut dyn FnMut(LaunchEvent),
    ) -> Result<EnsuredImage> {
        let image = image::ensure_image(
            &self.docker,
            &self.address,
            &request.image,
            request.expected_image_id.as_deref(),
            options.pull,
            options.auth.as_ref(),
            &mut |step| match step {
                PullStep::Starting(reason) => events(LaunchEvent::Pulling {
                    image: request.image.clone(),
                    reason: reason.to_owned(),
                }),
                PullStep::Progress(progress) => events(LaunchEvent::Pull(progress.clone())),
            },
        )
        .await?;
        if image.pulled.is_none() {
            events(LaunchEvent::ImagePresent {
                image: image.image.clone(),
                id: image.id.clone(),
            });
        }
        Ok(image)
    }

    /// Inspects a container; `None` when there is none of that name.
    async fn inspect(&self, name: &str) -> Result<Option<ContainerInspectResponse>> {
        match self.docker.inspect_container(name, None).await {
            Ok(inspect) => Ok(Some(inspect)),
            Err(e) => match classify(&e) {
                Failure::Server { status: 404, .. } => Ok(None),
                failure => Err(image::engine_error(
                    failure,
                    Operation::Inspect,
                    name,
                    &self.address,
                    &self.docker,
                )),
            },
        }
    }

    /// Inspects the container *named* `name`. The engine also resolves id prefixes, so a
    /// name that happens to be a prefix of another container's id would find that one; such
    /// a match is not the service's container.
    async fn inspect_named(&self, name: &str) -> Result<Option<ContainerInspectResponse>> {
        Ok(self.inspect(name).await?.filter(|inspect| {
            inspect.name.as_deref().map(|n| n.trim_start_matches('/')) == Some(name)
        }))
    }

    /// The status of a container that must exist.
    async fn status_of(&self, name: &str, id: &str) -> Result<ContainerStatus> {
        match self.inspect(id).await? {
            Some(inspect) => Ok(ContainerStatus::from_inspect(name, &inspect)),
            None => Err(Error::Conflict {
                name: name.to_owned(),
                message: format!("container {id} disappeared (removed by someone else?)"),
            }),
        }
    }

    async fn managed_status(&self, name: &str, adopt: bool) -> Result<ContainerStatus> {
        let Some(existing) = self.inspect_named(name).await? else {
            return Err(Error::NotFound {
                name: name.to_owned(),
            });
        };
        let status = ContainerStatus::from_inspect(name, &existing);
        if !status.managed && !adopt {
            return Err(Error::ForeignContainer {
                name: name.to_owned(),
                id: status.id.unwrap_or_default(),
            });
        }
        Ok(status)
    }

    async fn start(&self, id: &str, request: &LaunchRequest) -> Result<()> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| self.start_error(&e, request))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let options = StopContainerOptionsBuilder::default()
            .t(seconds_i32(timeout))
            .build();
        match self
            .with_grace(timeout)
            .stop_container(id, Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match classify(&e) {
                // Already gone (auto-remove) counts as stopped.
                Failure::Server { status: 404, .. } => Ok(()),
                _ => Err(self.refusal(&e, Operation::Stop, id, None)),
            },
        }
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default().build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) => match classify(&e) {
                Failure::Server { status: 404, .. } => Ok(()),
                Failure::Server {
                    status: 409,
                    message,
                } if message.to_ascii_lowercase().contains("in progress") => {
                    self.wait_gone(id).await
                }
                _ => Err(self.refusal(&e, Operation::Remove, id, None)),
            },
        }
    }

    /// Stops (when needed) and removes a container that is to be replaced.
    async fn stop_and_remove(
        &self,
        id: &str,
        status: &ContainerStatus,
        inspect: &ContainerInspectResponse,
        timeout: Duration,
        events: &mut dyn FnMut(LaunchEvent),
    ) -> Result<()> {
        use ContainerStateStatusEnum as S;
        match status.status_enum() {
            Some(S::REMOVING) => return self.wait_gone(id).await,
            Some(S::RUNNING | S::RESTARTING | S::PAUSED) => {
                events(LaunchEvent::Stopping { id: id.to_owned() });
                self.stop_gracefully(id, inspect, timeout).await?;
            }
            _ => {}
        }
        events(LaunchEvent::Removing { id: id.to_owned() });
        self.remove_container(id).await
    }

    /// Waits until a container being removed is gone.
    async fn wait_gone(&self, id: &str) -> Result<()> {
        let started = Instant::now();
        let limit = self.options.request_timeout;
        while self.inspect(id).await?.is_some() {
            if started.elapsed() >= limit {
                return Err(Error::Timeout {
                    operation: Operation::Remove,
                    target: id.to_owned(),
                    address: self.address.clone(),
                    after: limit,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Runs the stop script: exec created, started (attached) and waited for. Failures are
    /// reported, not raised: the container is stopped either way.
    async fn run_script(&self, id: &str, path: &str, timeout: Duration) -> ScriptReport {
        let command = vec![path.to_owned()];
        let mut report = ScriptReport {
            command: command.clone(),
            exit_code: None,
            timed_out: false,
            output: String::new(),
            error: None,
        };
        let exec = match self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(command),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    working_dir: Some("/".to_owned()),
                    ..Default::default()
                },
            )
            .await
        {
            Ok(exec) => exec.id,
            Err(e) => {
                report.error = Some(self.error(&e, Operation::Exec, id).to_string());
                return report;
            }
        };
        let mut output = Vec::new();
        let run = async {
            match self
                .docker
                .start_exec(&exec, Some(StartExecOptions::default()))
                .await?
            {
                StartExecResults::Attached {
                    output: mut stream, ..
                } => {
                    while let Some(chunk) = stream.next().await {
                        let bytes = chunk?.into_bytes();
                        let room = SCRIPT_OUTPUT_LIMIT.saturating_sub(output.len());
                        output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    }
                    Ok(())
                }
                StartExecResults::Detached => Ok(()),
            }
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report.error = Some(self.error(&e, Operation::Exec, id).to_string()),
            Err(_) => report.timed_out = true,
        }
        report.output = String::from_utf8_lossy(&output).into_owned();
        match self.docker.inspect_exec(&exec).await {
            Ok(inspect) if inspect.running != Some(true) => report.exit_code = inspect.exit_code,
            Ok(_) => report.timed_out = true,
            Err(e) => {
                report
                    .error
                    .get_or_insert(self.error(&e, Operation::Exec, id).to_string());
            }
        }
        report
    }

    /// A client whose request timeout covers a grace period.
    fn with_grace(&self, grace: Duration) -> Docker {
        self.docker
            .clone()
            .with_timeout(self.options.request_timeout + grace)
    }

    fn error(&self, error: &bollard::errors::Error, operation: Operation, target: &str) -> Error {
        image::engine_error(
            classify(error),
            operation,
            target,
            &self.address,
            &self.docker,
        )
    }

    fn refusal(
        &self,
        error: &bollard::errors::Error,
        operation: Operation,
        target: &str,
        origin: Option<String>,
    ) -> Error {
        match (classify(error), origin) {
            (
                Failure::Server {
                    status: 409,
                    message,
                },
                _,
            ) => Error::Conflict {
                name: target.to_owned(),
                message,
            },
            (Failure::Server { status, message }, origin) => Error::EngineRefused {
                operation,
                name: target.to_owned(),
                status: Some(status),
                message,
                origin,
            },
            _ => self.error(error, operation, target),
        }
    }

    fn create_error(&self, error: &bollard::errors::Error, request: &LaunchRequest) -> Error {
        match classify(error) {
            Failure::Server {
                status: 409,
                message,
            } => Error::Conflict {
                name: request.name.clone(),
                message,
            },
            Failure::Server { status, message }
                if status == 404 || image::is_no_such_image(&message) =>
            {
                Error::ImageUnavailable {
                    image: request.image.clone(),
                    reason: message,
                }
            }
            Failure::Server { message, .. }
                if diagnose::missing_mount_source(&message).is_some() =>
            {
                missing_source(request, message)
            }
            Failure::Server { status, message } => Error::EngineRefused {
                operation: Operation::Create,
                name: request.name.clone(),
                status: Some(status),
                origin: diagnose::origin_in_message(&request.mounts, &request.ports, &message),
                message,
            },
            _ => self.error(error, Operation::Create, &request.name),
        }
    }

    fn start_error(&self, error: &bollard::errors::Error, request: &LaunchRequest) -> Error {
        match classify(error) {
            Failure::Server { message, .. } if diagnose::is_port_in_use(&message) => {
                let port = diagnose::port_in_message(&request.ports, &message);
                Error::PortInUse {
                    address: port.map(crate::request::PortOrigin::address),
                    origin: port.map(|p| p.origin.clone()),
                    engine_message: message,
                }
            }
            Failure::Server { message, .. }
                if diagnose::missing_mount_source(&message).is_some() =>
            {
                missing_source(request, message)
            }
            Failure::Server {
                status: 409,
                message,
            } => Error::Conflict {
                name: request.name.clone(),
                message,
            },
            Failure::Server { status, message } => Error::EngineRefused {
                operation: Operation::Start,
                name: request.name.clone(),
                status: Some(status),
                origin: diagnose::origin_in_message(&request.mounts, &request.ports, &message),
                message,
            },
            _ => self.error(error, Operation::Start, &request.name),
        }
    }
}

fn missing_source(request: &LaunchRequest, message: String) -> Error {
    let path = diagnose::missing_mount_source(&message)
        .unwrap_or_default()
        .to_owned();
    let mount = diagnose::mount_for_source(&request.mounts, &path);
    Error::MountSourceMissing {
        host_path: path,
        container_path: mount.map(|m| m.container_path.clone()),
        origin: mount.map(|m| m.origin.clone()),
        engine_message: message,
    }
}

fn is_running(status: &ContainerStatus) -> bool {
    matches!(
        status.status_enum(),
        Some(
            ContainerStateStatusEnum::RUNNING
                | ContainerStateStatusEnum::RESTARTING
                | ContainerStateStatusEnum::PAUSED
        )
    )
}

fn fill_from_status(report: &mut LaunchReport, status: &ContainerStatus, id: String) {
    report.id = id;
    report.state.clone_from(&status.state);
    report.pid = status.pid;
    report.started_at.clone_from(&status.started_at);
}

fn seconds_i32(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}
