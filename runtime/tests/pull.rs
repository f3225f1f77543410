//! Pulls from a real registry (Debian's `docker-registry`) on loopback: progress, base64url
//! credentials, errors inside the stream, and launch pulling only when the image is missing
//! or its id differs from the expected one.

mod common;

use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use futures_util::StreamExt as _;
use runtime::models::{ContainerCreateBody, HostConfig};
use runtime::{Error, ErrorKind, LaunchAction, LaunchOptions, PullProgress, RegistryAuth};
use testkit::docker::{
    Cleanup, Registry, base_image, docker, docker_ok, engine_available, hello_image, import_unique,
    push, registry_available, unique_name,
};

/// Password whose standard base64 (inside the auth JSON) contains `+`: the engine would
/// drop such credentials if they were not sent base64url-encoded.
const PASSWORD: &str = "p?>~~s";
const USER: &str = "tester";

fn ready(test: &str) -> bool {
    engine_available(test) && registry_available(test)
}

fn local_reference(cleanup: &Cleanup, what: &str) -> String {
    format!("tarsdock-test/{what}:{}", cleanup.run_id)
}

/// Removes the named local tags when dropped.
struct Untag(Vec<String>);

impl Drop for Untag {
    fn drop(&mut self) {
        for reference in &self.0 {
            let _ = docker(&["rmi", reference]);
        }
    }
}

#[tokio::test]
async fn pull_drains_progress_and_reports_the_image() {
    if !ready("pull_drains_progress_and_reports_the_image") {
        return;
    }
    let cleanup = Cleanup::new();
    let storage = tempfile::tempdir().unwrap();
    let registry = Registry::start(storage.path(), None);
    let local = local_reference(&cleanup, "progress");
    import_unique(&local, &cleanup.run_id, 2 * 1024 * 1024);
    let remote = push(&registry, &local, "tars/progress:1", true);
    let _untag = Untag(vec![remote.clone()]);
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;

    let mut events: Vec<PullProgress> = Vec::new();
    let report = rt
        .pull(&remote, None, &mut |p| events.push(p.clone()))
        .await
        .unwrap();
    assert!(report.id.starts_with("sha256:"), "{report:?}");
    assert!(
        report
            .digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert!(
        report
            .status
            .as_deref()
            .is_some_and(|s| s.contains("Downloaded newer image")),
        "{report:?}"
    );
    assert_eq!(report.messages, events.len());
    assert!(
        events
            .iter()
            .any(|e| e.status == "Downloading" && e.total.is_some_and(|t| t > 1_000_000)),
        "layer byte progress: {events:?}"
    );
    assert!(events.iter().any(|e| e.status == "Pull complete"));
    let id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &remote]);
    assert_eq!(id, report.id);

    // A tag the registry does not have.
    let error = rt
        .pull(
            &format!("{}/tars/progress:absent", registry.address),
            None,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ImageUnavailable, "{error}");
    assert!(error.to_string().contains("not found"), "{error}");
}

#[tokio::test]
async fn credentials_are_sent_base64url() {
    if !ready("credentials_are_sent_base64url") {
        return;
    }
    let cleanup = Cleanup::new();
    let storage = tempfile::tempdir().unwrap();
    let open = Registry::start(storage.path(), None);
    let guarded = Registry::start(storage.path(), Some((USER, PASSWORD)));
    let local = local_reference(&cleanup, "auth");
    import_unique(&local, &cleanup.run_id, 64 * 1024);
    let pushed = push(&open, &local, "tars/auth:1", true);
    let remote = pushed.replacen(&open.address, &guarded.address, 1);
    let _untag = Untag(vec![remote.clone()]);
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;

    // The test is only meaningful if the standard alphabet would differ here.
    let json = format!(
        r#"{{"username":"{USER}","password":"{PASSWORD}","serveraddress":"{}"}}"#,
        guarded.address
    );
    let standard = base64::engine::general_purpose::STANDARD.encode(&json);
    assert!(
        standard.contains('+') || standard.contains('/'),
        "{standard}"
    );

    // Without credentials: refused.
    let error = rt.pull(&remote, None, &mut |_| {}).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ImageUnavailable, "{error}");

    // bollard's own DockerCredentials path (standard base64): the engine cannot decode the
    // header and pulls without credentials. This is why tarsdock sets the header itself.
    let stock = bollard::auth::DockerCredentials {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        serveraddress: Some(guarded.address.clone()),
        ..Default::default()
    };
    let (repository, tag) = remote.rsplit_once(':').unwrap();
    let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_image(repository)
        .tag(tag)
        .build();
    let stock_results: Vec<_> = rt
        .docker()
        .create_image(Some(options), None, Some(stock))
        .collect()
        .await;
    let stock_error = stock_results
        .iter()
        .find_map(|r| r.as_ref().err())
        .map(ToString::to_string)
        .expect("bollard's standard-base64 credentials are not understood by the engine");
    assert!(
        stock_error.contains("no basic auth credentials"),
        "{stock_error}"
    );

    // tarsdock's header: pulled.
    let auth = RegistryAuth {
        username: USER.into(),
        password: PASSWORD.into(),
        server_address: None,
    };
    let report = rt.pull(&remote, Some(&auth), &mut |_| {}).await.unwrap();
    assert!(report.id.starts_with("sha256:"));

    // A wrong password: a clear failure, and the password is not in the message.
    let _ = docker(&["rmi", &remote]);
    let wrong = RegistryAuth {
        password: "wrong-secret".into(),
        ..auth
    };
    let error = rt
        .pull(&remote, Some(&wrong), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ImageUnavailable, "{error}");
    assert!(error.to_string().contains("unauthorized"), "{error}");
    assert!(!error.to_string().contains("wrong-secret"));
}

