//! Stop (with the stop script really run), status, restart, remove and logs against the
//! real engine.

mod common;

use std::time::Duration;

use futures_util::StreamExt as _;
use runtime::models::{ContainerCreateBody, HostConfig};
use runtime::{
    ErrorKind, LaunchAction, LaunchOptions, LogStream, LogsRequest, StopAction, StopOptions,
};
use testkit::docker::{
    Cleanup, ServiceDir, base_image, converse, engine_available, free_port, unique_name,
};

fn shell(name: &str, script: &str, cleanup: &Cleanup) -> runtime::LaunchRequest {
    let image = base_image();
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        labels: Some(common::test_labels(cleanup)),
        host_config: Some(HostConfig {
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    common::request(name, &image, body, vec![], vec![])
}

async fn wait_for_state(
    rt: &runtime::Runtime,
    name: &str,
    state: &str,
) -> runtime::ContainerStatus {
    for _ in 0..200 {
        let status = rt.status(name).await.expect("status");
        if status.state == state {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached {state}");
}

#[tokio::test]
async fn stop_runs_the_stop_script_and_keeps_the_container() {
    if !engine_available("stop_runs_the_stop_script_and_keeps_the_container") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let port = free_port();
    let service = ServiceDir::new(&unique_name("stopper"), "127.0.0.1", port);
    let request = common::linux_request(&service, &base_image(), &cleanup);
    let name = service.name();
    let launched = rt
        .launch(&request, &LaunchOptions::default(), &mut |_| {})
        .await
        .unwrap();
    converse(port, &[], Duration::from_secs(20)).unwrap();

    let stop = StopOptions {
        timeout: Some(Duration::from_secs(1)),
        script: Some(service.stop_script().display().to_string()),
        ..StopOptions::default()
    };
    let report = rt.stop(&name, &stop).await.unwrap();
    assert_eq!(report.action, StopAction::Stopped);
    assert!(!report.removed);
    let script = report.script.expect("the script ran");
    assert_eq!(script.exit_code, Some(0), "{script:?}");
    assert!(!script.timed_out);
    assert!(script.output.contains("stop-script-output"), "{script:?}");
    // It ran inside the container (another pid namespace), and wrote through the mount.
    let marker = std::fs::read_to_string(service.shared_dir.join("stopped-by-script")).unwrap();
    let host_pid_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert!(marker.starts_with("stop script ran in pid:["), "{marker}");
    assert!(
        !marker.contains(&host_pid_ns.display().to_string()),
        "{marker}"
    );

    // Kept, stopped: status says so; an unchanged relaunch only starts it.
    let status = rt.status(&name).await.unwrap();
    assert_eq!(status.state, "exited");
    assert_eq!(status.pid, None);
    assert!(status.exit_code.is_some());
    let again = rt
        .launch(&request, &LaunchOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.action, LaunchAction::Started);
    assert_eq!(again.id, launched.id);
    converse(port, &[], Duration::from_secs(20)).unwrap();

    // Stopping a stopped container is fine; --rm removes it.
    let rm = StopOptions {
        timeout: Some(Duration::from_secs(1)),
        remove: true,
        ..StopOptions::default()
    };
    let report = rt.stop(&name, &rm).await.unwrap();
    assert_eq!(report.action, StopAction::Stopped);
    assert!(report.removed);
    assert_eq!(rt.status(&name).await.unwrap().state, "absent");
    let report = rt.stop(&name, &rm).await.unwrap();
    assert_eq!(report.action, StopAction::Absent);
}

#[tokio::test]
async fn a_failing_stop_script_is_reported_and_the_container_still_stops() {
    if !engine_available("a_failing_stop_script_is_reported_and_the_container_still_stops") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("badscript");
    rt.launch(
        &shell(&name, "sleep 3600", &cleanup),
        &LaunchOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    let stop = StopOptions {
        timeout: Some(Duration::from_secs(1)),
        script: Some("/no/such/stop.sh".into()),
        ..StopOptions::default()
    };
    let report = rt.stop(&name, &stop).await.unwrap();
    let script = report.script.unwrap();
    assert_ne!(script.exit_code, Some(0), "{script:?}");
    assert_eq!(report.action, StopAction::Stopped);
    assert_eq!(rt.status(&name).await.unwrap().state, "exited");
}

#[tokio::test]
async fn status_reports_exit_codes_and_labels() {
    if !engine_available("status_reports_exit_codes_and_labels") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("exit7");
    let request = shell(&name, "exit 7", &cleanup);
    rt.launch(&request, &LaunchOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let status = wait_for_state(&rt, &name, "exited").await;
    assert_eq!(status.exit_code, Some(7));
    assert_eq!(status.oom_killed, Some(false));
    assert!(status.managed);
    assert_eq!(
        status.plan_hash.as_deref(),
        Some(request.plan_hash.as_str())
    );
    assert_eq!(status.app.as_deref(), Some(request.app.as_str()));
    assert_eq!(status.node.as_deref(), Some("test-node"));
    assert!(status.started_at.is_some() && status.finished_at.is_some());

    let running = unique_name("running");
    rt.launch(
        &shell(&running, "sleep 3600", &cleanup),
        &LaunchOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    let status = rt.status(&running).await.unwrap();
    assert_eq!(status.state, "running");
    assert!(status.pid.is_some_and(|p| p > 0));
    assert_eq!(status.finished_at, None);

    let absent = rt.status(&unique_name("absent")).await.unwrap();
    assert_eq!(absent.state, "absent");
    assert_eq!(absent.id, None);
}

#[tokio::test]
async fn restart_and_remove() {
    if !engine_available("restart_and_remove") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("restart");
    let first = rt
        .launch(
            &shell(&name, "sleep 3600", &cleanup),
            &LaunchOptions::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
    let restarted = rt
        .restart(&name, Some(Duration::from_secs(1)), false)
        .await
        .unwrap();
    assert_eq!(restarted.id, first.id);
    assert_eq!(restarted.state, "running");
    assert_ne!(restarted.pid, first.pid);
    assert_ne!(restarted.started_at, first.started_at);

    let removed = rt
        .remove(&name, Some(Duration::from_secs(1)), false)
        .await
        .unwrap();
    assert!(removed.removed && removed.stopped);
    assert_eq!(rt.status(&name).await.unwrap().state, "absent");
    let again = rt
        .remove(&name, Some(Duration::from_secs(1)), false)
        .await
        .unwrap();
    assert!(!again.removed);

    let error = rt
        .restart(&name, Some(Duration::from_secs(1)), false)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
}

#[tokio::test]
async fn logs_return_both_streams_and_follow() {
    if !engine_available("logs_return_both_streams_and_follow") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("logs");
    rt.launch(
        &shell(
            &name,
            "echo line-one; echo line-two >&2; echo line-three; sleep 1; echo late-line; sleep 3600",
            &cleanup,
        ),
        &LaunchOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();

    // Follow until the late line arrives.
    let mut stream = Box::pin(
        rt.logs(
            &name,
            LogsRequest {
                follow: true,
                ..LogsRequest::default()
            },
        )
        .await
        .unwrap(),
    );
    let mut seen = Vec::new();
    let followed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            let text = String::from_utf8_lossy(&chunk.bytes).into_owned();
            seen.push((chunk.stream, text.clone()));
            if text.contains("late-line") {
                break;
            }
        }
    })
    .await;
    assert!(
        followed.is_ok(),
        "follow never showed the late line: {seen:?}"
    );
    assert!(
        seen.contains(&(LogStream::Stdout, "line-one\n".to_owned())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(LogStream::Stderr, "line-two\n".to_owned())),
        "{seen:?}"
    );

    // The tail.
    let tail: Vec<_> = rt
        .logs(
            &name,
            LogsRequest {
                tail: Some(1),
                ..LogsRequest::default()
            },
        )
        .await
        .unwrap()
        .collect()
        .await;
    let tail: Vec<String> = tail
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.unwrap().bytes).into_owned())
        .collect();
    assert_eq!(tail, vec!["late-line\n".to_owned()]);

    let Err(error) = rt
        .logs(&unique_name("nologs"), LogsRequest::default())
        .await
    else {
        panic!("logs of an absent container");
    };
    assert_eq!(error.kind(), ErrorKind::NotFound);
}
