//! Benchmarks of `plan`'s pure part: reading the service from a generated config, checking the
//! `<container>` domain and lowering to the Engine API body and `docker run` argv.
//!
//! Inputs are made here: a generated service config (the shape tarsnode writes) with `n`
//! volume lines and `n` port lines. Run with `cargo bench -p lowering --bench lower`.

use std::fmt::Write as _;

use divan::{Bencher, black_box};
use lowering::ir::Target;
use lowering::lower::PlanOptions;
use lowering::plan::{ServiceOverrides, plan_generated_config};

fn main() {
    divan::main();
}

/// A generated config with two adapters and `n` volume and port lines.
fn config_text(n: usize) -> String {
    let mut text = String::from(
        "<tars>\n  <application>\n    <server>\n      node=tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000\n      app=Test\n      server=HelloServer\n      nodename=192.168.1.10\n      local=tcp -h 0.0.0.0 -p 30001 -t 10000\n      basepath=/usr/local/app/tars/tarsnode/data/Test.HelloServer/bin/\n      datapath=/usr/local/app/tars/tarsnode/data/Test.HelloServer/data/\n      logpath=/usr/local/app/tars/app_log/\n      deactivating-timeout=3000\n      <Test.HelloServer.HelloObjAdapter>\n        endpoint=tcp -h 0.0.0.0 -p 10001 -t 60000\n      </Test.HelloServer.HelloObjAdapter>\n      <Test.HelloServer.AdminObjAdapter>\n        endpoint=tcp -h 0.0.0.0 -p 10002 -t 60000\n      </Test.HelloServer.AdminObjAdapter>\n    </server>\n    <client>\n      locator=tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890\n    </client>\n    <container>\n      <volumes>\n",
    );
    for i in 0..n {
        let _ = writeln!(text, "        /data/host/v{i}=/data/container/v{i}");
    }
    text.push_str("      </volumes>\n      <ports>\n");
    for i in 0..n {
        let _ = writeln!(text, "        {}/tcp=192.168.0.1:{}", 20000 + i, 40000 + i);
    }
    text.push_str("      </ports>\n    </container>\n  </application>\n</tars>\n");
    text
}

fn options(target: Target) -> PlanOptions {
    PlanOptions {
        image: "tarscloud/tars.cppbase:latest".to_owned(),
        target,
        host_path: Some("/data/tars".to_owned()),
        ..PlanOptions::default()
    }
}

/// Lower and validate an already parsed config (what `plan` adds on top of parsing).
#[divan::bench(args = [1, 10, 100, 1000], consts = [false, true])]
fn lower_and_validate<const MAC: bool>(bencher: Bencher<'_, '_>, n: usize) {
    let parse = parser::parse(config_text(n).into_bytes());
    let options = options(if MAC { Target::Mac } else { Target::Linux });
    let overrides = ServiceOverrides::default();
    bencher.bench_local(|| {
        let lowered = plan_generated_config(black_box(&parse.config), &overrides, &options);
        black_box(lowered)
    });
}

/// Parse, lower, validate and produce both outputs (the whole pure part of `tarsdock plan`).
#[divan::bench(args = [1, 10, 100])]
fn parse_lower_and_emit(bencher: Bencher<'_, '_>, n: usize) {
    let text: std::sync::Arc<[u8]> = config_text(n).into_bytes().into();
    let options = options(Target::Mac);
    let overrides = ServiceOverrides::default();
    bencher.bench_local(|| {
        let parse = parser::parse(std::sync::Arc::clone(black_box(&text)));
        let lowered = plan_generated_config(&parse.config, &overrides, &options);
        let outputs = lowered.plan.as_ref().map(|plan| {
            (
                lowering::docker::create_body_json(&lowering::docker::create_body(plan)),
                lowering::docker::docker_run(plan),
            )
        });
        black_box((lowered, outputs))
    });
}
