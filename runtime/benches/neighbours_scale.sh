#!/bin/bash
# Usage: neighbours_scale.sh [TARSDOCK_BINARY]   (BENCHMARKS.md "The neighbour check as the node grows")
# Launch latency of one new container while N other containers tarsdock made (each with three
# bind mounts, stopped) are on the engine, for N = 0, 50, 200, 500: `tarsdock launch --request`
# (which lists them and checks its mounts against theirs before create) beside `docker run -d`
# of the same container and the list call alone (curl on the socket), 7 times each, in one run.
# IMAGE: a busybox base image (default: the engine tests' `tarsdock-test/base:*`). Everything
# it creates carries the label tarsdock.test=scale and is removed at the end.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$REPO/target/release/tarsdock}
IMAGE=${IMAGE:-$(docker images --format '{{.Repository}}:{{.Tag}}' tarsdock-test/base | head -1)}
SOCKET=${SOCKET:-/var/run/docker.sock}
WORK=$(mktemp -d)
trap 'docker ps -aq --filter label=tarsdock.test=scale | xargs -r docker rm -f >/dev/null; rm -rf "$WORK"' EXIT
mkdir -m 700 "$WORK/locks"
FILTER='%7B%22label%22%3A%5B%22tarsdock.managed-by%3Dtarsdock%22%5D%7D'
now_us() { echo $(( $(date +%s%N) / 1000 )); }
sorted() { printf '%s\n' "$@" | sort -n | tr '\n' ' '; }
present=0
for N in 0 50 200 500; do
  while [ "$present" -lt "$N" ]; do
    d=$WORK/n$present; mkdir -p "$d/a" "$d/b" "$d/c"
    docker create -q --label tarsdock.managed-by=tarsdock --label tarsdock.app=S \
      --label tarsdock.server="n$present" --label tarsdock.node=x --label tarsdock.plan-hash=x \
      --label tarsdock.test=scale --mount "type=bind,src=$d/a,dst=/a" \
      --mount "type=bind,src=$d/b,dst=/b" --mount "type=bind,src=$d/c,dst=/c" \
      --name "S.n$present" "$IMAGE" /bin/sleep 1 >/dev/null
    present=$((present + 1))
  done
  launch=(); run=(); list=()
  for i in 1 2 3 4 5 6 7; do
    mkdir -p "$WORK/new$i"
    cat > "$WORK/req.json" <<J
{"name":"Scale.new$N$i","app":"Scale","server":"new$N$i","node":"x","image":"$IMAGE",
 "body":{"Image":"$IMAGE","Entrypoint":["/bin/sleep","3600"],"Labels":{"tarsdock.test":"scale"},
 "HostConfig":{"Init":true,"NetworkMode":"host",
  "Mounts":[{"Type":"bind","Source":"$WORK/new$i","Target":"/m"}]}},
 "mounts":[]}
J
    s=$(now_us)
    "$BIN" launch --request "$WORK/req.json" --no-pull --lock-dir "$WORK/locks" >/dev/null || exit 1
    launch+=($(( $(now_us) - s )))
    docker rm -f "Scale.new$N$i" >/dev/null
    s=$(now_us)
    docker run -d --init --network host --label tarsdock.test=scale --name "Scale.run$N$i" \
      --mount "type=bind,src=$WORK/new$i,dst=/m" "$IMAGE" /bin/sleep 3600 >/dev/null
    run+=($(( $(now_us) - s )))
    docker rm -f "Scale.run$N$i" >/dev/null
    s=$(now_us)
    curl -s --unix-socket "$SOCKET" "http://x/containers/json?all=1&filters=$FILTER" >/dev/null
    list+=($(( $(now_us) - s )))
  done
  echo "N=$N tarsdock launch us: $(sorted "${launch[@]}")"
  echo "N=$N docker run -d us:   $(sorted "${run[@]}")"
  echo "N=$N list (curl) us:     $(sorted "${list[@]}")"
done