#[tokio::test]
async fn an_error_inside_the_stream_fails_the_pull() {
    if !ready("an_error_inside_the_stream_fails_the_pull") {
        return;
    }
    let cleanup = Cleanup::new();
    let storage = tempfile::tempdir().unwrap();
    let registry = Registry::start(storage.path(), None);
    let local = local_reference(&cleanup, "broken");
    import_unique(&local, &cleanup.run_id, 256 * 1024);
    let remote = push(&registry, &local, "tars/broken:1", true);
    let _untag = Untag(vec![remote.clone()]);
    // Corrupt the layer (the only big blob): the manifest is served, the pull starts with
    // HTTP 200, and the failure arrives inside the progress stream.
    corrupt_big_blobs(&storage.path().join("docker/registry/v2/blobs"));
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let mut messages = 0;
    let error = rt
        .pull(&remote, None, &mut |_| messages += 1)
        .await
        .unwrap_err();
    match &error {
        Error::PullFailed {
            in_stream, message, ..
        } => {
            assert!(in_stream, "{error}");
            assert!(message.contains("verification failed"), "{message}");
        }
        other => panic!("expected an in-stream pull failure, got {other}"),
    }
    assert!(messages > 0, "progress arrived before the error");
    assert!(!docker(&["image", "inspect", &remote]).status.success());
}

#[tokio::test]
async fn launch_pulls_only_when_missing_or_different() {
    if !ready("launch_pulls_only_when_missing_or_different") {
        return;
    }
    let cleanup = Cleanup::new();
    let storage = tempfile::tempdir().unwrap();
    let registry = Registry::start(storage.path(), None);
    // The registry has the hello image under tars/app:1.
    let remote = push(&registry, &hello_image(), "tars/app:1", false);
    let expected = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &hello_image()]);
    let _untag = Untag(vec![remote.clone()]);
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let name = unique_name("pulled");
    let body = ContainerCreateBody {
        image: Some(remote.clone()),
        entrypoint: Some(vec!["/bin/sleep".into(), "3600".into()]),
        labels: Some(common::test_labels(&cleanup)),
        host_config: Some(HostConfig {
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut request = common::request(&name, &remote, body, vec![], vec![]);
    let pulls = Mutex::new(0);
    let mut count = |e: runtime::LaunchEvent| {
        if matches!(e, runtime::LaunchEvent::Pulling { .. }) {
            *pulls.lock().unwrap() += 1;
        }
    };

    // Missing: pulled.
    let first = rt
        .launch(&request, &LaunchOptions::default(), &mut count)
        .await
        .unwrap();
    assert_eq!(first.pulled.as_deref(), Some("not present on the engine"));
    assert_eq!(first.image_id, expected);

    // Present, no expected id: not pulled.
    let second = rt
        .launch(&request, &LaunchOptions::default(), &mut count)
        .await
        .unwrap();
    assert_eq!(second.pulled, None);
    assert_eq!(second.action, LaunchAction::Unchanged);

    // The local tag now points at another image: the container is replaced (no pull, no
    // expected id to compare with).
    let _ = docker_ok(&["tag", &base_image(), &remote]);
    let third = rt
        .launch(&request, &LaunchOptions::default(), &mut count)
        .await
        .unwrap();
    assert_eq!(third.pulled, None);
    assert_eq!(third.action, LaunchAction::Replaced);
    assert!(
        third
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("image changed")),
        "{third:?}"
    );
    assert_ne!(third.image_id, expected);

    // The node expects the registry's id: the local image differs, so it is pulled again
    // and the container replaced by one on the expected image.
    request.expected_image_id = Some(expected.clone());
    let fourth = rt
        .launch(&request, &LaunchOptions::default(), &mut count)
        .await
        .unwrap();
    assert!(
        fourth
            .pulled
            .as_deref()
            .is_some_and(|r| r.contains("differs from the expected")),
        "{fourth:?}"
    );
    assert_eq!(fourth.image_id, expected);
    assert_eq!(fourth.action, LaunchAction::Replaced);
    assert_eq!(*pulls.lock().unwrap(), 2);
}

fn corrupt_big_blobs(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read registry storage") {
        let path = entry.expect("storage entry").path();
        if path.is_dir() {
            corrupt_big_blobs(&path);
        } else if path.metadata().expect("blob metadata").len() > 16 * 1024 {
            std::fs::write(&path, b"corrupted").expect("corrupt blob");
        }
    }
}
