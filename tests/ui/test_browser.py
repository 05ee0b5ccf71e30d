"""Runs the browser tests (tests/ui/run.sh: Lab with Galata, the widget under Notebook 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _missing() -> str | None:
    if not (os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")):
        return "chromium is not installed (apt-get install chromium)"
    if not shutil.which("npm"):
        return "npm is not installed"
    return None


def _run_suite(suite: str, timeout: int) -> None:
    """tests/ui/run.sh with one suite (lab, notebook7); fails with the tail of its output."""
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {missing}")
        pytest.skip(missing)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERIZE_UI_SUITES"] = suite
    result = subprocess.run(
        ["bash", str(HERE / "run.sh")],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-80:])
    assert result.returncode == 0, f"playwright failed:\n{tail}"


@pytest.mark.browser
@pytest.mark.timeout(1800)
def test_lab_extension_in_chromium() -> None:
    _run_suite("lab", timeout=1750)


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_widget_panel_in_notebook7() -> None:
    """%containerize shows the widget panel under Notebook 7 and its Build button builds."""
    _run_suite("notebook7", timeout=550)
