//! The Tars way of talking to a running service: its admin servant `AdminObj` (`AdminF`) on
//! the `local` endpoint, over the Tars protocol ([`tarsproto`]).
//!
//! - [`admin_endpoint`]: where a container's `AdminObj` is, from the `tarsdock.admin-endpoint`
//!   label its plan wrote at launch (`lowering::endpoint::admin_address`). The label is fixed
//!   when the container is created, so nothing the service can write (its config lives in its
//!   mounted, writable directory) can redirect a stop or a command to another process's port.
//! - [`shutdown_and_wait`]: tarsnode's `CommandStop`: `AdminF::shutdown`, then wait up to the
//!   service's `deactivating-timeout` for the container to stop by itself.
//! - [`notify`]: `AdminF::notify(command)` (`tars.viewstatus`, `tars.setloglevel DEBUG`, …),
//!   what TarsWeb's "send command" does through tarsnode.
//!
//! Every connection and call is bounded; a service that does not answer costs at most its
//! timeouts, and the caller falls back to the engine.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::WaitContainerOptionsBuilder;
use futures_util::StreamExt as _;
use lowering::endpoint::{Endpoint, Transport};
use serde::Serialize;
use tarsproto::admin::ShutdownAck;
use tarsproto::{ClientOptions, Connection};

/// The label holding the admin endpoint (`tcp -h HOST -p PORT`).
pub const LABEL_ADMIN_ENDPOINT: &str = lowering::ir::LABEL_ADMIN_ENDPOINT;

/// How long connecting to `AdminObj` may take: it is on this host.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a single admin call may wait for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// The smallest and largest wait for a stopping service, in seconds: tarsnode's clamp of
/// `deactivating-timeout / 1000` (`STOP_WAIT_INTERVAL` … 60).
const WAIT_RANGE: (u64, u64) = (2, 60);

/// Why a container has no usable admin endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No label: the container was planned without a `local` endpoint, or not by tarsdock.
    #[error(
        "the container has no `{LABEL_ADMIN_ENDPOINT}` label (no `local` endpoint was planned)"
    )]
    Missing,
    /// A label tarsdock cannot connect to.
    #[error("`{LABEL_ADMIN_ENDPOINT}={value}` is not usable: {reason}")]
    Unusable { value: String, reason: String },
}

/// The admin endpoint recorded in a container's labels.
///
/// # Errors
/// No label, or one that is not a TCP endpoint with a numeric host.
pub fn admin_endpoint(
    labels: Option<&HashMap<String, String>>,
) -> Result<SocketAddr, EndpointError> {
    let value = labels
        .and_then(|l| l.get(LABEL_ADMIN_ENDPOINT))
        .ok_or(EndpointError::Missing)?;
    let unusable = |reason: String| EndpointError::Unusable {
        value: parser::terminal::escape_controls(value).into_owned(),
        reason: parser::terminal::escape_controls(&reason).into_owned(),
    };
    let endpoint = Endpoint::parse(value).map_err(|e| unusable(e.to_string()))?;
    if endpoint.transport != Transport::Tcp {
        return Err(unusable("AdminObj is reached over plain tcp".to_owned()));
    }
    let host = endpoint.host.trim_matches(|c| c == '[' || c == ']');
    let ip: IpAddr = host
        .parse()
        .map_err(|_| unusable("the host is not an IP address".to_owned()))?;
    Ok(SocketAddr::new(ip, endpoint.port))
}

/// How long to wait for a service stopping after `AdminF::shutdown`: its
/// `deactivating-timeout` as the plan recorded it (the container's stop timeout, in seconds),
/// clamped to 2–60 s as tarsnode clamps it.
#[must_use]
pub fn shutdown_wait(stop_timeout_seconds: Option<i64>) -> Duration {
    let seconds = stop_timeout_seconds
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(3)
        .clamp(WAIT_RANGE.0, WAIT_RANGE.1);
    Duration::from_secs(seconds)
}

/// What the admin step of a stop did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdminStep {
    /// `host:port` of `AdminObj`.
    pub endpoint: String,
    /// `answered`, `connection-closed` (the server exited before answering), or `failed`.
    pub shutdown: String,
    /// Why the call failed, when it did.
    pub error: Option<String>,
    /// Whether the container stopped by itself within the wait.
    pub exited: bool,
    /// Milliseconds from sending the call to the container stopping (or to giving up).
    pub waited_ms: u64,
    /// The longest it was allowed to take.
    pub wait_ms: u64,
}

