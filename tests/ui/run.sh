#!/usr/bin/env bash
# Browser tests: the lab extension (Galata, playwright.config.js) and the %containerize widget
# panel under Notebook 7 (playwright-notebook7.config.js); each config starts its own server.
# npm deps, Debian chromium. CONTAINERIZE_UI_SUITES picks suites (default: "lab notebook7").
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
from jupyter_containerize.core.engine import client as engine
label = f"io.jupyter-containerize.test-run={os.environ['JC_TEST_RUN_ID']}"
client = engine.client()
for container in client.containers.list(all=True, filters={"label": label}):
    container.remove(force=True)
# and the images built here (the Notebook 7 widget labels its build through the kernel's env)
for image in client.images.list(filters={"label": label}):
    try:
        client.images.remove(image.id, force=True)
    except Exception:
        pass
PY
  rm -rf "$scratch"
}
trap cleanup EXIT
export JUPYTER_CONFIG_DIR="$scratch/config" JUPYTER_RUNTIME_DIR="$scratch/runtime"
export JUPYTERLAB_GALATA_ROOT_DIR="${JUPYTERLAB_GALATA_ROOT_DIR:-$scratch/root}"
export JUPYTER_CONTAINERIZE_DATA_DIR="${JUPYTER_CONTAINERIZE_DATA_DIR:-$scratch/data}"
# kernelspecs that `Open a kernel` installs, and the registry login of the team spec
export JUPYTER_DATA_DIR="$scratch/jupyter-data" DOCKER_CONFIG="$scratch/docker-config"
# the Notebook 7 server's root (notebook7_server_config.py copies the example there)
export CONTAINERIZE_NB7_ROOT="$scratch/notebook7-root"
mkdir -p "$JUPYTERLAB_GALATA_ROOT_DIR" "$scratch/config-notebook7"
# the Notebook 7 kernel is the development venv: its magic reads the one settings file of its
# own config folder, so its images lock what the notebook imports
cat > "$scratch/config-notebook7/jupyter_containerize_config.py" <<'CFG'
c.ContainerizeConfig.lock_mode = "imported"
CFG

# arguments that select tests of one suite leave the other without any: not a failure then
extra=()
if [ "$#" -gt 0 ]; then
  extra=(--pass-with-no-tests)
fi
status=0
for suite in ${CONTAINERIZE_UI_SUITES:-lab notebook7}; do
  case "$suite" in
    lab) config=playwright.config.js ;;
    notebook7) config=playwright-notebook7.config.js ;;
    *) echo "error: unknown suite $suite (lab, notebook7)" >&2; exit 2 ;;
  esac
  echo "== $suite ($config)"
  if [ "$suite" = notebook7 ]; then
    JUPYTER_CONFIG_DIR="$scratch/config-notebook7" \
      npx playwright test -c "$config" "${extra[@]}" "$@" || status=$?
  else
    npx playwright test -c "$config" "${extra[@]}" "$@" || status=$?
  fi
done
exit "$status"
