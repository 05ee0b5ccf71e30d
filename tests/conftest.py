"""Shared test set-up: CI never passes by skipping; everything a test creates is labelled."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from jc_support import CI, TEST_LABEL, TEST_RUN_ID, engine_or_skip, skip_or_fail

SECOND_ENGINE = Path(__file__).resolve().parents[1] / "scripts" / "second-engine.sh"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("JC_TEST_RUN_ID", TEST_RUN_ID)
    # everything the core creates during tests carries this run's label
    os.environ.setdefault("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if CI and report.skipped:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped or xfailed under CI=true, which must not happen: {reason}"


@pytest.fixture(scope="session")
def docker_client() -> object:
    return engine_or_skip()


@pytest.fixture(scope="session")
def containerd_engine() -> Iterator[str]:
    """The DOCKER_HOST of a second engine with the containerd image store (Docker Engine 26,
    the store Docker Engine 29 and Docker Desktop use by default), started clean for the session
    by scripts/second-engine.sh and stopped, with everything in it, at its end."""
    if os.geteuid() != 0:
        skip_or_fail("the containerd-store engine needs root (dockerd does)")
    # a short folder: the engine's unix socket lives in it
    folder = tempfile.mkdtemp(prefix="jc2-", dir="/tmp")
    try:
        proc = subprocess.run(
            ["bash", str(SECOND_ENGINE), "start", folder, "--store", "containerd"],
            capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        subprocess.run(["bash", str(SECOND_ENGINE), "stop", folder], capture_output=True,
                       timeout=300)
        skip_or_fail("the containerd-store engine did not start within 15 minutes")
    if proc.returncode != 0:
        skip_or_fail("the containerd-store engine did not start (scripts/second-engine.sh): "
                     + proc.stderr.strip()[-400:])
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SECOND_ENGINE), "stop", folder], capture_output=True,
                       timeout=300)


@pytest.fixture(scope="session")
def test_labels() -> dict[str, str]:
    return {TEST_LABEL: TEST_RUN_ID}


@pytest.fixture(scope="session", autouse=True)
def _cleanup_by_label() -> object:
    yield
    try:
        from jupyter_containerize.core.engine import client as engine

        cli = engine.client()
    except Exception:
        return
    flt = {"label": f"{TEST_LABEL}={TEST_RUN_ID}"}
    for c in cli.containers.list(all=True, filters=flt):
        c.remove(force=True)
    for img in cli.images.list(filters=flt):
        try:
            cli.images.remove(img.id, force=True)
        except Exception:
            pass
