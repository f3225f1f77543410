//! `POST /containers/create?name=App.Server` from tarsnode: the service found from the
//! request, planned by tarsdock's own lowering from its generated config, and launched by the
//! runtime — what `tarsdock plan` and `tarsdock launch` do, with the same policy, mounts,
//! ports, target, `TARS_HOSTPATH` arithmetic, labels, plan hash and per-service lock.
//!
//! A create is tarsnode's when its name is `App.Server` and its entrypoint is the single path
//! `<server dir>/bin/tars_start.sh` (`CommandStart::startContainer`). The service's config is
//! then `<server dir>/conf/App.Server.config.conf`, read on this host where the engine will
//! find the server directory: the source of the request's own mount of it (tarsnode applies
//! `TARS_HOSTPATH` to it), else the server directory itself. Any other create is passed
//! through.
//!
//! What the node sent is compared with the plan and every difference logged and returned in
//! the answer's `Warnings`. A plan with errors creates nothing: the answer is an Engine-API
//! error whose message lists each error as `file:line:column: error[CODE] message` — tarsnode
//! logs that text and reports it to the web console.
//!
//! The create also starts the container (it is the runtime's launch: an unchanged stopped
//! container kept by an earlier `DELETE` is started again, a changed one replaced), so the
//! node's `start` that follows finds it running. An image that is missing is not pulled here:
//! the node pulls before it creates.

use std::path::PathBuf;

use http::{Request, Response, StatusCode};
use lowering::ir::Target;
use lowering::lower::PlanOptions;
use lowering::plan::{ServiceOverrides, plan_generated_config};
use parser::{Diagnostic, Severity, Sources};
use runtime::policy::LaunchPolicy;
use runtime::request::validate_name;
use runtime::{LaunchOptions, PullPolicy};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::compare::differences;
use crate::config::PlanSettings;
use crate::proxy::query_value;
use crate::reply::{self, Body};
use crate::service_config;
use crate::state::State;

/// A create recognised as tarsnode's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCall {
    /// `App.Server`.
    pub name: String,
    pub image: String,
    /// `<server dir>/bin/`, the directory of `tars_start.sh`.
    pub exe_path: String,
    /// The server directory as the node names it.
    pub server_dir: String,
    /// Where this host reads the server directory.
    pub read_from: PathBuf,
}

/// Recognises tarsnode's create: name `App.Server`, entrypoint `<server dir>/bin/tars_start.sh`
/// alone, no command, an image.
#[must_use]
pub fn recognise(name: Option<&str>, sent: &Value) -> Option<ServiceCall> {
    let name = name?;
    if validate_name(name).is_err() || !name.contains('.') {
        return None;
    }
    let [entrypoint] = sent.get("Entrypoint")?.as_array()?.as_slice() else {
        return None;
    };
    let entrypoint = lowering::paths::clean(entrypoint.as_str().filter(|e| e.starts_with('/'))?);
    match sent.get("Cmd") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cmd)) if cmd.is_empty() => {}
        Some(_) => return None,
    }
    let (exe_dir, file) = entrypoint.rsplit_once('/')?;
    let (server_dir, bin) = exe_dir.rsplit_once('/')?;
    if file != "tars_start.sh" || bin != "bin" || server_dir.is_empty() {
        return None;
    }
    let image = sent.get("Image")?.as_str().filter(|i| !i.is_empty())?;
    let mount_source = sent
        .pointer("/HostConfig/Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| {
            m.get("Target")
                .and_then(Value::as_str)
                .is_some_and(|t| lowering::paths::clean(t) == server_dir)
        })
        .and_then(|m| m.get("Source").and_then(Value::as_str))
        .filter(|s| s.starts_with('/'))
        .map(lowering::paths::clean);
    Some(ServiceCall {
        name: name.to_owned(),
        image: image.to_owned(),
        exe_path: format!("{exe_dir}/"),
        server_dir: server_dir.to_owned(),
        read_from: PathBuf::from(mount_source.unwrap_or_else(|| server_dir.to_owned())),
    })
}

/// `POST /containers/create`.
pub(crate) async fn create(state: &State, request: Request<Body>) -> Response<Body> {
    let name = query_value(request.uri(), "name");
    let (parts, body) = request.into_parts();
    let bytes = match reply::read_bounded(body, state.limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return e.response(),
    };
    let sent: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let Some(call) = recognise(name.as_deref(), &sent) else {
        debug!("not a tarsnode service create: passed through");
        return state
            .engine
            .forward(Request::from_parts(parts, reply::full(bytes)))
            .await;
    };
    launch(state, &call, &sent).await
}

