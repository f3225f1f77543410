//! [`Runtime`]: the container lifecycle on one engine — launch (idempotent, serialised per
//! service), stop (the stop sequence: stop script, engine stop with the planned grace period,
//! kill), restart, remove, status, logs — and image pulls.
//!
//! Every engine call is bounded as a whole (see [`crate::engine`]); every wait is bounded;
//! durations are clamped to [`MAX_WAIT`], so no flag value can overflow.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt as _};
use serde::Serialize;

use crate::admin;
use crate::content::{self, Ownership};
use crate::diagnose;
use crate::engine::{self, Engine, EngineAddress, EngineInfo, Failure};
use crate::error::{Error, Limit, Operation, Result};
use crate::image::{
    self, EnsuredImage, PullPolicy, PullProgress, PullReport, PullStep, RegistryAuth,
};
use crate::keepalive;
use crate::lock::{self, ServiceLock, default_lock_dir, lock_service};
use crate::request::{
    LABEL_APP, LABEL_MANAGED_BY, LABEL_NODE, LABEL_PLAN_HASH, LABEL_SERVER, LaunchRequest,
    MANAGED_BY_VALUE,
};

/// The longest duration tarsdock computes with: `i32::MAX` seconds (about 68 years), what
/// the engine's `t` parameter can carry. Longer flags are clamped to it, so adding a grace
/// period to a timeout can never overflow.
pub const MAX_WAIT: Duration = Duration::from_secs(i32::MAX as u64);

/// The grace period when neither `--timeout` nor the container's `StopTimeout` gives one
/// (Docker's own default).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// How long a launch waits for a container whose name the engine reports taken (create
/// said 409) but which inspect does not show yet: a create killed mid-way leaves the name
/// reserved a moment before the container is registered.
pub const NAME_SETTLE: Duration = Duration::from_secs(5);

/// How often a launch goes back through its decision after such a name conflict.
const NAME_ROUNDS: usize = 3;

/// How many execs of a container are looked at to find a stop script still running.
const EXEC_SCAN_LIMIT: usize = 64;

fn clamp(duration: Duration) -> Duration {
    duration.min(MAX_WAIT)
}

mod tars;

pub use tars::{NotifyReport, ProbeReport};

/// How the runtime talks to the engine and serialises its work.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// The limit of one engine request, head and body (stops and restarts add their grace
    /// period to it); also the longest silence of a pull or logs stream.
    pub request_timeout: Duration,
    /// Where the per-service lock files live (see [`crate::lock`]).
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
    engine: Engine,
    options: RuntimeOptions,
}

/// How a launch may treat what it finds.
#[derive(Clone, Debug, Default)]
pub struct LaunchOptions {
    /// Take over (replace) a container of the same name that tarsdock did not make for this
    /// service.
    pub adopt: bool,
    /// Grace period when an old container is stopped to be replaced; `None`: the old
    /// container's own `StopTimeout` (the plan's `deactivating-timeout`).
    pub stop_timeout: Option<Duration>,
    /// Whether a missing or different image may be pulled.
    pub pull: PullPolicy,
    /// Registry credentials for the pull.
    pub auth: Option<RegistryAuth>,
    /// What the mount and container policy lets through (nothing by default).
    pub policy: crate::policy::LaunchPolicy,
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
    /// The engine says the name is taken, but no container of that name is visible yet.
    NameTaken {
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
            Self::NameTaken { name } => write!(
                f,
                "name {name} is taken but no container shows it yet; waiting for it"
            ),
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
    /// A container with another plan (or image, or content, or an adopted one) was
    /// replaced.
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
    /// Grace period between the stop signal and SIGKILL; `None`: the container's own
    /// `StopTimeout` (the plan's `deactivating-timeout`), else [`DEFAULT_GRACE`].
    pub timeout: Option<Duration>,
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
            timeout: None,
            script: None,
            script_timeout: Duration::from_secs(60),
            remove: false,
            adopt: false,
        }
    }
}

/// The named steps of the stop sequence, in the order they run. Every command that stops a
/// container (`stop`, `rm`, `restart`, a replacing `launch`) goes through the same sequence;
/// steps that do not apply are skipped.
///
/// The Tars graceful stop (`AdminF::shutdown` on the server's `local` endpoint, then the
/// `deactivating-timeout` wait, as tarsnode's `CommandStop` does) belongs between
/// [`StopStep::Script`] and [`StopStep::EngineStop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StopStep {
    /// A paused container is unpaused, so it can run the stop script and handle the stop
    /// signal within the grace period.
    Unpause,
    /// The stop script runs inside the container (exec); at most one runs per container.
    Script,
    /// `AdminF::shutdown` to the server's admin endpoint (its `local` endpoint, from the
    /// `tarsdock.admin-endpoint` label), then up to its `deactivating-timeout` for it to exit
    /// by itself, as tarsnode's `CommandStop` does.
    AdminShutdown,
    /// The engine's stop: the stop signal, the grace period, then SIGKILL.
    EngineStop,
    /// SIGKILL, when the engine's stop did not end the container (or did not answer).
    Kill,
}

/// Which step of the stop sequence ended the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndedBy {
    /// It exited by itself after `AdminF::shutdown`, within its `deactivating-timeout`.
    AdminShutdown,
    /// The container exited on the stop signal within the grace period.
    Sigterm,
    /// It was killed: the grace period ran out (exit code 137 = 128 + SIGKILL), or the
    /// sequence had to kill it.
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
}

/// Where the grace period came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GraceSource {
    /// `--timeout` (or the caller's option).
    Flag,
    /// The container's own `StopTimeout`, i.e. the plan's `deactivating-timeout`.
    Container,
    /// Neither said: [`DEFAULT_GRACE`].
    Default,
}

