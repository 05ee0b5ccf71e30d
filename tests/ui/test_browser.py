"""Runs the Galata browser tests (tests/ui/run.sh) as part of the one pytest command."""

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


@pytest.mark.browser
@pytest.mark.timeout(1800)
def test_lab_extension_in_chromium() -> None:
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {missing}")
        pytest.skip(missing)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", str(HERE / "run.sh")],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=1750,
        check=False,
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-80:])
    assert result.returncode == 0, f"playwright failed:\n{tail}"
