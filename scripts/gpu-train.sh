#!/usr/bin/env bash
# Continues the shipped model's training run (training/sldcnn-c20) on a lent GPU machine.
#
#   bash scripts/gpu-train.sh pack        # here: builds examples/gpu_train (cuda feature) and
#                                         # packs it with FER2013's Training and PublicTest rows
#                                         # into .gpu-train/ (ignored, never committed; ~60 MiB)
#   run(command="bash scripts/gpu-train.sh train N", carry=[".gpu-train"], timeout_s=600)
#                                         # there: resumes training/sldcnn-c20 up to epoch N,
#                                         # stopping itself after FER_TRAIN_SECONDS (default 540)
#   bash scripts/gpu-train.sh unpack DIR  # here: copies the run directory that came back
#                                         # (DIR/run) over training/sldcnn-c20
#
# A stopped run resumes from its last checkpoint (every 100 steps and every epoch), so a long
# schedule spans several calls. Same recipe as the README's `fer-batch train` command.
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:?usage: gpu-train.sh pack | train EPOCHS | unpack DIR}"
case "$part" in
pack)
  data="${FER_SHARED_DATA:-../shared/data}"
  if [ "${FER_BUNDLE_PROFILE:-release}" = dev ]; then
    bash scripts/torch-env.sh cargo build --features cuda --example gpu_train
    bin=target/cuda/debug/examples/gpu_train
  else
    bash scripts/torch-env.sh cargo build --release --features cuda --example gpu_train
    bin=target/cuda/release/examples/gpu_train
  fi
  exclude="$(git rev-parse --git-path info/exclude)"
  grep -qx "/.gpu-train/" "$exclude" 2>/dev/null || echo "/.gpu-train/" >> "$exclude"
  rm -rf .gpu-train && mkdir -p .gpu-train
  cp "$bin" .gpu-train/gpu_train && strip .gpu-train/gpu_train && xz -T0 -9 .gpu-train/gpu_train
  python3 - "$data/fer2013/fer2013.csv.gz" .gpu-train <<'PY'
import gzip, lzma, sys
src, out = sys.argv[1], sys.argv[2]
parts = {"Training": bytearray(), "PublicTest": bytearray()}
with gzip.open(src, "rt") as f:
    next(f)
    for line in f:
        emotion, pixels, usage = line.rstrip("\n").split(",")
        if usage in parts:
            parts[usage] += bytes([int(emotion)]) + bytes(int(p) for p in pixels.split())
filters = [{"id": lzma.FILTER_DELTA, "dist": 1}, {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
for usage, name in (("Training", "train"), ("PublicTest", "val")):
    with open(f"{out}/{name}.bin.xz", "wb") as f:
        f.write(lzma.compress(bytes(parts[usage]), format=lzma.FORMAT_XZ, filters=filters))
PY
  du -ch .gpu-train/* | tail -1
  ;;
train)
  epochs="${2:?usage: gpu-train.sh train EPOCHS}"
  out="${OUT:-/tmp/fer-gpu-out}"
  work="$(mktemp -d)"
  mkdir -p "$out"
  torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  xz -dc .gpu-train/gpu_train.xz > "$work/gpu_train" && chmod +x "$work/gpu_train"
  for f in train val; do xz -dc ".gpu-train/$f.bin.xz" > "$work/$f.bin"; done
  cp -r training/sldcnn-c20 "$out/run"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  # SIGTERM mid-epoch loses at most the steps since the last checkpoint.
  timeout "${FER_TRAIN_SECONDS:-540}" "$work/gpu_train" --data "$work" --run-dir "$out/run" --epochs "$epochs" --device cuda \
    2>&1 | tee "$out/train.log" || echo "stopped (exit $?); resume with another call"
  ;;
unpack)
  dir="${2:?usage: gpu-train.sh unpack DIR}"
  test -f "$dir/run/metrics.csv" && test -d "$dir/run/checkpoint"
  rm -rf training/sldcnn-c20.new && cp -r "$dir/run" training/sldcnn-c20.new
  rm -rf training/sldcnn-c20 && mv training/sldcnn-c20.new training/sldcnn-c20
  tail -3 training/sldcnn-c20/metrics.csv
  ;;
*) echo "usage: gpu-train.sh pack | train EPOCHS | unpack DIR" >&2; exit 2 ;;
esac
