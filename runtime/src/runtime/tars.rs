//! The Tars side of the lifecycle, kept apart from the engine side: the graceful stop step
//! (`AdminF::shutdown` and the wait for the server's own exit, with the keepalive policy held
//! while it runs), admin commands (`notify`, `status --probe`) and the binary preflight
//! before a create. The lifecycle in `runtime.rs` calls these at its hooks.

use std::time::Duration;

use bollard::models::{ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use serde::Serialize;

use super::{ContainerStatus, Runtime};
use crate::admin;
use crate::error::{Error, Operation, Result};
use crate::keepalive;
use crate::request::LaunchRequest;

/// What the service's admin servant said to `tars.viewstatus` (`status --probe`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// `answered`; `unresponsive` (the container runs, the server does not answer);
    /// `not-running`; or `no-admin-endpoint`.
    pub state: String,
    /// `host:port` of `AdminObj`, when known.
    pub endpoint: Option<String>,
    /// The server's answer.
    pub answer: Option<String>,
    /// Why it could not be asked.
    pub error: Option<String>,
}

/// The answer to an admin command (`tarsdock notify`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotifyReport {
    pub name: String,
    /// `host:port` of `AdminObj`.
    pub endpoint: String,
    pub command: String,
    /// The server's answer (not escaped; escape it before showing it).
    pub answer: String,
}

impl Runtime {
    /// The container's state plus the server's own answer to `tars.viewstatus` on its admin
    /// endpoint (`unresponsive` when the container runs but the server does not answer).
    ///
    /// # Errors
    /// Transport, timeout and engine errors (a silent server is an answer, not an error).
    pub async fn status_probe(&self, name: &str, timeout: Duration) -> Result<ContainerStatus> {
        let Some(inspect) = self.inspect_named(name).await? else {
            return Ok(ContainerStatus::absent(name));
        };
        let mut status = ContainerStatus::from_inspect(name, &inspect);
        let labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
        let endpoint = admin::admin_endpoint(labels);
        let mut probe = ProbeReport {
            state: String::new(),
            endpoint: endpoint.as_ref().ok().map(ToString::to_string),
            answer: None,
            error: None,
        };
        match endpoint {
            Err(e) => {
                probe.state = "no-admin-endpoint".to_owned();
                probe.error = Some(e.to_string());
            }
            Ok(_) if status.status_enum() != Some(ContainerStateStatusEnum::RUNNING) => {
                probe.state = "not-running".to_owned();
            }
            Ok(addr) => match admin::notify(addr, "tars.viewstatus", timeout).await {
                Ok(answer) => {
                    probe.state = "answered".to_owned();
                    probe.answer = Some(answer);
                }
                Err(e) => {
                    probe.state = "unresponsive".to_owned();
                    probe.error = Some(e.to_string());
                }
            },
        }
        status.probe = Some(probe);
        Ok(status)
    }

    /// Sends an admin command (`AdminF::notify`) to the running service and returns the
    /// server's answer.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Admin`] when there is no admin endpoint, the container is
    /// not running or the server does not answer within `timeout`; engine errors.
    pub async fn notify(
        &self,
        name: &str,
        command: &str,
        timeout: Duration,
    ) -> Result<NotifyReport> {
        let Some(inspect) = self.inspect_named(name).await? else {
            return Err(Error::NotFound {
                name: name.to_owned(),
            });
        };
        let status = ContainerStatus::from_inspect(name, &inspect);
        let fail = |message: String| Error::Admin {
            name: name.to_owned(),
            message,
        };
        let labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
        let addr = admin::admin_endpoint(labels).map_err(|e| fail(e.to_string()))?;
        if status.status_enum() != Some(ContainerStateStatusEnum::RUNNING) {
            return Err(fail(format!(
                "the container is {}, not running",
                status.state
            )));
        }
        let answer = admin::notify(addr, command, timeout)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(NotifyReport {
            name: name.to_owned(),
            endpoint: addr.to_string(),
            command: command.to_owned(),
            answer,
        })
    }

