#!/usr/bin/env bash
# Everything a fresh Debian machine lacks for the demo and the tests, idempotent:
# system services (engine, registry, chromium), the development venv with this package,
# the example's own kernel environment, and an offline base image for its Python.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }

bash scripts/services.sh

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import jupyter_containerize, pytest_jupyter, uv" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  log "installing the package and its test tools into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[test]"
  touch .venv/.installed
fi

# The example runs in a kernel of its own: the demo and tests freeze that environment.
if [ ! -x .venv-example/bin/python ] || [ examples/classifier/requirements.txt -nt .venv-example/.installed ]; then
  log "creating the example's kernel environment (.venv-example)"
  "$PY" -m venv .venv-example
  .venv-example/bin/pip install -q -r examples/classifier/requirements.txt
  touch .venv-example/.installed
fi
.venv-example/bin/python -m ipykernel install --prefix "$PWD/.venv" --name containerize-example \
  --display-name "Python (containerize example)" >/dev/null 2>&1

# Offline base image for the example kernel's Python (reused when present).
.venv/bin/jupyter containerize -q base --bootstrap --python "$(.venv-example/bin/python -c 'import sys;print("%d.%d" % sys.version_info[:2])')" >/dev/null
log "ready"
