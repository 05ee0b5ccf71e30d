#!/usr/bin/env bash
# The test command of the README: every test, the browser tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export JC_TEST_RUN_ID="${JC_TEST_RUN_ID:-$(date +%s)-$$}"
export JUPYTER_CONTAINERIZE_LABELS="io.jupyter-containerize.test-run=$JC_TEST_RUN_ID"
.venv/bin/ruff check jupyter_containerize tests benchmarks
.venv/bin/mypy jupyter_containerize
.venv/bin/lint-imports  # the layers of docs/architecture.md (contracts in pyproject.toml)
exec .venv/bin/python -m pytest tests "$@"
