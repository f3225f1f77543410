//! The mount and container policy where it meets the engine (issue 12 items 3, 4, 5): a
//! launch request asking for host namespaces, capabilities, the host's `/` or the engine's
//! socket is refused and nothing is created; a host path swapped for a link between the plan
//! and the create is caught by the runtime's own check; `deploy` refuses a log path that
//! leads into a sensitive directory before it writes anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lowering::ir::Target;
use lowering::lower::{PlanOptions, Policy};
use lowering::plan::{ServiceOverrides, plan_generated_config};
use lowering::render::NodeInputs;
use runtime::models::{ContainerCreateBody, HostConfig};
use runtime::{LaunchAction, LaunchOptions, LaunchRequest};
use testkit::docker::{Cleanup, base_image, engine_available, socket_path, unique_name};

/// A sleeping container with `host_config`, labelled for cleanup.
fn request(name: &str, cleanup: &Cleanup, host_config: HostConfig) -> LaunchRequest {
    let image = base_image();
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        entrypoint: Some(vec!["/bin/sleep".into(), "3600".into()]),
        labels: Some(common::test_labels(cleanup)),
        host_config: Some(HostConfig {
            init: Some(true),
            network_mode: Some("host".into()),
            ..host_config
        }),
        ..Default::default()
    };
    common::request(name, &image, body, vec![], vec![])
}

#[tokio::test]
async fn launch_requests_asking_for_the_host_are_refused_and_nothing_is_created() {
    if !engine_available("launch_requests_asking_for_the_host_are_refused") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let socket = socket_path().display().to_string();
    let cases: Vec<(&str, HostConfig, &str)> = vec![
        (
            "pid",
            HostConfig {
                pid_mode: Some("host".into()),
                ..Default::default()
            },
            "HostConfig.PidMode = host",
        ),
        (
            "cap",
            HostConfig {
                cap_add: Some(vec!["SYS_ADMIN".into()]),
                ..Default::default()
            },
            "HostConfig.CapAdd = SYS_ADMIN",
        ),
        (
            "root",
            HostConfig {
                mounts: Some(vec![common::bind(Path::new("/"), Path::new("/host"))]),
                ..Default::default()
            },
            "mount /:/host",
        ),
        (
            "socket",
            HostConfig {
                mounts: Some(vec![common::bind(
                    Path::new(&socket),
                    Path::new("/var/run/docker.sock"),
                )]),
                ..Default::default()
            },
            "--allow engine-socket",
        ),
        (
            "binds",
            HostConfig {
                binds: Some(vec!["/:/host:ro".into()]),
                ..Default::default()
            },
            "request field HostConfig.Binds[0]",
        ),
    ];
    for (case, host_config, expected) in cases {
        let name = unique_name(&format!("policy-{case}"));
        let request = request(&name, &cleanup, host_config);
        let error = rt
            .launch(&request, &LaunchOptions::default(), &mut |_| {})
            .await
            .expect_err(case);
        assert_eq!(error.kind().as_str(), "policy-refused", "{case}: {error}");
        let message = error.to_string();
        assert!(message.contains(expected), "{case}: {message}");
        assert!(message.contains("nothing was created"), "{message}");
        assert_eq!(
            rt.status(&name).await.unwrap().state,
            "absent",
            "{case}: a container was created"
        );
    }
}

#[tokio::test]
async fn an_allowance_lets_only_what_it_names_through() {
    if !engine_available("an_allowance_lets_only_what_it_names_through") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let options = LaunchOptions {
        policy: runtime::LaunchPolicy {
            allow: Policy::parse("cap-add").unwrap(),
            ..Default::default()
        },
        ..LaunchOptions::default()
    };
    let name = unique_name("policy-allowed");
    let caps = HostConfig {
        cap_add: Some(vec!["NET_ADMIN".into()]),
        ..Default::default()
    };
    let report = rt
        .launch(
            &request(&name, &cleanup, caps.clone()),
            &options,
            &mut |_| {},
        )
        .await
        .unwrap();
    assert_eq!(report.action, LaunchAction::Created);

    let name = unique_name("policy-still-refused");
    let both = HostConfig {
        pid_mode: Some("host".into()),
        ..caps
    };
    let error = rt
        .launch(&request(&name, &cleanup, both), &options, &mut |_| {})
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("PidMode"), "{message}");
    assert!(!message.contains("CapAdd"), "{message}");
}

