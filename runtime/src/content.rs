//! Whose a container is, and whether it is what a request asks for — by content, not by a
//! label alone.
//!
//! **Ownership.** A container is tarsdock's when it carries every label tarsdock sets
//! (`tarsdock.managed-by=tarsdock`, `app`, `server`, `node`, `plan-hash`); for a launch,
//! `app`, `server` and `node` must also be the request's. A container with only
//! `managed-by`, or another service's labels, is foreign: left alone without `--adopt`.
//!
//! **Unchanged.** The plan-hash label says what the container was made from, but anyone can
//! write a label. So the container's configuration as the engine reports it (`Config`,
//! `HostConfig` of `GET /containers/{id}/json`) is compared with the create body, after the
//! engine's own normalisation is undone:
//! - `Env` and `Labels` are merged with the image's (the engine does so at create: request
//!   values win, image-only variables and labels are added);
//! - `Entrypoint` and `Cmd` follow the engine's rule (an entrypoint in the request drops the
//!   image's command; neither in the request takes both from the image);
//! - every other field the request sets is compared structurally; a field it leaves empty
//!   (`""`, `0`, `false`, `[]`, `{}`, absent) is the engine's to default (`ShmSize`,
//!   `IpcMode`, `RestartPolicy.MaximumRetryCount`…) — except the fields that widen what the
//!   container can reach ([`STRICT_HOST_FIELDS`]: binds, mounts, privileges, devices, pid
//!   namespace, published ports…), which must be empty on the container too;
//! - capability names are compared without case or `CAP_` prefix.
//!
//! `NetworkingConfig` is not compared (the engine reports networks elsewhere, and the
//! lowering does not use it).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerCreateBody, ContainerInspectResponse, ImageConfig};
use serde_json::{Map, Value};

use crate::request::{
    LABEL_APP, LABEL_MANAGED_BY, LABEL_NODE, LABEL_PLAN_HASH, LABEL_SERVER, LaunchRequest,
    MANAGED_BY_VALUE,
};

/// `HostConfig` fields that must be empty on the container when the request leaves them
/// empty: each one widens what the container can reach on the host.
pub const STRICT_HOST_FIELDS: [&str; 13] = [
    "Binds",
    "Mounts",
    "VolumesFrom",
    "Privileged",
    "CapAdd",
    "Devices",
    "DeviceRequests",
    "DeviceCgroupRules",
    "PidMode",
    "UsernsMode",
    "SecurityOpt",
    "PortBindings",
    "PublishAllPorts",
];

/// Whether a container is tarsdock's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// It carries tarsdock's labels (and, for a launch, the request's identity).
    Ours,
    /// It does not; why, in words.
    Foreign(String),
}

