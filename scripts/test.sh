#!/usr/bin/env bash
# The whole test suite: formatting and lints, unit tests, integration tests on real footage from
# ../shared/data (skipped with a note where that folder is absent), SQL checks through DuckDB and
# pyarrow, the path and vendored crates, then the `cuda` feature (issue 8): built against PyPI's
# libtorch (scripts/torch-env.sh installs it into .torch-venv on first use) and tested on
# libtorch's CPU device. Installs its own system dependencies first (idempotent), so it runs on a
# fresh machine. Each phase ends with a `== <phase> took Ns` line, and the run with the total.
#
# Where the time goes on a fresh 2-core machine, and what keeps it down (issue 18; the measured
# phase times are in the README, "Testing"):
# - Tests run in the release profile, the profile that setup.sh builds, so after setup.sh the
#   dependencies are not built again. Cargo.toml lists three crates with the features that the
#   dev-dependencies turn on, so `cargo build` and `cargo test` resolve the same features and
#   share every dependency build (without that, burn and clap were built twice).
# - `clippy` runs in the release profile too. It checks every dependency in check mode (metadata
#   only, no code generation), but proc macros, build scripts and their dependencies are real
#   builds, and in the release profile they are the same builds that `test` needs (in the dev
#   profile they were extra ones, at `opt-level = 3` because of `[profile.dev.package."*"]`:
#   about three quarters of a fresh dev-profile clippy's compile time, measured with
#   `--timings` in session 12).
# - `test` builds the lib, the binary, the integration test, the benches and the examples
#   together (one cargo invocation, one build graph).
# - The `cuda` feature changes burn's features, so burn, burn-tch, torch-sys and fer-batch are
#   built again, in the same target directory (so that arrow, parquet, FFmpeg's bindings, tokio
#   and the rest are shared). That build is only worth its cost for what differs: the libtorch
#   code path. So the phase builds only the lib tests and the integration test and runs only the
#   tests that compare libtorch with the default backend (the `libtorch_*` equivalence tests) and
#   its device error (`a_missing_cuda_device_is_a_clear_error`); the rest of the suite does not
#   depend on the backend and already ran. The cuda-only lines are compiled by that build, so a
#   compile error or warning in them still shows here. It runs last, and the default binary is
#   put back in target/release afterwards (a no-op build that re-links it).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
# `phase NAME CMD…`: runs CMD (stderr into stdout, for logs) and prints how long it took; a
# failing phase ends the run.
phase() {
  local name=$1 t0=$SECONDS
  shift
  echo "== $name"
  if ! "$@" 2>&1; then
    echo "== $name FAILED after $((SECONDS - t0))s"
    exit 1
  fi
  echo "== $name took $((SECONDS - t0))s"
}

phase "deps: system packages and the Python venv" bash scripts/deps.sh
export PATH="$PWD/.venv/bin:$PATH"
export FER_REQUIRE_SQL=1 FER_REQUIRE_BROWSER=1

phase "fmt: rustfmt --check" cargo fmt --check
phase "clippy: every target, warnings are errors" cargo clippy --release --all-targets -- -D warnings
phase "test: unit, integration, SQL, benches and examples" cargo test --release --all-targets
# sldcnn-cpu: the CPU inference kernels against a reference convolution; yunet-cpu: the face
# detector's kernels and decoding; rustface: its patches checked against upstream 0.1.7's code.
phase "crates: sldcnn-cpu and yunet-cpu" cargo test --release -p sldcnn-cpu -p yunet-cpu
phase "crates: vendored rustface" cargo test --release -p rustface --lib
# Scale-out (issue 19): the cluster scripts run target/release/fer-batch; each starts and stops
# its own servers on 127.0.0.1 and installs what it needs (Debian's Slurm and OpenJDK, PyPI tools
# in .venv-deploy) on first use.
phase "cluster: Kubernetes manifests (kubernetes-validate --strict, 1.31-1.37)" bash tests/cluster/k8s-validate.sh
phase "cluster: a 4-task Slurm array on a private single-node cluster" bash tests/cluster/slurm-test.sh
phase "cluster: --out s3:// against moto_server" bash tests/cluster/s3-test.sh
phase "cluster: the dataset read by DuckDB, Polars, DataFusion and Spark" bash tests/cluster/consumers-test.sh
phase "cuda: libtorch against the default backend, on libtorch's CPU device" \
  env CARGO_TARGET_DIR="$PWD/target" bash scripts/torch-env.sh cargo test --release --features cuda --lib --test integration -- \
  libtorch a_missing_cuda_device_is_a_clear_error
phase "cuda: put the default binary back in target/release" cargo build --release
echo "== all phases took $((SECONDS - started))s"
