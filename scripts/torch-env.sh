#!/usr/bin/env bash
# Runs a command (e.g. `cargo build --release --features cuda`) with the libtorch that fer-batch's
# `cuda` feature builds and runs against: PyPI's torch wheel in `.torch-venv` (installed on first
# use, several GB and a few minutes; it brings CUDA's runtime libraries with it), exported the way
# torch-sys expects (LIBTORCH_USE_PYTORCH) and put on the library path for running.
#
#   bash scripts/torch-env.sh cargo build --release --features cuda   # → target/cuda/release/fer-batch
#   bash scripts/torch-env.sh target/cuda/release/fer-batch eval --device cuda --data …
#
# Cargo builds into target/cuda (unless CARGO_TARGET_DIR is set), so the `cuda` build and the
# default one do not overwrite each other's binaries.
#
# The version is pinned to the torch that the GPU machines here carry (2.11.0+cu130), so a binary
# built here links against the same libtorch ABI as theirs. tch 0.22 was written for 2.9.0;
# LIBTORCH_BYPASS_VERSION_CHECK lets torch-sys accept 2.11.0, and the `cuda` feature's tests check
# that the result computes the same probabilities as the default backend.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${FER_TORCH_VERSION:-2.11.0}"
venv="$root/.torch-venv"
if ! "$venv/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$version')" 2>/dev/null; then
  echo "torch-env: installing torch==$version from PyPI into .torch-venv (several GB, a few minutes)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==$version"
fi
torch_lib="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/cuda}"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$@"
