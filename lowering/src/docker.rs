//! From a [`ContainerPlan`] to what Docker takes: the Engine API body of
//! `POST /containers/create` (bollard's [`ContainerCreateBody`]) and the equivalent `docker run`
//! argument list, for humans and logs.
//!
//! Decisions that differ from upstream `TC_Docker::create`, deliberately:
//! - `IpcMode=host` is really sent on Linux (upstream passed it and never wrote it).
//! - `Privileged` is false unless the template asks and the policy allows.
//! - `WorkingDir` is in the container config, where Docker reads it (upstream put it in
//!   `HostConfig`, where it is ignored).
//! - A restart policy, when one is asked for, has the API's `Name`/`MaximumRetryCount` keys.
//! - `AutoRemove` is false: the runtime keeps a stopped container so that relaunching an
//!   unchanged plan only starts it again (labels carry the plan hash); with `AutoRemove` the
//!   daemon would delete it on exit, and with it the exit code and logs of a crashed service.
//! - Mounts are `HostConfig.Mounts` of type `bind` without `CreateMountpoint`: a missing host
//!   directory fails the create (as upstream, which creates its directories beforehand) instead
//!   of being created empty and owned by root.

use std::collections::{BTreeSet, HashMap};

use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, Mount as ApiMount, MountType, PortBinding as ApiPortBinding,
    RestartPolicy as ApiRestartPolicy, RestartPolicyNameEnum,
};
use serde_json::Value;

use crate::ir::{ContainerPlan, IpcMode, Network, PortBinding, RestartPolicy};
use crate::ports::by_key;