async fn launch(state: &State, call: &ServiceCall, sent: &Value) -> Response<Body> {
    let config_path = service_config::config_path(&call.read_from, &call.name);
    let shown_path = parser::terminal::escape_controls(&config_path.to_string_lossy()).into_owned();
    info!(service = %call.name, config = %shown_path, image = %parser::terminal::escape_controls(&call.image), "planning");
    let read = {
        let dir = call.read_from.clone();
        let name = call.name.clone();
        let limit = state.limits.max_config_bytes;
        tokio::task::spawn_blocking(move || service_config::read(&dir, &name, limit)).await
    };
    let text = match read {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => {
            warn!(error = %reply::shown(&e), "cannot read the service config");
            return reply::error(
                StatusCode::BAD_REQUEST,
                &format!("{} was not created: cannot read its config {e}", call.name),
            );
        }
        Err(e) => {
            return reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("reading the config of {} failed: {e}", call.name),
            );
        }
    };
    // On a bridge, tarsnode's `local` on loopback would stay inside the container, out of
    // reach of the published port (and of every AdminF call): written on `0.0.0.0` instead,
    // the rest of the node's file unchanged. tarsnode writes the file again before each start.
    let text = match bridge_local(state, call, text).await {
        Ok(text) => text,
        Err(response) => return response,
    };
    // Host paths resolved on this host, as `plan` and `launch` see them; the front's own socket
    // is an engine socket too.
    let host =
        runtime::policy::host_view(&[state.runtime.address(), &state.listen.to_string_lossy()]);
    let planned = plan(state.target, &state.plan, host, call, text, &config_path);
    let plan = match planned.result {
        Ok(plan) => plan,
        Err(message) => {
            warn!(message = %reply::shown(&message), "refused");
            return reply::error(StatusCode::BAD_REQUEST, &message);
        }
    };
    for warning in &planned.warnings {
        warn!(finding = %parser::terminal::escape_controls(warning), "plan finding");
    }
    let body = lowering::docker::create_body(&plan);
    let mut warnings = Vec::new();
    for difference in differences(sent, &lowering::docker::create_body_json(&body)) {
        let text = parser::terminal::escape_controls(&difference.to_string()).into_owned();
        info!(difference = %text, "changed from tarsnode's request");
        warnings.push(format!("tarsdock: {text}"));
    }
    warnings.extend(planned.warnings.iter().map(|w| format!("tarsdock: {w}")));

    let line_of = |offset: u32| -> (String, u32) {
        planned.sources.get(parser::SourceId::MAIN).map_or_else(
            || (String::new(), 0),
            |file| (file.name.clone(), file.line_col(offset).line),
        )
    };
    let request = runtime::plan_request::launch_request(&plan, &state.plan.node, Some(&line_of));
    let options = LaunchOptions {
        adopt: false,
        // The old container's own planned grace period.
        stop_timeout: None,
        pull: PullPolicy::Never,
        auth: None,
        // The runtime checks the body again just before create, against the same layout.
        policy: LaunchPolicy {
            allow: state.plan.allow,
            tars_root: planned.context.tars_root.clone(),
            log_root: planned.context.log_root.clone(),
        },
    };
    // As `tarsdock launch`: refused before anything happens (no replaced container).
    let checked = request.to_create_body().and_then(|body| {
        runtime::policy::enforce(&request, &body, &options.policy, state.runtime.address())
    });
    if let Err(error) = checked {
        warn!(error = %reply::shown(&error), "refused by the policy");
        return reply::runtime_error(&error);
    }
    let launched = state
        .runtime
        .launch(&request, &options, &mut |event| {
            debug!(event = %parser::terminal::escape_controls(&event.to_string()), "launch");
        })
        .await;
    match launched {
        Ok(report) => {
            info!(
                action = ?report.action,
                id = %report.id,
                state = %report.state,
                pid = report.pid,
                plan_hash = %report.plan_hash,
                reason = report.reason.as_deref().unwrap_or(""),
                "launched"
            );
            warnings.extend(
                report
                    .warnings
                    .iter()
                    .map(|w| format!("engine: {}", parser::terminal::escape_controls(w))),
            );
            reply::json(
                StatusCode::CREATED,
                &json!({ "Id": report.id, "Warnings": warnings }),
            )
        }
        Err(error) => {
            warn!(error = %reply::shown(&error), "launch failed");
            reply::runtime_error(&error)
        }
    }
}

/// A plan, or the refusal message; plus the findings below error level and the config as a
/// source for line numbers.
struct Planned {
    result: Result<lowering::ir::ContainerPlan, String>,
    warnings: Vec<String>,
    sources: Sources,
    /// What the mounts were checked against (for the runtime's second check).
    context: lowering::policy::Context,
}

