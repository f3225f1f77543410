//! Keepalive: a crashed service comes back, through the engine's restart policy — and a
//! `stop` is never undone by it.
//!
//! Standalone (no tarsnode), nothing watches a service; tarsnode's `KeepAliveThread` restarts a
//! dead one, tarsdock asks the engine to: a plan with a restart policy (`--restart
//! unless-stopped`) makes the engine restart the container whenever it exits, with the
//! engine's own back-off (100 ms doubling up to a minute, reset after ten seconds of running)
//! and a restart count (`RestartCount`, shown by `status`). No process of tarsdock has to stay
//! alive for it, and it survives a reboot of the engine.
//!
//! The catch is the graceful stop: `AdminF::shutdown` makes the server exit by itself (the real
//! TarsCpp server even exits 255), which the engine cannot tell from a crash, so it would bring
//! the service straight back. So a stop first lifts the policy (`POST /containers/{id}/update`,
//! `RestartPolicy: no`), and a start puts it back. What to put back is recorded at create in
//! the label [`LABEL_RESTART_POLICY`] (labels cannot change afterwards, so the intent survives
//! the lifted policy).
//!
//! Under tarsnode, plan no restart policy (the default): tarsnode stops servers with its own
//! `AdminF::shutdown`, which the engine would undo, and its keepalive restarts them anyway.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerUpdateBody, RestartPolicy,
    RestartPolicyNameEnum,
};

/// The restart policy the container was created with, `name[:max-retries]` (`unless-stopped`,
/// `on-failure:5`).
pub const LABEL_RESTART_POLICY: &str = "tarsdock.restart-policy";

/// Records the body's restart policy in [`LABEL_RESTART_POLICY`] (removing a caller's value
/// for it when the body has none).
pub fn record(body: &mut ContainerCreateBody) {
    let policy = body
        .host_config
        .as_ref()
        .and_then(|h| h.restart_policy.as_ref())
        .and_then(policy_text);
    let labels = body.labels.get_or_insert_with(HashMap::new);
    match policy {
        Some(text) => {
            labels.insert(LABEL_RESTART_POLICY.to_owned(), text);
        }
        None => {
            labels.remove(LABEL_RESTART_POLICY);
        }
    }
}

/// Whether the container's current restart policy would restart it after it exits.
#[must_use]
pub fn is_active(inspect: &ContainerInspectResponse) -> bool {
    current(inspect).is_some()
}

/// Whether the container's restart policy differs from the one `body` asks for only because a
/// stop lifted it: `body`'s policy is the one recorded at create and the current one is none.
/// Such a container is unchanged (the next start restores the policy), not to be replaced.
#[must_use]
pub fn lifted(body: &ContainerCreateBody, inspect: &ContainerInspectResponse) -> bool {
    let wanted = body
        .host_config
        .as_ref()
        .and_then(|h| h.restart_policy.as_ref())
        .and_then(policy_text)
        .and_then(|t| parse(&t));
    wanted.is_some() && !is_active(inspect) && intended(inspect) == wanted
}

/// Lifts the restart policy (to `no`) so that an exit the caller is about to cause is not
/// undone. Does nothing when there is none.
///
/// # Errors
/// The engine's refusal, as its bollard error.
pub async fn hold(
    docker: &Docker,
    id: &str,
    inspect: &ContainerInspectResponse,
) -> Result<bool, bollard::errors::Error> {
    if !is_active(inspect) {
        return Ok(false);
    }
    update(docker, id, RestartPolicyNameEnum::NO, None).await?;
    Ok(true)
}

/// Puts back the restart policy recorded at create, when the current one differs (after a
/// stop lifted it). Returns whether it changed anything.
///
/// # Errors
/// The engine's refusal, as its bollard error.
pub async fn restore(
    docker: &Docker,
    id: &str,
    inspect: &ContainerInspectResponse,
) -> Result<bool, bollard::errors::Error> {
    let Some(intended) = intended(inspect) else {
        return Ok(false);
    };
    if current(inspect).as_ref() == Some(&intended) {
        return Ok(false);
    }
    let (name, retries) = intended;
    update(docker, id, name, retries).await?;
    Ok(true)
}

/// The policy recorded at create, parsed.
fn intended(inspect: &ContainerInspectResponse) -> Option<(RestartPolicyNameEnum, Option<i64>)> {
    let text = inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(LABEL_RESTART_POLICY))?;
    parse(text)
}

/// The container's current policy, when it restarts anything.
fn current(inspect: &ContainerInspectResponse) -> Option<(RestartPolicyNameEnum, Option<i64>)> {
    let policy = inspect.host_config.as_ref()?.restart_policy.as_ref()?;
    let text = policy_text(policy)?;
    parse(&text)
}

