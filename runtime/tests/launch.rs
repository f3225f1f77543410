//! Launch against the real engine: linux mode (host network, host IPC, bind mounts),
//! bridge mode (published ports), idempotence, foreign containers, concurrent launches and
//! the failures a launch must explain.

mod common;

use std::time::Duration;

use runtime::models::{ContainerCreateBody, HostConfig};
use runtime::{Error, ErrorKind, LaunchAction, LaunchOptions, PullPolicy, StopOptions};
use testkit::docker::{
    Cleanup, ServiceDir, base_image, converse, docker, docker_ok, engine_available, free_port,
    hello_image, unique_name,
};

fn sleeper(name: &str, cleanup: &Cleanup) -> runtime::LaunchRequest {
    let image = base_image();
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        entrypoint: Some(vec!["/bin/sleep".into(), "3600".into()]),
        labels: Some(common::test_labels(cleanup)),
        host_config: Some(HostConfig {
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    common::request(name, &image, body, vec![], vec![])
}

fn no_events() -> impl FnMut(runtime::LaunchEvent) {
    |_| {}
}

#[tokio::test]
async fn linux_mode_shares_host_network_and_ipc_and_mounts() {
    if !engine_available("linux_mode_shares_host_network_and_ipc_and_mounts") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let port = free_port();
    // 127.0.0.1 inside the container is the host's loopback only with the host network.
    let service = ServiceDir::new(&unique_name("linux"), "127.0.0.1", port);
    let request = common::linux_request(&service, &base_image(), &cleanup);

    let report = rt
        .launch(&request, &LaunchOptions::default(), &mut no_events())
        .await
        .unwrap();
    assert_eq!(report.action, LaunchAction::Created);
    assert_eq!(report.state, "running");
    let pid = report.pid.expect("a running container has a host pid");

    let replies = converse(port, &["ipc", "net", "pid"], Duration::from_secs(20)).unwrap();
    assert_eq!(
        replies[0],
        format!("hello from {} version=0.1.0", service.name())
    );
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        replies[1],
        host_ipc.display().to_string(),
        "host IPC namespace"
    );
    assert_eq!(
        replies[2],
        host_net.display().to_string(),
        "host network namespace"
    );
    // The reported pid is a host pid: the container's first process, in the host IPC ns.
    let first_ipc = std::fs::read_link(format!("/proc/{pid}/ns/ipc")).unwrap();
    assert_eq!(first_ipc, host_ipc);
    // The service's own pid differs from the host view (own pid namespace).
    let service_pid: u32 = replies[3].parse().unwrap();
    assert_ne!(i64::from(service_pid), pid);

    // Written inside (the service log under the mounted log dir), read outside.
    let log = std::fs::read_to_string(service.log_file()).unwrap();
    assert!(
        log.contains(&format!("start {}", service.name())),
        "log: {log}"
    );
    assert!(log.contains("connection from 127.0.0.1"), "log: {log}");
    // Labels on the container.
    let labels = docker_ok(&["inspect", "--format", "{{json .Config.Labels}}", &report.id]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["tarsdock.managed-by"], "tarsdock");
    assert_eq!(labels["tarsdock.app"], service.app.as_str());
    assert_eq!(labels["tarsdock.server"], service.server.as_str());
    assert_eq!(labels["tarsdock.node"], "test-node");
    assert_eq!(labels["tarsdock.plan-hash"], request.plan_hash.as_str());
    let modes = docker_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.NetworkMode}} {{.HostConfig.IpcMode}}",
        &report.id,
    ]);
    assert_eq!(modes, "host host");
}

#[tokio::test]
async fn bridge_mode_publishes_ports() {
    if !engine_available("bridge_mode_publishes_ports") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let host_port = free_port();
    let service = ServiceDir::new(&unique_name("bridge"), "0.0.0.0", 9000);
    let request = common::bridge_request(&service, &hello_image(), host_port, &cleanup);
    let report = rt
        .launch(&request, &LaunchOptions::default(), &mut no_events())
        .await
        .unwrap();
    assert_eq!(report.action, LaunchAction::Created);

    let replies = converse(host_port, &["net"], Duration::from_secs(20)).unwrap();
    assert_eq!(
        replies[0],
        format!("hello from {} version=0.1.0", service.name())
    );
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        replies[1],
        host_net.display().to_string(),
        "bridge mode has its own network namespace"
    );
}

