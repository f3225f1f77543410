#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the upstream templates and golden cases. The corpus is
# git-ignored: upstream files are copied at run time, never committed.
#
#   fuzz/seed.sh            # then: cd fuzz && cargo +nightly fuzz run parse -- -jobs=1
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
upstream="${TARSDOCK_UPSTREAM_FIXTURES:-$here/../../shared/fixtures-upstream}"
templates="$upstream/templates"
if [ ! -d "$templates" ]; then
    echo "seed.sh: no upstream templates at $templates (set TARSDOCK_UPSTREAM_FIXTURES)" >&2
    exit 1
fi

for target in parse roundtrip fmt render; do
    mkdir -p "$here/corpus/$target"
    cp "$templates"/*.conf "$here/corpus/$target/"
done

# The small inputs of the upstream golden cases (quirks and errors), one file each.
cases="$upstream/golden/tc_config_cases.jsonl"
if command -v python3 > /dev/null && [ -f "$cases" ]; then
    python3 - "$cases" "$here/corpus" <<'PY'
import json, sys, pathlib
cases, corpus = sys.argv[1], pathlib.Path(sys.argv[2])
for n, line in enumerate(open(cases, encoding="utf-8")):
    if not line.strip():
        continue
    case = json.loads(line)
    if "input" in case:
        for target in ("parse", "roundtrip", "fmt"):
            (corpus / target / f"case-{n:02}").write_bytes(case["input"].encode())
    if "join_this" in case:
        flag = b"\x01" if case["bUpdate"] else b"\x00"
        data = flag + case["join_this"].encode() + b"\0" + case["join_other"].encode()
        (corpus / "join").mkdir(parents=True, exist_ok=True)
        (corpus / "join" / f"case-{n:02}").write_bytes(data)
PY
fi

# join: each template over its installer parent (`\0` separates them; first byte = update).
mkdir -p "$here/corpus/join"
for child in "$templates"/*.conf; do
    name="$(basename "$child" .conf)"
    case "$name" in
        tars.springboot) parent=tars.tarsjava.default ;;
        tars.tarsAdminRegistry | tars.tarsconfig | tars.tarsnotify | tars.tarsproperty | \
            tars.tarsqueryproperty | tars.tarsstat | tars.tarsquerystat | tars.tarsregistry)
            parent=tars.framework-db ;;
        *) parent=tars.default ;;
    esac
    { printf '\0'; cat "$child"; printf '\0'; cat "$templates/$parent.conf"; } \
        > "$here/corpus/join/$name"
done
echo "seeded: $(find "$here/corpus" -type f | wc -l) files in $here/corpus"

# The `unpack` target takes tar streams: a few small packages (a Tars layout, links, a hard
# link, a link through a link), written here so nothing binary is committed.
if command -v python3 > /dev/null; then
    mkdir -p "$here/corpus/unpack"
    python3 - "$here/corpus/unpack" <<'PY'
import io, sys, tarfile, pathlib
out = pathlib.Path(sys.argv[1])
def pack(name, entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, kind, extra in entries:
            info = tarfile.TarInfo(path)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "file":
                info.size, info.mode = len(extra), 0o755
                tar.addfile(info, io.BytesIO(extra))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, extra
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, extra
                tar.addfile(info)
    (out / name).write_bytes(buf.getvalue())
pack("tars-layout", [("Hello/", "dir", None), ("Hello/Hello", "file", b"\x7fELF"), ("Hello/lib/libx.so.1", "file", b"x"),
                     ("Hello/lib/libx.so", "sym", "libx.so.1"), ("Hello/copy", "hard", "Hello/Hello")])
pack("chained", [("Server", "file", b"x"), ("d/e/s1", "sym", "../.."), ("d/e/s2", "sym", "s1/../../.."), ("s3", "sym", "d/e/s1/d")])
pack("through", [("a", "sym", "b"), ("b/", "dir", None), ("a/x", "file", b"x"), ("b/a/..", "sym", ".")])
PY
fi
