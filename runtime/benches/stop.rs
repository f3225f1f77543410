//! Stop latency of a real Tars server (upstream's HelloServer, from
//! `../shared/third-party/tarscpp-hello` or `TARSDOCK_TARSCPP_HELLO`), side by side in one
//! run: tarsdock's graceful stop (`AdminF::shutdown`, then waiting for the server's own
//! exit), the engine's stop (`POST /containers/{id}/stop` with the planned grace period — the
//! stop signal goes to `sh tars_start.sh` as PID 1, which holds it while the server runs, so
//! it ends in SIGKILL when the grace period is over), and a kill (`POST …/kill`, SIGKILL).
//!
//! Each iteration starts the container and waits until the server answers (not timed), then
//! times one stop until the engine reports the container not running. A benchmark, not a test:
//! `cargo bench -p runtime --bench stop`; `TARSDOCK_BENCH_ITERS` sets the iterations per
//! scenario (default 5). Prints a Markdown table (wall-clock milliseconds: a stop is waiting,
//! not computing). Everything it creates carries `tarsdock.test=<run id>` and is removed.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::{KillContainerOptionsBuilder, StopContainerOptionsBuilder};
use lowering::ir::Target;
use lowering::lower::Policy;
use lowering::render::{AdapterInput, NodeInputs};
use runtime::deploy::{DeployInput, prepare};
use runtime::script::{RunMode, ServerType};
use runtime::{EngineAddress, LaunchOptions, Runtime, RuntimeOptions, StopOptions};
use testkit::docker::{Cleanup, base_image, engine_available, free_port, socket_path, unique_name};

