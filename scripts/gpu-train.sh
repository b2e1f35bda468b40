#!/usr/bin/env bash
# Trains a planned run on a lent GPU machine (issue 16).
#
#   target/release/fer-batch train --data … --plan-only --run-dir runs/NAME [recipe flags]
#                                         # here: writes runs/NAME/options.json (and init/, and
#                                         # the teachers' soft targets with --teacher)
#   bash scripts/gpu-train.sh pack runs/NAME
#                                         # here: builds examples/gpu_train (cuda feature) and
#                                         # packs it, the run directory and FER2013's Training and
#                                         # PublicTest rows into .gpu-train/ (ignored, never
#                                         # committed; ~60 MiB)
#   run(command="bash scripts/gpu-train.sh train", carry=[".gpu-train"], timeout_s=600)
#                                         # there: trains (or resumes) the run, stopping itself
#                                         # after FER_TRAIN_SECONDS (default 540)
#   bash scripts/gpu-train.sh unpack DIR runs/NAME
#                                         # here: copies the run directory that came back
#                                         # (DIR/run) over runs/NAME; pack again to continue
#
# A stopped run resumes from its last checkpoint (every 100 steps and every epoch), so a long
# schedule spans several calls; the schedule (epochs, learning rate) is fixed when it is planned.
# Without a planned run directory (`pack` with no argument) it trains the shipped model's
# recipe from scratch for FER_TRAIN_EPOCHS (default 100) epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:?usage: gpu-train.sh pack [RUN] | train | unpack DIR RUN}"
case "$part" in
pack)
  data="${FER_SHARED_DATA:-../shared/data}"
  # Built in target/ beside the default build, whose dependencies it shares (Cargo.toml unifies
  # the features); only the example is linked, so target/release/fer-batch stays the default one.
  if [ "${FER_BUNDLE_PROFILE:-release}" = dev ]; then
    CARGO_TARGET_DIR="$PWD/target" bash scripts/torch-env.sh cargo build --features cuda --example gpu_train
    bin=target/debug/examples/gpu_train
  else
    CARGO_TARGET_DIR="$PWD/target" bash scripts/torch-env.sh cargo build --release --features cuda --example gpu_train
    bin=target/release/examples/gpu_train
  fi
  exclude="$(git rev-parse --git-path info/exclude)"
  grep -qx "/.gpu-train/" "$exclude" 2>/dev/null || echo "/.gpu-train/" >> "$exclude"
  rm -rf .gpu-train && mkdir -p .gpu-train/run
  if [ -n "${2:-}" ]; then
    test -f "$2/options.json" || { echo "gpu-train: $2 has no options.json (plan it with fer-batch train --plan-only)" >&2; exit 2; }
    cp -r "$2/." .gpu-train/run/
  fi
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
  out="${OUT:-/tmp/fer-gpu-out}"
  work="$(mktemp -d)"
  mkdir -p "$out"
  torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  xz -dc .gpu-train/gpu_train.xz > "$work/gpu_train" && chmod +x "$work/gpu_train"
  for f in train val; do xz -dc ".gpu-train/$f.bin.xz" > "$work/$f.bin"; done
  cp -r .gpu-train/run "$out/run"
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  # SIGTERM mid-epoch loses at most the steps since the last checkpoint.
  timeout "${FER_TRAIN_SECONDS:-540}" "$work/gpu_train" --data "$work" --run-dir "$out/run" \
    --epochs "${FER_TRAIN_EPOCHS:-100}" --device cuda 2>&1 | tee "$out/train.log" || echo "stopped (exit $?); resume with another call"
  ;;
unpack)
  dir="${2:?usage: gpu-train.sh unpack DIR RUN}"
  run="${3:?usage: gpu-train.sh unpack DIR RUN}"
  test -f "$dir/run/metrics.csv" && test -d "$dir/run/checkpoint"
  rm -rf "$run.new" && cp -r "$dir/run" "$run.new"
  rm -rf "$run" && mv "$run.new" "$run"
  tail -3 "$run/metrics.csv"
  ;;
*) echo "usage: gpu-train.sh pack [RUN] | train | unpack DIR RUN" >&2; exit 2 ;;
esac