/// The node's config with `local` on `0.0.0.0` when the target is a bridge network (written
/// back to the service's directory, so the service reads what was planned); the text as it
/// was otherwise.
async fn bridge_local(
    state: &State,
    call: &ServiceCall,
    text: Vec<u8>,
) -> Result<Vec<u8>, Response<Body>> {
    if state.target != Target::Mac {
        return Ok(text);
    }
    let config = parser::parse(text.clone()).config;
    let Some(rewritten) = lowering::render::with_container_local(
        &text,
        &config,
        lowering::render::EndpointPolicy::Bridge,
    ) else {
        return Ok(text);
    };
    let written = {
        let dir = call.read_from.clone();
        let name = call.name.clone();
        let bytes = rewritten.clone();
        tokio::task::spawn_blocking(move || service_config::write(&dir, &name, &bytes)).await
    };
    match written {
        Ok(Ok(())) => {
            info!("the local endpoint is written on 0.0.0.0 for the bridge network");
            Ok(rewritten)
        }
        Ok(Err(e)) => {
            warn!(error = %reply::shown(&e), "cannot write the service config");
            Err(reply::error(
                StatusCode::BAD_REQUEST,
                &format!("{} was not created: cannot write its config {e}", call.name),
            ))
        }
        Err(e) => Err(reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("writing the config of {} failed: {e}", call.name),
        )),
    }
}

fn plan(
    target: Target,
    settings: &PlanSettings,
    host: lowering::policy::HostView,
    call: &ServiceCall,
    text: Vec<u8>,
    path: &std::path::Path,
) -> Planned {
    let text: std::sync::Arc<[u8]> = text.into();
    let mut sources = Sources::new();
    sources.add(path.to_string_lossy(), std::sync::Arc::clone(&text));
    let parse = parser::parse(text);
    let options = PlanOptions {
        image: call.image.clone(),
        target,
        tars_path: settings.tars_path.clone(),
        host_path: settings.host_path.clone(),
        policy: settings.allow,
        host,
        ..PlanOptions::default()
    };
    let overrides = ServiceOverrides {
        server_dir: Some(call.server_dir.clone()),
        exe_path: Some(call.exe_path.clone()),
        ..ServiceOverrides::default()
    };
    let lowered = plan_generated_config(&parse.config, &overrides, &options);
    let context = lowered.context;
    let mut diagnostics = parse.diagnostics;
    diagnostics.extend(lowered.diagnostics);
    diagnostics.sort_by_key(Diagnostic::sort_key);
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| describe(d, &sources))
        .collect();
    let warnings: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Error)
        .map(|d| describe(d, &sources))
        .collect();
    let result = match lowered.plan {
        _ if !errors.is_empty() => Err(format!(
            "{} was not created: {} error(s) in its config: {}",
            call.name,
            errors.len(),
            errors.join("; ")
        )),
        None => Err(format!(
            "{} was not created: its config {} gives no plan",
            call.name,
            path.display()
        )),
        Some(plan) if plan.name != call.name => Err(format!(
            "{} was not created: its config {} describes {}, not {}",
            call.name,
            path.display(),
            plan.name,
            call.name
        )),
        Some(plan) => Ok(plan),
    };
    Planned {
        result,
        warnings,
        sources,
        context,
    }
}