fn main() {
    if !engine_available("bench stop") {
        return;
    }
    let Some(hello) = testkit::tarscpp_hello("bench stop") else {
        return;
    };
    let Some(upstream) = testkit::upstream_fixtures("bench stop") else {
        return;
    };
    let iterations: usize = std::env::var("TARSDOCK_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let cleanup = Cleanup::new();
    let temp = tempfile::tempdir().unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = tokio
        .block_on(Runtime::connect(
            &EngineAddress::Unix(socket_path()),
            RuntimeOptions {
                lock_dir: temp.path().join("locks"),
                ..RuntimeOptions::default()
            },
        ))
        .unwrap();

    // HelloServer laid out over upstream's templates, as `tarsdock deploy` does.
    let mut profile =
        parser::parse(testkit::read(&upstream.join("templates/tars.default.conf"))).config;
    let cpp = parser::parse(testkit::read(
        &upstream.join("templates/tars.cpp.default.conf"),
    ));
    profile.join(&cpp.config, true).unwrap();
    let name = unique_name("stopbench");
    let (app, _) = name.split_once('.').unwrap();
    let service = format!("{app}.HelloServer");
    let (port, local) = (free_port(), free_port());
    let tars = temp.path().join("tars").display().to_string();
    let input = DeployInput {
        app: app.to_owned(),
        server: "HelloServer".to_owned(),
        node: "bench".to_owned(),
        package: hello.join("HelloServer.tgz"),
        profile: &profile,
        node_inputs: NodeInputs {
            container_mode: true,
            node_key: "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000".to_owned(),
            local: Some(format!("tcp -h 127.0.0.1 -p {local} -t 10000")),
            adapters: vec![AdapterInput {
                name: format!("{service}.HelloObjAdapter"),
                configured_endpoint: Some(format!("tcp -h 127.0.0.1 -p {port} -t 60000")),
                endpoint: None,
                allow: String::new(),
                maxconns: "1024".to_owned(),
                protocol: "tars".to_owned(),
                queuecap: "1024".to_owned(),
                queuetimeout: "60000".to_owned(),
                servant: format!("{service}.HelloObj"),
                threads: "1".to_owned(),
            }],
            macros: BTreeMap::from([
                ("localip".to_owned(), "127.0.0.1".to_owned()),
                ("nodename".to_owned(), "bench".to_owned()),
                ("enableset".to_owned(), "n".to_owned()),
                ("setdivision".to_owned(), "NULL".to_owned()),
                ("asyncthread".to_owned(), "1".to_owned()),
                ("modulename".to_owned(), service.clone()),
                (
                    "locator".to_owned(),
                    "tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890".to_owned(),
                ),
            ]),
        },
        image: base_image(),
        server_type: ServerType::Cpp,
        mode: RunMode::Container,
        target: Target::Linux,
        tars_path: tars.clone(),
        log_path: format!("{tars}/app_log"),
        host_path: None,
        policy: Policy::default(),
        limits: runtime::package::Limits::default(),
        restart_policy: None,
    };
    let deployment = prepare(&input).unwrap();
    let mut request = deployment.request.unwrap();
    let (key, value) = cleanup.label();
    request
        .body
        .labels
        .get_or_insert_with(Default::default)
        .insert(key, value);
    let launched = tokio
        .block_on(rt.launch(&request, &LaunchOptions::default(), &mut |_| {}))
        .unwrap();
    let id = launched.id.clone();
    let docker = rt.docker().clone();
    let admin: std::net::SocketAddr = format!("127.0.0.1:{local}").parse().unwrap();
    // The planned grace period: the container's stop timeout (deactivating-timeout, 3 s).
    let grace = 3;

    let ready = || {
        tokio.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(30);
            while runtime::admin::notify(admin, "tars.viewstatus", Duration::from_secs(1))
                .await
                .is_err()
            {
                assert!(Instant::now() < deadline, "HelloServer never answered");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    };
    let start = || {
        tokio.block_on(docker.start_container(&id, None)).unwrap();
        ready();
    };
    let wait_stopped = || {
        tokio.block_on(runtime::admin::wait_not_running(
            &docker,
            &id,
            Duration::from_secs(60),
        ))
    };

    let mut rows: Vec<(&str, Vec<f64>, String)> = Vec::new();
    // 1. tarsdock stop: AdminF::shutdown first.
    let mut times = Vec::new();
    let mut outcome = BTreeMap::new();
    for _ in 0..iterations {
        ready();
        let started = Instant::now();
        let report = tokio
            .block_on(rt.stop(
                &service,
                &StopOptions {
                    timeout: Some(Duration::from_secs(grace)),
                    ..StopOptions::default()
                },
            ))
            .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        *outcome
            .entry(format!(
                "{} (exit {})",
                report.ended_by.map_or("?", |e| e.as_str()),
                report.exit_code.unwrap_or(-1)
            ))
            .or_insert(0) += 1;
        start();
    }
    rows.push((
        "tarsdock stop (AdminF::shutdown)",
        times,
        describe(&outcome),
    ));

    // 2. The engine's stop with the planned grace period.
    let mut times = Vec::new();
    let mut outcome = BTreeMap::new();
    for _ in 0..iterations {
        let options = StopContainerOptionsBuilder::default()
            .t(grace as i32)
            .build();
        let started = Instant::now();
        tokio
            .block_on(docker.stop_container(&id, Some(options)))
            .unwrap();
        assert!(wait_stopped());
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        *outcome.entry(exit_of(&tokio, &docker, &id)).or_insert(0) += 1;
        start();
    }
    rows.push((
        "engine stop (stop signal, 3 s grace)",
        times,
        describe(&outcome),
    ));

    // 3. A kill.
    let mut times = Vec::new();
    let mut outcome = BTreeMap::new();
    for _ in 0..iterations {
        let options = KillContainerOptionsBuilder::default()
            .signal("KILL")
            .build();
        let started = Instant::now();
        tokio
            .block_on(docker.kill_container(&id, Some(options)))
            .unwrap();
        assert!(wait_stopped());
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        *outcome.entry(exit_of(&tokio, &docker, &id)).or_insert(0) += 1;
        start();
    }
    rows.push(("kill (SIGKILL)", times, describe(&outcome)));

    println!(
        "\n{iterations} stops each, wall-clock ms\n\n\
         | scenario | median | min | max | how it ended |\n| --- | ---: | ---: | ---: | --- |"
    );
    for (scenario, mut times, outcome) in rows {
        times.sort_by(f64::total_cmp);
        println!(
            "| {scenario} | {:.0} | {:.0} | {:.0} | {outcome} |",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
    let _ = tokio.block_on(rt.remove(&service, Some(Duration::from_secs(1)), false));
}

fn exit_of(tokio: &tokio::runtime::Runtime, docker: &bollard::Docker, id: &str) -> String {
    let inspect = tokio.block_on(docker.inspect_container(id, None)).unwrap();
    let code = inspect.state.and_then(|s| s.exit_code).unwrap_or(-1);
    match code {
        137 => "SIGKILL (exit 137)".to_owned(),
        code => format!("exit {code}"),
    }
}

fn describe(outcome: &BTreeMap<String, usize>) -> String {
    outcome
        .iter()
        .map(|(what, n)| format!("{n}× {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}
