//! Planning from a service's generated config (the file tarsnode writes to
//! `serverDir/conf/App.Server.config.conf`): the [`Service`] is read from the config itself,
//! every value overridable by the caller, then [`lower`]ed.

use parser::{Config, Diagnostic, DomainRef, Span};

use crate::codes::target as codes;
use crate::endpoint::Endpoint;
use crate::field::Line;
use crate::ir::TemplateLine;
use crate::lower::{Adapter, Lowered, PlanOptions, Service, Setting, lower};
use crate::paths;

const SERVER_PATH: &[u8] = b"/tars/application/server";
const CLIENT_PATH: &[u8] = b"/tars/application/client";

/// Values the caller gives instead of reading them from the config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceOverrides {
    pub app: Option<String>,
    pub server: Option<String>,
    pub node: Option<String>,
    pub server_dir: Option<String>,
    pub exe_path: Option<String>,
    pub log_path: Option<String>,
}

/// Reads the service from a generated config and lowers it. Diagnostics of both steps, sorted;
/// no plan when a required setting is missing or unusable.
#[must_use]
pub fn plan_generated_config(
    config: &Config,
    overrides: &ServiceOverrides,
    options: &PlanOptions,
) -> Lowered {
    let (service, mut diagnostics) = service_from_config(config, overrides);
    let Some(service) = service else {
        diagnostics.extend(crate::lower::check_container(config, options.policy));
        diagnostics.sort_by_key(Diagnostic::sort_key);
        return Lowered {
            plan: None,
            diagnostics,
            context: crate::policy::Context::default(),
        };
    };
    let mut lowered = lower(config, &service, options);
    diagnostics.append(&mut lowered.diagnostics);
    diagnostics.sort_by_key(Diagnostic::sort_key);
    Lowered {
        plan: lowered.plan,
        diagnostics,
        context: lowered.context,
    }
}

/// Plans from a config rendered by [`crate::render::render`] (what `tarsdock render` writes):
/// the service is read from the rendered config, and its adapters are published on their
/// *configured* endpoints, as tarsnode publishes them before it rewrites their hosts to
/// `0.0.0.0`. Spans point into `rendered.text`.
#[must_use]
pub fn plan_rendered(
    rendered: &crate::render::Rendered,
    overrides: &ServiceOverrides,
    options: &PlanOptions,
) -> Lowered {
    let (service, mut diagnostics) = service_from_config(&rendered.config, overrides);
    let Some(mut service) = service else {
        diagnostics.extend(crate::lower::check_container(
            &rendered.config,
            options.policy,
        ));
        diagnostics.sort_by_key(Diagnostic::sort_key);
        return Lowered {
            plan: None,
            diagnostics,
            context: crate::policy::Context::default(),
        };
    };
    let line_of = |name: &str| {
        service
            .adapters
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.line)
    };
    let adapters = rendered
        .adapter_ports
        .iter()
        .map(|port| Adapter {
            name: port.adapter.clone(),
            endpoint: port.endpoint.clone(),
            line: line_of(&port.adapter),
        })
        .collect();
    service.adapters = adapters;
    if let Some(local) = &rendered.local {
        let line = service.local.as_ref().and_then(|(_, line)| *line);
        service.local = Some((local.clone(), line));
    }
    let mut lowered = lower(&rendered.config, &service, options);
    diagnostics.append(&mut lowered.diagnostics);
    diagnostics.sort_by_key(Diagnostic::sort_key);
    Lowered {
        plan: lowered.plan,
        diagnostics,
        context: lowered.context,
    }
}

