//! Shared setup for the runtime's real-engine tests: connecting, and building launch
//! requests the way lowering will (linux: host network + host IPC + tarsnode's default
//! mounts; mac: bridge + published ports).

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::Path;

use runtime::models::{ContainerCreateBody, HostConfig, Mount, MountType, PortBinding};
use runtime::{EngineAddress, LaunchRequest, MountOrigin, PortOrigin, Runtime, RuntimeOptions};
use testkit::docker::{Cleanup, ServiceDir, TEST_LABEL};

/// Connects to the test engine with locks in `lock_dir`.
pub async fn connect(lock_dir: &Path) -> Runtime {
    let address = EngineAddress::Unix(testkit::docker::socket_path());
    Runtime::connect(
        &address,
        RuntimeOptions {
            lock_dir: lock_dir.to_path_buf(),
            ..RuntimeOptions::default()
        },
    )
    .await
    .expect("connect to the test engine")
}

pub fn bind(host: &Path, container: &Path) -> Mount {
    Mount {
        target: Some(container.display().to_string()),
        source: Some(host.display().to_string()),
        typ: Some(MountType::BIND),
        ..Default::default()
    }
}

/// The Linux lowering of a tarsnode service: `tars_start.sh` as entrypoint, host network and
/// IPC, the server dir, log dir and `/etc/localtime` mounted at the same paths, plus the
/// shared dir as a template volume.
pub fn linux_request(service: &ServiceDir, image: &str, cleanup: &Cleanup) -> LaunchRequest {
    let mounts = [
        (&service.server_dir, "default: server dir"),
        (&service.log_dir, "default: log dir"),
        (&service.shared_dir, "template.conf:7 (shared=shared)"),
    ];
    let mut mount_origins: Vec<MountOrigin> = mounts
        .iter()
        .map(|(path, origin)| MountOrigin {
            host_path: path.display().to_string(),
            container_path: path.display().to_string(),
            origin: (*origin).to_owned(),
        })
        .collect();
    let mut docker_mounts: Vec<Mount> = mounts.iter().map(|(p, _)| bind(p, p)).collect();
    // Read-only, as lowering plans it: the policy refuses the time zone writable.
    docker_mounts.push(Mount {
        read_only: Some(true),
        ..bind(Path::new("/etc/localtime"), Path::new("/etc/localtime"))
    });
    mount_origins.push(MountOrigin {
        host_path: "/etc/localtime".into(),
        container_path: "/etc/localtime".into(),
        origin: "default: /etc/localtime".into(),
    });
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(vec![service.start_script().display().to_string()]),
        labels: Some(test_labels(cleanup)),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            ipc_mode: Some("host".into()),
            mounts: Some(docker_mounts),
            ..Default::default()
        }),
        ..Default::default()
    };
    request(&service.name(), image, body, mount_origins, vec![])
}

/// The Mac (bridge) lowering: `hello-service` from the image listening on container port
/// 9000, published at `127.0.0.1:host_port`.
pub fn bridge_request(
    service: &ServiceDir,
    image: &str,
    host_port: u16,
    cleanup: &Cleanup,
) -> LaunchRequest {
    service.write_config("0.0.0.0", 9000);
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(vec![
            "/usr/local/bin/hello-service".into(),
            format!("--config={}", service.config_path().display()),
        ]),
        labels: Some(test_labels(cleanup)),
        exposed_ports: Some(vec!["9000/tcp".into()]),
        host_config: Some(HostConfig {
            network_mode: Some("bridge".into()),
            port_bindings: Some(HashMap::from([(
                "9000/tcp".to_owned(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(host_port.to_string()),
                }]),
            )])),
            mounts: Some(vec![
                bind(&service.server_dir, &service.server_dir),
                bind(&service.log_dir, &service.log_dir),
            ]),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mounts = vec![
        MountOrigin {
            host_path: service.server_dir.display().to_string(),
            container_path: service.server_dir.display().to_string(),
            origin: "default: server dir".into(),
        },
        MountOrigin {
            host_path: service.log_dir.display().to_string(),
            container_path: service.log_dir.display().to_string(),
            origin: "default: log dir".into(),
        },
    ];
    let ports = vec![PortOrigin {
        host_ip: Some("127.0.0.1".into()),
        host_port,
        proto: "tcp".into(),
        origin: format!("template.conf:12 (9000/tcp=127.0.0.1:{host_port})"),
    }];
    request(&service.name(), image, body, mounts, ports)
}

/// A request around a body, with the plan hash computed from the body.
pub fn request(
    name: &str,
    image: &str,
    body: ContainerCreateBody,
    mounts: Vec<MountOrigin>,
    ports: Vec<PortOrigin>,
) -> LaunchRequest {
    let (app, server) = name.split_once('.').unwrap_or((name, name));
    LaunchRequest {
        name: name.to_owned(),
        app: app.to_owned(),
        server: server.to_owned(),
        node: "test-node".into(),
        image: image.to_owned(),
        expected_image_id: None,
        plan_hash: runtime::plan_hash(&body),
        body,
        mounts,
        ports,
        executable: None,
    }
}

pub fn test_labels(cleanup: &Cleanup) -> HashMap<String, String> {
    HashMap::from([(TEST_LABEL.to_owned(), cleanup.run_id.clone())])
}

/// Recomputes the plan hash after a test changed the body.
pub fn rehash(request: &mut LaunchRequest) {
    request.plan_hash = runtime::plan_hash(&request.body);
}