/// What happened to the stop script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScriptReport {
    pub command: Vec<String>,
    /// The script's exit code, when it finished.
    pub exit_code: Option<i64>,
    /// Whether it was still running at the deadline.
    pub timed_out: bool,
    /// Its output (stdout and stderr interleaved), cut at 64 KiB; empty when joined.
    pub output: String,
    /// Why it could not be run, when it could not.
    pub error: Option<String>,
    /// Whether a copy started by an earlier stop (killed meanwhile) was still running and
    /// was waited for instead of starting another.
    pub joined: bool,
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

/// The outcome of a stop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StopReport {
    pub name: String,
    pub action: StopAction,
    pub id: Option<String>,
    pub script: Option<ScriptReport>,
    /// The container's exit code after the stop.
    pub exit_code: Option<i64>,
    pub removed: bool,
    /// Which step ended it, when the container was running.
    pub ended_by: Option<EndedBy>,
    /// The grace period used, in seconds.
    pub grace_period_s: Option<u64>,
    pub grace_from: Option<GraceSource>,
    /// The steps of the stop sequence that ran.
    pub steps: Vec<StopStep>,
    /// The admin step (`AdminF::shutdown`), when the service has an admin endpoint.
    pub admin: Option<admin::AdminStep>,
}

/// The outcome of a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RestartReport {
    pub name: String,
    pub id: String,
    pub state: String,
    pub pid: Option<i64>,
    pub started_at: Option<String>,
    /// How the stop before the start ended (none when it was not running).
    pub ended_by: Option<EndedBy>,
    pub grace_period_s: Option<u64>,
    pub grace_from: Option<GraceSource>,
    /// The admin step of that stop, when the service has an admin endpoint.
    pub admin: Option<admin::AdminStep>,
}

/// The outcome of a remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoveReport {
    pub name: String,
    pub id: Option<String>,
    /// Whether it had to be stopped first.
    pub stopped: bool,
    /// Whether a container was removed (`false`: there was none).
    pub removed: bool,
    /// How that stop ended.
    pub ended_by: Option<EndedBy>,
    pub grace_period_s: Option<u64>,
    pub grace_from: Option<GraceSource>,
}

/// What the stop sequence did to a running container.
struct Stopped {
    steps: Vec<StopStep>,
    script: Option<ScriptReport>,
    grace: Duration,
    grace_from: GraceSource,
    ended_by: EndedBy,
    /// The container afterwards (`None`: it is gone).
    after: Option<ContainerStatus>,
    /// The admin step, when there was one.
    admin: Option<admin::AdminStep>,
}

/// What the stop sequence is asked to do.
struct StopPlan<'a> {
    /// The caller's grace period; `None`: the container's own.
    grace: Option<Duration>,
    /// The stop script and how long it may run.
    script: Option<(&'a str, Duration)>,
}

