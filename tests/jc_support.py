"""What tests share beyond fixtures: the CI switch, the run's label, the engine check."""

from __future__ import annotations

import os
import uuid

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_RUN_ID = os.environ.get("JC_TEST_RUN_ID") or uuid.uuid4().hex[:12]
TEST_LABEL = "io.jupyter-containerize.test-run"


def engine_or_skip() -> object:
    """The Docker client, or a skip with the reason (a failure under CI=true)."""
    from jupyter_containerize.core import engine
    from jupyter_containerize.core.errors import EngineUnavailableError

    try:
        return engine.client()
    except EngineUnavailableError as exc:
        if CI:
            pytest.fail(f"CI=true and no engine: {exc.one_line()}")
        pytest.skip(f"no Docker engine answers: {exc.one_line()}")
