//! What tarsnode asked for against what tarsdock plans: the create body the node sent and
//! the one lowering made, compared field by field, so that every change the front makes to a
//! node's container (privileged off, host IPC on, the working directory where Docker reads
//! it, labels, mounts from the template policy…) is logged and returned as a warning.
//!
//! Values the engine treats alike compare equal: an absent field, `null`, `false`, `""`,
//! `[]` and `{}`. Mounts compare by container path (target), with paths cleaned as the engine
//! cleans them, so `/a/b/` and `/a/b` are one mount.

use std::collections::BTreeSet;
use std::fmt;

use lowering::paths::clean;
use serde_json::{Map, Value};

/// One field where the plan differs from the node's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The field, as a dotted path into the create body (`HostConfig.Privileged`,
    /// `HostConfig.Mounts[/etc/localtime]`).
    pub field: String,
    /// What tarsnode sent (`None`: not sent).
    pub tarsnode: Option<Value>,
    /// What tarsdock sends (`None`: not sent).
    pub tarsdock: Option<Value>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| {
            v.as_ref()
                .map_or_else(|| "(unset)".to_owned(), Value::to_string)
        };
        write!(
            f,
            "{}: tarsnode sent {}, tarsdock sends {}",
            self.field,
            show(&self.tarsnode),
            show(&self.tarsdock)
        )
    }
}

/// Every difference between the body `sent` and the body `planned`, in field order. Objects
/// are compared key by key (an absent side counts as empty), except `Labels`, compared
/// whole.
#[must_use]
pub fn differences(sent: &Value, planned: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff("", &normalise(sent, ""), &normalise(planned, ""), &mut out);
    out
}

fn diff(path: &str, sent: &Value, planned: &Value, out: &mut Vec<Difference>) {
    // Labels are one field: their keys hold dots, and tarsdock sets them all at once.
    let empty = Map::new();
    let objects = match (sent, planned) {
        (Value::Object(a), Value::Object(b)) => Some((a, b)),
        (Value::Object(a), Value::Null) => Some((a, &empty)),
        (Value::Null, Value::Object(b)) => Some((&empty, b)),
        _ => None,
    };
    if path != "Labels"
        && let Some((a, b)) = objects
    {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            let field = if path.is_empty() {
                key.clone()
            } else if key.starts_with('[') {
                format!("{path}{key}")
            } else {
                format!("{path}.{key}")
            };
            diff(
                &field,
                a.get(key).unwrap_or(&Value::Null),
                b.get(key).unwrap_or(&Value::Null),
                out,
            );
        }
        return;
    }
    if is_unset(sent) && is_unset(planned) || sent == planned {
        return;
    }
    let present = |v: &Value| (!v.is_null()).then(|| v.clone());
    out.push(Difference {
        field: path.to_owned(),
        tarsnode: present(sent),
        tarsdock: present(planned),
    });
}

/// Values the engine reads as "not set".
fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

/// The body with its mount list turned into an object keyed by `[target]`, so that mounts
/// are compared one by one.
fn normalise(value: &Value, path: &str) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if field == "HostConfig.Mounts"
                    && let Value::Array(mounts) = child
                {
                    out.insert(key.clone(), Value::Object(mounts_by_target(mounts)));
                } else {
                    out.insert(key.clone(), normalise(child, &field));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn mounts_by_target(mounts: &[Value]) -> Map<String, Value> {
    let mut out = Map::new();
    for mount in mounts {
        let text = |key: &str| mount.get(key).and_then(Value::as_str).unwrap_or_default();
        let target = clean(text("Target"));
        let mut described = clean(text("Source"));
        let kind = text("Type");
        if !kind.is_empty() && kind != "bind" {
            described = format!("{kind}:{described}");
        }
        if mount.get("ReadOnly").and_then(Value::as_bool) == Some(true) {
            described.push_str(" (read-only)");
        }
        out.insert(format!("[{target}]"), Value::String(described));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(list: &[Difference]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn what_tarsdock_changes_in_tarsnodes_request() {
        // The body upstream TC_Docker sends (README of tarsnode-docker) and a Linux plan.
        let sent = json!({
            "HostConfig": {
                "Privileged": true, "WorkingDir": "/", "AutoRemove": true, "NetworkMode": "host",
                "Mounts": [
                    {"Source": "/etc/localtime", "Target": "/etc/localtime", "Type": "bind"},
                    {"Source": "/srv/app_log/", "Target": "/srv/app_log/", "Type": "bind"},
                    {"Source": "/srv/data/A.B/", "Target": "/srv/data/A.B/", "Type": "bind"}
                ]
            },
            "Entrypoint": ["/srv/data/A.B/bin/tars_start.sh"],
            "Image": "box:1"
        });
        let planned = json!({
            "Entrypoint": ["/srv/data/A.B/bin/tars_start.sh"],
            "Image": "box:1",
            "WorkingDir": "/",
            "StopTimeout": 3,
            "Labels": {"tarsdock.managed-by": "tarsdock"},
            "HostConfig": {
                "AutoRemove": false, "IpcMode": "host", "NetworkMode": "host", "Privileged": false,
                "Mounts": [
                    {"Source": "/etc/localtime", "Target": "/etc/localtime", "Type": "bind", "ReadOnly": false},
                    {"Source": "/srv/app_log", "Target": "/srv/app_log", "Type": "bind", "ReadOnly": false},
                    {"Source": "/srv/data/A.B", "Target": "/srv/data/A.B", "Type": "bind", "ReadOnly": false},
                    {"Source": "/srv/shared", "Target": "/shared", "Type": "bind", "ReadOnly": true}
                ]
            }
        });
        assert_eq!(
            fields(&differences(&sent, &planned)),
            [
                "HostConfig.AutoRemove: tarsnode sent true, tarsdock sends false",
                "HostConfig.IpcMode: tarsnode sent (unset), tarsdock sends \"host\"",
                "HostConfig.Mounts[/shared]: tarsnode sent (unset), tarsdock sends \"/srv/shared (read-only)\"",
                "HostConfig.Privileged: tarsnode sent true, tarsdock sends false",
                "HostConfig.WorkingDir: tarsnode sent \"/\", tarsdock sends (unset)",
                "Labels: tarsnode sent (unset), tarsdock sends {\"tarsdock.managed-by\":\"tarsdock\"}",
                "StopTimeout: tarsnode sent (unset), tarsdock sends 3",
                "WorkingDir: tarsnode sent (unset), tarsdock sends \"/\"",
            ]
        );
    }

    #[test]
    fn equal_bodies_and_unset_values_give_nothing() {
        let body = json!({"Image": "x", "HostConfig": {"Privileged": false, "Binds": []}});
        assert!(differences(&body, &body).is_empty());
        assert!(differences(&json!({"Image": "x"}), &body).is_empty());
        assert!(differences(&json!({"Env": null, "Cmd": []}), &json!({})).is_empty());
    }

    #[test]
    fn a_changed_mount_target_source_is_one_field() {
        let sent = json!({"HostConfig": {"Mounts": [{"Source": "/a", "Target": "/t"}]}});
        let planned = json!({"HostConfig": {"Mounts": [{"Source": "/b", "Target": "/t/"}]}});
        assert_eq!(
            fields(&differences(&sent, &planned)),
            ["HostConfig.Mounts[/t]: tarsnode sent \"/a\", tarsdock sends \"/b\""]
        );
    }
}
