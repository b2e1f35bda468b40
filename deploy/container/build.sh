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
# runc, and explicit ulimits below the host's (runc may not set them at the current hard limit
# there: "error setting rlimit ... operation not permitted").
podman=(podman)
run_opts=(--network=none)
if [ -d /sys/fs/cgroup/unified ] && command -v runc >/dev/null; then
  podman+=(--runtime runc)
  run_opts+=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BIN" "$ctx/fer-batch"
# The release profile keeps line tables (debug = 1) for local profiling; the image does not need
# them (384 MB → 43 MB). Symbols stay, so panics still name their functions.
strip --strip-debug "$ctx/fer-batch"
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

# smoke test: the binary's libraries resolve in the image, a dry run reads a manifest and takes
# its index from JOB_COMPLETION_INDEX, and (when a clip is at hand) a real video is decoded and
# analysed inside the container, as the unprivileged user, with no network
"${podman[@]}" run --rm "${run_opts[@]}" "$TAG" --version
smoke=$ctx/smoke
mkdir "$smoke"
clip=${FER_SMOKE_VIDEO:-../shared/data/video/single_face_phone_596x336.mp4}
if [ -f "$clip" ]; then cp "$clip" "$smoke/clip.mp4"; else : > "$smoke/clip.mp4"; fi
printf '%s\n' "# path,camera,start_utc" "clip.mp4,0042,2026-12-01T22:00:00Z" > "$smoke/manifest.csv"
chmod -R a+rX "$smoke"
out=$("${podman[@]}" run --rm "${run_opts[@]}" -v "$smoke:/work:ro" -e JOB_COMPLETION_INDEX=0 "$TAG" \
  run --manifest /work/manifest.csv --out /tmp/out/ --shard-count 1 --dry-run)
[ "$out" = "$(printf 'todo\t/work/clip.mp4')" ] || { echo "build.sh: unexpected --dry-run output: $out" >&2; exit 1; }
echo "build.sh: --dry-run in the image: ok"
if [ -s "$smoke/clip.mp4" ]; then
  report=$("${podman[@]}" run --rm "${run_opts[@]}" -v "$smoke:/work:ro" "$TAG" \
    run --manifest /work/manifest.csv --out /tmp/out/ --untrained --sample-fps 1 -q --report /dev/stdout)
  grep -q '"status": "ok"' <<< "$report" || { echo "build.sh: the clip was not analysed: $report" >&2; exit 1; }
  echo "build.sh: a real clip analysed in the image: ok ($(grep -o '"frames_processed": [0-9]*' <<< "$report" | head -n1))"
else
  echo "build.sh: no clip at $clip (FER_SMOKE_VIDEO): skipped the analysis in the image"
fi
