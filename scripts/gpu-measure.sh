#!/usr/bin/env bash
# Measures the `cuda` build on a GPU machine (issue 8). Run there through the `device` tool
# after `bash scripts/gpu-bundle.sh` here, one call per part:
#
#   run(command="bash scripts/gpu-measure.sh bench", carry=[".gpu"], timeout_s=600)
#   run(command="bash scripts/gpu-measure.sh run", carry=[".gpu-run"], timeout_s=600)
#
# bench: PrivateTest on the CPU and the GPU (accuracy, max difference of the probabilities),
#        inference faces/s at batch sizes 16–4096, one training epoch's images/s for the
#        compact and the paper network (examples/gpu_bench.rs).
# run:   `fer-batch run` on a real clip, every frame, on the CPU and the GPU: wall time, peak
#        RSS, and the largest difference of the per-face probabilities in the two tables.
#
# Needs python3 with torch (the version scripts/torch-env.sh pins) and pyarrow there. Writes
# $OUT/gpu-<part>.txt and prints it. FER_GPU_DEVICE=torch-cpu runs the same steps on libtorch's
# CPU device: a dry run on a machine without a GPU (bench then trains on 128 images only).
set -uo pipefail
cd "$(dirname "$0")/.."
part="${1:?usage: gpu-measure.sh bench|run}"
out="${OUT:-/tmp/fer-gpu-out}"
dev="${FER_GPU_DEVICE:-cuda}"
work="$(mktemp -d)"
mkdir -p "$out"
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"

machine() {
  echo "## machine"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "(no nvidia-smi)"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda available:", torch.cuda.is_available())'
  echo "cpus: $(nproc)"
}

case "$part" in
bench)
  tar -C "$work" -xJf .gpu/bench.tar.xz
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  limit=(); [[ "$dev" == cuda* ]] || limit=(--train-images 128)
  {
    machine
    echo "## gpu_bench --device $dev"
    "$work/bench/gpu_bench" --data .gpu/fer2013-private.csv.gz --device "$dev" "${limit[@]}"
  } 2>&1 | tee "$out/gpu-bench.txt"
  ;;
run)
  tar -C "$work" -xJf .gpu-run/bundle.tar.xz
  export LD_LIBRARY_PATH="$work/bundle/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  B="$work/bundle/fer-batch"
  {
    machine
    "$B" --version
    echo "## fer-batch run, every frame, cpu and $dev"
    for d in cpu "$dev"; do
      /usr/bin/time -f "$d: %e s wall, %M KB peak RSS" "$B" run .gpu-run/clip.mp4 --out "$work/$d.parquet" \
        --device "$d" --sample-fps 0 --report "$out/run-$d.json" --no-progress
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
  } 2>&1 | tee "$out/gpu-run.txt"
  ;;
*) echo "usage: gpu-measure.sh bench|run" >&2; exit 2 ;;
esac