/// Ownership from a container's labels, without a request: every label tarsdock sets
/// must be there and non-empty.
#[must_use]
pub fn ownership(labels: Option<&HashMap<String, String>>) -> Ownership {
    let label = |key: &str| {
        labels
            .and_then(|l| l.get(key))
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    match label(LABEL_MANAGED_BY) {
        Some(MANAGED_BY_VALUE) => {}
        Some(other) => {
            return Ownership::Foreign(format!("its label {LABEL_MANAGED_BY} is `{other}`"));
        }
        None => {
            return Ownership::Foreign(format!(
                "it has no label {LABEL_MANAGED_BY}={MANAGED_BY_VALUE}"
            ));
        }
    }
    for key in [LABEL_APP, LABEL_SERVER, LABEL_NODE, LABEL_PLAN_HASH] {
        if label(key).is_none() {
            return Ownership::Foreign(format!(
                "it carries {LABEL_MANAGED_BY} but no {key} label, so tarsdock did not make it"
            ));
        }
    }
    Ownership::Ours
}

/// Ownership for a launch: [`ownership`], and the container's app, server and node must be
/// the request's.
#[must_use]
pub fn ownership_for(
    labels: Option<&HashMap<String, String>>,
    request: &LaunchRequest,
) -> Ownership {
    if let Ownership::Foreign(why) = ownership(labels) {
        return Ownership::Foreign(why);
    }
    let label = |key: &str| labels.and_then(|l| l.get(key)).map_or("", String::as_str);
    for (key, wanted) in [
        (LABEL_APP, request.app.as_str()),
        (LABEL_SERVER, request.server.as_str()),
        (LABEL_NODE, request.node.as_str()),
    ] {
        let found = label(key);
        if found != wanted {
            return Ownership::Foreign(format!(
                "its {key} is `{}`, not `{}`",
                parser::terminal::escape_controls(found),
                parser::terminal::escape_controls(wanted)
            ));
        }
    }
    Ownership::Ours
}

/// The image defaults the engine merges into a container's configuration at create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

impl ImageDefaults {
    /// From the image's `Config`.
    #[must_use]
    pub fn from_config(config: Option<&ImageConfig>) -> Self {
        let Some(config) = config else {
            return Self::default();
        };
        Self {
            env: config.env.clone().unwrap_or_default(),
            labels: config.labels.clone().unwrap_or_default(),
            entrypoint: config.entrypoint.clone().unwrap_or_default(),
            cmd: config.cmd.clone().unwrap_or_default(),
        }
    }
}

/// The fields where the container differs from what `body` asks for (`Entrypoint`,
/// `HostConfig.Binds`, …); empty when it is what the body asks for.
#[must_use]
pub fn differences(
    body: &ContainerCreateBody,
    inspect: &ContainerInspectResponse,
    image: &ImageDefaults,
) -> Vec<String> {
    let mut differences = Vec::new();
    let want = object(serde_json::to_value(body).unwrap_or(Value::Null));
    let have = object(serde_json::to_value(&inspect.config).unwrap_or(Value::Null));
    let want_host = object(want.get("HostConfig").cloned().unwrap_or(Value::Null));
    let mut have_host = object(serde_json::to_value(&inspect.host_config).unwrap_or(Value::Null));
    drop_implied_security_opts(&want_host, &mut have_host);
    if crate::keepalive::lifted(body, inspect)
        && let Some(policy) = want_host.get("RestartPolicy")
    {
        // A stop lifted the keepalive policy (see `keepalive`); the next start restores it.
        have_host.insert("RestartPolicy".to_owned(), policy.clone());
    }

    // Env: the request's variables, then the image's that the request does not set.
    let want_env = strings(want.get("Env"));
    let keys: Vec<&str> = want_env.iter().map(|e| env_key(e)).collect();
    let mut expected_env: Vec<String> = want_env.clone();
    expected_env.extend(
        image
            .env
            .iter()
            .filter(|e| !keys.contains(&env_key(e)))
            .cloned(),
    );
    let mut have_env = strings(have.get("Env"));
    expected_env.sort();
    have_env.sort();
    if expected_env != have_env {
        differences.push("Env".to_owned());
    }

    // Labels: the image's, overridden by the request's.
    let mut expected_labels: BTreeMap<String, String> = image
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in want
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        expected_labels.insert(key.clone(), value.as_str().unwrap_or_default().to_owned());
    }
    let have_labels: BTreeMap<String, String> = have
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    if expected_labels != have_labels {
        differences.push("Labels".to_owned());
    }

    // Entrypoint and Cmd, as the engine merges them with the image's.
    let want_entrypoint = strings(want.get("Entrypoint"));
    let want_cmd = strings(want.get("Cmd"));
    let (expected_entrypoint, expected_cmd) = if !want_entrypoint.is_empty() {
        (want_entrypoint, want_cmd)
    } else if !want_cmd.is_empty() {
        (image.entrypoint.clone(), want_cmd)
    } else {
        (image.entrypoint.clone(), image.cmd.clone())
    };
    if expected_entrypoint != strings(have.get("Entrypoint")) {
        differences.push("Entrypoint".to_owned());
    }
    if expected_cmd != strings(have.get("Cmd")) {
        differences.push("Cmd".to_owned());
    }

    for (key, value) in &want {
        if matches!(
            key.as_str(),
            "Env" | "Labels" | "Entrypoint" | "Cmd" | "HostConfig" | "NetworkingConfig"
        ) {
            continue;
        }
        if !covers(key, value, have.get(key).unwrap_or(&Value::Null)) {
            differences.push(key.clone());
        }
    }
    for (key, value) in &want_host {
        let actual = have_host.get(key).unwrap_or(&Value::Null);
        let strict = STRICT_HOST_FIELDS.contains(&key.as_str());
        let same = if strict && is_empty(value) {
            is_empty(actual)
        } else {
            covers(key, value, actual)
        };
        if !same {
            differences.push(format!("HostConfig.{key}"));
        }
    }
    for key in STRICT_HOST_FIELDS {
        if !want_host.contains_key(key) && !is_empty(have_host.get(key).unwrap_or(&Value::Null)) {
            differences.push(format!("HostConfig.{key}"));
        }
    }
    differences
}