/// A service container's state as tarsnode needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerStatus {
    pub name: String,
    /// `running`, `exited`, `created`, `paused`, `restarting`, `removing`, `dead`;
    /// `absent` when there is no such container; `replacing` while a launch replaces it.
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
    /// Whether tarsdock made it: every tarsdock label is there (`managed-by`, app, server,
    /// node, plan hash); a container with `tarsdock.managed-by` alone is not.
    pub managed: bool,
    pub plan_hash: Option<String>,
    pub app: Option<String>,
    pub server: Option<String>,
    pub node: Option<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub restart_count: Option<i64>,
    /// What another tarsdock command is doing to the service right now (`launching`,
    /// `replacing <id>`, `stopping`, `removing`, `restarting`), from the service lock.
    pub activity: Option<String>,
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
            activity: None,
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
            managed: content::ownership(labels) == Ownership::Ours,
            plan_hash: label(LABEL_PLAN_HASH),
            app: label(LABEL_APP),
            server: label(LABEL_SERVER),
            node: label(LABEL_NODE),
            image: inspect.config.as_ref().and_then(|c| c.image.clone()),
            image_id: inspect.image.clone(),
            restart_count: inspect.restart_count,
            activity: None,
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
    /// Connects to the engine at `address` and negotiates the API version. Durations in
    /// `options` are clamped to [`MAX_WAIT`].
    ///
    /// # Errors
    /// See [`engine::connect`].
    pub async fn connect(address: &EngineAddress, options: RuntimeOptions) -> Result<Self> {
        let options = RuntimeOptions {
            request_timeout: clamp(options.request_timeout),
            lock_timeout: clamp(options.lock_timeout),
            lock_dir: options.lock_dir,
        };
        let engine = engine::connect(address, options.request_timeout).await?;
        Ok(Self { engine, options })
    }

    /// The bollard client (after negotiation). Calls made on it directly are bounded only by
    /// bollard's head timeout; the runtime's own calls are bounded as a whole.
    #[must_use]
    pub fn docker(&self) -> &Docker {
        self.engine.docker()
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine address, as displayed in messages.
    #[must_use]
    pub fn address(&self) -> &str {
        self.engine.address()
    }

    /// The negotiated API version (`1.41`).
    #[must_use]
    pub fn api_version(&self) -> String {
        self.engine.docker().client_version().to_string()
    }

    /// The options in force (after clamping).
    #[must_use]
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// What the engine says about itself, and the platform that implies.
    ///
    /// # Errors
    /// Transport, timeout and engine errors.
    pub async fn info(&self) -> Result<EngineInfo> {
        let info = self
            .engine
            .call(self.engine.limit(), |d| async move { d.info().await })
            .await
            .map_err(|f| self.engine.error(f, Operation::Info, ""))?;
        Ok(EngineInfo::from_system_info(
            self.address().to_owned(),
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
        image::pull(&self.engine, image, auth, progress).await
    }

    /// Makes the service's container match the request: an unchanged running container is
    /// left alone, a stopped one with the same plan is started, a changed plan, image or
    /// content replaces it. Holds the service lock throughout.
    ///
    /// A name the engine reports taken at create (a launch killed during its create leaves
    /// it reserved a moment before the container is visible) is not a conflict: the launch
    /// waits for the container to appear ([`NAME_SETTLE`]) and decides again.
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
        crate::policy::record_allowed(&mut body, options.policy.allow);
        let name = request.name.as_str();
        let mut lock = self.lock(name).await?;
        lock.announce("launching");
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

        let mut round = 0;
        let created = loop {
            if let Some(existing) = self.inspect_named(name).await? {
                match self
                    .decide(request, &body, &image, &existing, options, events)
                    .await?
                {
                    Decision::Done(action, status, id) => {
                        report.action = action;
                        fill_from_status(&mut report, &status, id);
                        return Ok(report);
                    }
                    Decision::Replace { id, reason } => {
                        // A body the policy refuses, or a package or image the service
                        // cannot run on, must not take the old one down.
                        if report.preflight.is_none() {
                            self.check_policy(request, &body, options).await?;
                            report.preflight = self.preflight(request, &body).await?;
                        }
                        lock.announce(&format!("replacing {id}"));
                        self.stop_and_remove(name, &id, &existing, options.stop_timeout, events)
                            .await?;
                        report.action = LaunchAction::Replaced;
                        report.previous_id.get_or_insert(id);
                        report.reason.get_or_insert(reason);
                    }
                }
            }

            if report.preflight.is_none() {
                // The preflight's check container gets a body the policy has checked.
                self.check_policy(request, &body, options).await?;
                report.preflight = self.preflight(request, &body).await?;
            }
            events(LaunchEvent::Creating {
                name: name.to_owned(),
            });
            // Every create goes through here (the decision loop may come back after a name
            // conflict): the place for checks that must hold just before the engine creates.
            crate::policy::enforce(request, &body, &options.policy, self.address())?;
            let create = CreateContainerOptionsBuilder::default().name(name).build();
            let body = body.clone();
            let attempt = self
                .engine
                .call(self.engine.limit(), |d| async move {
                    d.create_container(Some(create), body).await
                })
                .await;
            match attempt {
                Ok(created) => break created,
                Err(Failure::Server {
                    status: 409,
                    message,
                }) if is_name_taken(&message) && round < NAME_ROUNDS => {
                    round += 1;
                    events(LaunchEvent::NameTaken {
                        name: name.to_owned(),
                    });
                    self.wait_for_name(name, &message).await?;
                }
                Err(failure) => return Err(self.create_error(failure, request)),
            }
        };
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
            let removed = self
                .engine
                .call(self.engine.limit(), |d| async move {
                    d.remove_container(&id, Some(remove)).await
                })
                .await;
            if let Err(e) = removed {
                tracing::warn!(error = ?e, "could not remove the container that failed to start");
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

    /// The policy on a body about to be created or started ([`crate::policy::enforce`]), and
    /// its mounts against every other container tarsdock made
    /// ([`crate::policy::enforce_neighbours`]).
    async fn check_policy(
        &self,
        request: &LaunchRequest,
        body: &bollard::models::ContainerCreateBody,
        options: &LaunchOptions,
    ) -> Result<()> {
        crate::policy::enforce(request, body, &options.policy, self.address())?;
        let neighbours = self.neighbours().await?;
        crate::policy::enforce_neighbours(
            request,
            body,
            &options.policy,
            &neighbours,
            self.address(),
        )
    }

    /// The bind mounts of every container tarsdock made on this engine, in any state.
    async fn neighbours(&self) -> Result<Vec<crate::policy::Neighbour>> {
        let filters = std::collections::HashMap::from([(
            "label",
            vec![format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}")],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .engine
            .call(self.engine.limit(), |d| async move {
                d.list_containers(Some(options)).await
            })
            .await
            .map_err(|f| {
                self.engine
                    .error(f, Operation::List, "tarsdock's containers")
            })?;
        Ok(listed
            .into_iter()
            .map(|c| crate::policy::Neighbour {
                name: c
                    .names
                    .iter()
                    .flatten()
                    .next()
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                binds: c
                    .mounts
                    .into_iter()
                    .flatten()
                    .filter(|m| m.typ.as_deref() == Some("bind"))
                    .filter_map(|m| Some((m.source?, m.rw.unwrap_or(true))))
                    .collect(),
            })
            .collect())
    }

    /// What to do with the container found under the request's name.
    async fn decide(
        &self,
        request: &LaunchRequest,
        body: &bollard::models::ContainerCreateBody,
        image: &EnsuredImage,
        existing: &ContainerInspectResponse,
        options: &LaunchOptions,
        events: &mut dyn FnMut(LaunchEvent),
    ) -> Result<Decision> {
        let name = request.name.as_str();
        let status = ContainerStatus::from_inspect(name, existing);
        let id = status.id.clone().unwrap_or_else(|| name.to_owned());
        let labels = existing.config.as_ref().and_then(|c| c.labels.as_ref());
        let ownership = content::ownership_for(labels, request);
        let ours = ownership == Ownership::Ours;
        let same_hash = status.plan_hash.as_deref() == Some(request.plan_hash.as_str());
        let drift = if ours && same_hash {
            content::differences(body, existing, &image.defaults)
        } else {
            Vec::new()
        };
        let same_plan = ours && same_hash && drift.is_empty();
        events(LaunchEvent::Found {
            id: id.clone(),
            state: status.state.clone(),
            managed: ours,
            same_plan,
        });
        if let Ownership::Foreign(reason) = &ownership
            && !options.adopt
        {
            return Err(Error::ForeignContainer {
                name: name.to_owned(),
                id,
                reason: reason.clone(),
            });
        }
        let same_image = status.image_id.as_deref() == Some(image.id.as_str());
        if same_plan && same_image {
            use ContainerStateStatusEnum as S;
            match status.status_enum() {
                Some(S::RUNNING | S::RESTARTING | S::PAUSED) => {
                    return Ok(Decision::Done(
                        LaunchAction::Unchanged,
                        Box::new(status),
                        id,
                    ));
                }
                Some(S::CREATED | S::EXITED) => {
                    self.check_policy(request, body, options).await?;
                    events(LaunchEvent::Starting { id: id.clone() });
                    // A stop lifted the restart policy; the start puts it back.
                    self.keepalive_restore(&id, existing).await?;
                    self.start(&id, request).await?;
                    let now = self.status_of(name, &id).await?;
                    events(LaunchEvent::Running {
                        id: id.clone(),
                        pid: now.pid,
                    });
                    return Ok(Decision::Done(LaunchAction::Started, Box::new(now), id));
                }
                _ => {}
            }
        }
        let reason = match &ownership {
            Ownership::Foreign(why) => format!("adopted a container tarsdock did not make ({why})"),
            Ownership::Ours if !same_hash => format!(
                "plan changed ({} -> {})",
                status.plan_hash.as_deref().unwrap_or("none"),
                request.plan_hash
            ),
            Ownership::Ours if !drift.is_empty() => format!(
                "the container differs from its plan in {}",
                drift.join(", ")
            ),
            Ownership::Ours if !same_image => format!(
                "image changed ({} -> {})",
                status.image_id.as_deref().unwrap_or("none"),
                image.id
            ),
            Ownership::Ours => format!("the container is {}", status.state),
        };
        Ok(Decision::Replace { id, reason })
    }

    /// After create said the name is taken: waits until a container of that name is
    /// visible (at most [`NAME_SETTLE`], and no longer than the engine timeout).
    async fn wait_for_name(&self, name: &str, engine_message: &str) -> Result<()> {
        let limit = NAME_SETTLE.min(self.options.request_timeout);
        let started = Instant::now();
        loop {
            if self.inspect_named(name).await?.is_some() {
                return Ok(());
            }
            if started.elapsed() >= limit {
                return Err(Error::Conflict {
                    name: name.to_owned(),
                    message: format!(
                        "the engine says the name is in use ({engine_message}), but no container \
                         of that name appeared within {}",
                        crate::error::seconds(limit)
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops a service: the stop sequence ([`StopStep`]: unpause, stop script, engine stop
    /// with the grace period, kill). The stopped container is kept (an unchanged relaunch
    /// only starts it) unless `remove` is set. An absent container is not an error.
    ///
    /// # Errors
    /// [`Error::ForeignContainer`] without `adopt`; engine errors.
    pub async fn stop(&self, name: &str, options: &StopOptions) -> Result<StopReport> {
        let mut lock = self.lock(name).await?;
        lock.announce("stopping");
        let mut report = StopReport {
            name: name.to_owned(),
            action: StopAction::Absent,
            id: None,
            script: None,
            exit_code: None,
            removed: false,
            ended_by: None,
            grace_period_s: None,
            grace_from: None,
            steps: Vec::new(),
            admin: None,
        };
        let Some(existing) = self.inspect_named(name).await? else {
            return Ok(report);
        };
        let id = self.owned_id(name, &existing, options.adopt)?;
        report.id = Some(id.clone());
        let plan = StopPlan {
            grace: options.timeout,
            script: options
                .script
                .as_deref()
                .map(|s| (s, clamp(options.script_timeout))),
        };
        match self.stop_sequence(name, &id, &existing, &plan).await? {
            Some(stopped) => {
                report.action = StopAction::Stopped;
                report.exit_code = stopped.after.as_ref().and_then(|s| s.exit_code);
                report.script = stopped.script;
                report.ended_by = Some(stopped.ended_by);
                report.grace_period_s = Some(stopped.grace.as_secs());
                report.grace_from = Some(stopped.grace_from);
                report.steps = stopped.steps;
                report.admin = stopped.admin;
            }
            None => {
                report.action = StopAction::AlreadyStopped;
                report.exit_code = ContainerStatus::from_inspect(name, &existing).exit_code;
            }
        }
        if options.remove {
            self.remove_container(&id).await?;
            report.removed = true;
        }
        Ok(report)
    }

    /// Restarts an existing container: the stop sequence (grace period: `timeout`, else the
    /// container's own), then a start.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::ForeignContainer`] without `adopt`; engine errors.
    pub async fn restart(
        &self,
        name: &str,
        timeout: Option<Duration>,
        adopt: bool,
    ) -> Result<RestartReport> {
        let mut lock = self.lock(name).await?;
        lock.announce("restarting");
        let Some(existing) = self.inspect_named(name).await? else {
            return Err(Error::NotFound {
                name: name.to_owned(),
            });
        };
        let id = self.owned_id(name, &existing, adopt)?;
        let plan = StopPlan {
            grace: timeout,
            script: None,
        };
        // The start mounts the bind sources anew: checked as they resolve now, before the
        // stop, so a refusal leaves the running service alone.
        let neighbours = self.neighbours().await?;
        crate::policy::enforce_existing(name, &existing, &neighbours, self.address())?;
        let mut stopped = self.stop_sequence(name, &id, &existing, &plan).await?;
        // The stop lifted a keepalive restart policy; the start puts it back.
        if let Some(now) = self.inspect(&id).await? {
            self.keepalive_restore(&id, &now).await?;
        }
        let started = &id;
        self.engine
            .call(self.engine.limit(), |d| async move {
                d.start_container(started, None).await
            })
            .await
            .map_err(|f| self.refusal(f, Operation::Start, name, None))?;
        let now = self.status_of(name, &id).await?;
        Ok(RestartReport {
            name: name.to_owned(),
            id,
            state: now.state,
            pid: now.pid,
            started_at: now.started_at,
            ended_by: stopped.as_ref().map(|s| s.ended_by),
            grace_period_s: stopped.as_ref().map(|s| s.grace.as_secs()),
            grace_from: stopped.as_ref().map(|s| s.grace_from),
            admin: stopped.as_mut().and_then(|s| s.admin.take()),
        })
    }

    /// Checks an existing container against the policy before something starts it again
    /// ([`crate::policy::enforce_existing`]: its bind sources as they resolve now, with the
    /// allowances its launch recorded). An absent container passes: there is nothing to mount.
    ///
    /// # Errors
    /// [`Error::PolicyRefused`]; engine errors.
    pub async fn check_existing(&self, name: &str) -> Result<()> {
        match self.inspect_named(name).await? {
            Some(existing) => {
                let neighbours = self.neighbours().await?;
                crate::policy::enforce_existing(name, &existing, &neighbours, self.address())
            }
            None => Ok(()),
        }
    }

    /// Removes a service container, stopping it first with the stop sequence. An absent
    /// container is not an error.
    ///
    /// # Errors
    /// [`Error::ForeignContainer`] without `adopt`; engine errors.
    pub async fn remove(
        &self,
        name: &str,
        timeout: Option<Duration>,
        adopt: bool,
    ) -> Result<RemoveReport> {
        let mut lock = self.lock(name).await?;
        lock.announce("removing");
        let Some(existing) = self.inspect_named(name).await? else {
            return Ok(RemoveReport {
                name: name.to_owned(),
                id: None,
                stopped: false,
                removed: false,
                ended_by: None,
                grace_period_s: None,
                grace_from: None,
            });
        };
        let id = self.owned_id(name, &existing, adopt)?;
        let plan = StopPlan {
            grace: timeout,
            script: None,
        };
        let stopped = self.stop_sequence(name, &id, &existing, &plan).await?;
        self.remove_container(&id).await?;
        Ok(RemoveReport {
            name: name.to_owned(),
            id: Some(id),
            stopped: stopped.is_some(),
            removed: true,
            ended_by: stopped.as_ref().map(|s| s.ended_by),
            grace_period_s: stopped.as_ref().map(|s| s.grace.as_secs()),
            grace_from: stopped.as_ref().map(|s| s.grace_from),
        })
    }

    /// The container's state (`absent` when there is none; `replacing` while a launch
    /// replaces it — read from the service lock, see [`crate::lock::peek`]).
    ///
    /// # Errors
    /// Transport, timeout and engine errors.
    pub async fn status(&self, name: &str) -> Result<ContainerStatus> {
        let mut status = match self.inspect_named(name).await? {
            Some(inspect) => ContainerStatus::from_inspect(name, &inspect),
            None => ContainerStatus::absent(name),
        };
        // After the inspect: a replacement that started before it is seen here.
        match lock::peek(&self.options.lock_dir, name) {
            Ok(Some(activity)) => {
                if activity.starts_with("replacing") {
                    "replacing".clone_into(&mut status.state);
                }
                status.activity = Some(activity);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the service lock"),
        }
        Ok(status)
    }

    /// The container's output, as a stream (endless with `follow`). Without `follow`, a
    /// silence of the engine timeout ends the stream with [`Error::Timeout`]; with it, a
    /// silence makes the runtime check that the container still exists and runs, and keep
    /// waiting when it does.
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
        let engine = self.engine.clone();
        let target = name.to_owned();
        let limit = Limit::idle(self.engine.timeout());
        let raw = Box::pin(self.engine.docker().logs(name, Some(options)));
        let follow = request.follow;
        Ok(futures_util::stream::unfold(Some(raw), move |state| {
            let engine = engine.clone();
            let target = target.clone();
            async move {
                let mut raw = state?;
                loop {
                    match tokio::time::timeout(limit.total(), raw.next()).await {
                        Ok(None) => return None,
                        Ok(Some(Ok(output))) => return Some((Ok(chunk(output)), Some(raw))),
                        Ok(Some(Err(error))) => {
                            let failure = engine::classify(&error, limit);
                            return Some((
                                Err(engine.error(failure, Operation::Logs, &target)),
                                Some(raw),
                            ));
                        }
                        Err(_) if follow => {
                            // Quiet: fine while the container is there and running.
                            match still_running(&engine, &target).await {
                                Ok(true) => {}
                                Ok(false) => return None,
                                Err(e) => return Some((Err(e), None)),
                            }
                        }
                        Err(_) => {
                            let error =
                                engine.error(Failure::Timeout(limit), Operation::Logs, &target);
                            return Some((Err(error), None));
                        }
                    }
                }
            }
        }))
    }

    async fn ensure_image(
        &self,
        request: &LaunchRequest,
        options: &LaunchOptions,
        events: &mut dyn FnMut(LaunchEvent),
    ) -> Result<EnsuredImage> {
        let image = image::ensure_image(
            &self.engine,
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
        inspect_container(&self.engine, name).await
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

    /// The id of the container found under `name` when it is tarsdock's (or `adopt`).
    fn owned_id(
        &self,
        name: &str,
        existing: &ContainerInspectResponse,
        adopt: bool,
    ) -> Result<String> {
        let id = existing.id.clone().unwrap_or_else(|| name.to_owned());
        let labels = existing.config.as_ref().and_then(|c| c.labels.as_ref());
        match content::ownership(labels) {
            Ownership::Foreign(reason) if !adopt => Err(Error::ForeignContainer {
                name: name.to_owned(),
                id,
                reason,
            }),
            _ => Ok(id),
        }
    }

    async fn start(&self, id: &str, request: &LaunchRequest) -> Result<()> {
        self.engine
            .call(self.engine.limit(), |d| async move {
                d.start_container(id, None).await
            })
            .await
            .map_err(|f| self.start_error(f, request))
    }

    /// The stop sequence on a container found in `existing`; `None` when it was not
    /// running (nothing done).
    async fn stop_sequence(
        &self,
        name: &str,
        id: &str,
        existing: &ContainerInspectResponse,
        plan: &StopPlan<'_>,
    ) -> Result<Option<Stopped>> {
        use ContainerStateStatusEnum as S;
        let state = ContainerStatus::from_inspect(name, existing).status_enum();
        if !matches!(state, Some(S::RUNNING | S::RESTARTING | S::PAUSED)) {
            return Ok(None);
        }
        let (grace, grace_from) = grace_period(plan.grace, existing);
        let mut steps = Vec::new();

        if state == Some(S::PAUSED) {
            steps.push(StopStep::Unpause);
            self.engine
                .call(self.engine.limit(), |d| async move {
                    d.unpause_container(id).await
                })
                .await
                .map_err(|f| self.refusal(f, Operation::Unpause, id, None))?;
        }

        let mut script = None;
        if let Some((path, timeout)) = plan.script {
            steps.push(StopStep::Script);
            script = Some(self.run_script_once(id, path, timeout).await);
        }

        // The Tars graceful stop: AdminF::shutdown, then the deactivating-timeout wait for
        // the server's own exit (`tars.rs`). A keepalive restart policy is lifted first, so
        // the exit is not undone; when it cannot be, this step is skipped.
        let admin = self
            .admin_step(id, existing, state != Some(S::RESTARTING))
            .await;
        if let Some(step) = &admin {
            steps.push(StopStep::AdminShutdown);
            if step.exited {
                let after = self
                    .inspect(id)
                    .await?
                    .map(|a| ContainerStatus::from_inspect(name, &a));
                return Ok(Some(Stopped {
                    steps,
                    script,
                    grace,
                    grace_from,
                    ended_by: EndedBy::AdminShutdown,
                    after,
                    admin,
                }));
            }
        }

        steps.push(StopStep::EngineStop);
        let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(t).build();
        let limit = Limit::with_grace(self.engine.timeout(), grace);
        let stop = self
            .engine
            .call(limit, |d| async move {
                d.stop_container(id, Some(options)).await
            })
            .await;
        let mut killed = false;
        match stop {
            Ok(()) | Err(Failure::Server { status: 404, .. }) => {}
            Err(Failure::Timeout(limit)) => {
                // The engine did not finish its stop in time: kill, and if even that does
                // not answer, say how long the stop was waited for.
                steps.push(StopStep::Kill);
                killed = true;
                if let Err(e) = self.kill(id).await {
                    tracing::warn!(%id, error = %e, "kill after a stop that timed out failed");
                    return Err(self
                        .engine
                        .error(Failure::Timeout(limit), Operation::Stop, id));
                }
            }
            Err(failure) => return Err(self.refusal(failure, Operation::Stop, id, None)),
        }
        let mut after = self.inspect(id).await?;
        let still_running = |after: &Option<ContainerInspectResponse>| {
            after.as_ref().is_some_and(|a| {
                matches!(
                    ContainerStatus::from_inspect(name, a).status_enum(),
                    Some(S::RUNNING | S::RESTARTING | S::PAUSED)
                )
            })
        };
        if !killed && still_running(&after) {
            steps.push(StopStep::Kill);
            killed = true;
            self.kill(id).await?;
            after = self.inspect(id).await?;
        }
        let after = after.map(|a| ContainerStatus::from_inspect(name, &a));
        let exit_code = after.as_ref().and_then(|a| a.exit_code);
        Ok(Some(Stopped {
            steps,
            script,
            grace,
            grace_from,
            ended_by: if killed || exit_code == Some(137) {
                EndedBy::Sigkill
            } else {
                EndedBy::Sigterm
            },
            after,
            admin,
        }))
    }

    async fn kill(&self, id: &str) -> Result<()> {
        let options = KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        match self
            .engine
            .call(self.engine.limit(), |d| async move {
                d.kill_container(id, Some(options)).await
            })
            .await
        {
            // Gone or not running any more: what a kill wants.
            Ok(())
            | Err(Failure::Server {
                status: 404 | 409, ..
            }) => Ok(()),
            Err(failure) => Err(self.refusal(failure, Operation::Kill, id, None)),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default().build();
        match self
            .engine
            .call(self.engine.limit(), |d| async move {
                d.remove_container(id, Some(options)).await
            })
            .await
        {
            Ok(()) | Err(Failure::Server { status: 404, .. }) => Ok(()),
            Err(Failure::Server {
                status: 409,
                message,
            }) if message.to_ascii_lowercase().contains("in progress") => self.wait_gone(id).await,
            Err(failure) => Err(self.refusal(failure, Operation::Remove, id, None)),
        }
    }

    /// Stops (when needed) and removes a container that is to be replaced.
    async fn stop_and_remove(
        &self,
        name: &str,
        id: &str,
        existing: &ContainerInspectResponse,
        grace: Option<Duration>,
        events: &mut dyn FnMut(LaunchEvent),
    ) -> Result<()> {
        use ContainerStateStatusEnum as S;
        match ContainerStatus::from_inspect(name, existing).status_enum() {
            Some(S::REMOVING) => return self.wait_gone(id).await,
            Some(S::RUNNING | S::RESTARTING | S::PAUSED) => {
                events(LaunchEvent::Stopping { id: id.to_owned() });
                let plan = StopPlan {
                    grace,
                    script: None,
                };
                self.stop_sequence(name, id, existing, &plan).await?;
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
                    address: self.address().to_owned(),
                    limit: Limit::call(limit),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// A stop script exec still running in the container (started by an earlier stop that
    /// was killed before the container stopped), when there is one.
    async fn running_script(&self, id: &str, path: &str) -> Option<String> {
        let inspect = self.inspect(id).await.ok()??;
        for exec in inspect
            .exec_ids
            .unwrap_or_default()
            .into_iter()
            .take(EXEC_SCAN_LIMIT)
        {
            let Ok(details) = self
                .engine
                .call(self.engine.limit(), |d| {
                    let exec = exec.clone();
                    async move { d.inspect_exec(&exec).await }
                })
                .await
            else {
                continue;
            };
            let process = details.process_config.as_ref();
            let same_command = process.and_then(|p| p.entrypoint.as_deref()) == Some(path)
                && process
                    .and_then(|p| p.arguments.as_ref())
                    .is_none_or(Vec::is_empty);
            if details.running == Some(true) && same_command {
                return Some(exec);
            }
        }
        None
    }

    /// Runs the stop script — exec created, started (attached) and waited for — unless a
    /// copy is still running from an earlier stop, which is waited for instead. Failures
    /// are reported, not raised: the container is stopped either way.
    async fn run_script_once(&self, id: &str, path: &str, timeout: Duration) -> ScriptReport {
        let command = vec![path.to_owned()];
        let mut report = ScriptReport {
            command: command.clone(),
            exit_code: None,
            timed_out: false,
            output: String::new(),
            error: None,
            joined: false,
        };
        let deadline = Instant::now() + timeout;
        if let Some(exec) = self.running_script(id, path).await {
            report.joined = true;
            self.wait_exec(&exec, deadline, &mut report).await;
            return report;
        }
        let create = CreateExecOptions {
            cmd: Some(command),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            working_dir: Some("/".to_owned()),
            ..Default::default()
        };
        let exec = match self
            .engine
            .call(self.engine.limit(), |d| async move {
                d.create_exec(id, create).await
            })
            .await
        {
            Ok(exec) => exec.id,
            Err(failure) => {
                report.error = Some(self.engine.error(failure, Operation::Exec, id).to_string());
                return report;
            }
        };
        let mut output = Vec::new();
        let run = async {
            let started = self
                .engine
                .call(self.engine.limit(), |d| {
                    let exec = exec.clone();
                    async move { d.start_exec(&exec, Some(StartExecOptions::default())).await }
                })
                .await?;
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = started
            {
                while let Some(chunk) = stream.next().await {
                    let bytes = chunk
                        .map_err(|e| engine::classify(&e, self.engine.limit()))?
                        .into_bytes();
                    let room = SCRIPT_OUTPUT_LIMIT.saturating_sub(output.len());
                    output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
            }
            Ok::<(), Failure>(())
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => {
                report.error = Some(self.engine.error(failure, Operation::Exec, id).to_string());
            }
            Err(_) => report.timed_out = true,
        }
        report.output = String::from_utf8_lossy(&output).into_owned();
        if !report.timed_out {
            self.wait_exec(&exec, deadline, &mut report).await;
        }
        report
    }

    /// Polls an exec until it is no longer running or `deadline` passes; records its exit
    /// code (or the time-out) in `report`.
    async fn wait_exec(&self, exec: &str, deadline: Instant, report: &mut ScriptReport) {
        loop {
            match self
                .engine
                .call(self.engine.limit(), |d| async move {
                    d.inspect_exec(exec).await
                })
                .await
            {
                Ok(inspect) if inspect.running != Some(true) => {
                    report.exit_code = inspect.exit_code;
                    return;
                }
                Ok(_) => {}
                Err(failure) => {
                    report.error.get_or_insert(
                        self.engine
                            .error(failure, Operation::Exec, exec)
                            .to_string(),
                    );
                    return;
                }
            }
            if Instant::now() >= deadline {
                report.timed_out = true;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn refusal(
        &self,
        failure: Failure,
        operation: Operation,
        target: &str,
        origin: Option<String>,
    ) -> Error {
        match failure {
            Failure::Server {
                status: 409,
                message,
            } => Error::Conflict {
                name: target.to_owned(),
                message,
            },
            Failure::Server { status, message } => Error::EngineRefused {
                operation,
                name: target.to_owned(),
                status: Some(status),
                message,
                origin,
            },
            failure => self.engine.error(failure, operation, target),
        }
    }

    fn create_error(&self, failure: Failure, request: &LaunchRequest) -> Error {
        match failure {
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
            failure => self.engine.error(failure, Operation::Create, &request.name),
        }
    }

    fn start_error(&self, failure: Failure, request: &LaunchRequest) -> Error {
        match failure {
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
            failure => self.engine.error(failure, Operation::Start, &request.name),
        }
    }
}

/// What a launch does with the container it found.
enum Decision {
    /// Nothing more to do: unchanged, or started again.
    Done(LaunchAction, Box<ContainerStatus>, String),
    /// Stop and remove it, then create.
    Replace { id: String, reason: String },
}

/// Whether a create's 409 says the name is taken (`Conflict. The container name "/x" is
/// already in use by container "…"`).
fn is_name_taken(message: &str) -> bool {
    message.to_ascii_lowercase().contains("already in use")
}

/// The grace period: the caller's, else the container's `StopTimeout` (negative means
/// "wait for ever" to the engine; tarsdock bounds every wait, so it uses the default).
fn grace_period(
    flag: Option<Duration>,
    inspect: &ContainerInspectResponse,
) -> (Duration, GraceSource) {
    if let Some(flag) = flag {
        return (clamp(flag), GraceSource::Flag);
    }
    match inspect
        .config
        .as_ref()
        .and_then(|c| c.stop_timeout)
        .and_then(|t| u64::try_from(t).ok())
    {
        Some(seconds) => (clamp(Duration::from_secs(seconds)), GraceSource::Container),
        None => (DEFAULT_GRACE, GraceSource::Default),
    }
}

/// Inspects a container; `None` when there is none of that name or id.
async fn inspect_container(
    engine: &Engine,
    name: &str,
) -> Result<Option<ContainerInspectResponse>> {
    match engine
        .call(engine.limit(), |d| async move {
            d.inspect_container(name, None).await
        })
        .await
    {
        Ok(inspect) => Ok(Some(inspect)),
        Err(Failure::Server { status: 404, .. }) => Ok(None),
        Err(failure) => Err(engine.error(failure, Operation::Inspect, name)),
    }
}

/// Whether the container still exists and runs (for a quiet `logs --follow`).
async fn still_running(engine: &Engine, name: &str) -> Result<bool> {
    Ok(inspect_container(engine, name)
        .await?
        .is_some_and(|inspect| {
            inspect
                .state
                .as_ref()
                .and_then(|s| s.running)
                .unwrap_or(false)
        }))
}

fn chunk(output: bollard::container::LogOutput) -> LogChunk {
    use bollard::container::LogOutput as L;
    let (stream, bytes) = match output {
        L::StdOut { message } => (LogStream::Stdout, message),
        L::StdErr { message } => (LogStream::Stderr, message),
        L::Console { message } => (LogStream::Console, message),
        L::StdIn { message } => (LogStream::Stdin, message),
    };
    LogChunk {
        stream,
        bytes: bytes.to_vec(),
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

fn fill_from_status(report: &mut LaunchReport, status: &ContainerStatus, id: String) {
    report.id = id;
    report.state.clone_from(&status.state);
    report.pid = status.pid;
    report.started_at.clone_from(&status.started_at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_stop_timeout(value: Option<i64>) -> ContainerInspectResponse {
        serde_json::from_value(serde_json::json!({"Config": {"StopTimeout": value}})).unwrap()
    }

    #[test]
    fn the_grace_period_comes_from_the_flag_then_the_container() {
        let container = with_stop_timeout(Some(3));
        assert_eq!(
            grace_period(Some(Duration::from_secs(7)), &container),
            (Duration::from_secs(7), GraceSource::Flag)
        );
        assert_eq!(
            grace_period(None, &container),
            (Duration::from_secs(3), GraceSource::Container)
        );
        assert_eq!(
            grace_period(None, &with_stop_timeout(None)),
            (DEFAULT_GRACE, GraceSource::Default)
        );
        // "Wait for ever" to the engine; tarsdock bounds every wait.
        assert_eq!(
            grace_period(None, &with_stop_timeout(Some(-1))),
            (DEFAULT_GRACE, GraceSource::Default)
        );
        assert_eq!(
            grace_period(Some(Duration::MAX), &container),
            (MAX_WAIT, GraceSource::Flag)
        );
    }

    #[test]
    fn huge_limits_add_without_overflow() {
        let limit = Limit::with_grace(Duration::MAX, Duration::MAX);
        assert_eq!(limit.total(), Duration::MAX);
        let clamped = Limit::with_grace(clamp(Duration::MAX), clamp(Duration::MAX));
        assert_eq!(clamped.total(), MAX_WAIT * 2);
    }

    #[test]
    fn a_taken_name_is_told_from_other_conflicts() {
        assert!(is_name_taken(
            "Conflict. The container name \"/A.B\" is already in use by container \"abc\"."
        ));
        assert!(!is_name_taken(
            "removal of container abc is already in progress"
        ));
    }

    #[test]
    fn timeouts_say_how_the_limit_was_made_up() {
        let error = Error::Timeout {
            operation: Operation::Stop,
            target: "A.B".into(),
            address: "unix:///x.sock".into(),
            limit: Limit::with_grace(Duration::from_secs(2), Duration::from_secs(10)),
        };
        assert_eq!(
            error.to_string(),
            "timed out after 12s waiting for the engine at unix:///x.sock to stop container A.B \
             (the engine timeout of 2s plus the grace period of 10s)"
        );
        let error = Error::Timeout {
            operation: Operation::Pull,
            target: "x:1".into(),
            address: "unix:///x.sock".into(),
            limit: Limit::idle(Duration::from_millis(1500)),
        };
        assert_eq!(
            error.to_string(),
            "timed out after 1.5s without any data from the engine at unix:///x.sock while \
             trying to pull image x:1"
        );
    }
}