fn policy_text(policy: &RestartPolicy) -> Option<String> {
    let name = policy.name?;
    match name {
        RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO => None,
        RestartPolicyNameEnum::ON_FAILURE => Some(match policy.maximum_retry_count {
            Some(n) if n > 0 => format!("on-failure:{n}"),
            _ => "on-failure".to_owned(),
        }),
        other => Some(other.to_string()),
    }
}

fn parse(text: &str) -> Option<(RestartPolicyNameEnum, Option<i64>)> {
    let (name, retries) = match text.split_once(':') {
        Some((name, n)) => (name, Some(n.parse::<i64>().ok().filter(|n| *n > 0)?)),
        None => (text, None),
    };
    let name = match name {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return None,
    };
    if retries.is_some() && name != RestartPolicyNameEnum::ON_FAILURE {
        return None;
    }
    Some((name, retries))
}

async fn update(
    docker: &Docker,
    id: &str,
    name: RestartPolicyNameEnum,
    retries: Option<i64>,
) -> Result<(), bollard::errors::Error> {
    let body = ContainerUpdateBody {
        restart_policy: Some(RestartPolicy {
            name: Some(name),
            maximum_retry_count: retries,
        }),
        ..ContainerUpdateBody::default()
    };
    docker.update_container(id, body).await
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerConfig, HostConfig};

    use super::*;

    fn body(policy: Option<(RestartPolicyNameEnum, Option<i64>)>) -> ContainerCreateBody {
        ContainerCreateBody {
            host_config: Some(HostConfig {
                restart_policy: policy.map(|(name, n)| RestartPolicy {
                    name: Some(name),
                    maximum_retry_count: n,
                }),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        }
    }

    fn inspect(
        label: Option<&str>,
        now: Option<RestartPolicyNameEnum>,
    ) -> ContainerInspectResponse {
        ContainerInspectResponse {
            config: Some(ContainerConfig {
                labels: label
                    .map(|l| HashMap::from([(LABEL_RESTART_POLICY.to_owned(), l.to_owned())])),
                ..ContainerConfig::default()
            }),
            host_config: Some(HostConfig {
                restart_policy: now.map(|name| RestartPolicy {
                    name: Some(name),
                    maximum_retry_count: None,
                }),
                ..HostConfig::default()
            }),
            ..ContainerInspectResponse::default()
        }
    }

    #[test]
    fn the_created_policy_is_recorded_in_a_label() {
        let mut b = body(Some((RestartPolicyNameEnum::ON_FAILURE, Some(5))));
        record(&mut b);
        assert_eq!(
            b.labels
                .as_ref()
                .unwrap()
                .get(LABEL_RESTART_POLICY)
                .map(String::as_str),
            Some("on-failure:5")
        );
        let mut b = body(Some((RestartPolicyNameEnum::UNLESS_STOPPED, None)));
        record(&mut b);
        assert_eq!(
            b.labels
                .as_ref()
                .unwrap()
                .get(LABEL_RESTART_POLICY)
                .map(String::as_str),
            Some("unless-stopped")
        );
        // No policy (or `no`): no label, even when a caller wrote one.
        let mut b = body(Some((RestartPolicyNameEnum::NO, None)));
        b.labels = Some(HashMap::from([(
            LABEL_RESTART_POLICY.to_owned(),
            "always".to_owned(),
        )]));
        record(&mut b);
        assert!(
            !b.labels
                .as_ref()
                .unwrap()
                .contains_key(LABEL_RESTART_POLICY)
        );
    }

    #[test]
    fn a_policy_lifted_by_a_stop_is_not_a_change() {
        let wanted = body(Some((RestartPolicyNameEnum::UNLESS_STOPPED, None)));
        let lifted_one = inspect(Some("unless-stopped"), Some(RestartPolicyNameEnum::NO));
        assert!(lifted(&wanted, &lifted_one));
        // Live policy: nothing was lifted; another recorded policy: a real change.
        assert!(!lifted(
            &wanted,
            &inspect(
                Some("unless-stopped"),
                Some(RestartPolicyNameEnum::UNLESS_STOPPED)
            )
        ));
        assert!(!lifted(
            &wanted,
            &inspect(Some("always"), Some(RestartPolicyNameEnum::NO))
        ));
        assert!(!lifted(&body(None), &lifted_one));
    }

    #[test]
    fn active_and_intended_policies() {
        let lifted = inspect(Some("unless-stopped"), Some(RestartPolicyNameEnum::NO));
        assert!(!is_active(&lifted));
        assert_eq!(
            intended(&lifted),
            Some((RestartPolicyNameEnum::UNLESS_STOPPED, None))
        );
        let live = inspect(
            Some("unless-stopped"),
            Some(RestartPolicyNameEnum::UNLESS_STOPPED),
        );
        assert!(is_active(&live));
        assert_eq!(current(&live), intended(&live));
        assert!(intended(&inspect(None, None)).is_none());
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:0"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