/// `file:line:column: severity[CODE] message`.
fn describe(diagnostic: &Diagnostic, sources: &Sources) -> String {
    let (file, line, column) = sources.get(diagnostic.source).map_or_else(
        || (String::new(), 0, 0),
        |file| {
            let at = file.line_col(diagnostic.span.start);
            (file.name.clone(), at.line, at.column)
        },
    );
    format!(
        "{file}:{line}:{column}: {}[{}] {}",
        diagnostic.severity, diagnostic.code, diagnostic.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(entrypoint: &[&str]) -> Value {
        json!({
            "Image": "box:1",
            "Entrypoint": entrypoint,
            "HostConfig": {"Mounts": [
                {"Source": "/data/tars/tarsnode-data/A.B", "Target": "/usr/local/app/tars/tarsnode/data/A.B/", "Type": "bind"},
                {"Source": "/etc/localtime", "Target": "/etc/localtime", "Type": "bind"}
            ]}
        })
    }

    #[test]
    fn tarsnodes_create_is_recognised() {
        let call = recognise(
            Some("A.B"),
            &body(&["/usr/local/app/tars/tarsnode/data/A.B/bin/tars_start.sh"]),
        )
        .unwrap();
        assert_eq!(call.name, "A.B");
        assert_eq!(call.image, "box:1");
        assert_eq!(call.server_dir, "/usr/local/app/tars/tarsnode/data/A.B");
        assert_eq!(call.exe_path, "/usr/local/app/tars/tarsnode/data/A.B/bin/");
        // Read where the node's own mount says the server dir is on the host.
        assert_eq!(
            call.read_from,
            PathBuf::from("/data/tars/tarsnode-data/A.B")
        );

        let plain = recognise(
            Some("A.B"),
            &json!({"Image": "x", "Entrypoint": ["/srv/A.B/bin/tars_start.sh"]}),
        )
        .unwrap();
        assert_eq!(plain.read_from, PathBuf::from("/srv/A.B"));
    }

    fn settings() -> PlanSettings {
        PlanSettings {
            target: crate::config::TargetChoice::Auto,
            tars_path: None,
            host_path: None,
            node: "n".into(),
            allow: lowering::policy::Allow::NONE,
        }
    }

    fn lexical() -> lowering::policy::HostView {
        lowering::policy::HostView::lexical()
    }

    fn call(name: &str) -> ServiceCall {
        ServiceCall {
            name: name.into(),
            image: "box:1".into(),
            exe_path: "/srv/A.B/bin/".into(),
            server_dir: "/srv/A.B".into(),
            read_from: PathBuf::from("/srv/A.B"),
        }
    }

    const CONFIG: &str = "<tars>\n  <application>\n    <server>\n      app=A\n      server=B\n      \
        logpath=/srv/log\n    </server>\n    <container>\n      <volumes>\n        \
        /etc=/host-etc\n        /srv/data=/data\n      </volumes>\n    </container>\n  \
        </application>\n</tars>\n";

    #[test]
    fn a_plan_with_errors_is_refused_with_file_line_column_and_code() {
        let path = std::path::Path::new("/srv/A.B/conf/A.B.config.conf");
        let planned = plan(
            Target::Linux,
            &settings(),
            lexical(),
            &call("A.B"),
            CONFIG.into(),
            path,
        );
        let message = planned.result.unwrap_err();
        assert_eq!(
            message,
            "A.B was not created: 1 error(s) in its config: \
             /srv/A.B/conf/A.B.config.conf:10:9: error[TARS-X001] volume mounts `/etc` (the \
             host's configuration)"
        );
        // Allowed by the operator's policy: planned, with the finding kept as a warning.
        let mut allowed = settings();
        allowed.allow = lowering::policy::Allow::HOST_MOUNTS;
        let planned = plan(
            Target::Linux,
            &allowed,
            lexical(),
            &call("A.B"),
            CONFIG.into(),
            path,
        );
        let plan = planned.result.unwrap();
        assert_eq!(plan.name, "A.B");
        assert!(
            planned.warnings.iter().any(|w| w.contains("[TARS-X001]")),
            "{:?}",
            planned.warnings
        );
    }

    #[test]
    fn a_config_describing_another_service_is_refused() {
        let mut allowed = settings();
        allowed.allow = lowering::policy::Allow::HOST_MOUNTS;
        let path = std::path::Path::new("/srv/C.D/conf/C.D.config.conf");
        let planned = plan(
            Target::Linux,
            &allowed,
            lexical(),
            &call("C.D"),
            CONFIG.into(),
            path,
        );
        let message = planned.result.unwrap_err();
        assert!(message.contains("describes A.B, not C.D"), "{message}");
    }

    #[test]
    fn other_creates_are_not() {
        let start = ["/srv/A.B/bin/tars_start.sh"];
        assert!(recognise(None, &body(&start)).is_none());
        assert!(recognise(Some("plain-name"), &body(&start)).is_none());
        assert!(recognise(Some("bad name.x"), &body(&start)).is_none());
        for entrypoint in [
            &["/srv/A.B/bin/run.sh"][..],
            &["/srv/A.B/tars_start.sh"],
            &["/bin/tars_start.sh"],
            &["bin/tars_start.sh"],
            &["srv/A.B/bin/tars_start.sh"],
            &["/srv/A.B/bin/tars_start.sh", "--x"],
            &[],
        ] {
            assert!(
                recognise(Some("A.B"), &body(entrypoint)).is_none(),
                "{entrypoint:?}"
            );
        }
        let mut with_cmd = body(&start);
        with_cmd["Cmd"] = json!(["sleep", "1"]);
        assert!(recognise(Some("A.B"), &with_cmd).is_none());
        let mut no_image = body(&start);
        no_image["Image"] = json!("");
        assert!(recognise(Some("A.B"), &no_image).is_none());
        assert!(recognise(Some("A.B"), &Value::Null).is_none());
    }
}
