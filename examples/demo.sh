#!/usr/bin/env bash
# The example end to end on a machine with Docker: build the package and the base image from
# scratch, deploy the service with one `tarsdock deploy`, show its status, send it a request,
# send it an admin command over the Tars protocol (`tarsdock notify`, AdminF::notify), and stop
# it the way tarsnode stops a Tars server (AdminF::shutdown on its local endpoint), printing
# which step ended it.
#
# Creates (and keeps, so you can look at them; nothing else is touched or removed):
#   target/example/HelloServer.tgz     the service package
#   target/demo/tars/...               the node layout: tarsnode/data/Demo.HelloServer/{bin,conf,data}
#   target/demo/tars/app_log/Demo/HelloServer/   the service's logs
#   image tarsdock-example/base:1      busybox-static base image
#   container Demo.HelloServer         the service (host network, port $DEMO_PORT), stopped
#                                      gracefully at the end (start it again with deploy)
# Environment: DEMO_PORT (default 18980), DEMO_ADMIN_PORT (the local endpoint, default 18981),
# DEMO_TARGET (linux or mac; default linux), DOCKER_HOST (default unix:///var/run/docker.sock).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PORT=${DEMO_PORT:-18980}
ADMIN_PORT=${DEMO_ADMIN_PORT:-18981}
TARGET=${DEMO_TARGET:-linux}
DEMO=$ROOT/target/demo
SERVICE=Demo.HelloServer

if ! docker info >/dev/null 2>&1; then
    echo "error: no Docker engine answers (docker info failed); start dockerd first" >&2
    exit 3
fi

OUT=$(bash examples/build.sh "$ROOT/target/example" 1.0 | tail -n 1)
PACKAGE=${OUT% *}
IMAGE=${OUT#* }

echo "== tarsdock (release build)" >&2
cargo build --release --quiet -p cli
TARSDOCK=${CARGO_TARGET_DIR:-$ROOT/target}/release/tarsdock

mkdir -p "$DEMO"
cat > "$DEMO/node-inputs.json" <<JSON
{
  "about": "What tarsnode would know about Demo.HelloServer on this node (see tarsdock render).",
  "node_key": "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000",
  "local": "tcp -h 127.0.0.1 -p $ADMIN_PORT -t 10000",
  "adapters": [
    {"name": "Demo.HelloServer.HelloObjAdapter",
     "configured_endpoint": "tcp -h 127.0.0.1 -p $PORT -t 60000",
     "servant": "Demo.HelloServer.HelloObj", "threads": "1", "maxconns": "1024",
     "queuecap": "1024", "queuetimeout": "60000", "protocol": "tars", "allow": ""}
  ],
  "macros": {"localip": "127.0.0.1", "nodename": "demo-node", "enableset": "n",
             "setdivision": "NULL"}
}
JSON

echo "== tarsdock deploy $SERVICE" >&2
"$TARSDOCK" deploy "$SERVICE" \
    --package "$PACKAGE" \
    --template examples/template.conf \
    --profile fixtures/deploy/hello/profile.conf \
    --node-inputs "$DEMO/node-inputs.json" \
    --image "$IMAGE" --server-type cpp --target "$TARGET" \
    --tars-path "$DEMO/tars" --log-path "$DEMO/tars/app_log" \
    --lock-dir "$DEMO/locks" --stop-timeout 2 >&2

echo "== tarsdock status $SERVICE" >&2
"$TARSDOCK" status "$SERVICE" >&2

# One request over TCP (bash's /dev/tcp), retried while the service starts.
answer=
for _ in $(seq 1 50); do
    # The braces keep `2>/dev/null` to this one exec: on a bare `exec` it would silence the
    # script's stderr from here on.
    if { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; then
        IFS= read -r -t 5 greeting <&3 || true
        printf 'hello\n' >&3
        IFS= read -r -t 5 answer <&3 || true
        printf 'quit\n' >&3
        exec 3<&- 3>&-
        [ -n "$answer" ] && break
    fi
    sleep 0.2
done
if [ -z "$answer" ]; then
    echo "error: no answer from 127.0.0.1:$PORT; see: $TARSDOCK logs $SERVICE" >&2
    exit 1
fi

echo "== tarsdock notify $SERVICE tars.viewstatus (AdminF::notify over the Tars protocol)" >&2
status=$("$TARSDOCK" notify "$SERVICE" tars.viewstatus --lock-dir "$DEMO/locks")
printf '%s\n' "$status" >&2

echo "== tarsdock stop $SERVICE (AdminF::shutdown first, as tarsnode stops a Tars server)" >&2
stop_json=$("$TARSDOCK" stop "$SERVICE" --json --lock-dir "$DEMO/locks")
ended_by=$(printf '%s\n' "$stop_json" | sed -n 's/^  "ended_by": "\(.*\)",$/\1/p')
"$TARSDOCK" status "$SERVICE" --lock-dir "$DEMO/locks" >&2

echo "created: $PACKAGE, $DEMO (node layout and logs), image $IMAGE, container $SERVICE (stopped)" >&2
echo "native start of the same directory:" >&2
echo "  cd $DEMO/tars/app_log/Demo/HelloServer/ && nohup $DEMO/tars/tarsnode/data/$SERVICE/bin/tars_start.sh >> $SERVICE.out 2>&1 &" >&2
echo "request: hello -> $answer"
echo "admin: tars.viewstatus -> $(printf '%s\n' "$status" | sed -n 2p)"
echo "stopped by: ${ended_by:-unknown}"
echo "start it again: bash examples/demo.sh   remove it: $TARSDOCK rm $SERVICE --lock-dir $DEMO/locks"
