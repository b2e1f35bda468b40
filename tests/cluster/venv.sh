# Sourced by the tests in tests/cluster/: the Python venv `.venv-deploy` (ignored by git) with
# pinned tools from PyPI, created on first use.
#   deploy_venv_need MODULE PIP_SPEC...   installs PIP_SPEC unless `import MODULE` works
# Sets DEPLOY_PY to the venv's python.
DEPLOY_VENV=${DEPLOY_VENV:-$PWD/.venv-deploy}
DEPLOY_PY=$DEPLOY_VENV/bin/python
deploy_venv_need() {
  local module=$1; shift
  if [ ! -x "$DEPLOY_PY" ]; then
    echo "venv: creating $DEPLOY_VENV"
    python3 -m venv "$DEPLOY_VENV"
  fi
  if ! "$DEPLOY_PY" -c "import $module" 2>/dev/null; then
    echo "venv: installing $*"
    "$DEPLOY_VENV/bin/pip" install -q --disable-pip-version-check "$@"
  fi
}
