#!/usr/bin/env bash
# Prepares what a lent GPU machine needs to measure the `cuda` build (issue 8), in two folders
# (ignored through .git/info/exclude, never committed), one per `device` call, each well under
# the 64 MiB that one call may carry:
#
#   .gpu/bench.tar.xz            the `gpu_bench` example (model, FER2013 loader and training
#                                only: it links libtorch but no FFmpeg)
#   .gpu/fer2013-private.csv.gz  FER2013's PrivateTest rows from ../shared/data
#   .gpu-run/bundle.tar.xz       the `cuda` fer-batch binary and the shared libraries it needs
#                                beyond glibc and libtorch (FFmpeg 5.1 and its codecs; the GPU
#                                machine has neither, and its own PyTorch provides libtorch)
#   .gpu-run/clip.mp4            a real clip from ../shared/data/video
#
# Then, with the `device` tool (see the README's GPU section):
#   run(command="bash scripts/gpu-measure.sh bench", carry=[".gpu"])
#   run(command="bash scripts/gpu-measure.sh run", carry=[".gpu-run"])
# FER_BUNDLE_PROFILE=dev packs dev-profile binaries (dependencies are optimised in that profile
# too) instead of release ones, which take long to build on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${FER_SHARED_DATA:-../shared/data}"
clip="${1:-$data/video/talking_head_woman_596x336.mp4}"

if [ "${FER_BUNDLE_PROFILE:-release}" = dev ]; then
  bash scripts/torch-env.sh cargo build --features cuda --bin fer-batch --example gpu_bench
  dir=target/cuda/debug
else
  bash scripts/torch-env.sh cargo build --release --features cuda --bin fer-batch --example gpu_bench
  dir=target/cuda/release
fi
torch_lib="$(.torch-venv/bin/python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bench" "$stage/bundle/lib"
cp "$dir/examples/gpu_bench" "$stage/bench/gpu_bench"
cp "$dir/fer-batch" "$stage/bundle/fer-batch"
strip "$stage/bench/gpu_bench" "$stage/bundle/fer-batch"
# Every library fer-batch resolves except the C/C++ runtime (the GPU machine's newer one
# serves) and libtorch/CUDA (its PyTorch provides them; torch-env.sh pins the same version).
LD_LIBRARY_PATH="$torch_lib" ldd "$dir/fer-batch" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
  case "$lib" in
    "$torch_lib"/* | */site-packages/*) ;;
    */libc.so.* | */libm.so.* | */libdl.so.* | */libpthread.so.* | */librt.so.* | */ld-linux* | */libgcc_s.so.* | */libstdc++.so.*) ;;
    *) cp -L "$lib" "$stage/bundle/lib/" ;;
  esac
done

exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
for d in /.gpu/ /.gpu-run/; do grep -qx "$d" "$exclude" 2>/dev/null || echo "$d" >> "$exclude"; done
rm -rf .gpu .gpu-run
mkdir -p .gpu .gpu-run
tar -C "$stage" -cf - bench | xz -T0 -9 > .gpu/bench.tar.xz
tar -C "$stage" -cf - bundle | xz -T0 -9 > .gpu-run/bundle.tar.xz
python3 - "$data/fer2013/fer2013.csv.gz" .gpu/fer2013-private.csv.gz <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "rt") as src, gzip.open(sys.argv[2], "wt", compresslevel=9) as dst:
    dst.write(next(src))
    for line in src:
        if line.rstrip().endswith(",PrivateTest"):
            dst.write(line)
PY
cp "$clip" .gpu-run/clip.mp4
tree_bytes=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for d in .gpu .gpu-run; do
  total=$(( $(du -cb "$d"/* | tail -1 | cut -f1) + tree_bytes ))
  echo "gpu-bundle: $d + the tracked tree = $(( total / 1048576 )) MiB (one call may carry 64 MiB)"
  [ "$total" -lt $(( 64 * 1048576 )) ] || { echo "gpu-bundle: $d is too large to travel" >&2; exit 1; }
done
