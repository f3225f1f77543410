//! A lowered [`ContainerPlan`] turned into the [`LaunchRequest`] the runtime takes: the
//! Engine API body from `lowering::docker`, the plan hash from the plan's labels, and a
//! human description of where every mount and published port came from.
//!
//! The one place this conversion lives, for every caller that starts from a plan (`deploy`
//! today; `launch --request` takes a request that was written out already).

use lowering::ir::{ContainerPlan, DefaultMount, MountOrigin as PlanMount, PortOrigin as PlanPort};

use crate::request::{LaunchRequest, MountOrigin, PortOrigin};

/// Where the template lines of a plan come from, to describe them: the file name and the
/// 1-based line of a byte offset. `None` gives offsets only.
pub type LineOf<'a> = Option<&'a dyn Fn(u32) -> (String, u32)>;

/// The launch request of `plan`, for node `node` (the plan's label, else this value).
#[must_use]
pub fn launch_request(plan: &ContainerPlan, node: &str, line_of: LineOf<'_>) -> LaunchRequest {
    let at = |offset: u32| -> String {
        line_of.map_or_else(
            || format!("byte {offset}"),
            |f| {
                let (file, line) = f(offset);
                format!("{file}:{line}")
            },
        )
    };
    let mounts = plan
        .mounts
        .iter()
        .map(|mount| MountOrigin {
            host_path: mount.source.clone(),
            container_path: mount.target.clone(),
            origin: match &mount.origin {
                PlanMount::Default { mount: which } => format!(
                    "default: {}",
                    match which {
                        DefaultMount::ServerDir => "server dir",
                        DefaultMount::LogDir => "log dir",
                        DefaultMount::LocalTime => "/etc/localtime",
                    }
                ),
                PlanMount::Template(line) => format!(
                    "{} ({}={})",
                    at(line.line.start),
                    mount.source,
                    mount.target
                ),
            },
        })
        .collect();
    let ports = plan
        .network
        .ports()
        .iter()
        .map(|port| PortOrigin {
            host_ip: Some(port.host_ip.clone()).filter(|ip| !ip.is_empty()),
            host_port: port.host_port.start,
            proto: port.proto.as_str().to_owned(),
            origin: match &port.origin {
                PlanPort::Adapter { name, .. } => format!("adapter {name}"),
                PlanPort::LocalAdmin { .. } => "local admin endpoint".to_owned(),
                PlanPort::Template(line) => format!("{} ({})", at(line.line.start), port.key()),
            },
        })
        .collect();
    LaunchRequest {
        name: plan.name.clone(),
        app: plan.labels.app.clone(),
        server: plan.labels.server.clone(),
        node: plan
            .labels
            .node
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| node.to_owned()),
        image: plan.image.clone(),
        expected_image_id: None,
        body: lowering::docker::create_body(plan),
        plan_hash: plan.labels.plan_hash.clone(),
        mounts,
        ports,
        executable: None,
    }
}
