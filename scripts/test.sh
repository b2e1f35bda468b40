#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests on real footage from ../shared/data
# (skipped with a note where that folder is absent), SQL checks through DuckDB and pyarrow.
# Installs its own system dependencies first (idempotent), so it runs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PWD/.venv/bin:$PATH"
export FER_REQUIRE_SQL=1 FER_REQUIRE_BROWSER=1
cargo test --all-targets 2>&1
