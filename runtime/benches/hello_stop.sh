#!/bin/bash
# Usage: hello_stop.sh TARSDOCK_BINARY LABEL   (BENCHMARKS.md "Stopping a real server")
# Deploys upstream's HelloServer with tarsdock over tars.cpp.default/tars.default, checks it
# answers, then measures `docker stop -t 10`: wall time and exit code. Prints one line.
# IMAGE: a busybox base image (default: the engine tests' `tarsdock-test/base:*`).
set -euo pipefail
BIN=$1; LABEL=$2
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HELLO=${TARSDOCK_TARSCPP_HELLO:-$REPO/../shared/third-party/tarscpp-hello}
TPL=${TARSDOCK_UPSTREAM_FIXTURES:-$REPO/../shared/fixtures-upstream}/templates
IMAGE=${IMAGE:-$(docker images --format '{{.Repository}}:{{.Tag}}' tarsdock-test/base | head -1)}
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
LPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
APP=Msr$RANDOM
cat > $WORK/inputs.json <<J
{"node_key": "tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000",
 "local": "tcp -h 127.0.0.1 -p $LPORT -t 3000",
 "adapters": [{"name": "$APP.HelloServer.HelloObjAdapter",
   "configured_endpoint": "tcp -h 127.0.0.1 -p $PORT -t 60000",
   "servant": "$APP.HelloServer.HelloObj", "threads": "1", "maxconns": "1024",
   "queuecap": "1024", "queuetimeout": "60000", "protocol": "tars", "allow": ""}],
 "macros": {"localip": "127.0.0.1", "enableset": "n", "setdivision": "NULL",
   "locator": "tars.tarsregistry.QueryObj@tcp -h 127.0.0.1 -p 17890"}}
J
$BIN deploy $APP.HelloServer --json --package $HELLO/HelloServer.tgz \
  --template $TPL/tars.cpp.default.conf --parent $TPL/tars.default.conf \
  --node-inputs $WORK/inputs.json --image $IMAGE --server-type cpp \
  --tars-path $WORK/tars --log-path $WORK/tars/app_log --lock-dir $WORK/locks \
  --no-pull > $WORK/deploy.json 2> $WORK/deploy.err || { cat $WORK/deploy.err; exit 1; }
for i in $(seq 1 50); do
  if $HELLO/hello_client "$APP.HelloServer.HelloObj@tcp -h 127.0.0.1 -p $PORT -t 5000" ping >/dev/null 2>&1; then break; fi
  sleep 0.2
done
$HELLO/hello_client "$APP.HelloServer.HelloObj@tcp -h 127.0.0.1 -p $PORT -t 5000" ping
ID=$(docker ps -q --filter name=^/$APP.HelloServer$)
PID1=$(docker exec $ID cat /proc/1/cmdline | tr '\0' ' ')
START=$(date +%s.%N)
docker stop -t 10 $ID > /dev/null
END=$(date +%s.%N)
CODE=$(docker inspect -f '{{.State.ExitCode}}' $ID)
printf '%s: pid1=[%s] docker stop -t 10: %.2f s, exit code %s\n' "$LABEL" "$PID1" "$(echo "$END - $START" | bc)" "$CODE"
docker rm -f $ID > /dev/null
rm -rf $WORK
