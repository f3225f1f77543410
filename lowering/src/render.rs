//! The per-service config file tarsnode writes (`CommandLoad::updateConfigFile`): node key,
//! adapter domains, the macro-expanded profile joined over them, then `\s` → space.
//!
//! The node facts that tarsnode knows at run time (its own endpoint, the adapters the registry
//! gave, the macro values) come in as [`NodeInputs`], read from JSON.
//!
//! Where a container-mode service listens is an [`EndpointPolicy`]: tarsnode writes `0.0.0.0`
//! for every adapter and for `local` ([`EndpointPolicy::Tarsnode`], what [`render`] does, byte
//! for byte). On the Linux host network that opens every adapter — and the unauthenticated
//! admin servant on `local` — on every interface of the host, wider than the operator
//! configured; [`render_for`] with [`EndpointPolicy::HostNetwork`] keeps the configured hosts
//! and puts `local` on loopback, and [`EndpointPolicy::Bridge`] listens on `0.0.0.0` inside the
//! container's own network namespace, where only the published ports (adapters on their
//! configured IP, `local` on host loopback) reach it.

use std::collections::BTreeMap;

use parser::Config;
use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::macros::{self, MacroValueError};

/// What tarsnode knows when it writes a service's config (the JSON of `--node-inputs`).
///
/// ```json
/// {"container_mode": true,
///  "node_key": "tars.tarsnode.ServerObj@tcp -h 192.168.1.10 -p 19386 -t 60000",
///  "local": "tcp -h 0.0.0.0 -p 30001 -t 10000",
///  "adapters": [{"name": "App.Server.ObjAdapter", "configured_endpoint": "tcp -h 10.0.0.5 -p 10001 -t 60000",
///                "servant": "App.Server.Obj", "threads": "5", "maxconns": "100000",
///                "queuecap": "100000", "queuetimeout": "60000", "protocol": "tars", "allow": ""}],
///  "macros": {"app": "App", "server": "Server", "basepath": "...", "...": "..."}}
/// ```
/// Unknown fields are ignored, so a file may carry notes or test expectations.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NodeInputs {
    /// `run_type == "container"`: adapter hosts are rewritten to `0.0.0.0`.
    #[serde(default)]
    pub container_mode: bool,
    /// Value of `/tars/application/server<node>`: tarsnode's own `ServerObj` endpoint.
    pub node_key: String,
    /// The local admin endpoint (`local`); also available to templates as `${local}`.
    #[serde(default)]
    pub local: Option<String>,
    /// The service's adapters as the registry gives them.
    #[serde(default)]
    pub adapters: Vec<AdapterInput>,
    /// Macro values (`${name}` → value).
    #[serde(default)]
    pub macros: BTreeMap<String, String>,
}

/// One adapter (`t_adapter_conf`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AdapterInput {
    pub name: String,
    /// The endpoint the registry holds. In container mode its host is replaced by `0.0.0.0`
    /// in the config and the original `host:port` is what gets published.
    #[serde(default)]
    pub configured_endpoint: Option<String>,
    /// The endpoint to write, when no `configured_endpoint` is given.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub allow: String,
    #[serde(default)]
    pub maxconns: String,
    #[serde(default)]
    pub protocol: String,
    #[serde(default)]
    pub queuecap: String,
    #[serde(default)]
    pub queuetimeout: String,
    #[serde(default)]
    pub servant: String,
    #[serde(default)]
    pub threads: String,
}

/// Which host a container-mode service's endpoints are written with (see the module
/// documentation). Native mode (`container_mode: false`) writes them as given under every
/// policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointPolicy {
    /// tarsnode's exact output: every adapter host becomes `0.0.0.0`; `local` is written as
    /// given (tarsnode gives `tcp -h 0.0.0.0 -p P -t 10000` in container mode).
    #[default]
    Tarsnode,
    /// Linux host network: adapters keep their configured host, and an unspecified `local`
    /// host (`0.0.0.0`, `::`) becomes loopback, where tarsnode and tarsdock reach `AdminObj`.
    HostNetwork,
    /// A bridge network (Docker Desktop): adapters and `local` listen on `0.0.0.0` inside the
    /// container; the plan publishes each adapter on its configured IP and `local` on
    /// `127.0.0.1` of the host.
    Bridge,
}

