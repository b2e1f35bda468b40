#!/usr/bin/env bash
# slurm-test.sh - fer-batch as a Slurm job array on a real single-node cluster (munged,
# slurmctld, slurmd from Debian, 127.0.0.1 only, all state in a temp dir; started and stopped
# by this script through slurm-start.sh / slurm-stop.sh), submitted with the project's own
# deploy/slurm/fer-batch-array.sbatch over a manifest of the real clips into one dataset.
#
# Checks:
#  1. the 4 shards' --dry-run lists partition the manifest (each video in exactly one shard)
#  2. a 4-task array: every task exits 0; each task's run report lists exactly its shard's
#     videos; the dataset holds every video exactly once (one part per table, same part id,
#     right date=/camera= partition, all readable Parquet, _staging/ empty)
#  3. a rerun of the array: every task exits 0, every video reported skipped, and not one file
#     of the dataset is added, removed or rewritten; --dry-run now says `done` for all
#  4. a bad video (random bytes) added to the manifest: its shard exits 1, the other three 0
#     (per-task exit codes from Slurm), nothing written for it, the dataset unchanged
#  5. scancel (SIGTERM) mid-run: the task ends with exit code 143 in Slurm's record (fer-batch
#     exited by itself, not SIGKILL), the report says interrupted, completed videos are kept
#     whole, no partial part file anywhere under table=*/, nothing left in _staging/; a rerun
#     skips the kept videos and completes the dataset
#  6. a task index outside the shard count exits 2 (usage error)
# Env: FER_BATCH_BIN (default target/release/fer-batch), FER_TEST_VIDEOS (default
# ../shared/data/video; skipped with a note when absent). Needs root (Slurm runs as root here)
# and the project's .venv (pyarrow; scripts/deps.sh makes it). Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cluster/common.sh
cluster_common Slurm
SBATCH_SCRIPT=$ROOT/deploy/slurm/fer-batch-array.sbatch

