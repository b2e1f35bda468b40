#!/usr/bin/env bash
# Prepares what a lent GPU machine needs to measure the `cuda` build (issue 8), in `.gpu/`
# (ignored through .git/info/exclude, never committed):
#
#   .gpu/bundle.tar.xz       the stripped `cuda` release binary and the shared libraries it needs
#                            beyond glibc and libtorch (FFmpeg 5.1 and its codecs: the GPU
#                            machine has neither; libtorch comes from its own PyTorch)
#   .gpu/fer2013-test.csv.gz FER2013's PublicTest and PrivateTest rows from ../shared/data
#   .gpu/clip.mp4            a real clip from ../shared/data/video
#
# Then, with the `device` tool: run `bash scripts/gpu-measure.sh` with carry [".gpu"]
# (see the README's GPU section). The whole tree that travels must stay under 64 MiB; this
# script prints the size.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${FER_SHARED_DATA:-../shared/data}"
clip="${1:-$data/video/talking_head_woman_596x336.mp4}"

bash scripts/torch-env.sh cargo build --release --features cuda
bin=target/cuda/release/fer-batch
torch_lib="$(.torch-venv/bin/python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bundle/lib"
cp "$bin" "$stage/bundle/fer-batch"
strip "$stage/bundle/fer-batch"
# Every resolved library except the C runtime (the GPU machine's newer glibc serves) and
# libtorch/CUDA (its PyTorch provides them; the same torch version is pinned in torch-env.sh).
LD_LIBRARY_PATH="$torch_lib" ldd "$bin" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
  case "$lib" in
    "$torch_lib"/* | */site-packages/* ) ;;
    */libc.so.* | */libm.so.* | */libdl.so.* | */libpthread.so.* | */librt.so.* | */ld-linux* | */libgcc_s.so.* | */libstdc++.so.*) ;;
    *) cp -L "$lib" "$stage/bundle/lib/" ;;
  esac
done

mkdir -p .gpu
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -f .gpu/bundle.tar.xz .gpu/fer2013-test.csv.gz .gpu/clip.mp4
tar -C "$stage" -cf - bundle | xz -T0 -6 > .gpu/bundle.tar.xz
python3 - "$data/fer2013/fer2013.csv.gz" .gpu/fer2013-test.csv.gz <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "rt") as src, gzip.open(sys.argv[2], "wt", compresslevel=9) as dst:
    dst.write(next(src))
    for line in src:
        if not line.rstrip().endswith(",Training"):
            dst.write(line)
PY
cp "$clip" .gpu/clip.mp4
ls -l .gpu
total=$(du -cb .gpu/* | tail -1 | cut -f1)
echo "gpu-bundle: $(( total / 1048576 )) MiB in .gpu/ (the working tree that travels must stay under 64 MiB in all)"
