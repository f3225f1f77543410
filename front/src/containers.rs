//! The node's calls on a service container, answered the way tarsdock runs services. Only
//! containers tarsdock made (label `tarsdock.managed-by=tarsdock`) addressed by their
//! `App.Server` name are handled here; anything else — ids, other containers, containers
//! tarsnode made before the front was in place — is passed through to the engine unchanged.
//!
//! - `start`: a running service is a success (`204`), not the engine's `304`, which upstream
//!   reads as a failure; the create already started it.
//! - `stop`: graceful as `tarsdock stop` is, with the grace period the service was planned
//!   with (its `deactivating-timeout`, in `Config.StopTimeout`), not the `t=10000` tarsnode
//!   asks for before every start (which its own 60 s HTTP timeout cut off, so that every
//!   restart of a running service took a minute).
//! - `DELETE`: idempotent, and the container is *kept* (stopped first if running): the next
//!   create reuses it when the plan is unchanged (a start instead of a create) and replaces it
//!   otherwise, and until then `docker logs` and the exit code of its last run stay readable
//!   (upstream's `AutoRemove` and `checkPid`'s remove lost them when a service crashed).
//! - `GET …/json`: waits briefly for a launch of the same service in progress (the runtime's
//!   lock), so the node never sees a half-replaced container, then passes through.
//! - `exec`: a request shaped as tarsnode's stop script (a command, no streams attached) is
//!   really run — created, started, waited for — and its exit code and output logged; the node
//!   gets the exec id as before. Upstream never started it.

use http::{Request, Response, StatusCode};
use runtime::front_support::{self, ExecCommand};
use runtime::request::validate_name;
use runtime::{ContainerStatus, StopOptions};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::proxy::query_value;
use crate::reply::{self, Body};
use crate::state::State;

/// `id` when it can be a service container's name (`App.Server`): a valid Docker name with a
/// `.`. Container ids never hold one.
fn service_name(id: &str) -> Option<&str> {
    (validate_name(id).is_ok() && id.contains('.')).then_some(id)
}

fn is_up(status: &ContainerStatus) -> bool {
    matches!(status.state.as_str(), "running" | "restarting" | "paused")
}

/// The service's status, or the answer to give when it cannot be had.
async fn managed_status(state: &State, name: &str) -> Result<ContainerStatus, Response<Body>> {
    state
        .runtime
        .status(name)
        .await
        .map_err(|e| reply::runtime_error(&e))
}

/// `POST /containers/{id}/start`.
pub(crate) async fn start(state: &State, id: &str, request: Request<Body>) -> Response<Body> {
    let Some(name) = service_name(id) else {
        return state.engine.forward(request).await;
    };
    let _lock = match state.runtime.lock(name).await {
        Ok(lock) => lock,
        Err(e) => return reply::runtime_error(&e),
    };
    let status = match managed_status(state, name).await {
        Ok(status) => status,
        Err(response) => return response,
    };
    if status.managed && status.state == "running" {
        info!(pid = status.pid, "already running: nothing to start");
        return reply::no_content();
    }
    if status.managed {
        // The engine mounts the bind sources anew at the start: checked as they resolve now.
        if let Err(error) = state.runtime.check_existing(name).await {
            warn!(error = %reply::shown(&error), "refused by the policy");
            return reply::runtime_error(&error);
        }
        info!(state = %status.state, "starting");
    }
    state.engine.forward(request).await
}

/// `POST /containers/{id}/stop`.
pub(crate) async fn stop(state: &State, id: &str, request: Request<Body>) -> Response<Body> {
    let Some(name) = service_name(id) else {
        return state.engine.forward(request).await;
    };
    let status = match managed_status(state, name).await {
        Ok(status) => status,
        Err(response) => return response,
    };
    if !status.managed {
        return state.engine.forward(request).await;
    }
    let asked = query_value(request.uri(), "t");
    match graceful_stop(state, name).await {
        Ok(outcome) => {
            info!(asked_t = %reply::shown(asked.as_deref().unwrap_or("")), %outcome, "stopped");
            reply::no_content()
        }
        Err(response) => response,
    }
}

