#!/usr/bin/env bash
# s3-test.sh - fer-batch --out s3://bucket/prefix/ against a real S3-compatible server: PyPI's
# moto[server] started by this script on 127.0.0.1 (a free port), stopped by its pid.
#
# Checks:
#  1. two shards run at once as Kubernetes would run them (JOB_COMPLETION_INDEX=0/1,
#     --shard-count 2) into one prefix: both exit 0, each says it took its index from
#     JOB_COMPLETION_INDEX; the keys are exactly the dataset marker plus, per video, three
#     parts at table=T/date=D/camera=C/part-ID.parquet (camera escaped as documented: `front
#     door` -> `front%20door`); every video exactly once, readable Parquet through pyarrow's S3
#     client (dataset_check complete); no _staging/ key, no unfinished multipart upload
#  2. --dry-run against the bucket says `done` for every video
#  3. a rerun skips every video by key: exit 0, all reported skipped, not one key added,
#     removed or rewritten (same ETag and LastModified)
#  4. SIGTERM in the middle of a run into a new prefix: exit 143, no visible key of a partial
#     part (every visible part complete and readable, completed videos whole), no _staging/
#     key; unfinished multipart uploads are reported (a bucket lifecycle rule removes them)
#  5. an endpoint that nothing listens on exits 75 (temporary: retry later); a malformed s3://
#     address exits 2 (the same command would fail again)
# Env: FER_BATCH_BIN (default target/release/fer-batch), FER_TEST_VIDEOS (default
# ../shared/data/video; skipped with a note when absent). Uses .venv-deploy (moto[server],
# installed on first use) and the project's .venv (pyarrow). Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cluster/common.sh
cluster_common S3
source tests/cluster/venv.sh
deploy_venv_need moto.server 'moto[server]==5.2.6'

