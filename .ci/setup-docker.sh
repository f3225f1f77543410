#!/bin/sh
# Makes sure the runtime's real-engine tests can run: a Docker engine answering on its
# socket, a static busybox for the test images, a local registry (Debian's
# docker-registry, with htpasswd from apache2-utils) for the pull tests, and unshare,
# nsenter and ip for the private dockerd the engine-restart tests start and break.
#
# Idempotent and quick when everything is already there (no apt call at all then). When no
# engine answers it starts dockerd in the background and waits for it. Under CI=true a
# missing engine is a failure; elsewhere it is a warning (the tests then skip visibly).
set -eu

socket="${DOCKER_HOST:-unix:///var/run/docker.sock}"
socket="${socket#unix://}"
log="${TARSDOCK_DOCKERD_LOG:-/tmp/tarsdock-dockerd.log}"

say() { echo "setup-docker: $*" >&2; }

engine_answers() {
    [ -S "$socket" ] && timeout 10 docker -H "unix://$socket" version >/dev/null 2>&1
}

# Packages to install, only for what is missing.
missing=""
dpkg -s busybox-static >/dev/null 2>&1 || missing="$missing busybox-static"
command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || missing="$missing docker.io"
[ -x /usr/bin/docker-registry ] || missing="$missing docker-registry"
command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
command -v flock >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 || missing="$missing util-linux"
# The private dockerd of the engine-restart tests runs in its own network namespace.
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"

if [ -n "$missing" ]; then
    say "installing:$missing"
    if [ "$(id -u)" -ne 0 ]; then
        say "not root: cannot install$missing"
        [ "${CI:-}" = "true" ] && exit 1
    else
        apt-get update -qq
        # shellcheck disable=SC2086 # word splitting of the package list is intended
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
fi

if engine_answers; then
    say "engine answers on $socket"
    exit 0
fi

if command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    say "no engine on $socket: starting dockerd (log: $log)"
    nohup dockerd -H "unix://$socket" >"$log" 2>&1 &
    i=0
    while [ $i -lt 60 ]; do
        if engine_answers; then
            say "engine started on $socket"
            exit 0
        fi
        i=$((i + 1))
        sleep 1
    done
    say "dockerd did not answer within 60 s; last log lines:"
    tail -n 20 "$log" >&2 || true
fi

if [ "${CI:-}" = "true" ]; then
    say "no Docker engine on $socket: the runtime tests need one under CI=true"
    exit 1
fi
say "warning: no Docker engine on $socket; engine tests will be SKIPPED"
exit 0