/// `DELETE /containers/{id}`.
pub(crate) async fn remove(state: &State, id: &str, request: Request<Body>) -> Response<Body> {
    let Some(name) = service_name(id) else {
        return state.engine.forward(request).await;
    };
    let status = match managed_status(state, name).await {
        Ok(status) => status,
        Err(response) => return response,
    };
    if status.state == "absent" {
        info!("no such container: nothing to remove");
        return reply::no_content();
    }
    if !status.managed {
        return state.engine.forward(request).await;
    }
    let force = query_value(request.uri(), "force")
        .is_some_and(|f| matches!(f.as_str(), "1" | "true" | "True"));
    if is_up(&status) {
        if !force {
            return reply::error(
                StatusCode::CONFLICT,
                &format!(
                    "you cannot remove a running container {name}: stop it first, or remove it \
                     with force (tarsdock then stops it gracefully and keeps it stopped)"
                ),
            );
        }
        if let Err(response) = graceful_stop(state, name).await {
            return response;
        }
    }
    info!("kept, stopped: the next create reuses it when its plan is unchanged");
    reply::no_content()
}

/// `GET /containers/{id}/json`.
pub(crate) async fn inspect(state: &State, id: &str, request: Request<Body>) -> Response<Body> {
    let _lock = match service_name(id) {
        Some(name) => {
            match runtime::lock::lock_service(&state.lock_dir, name, state.limits.inspect_lock_wait)
                .await
            {
                Ok(lock) => Some(lock),
                Err(e) => {
                    debug!(error = %e, "inspecting without the service lock");
                    None
                }
            }
        }
        None => None,
    };
    state.engine.forward(request).await
}

/// `POST /containers/{id}/exec`.
pub(crate) async fn exec(state: &State, id: &str, request: Request<Body>) -> Response<Body> {
    let Some(name) = service_name(id) else {
        return state.engine.forward(request).await;
    };
    let (parts, body) = request.into_parts();
    let bytes = match reply::read_bounded(body, state.limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return e.response(),
    };
    let Some((command, privileged)) = tarsnode_exec(&bytes) else {
        debug!("exec with streams attached: passed through");
        return state
            .engine
            .forward(Request::from_parts(parts, reply::full(bytes)))
            .await;
    };
    let status = match managed_status(state, name).await {
        Ok(status) => status,
        Err(response) => return response,
    };
    if !status.managed || status.state != "running" {
        return state
            .engine
            .forward(Request::from_parts(parts, reply::full(bytes)))
            .await;
    }
    let _lock = match state.runtime.lock(name).await {
        Ok(lock) => lock,
        Err(e) => return reply::runtime_error(&e),
    };
    let shown: Vec<String> = command
        .argv
        .iter()
        .map(|a| parser::terminal::escape_controls(a).into_owned())
        .collect();
    info!(command = ?shown, asked_privileged = privileged, "running the command (not privileged)");
    match front_support::run_command(&state.runtime, name, &command, state.limits.script_timeout)
        .await
    {
        Ok(report) => {
            let output = parser::terminal::escape_lossy(&report.output);
            if report.timed_out {
                warn!(
                    exec_id = %report.exec_id,
                    after_s = state.limits.script_timeout.as_secs(),
                    output = %output,
                    "the command is still running; left running"
                );
            } else {
                info!(
                    exec_id = %report.exec_id,
                    exit_code = report.exit_code,
                    truncated = report.truncated,
                    output = %output,
                    "the command ran"
                );
            }
            reply::json(StatusCode::CREATED, &json!({ "Id": report.exec_id }))
        }
        Err(e) => reply::runtime_error(&e),
    }
}

