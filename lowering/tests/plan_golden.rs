//! Lowering the upstream worked example (`fixtures-upstream/golden/node-config-example`) and
//! the plan-level guarantees: tarsnode's port map, its mounts, a stable hash, determinism, and
//! bollard type identity.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::collections::BTreeMap;

use lowering::endpoint::Endpoint;
use lowering::ir::{ContainerPlan, MountOrigin, Target};
use lowering::lower::{Adapter, PlanOptions, Policy, lower};
use lowering::plan::{ServiceOverrides, plan_generated_config, service_from_config};
use serde_json::{Value, json};

const IMAGE: &str = "tarscloud/tars.cppbase:latest";

struct Example {
    inputs: Value,
    parse: parser::Parse,
}

fn example(test: &str) -> Option<Example> {
    let dir = testkit::upstream_fixtures(test)?.join("golden/node-config-example");
    Some(Example {
        inputs: serde_json::from_slice(&testkit::read(&dir.join("inputs.json"))).unwrap(),
        parse: parser::parse(testkit::read(&dir.join("node-generated-config.conf"))),
    })
}

/// The example planned as tarsnode would: the generated config, with the adapters published
/// on their configured endpoints (the config itself holds them rewritten to `0.0.0.0`).
fn plan_example(example: &Example, target: Target, host_path: Option<&str>) -> ContainerPlan {
    let (service, diagnostics) =
        service_from_config(&example.parse.config, &ServiceOverrides::default());
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let mut service = service.unwrap();
    service.adapters = example.inputs["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| Adapter {
            name: a["name"].as_str().unwrap().to_owned(),
            endpoint: Endpoint::parse(a["configured_endpoint"].as_str().unwrap()).unwrap(),
            line: None,
        })
        .collect();
    let options = PlanOptions {
        image: IMAGE.to_owned(),
        target,
        host_path: host_path.map(str::to_owned),
        ..PlanOptions::default()
    };
    let lowered = lower(&example.parse.config, &service, &options);
    assert!(!lowered.has_errors(), "{:#?}", lowered.diagnostics);
    lowered.plan.unwrap()
}

#[test]
fn bridge_ports_equal_tarsnode_port_map() {
    let Some(example) = example("bridge_ports_equal_tarsnode_port_map") else {
        return;
    };
    let plan = plan_example(&example, Target::Mac, None);
    let published: BTreeMap<String, String> = plan
        .network
        .ports()
        .iter()
        .map(|p| (p.key(), format!("{}:{}", p.host_ip, p.host_port)))
        .collect();
    let expected: BTreeMap<String, String> = example.inputs["container_ports_expected"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "note")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(published, expected);
}

#[test]
fn mounts_are_tarsnodes_defaults_plus_the_template_volume() {
    let Some(example) = example("mounts_are_tarsnodes_defaults_plus_the_template_volume") else {
        return;
    };
    let plan = plan_example(&example, Target::Linux, None);
    let mounts: Vec<(&str, &str)> = plan
        .mounts
        .iter()
        .map(|m| (m.source.as_str(), m.target.as_str()))
        .collect();
    // Upstream's std::map keyed by host path, in key order.
    assert_eq!(
        mounts,
        vec![
            ("/data/host/path", "/data/docker/path"),
            ("/etc/localtime", "/etc/localtime"),
            (
                "/usr/local/app/tars/app_log/",
                "/usr/local/app/tars/app_log/"
            ),
            (
                "/usr/local/app/tars/tarsnode/data/Test.HelloServer",
                "/usr/local/app/tars/tarsnode/data/Test.HelloServer"
            ),
        ]
    );
    assert!(matches!(plan.mounts[0].origin, MountOrigin::Template(_)));
    assert_eq!(
        plan.entrypoint,
        vec!["/usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/tars_start.sh"]
    );

    let rewritten = plan_example(&example, Target::Linux, Some("/data/tars"));
    let sources: Vec<&str> = rewritten.mounts.iter().map(|m| m.source.as_str()).collect();
    assert_eq!(
        sources,
        vec![
            "/data/host/path",
            "/data/tars/app_log",
            "/data/tars/tarsnode-data/Test.HelloServer",
            "/etc/localtime",
        ]
    );
}

/// The whole plan of the example (IR, Engine API body, argv) for both targets.
#[test]
fn upstream_example_snapshots() {
    let Some(example) = example("upstream_example_snapshots") else {
        return;
    };
    for (name, target) in [("linux", Target::Linux), ("mac", Target::Mac)] {
        let plan = plan_example(&example, target, Some("/data/tars"));
        let document = json!({
            "plan": plan,
            "create_body": lowering::docker::create_body_json(&lowering::docker::create_body(&plan)),
            "docker_run": lowering::docker::docker_run(&plan),
        });
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("snapshots/plan");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| {
            insta::assert_json_snapshot!(format!("upstream_example_{name}"), document);
        });
    }
}

const CONFIG: &str = "<tars>
  <application>
    <server>
      app=Test
      server=HelloServer
      basepath=/srv/Test.HelloServer/bin/
      datapath=/srv/Test.HelloServer/data/
      logpath=/srv/log/
    </server>
    <container>
      <volumes>
        /data/a=/data/a
      </volumes>
    </container>
  </application>
</tars>
";

fn plan_text(text: &str, options: &PlanOptions) -> lowering::lower::Lowered {
    let parse = parser::parse(text.as_bytes().to_vec());
    plan_generated_config(&parse.config, &ServiceOverrides::default(), options)
}

