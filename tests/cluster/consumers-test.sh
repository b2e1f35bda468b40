#!/usr/bin/env bash
# consumers-test.sh - the dataset fer-batch writes, read by the engines users point at it:
# DuckDB, Polars, DataFusion and Spark (tests/cluster/consumers.py has the checks: partition
# discovery, documented column types, a pruned query per date/camera, faces, persons and
# crowd tables). The dataset comes from a real fer-batch run over 4 real clips with the
# cameras `0042` (must stay a string) and `front door` (escaped `front%20door` in the path),
# recorded on two dates.
# Env: FER_BATCH_BIN (default target/release/fer-batch), FER_TEST_VIDEOS (default
# ../shared/data/video; skipped with a note when absent), CONSUMERS (default
# duckdb,polars,datafusion,spark). Installs Debian's openjdk-17-jre-headless when java is
# missing and the readers into .venv-deploy (pyspark is a ~456 MB download, once).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$(realpath "${FER_BATCH_BIN:-target/release/fer-batch}")
VIDEOS=${FER_TEST_VIDEOS:-$ROOT/../shared/data/video}
[ -x "$BIN" ] || { echo "FAIL: no fer-batch binary at $BIN (set FER_BATCH_BIN)"; exit 1; }
shopt -s nullglob
clips=()
for name in classroom_front_848x480 talking_head_woman_596x336 single_face_phone_596x336 classroom_cctv_overhead_640x352; do
  [ -f "$VIDEOS/$name.mp4" ] && clips+=("$(realpath "$VIDEOS/$name.mp4")")
done
if [ ${#clips[@]} -lt 4 ]; then
  for c in "$VIDEOS"/*.mp4; do [ ${#clips[@]} -lt 4 ] && clips+=("$(realpath "$c")"); done
fi
if [ ${#clips[@]} -lt 4 ]; then echo "note: fewer than 4 clips in $VIDEOS; skipping the consumers test"; exit 0; fi

t0=$SECONDS
if ! command -v java >/dev/null; then
  echo "installing openjdk-17-jre-headless (Debian) for Spark"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi
source tests/cluster/venv.sh
# pyspark 4.3 builds from an sdist that needs setuptools
deploy_venv_need setuptools setuptools
deploy_venv_need "duckdb, polars, datafusion, pyspark, pyarrow" \
  duckdb==1.4.1 pyarrow==21.0.0 polars==2.1.0 datafusion==55.0.0 pyspark==4.3.0
echo "   (installs: $((SECONDS - t0)) s)"

W=$(mktemp -d "${TMPDIR:-/tmp}/fer-consumers-test.XXXXXX")
trap 'rm -rf "$W"' EXIT
{
  echo "# path,camera,start_utc"
  echo "${clips[0]},0042,2026-12-01T22:00:00Z"
  echo "${clips[1]},front door,2026-12-01T23:15:00Z"
  echo "${clips[2]},0042,2026-12-02T00:30:00Z"
  echo "${clips[3]},front door,2026-12-02T07:00:00Z"
} > "$W/manifest.csv"
echo "== fer-batch run over 4 clips into $W/ds/"
set +e
"$BIN" run --manifest "$W/manifest.csv" --out "$W/ds/" --untrained --sample-fps 1 -q
rc=$?
set -e
[ $rc = 0 ] || { echo "FAIL - fer-batch run exited $rc"; exit 1; }
echo "ok   - fer-batch run exited 0"
"$DEPLOY_PY" tests/cluster/consumers.py "$W/ds" --engines "${CONSUMERS:-duckdb,polars,datafusion,spark}"
echo "consumers-test: passed ($((SECONDS - t0)) s)"