/// The engine adds `label=disable` to `SecurityOpt` by itself when the container shares the
/// host's IPC or PID namespace or is privileged (SELinux labels cannot apply then); that
/// entry is not a difference when the request asks for one of those.
fn drop_implied_security_opts(want: &Map<String, Value>, have: &mut Map<String, Value>) {
    let is = |key: &str, value: &str| want.get(key).and_then(Value::as_str) == Some(value);
    let implied = is("IpcMode", "host")
        || is("PidMode", "host")
        || want.get("Privileged").and_then(Value::as_bool) == Some(true);
    if !implied {
        return;
    }
    if let Some(Value::Array(options)) = have.get_mut("SecurityOpt") {
        options.retain(|o| !matches!(o.as_str(), Some("label=disable" | "label:disable")));
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// Whether a value is one the engine treats as "not set".
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_empty),
    }
}

/// Whether `have` has everything `want` sets (`key` names the field, for the few with
/// their own comparison).
fn covers(key: &str, want: &Value, have: &Value) -> bool {
    if is_empty(want) {
        return true;
    }
    match (want, have) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(k, w)| covers(k, w, have.get(k).unwrap_or(&Value::Null))),
        (Value::Array(want), Value::Array(have)) => {
            if matches!(key, "CapAdd" | "CapDrop") {
                let norm = |items: &Vec<Value>| {
                    let mut names: Vec<String> = items
                        .iter()
                        .map(|v| capability(v.as_str().unwrap_or_default()))
                        .collect();
                    names.sort();
                    names
                };
                return norm(want) == norm(have);
            }
            want.len() == have.len()
                && want
                    .iter()
                    .zip(have)
                    .all(|(w, h)| covers(key, w, h) && (!is_empty(h) || is_empty(w)))
        }
        (Value::Number(w), Value::Number(h)) => w.as_f64() == h.as_f64(),
        (w, h) => w == h,
    }
}

fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map_or(upper.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn inspect(config: &Value, host: &Value) -> ContainerInspectResponse {
        serde_json::from_value(json!({"Config": config, "HostConfig": host})).unwrap()
    }

    fn body(value: &Value) -> ContainerCreateBody {
        serde_json::from_value(value.clone()).unwrap()
    }

    fn image() -> ImageDefaults {
        ImageDefaults {
            env: vec!["PATH=/bin".into(), "MODE=image".into()],
            labels: HashMap::from([("from-image".into(), "1".into())]),
            entrypoint: vec![],
            cmd: vec!["/bin/sh".into()],
        }
    }

    fn planned() -> Value {
        json!({
            "Image": "x:1",
            "Entrypoint": ["/srv/bin/tars_start.sh"],
            "Env": ["MODE=plan"],
            "WorkingDir": "/srv",
            "StopTimeout": 5,
            "Labels": {"tarsdock.plan-hash": "abc"},
            "HostConfig": {
                "NetworkMode": "host",
                "IpcMode": "host",
                "Privileged": false,
                "AutoRemove": false,
                "Mounts": [{"Type": "bind", "Source": "/srv", "Target": "/srv", "ReadOnly": false}],
                "RestartPolicy": {"Name": ""},
            },
        })
    }

    /// What the engine reports for [`planned`] on [`image`].
    fn reported() -> (Value, Value) {
        (
            json!({
                "Hostname": "box", "Image": "x:1", "Entrypoint": ["/srv/bin/tars_start.sh"],
                "Cmd": null, "Env": ["MODE=plan", "PATH=/bin"], "WorkingDir": "/srv",
                "StopTimeout": 5, "Tty": false,
                "Labels": {"tarsdock.plan-hash": "abc", "from-image": "1"},
            }),
            json!({
                "NetworkMode": "host", "IpcMode": "host", "Privileged": false,
                "AutoRemove": false, "ShmSize": 67108864, "Binds": null, "CapAdd": null,
                "Mounts": [{"Type": "bind", "Source": "/srv", "Target": "/srv"}],
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                "MaskedPaths": ["/proc/kcore"], "PortBindings": {},
            }),
        )
    }

    #[test]
    fn what_the_engine_reports_for_the_plan_is_unchanged() {
        let (config, host) = reported();
        assert_eq!(
            differences(&body(&planned()), &inspect(&config, &host), &image()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_different_command_extra_binds_and_privileges_are_changes() {
        let (mut config, mut host) = reported();
        config["Entrypoint"] = json!(["/bin/sh", "-c", "evil"]);
        host["Binds"] = json!(["/etc:/host-etc"]);
        host["Privileged"] = json!(true);
        host["Mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Type": "bind", "Source": "/", "Target": "/host"}));
        let found = differences(&body(&planned()), &inspect(&config, &host), &image());
        for field in [
            "Entrypoint",
            "HostConfig.Binds",
            "HostConfig.Privileged",
            "HostConfig.Mounts",
        ] {
            assert!(found.contains(&field.to_owned()), "{field}: {found:?}");
        }
    }

    #[test]
    fn env_and_labels_are_merged_with_the_image() {
        let (mut config, host) = reported();
        config["Env"] = json!(["MODE=plan", "PATH=/bin", "EXTRA=1"]);
        let found = differences(&body(&planned()), &inspect(&config, &host), &image());
        assert_eq!(found, ["Env"]);
        let (mut config, host) = reported();
        config["Labels"]["sneaky"] = json!("1");
        let found = differences(&body(&planned()), &inspect(&config, &host), &image());
        assert_eq!(found, ["Labels"]);
    }

    #[test]
    fn entrypoint_and_cmd_follow_the_engine_rule() {
        let (mut config, host) = reported();
        let mut plan = planned();
        plan.as_object_mut().unwrap().remove("Entrypoint");
        config["Entrypoint"] = Value::Null;
        config["Cmd"] = json!(["/bin/sh"]);
        assert!(differences(&body(&plan), &inspect(&config, &host), &image()).is_empty());
        config["Cmd"] = json!(["/bin/other"]);
        assert_eq!(
            differences(&body(&plan), &inspect(&config, &host), &image()),
            ["Cmd"]
        );
    }

    #[test]
    fn the_label_the_engine_adds_for_host_ipc_is_not_a_change() {
        let (config, mut host) = reported();
        host["SecurityOpt"] = json!(["label=disable"]);
        assert!(differences(&body(&planned()), &inspect(&config, &host), &image()).is_empty());
        host["SecurityOpt"] = json!(["label=disable", "seccomp=unconfined"]);
        assert_eq!(
            differences(&body(&planned()), &inspect(&config, &host), &image()),
            ["HostConfig.SecurityOpt"]
        );
        let mut plan = planned();
        plan["HostConfig"]["IpcMode"] = json!("private");
        let (mut config, _) = reported();
        config["Labels"] = json!({"tarsdock.plan-hash": "abc", "from-image": "1"});
        host["SecurityOpt"] = json!(["label=disable"]);
        host["IpcMode"] = json!("private");
        assert_eq!(
            differences(&body(&plan), &inspect(&config, &host), &image()),
            ["HostConfig.SecurityOpt"]
        );
    }

    #[test]
    fn capabilities_compare_by_name() {
        let (config, mut host) = reported();
        let mut plan = planned();
        plan["HostConfig"]["CapAdd"] = json!(["net_admin"]);
        host["CapAdd"] = json!(["CAP_NET_ADMIN"]);
        assert!(differences(&body(&plan), &inspect(&config, &host), &image()).is_empty());
    }

    #[test]
    fn labels_decide_ownership() {
        let labels = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let full = labels(&[
            (LABEL_MANAGED_BY, "tarsdock"),
            (LABEL_APP, "A"),
            (LABEL_SERVER, "B"),
            (LABEL_NODE, "n"),
            (LABEL_PLAN_HASH, "h"),
        ]);
        assert_eq!(ownership(Some(&full)), Ownership::Ours);
        assert!(matches!(ownership(None), Ownership::Foreign(_)));
        let only = labels(&[(LABEL_MANAGED_BY, "tarsdock")]);
        let Ownership::Foreign(why) = ownership(Some(&only)) else {
            panic!("only managed-by is not enough");
        };
        assert!(why.contains("tarsdock.app"), "{why}");
        let request = LaunchRequest {
            name: "A.B".into(),
            app: "A".into(),
            server: "B".into(),
            node: "n".into(),
            image: "x".into(),
            expected_image_id: None,
            body: ContainerCreateBody::default(),
            plan_hash: "h".into(),
            mounts: vec![],
            ports: vec![],
            executable: None,
        };
        assert_eq!(ownership_for(Some(&full), &request), Ownership::Ours);
        let mut other = request.clone();
        other.app = "Z".into();
        let Ownership::Foreign(why) = ownership_for(Some(&full), &other) else {
            panic!("another app");
        };
        assert!(why.contains("tarsdock.app is `A`, not `Z`"), "{why}");
    }
}
