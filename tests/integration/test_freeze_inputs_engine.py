"""Bad input that shows only once the build resolves what the lock pins, on the real engine:
a pin of a distribution the package index does not have stops the build with one line that
names it, and no image is left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import cli
from jc_support import TEST_LABEL, TEST_RUN_ID

pytestmark = [pytest.mark.engine, pytest.mark.hostile]

MISSING = "jc-no-such-dist-4711"


def _env_with_a_distribution_no_index_has(folder: Path) -> Path:
    """A venv that has MISSING 1.0 installed as pip installs from an index (no direct_url):
    the lock pins it ``==1.0``, and the index has never heard of it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = next((folder / "lib").glob("python3*/site-packages"))
    info = site / "jc_no_such_dist_4711-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MISSING}\nVersion: 1.0\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text(
        "".join(f"{info.name}/{f},,\n" for f in ("METADATA", "INSTALLER", "RECORD")))
    return folder / "bin" / "python"


def test_pin_of_a_distribution_the_index_does_not_have(tmp_path: Path,
                                                       docker_client: object) -> None:
    python = _env_with_a_distribution_no_index_has(tmp_path / "venv")
    nb = tmp_path / "pins" / "pins.ipynb"
    nb.parent.mkdir()
    nb.write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "source": "print(1)", "outputs": [],
                   "execution_count": None}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    before = nb.read_bytes()
    tag = f"jc-test-pins:{TEST_RUN_ID}"
    proc = cli("build", str(nb), "--python", str(python), "--tag", tag,
               env={"JUPYTER_CONTAINERIZE_LABELS": f"{TEST_LABEL}={TEST_RUN_ID}"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, out
    # the freeze pinned it; the resolution for the image is what fails, naming it
    lock = json.loads(nb.with_name("pins.lock.json").read_text())
    assert f"{MISSING}==1.0" in [p["requirement"] for p in lock["packages"]]
    assert f"{MISSING} is not on the package index " in lines[0], lines[0]
    assert "correct its pin" in lines[0] and "UV_INDEX_URL" in lines[0], lines[0]
    assert nb.read_bytes() == before
    assert docker_client.images.list(name="jc-test-pins") == []  # type: ignore[attr-defined]