impl EndpointPolicy {
    /// The policy tarsdock uses on a target.
    #[must_use]
    pub const fn for_target(target: crate::ir::Target) -> Self {
        match target {
            crate::ir::Target::Linux => Self::HostNetwork,
            crate::ir::Target::Mac => Self::Bridge,
        }
    }

    /// The host an adapter configured on `configured` is written with.
    fn adapter_host(self, container_mode: bool) -> Option<&'static str> {
        match self {
            _ if !container_mode => None,
            Self::Tarsnode | Self::Bridge => Some("0.0.0.0"),
            Self::HostNetwork => None,
        }
    }

    /// The `local` endpoint as written, from the one given.
    fn local(self, container_mode: bool, given: &str) -> Option<String> {
        if !container_mode || self == Self::Tarsnode {
            return None;
        }
        let parsed = Endpoint::parse(given).ok()?;
        let unspecified = matches!(parsed.host.as_str(), "0.0.0.0" | "::" | "[::]" | "*");
        let host = match self {
            Self::HostNetwork if unspecified => {
                if parsed.host.contains(':') {
                    "::1"
                } else {
                    "127.0.0.1"
                }
            }
            Self::Bridge if !unspecified => "0.0.0.0",
            _ => return None,
        };
        canonical(given, Some(host)).ok()
    }
}

/// An adapter's port as tarsnode publishes it in bridge mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdapterPort {
    pub adapter: String,
    pub endpoint: Endpoint,
}

/// Why rendering failed. Every variant names the input at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("node inputs are not valid: {0}")]
    Inputs(String),
    #[error("adapter `{adapter}`: endpoint `{endpoint}`: {reason}")]
    Endpoint {
        adapter: String,
        endpoint: String,
        reason: String,
    },
    #[error("adapter `{0}` has neither `configured_endpoint` nor `endpoint`")]
    NoEndpoint(String),
    #[error("`local`: endpoint `{endpoint}`: {reason}")]
    Local { endpoint: String, reason: String },
    #[error(transparent)]
    Macro(#[from] MacroValueError),
    #[error("the profile cannot be serialised: {0}")]
    Profile(String),
    #[error("adapter `{adapter}`: `{field}` has `<` or `>`, which cannot be written into a config")]
    AdapterValue {
        adapter: String,
        field: &'static str,
    },
}

/// The generated config and the facts a container plan needs from it.
#[derive(Debug)]
pub struct Rendered {
    /// The file tarsnode writes (`App.Server.config.conf`).
    pub text: Vec<u8>,
    /// `text` parsed.
    pub config: Config,
    /// Adapters with their configured (pre-rewrite) endpoints, in the order written.
    pub adapter_ports: Vec<AdapterPort>,
    /// The local admin endpoint, if given.
    pub local: Option<Endpoint>,
}

impl NodeInputs {
    /// Reads node inputs from JSON.
    ///
    /// # Errors
    /// Invalid JSON or a missing required field, with line and column.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RenderError> {
        serde_json::from_slice(bytes).map_err(|e| RenderError::Inputs(e.to_string()))
    }
}

/// Generates the service config from the registry-merged `profile` as tarsnode does.
///
/// # Errors
/// Unreadable endpoints, a macro or adapter value with `<`/`>`, a profile that cannot be
/// serialised.
pub fn render(profile: &Config, inputs: &NodeInputs) -> Result<Rendered, RenderError> {
    render_for(profile, inputs, EndpointPolicy::Tarsnode)
}

