//! The plan hash: a digest of everything that defines the container, for the
//! `tarsdock.plan-hash` label. An unchanged plan gives an unchanged hash, so the runtime can
//! tell "start the existing container" from "replace it".
//!
//! Origins (spans) are left out: moving a line or adding a comment does not change the
//! container. The input is a versioned JSON document of fixed field order, hashed with SHA-256.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::ir::{ContainerPlan, IpcMode, PortRange, Proto, RestartPolicy, Target};

/// Bumped when the hashed fields change, so that old and new hashes never compare equal by
/// accident.
const VERSION: u32 = 2;

#[derive(Serialize)]
struct HashInput<'a> {
    version: u32,
    name: &'a str,
    image: &'a str,
    target: Target,
    entrypoint: &'a [String],
    working_dir: &'a str,
    network: &'static str,
    ipc_mode: IpcMode,
    mounts: Vec<(&'a str, &'a str, bool)>,
    ports: Vec<(u16, Proto, &'a str, PortRange)>,
    app: &'a str,
    server: &'a str,
    node: Option<&'a str>,
    admin_endpoint: Option<&'a str>,
    privileged: bool,
    stop_timeout: u32,
    restart_policy: Option<RestartPolicy>,
    endpoint_rewrites: Vec<(&'a str, &'a str)>,
}

/// `sha256:<64 hex digits>` of the plan, ignoring origins and the hash label itself.
#[must_use]
pub fn plan_hash(plan: &ContainerPlan) -> String {
    let input = HashInput {
        version: VERSION,
        name: &plan.name,
        image: &plan.image,
        target: plan.target,
        entrypoint: &plan.entrypoint,
        working_dir: &plan.working_dir,
        network: plan.network.mode(),
        ipc_mode: plan.ipc_mode,
        mounts: plan
            .mounts
            .iter()
            .map(|m| (m.source.as_str(), m.target.as_str(), m.read_only))
            .collect(),
        ports: plan
            .network
            .ports()
            .iter()
            .map(|p| (p.container_port, p.proto, p.host_ip.as_str(), p.host_port))
            .collect(),
        app: &plan.labels.app,
        server: &plan.labels.server,
        node: plan.labels.node.as_deref(),
        admin_endpoint: plan.labels.admin_endpoint.as_deref(),
        privileged: plan.privileged,
        stop_timeout: plan.stop_timeout,
        restart_policy: plan.restart_policy,
        endpoint_rewrites: plan
            .endpoint_rewrites
            .iter()
            .map(|r| (r.path.as_str(), r.to.as_str()))
            .collect(),
    };
    // Serialising plain structs, strings and numbers cannot fail.
    let bytes = serde_json::to_vec(&input).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
}