#[tokio::test]
async fn launch_is_idempotent_and_replaces_changed_plans() {
    if !engine_available("launch_is_idempotent_and_replaces_changed_plans") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("idem");
    let mut request = sleeper(&name, &cleanup);
    let options = LaunchOptions::default();

    let first = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap();
    assert_eq!(first.action, LaunchAction::Created);

    // Unchanged and running: untouched (same container, same start).
    let mut events = Vec::new();
    let second = rt
        .launch(&request, &options, &mut |e| events.push(e.to_string()))
        .await
        .unwrap();
    assert_eq!(second.action, LaunchAction::Unchanged);
    assert_eq!(second.id, first.id);
    assert_eq!(second.started_at, first.started_at);
    assert_eq!(second.pid, first.pid);
    assert!(
        !events
            .iter()
            .any(|e| e.starts_with("creating") || e.starts_with("stopping")),
        "{events:?}"
    );

    // Stopped, same plan: started again, same container.
    let stop = StopOptions {
        timeout: Some(Duration::from_secs(1)),
        ..StopOptions::default()
    };
    rt.stop(&name, &stop).await.unwrap();
    assert_eq!(rt.status(&name).await.unwrap().state, "exited");
    let third = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap();
    assert_eq!(third.action, LaunchAction::Started);
    assert_eq!(third.id, first.id);
    assert_eq!(third.state, "running");
    assert_ne!(third.started_at, first.started_at);

    // Changed plan: replaced.
    request.body.env = Some(vec!["CHANGED=1".into()]);
    common::rehash(&mut request);
    let fourth = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap();
    assert_eq!(fourth.action, LaunchAction::Replaced);
    assert_eq!(fourth.previous_id.as_deref(), Some(first.id.as_str()));
    assert!(
        fourth
            .reason
            .as_deref()
            .unwrap()
            .starts_with("plan changed")
    );
    assert_ne!(fourth.id, first.id);
    assert!(
        !docker(&["inspect", &first.id]).status.success(),
        "old one is gone"
    );
    let status = rt.status(&name).await.unwrap();
    assert_eq!(
        status.plan_hash.as_deref(),
        Some(request.plan_hash.as_str())
    );
    assert_eq!(status.id.as_deref(), Some(fourth.id.as_str()));
    let all = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=tarsdock.test={}", cleanup.run_id),
    ]);
    assert_eq!(all.lines().count(), 1, "exactly one container: {all}");
}

#[tokio::test]
async fn a_different_image_replaces_the_container() {
    if !engine_available("a_different_image_replaces_the_container") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("moving");
    // A tag that moves from one image to another between launches.
    let tag = format!("tarsdock-test/moving:{}", cleanup.run_id);
    let _ = docker_ok(&["tag", &base_image(), &tag]);
    let mut request = sleeper(&name, &cleanup);
    request.image.clone_from(&tag);
    request.body.image = Some(tag.clone());
    common::rehash(&mut request);
    let first = rt
        .launch(&request, &LaunchOptions::default(), &mut no_events())
        .await
        .unwrap();
    let _ = docker_ok(&["tag", &hello_image(), &tag]);
    let second = rt
        .launch(&request, &LaunchOptions::default(), &mut no_events())
        .await
        .unwrap();
    let _ = docker(&["rmi", &tag]);
    assert_eq!(second.action, LaunchAction::Replaced);
    assert!(
        second
            .reason
            .as_deref()
            .unwrap()
            .starts_with("image changed"),
        "{second:?}"
    );
    assert_ne!(first.image_id, second.image_id);

    // An expected id that no pull can satisfy: never pulled when pulling is off.
    let mut expecting = request.clone();
    expecting.image = base_image();
    expecting.body.image = Some(base_image());
    expecting.expected_image_id = Some("sha256:0000000000000000".into());
    let options = LaunchOptions {
        pull: PullPolicy::Never,
        ..LaunchOptions::default()
    };
    let error = rt
        .launch(&expecting, &options, &mut no_events())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ImageUnavailable, "{error}");
    assert!(
        error.to_string().contains("differs from the expected"),
        "{error}"
    );
}