/// Sends `AdminF::shutdown` to `addr` and waits up to `wait` for container `id` to stop.
/// Never fails: a refused connection or a silent server is reported, and the caller goes on
/// with the engine's stop.
pub async fn shutdown_and_wait(
    docker: &Docker,
    id: &str,
    addr: SocketAddr,
    wait: Duration,
) -> AdminStep {
    let started = Instant::now();
    let mut step = AdminStep {
        endpoint: addr.to_string(),
        shutdown: "failed".to_owned(),
        error: None,
        exited: false,
        waited_ms: 0,
        wait_ms: millis(wait),
    };
    let options = ClientOptions {
        connect_timeout: CONNECT_TIMEOUT.min(wait),
        call_timeout: CALL_TIMEOUT.min(wait),
        ..ClientOptions::default()
    };
    // One deadline for connecting and calling: the whole step stays within `wait`.
    let sent = tokio::time::timeout(wait, async {
        let mut connection = Connection::connect(addr, options).await?;
        connection.admin_shutdown().await
    })
    .await;
    match sent {
        Ok(Ok(ShutdownAck::Answered)) => step.shutdown = "answered".to_owned(),
        Ok(Ok(ShutdownAck::Closed)) => step.shutdown = "connection-closed".to_owned(),
        Ok(Err(e)) => step.error = Some(e.to_string()),
        Err(_) => {
            step.error = Some(format!(
                "AdminObj at {addr} did not take the call within {} ms",
                millis(wait)
            ));
        }
    }
    if step.error.is_none() {
        let left = wait.saturating_sub(started.elapsed());
        step.exited = wait_not_running(docker, id, left).await;
    }
    step.waited_ms = millis(started.elapsed());
    step
}

/// Sends `AdminF::notify(command)` to `addr` and returns the server's answer.
///
/// # Errors
/// Connection, timeout, protocol and server errors, as [`tarsproto::Error`].
pub async fn notify(
    addr: SocketAddr,
    command: &str,
    timeout: Duration,
) -> Result<String, tarsproto::Error> {
    let options = ClientOptions {
        connect_timeout: CONNECT_TIMEOUT.min(timeout),
        call_timeout: timeout,
        ..ClientOptions::default()
    };
    let mut connection = Connection::connect(addr, options).await?;
    connection.admin_notify(command).await
}

/// Waits up to `limit` for the container to be not running (the engine's wait, so the end is
/// seen when it happens, not at the next poll). `false` at the limit or on an engine error.
pub async fn wait_not_running(docker: &Docker, id: &str, limit: Duration) -> bool {
    let options = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let mut stream = docker.wait_container(id, Some(options));
    match tokio::time::timeout(limit, stream.next()).await {
        // bollard reports a non-zero exit status as an error item: it did stop.
        Ok(Some(Ok(_) | Err(bollard::errors::Error::DockerContainerWaitError { .. }))) => true,
        // Gone already (removed) also means stopped.
        Ok(Some(Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }))) => true,
        _ => false,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(value: &str) -> HashMap<String, String> {
        HashMap::from([(LABEL_ADMIN_ENDPOINT.to_owned(), value.to_owned())])
    }

    #[test]
    fn the_label_gives_a_socket_address() {
        assert_eq!(
            admin_endpoint(Some(&labels("tcp -h 127.0.0.1 -p 30001"))),
            Ok("127.0.0.1:30001".parse().unwrap())
        );
        assert_eq!(
            admin_endpoint(Some(&labels("tcp -h ::1 -p 30001 -t 10000"))),
            Ok("[::1]:30001".parse().unwrap())
        );
    }

    #[test]
    fn unusable_labels_say_why() {
        assert_eq!(admin_endpoint(None), Err(EndpointError::Missing));
        assert_eq!(
            admin_endpoint(Some(&HashMap::new())),
            Err(EndpointError::Missing)
        );
        for bad in [
            "tcp -h node-1 -p 1",
            "udp -h 127.0.0.1 -p 1",
            "tcp -h 127.0.0.1",
            "x\u{1b}[2J",
        ] {
            let err = admin_endpoint(Some(&labels(bad))).unwrap_err();
            assert!(
                matches!(err, EndpointError::Unusable { .. }),
                "{bad}: {err}"
            );
            assert!(!err.to_string().contains('\u{1b}'), "{err}");
        }
    }

    #[test]
    fn the_wait_is_clamped_as_tarsnode_clamps_it() {
        assert_eq!(shutdown_wait(None), Duration::from_secs(3));
        assert_eq!(shutdown_wait(Some(0)), Duration::from_secs(2));
        assert_eq!(shutdown_wait(Some(-5)), Duration::from_secs(3));
        assert_eq!(shutdown_wait(Some(10)), Duration::from_secs(10));
        assert_eq!(shutdown_wait(Some(3600)), Duration::from_secs(60));
    }
}
