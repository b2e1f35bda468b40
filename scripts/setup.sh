#!/usr/bin/env bash
# First command of the README: installs the system packages and the Python venv, builds the
# release binary, and runs the main job on a real classroom clip from ../shared/data (or on
# the clip given as the first argument), then queries the result with DuckDB.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release
clip="${1:-../shared/data/video/classroom_front_848x480.mp4}"
if [ ! -f "$clip" ]; then
  echo "setup: built target/release/fer-batch; no sample clip at $clip (pass one as the first argument)"
  exit 0
fi
mkdir -p results
./target/release/fer-batch run "$clip" --out results/classroom.parquet --pipeline classroom --force
.venv/bin/python - <<'PY'
import duckdb
print(duckdb.sql("""
  SELECT person_id, count(*) AS frames, mode(label) AS usual_expression,
         round(avg(s_happy), 3) AS mean_happy
  FROM 'results/classroom.parquet' GROUP BY person_id ORDER BY frames DESC LIMIT 8"""))
print(duckdb.sql("""
  SELECT window_start_s, people, round(pct_happy,1) AS pct_happy, round(pct_neutral,1) AS pct_neutral,
         round(pct_sad,1) AS pct_sad, dominant_label
  FROM 'results/classroom.crowd.parquet' ORDER BY window_start_s"""))
PY
