//! What a caller hands the runtime to launch a service: the container name, the Tars
//! identity, the image, the Docker create body, the plan hash, and the template origin of
//! every mount and port (so engine errors can name the template line).
//!
//! The type is independent of `lowering`: a lowered plan is converted into it, and it is
//! serde-serialisable so `tarsdock launch --request FILE` can take it as JSON.
//!
//! A request is untrusted input: its body goes through the mount and container policy
//! ([`crate::policy::enforce`]) before the container is created or started, and nothing in it
//! can allow what the policy refuses (allowances come from the caller's
//! [`crate::LaunchOptions`]). Its `origin` strings are only used, escaped, in messages.

use std::collections::{BTreeMap, HashMap};

use bollard::models::ContainerCreateBody;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Label on every container tarsdock creates, with the value [`MANAGED_BY_VALUE`].
pub const LABEL_MANAGED_BY: &str = "tarsdock.managed-by";
/// The value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "tarsdock";
/// The Tars application.
pub const LABEL_APP: &str = "tarsdock.app";
/// The Tars server.
pub const LABEL_SERVER: &str = "tarsdock.server";
/// The node that launched the container.
pub const LABEL_NODE: &str = "tarsdock.node";
/// The plan hash: an unchanged hash means an unchanged container.
pub const LABEL_PLAN_HASH: &str = "tarsdock.plan-hash";

/// The labels tarsdock owns; a caller's values for them are replaced.
pub const MANAGED_LABELS: [&str; 5] = [
    LABEL_MANAGED_BY,
    LABEL_APP,
    LABEL_SERVER,
    LABEL_NODE,
    LABEL_PLAN_HASH,
];

/// Everything needed to launch one service container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchRequest {
    /// The container name, `App.Server` as upstream tarsnode names it.
    pub name: String,
    /// The Tars application.
    pub app: String,
    /// The Tars server.
    pub server: String,
    /// The node name.
    pub node: String,
    /// The image reference (`repo[:tag]` or `repo@digest`), used as is.
    pub image: String,
    /// The image id (or digest) the node expects; a local image with another id is pulled
    /// again. `None` accepts whatever the local image is.
    #[serde(default)]
    pub expected_image_id: Option<String>,
    /// The Docker create body (the Engine API JSON).
    pub body: ContainerCreateBody,
    /// The plan hash computed by the caller ([`plan_hash`] when it has none of its own).
    #[serde(default)]
    pub plan_hash: String,
    /// Where each mount came from, for error messages.
    #[serde(default)]
    pub mounts: Vec<MountOrigin>,
    /// Where each published port came from, for error messages.
    #[serde(default)]
    pub ports: Vec<PortOrigin>,
    /// The service's executable, as a path in the container (what `tars_start.sh` runs):
    /// checked against the image before the container is created (see
    /// [`crate::preflight`]). `None`: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
}

/// A mount and the template line (or default) it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountOrigin {
    pub host_path: String,
    pub container_path: String,
    /// A human description, e.g. `template.conf:12 (/data=/data)` or `default: server dir`.
    pub origin: String,
}

/// A published port and the template line (or adapter) it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortOrigin {
    /// `None` or empty means all interfaces.
    #[serde(default)]
    pub host_ip: Option<String>,
    pub host_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(default = "default_proto")]
    pub proto: String,
    /// A human description, e.g. `template.conf:20 (80/tcp=0.0.0.0:8080)`.
    pub origin: String,
}

fn default_proto() -> String {
    "tcp".to_owned()
}

impl PortOrigin {
    /// `ip:port/proto`, with `0.0.0.0` for all interfaces.
    #[must_use]
    pub fn address(&self) -> String {
        let ip = self
            .host_ip
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .unwrap_or("0.0.0.0");
        format!("{ip}:{}/{}", self.host_port, self.proto)
    }
}