W=$(mktemp -d "${TMPDIR:-/tmp}/fer-s3-test.XXXXXX")
MOTO_PID=
cleanup() {
  rc=$?
  if [ -n "$MOTO_PID" ] && [ -d "/proc/$MOTO_PID" ]; then kill -TERM "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true; fi
  if [ $rc != 0 ]; then for f in "$W"/*.log; do echo "--- $f"; tail -n 15 "$f"; done; fi
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t0=$SECONDS

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$DEPLOY_VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > "$W/moto.log" 2>&1 &
MOTO_PID=$!
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
       AWS_ACCESS_KEY_ID=fer-test AWS_SECRET_ACCESS_KEY=fer-test-secret
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION
for _ in $(seq 100); do
  "$DEPLOY_PY" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/', timeout=1)" 2>/dev/null && break
  sleep 0.1
done
echo "== moto_server pid $MOTO_PID on 127.0.0.1:$PORT"

# s3 CMD ARGS: a few boto3 calls against the server
s3() { "$DEPLOY_PY" - "$@" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
cmd, bucket = sys.argv[1], sys.argv[2]
if cmd == "mb":
    s3.create_bucket(Bucket=bucket)
elif cmd == "ls":  # key, size, etag, last modified
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=sys.argv[3]):
        for o in page.get("Contents", []):
            print(f"{o['Key']}\t{o['Size']}\t{o['ETag']}\t{o['LastModified'].isoformat()}")
elif cmd == "uploads":  # unfinished multipart uploads under a prefix
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix=sys.argv[3])
    for u in r.get("Uploads", []):
        print(u["Key"])
PY
}

report_statuses() { "$PY" -c 'import json,sys; print(" ".join(sorted(i["status"] for i in json.load(open(sys.argv[1]))["inputs"])))' "$1"; }

s3 mb fer-test
c0=$(realpath "${clips[0]}") c1=$(realpath "${clips[1]}")
printf '%s\n' "# path,camera,start_utc" "$c0,0042,2026-12-01T22:00:00Z" "$c1,front door,2026-12-02T06:30:00Z" > "$W/manifest.csv"

echo "== 1. two shards at once (JOB_COMPLETION_INDEX=0/1) into s3://fer-test/night/"
for i in 0 1; do
  JOB_COMPLETION_INDEX=$i "$BIN" run --manifest "$W/manifest.csv" --out s3://fer-test/night/ --shard-count 2 \
    "${FLAGS[@]}" --report "$W/report-$i.json" > "$W/run-$i.log" 2>&1 &
  pids[$i]=$!
done
for i in 0 1; do
  set +e; wait "${pids[$i]}"; rc=$?; set -e
  check "shard $i exited 0" test "$rc" = 0
  check "shard $i says it took its index from JOB_COMPLETION_INDEX" grep -q JOB_COMPLETION_INDEX "$W/run-$i.log"
done
s3 ls fer-test night/ > "$W/keys-1"
cut -f1 "$W/keys-1" | sed 's/^/   /'
pat='^night/table=(faces|persons|crowd)/date=2026-12-0[12]/camera=(0042|front%20door)/part-[0-9a-f]+\.parquet$'
check "the keys: night/_fer_batch_dataset.json + 6 parts (3 tables x 2 videos), nothing else" \
  test "$(cut -f1 "$W/keys-1" | grep -c '^night/_fer_batch_dataset.json$') $(cut -f1 "$W/keys-1" | grep -Ec "$pat") $(wc -l < "$W/keys-1")" = "1 6 7"
check "camera=0042 under date=2026-12-01 and camera=front%20door under date=2026-12-02, in each table" \
  test "$(cut -f1 "$W/keys-1" | grep -Ec '^night/table=[a-z]+/(date=2026-12-01/camera=0042|date=2026-12-02/camera=front%20door)/')" = 6
if $CHECK complete s3://fer-test/night/ "$W/manifest.csv"; then ok "every video exactly once, readable through pyarrow's S3 client"; else bad "dataset_check complete on s3"; fi
check "no unfinished multipart uploads left" test -z "$(s3 uploads fer-test night/)"

echo "== 2. --dry-run against the bucket"
check "--dry-run lists both videos as done" \
  test "$("$BIN" run --manifest "$W/manifest.csv" --out s3://fer-test/night/ --shard-count 1 --shard-index 0 --dry-run "${FLAGS[@]}" -q | cut -f1 | tr '\n' ' ')" = "done done "

echo "== 3. rerun: skipped by key"
set +e; "$BIN" run --manifest "$W/manifest.csv" --out s3://fer-test/night/ "${FLAGS[@]}" --report "$W/report-rerun.json" > "$W/rerun.log" 2>&1; rc=$?; set -e
check "rerun exited 0" test "$rc" = 0
check "rerun reported both videos skipped" test "$(report_statuses "$W/report-rerun.json")" = "skipped skipped"
s3 ls fer-test night/ > "$W/keys-2"
check "rerun: no key added, removed or rewritten (same ETag, LastModified)" diff "$W/keys-1" "$W/keys-2"

echo "== 4. SIGTERM in the middle of a run into s3://fer-test/interrupted/"
{ echo "# path,camera,start_utc"; for c in "${clips[@]}"; do echo "$(realpath "$c"),gate,2026-12-03T01:00:00Z"; done; } > "$W/manifest-all.csv"
"$BIN" run --manifest "$W/manifest-all.csv" --out s3://fer-test/interrupted/ "${FLAGS[@]}" --jobs 1 \
  --report "$W/report-int.json" > "$W/interrupted.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  s3 ls fer-test interrupted/table= > "$W/poll"
  grep -q 'part-' "$W/poll" && break
  [ -d "/proc/$pid" ] || break
  sleep 0.2
done
sleep 0.3  # let the next video start, then interrupt it
running=no; [ -d "/proc/$pid" ] && running=yes
kill -TERM "$pid" 2>/dev/null || true
set +e; wait "$pid"; rc=$?; set -e
check "fer-batch was still running when SIGTERM came" test "$running" = yes
check "exit code 143 after SIGTERM" test "$rc" = 143
s3 ls fer-test interrupted/ > "$W/keys-int"
echo "   $(grep -c '/part-' "$W/keys-int" || true) part keys visible after the interruption"
check "no _staging/ key visible" test -z "$(cut -f1 "$W/keys-int" | grep '^interrupted/_staging/' || true)"
if $CHECK no-partial s3://fer-test/interrupted/ --min-complete 1 --max-complete $((${#clips[@]} - 1)); then
  ok "every visible part complete and readable, completed videos whole (dataset_check no-partial)"
else
  bad "dataset_check no-partial on s3 after SIGTERM"
fi
left=$(s3 uploads fer-test interrupted/ | wc -l)
echo "   note: $left unfinished multipart upload(s) left after SIGTERM (invisible to readers; an AbortIncompleteMultipartUpload lifecycle rule removes them)"

echo "== 5. an endpoint that nothing listens on: a temporary failure (exit 75), unlike a bad address (exit 2)"
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
set +e
AWS_ENDPOINT_URL=http://127.0.0.1:$DEAD "$BIN" run --manifest "$W/manifest.csv" --out s3://fer-test/unreachable/ "${FLAGS[@]}" > "$W/unreachable.log" 2>&1; rc=$?
"$BIN" run --manifest "$W/manifest.csv" --out s3:///no-bucket "${FLAGS[@]}" > "$W/bad-url.log" 2>&1; rc_url=$?
set -e
check "unreachable endpoint: exit 75 (retry later)" test "$rc" = 75
check "unreachable endpoint: says to retry later" grep -q "could not be reached.*retry later" "$W/unreachable.log"
check "malformed s3:// address: exit 2 (do not retry)" test "$rc_url" = 2

echo "s3-test: $pass passed, $fail failed ($((SECONDS - t0)) s)"
[ "$fail" = 0 ]