W=$(mktemp -d "${TMPDIR:-/tmp}/fer-slurm-test.XXXXXX")
chmod 0755 "$W"  # munged (user munge) must reach the cluster's directory inside
export SLURM_LOCAL_PREFIX=$W/slurm
cleanup() {
  rc=$?
  bash "$ROOT/tests/cluster/slurm-stop.sh" || true
  if [ $rc != 0 ] && [ -d "$W/logs" ]; then
    for f in "$W"/logs/*; do echo "--- $f"; tail -n 20 "$f"; done
  fi
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t0=$SECONDS
bash tests/cluster/slurm-start.sh
source "$SLURM_LOCAL_PREFIX/env.sh"


# A wrapper in place of the binary, only to give each task its own run report; it execs, so
# signals still reach fer-batch directly, as in production.
mkdir -p "$W/logs" "$W/reports" "$W/bin"
cat > "$W/bin/fer-batch" <<EOF
#!/bin/sh
exec "$BIN" "\$@" --report "$W/reports/\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}.json"
EOF
chmod +x "$W/bin/fer-batch"
export FER_BATCH_BIN=$W/bin/fer-batch

# The manifest: the real clips on two nights, cameras with names a reader could get wrong.
cams=(0042 "front door" room-101 0042 "front door" room-101 gate gate)
i=0
{
  echo "# path,camera,start_utc"
  for c in "${clips[@]}"; do
    day=$((1 + i % 2))
    echo "$(realpath "$c"),${cams[$((i % 8))]},2026-12-0${day}T2$((i / 2 % 4)):00:00Z"
    i=$((i + 1))
  done
} > "$W/manifest.csv"
n_videos=${#clips[@]}
echo "== manifest: $n_videos clips from $VIDEOS, shard count 4"

# submit ARRAY OUT MANIFEST COUNT [extra...]: sbatch, then wait until no task of the job is
# pending, running or completing (polled every 0.2 s: `sbatch --wait` polls with growing
# sleeps and adds up to ~30 s per job); sets JID
submit() {
  local array=$1 out=$2 manifest=$3 count=$4; shift 4
  JID=$(cd "$W" && sbatch --parsable --array="$array" --cpus-per-task=1 --mem-per-cpu=1G \
        --output="$W/logs/%A_%a.out" "$SBATCH_SCRIPT" "$manifest" "$out" "$count" "${FLAGS[@]}" "$@")
  JID=${JID%%;*}
  wait_job "$JID"
}
wait_job() {
  local i
  for i in $(seq 3000); do  # 10 minutes at most
    [ -z "$(squeue -h -j "$1" -o %i 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  echo "FAIL - job $1 still in the queue after 10 minutes"; return 1
}
# exit code of task T of job J as Slurm recorded it: "CODE:SIGNAL"
task_exit() { scontrol -o show job "$1_$2" | grep -o 'ExitCode=[0-9]*:[0-9]*' | cut -d= -f2; }
task_state() { scontrol -o show job "$1_$2" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# the videos of shard I as fer-batch --dry-run lists them: "STATUS<TAB>realpath", sorted
dry_run() { "$BIN" run --manifest "$2" --out "$3" --shard-count "$4" --shard-index "$1" --dry-run "${FLAGS[@]}" -q \
              | while IFS=$'\t' read -r st p; do printf '%s\t%s\n' "$st" "$(realpath "$p")"; done | sort; }
# the videos of one report: "STATUS<TAB>realpath", sorted
report_items() { "$PY" -c '
import json, os, sys
for i in json.load(open(sys.argv[1]))["inputs"]:
    print(i["status"] + "\t" + os.path.realpath(i["path"]))' "$1" | sort; }
manifest_paths() { grep -v '^#' "$1" | cut -d, -f1 | xargs -d '\n' realpath | sort; }

OUT=$W/out/
echo "== 1. the split: --dry-run of shards 0-3"
: > "$W/dry-all"
for s in 0 1 2 3; do dry_run $s "$W/manifest.csv" "$OUT" 4 > "$W/dry-$s"; cat "$W/dry-$s" >> "$W/dry-all"; echo "   shard $s: $(wc -l < "$W/dry-$s") videos"; done
check "every video in exactly one shard (union of the 4 lists = manifest, no repeats)" \
  diff <(cut -f2 "$W/dry-all" | sort) <(manifest_paths "$W/manifest.csv")
check "before the first run every video is todo" test "$(cut -f1 "$W/dry-all" | sort -u)" = todo
check "the split is the same when asked twice" diff <(dry_run 2 "$W/manifest.csv" "$OUT" 4) "$W/dry-2"

echo "== 2. first run: sbatch --array=0-3"
t=$SECONDS
submit 0-3 "$OUT" "$W/manifest.csv" 4
echo "   job $JID took $((SECONDS - t)) s"
for s in 0 1 2 3; do
  check "task $s: Slurm recorded ExitCode 0:0, state COMPLETED" test "$(task_exit "$JID" $s) $(task_state "$JID" $s)" = "0:0 COMPLETED"
  check "task $s: its report lists exactly its shard's videos, all ok" \
    diff <(report_items "$W/reports/${JID}_$s.json") <(sed 's/^todo/ok/' "$W/dry-$s")
done
check "jobcomp/filetxt has 4 records of the array, all COMPLETED 0:0" \
  test "$(grep "ArrayJobId=$JID " "$SLURM_LOCAL_PREFIX/log/jobcomp.txt" | grep ' JobState=COMPLETED ' | grep -c ' ExitCode=0:0')" = 4
if $CHECK complete "$OUT" "$W/manifest.csv"; then ok "dataset: every video exactly once (dataset_check complete)"; else bad "dataset: dataset_check complete"; fi
$CHECK snapshot "$OUT" > "$W/snap-1"

echo "== 3. rerun: everything skipped"
submit 0-3 "$OUT" "$W/manifest.csv" 4
for s in 0 1 2 3; do
  check "rerun task $s: ExitCode 0:0 and every video of its shard reported skipped" \
    test "$(task_exit "$JID" $s) $(report_items "$W/reports/${JID}_$s.json" | cut -f1 | sort -u | tr '\n' ' ')" = "0:0 skipped "
done
$CHECK snapshot "$OUT" > "$W/snap-2"
check "rerun: no file added, removed or rewritten (same names, sizes, mtimes, inodes)" diff "$W/snap-1" "$W/snap-2"
: > "$W/dry-all2"
for s in 0 1 2 3; do dry_run $s "$W/manifest.csv" "$OUT" 4 >> "$W/dry-all2"; done
check "--dry-run after the run: every video done" test "$(cut -f1 "$W/dry-all2" | sort -u)" = done

echo "== 4. a bad video in one shard"
mkdir -p "$W/bad"
head -c 1500000 /dev/urandom > "$W/bad/recorder-crash.mp4"
{ cat "$W/manifest.csv"; echo "$W/bad/recorder-crash.mp4,gate,2026-12-02T23:00:00Z"; } > "$W/manifest-bad.csv"
bad_shard=
for s in 0 1 2 3; do dry_run $s "$W/manifest-bad.csv" "$OUT" 4 | grep -q recorder-crash && bad_shard=$s; done
echo "   the bad video is in shard $bad_shard"
submit 0-3 "$OUT" "$W/manifest-bad.csv" 4
for s in 0 1 2 3; do
  if [ "$s" = "$bad_shard" ]; then
    check "task $s (holds the bad video): ExitCode 1:0, state FAILED" test "$(task_exit "$JID" $s) $(task_state "$JID" $s)" = "1:0 FAILED"
    check "task $s: its report has the bad video failed and the rest skipped" \
      test "$(report_items "$W/reports/${JID}_$s.json" | awk -F'\t' '{print ($2 ~ /recorder-crash/ ? "bad:" : "") $1}' | sort -u | tr '\n' ' ')" = "bad:failed skipped "
  else
    check "task $s: ExitCode 0:0, state COMPLETED" test "$(task_exit "$JID" $s) $(task_state "$JID" $s)" = "0:0 COMPLETED"
  fi
done
$CHECK snapshot "$OUT" > "$W/snap-3"
check "nothing written for the bad video, nothing else touched" diff "$W/snap-1" "$W/snap-3"

echo "== 5. scancel (SIGTERM) in the middle of a run"
OUT_C=$W/out-cancel/
JID=$(cd "$W" && sbatch --parsable --array=0 --cpus-per-task=2 --output="$W/logs/%A_%a.out" \
      "$SBATCH_SCRIPT" "$W/manifest.csv" "$OUT_C" 1 "${FLAGS[@]}" --jobs 1)
JID=${JID%%;*}
# wait for the first completed video (its crowd part is renamed into place last or first; any
# table will do), then cancel while the next one is in progress
for _ in $(seq 1200); do
  [ -n "$(find "$OUT_C" -path '*/table=*' -name 'part-*.parquet' 2>/dev/null | head -n1)" ] && break
  [ "$(squeue -h -j "$JID" -o %T 2>/dev/null)" = "" ] && break
  sleep 0.1
done
sleep 0.3  # let the next video start, then interrupt it
state_before=$(squeue -h -j "$JID" -o %T 2>/dev/null || true)
scancel "$JID"
wait_job "$JID"
check "the task was still running when cancelled" test "$state_before" = RUNNING
check "Slurm recorded ExitCode 143:0 for the cancelled task (fer-batch exited on SIGTERM, not SIGKILL)" \
  test "$(task_exit "$JID" 0)" = "143:0"
check "Slurm state CANCELLED" test "$(task_state "$JID" 0)" = CANCELLED
check "the report says interrupted" \
  "$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["interrupted"] is True else 1)' "$W/reports/${JID}_0.json"
if $CHECK no-partial "$OUT_C" --min-complete 1 --max-complete $((n_videos - 1)); then
  ok "no partial part file, completed videos whole, _staging/ empty (dataset_check no-partial)"
else
  bad "dataset_check no-partial after scancel"
fi
kept=$(find "$OUT_C/table=faces" -name 'part-*.parquet' 2>/dev/null | wc -l)
submit 0 "$OUT_C" "$W/manifest.csv" 1
check "rerun after the cancel: exit 0" test "$(task_exit "$JID" 0)" = "0:0"
check "rerun after the cancel: the $kept kept videos skipped, the others done" \
  test "$(report_items "$W/reports/${JID}_0.json" | cut -f1 | sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' ')" = \
       "ok=$((n_videos - kept)) skipped=$kept "
if $CHECK complete "$OUT_C" "$W/manifest.csv"; then ok "after the rerun: every video exactly once"; else bad "after the rerun: dataset_check complete"; fi

echo "== 6. a task index outside the shard count"
submit 4 "$OUT" "$W/manifest.csv" 4
check "task 4 of shard count 4: ExitCode 2:0 (usage error, do not retry)" test "$(task_exit "$JID" 4)" = "2:0"

echo "slurm-test: $pass passed, $fail failed ($((SECONDS - t0)) s)"
[ "$fail" = 0 ]