impl LaunchRequest {
    /// Checks the request and returns the create body tarsdock sends: the caller's body with
    /// the image filled in and tarsdock's labels set.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a name Docker would refuse, an empty identity field or
    /// plan hash, or a body whose image differs from [`Self::image`].
    pub fn to_create_body(&self) -> Result<ContainerCreateBody> {
        validate_name(&self.name)?;
        for (field, value) in [
            ("app", &self.app),
            ("server", &self.server),
            ("node", &self.node),
            ("image", &self.image),
            ("plan_hash", &self.plan_hash),
        ] {
            if value.trim().is_empty() {
                return Err(Error::InvalidRequest(format!("`{field}` is empty")));
            }
        }
        let mut body = self.body.clone();
        match body.image.as_deref() {
            None | Some("") => body.image = Some(self.image.clone()),
            Some(image) if image == self.image => {}
            Some(image) => {
                return Err(Error::InvalidRequest(format!(
                    "the body's image `{image}` differs from the request's `{}`",
                    self.image
                )));
            }
        }
        let labels = body.labels.get_or_insert_with(HashMap::new);
        for (key, value) in [
            (LABEL_MANAGED_BY, MANAGED_BY_VALUE),
            (LABEL_APP, self.app.as_str()),
            (LABEL_SERVER, self.server.as_str()),
            (LABEL_NODE, self.node.as_str()),
            (LABEL_PLAN_HASH, self.plan_hash.as_str()),
        ] {
            labels.insert(key.to_owned(), value.to_owned());
        }
        Ok(body)
    }
}

/// Checks a container name the way Docker does (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), so that it
/// is also safe as a lock file name.
///
/// # Errors
/// [`Error::InvalidRequest`] naming the rule.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() >= 2 {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "container name `{name}` is not valid for Docker \
             (letters, digits, `_`, `.`, `-`; at least two characters, starting with a letter or digit)"
        )))
    }
}

/// A stable hash of a create body: SHA-256 over its JSON with object keys sorted (so map
/// order does not matter) and tarsdock's own labels left out, as lower-case hex.
///
/// Callers that have no hash of their own (e.g. a hand-written request) use this one.
#[must_use]
pub fn plan_hash(body: &ContainerCreateBody) -> String {
    let mut value = serde_json::to_value(body).unwrap_or(serde_json::Value::Null);
    if let Some(labels) = value
        .get_mut("Labels")
        .and_then(serde_json::Value::as_object_mut)
    {
        for key in MANAGED_LABELS {
            labels.remove(key);
        }
    }
    let canonical = canonical_json(&value);
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON text with every object's keys sorted, whatever map type serde_json was built with.
fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical_json(v))).collect();
            let fields: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::HostConfig;

    use super::*;

    fn request() -> LaunchRequest {
        LaunchRequest {
            name: "Test.HelloServer".into(),
            app: "Test".into(),
            server: "HelloServer".into(),
            node: "node-1".into(),
            image: "hello:1".into(),
            expected_image_id: None,
            body: ContainerCreateBody {
                labels: Some(HashMap::from([
                    ("a".to_owned(), "1".to_owned()),
                    (LABEL_MANAGED_BY.to_owned(), "someone".to_owned()),
                ])),
                ..Default::default()
            },
            plan_hash: "abc".into(),
            mounts: vec![],
            ports: vec![],
            executable: None,
        }
    }

    #[test]
    fn body_gets_image_and_labels() {
        let body = request().to_create_body().unwrap();
        assert_eq!(body.image.as_deref(), Some("hello:1"));
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_MANAGED_BY], "tarsdock");
        assert_eq!(labels[LABEL_PLAN_HASH], "abc");
        assert_eq!(labels[LABEL_NODE], "node-1");
        assert_eq!(labels["a"], "1");
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut r = request();
        r.name = "bad name".into();
        assert!(r.to_create_body().is_err());
        let mut r = request();
        r.plan_hash = String::new();
        assert!(r.to_create_body().is_err());
        let mut r = request();
        r.body.image = Some("other:2".into());
        assert!(r.to_create_body().is_err());
        assert!(validate_name("App.Server-1_x").is_ok());
        for bad in ["", "a", ".x", "a/b", "a b", "../x"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plan_hash_ignores_map_order_and_own_labels() {
        let body = |pairs: &[(&str, &str)]| ContainerCreateBody {
            image: Some("x".into()),
            labels: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let a = plan_hash(&body(&[("a", "1"), ("b", "2"), ("c", "3")]));
        let b = plan_hash(&body(&[
            ("c", "3"),
            ("b", "2"),
            ("a", "1"),
            (LABEL_PLAN_HASH, "x"),
        ]));
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(a, plan_hash(&body(&[("a", "1")])));
    }

    #[test]
    fn request_round_trips_as_json() {
        let mut r = request();
        r.ports.push(PortOrigin {
            host_ip: None,
            host_port: 8080,
            proto: "tcp".into(),
            origin: "t.conf:3".into(),
        });
        let json = serde_json::to_string(&r).unwrap();
        let back: LaunchRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.ports[0].address(), "0.0.0.0:8080/tcp");
    }
}