#[tokio::test]
async fn a_foreign_container_is_left_alone_unless_adopted() {
    if !engine_available("a_foreign_container_is_left_alone_unless_adopted") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("foreign");
    let label = format!("tarsdock.test={}", cleanup.run_id);
    let foreign = docker_ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--label",
        &label,
        &base_image(),
        "sleep",
        "3600",
    ]);
    let request = sleeper(&name, &cleanup);

    let error = rt
        .launch(&request, &LaunchOptions::default(), &mut no_events())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ForeignContainer { .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert!(error.to_string().contains("--adopt"), "{error}");
    let stop = StopOptions {
        timeout: Some(Duration::from_secs(1)),
        ..StopOptions::default()
    };
    assert_eq!(
        rt.stop(&name, &stop).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        rt.remove(&name, Some(Duration::from_secs(1)), false)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        rt.restart(&name, Some(Duration::from_secs(1)), false)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    // Untouched: same container, still running.
    let state = docker_ok(&["inspect", "--format", "{{.Id}} {{.State.Status}}", &name]);
    assert_eq!(state, format!("{foreign} running"));
    let status = rt.status(&name).await.unwrap();
    assert!(!status.managed);
    // A service name that is a prefix of the foreign container's id is not that container.
    let prefix = &foreign[..12];
    assert_eq!(rt.status(prefix).await.unwrap().state, "absent");

    let adopt = LaunchOptions {
        adopt: true,
        stop_timeout: Some(Duration::from_secs(1)),
        ..LaunchOptions::default()
    };
    let report = rt.launch(&request, &adopt, &mut no_events()).await.unwrap();
    assert_eq!(report.action, LaunchAction::Replaced);
    assert_eq!(report.previous_id.as_deref(), Some(foreign.as_str()));
    assert!(rt.status(&name).await.unwrap().managed);
}

#[tokio::test]
async fn concurrent_launches_make_one_container() {
    if !engine_available("concurrent_launches_make_one_container") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("race");
    let request = sleeper(&name, &cleanup);
    let options = LaunchOptions::default();
    let launches = (0..4).map(|_| {
        let rt = rt.clone();
        let request = request.clone();
        let options = options.clone();
        async move { rt.launch(&request, &options, &mut no_events()).await }
    });
    let reports = futures_util::future::join_all(launches).await;
    let reports: Vec<_> = reports.into_iter().map(Result::unwrap).collect();
    let created = reports
        .iter()
        .filter(|r| r.action == LaunchAction::Created)
        .count();
    let unchanged = reports
        .iter()
        .filter(|r| r.action == LaunchAction::Unchanged)
        .count();
    assert_eq!((created, unchanged), (1, 3), "{reports:?}");
    assert!(reports.iter().all(|r| r.id == reports[0].id));
}

#[tokio::test]
async fn failures_name_their_cause() {
    if !engine_available("failures_name_their_cause") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let options = LaunchOptions::default();

    // A mount whose host path is missing: the template line is named.
    let service = ServiceDir::new(&unique_name("nomount"), "127.0.0.1", free_port());
    let mut request = common::linux_request(&service, &base_image(), &cleanup);
    std::fs::remove_dir_all(&service.shared_dir).unwrap();
    let error = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MountSourceMissing, "{error}");
    assert_eq!(error.origin(), Some("template.conf:7 (shared=shared)"));
    assert!(
        error
            .to_string()
            .contains(&service.shared_dir.display().to_string()),
        "{error}"
    );
    assert_eq!(rt.status(&request.name).await.unwrap().state, "absent");

    // The engine refusing the create: two mounts on one target; the message names the
    // mount it concerns.
    std::fs::create_dir_all(&service.shared_dir).unwrap();
    let host_config = request.body.host_config.as_mut().unwrap();
    let mounts = host_config.mounts.as_mut().unwrap();
    // Read-only: a writable mount of the service root would hold the other mounts, which the
    // policy refuses (TARS-X005) before the engine sees the duplicate.
    let duplicate = runtime::models::Mount {
        read_only: Some(true),
        ..common::bind(&service.root, &service.shared_dir)
    };
    mounts.push(duplicate);
    common::rehash(&mut request);
    let error = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::EngineRefused, "{error}");
    assert!(
        error.to_string().to_lowercase().contains("duplicate"),
        "{error}"
    );
    assert_eq!(
        error.origin(),
        Some("template.conf:7 (shared=shared)"),
        "{error}"
    );

    // The engine refusing the start: the entrypoint is missing from the mounted server dir.
    let mut request = common::linux_request(&service, &base_image(), &cleanup);
    request.body.entrypoint = Some(vec![
        service
            .server_dir
            .join("bin/missing.sh")
            .display()
            .to_string(),
    ]);
    common::rehash(&mut request);
    let error = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::EngineRefused {
                operation: runtime::Operation::Start,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.origin(), Some("default: server dir"), "{error}");
    // Nothing half-made is left behind.
    assert_eq!(rt.status(&request.name).await.unwrap().state, "absent");

    // A published port already in use: the template line is named.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let service = ServiceDir::new(&unique_name("busyport"), "0.0.0.0", 9000);
    let request = common::bridge_request(&service, &hello_image(), taken, &cleanup);
    let error = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PortInUse, "{error}");
    assert_eq!(
        error.origin(),
        Some(format!("template.conf:12 (9000/tcp=127.0.0.1:{taken})").as_str())
    );
    assert!(
        error
            .to_string()
            .contains(&format!("127.0.0.1:{taken}/tcp")),
        "{error}"
    );
    assert_eq!(rt.status(&request.name).await.unwrap().state, "absent");
    drop(holder);

    // An image that is missing and cannot be pulled (no registry answers there).
    let name = unique_name("noimage");
    let mut request = sleeper(&name, &cleanup);
    request.image = "127.0.0.1:1/tarsdock/absent:1".into();
    request.body.image = Some(request.image.clone());
    common::rehash(&mut request);
    let error = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ImageUnavailable, "{error}");
    assert!(
        error.to_string().contains("127.0.0.1:1/tarsdock/absent:1"),
        "{error}"
    );
    let never = LaunchOptions {
        pull: PullPolicy::Never,
        ..LaunchOptions::default()
    };
    let error = rt
        .launch(&request, &never, &mut no_events())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("pulling is disabled"), "{error}");

    // A request Docker would refuse, caught before the engine is asked.
    let mut request = sleeper(&unique_name("bad"), &cleanup);
    request.name = "not a name".into();
    let error = rt
        .launch(&request, &options, &mut no_events())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Usage);
}

#[tokio::test]
async fn engine_warnings_are_reported() {
    if !engine_available("engine_warnings_are_reported") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let mut request = sleeper(&unique_name("warned"), &cleanup);
    // Port bindings on the host network: the engine accepts them with a warning.
    request.body.exposed_ports = Some(vec!["9000/tcp".into()]);
    let host_config = request.body.host_config.as_mut().unwrap();
    host_config.network_mode = Some("host".into());
    host_config.port_bindings = Some(std::collections::HashMap::from([(
        "9000/tcp".to_owned(),
        Some(vec![runtime::models::PortBinding {
            host_ip: None,
            host_port: Some(free_port().to_string()),
        }]),
    )]));
    common::rehash(&mut request);
    let report = rt
        .launch(&request, &LaunchOptions::default(), &mut no_events())
        .await
        .unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("Published ports are discarded")),
        "{report:?}"
    );
}
