#!/usr/bin/env bash
# Builds the example's two inputs from scratch, on a machine with only Docker (and apt):
#   1. the service package: a static `hello-service` packed as a Tars package,
#      `<out>/HelloServer.tgz` holding `HelloServer/HelloServer` and `HelloServer/VERSION`;
#   2. the base image `tarsdock-example/base:1`: Debian's static busybox (`/bin/sh` and friends)
#      imported with `docker import`, like a Tars base image (the service itself comes from the
#      package, mounted from the node).
# Usage: examples/build.sh [OUT_DIR] [VERSION]   (default: target/example, 1.0)
# Environment: TARSDOCK_STATIC_TARGET_DIR (default target/static) for the static build.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-target/example}
VERSION=${2:-1.0}
STATIC_TARGET=${TARSDOCK_STATIC_TARGET_DIR:-target/static}
IMAGE=${TARSDOCK_EXAMPLE_IMAGE:-tarsdock-example/base:1}
TRIPLE=x86_64-unknown-linux-gnu

if [ ! -x /bin/busybox ]; then
    echo "== installing busybox-static (static /bin/busybox for the base image)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq busybox-static >/dev/null
fi

echo "== static hello-service ($STATIC_TARGET)" >&2
RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$STATIC_TARGET" \
    cargo build --release --quiet --target "$TRIPLE" -p hello-service
BINARY="$STATIC_TARGET/$TRIPLE/release/hello-service"

echo "== package $OUT/HelloServer.tgz (version $VERSION)" >&2
mkdir -p "$OUT"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/HelloServer"
cp "$BINARY" "$STAGE/HelloServer/HelloServer"
chmod 755 "$STAGE/HelloServer/HelloServer"
echo "$VERSION" > "$STAGE/HelloServer/VERSION"
tar -C "$STAGE" -czf "$OUT/HelloServer.tgz" HelloServer

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "== base image $IMAGE (present)" >&2
else
    echo "== base image $IMAGE (docker import of busybox-static)" >&2
    ROOTFS="$STAGE/rootfs"
    mkdir -p "$ROOTFS/bin" "$ROOTFS/tmp" "$ROOTFS/etc"
    cp /bin/busybox "$ROOTFS/bin/busybox"
    for applet in sh cat echo sleep ls env date kill ps test true false; do
        ln -s busybox "$ROOTFS/bin/$applet"
    done
    echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
    tar -C "$ROOTFS" -cf - . | docker import --change 'LABEL tarsdock.example=1' - "$IMAGE" >/dev/null
fi
echo "$OUT/HelloServer.tgz $IMAGE"