/// The service as the generated config describes it: app, server and node from
/// `/tars/application/server`, the server directory from `datapath` (`serverDir/data/`), the
/// exe path from `basepath`, the log path from `logpath`, every adapter domain with an
/// `endpoint`, the `local` admin endpoint, `node`, the client `locator` and
/// `deactivating-timeout`.
#[must_use]
pub fn service_from_config(
    config: &Config,
    overrides: &ServiceOverrides,
) -> (Option<Service>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let server = config.domain(SERVER_PATH).ok().flatten();
    let anchor = server
        .and_then(|d| d.open_spans().first().copied())
        .unwrap_or_default();
    let read = |key: &[u8]| -> Option<Setting> {
        let domain = server?;
        let fallback = domain.open_spans().first().copied().unwrap_or_default();
        let param = domain.param(key)?;
        let line = Line::new(config, param, fallback);
        Some(Setting::from_line(
            String::from_utf8_lossy(param.value),
            line.origin,
        ))
    };
    let required = |key: &str, flag: &str, value: Option<&String>, out: &mut Vec<Diagnostic>| {
        let setting = match value {
            Some(v) => Some(Setting::from_option(
                v.clone(),
                flag.trim_start_matches("--"),
            )),
            None => read(key.as_bytes()),
        };
        if setting.is_none() {
            out.push(codes::missing_service_setting(
                anchor,
                &format!("/tars/application/server<{key}>"),
                flag,
            ));
        }
        setting
    };

    let app = required("app", "--app", overrides.app.as_ref(), &mut out);
    let server_name = required("server", "--server", overrides.server.as_ref(), &mut out);
    let exe_path = required(
        "basepath",
        "--exe-path",
        overrides.exe_path.as_ref(),
        &mut out,
    );
    let log_path = required(
        "logpath",
        "--log-path",
        overrides.log_path.as_ref(),
        &mut out,
    );
    let server_dir = match &overrides.server_dir {
        Some(dir) => Some(Setting::from_option(dir.clone(), "server-dir")),
        None => {
            let datapath = required("datapath", "--server-dir", None, &mut out);
            datapath.map(|d| Setting {
                value: paths::simplify_directory(&format!("{}/../", d.value)),
                origin: d.origin,
            })
        }
    };
    let node = overrides
        .node
        .clone()
        .or_else(|| read(b"nodename").map(|s| s.value))
        .filter(|n| !n.is_empty());

    let before = out.len();
    for setting in [&app, &server_name].into_iter().flatten() {
        if !valid_name_part(&setting.value) {
            out.push(codes::invalid_service_setting(
                setting.span_or(anchor),
                "name",
                &setting.value,
                "Docker container names take letters, digits, `_`, `.` and `-`",
            ));
        }
    }
    for (what, setting) in [
        ("server directory", &server_dir),
        ("exe path", &exe_path),
        ("log path", &log_path),
    ] {
        if let Some(setting) = setting
            && !setting.value.starts_with('/')
        {
            out.push(codes::invalid_service_setting(
                setting.span_or(anchor),
                what,
                &setting.value,
                "write an absolute path",
            ));
        }
    }
    let adapters = server
        .map(|d| adapters(config, d, &mut out))
        .unwrap_or_default();
    let local = read(b"local").and_then(|s| endpoint_of(&s, "local endpoint", anchor, &mut out));

    let (Some(app), Some(server_name), Some(server_dir), Some(exe_path), Some(log_path)) =
        (app, server_name, server_dir, exe_path, log_path)
    else {
        return (None, out);
    };
    if out.len() > before {
        return (None, out);
    }
    let locator = config.domain(CLIENT_PATH).ok().flatten().and_then(|d| {
        let fallback = d.open_spans().first().copied().unwrap_or_default();
        let param = d.param(b"locator")?;
        Some(Setting::from_line(
            String::from_utf8_lossy(param.value),
            Line::new(config, param, fallback).origin,
        ))
    });
    let service = Service {
        app: app.value,
        server: server_name.value,
        node,
        server_dir,
        exe_path,
        log_path,
        adapters,
        local,
        node_endpoint: read(b"node"),
        locator,
        deactivating_timeout: read(b"deactivating-timeout"),
    };
    (Some(service), out)
}

/// Docker's container-name alphabet: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn valid_name_part(text: &str) -> bool {
    text.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Every sub-domain of `<server>` with an `endpoint`, in the config's order.
fn adapters(config: &Config, server: DomainRef<'_>, out: &mut Vec<Diagnostic>) -> Vec<Adapter> {
    let mut adapters = Vec::new();
    for child in server.children() {
        let Some(param) = child.param(b"endpoint") else {
            continue;
        };
        let fallback = child.open_spans().first().copied().unwrap_or_default();
        let line = Line::new(config, param, fallback).origin;
        let setting = Setting::from_line(String::from_utf8_lossy(param.value), line);
        let name = String::from_utf8_lossy(child.name()).into_owned();
        if let Some((endpoint, line)) = endpoint_of(&setting, "adapter endpoint", fallback, out) {
            adapters.push(Adapter {
                name,
                endpoint,
                line,
            });
        }
    }
    adapters
}

fn endpoint_of(
    setting: &Setting,
    what: &str,
    anchor: Span,
    out: &mut Vec<Diagnostic>,
) -> Option<(Endpoint, Option<TemplateLine>)> {
    let line = match &setting.origin {
        crate::ir::ValueOrigin::Config(line) => Some(*line),
        _ => None,
    };
    match Endpoint::parse(&setting.value) {
        Ok(endpoint) => Some((endpoint, line)),
        Err(error) => {
            out.push(codes::invalid_service_setting(
                setting.span_or(anchor),
                what,
                &setting.value,
                &format!("{error}; write it as `tcp -h <ip> -p <port> -t 60000`"),
            ));
            None
        }
    }
}

/// Every container finding `lint` can report for one config, without options.
///
/// A template gets the checks of its `<container>` domain. A generated service config (literal
/// `app` and `server` in `/tars/application/server`) is planned for every target with the default
/// policy, so that lint reports what `plan` would: mounts against the default mounts, ports
/// against the service's endpoints, and what each target does with them. Sorted by span then
/// code, without duplicates.
#[must_use]
pub fn lint_checks(config: &Config) -> Vec<Diagnostic> {
    let policy = crate::lower::Policy::default();
    if !is_generated_config(config) {
        return crate::lower::check_container(config, policy);
    }
    let mut diagnostics = Vec::new();
    for target in [crate::ir::Target::Linux, crate::ir::Target::Mac] {
        let options = PlanOptions {
            target,
            policy,
            ..PlanOptions::default()
        };
        diagnostics.extend(
            plan_generated_config(config, &ServiceOverrides::default(), &options).diagnostics,
        );
    }
    diagnostics.sort_by_key(Diagnostic::sort_key);
    let mut unique: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len());
    for d in diagnostics {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    unique
}

/// Whether `config` is a service's generated config rather than a template: `app` and
/// `server` are set in `/tars/application/server`, without `${...}` macros.
#[must_use]
pub fn is_generated_config(config: &Config) -> bool {
    let literal = |key: &[u8]| {
        config
            .domain(SERVER_PATH)
            .ok()
            .flatten()
            .and_then(|d| d.param(key))
            .is_some_and(|p| !p.value.is_empty() && !p.value.windows(2).any(|w| w == b"${"))
    };
    literal(b"app") && literal(b"server")
}
