//! Connecting: API version negotiation and platform detection against the real engine,
//! and the errors for an absent socket, a stale socket and an engine that never answers.

use std::os::unix::net::UnixListener;
use std::time::Duration;

use runtime::{EngineAddress, Error, ErrorKind, Platform, Runtime, RuntimeOptions};
use testkit::docker::{docker_ok, engine_available, socket_path};

#[tokio::test]
async fn negotiates_down_to_the_engine_api_and_detects_the_platform() {
    if !engine_available("negotiates_down_to_the_engine_api_and_detects_the_platform") {
        return;
    }
    let rt = Runtime::connect(
        &EngineAddress::Unix(socket_path()),
        RuntimeOptions::default(),
    )
    .await
    .unwrap();
    let server_api = docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    let negotiated = rt.api_version();
    // bollard starts at its own default and comes down to the engine's version.
    let as_pair = |v: &str| {
        let (major, minor) = v.split_once('.').unwrap();
        (major.parse::<u32>().unwrap(), minor.parse::<u32>().unwrap())
    };
    let default = format!(
        "{}.{}",
        bollard::API_DEFAULT_VERSION.major_version,
        bollard::API_DEFAULT_VERSION.minor_version
    );
    assert_eq!(
        as_pair(&negotiated),
        as_pair(&server_api).min(as_pair(&default)),
        "engine {server_api}, bollard {default}"
    );

    let info = rt.info().await.unwrap();
    let os_type = docker_ok(&["info", "--format", "{{.OSType}}"]);
    let os = docker_ok(&["info", "--format", "{{.OperatingSystem}}"]);
    assert_eq!(info.os_type.as_deref(), Some(os_type.as_str()));
    let expected = if os.contains("Docker Desktop") || os_type != "linux" {
        Platform::Mac
    } else {
        Platform::Linux
    };
    assert_eq!(info.platform, expected);
    assert_eq!(info.api_version, negotiated);
}

#[tokio::test]
async fn the_tarsnode_config_names_the_socket() {
    if !engine_available("the_tarsnode_config_names_the_socket") {
        return;
    }
    let config = format!(
        "<tars>\n  <node>\n    <container>\n      socket={}\n      timeout=300\n    </container>\n  </node>\n</tars>\n",
        socket_path().display()
    );
    let (address, source) =
        EngineAddress::resolve(None, Some(config.as_bytes()), Some("unix:///nowhere.sock"))
            .unwrap();
    assert_eq!(source, runtime::AddressSource::NodeConfig);
    Runtime::connect(&address, RuntimeOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_socket_is_unreachable_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let error = Runtime::connect(
        &EngineAddress::Unix(socket.clone()),
        RuntimeOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::EngineUnreachable);
    let message = error.to_string();
    assert!(message.contains(&socket.display().to_string()), "{message}");
    assert!(message.contains("no such socket"), "{message}");
}

#[tokio::test]
async fn a_stale_socket_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    // Bound and closed: the file stays, nothing listens.
    drop(UnixListener::bind(&socket).unwrap());
    let error = Runtime::connect(
        &EngineAddress::Unix(socket.clone()),
        RuntimeOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::EngineUnreachable, "{error}");
    assert!(error.to_string().contains("connection refused"), "{error}");
}

#[tokio::test]
async fn an_engine_that_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accepts connections and never replies.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let error = Runtime::connect(
        &EngineAddress::Unix(socket.clone()),
        RuntimeOptions {
            request_timeout: Duration::from_secs(1),
            ..RuntimeOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(
        error.to_string().contains(&socket.display().to_string()),
        "{error}"
    );
}