/// A service config for `name` under `root`, with one `<volumes>` line.
fn service_config(name: &str, root: &Path, volume: &str) -> Vec<u8> {
    let (app, server) = name.split_once('.').unwrap();
    format!(
        "<tars>\n<application>\n<server>\napp={app}\nserver={server}\n\
         basepath={root}/tarsnode/data/{name}/bin/\ndatapath={root}/tarsnode/data/{name}/data/\n\
         logpath={root}/app_log/\n</server>\n<container>\n<volumes>\n{volume}\n</volumes>\n\
         </container>\n</application>\n</tars>\n",
        root = root.display()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_link_swapped_in_after_the_plan_is_refused_before_create() {
    if !engine_available("a_link_swapped_in_after_the_plan_is_refused_before_create") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().canonicalize().unwrap();
    let name = unique_name("policy-swap");
    for dir in [
        format!("tarsnode/data/{name}/bin"),
        format!("tarsnode/data/{name}/data"),
        "app_log".to_owned(),
        "shared".to_owned(),
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let shared = root.join("shared");
    let config = parser::parse(service_config(
        &name,
        &root,
        &format!("{}=/shared", shared.display()),
    ))
    .config;
    let options = PlanOptions {
        image: base_image(),
        target: Target::Linux,
        entrypoint: Some(vec!["/bin/sleep".into(), "3600".into()]),
        ..PlanOptions::default()
    };
    let lowered = plan_generated_config(&config, &ServiceOverrides::default(), &options);
    assert!(!lowered.has_errors(), "{:#?}", lowered.diagnostics);
    let plan = lowered.plan.unwrap();
    let mut request = runtime::plan_request::launch_request(&plan, "test-node", None);
    request
        .body
        .labels
        .get_or_insert_with(Default::default)
        .extend([cleanup.label()]);
    common::rehash(&mut request);

    // Between the plan and the launch, the shared directory becomes a link to /etc.
    std::fs::remove_dir(&shared).unwrap();
    std::os::unix::fs::symlink("/etc", &shared).unwrap();

    let error = rt
        .launch(&request, &LaunchOptions::default(), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.kind().as_str(), "policy-refused", "{error}");
    let message = error.to_string();
    assert!(
        message.contains("which resolves to `/etc`") && message.contains("=/shared)"),
        "the refusal names the mount, where it leads and its template line: {message}"
    );
    assert_eq!(rt.status(&name).await.unwrap().state, "absent");
}

#[tokio::test]
async fn a_stopped_container_whose_mount_became_a_link_is_not_started_again() {
    if !engine_available("a_stopped_container_whose_mount_became_a_link") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let temp = tempfile::tempdir().unwrap();
    let shared = temp.path().canonicalize().unwrap().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let name = unique_name("policy-restart");
    let request = request(
        &name,
        &cleanup,
        HostConfig {
            mounts: Some(vec![common::bind(&shared, Path::new("/shared"))]),
            ..Default::default()
        },
    );
    let report = rt
        .launch(&request, &LaunchOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.action, LaunchAction::Created);
    rt.stop(
        &name,
        &runtime::StopOptions {
            timeout: Some(std::time::Duration::from_secs(1)),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // While it is stopped, its bind source becomes a link to /etc. The engine would follow it
    // when starting the existing container; the same plan must not start it.
    std::fs::remove_dir(&shared).unwrap();
    std::os::unix::fs::symlink("/etc", &shared).unwrap();
    let error = rt
        .launch(&request, &LaunchOptions::default(), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.kind().as_str(), "policy-refused", "{error}");
    assert!(error.to_string().contains("`/etc`"), "{error}");
    assert_ne!(rt.status(&name).await.unwrap().state, "running");
}

#[tokio::test]
async fn restart_checks_the_mounts_as_they_resolve_now_with_the_recorded_allowances() {
    if !engine_available("restart_checks_the_mounts_as_they_resolve_now") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let temp = tempfile::tempdir().unwrap();
    let shared = temp.path().canonicalize().unwrap().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let grace = Some(std::time::Duration::from_secs(1));

    // Created with an allowance (the engine socket, mounted): recorded on the container, so
    // restart checks with it.
    let name = unique_name("policy-restart-check");
    let options = LaunchOptions {
        policy: runtime::LaunchPolicy {
            allow: Policy::parse("engine-socket").unwrap(),
            ..Default::default()
        },
        ..LaunchOptions::default()
    };
    let request = request(
        &name,
        &cleanup,
        HostConfig {
            mounts: Some(vec![
                common::bind(&shared, Path::new("/shared")),
                common::bind(&socket_path(), Path::new("/var/run/docker.sock")),
            ]),
            ..Default::default()
        },
    );
    let launched = rt.launch(&request, &options, &mut |_| {}).await.unwrap();
    let labels = testkit::docker::docker_ok(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"tarsdock.allowed\"}}",
        &name,
    ]);
    assert_eq!(labels.trim(), "engine-socket");
    let restarted = rt.restart(&name, grace, false).await.unwrap();
    assert_eq!(restarted.state, "running");

    // While it runs, its bind source becomes a link to /etc (as another service that can
    // write its parent could make it). The next start would mount /etc: restart refuses
    // before it stops anything.
    std::fs::remove_dir(&shared).unwrap();
    std::os::unix::fs::symlink("/etc", &shared).unwrap();
    let before = rt.status(&name).await.unwrap();
    let error = rt.restart(&name, grace, false).await.unwrap_err();
    assert_eq!(error.kind().as_str(), "policy-refused", "{error}");
    let message = error.to_string();
    assert!(message.contains("`/etc`"), "{message}");
    assert!(message.contains("the existing container's"), "{message}");
    assert!(
        !message.contains("engine-socket"),
        "the recorded allowance holds: {message}"
    );
    let after = rt.status(&name).await.unwrap();
    assert_eq!(after.state, "running");
    assert_eq!(after.pid, before.pid, "the running service was left alone");
    assert_eq!(after.id.as_deref(), Some(launched.id.as_str()));

    // A relaunch without the allowance is refused too (the socket), and replaces nothing.
    std::fs::remove_file(&shared).unwrap();
    std::fs::create_dir(&shared).unwrap();
    let error = rt
        .launch(&request, &LaunchOptions::default(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(error.to_string().contains("engine-socket"), "{error}");
    assert_eq!(rt.status(&name).await.unwrap().pid, after.pid);
}

#[tokio::test]
async fn a_mount_inside_another_containers_writable_mount_is_refused() {
    if !engine_available("a_mount_inside_another_containers_writable_mount_is_refused") {
        return;
    }
    let cleanup = Cleanup::new();
    let locks = tempfile::tempdir().unwrap();
    let rt = common::connect(locks.path()).await;
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().canonicalize().unwrap();
    let shared = root.join("shared");
    let sub = shared.join("sub");
    let read_only = root.join("read-only");
    for dir in [&sub, &read_only.join("sub")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let bind = |source: &Path, read_only: bool| {
        let mut mount = common::bind(source, Path::new("/m"));
        mount.read_only = Some(read_only);
        HostConfig {
            mounts: Some(vec![mount]),
            ..Default::default()
        }
    };
    let launch = |name: &str, host_config: HostConfig, allow: &str| {
        let request = request(name, &cleanup, host_config);
        let options = LaunchOptions {
            policy: runtime::LaunchPolicy {
                allow: Policy::parse(allow).unwrap(),
                ..Default::default()
            },
            ..LaunchOptions::default()
        };
        let rt = &rt;
        async move { rt.launch(&request, &options, &mut |_| {}).await }
    };

    // A writes `shared`; B asks for `shared/sub`: A could turn `sub` into a link to /etc, and
    // the engine would follow it at B's next start (its own keepalive restarts included).
    let a = unique_name("policy-outer");
    launch(&a, bind(&shared, false), "").await.unwrap();
    let b = unique_name("policy-inner");
    let error = launch(&b, bind(&sub, false), "").await.unwrap_err();
    assert_eq!(error.kind().as_str(), "policy-refused", "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("which container {a} can write")),
        "{message}"
    );
    assert!(message.contains("--allow nested-mounts"), "{message}");
    assert_eq!(rt.status(&b).await.unwrap().state, "absent");
    // The other way round: C would write the directory that holds A's mount.
    let c = unique_name("policy-holder");
    let error = launch(&c, bind(&root, false), "").await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("a mount of container {a}")),
        "{error}"
    );
    // Read-only, C could not; and what is allowed goes through.
    launch(&c, bind(&root, true), "").await.unwrap();
    launch(&b, bind(&sub, false), "nested-mounts")
        .await
        .unwrap();
    // A read-only outer mount holds nothing anyone could swap.
    let d = unique_name("policy-ro-outer");
    launch(&d, bind(&read_only, true), "").await.unwrap();
    let e = unique_name("policy-ro-inner");
    launch(&e, bind(&read_only.join("sub"), false), "")
        .await
        .unwrap();

    // G came first; H, allowed, writes the directory that holds G's mount. G's own next start
    // by tarsdock (a restart) is refused: H could have swapped G's path in the meantime.
    let g_root = root.join("g");
    std::fs::create_dir_all(g_root.join("sub")).unwrap();
    let g = unique_name("policy-first");
    launch(&g, bind(&g_root.join("sub"), false), "")
        .await
        .unwrap();
    let h = unique_name("policy-second");
    launch(&h, bind(&g_root, false), "nested-mounts")
        .await
        .unwrap();
    let before = rt.status(&g).await.unwrap();
    let error = rt
        .restart(&g, Some(std::time::Duration::from_secs(1)), false)
        .await
        .unwrap_err();
    assert_eq!(error.kind().as_str(), "policy-refused", "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("which container {h} can write")),
        "{error}"
    );
    assert_eq!(
        rt.status(&g).await.unwrap().pid,
        before.pid,
        "G was left running"
    );
}

/// A package with one executable, `<server>/<server>`.
fn package(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join(format!("{server}.tgz"));
    let file = std::fs::File::create(&path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let body = b"#!/bin/sh\nexec sleep 3600\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o755);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, format!("{server}/{server}"), &body[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    path
}

fn deploy_input<'a>(
    profile: &'a parser::Config,
    package: &Path,
    tars_path: &str,
    log_path: &str,
) -> runtime::deploy::DeployInput<'a> {
    runtime::deploy::DeployInput {
        app: "PolicyTest".into(),
        server: "Hello".into(),
        node: "test-node".into(),
        package: package.to_path_buf(),
        profile,
        node_inputs: NodeInputs {
            container_mode: false,
            node_key: "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000".into(),
            local: None,
            adapters: vec![],
            macros: BTreeMap::new(),
        },
        image: base_image(),
        server_type: runtime::script::ServerType::Cpp,
        mode: runtime::script::RunMode::Native,
        target: Target::Linux,
        tars_path: tars_path.to_owned(),
        log_path: log_path.to_owned(),
        host_path: None,
        policy: Policy::default(),
        limits: runtime::package::Limits::default(),
        restart_policy: None,
    }
}

#[test]
fn deploy_refuses_paths_that_lead_into_sensitive_directories_before_writing() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().canonicalize().unwrap();
    let package = package(&root, "Hello");
    let profile = parser::parse(
        b"<tars>\n<application>\n<server>\napp=${app}\nserver=${server}\n\
          basepath=${basepath}\ndatapath=${datapath}\nlogpath=${logpath}\n</server>\n\
          </application>\n</tars>\n"
            .to_vec(),
    )
    .config;
    let tars = root.join("tars").display().to_string();

    // The log path is a link into /run (runtime state, where the engines' sockets are).
    let target = PathBuf::from(format!(
        "/run/tarsdock-policy-{}",
        testkit::docker::run_id()
    ));
    std::fs::create_dir(&target).unwrap();
    let link = root.join("logs");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let input = deploy_input(&profile, &package, &tars, &link.display().to_string());
    let result = runtime::deploy::prepare(&input);
    let written = target.join("PolicyTest").exists();
    let _ = std::fs::remove_dir_all(&target);
    let error = result.expect_err("a log path leading into /run is refused");
    assert!(!written, "deploy wrote into {}", target.display());
    let message = error.to_string();
    assert!(
        message.contains("--log-path") && message.contains(&target.display().to_string()),
        "{message}"
    );
    assert_eq!(error.kind(), runtime::deploy::DeployErrorKind::Usage);

    // Sensitive paths as written: refused before anything is created.
    for (tars_path, log_path, needle) in [
        (tars.as_str(), "/etc", "`/etc`"),
        ("/", "/data/x/app_log", "--tars-path `/`"),
        (tars.as_str(), tars.as_str(), "tars root"),
    ] {
        let input = deploy_input(&profile, &package, tars_path, log_path);
        let message = runtime::deploy::prepare(&input).unwrap_err().to_string();
        assert!(
            message.contains(needle),
            "{tars_path} {log_path}: {message}"
        );
    }
    assert!(!Path::new(&tars).exists(), "nothing was laid out");

    // The same layout with ordinary paths deploys.
    let input = deploy_input(&profile, &package, &tars, &format!("{tars}/app_log"));
    let deployment = runtime::deploy::prepare(&input).unwrap();
    assert_eq!(deployment.name, "PolicyTest.Hello");
}