/// The body of `POST /containers/create?name=<plan.name>`.
#[must_use]
pub fn create_body(plan: &ContainerPlan) -> ContainerCreateBody {
    let ports = plan.network.ports();
    let (exposed_ports, port_bindings) = if ports.is_empty() {
        (None, None)
    } else {
        let exposed: BTreeSet<String> = ports.iter().map(PortBinding::key).collect();
        let bindings: HashMap<String, Option<Vec<ApiPortBinding>>> = by_key(ports)
            .into_iter()
            .map(|(key, list)| {
                let list = list
                    .into_iter()
                    .map(|b| ApiPortBinding {
                        host_ip: Some(b.host_ip.clone()),
                        host_port: Some(b.host_port.to_string()),
                    })
                    .collect();
                (key, Some(list))
            })
            .collect();
        (Some(exposed.into_iter().collect()), Some(bindings))
    };
    let mounts = plan
        .mounts
        .iter()
        .map(|m| ApiMount {
            target: Some(m.target.clone()),
            source: Some(m.source.clone()),
            typ: Some(MountType::BIND),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    ContainerCreateBody {
        image: Some(plan.image.clone()),
        entrypoint: Some(plan.entrypoint.clone()),
        working_dir: Some(plan.working_dir.clone()),
        labels: Some(plan.labels.to_map().into_iter().collect()),
        exposed_ports,
        stop_timeout: Some(i64::from(plan.stop_timeout)),
        host_config: Some(HostConfig {
            network_mode: Some(plan.network.mode().to_owned()),
            ipc_mode: match plan.ipc_mode {
                IpcMode::Host => Some("host".to_owned()),
                IpcMode::Default => None,
            },
            mounts: Some(mounts),
            port_bindings,
            privileged: Some(plan.privileged),
            auto_remove: Some(false),
            restart_policy: plan.restart_policy.map(api_restart_policy),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn api_restart_policy(policy: RestartPolicy) -> ApiRestartPolicy {
    let (name, retries) = match policy {
        RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        RestartPolicy::OnFailure { max_retries } => (
            RestartPolicyNameEnum::ON_FAILURE,
            max_retries.map(i64::from),
        ),
    };
    ApiRestartPolicy {
        name: Some(name),
        maximum_retry_count: retries,
    }
}

/// The create body as JSON with every object's keys sorted, so that output and snapshots do not
/// depend on hash-map order.
#[must_use]
pub fn create_body_json(body: &ContainerCreateBody) -> Value {
    // Serialising bollard's models to a `Value` cannot fail (string keys, no custom errors).
    canonical(serde_json::to_value(body).unwrap_or(Value::Null))
}

/// `value` with every object rebuilt in sorted key order (also under serde_json's
/// `preserve_order`, which keeps insertion order).
#[must_use]
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The `docker run` argument list (starting with `docker`) that creates and starts the same
/// container. An entrypoint of several words is `--entrypoint <first>` plus the rest after the
/// image, which runs the same command.
#[must_use]
pub fn docker_run(plan: &ContainerPlan) -> Vec<String> {
    let mut argv: Vec<String> = ["docker", "run", "--detach", "--name"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    argv.push(plan.name.clone());
    for (key, value) in plan.labels.to_map() {
        argv.push("--label".to_owned());
        argv.push(format!("{key}={value}"));
    }
    argv.push("--network".to_owned());
    argv.push(plan.network.mode().to_owned());
    if plan.ipc_mode == IpcMode::Host {
        argv.push("--ipc".to_owned());
        argv.push("host".to_owned());
    }
    for mount in &plan.mounts {
        let mut fields = vec![
            "type=bind".to_owned(),
            csv_field(&format!("source={}", mount.source)),
            csv_field(&format!("target={}", mount.target)),
        ];
        if mount.read_only {
            fields.push("readonly".to_owned());
        }
        argv.push("--mount".to_owned());
        argv.push(fields.join(","));
    }
    if let Network::Bridge { ports } = &plan.network {
        for port in ports {
            let host = if port.host_ip.is_empty() {
                String::new()
            } else if port.host_ip.contains(':') {
                format!("[{}]:", port.host_ip)
            } else {
                format!("{}:", port.host_ip)
            };
            argv.push("--publish".to_owned());
            argv.push(format!(
                "{host}{}:{}/{}",
                port.host_port, port.container_port, port.proto
            ));
        }
    }
    argv.push("--workdir".to_owned());
    argv.push(plan.working_dir.clone());
    argv.push("--stop-timeout".to_owned());
    argv.push(plan.stop_timeout.to_string());
    if plan.privileged {
        argv.push("--privileged".to_owned());
    }
    if let Some(policy) = plan.restart_policy {
        argv.push("--restart".to_owned());
        argv.push(match policy {
            RestartPolicy::OnFailure {
                max_retries: Some(n),
            } => format!("on-failure:{n}"),
            other => other.name().to_owned(),
        });
    }
    let mut entrypoint = plan.entrypoint.iter();
    if let Some(first) = entrypoint.next() {
        argv.push("--entrypoint".to_owned());
        argv.push(first.clone());
    }
    argv.push(plan.image.clone());
    argv.extend(entrypoint.cloned());
    argv
}

/// One field of a `--mount` value, quoted as CSV when it contains `,` or `"`.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The argument list as one POSIX shell line: words with special characters single-quoted.
#[must_use]
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            let plain = !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%[]".contains(&b));
            if plain {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("source=/a"), "source=/a");
        assert_eq!(csv_field("source=/a,b"), "\"source=/a,b\"");
        assert_eq!(csv_field("source=/a\"b"), "\"source=/a\"\"b\"");
    }

    #[test]
    fn shell_quoting() {
        let argv = vec!["docker".to_owned(), "it's".to_owned(), String::new()];
        assert_eq!(shell_line(&argv), "docker 'it'\\''s' ''");
    }

    #[test]
    fn canonical_sorts_nested_keys() {
        let v = serde_json::json!({"b": {"z": 1, "a": [{"y": 1, "x": 2}]}, "a": 0});
        assert_eq!(
            serde_json::to_string(&canonical(v)).unwrap(),
            r#"{"a":0,"b":{"a":[{"x":2,"y":1}],"z":1}}"#
        );
    }
}
