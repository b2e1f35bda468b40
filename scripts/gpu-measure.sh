#!/usr/bin/env bash
# Measures the `cuda` build on a GPU machine (issue 8): run there through the `device` tool
# after `bash scripts/gpu-bundle.sh` here, e.g.
#
#   run(command="bash scripts/gpu-measure.sh", carry=[".gpu"], timeout_s=600)
#
# It needs python3 with torch (the same version as scripts/torch-env.sh pins) and pyarrow there.
# Writes $OUT/gpu-report.txt and JSON files; prints the report. FER_GPU_DEVICE=torch-cpu runs the
# same steps on libtorch's CPU device (a dry run of this script on a machine without a GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/fer-gpu-out}"
dev="${FER_GPU_DEVICE:-cuda}"
work="$(mktemp -d)"
mkdir -p "$out"
tar -C "$work" -xJf .gpu/bundle.tar.xz
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$work/bundle/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
B="$work/bundle/fer-batch"
data=.gpu/fer2013-test.csv.gz

# A training set for timing epochs: the PrivateTest rows relabelled Training (FER2013's
# Training split does not fit in what travels); PublicTest stays the validation split.
python3 - "$data" "$work/train-timing.csv.gz" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "rt") as src, gzip.open(sys.argv[2], "wt", compresslevel=1) as dst:
    dst.write(next(src))
    for line in src:
        dst.write(line.replace(",PrivateTest", ",Training"))
PY

step() { echo; echo "## $*"; }
{
  step "machine"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "(no nvidia-smi)"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda available:", torch.cuda.is_available())'
  nproc
  "$B" --version

  step "eval, PrivateTest, cpu (flex) and $dev: accuracy must match"
  "$B" eval --data "$data" --split private --device cpu --json "$out/eval-cpu.json" --no-progress | grep -E "accuracy|macro-F1|images/s"
  "$B" eval --data "$data" --split private --device "$dev" --json "$out/eval-gpu.json" --no-progress | grep -E "accuracy|macro-F1|images/s"

  step "inference throughput on $dev (eval of 3,589 PrivateTest faces, whole command incl. preprocessing)"
  for bs in 16 64 256 1024 3589; do
    printf 'batch %5s: ' "$bs"
    "$B" eval --data "$data" --split private --device "$dev" --batch-size "$bs" --no-progress | grep "images/s"
  done

  step "run on a clip, every frame, cpu and $dev; per-face probabilities compared"
  for d in cpu "$dev"; do
    /usr/bin/time -f "$d: %e s wall, %M KB peak RSS" "$B" run .gpu/clip.mp4 --out "$work/$d.parquet" --device "$d" \
      --sample-fps 0 --report "$out/run-$d.json" --no-progress
  done
  python3 - "$work/cpu.parquet" "$work/$dev.parquet" <<'PY'
import sys, pyarrow.parquet as pq
a, b = (pq.read_table(p) for p in sys.argv[1:3])
cols = [c for c in a.column_names if c.startswith("p_")]
assert a.num_rows == b.num_rows, (a.num_rows, b.num_rows)
diff = max(abs(x - y) for c in cols for x, y in zip(a[c].to_pylist(), b[c].to_pylist()))
same = sum(x == y for x, y in zip(a["raw_label"].to_pylist(), b["raw_label"].to_pylist()))
print(f"{a.num_rows} faces: max |p_cpu - p_gpu| = {diff:.2e} over {len(cols)} classes; same raw label on {same}/{a.num_rows}")
PY

  step "training: one epoch on 3,589 images (PrivateTest relabelled), compact depth 20 and the paper's depth 32"
  for preset in "compact --depth 20" "paper --depth 32"; do
    rm -rf "$work/train"
    # shellcheck disable=SC2086
    "$B" train --data "$work/train-timing.csv.gz" --run-dir "$work/train" --preset $preset --epochs 1 \
      --batch-size 64 --device "$dev" --checkpoint-every 0 --no-progress 2>&1 | grep -E "epoch|training on"
  done
} 2>&1 | tee "$out/gpu-report.txt"
