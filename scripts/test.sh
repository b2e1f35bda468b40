#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests on real footage from ../shared/data
# (skipped with a note where that folder is absent), SQL checks through DuckDB and pyarrow,
# then the `cuda` feature (issue 8): built against PyPI's libtorch (scripts/torch-env.sh
# installs it into .torch-venv on first use) and tested on libtorch's CPU device.
# Installs its own system dependencies first (idempotent), so it runs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PWD/.venv/bin:$PATH"
export FER_REQUIRE_SQL=1 FER_REQUIRE_BROWSER=1
cargo test --all-targets 2>&1
echo "== vendored rustface: its patches checked against upstream 0.1.7's code"
cargo test -p rustface --lib 2>&1
echo "== sldcnn-cpu: the CPU inference kernels against a reference convolution"
cargo test -p sldcnn-cpu 2>&1
echo "== yunet-cpu: the face detector's kernels and decoding"
cargo test -p yunet-cpu 2>&1
echo "== the cuda feature (libtorch), tested on libtorch's CPU device"
bash scripts/torch-env.sh cargo test --features cuda --lib 2>&1
bash scripts/torch-env.sh cargo test --features cuda --test integration -- model:: 2>&1