/// The command of an exec shaped as tarsnode's (`{"Cmd", "Env"?, "WorkingDir"?,
/// "Privileged"?}`: nothing attached, no TTY, not detached — a request that only a later
/// `/exec/{id}/start` could run, and upstream never sends one), with the privilege it asked
/// for.
fn tarsnode_exec(body: &[u8]) -> Option<(ExecCommand, bool)> {
    let Value::Object(map) = serde_json::from_slice::<Value>(body).ok()? else {
        return None;
    };
    if map
        .keys()
        .any(|k| !matches!(k.as_str(), "Cmd" | "Env" | "WorkingDir" | "Privileged"))
    {
        return None;
    }
    let strings = |value: Option<&Value>| -> Option<Vec<String>> {
        match value {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(_) => None,
        }
    };
    let argv = strings(map.get("Cmd"))?;
    if argv.is_empty() {
        return None;
    }
    let env = strings(map.get("Env"))?;
    let working_dir = match map.get("WorkingDir") {
        None | Some(Value::Null) => None,
        Some(Value::String(dir)) if dir.is_empty() => None,
        Some(Value::String(dir)) => Some(dir.clone()),
        Some(_) => return None,
    };
    let privileged = map
        .get("Privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Some((
        ExecCommand {
            argv,
            env,
            working_dir,
        },
        privileged,
    ))
}

/// Stops the service the way `tarsdock stop` does: the runtime's stop sequence, with the
/// grace period the container was planned with (its `StopTimeout`).
async fn graceful_stop(state: &State, name: &str) -> Result<String, Response<Body>> {
    let options = StopOptions {
        timeout: None,
        ..StopOptions::default()
    };
    match state.runtime.stop(name, &options).await {
        Ok(report) => Ok(format!(
            "{:?} (grace {}s from {}, ended by {}, exit code {})",
            report.action,
            report
                .grace_period_s
                .map_or_else(|| "-".to_owned(), |g| g.to_string()),
            report
                .grace_from
                .map_or_else(|| "-".to_owned(), |g| format!("{g:?}")),
            report
                .ended_by
                .map_or_else(|| "-".to_owned(), |e| format!("{e:?}")),
            report
                .exit_code
                .map_or_else(|| "unknown".to_owned(), |c| c.to_string())
        )),
        Err(e) => Err(reply::runtime_error(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_app_server_names_are_services() {
        assert_eq!(service_name("App.Server"), Some("App.Server"));
        assert_eq!(
            service_name("Test.Hello-Server_1"),
            Some("Test.Hello-Server_1")
        );
        for other in ["abc123", "4f2a9c", "my-container", ".x", "a b.c", "a/b.c"] {
            assert_eq!(service_name(other), None, "{other}");
        }
    }

    #[test]
    fn tarsnodes_exec_is_recognised_and_others_are_not() {
        let node = br#"{"Cmd":["/srv/A.B/bin/tars_stop.sh"],"WorkingDir":"/","Privileged":true}"#;
        let (command, privileged) = tarsnode_exec(node).unwrap();
        assert_eq!(command.argv, ["/srv/A.B/bin/tars_stop.sh"]);
        assert_eq!(command.working_dir.as_deref(), Some("/"));
        assert!(command.env.is_empty());
        assert!(privileged);
        let with_env = br#"{"Cmd":["x"],"Env":["A=1"]}"#;
        assert_eq!(tarsnode_exec(with_env).unwrap().0.env, ["A=1"]);
        // The Docker CLI attaches streams (and starts the exec itself).
        for other in [
            &br#"{"Cmd":["sh"],"AttachStdout":true,"AttachStderr":true}"#[..],
            br#"{"Cmd":["sh"],"Tty":true}"#,
            br#"{"Cmd":["sh"],"Detach":true}"#,
            br#"{"Cmd":[]}"#,
            br#"{"Cmd":"sh"}"#,
            br#"{"Cmd":["sh", 1]}"#,
            br#"["sh"]"#,
            b"not json",
        ] {
            assert!(
                tarsnode_exec(other).is_none(),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
