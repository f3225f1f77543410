#!/usr/bin/env python3
"""deploy --mode native, before and after, interleaved in one run (BENCHMARKS.md "Deploy").

Usage: deploy_before_after.py BEFORE_BINARY AFTER_BINARY [N]

Scenarios per package: `unchanged` (the same package deployed again) and `new` (v1 and v2
alternately, so every deploy installs a package). Prints median wall time and median on-CPU
time (user+sys of the child) over N runs, and the after/before ratio."""
import io, os, random, shutil, statistics, subprocess, sys, tarfile, tempfile, time, json

BINARIES = {"before": sys.argv[1], "after": sys.argv[2]}
N = int(sys.argv[3]) if len(sys.argv) > 3 else 10
ROOT = tempfile.mkdtemp(prefix="secfs-bench-")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(REPO, "fixtures/deploy/hello")
HELLO = os.environ.get("TARSDOCK_TARSCPP_HELLO", os.path.join(REPO, "../shared/third-party/tarscpp-hello"))

def make_large(path, version):
    """A Java-like service: 200 incompressible 256 KiB 'jars', 800 small text files, 1 binary."""
    rnd = random.Random(42)
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        def add(name, data, mode=0o644):
            info = tarfile.TarInfo(name); info.size = len(data); info.mode = mode
            tar.addfile(info, io.BytesIO(data))
        add("Large/Large", b"#!/bin/sh\nexec sleep 1000\n" + version.encode(), 0o755)
        for i in range(200):
            add(f"Large/lib/dep{i}.jar", rnd.randbytes(256 * 1024))
        for i in range(800):
            add(f"Large/conf/c{i}.properties", (f"key{i}=value {i}\n" * 40).encode())
        add("Large/VERSION", version.encode())

def make_hello(path, version):
    """Upstream's HelloServer package, plus a VERSION file to tell versions apart."""
    with tarfile.open(os.path.join(HELLO, "HelloServer.tgz")) as src, \
         tarfile.open(path, "w:gz") as tar:
        for m in src.getmembers():
            tar.addfile(m, src.extractfile(m) if m.isfile() else None)
        info = tarfile.TarInfo("HelloServer/VERSION"); data = version.encode(); info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

packages = {}
for name, make in [("HelloServer", make_hello), ("Large", make_large)]:
    for v in ("1", "2"):
        p = os.path.join(ROOT, f"{name}-{v}.tgz"); make(p, v); packages[(name, v)] = p
inputs = os.path.join(ROOT, "inputs.json")
json.dump({"node_key": "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000",
           "adapters": [], "macros": {"localip": "127.0.0.1", "enableset": "n", "setdivision": "NULL"}},
          open(inputs, "w"))

def deploy(binary, tars, server, package):
    args = [binary, "deploy", f"Bench.{server}", "--json", "--mode", "native", "--package", package,
            "--template", f"{FIX}/template.conf", "--profile", f"{FIX}/profile.conf",
            "--node-inputs", inputs, "--image", "unused", "--server-type", "cpp",
            "--tars-path", tars, "--log-path", f"{tars}/app_log", "--lock-dir", f"{tars}/locks"]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{binary} failed: {err.decode()}")
    return wall, json.loads(out)

import resource
def cpu_of(fn):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

results = {}
for server in ("HelloServer", "Large"):
    tars = {k: os.path.join(ROOT, f"tars-{k}-{server}") for k in BINARIES}
    # First install, not measured.
    for k, b in BINARIES.items():
        deploy(b, tars[k], server, packages[(server, "1")])
    for scenario in ("unchanged", "new"):
        for i in range(N):
            for k, b in BINARIES.items():
                version = "1" if scenario == "unchanged" or i % 2 == 1 else "2"
                (wall, report), cpu = cpu_of(lambda: deploy(b, tars[k], server, packages[(server, version)]))
                expected = "unchanged" if scenario == "unchanged" else "replaced"
                assert report["bin"]["action"] == expected, (k, scenario, report["bin"])
                results.setdefault((server, scenario, k), []).append((wall, cpu))

sizes = {s: os.path.getsize(packages[(s, "1")]) for s in ("HelloServer", "Large")}
print(f"N={N} runs per cell, medians; load average {open('/proc/loadavg').read().split()[0]} (machine shared, 2 cores)")
print("| package | tgz | scenario | before wall | after wall | before CPU | after CPU | CPU after/before |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for server in ("HelloServer", "Large"):
    for scenario in ("unchanged", "new"):
        b = results[(server, scenario, "before")]; a = results[(server, scenario, "after")]
        bw = statistics.median(w for w, _ in b); aw = statistics.median(w for w, _ in a)
        bc = statistics.median(c for _, c in b); ac = statistics.median(c for _, c in a)
        print(f"| {server} | {sizes[server]/1e6:.1f} MB | {scenario} | {bw*1000:.0f} ms | {aw*1000:.0f} ms | {bc*1000:.0f} ms | {ac*1000:.0f} ms | {ac/bc:.2f} |")
shutil.rmtree(ROOT)
