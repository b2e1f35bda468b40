#!/usr/bin/env bash
# Installs what fer-batch needs on a fresh Debian 12 machine of this kind: FFmpeg's
# development libraries and CLI, clang (bindgen for ffmpeg-sys), g++ (torch-sys for the `cuda`
# feature), pkg-config, and a Python venv
# (.venv) with DuckDB and pyarrow for the SQL tests. Idempotent and quiet when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(pkg-config clang libclang-dev g++ ffmpeg libavcodec-dev libavformat-dev libavutil-dev
      libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev python3-venv chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import duckdb, pyarrow" 2>/dev/null; then
  echo "deps: creating .venv with duckdb and pyarrow"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check duckdb==1.4.1 pyarrow==21.0.0
fi