/// Generates the service config as [`render`] does, with container-mode endpoints written
/// under `policy`.
///
/// # Errors
/// As [`render`].
pub fn render_for(
    profile: &Config,
    inputs: &NodeInputs,
    policy: EndpointPolicy,
) -> Result<Rendered, RenderError> {
    let mut inputs = std::borrow::Cow::Borrowed(inputs);
    if let Some(given) = inputs.local.clone()
        && let Some(local) = policy.local(inputs.container_mode, &given)
    {
        let owned = inputs.to_mut();
        // The `${local}` macro is the same endpoint (tarsnode sets both from one value).
        if owned.macros.get("local") == Some(&given) {
            owned.macros.insert("local".to_owned(), local.clone());
        }
        owned.local = Some(local);
    }
    let inputs = inputs.as_ref();
    let mut node = Config::new();
    set_all(
        &mut node,
        "/tars/application/server",
        [("node", inputs.node_key.clone())],
    );

    let mut adapters: Vec<&AdapterInput> = inputs
        .adapters
        .iter()
        .filter(|a| !a.name.is_empty())
        .collect();
    adapters.sort_by(|a, b| b.name.cmp(&a.name));
    let mut adapter_ports = Vec::new();
    for adapter in adapters {
        let configured = adapter
            .configured_endpoint
            .as_deref()
            .or(adapter.endpoint.as_deref())
            .ok_or_else(|| RenderError::NoEndpoint(adapter.name.clone()))?;
        let fail = |reason: String| RenderError::Endpoint {
            adapter: adapter.name.clone(),
            endpoint: configured.to_owned(),
            reason,
        };
        let parsed = Endpoint::parse(configured).map_err(|e| fail(e.to_string()))?;
        let host = policy.adapter_host(inputs.container_mode);
        let written = canonical(configured, host).map_err(fail)?;
        let protocol = if adapter.protocol.is_empty() {
            "tars".to_owned()
        } else {
            adapter.protocol.clone()
        };
        let fields = [
            ("allow", adapter.allow.clone()),
            ("endpoint", written),
            ("maxconns", adapter.maxconns.clone()),
            ("protocol", protocol),
            ("queuecap", adapter.queuecap.clone()),
            ("queuetimeout", adapter.queuetimeout.clone()),
            ("servant", adapter.servant.clone()),
            ("threads", adapter.threads.clone()),
        ];
        for (field, value) in &fields {
            if value.contains(['<', '>']) {
                return Err(RenderError::AdapterValue {
                    adapter: adapter.name.clone(),
                    field,
                });
            }
        }
        if adapter.name.contains(['<', '>', '/']) {
            return Err(RenderError::AdapterValue {
                adapter: adapter.name.clone(),
                field: "name",
            });
        }
        set_all(
            &mut node,
            &format!("/tars/application/server/{}", adapter.name),
            fields,
        );
        adapter_ports.push(AdapterPort {
            adapter: adapter.name.clone(),
            endpoint: parsed,
        });
    }

    let local = match inputs.local.as_deref() {
        Some(text) => Some(Endpoint::parse(text).map_err(|e| RenderError::Local {
            endpoint: text.to_owned(),
            reason: e.to_string(),
        })?),
        None => None,
    };

    let profile_text = profile
        .to_text()
        .map_err(|e| RenderError::Profile(e.to_string()))?;
    let expanded = macros::expand(&profile_text, &inputs.macros)?;
    let expanded = Config::parse_upstream(expanded).map_err(|e| RenderError::Profile(e.message))?;
    node.join(&expanded, true)
        .map_err(|e| RenderError::Profile(e.to_string()))?;
    let text = node
        .to_text()
        .map_err(|e| RenderError::Profile(e.to_string()))?;
    let text = macros::replace_all(&text, b"\\s", b" ");
    let config =
        Config::parse_upstream(text.clone()).map_err(|e| RenderError::Profile(e.message))?;
    Ok(Rendered {
        text,
        config,
        adapter_ports,
        local,
    })
}

/// `insertDomainParam(path, map, true)`: sorted keys, existing keys keep their place.
/// A generated config (`text`, parsed as `config`) with its `local` endpoint
/// (`/tars/application/server<local>`) as `policy` writes it in a container — on a bridge,
/// `0.0.0.0`, so that the port published on the host reaches `AdminObj` — and every other byte
/// as it was. `None` when the value needs no change, is absent, or is not plain text (an
/// escape in it).
///
/// For configs written by someone else: the `serve` front plans tarsnode's config as the node
/// wrote it, and tarsnode writes `local` on loopback whatever the network.
#[must_use]
pub fn with_container_local(
    text: &[u8],
    config: &Config,
    policy: EndpointPolicy,
) -> Option<Vec<u8>> {
    let param = config
        .domain(b"/tars/application/server")
        .ok()??
        .param(b"local")?;
    let span = param.origin?.value?;
    let raw = text.get(span.range())?;
    if raw != param.value {
        return None;
    }
    let given = std::str::from_utf8(raw).ok()?;
    let local = policy.local(true, given)?;
    let mut out = Vec::with_capacity(text.len() + local.len());
    out.extend_from_slice(text.get(..span.range().start)?);
    out.extend_from_slice(local.as_bytes());
    out.extend_from_slice(text.get(span.range().end..)?);
    Some(out)
}

