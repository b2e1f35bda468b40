# Sourced (from the repository root) by slurm-test.sh and s3-test.sh: the paths they share, the
# binary and clips they run, and the pass/fail bookkeeping. `cluster_common NAME` sets ROOT, BIN,
# VIDEOS, PY, CHECK, FLAGS and clips, checks the binary and pyarrow, and exits 0 with a note
# (test skipped) when fewer than 4 clips are there.
# Env: FER_BATCH_BIN (default target/release/fer-batch), FER_TEST_VIDEOS (default ../shared/data/video).
cluster_common() {
  ROOT=$PWD
  BIN=$(realpath "${FER_BATCH_BIN:-target/release/fer-batch}")
  VIDEOS=${FER_TEST_VIDEOS:-$ROOT/../shared/data/video}
  PY=$ROOT/.venv/bin/python
  CHECK="$PY $ROOT/tests/cluster/dataset_check.py"
  # fast settings: random weights, one frame per second
  FLAGS=(--untrained --sample-fps 1)
  [ -x "$BIN" ] || { echo "FAIL: no fer-batch binary at $BIN (set FER_BATCH_BIN)"; exit 1; }
  grep -q -- --shard-count <<< "$("$BIN" run --help 2>&1)" || { echo "FAIL: $BIN has no run --shard-count"; exit 1; }
  "$PY" -c 'import pyarrow' || { echo "FAIL: $PY lacks pyarrow (bash scripts/deps.sh)"; exit 1; }
  shopt -s nullglob
  clips=("$VIDEOS"/*.mp4)
  if [ ${#clips[@]} -lt 4 ]; then echo "note: fewer than 4 clips in $VIDEOS; skipping the $1 test"; exit 0; fi
}

pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