    /// Checks the request's executable against its image (see [`crate::preflight`]) through a
    /// created, never started container with the service's own mounts, removed afterwards.
    /// `body` is the create body the launch will send, already checked (so the preflight
    /// container never gets a mount the real one would not). `None` when the request names no
    /// executable.
    ///
    /// # Errors
    /// [`Error::Preflight`] with the findings; the create errors of the request (a missing
    /// mount source, …); engine errors while reading.
    pub async fn preflight(
        &self,
        request: &LaunchRequest,
        body: &ContainerCreateBody,
    ) -> Result<Option<crate::preflight::PreflightReport>> {
        use crate::preflight::{Context, EngineFiles, check};
        let Some(executable) = request.executable.as_deref() else {
            return Ok(None);
        };
        let image = request.image.as_str();
        let architecture = self
            .engine
            .call(self.engine.limit(), |d| async move {
                d.inspect_image(image).await
            })
            .await
            .ok()
            .and_then(|i| i.architecture);
        let mut body = body.clone();
        // Not the service: none of tarsdock's labels (it is never taken for the service's
        // container); the caller's own labels stay, so its cleanup finds a leftover.
        if let Some(labels) = body.labels.as_mut() {
            for key in crate::request::MANAGED_LABELS {
                labels.remove(key);
            }
            labels.remove(keepalive::LABEL_RESTART_POLICY);
            labels.remove(admin::LABEL_ADMIN_ENDPOINT);
        }
        body.image = Some(request.image.clone());
        body.entrypoint = Some(vec!["/.tarsdock-preflight-never-started".to_owned()]);
        body.cmd = None;
        body.exposed_ports = None;
        body.healthcheck = None;
        body.labels
            .get_or_insert_with(Default::default)
            .insert("tarsdock.preflight".to_owned(), request.name.clone());
        let library_path = body
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.strip_prefix("LD_LIBRARY_PATH="))
            .flat_map(|v| v.split(':'))
            .filter(|d| d.starts_with('/'))
            .map(str::to_owned)
            .collect();
        if let Some(host) = body.host_config.as_mut() {
            host.network_mode = Some("none".to_owned());
            host.port_bindings = None;
            host.restart_policy = None;
            host.auto_remove = Some(false);
            host.privileged = Some(false);
            host.ipc_mode = None;
        }
        let name = format!("tarsdock-preflight-{}", unique_suffix());
        let create = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .engine
            .call(self.engine.limit(), |d| async move {
                d.create_container(Some(create), body).await
            })
            .await
            .map_err(|f| self.create_error(f, request))?;
        let context = Context {
            image: request.image.clone(),
            architecture,
            library_path,
        };
        let mut files = EngineFiles {
            docker: self.engine.docker(),
            container: &created.id,
            limit: self.engine.timeout(),
        };
        let checked = check(&mut files, executable, &context).await;
        let remove = RemoveContainerOptionsBuilder::default().force(true).build();
        let check_id = created.id.as_str();
        if let Err(e) = self
            .engine
            .call(self.engine.limit(), |d| async move {
                d.remove_container(check_id, Some(remove)).await
            })
            .await
        {
            tracing::warn!(id = %created.id, error = ?e, "could not remove the preflight container");
        }
        let report = checked.map_err(|message| Error::Engine {
            operation: Operation::Inspect,
            target: request.image.clone(),
            message,
        })?;
        if report.findings.is_empty() {
            Ok(Some(report))
        } else {
            Err(Error::Preflight {
                name: request.name.clone(),
                report: Box::new(report),
            })
        }
    }

    /// The admin step of the stop sequence: lifts a keepalive restart policy (an exit it
    /// causes must not be undone by the engine), sends `AdminF::shutdown` to the admin
    /// endpoint the plan recorded, and waits up to the service's `deactivating-timeout` (the
    /// container's stop timeout, clamped to 2–60 s as tarsnode does) for it to exit by
    /// itself. `None` when the step does not apply: not running, no admin endpoint, or a
    /// restart policy that cannot be lifted (the engine's stop, which the engine never
    /// undoes, follows).
    pub(super) async fn admin_step(
        &self,
        id: &str,
        inspect: &ContainerInspectResponse,
        running: bool,
    ) -> Option<admin::AdminStep> {
        let config = inspect.config.as_ref();
        let addr = admin::admin_endpoint(config.and_then(|c| c.labels.as_ref())).ok()?;
        if !running {
            return None;
        }
        let held = self
            .engine
            .call(self.engine.limit(), |d| async move {
                keepalive::hold(&d, id, inspect).await
            })
            .await;
        if let Err(e) = held {
            tracing::warn!(%id, error = ?e, "cannot lift the restart policy; stopping through the engine");
            return None;
        }
        let wait = admin::shutdown_wait(config.and_then(|c| c.stop_timeout));
        Some(admin::shutdown_and_wait(self.engine.docker(), id, addr, wait).await)
    }

    /// Puts back the restart policy a stop lifted (see [`keepalive::restore`]).
    pub(super) async fn keepalive_restore(
        &self,
        id: &str,
        inspect: &ContainerInspectResponse,
    ) -> Result<()> {
        self.engine
            .call(self.engine.limit(), |d| async move {
                keepalive::restore(&d, id, inspect).await
            })
            .await
            .map(drop)
            .map_err(|f| self.refusal(f, Operation::Start, id, None))
    }
}

/// A suffix for names that must not collide: pid and clock.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{nanos:x}", std::process::id())
}