fn set_all<const N: usize>(config: &mut Config, domain: &str, fields: [(&str, String); N]) {
    let map: BTreeMap<Vec<u8>, Vec<u8>> = fields
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
        .collect();
    // Paths built here are always well formed (they start with `/`).
    let _ = config.insert_domain_params(domain.as_bytes(), &map, true);
}

/// Upstream `TC_Endpoint::toString()` of `text`, with the host replaced when `host` is given:
/// `proto -h H -p P [-t T] [-g G] [-q Q] [-w W] [-v V] [-e A]`; other options are dropped, as
/// upstream's parse/print round trip drops them.
fn canonical(text: &str, host: Option<&str>) -> Result<String, String> {
    let mut words = text.split_ascii_whitespace().peekable();
    let transport = words
        .next()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| "the endpoint is empty".to_owned())?;
    let mut options: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    while let Some(word) = words.next() {
        if !word.starts_with('-') {
            continue;
        }
        let value = match words.peek() {
            Some(next) if !next.starts_with('-') => words.next(),
            _ => None,
        };
        options.insert(word, value);
    }
    let get = |k: &str| options.get(k).copied().flatten();
    let host = host
        .or_else(|| get("-h"))
        .ok_or_else(|| "no host (`-h`)".to_owned())?;
    let port = get("-p").ok_or_else(|| "no port (`-p`)".to_owned())?;
    let mut out = format!("{transport} -h {host} -p {port}");
    for flag in ["-t", "-g", "-q", "-w", "-v", "-e"] {
        if let Some(value) = get(flag).filter(|v| *v != "0" || flag == "-w") {
            out.push_str(&format!(" {flag} {value}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_container_local_changes_only_the_local_value_on_a_bridge() {
        let text = b"<tars>\n  <application>\n    <server>\n      app=A\n      \
local=tcp -h 127.0.0.1 -p 19001 -t 10000\n    </server>\n  </application>\n</tars>\n";
        let config = parser::parse(text.to_vec()).config;
        let out = with_container_local(text, &config, EndpointPolicy::Bridge).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<tars>\n  <application>\n    <server>\n      app=A\n      \
local=tcp -h 0.0.0.0 -p 19001 -t 10000\n    </server>\n  </application>\n</tars>\n"
        );
        // Already unspecified, or another policy, or no `local`: nothing to change.
        let open = b"<tars><application><server>\nlocal=tcp -h 0.0.0.0 -p 1 -t 1\n</server></application></tars>\n";
        let open_config = parser::parse(open.to_vec()).config;
        assert_eq!(
            with_container_local(open, &open_config, EndpointPolicy::Bridge),
            None
        );
        assert_eq!(
            with_container_local(text, &config, EndpointPolicy::Tarsnode),
            None
        );
        let none = b"<tars>\n<application>\n<server>\napp=A\n</server>\n</application>\n</tars>\n";
        let none_config = parser::parse(none.to_vec()).config;
        assert_eq!(
            with_container_local(none, &none_config, EndpointPolicy::Bridge),
            None
        );
    }

    #[test]
    fn canonical_endpoint_rewrites_host_in_upstream_order() {
        assert_eq!(
            canonical("tcp -t 60000 -p 10002 -h 192.168.1.10", Some("0.0.0.0")).unwrap(),
            "tcp -h 0.0.0.0 -p 10002 -t 60000"
        );
        assert_eq!(canonical("udp -h a -p 1", None).unwrap(), "udp -h a -p 1");
        assert!(canonical("tcp -h a", None).is_err());
    }

    fn inputs(container_mode: bool, adapter: &str, local: &str) -> NodeInputs {
        NodeInputs {
            container_mode,
            node_key: "n".into(),
            local: Some(local.to_owned()),
            adapters: vec![AdapterInput {
                name: "A.S.ObjAdapter".into(),
                configured_endpoint: Some(adapter.to_owned()),
                endpoint: None,
                allow: String::new(),
                maxconns: String::new(),
                protocol: String::new(),
                queuecap: String::new(),
                queuetimeout: String::new(),
                servant: "A.S.Obj".into(),
                threads: String::new(),
            }],
            macros: [("local".to_owned(), local.to_owned())].into(),
        }
    }

    fn written(policy: EndpointPolicy, container_mode: bool, local: &str) -> (String, String) {
        let profile = parser::parse(
            b"<tars>\n<application>\n<server>\nlocal=${local}\n</server>\n</application>\n</tars>\n"
                .to_vec(),
        )
        .config;
        let rendered = render_for(
            &profile,
            &inputs(container_mode, "tcp -h 10.0.0.5 -p 10001 -t 60000", local),
            policy,
        )
        .unwrap();
        let get = |path: &[u8]| {
            String::from_utf8_lossy(rendered.config.get(path).unwrap().unwrap()).into_owned()
        };
        (
            get(b"/tars/application/server/A.S.ObjAdapter<endpoint>"),
            get(b"/tars/application/server<local>"),
        )
    }

    #[test]
    fn tarsnode_policy_opens_every_interface_as_upstream_does() {
        assert_eq!(
            written(
                EndpointPolicy::Tarsnode,
                true,
                "tcp -h 0.0.0.0 -p 30001 -t 10000"
            ),
            (
                "tcp -h 0.0.0.0 -p 10001 -t 60000".to_owned(),
                "tcp -h 0.0.0.0 -p 30001 -t 10000".to_owned()
            )
        );
    }

    #[test]
    fn host_network_keeps_configured_hosts_and_admin_on_loopback() {
        assert_eq!(
            written(
                EndpointPolicy::HostNetwork,
                true,
                "tcp -h 0.0.0.0 -p 30001 -t 10000"
            ),
            (
                "tcp -h 10.0.0.5 -p 10001 -t 60000".to_owned(),
                "tcp -h 127.0.0.1 -p 30001 -t 10000".to_owned()
            )
        );
        // A `local` the node already put on a specific host is kept.
        assert_eq!(
            written(
                EndpointPolicy::HostNetwork,
                true,
                "tcp -h 127.0.0.1 -p 30001"
            )
            .1,
            "tcp -h 127.0.0.1 -p 30001"
        );
    }

    #[test]
    fn bridge_listens_on_every_interface_of_its_own_namespace() {
        assert_eq!(
            written(
                EndpointPolicy::Bridge,
                true,
                "tcp -h 127.0.0.1 -p 30001 -t 10000"
            ),
            (
                "tcp -h 0.0.0.0 -p 10001 -t 60000".to_owned(),
                "tcp -h 0.0.0.0 -p 30001 -t 10000".to_owned()
            )
        );
    }

    #[test]
    fn native_mode_writes_endpoints_as_given_under_every_policy() {
        for policy in [
            EndpointPolicy::Tarsnode,
            EndpointPolicy::HostNetwork,
            EndpointPolicy::Bridge,
        ] {
            assert_eq!(
                written(policy, false, "tcp -h 127.0.0.1 -p 30001 -t 10000"),
                (
                    "tcp -h 10.0.0.5 -p 10001 -t 60000".to_owned(),
                    "tcp -h 127.0.0.1 -p 30001 -t 10000".to_owned()
                ),
                "{policy:?}"
            );
        }
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let e = NodeInputs::from_json(b"{\"adapters\": []}").unwrap_err();
        assert!(e.to_string().contains("node_key"), "{e}");
        let e = NodeInputs::from_json(b"{").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn macro_value_with_angle_bracket_fails() {
        let inputs = NodeInputs {
            container_mode: false,
            node_key: "n".into(),
            local: None,
            adapters: vec![],
            macros: [("app".to_owned(), "<x>".to_owned())].into(),
        };
        let profile = parser::parse(b"<tars>\n  a=${app}\n</tars>\n".to_vec()).config;
        assert!(matches!(
            render(&profile, &inputs),
            Err(RenderError::Macro(MacroValueError { .. }))
        ));
    }
}