fn options() -> PlanOptions {
    PlanOptions {
        image: IMAGE.to_owned(),
        ..PlanOptions::default()
    }
}

#[test]
fn plan_hash_ignores_layout_and_follows_content() {
    let hash = |text: &str| plan_text(text, &options()).plan.unwrap().labels.plan_hash;
    let base = hash(CONFIG);
    let commented = CONFIG.replace("<volumes>\n", "<volumes>\n        # a comment\n\n");
    assert_eq!(
        hash(&commented),
        base,
        "comments and blank lines move spans only"
    );
    assert_ne!(
        hash(&CONFIG.replace("/data/a=/data/a", "/data/a=/data/b")),
        base
    );
    let mut other_image = options();
    other_image.image = "other".to_owned();
    assert_ne!(
        plan_text(CONFIG, &other_image)
            .plan
            .unwrap()
            .labels
            .plan_hash,
        base
    );
}

#[test]
fn lowering_is_deterministic_and_sorted() {
    let messy = CONFIG.replace(
        "/data/a=/data/a",
        "/data/a=/data/a\n        rel=x\n        /etc=/e\n        /data/b=/data/a",
    );
    let first = plan_text(&messy, &options());
    let second = plan_text(&messy, &options());
    assert_eq!(first.diagnostics, second.diagnostics);
    assert_eq!(first.plan, second.plan);
    let keys: Vec<_> = first
        .diagnostics
        .iter()
        .map(parser::Diagnostic::sort_key)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(first.has_errors());
}

#[test]
fn policy_turns_security_errors_into_warnings() {
    let text = CONFIG.replace(
        "      <volumes>",
        "      privileged=yes\n      <volumes>\n        /var/run/docker.sock=/var/run/docker.sock",
    );
    let refused = plan_text(&text, &options());
    assert!(refused.has_errors());
    assert!(!refused.plan.as_ref().unwrap().privileged);

    let mut allowed = options();
    allowed.policy = Policy::from_flags(true, true);
    let lowered = plan_text(&text, &allowed);
    assert!(!lowered.has_errors(), "{:#?}", lowered.diagnostics);
    let plan = lowered.plan.unwrap();
    assert!(plan.privileged);
    assert!(
        plan.mounts
            .iter()
            .any(|m| m.source == "/var/run/docker.sock")
    );
    let codes: Vec<&str> = lowered
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, vec!["TARS-X003", "TARS-X002"]);
    assert!(
        lowered
            .diagnostics
            .iter()
            .all(|d| d.severity == parser::Severity::Warning)
    );
}

/// `bollard_stubs::models` (what lowering depends on) and `bollard::models` (what the runtime
/// uses) must be one type; this stops compiling if the pin drifts from bollard's.
#[test]
fn create_body_is_bollards_type() {
    fn into_bollard(
        body: bollard_stubs::models::ContainerCreateBody,
    ) -> bollard::models::ContainerCreateBody {
        body
    }
    let plan = plan_text(CONFIG, &options()).plan.unwrap();
    let body = into_bollard(lowering::docker::create_body(&plan));
    let host = body.host_config.unwrap();
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.ipc_mode.as_deref(), Some("host"));
    assert_eq!(host.privileged, Some(false));
    assert_eq!(host.auto_remove, Some(false));
    assert_eq!(host.restart_policy, None);
    assert_eq!(body.working_dir.as_deref(), Some("/"));
    assert_eq!(body.cmd, None);
}

#[test]
fn restart_policy_uses_the_api_keys() {
    let mut with_restart = options();
    with_restart.restart_policy = lowering::ir::RestartPolicy::from_name("on-failure:5");
    let plan = plan_text(CONFIG, &with_restart).plan.unwrap();
    let json = lowering::docker::create_body_json(&lowering::docker::create_body(&plan));
    assert_eq!(
        json["HostConfig"]["RestartPolicy"],
        json!({"MaximumRetryCount": 5, "Name": "on-failure"})
    );
    let argv = lowering::docker::docker_run(&plan);
    let at = argv.iter().position(|a| a == "--restart").unwrap();
    assert_eq!(argv[at + 1], "on-failure:5");
}

/// With node inputs, the profile is rendered as `tarsdock render` does and the adapters are
/// published on their configured endpoints: the same port map as tarsnode's.
#[test]
fn rendered_profile_plans_tarsnodes_port_map() {
    let Some(dir) = testkit::upstream_fixtures("rendered_profile_plans_tarsnodes_port_map") else {
        return;
    };
    let dir = dir.join("golden/node-config-example");
    let inputs_json = testkit::read(&dir.join("inputs.json"));
    let inputs = lowering::render::NodeInputs::from_json(&inputs_json).unwrap();
    let profile = parser::parse(testkit::read(&dir.join("registry-merged-profile.conf")));
    let rendered = lowering::render::render(&profile.config, &inputs).unwrap();
    let options = PlanOptions {
        image: IMAGE.to_owned(),
        target: Target::Mac,
        ..PlanOptions::default()
    };
    let lowered = lowering::plan::plan_rendered(&rendered, &ServiceOverrides::default(), &options);
    assert!(!lowered.has_errors(), "{:#?}", lowered.diagnostics);
    let plan = lowered.plan.unwrap();
    let published: BTreeMap<String, String> = plan
        .network
        .ports()
        .iter()
        .map(|p| (p.key(), format!("{}:{}", p.host_ip, p.host_port)))
        .collect();
    let expected: Value = serde_json::from_slice(&inputs_json).unwrap();
    let expected: BTreeMap<String, String> = expected["container_ports_expected"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "note")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(published, expected);
}
