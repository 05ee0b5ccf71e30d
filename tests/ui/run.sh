#!/usr/bin/env bash
# Browser tests of the lab extension: npm deps, Debian chromium, Galata (starts its own Jupyter).
# Usage: tests/ui/run.sh [playwright test arguments...]
set -euo pipefail
cd "$(dirname "$0")"
repo="$(cd ../.. && pwd)"

if [ -x "$repo/.venv/bin/jupyter" ] && ! command -v jupyter >/dev/null 2>&1; then
  export PATH="$repo/.venv/bin:$PATH"
fi
export CHROMIUM_PATH="${CHROMIUM_PATH:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM_PATH" ]; then
  echo "error: no chromium (apt-get install chromium, or set CHROMIUM_PATH)" >&2
  exit 2
fi

# npm ci when the installed tree is missing or older than the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# keep Jupyter and our job store out of the home directory
scratch="$(mktemp -d)"
export JC_TEST_RUN_ID="${JC_TEST_RUN_ID:-ui-$(date +%s)-$$}"
cleanup() {
  # remove the containers this run labelled (deployments started from the panel)
  python - <<'PY' || true
import os
from jupyter_containerize.core import engine
label = f"io.jupyter-containerize.test-run={os.environ['JC_TEST_RUN_ID']}"
for container in engine.client().containers.list(all=True, filters={"label": label}):
    container.remove(force=True)
PY
  rm -rf "$scratch"
}
trap cleanup EXIT
export JUPYTER_CONFIG_DIR="$scratch/config" JUPYTER_RUNTIME_DIR="$scratch/runtime"
export JUPYTERLAB_GALATA_ROOT_DIR="${JUPYTERLAB_GALATA_ROOT_DIR:-$scratch/root}"
export JUPYTER_CONTAINERIZE_DATA_DIR="${JUPYTER_CONTAINERIZE_DATA_DIR:-$scratch/data}"
# kernelspecs that `Open a kernel` installs, and the registry login of the team spec
export JUPYTER_DATA_DIR="$scratch/jupyter-data" DOCKER_CONFIG="$scratch/docker-config"
mkdir -p "$JUPYTERLAB_GALATA_ROOT_DIR"

npx playwright test "$@"
