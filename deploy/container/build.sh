#!/usr/bin/env bash
# build.sh - builds the fer-batch container image with podman from deploy/container/Containerfile.
#
#   bash deploy/container/build.sh [--offline] [TAG]        (TAG default localhost/fer-batch:dev)
#
# Needs the binary: target/release/fer-batch (cargo build --release) or $FER_BATCH_BIN. --offline: no image registry; the
# base image is made here from Debian bookworm's packages with mmdebstrap (FFmpeg libraries
# and CA certificates included, ~390 MB, ~3 min) and imported as localhost/fer-batch-base:bookworm,
# and the build runs with --network=none. Then a smoke test runs the image: `--version`, and
# `run --dry-run` over a manifest in a mounted temp dir.
# Debian packages used: podman, runc (hosts with hybrid cgroups), mmdebstrap (--offline), uidmap.
set -euo pipefail
cd "$(dirname "$0")/../.."
offline=0
[ "${1:-}" = --offline ] && { offline=1; shift; }
TAG=${1:-localhost/fer-batch:dev}
BIN=${FER_BATCH_BIN:-target/release/fer-batch}
[ -x "$BIN" ] || { echo "build.sh: $BIN missing: cargo build --release first" >&2; exit 2; }
command -v podman >/dev/null || { echo "build.sh: podman missing (apt-get install podman)" >&2; exit 2; }

# Hosts with hybrid cgroups (v1 + v2), like this project's CI VMs: crun refuses them, so use
# runc, and ulimits below the current hard limits (raising them is refused in such sandboxes).
podman=(podman)
run_opts=(--network=none)
if [ -d /sys/fs/cgroup/unified ] && command -v runc >/dev/null; then
  podman+=(--runtime runc)
  run_opts+=(--ulimit "nofile=1024:$(ulimit -Hn)" --ulimit "nproc=1024:$(ulimit -Hu)")
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BIN" "$ctx/fer-batch"
args=()
if [ $offline = 1 ]; then
  BASE=localhost/fer-batch-base:bookworm
  if ! podman image exists "$BASE"; then
    command -v mmdebstrap >/dev/null || { echo "build.sh: mmdebstrap missing (apt-get install mmdebstrap)" >&2; exit 2; }
    tmp=$ctx/base
    mkdir "$tmp"
    echo "build.sh: making $BASE from Debian bookworm packages (mmdebstrap)"
    mmdebstrap --quiet --variant=minbase \
      --include=libavcodec59,libavformat59,libavutil57,libswscale6,ca-certificates \
      --dpkgopt='path-exclude=/usr/share/{doc,man,info,locale}/*' \
      bookworm "$tmp/rootfs.tar" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    podman import --quiet "$tmp/rootfs.tar" "$BASE" >/dev/null
  fi
  args+=(--network=none --build-arg "BASE=$BASE")
fi
"${podman[@]}" build --quiet -f deploy/container/Containerfile -t "$TAG" "${args[@]}" "$ctx"
echo "build.sh: built $TAG ($(podman image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"

# smoke test: the binary's libraries resolve in the image and a dry run reads a manifest
"${podman[@]}" run --rm "${run_opts[@]}" "$TAG" --version
tmp2=$ctx/smoke
mkdir "$tmp2"
printf '%s\n' "# path,camera,start_utc" "/work/none.mp4,0042,2026-12-01T22:00:00Z" > "$tmp2/manifest.csv"
chmod -R a+rX "$tmp2"
"${podman[@]}" run --rm "${run_opts[@]}" -v "$tmp2:/work:ro" -e JOB_COMPLETION_INDEX=0 "$TAG" \
  run --manifest /work/manifest.csv --out /tmp/out/ --shard-count 1 --dry-run
