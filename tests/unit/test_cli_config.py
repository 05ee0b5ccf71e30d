"""`jupyter containerize` takes its defaults from `jupyter_containerize_config.py` in the
Jupyter config dir, as a user writes it: a `freeze` with no --lock writes the configured lock
mode and platform, and a flag on the line still wins. No engine: a freeze only captures and
locks the example notebook's venv."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from helpers import EXAMPLE, EXAMPLE_PYTHON, cli  # noqa: E402
from jc_support import skip_or_fail  # noqa: E402

CONFIG = """\
c.ContainerizeConfig.lock_mode = "imported"
c.ContainerizeConfig.platform = "linux/arm64"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if not EXAMPLE_PYTHON.exists():
        skip_or_fail(f"no example venv at {EXAMPLE_PYTHON} (scripts/setup.sh makes it)")
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(EXAMPLE / "classifier.ipynb", folder)
    return folder / "classifier.ipynb"


@pytest.fixture
def config_dir(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "jupyter-config"
    folder.mkdir()
    (folder / "jupyter_containerize_config.py").write_text(CONFIG)
    return {"JUPYTER_CONFIG_DIR": str(folder)}


def _freeze(notebook: Path, env: dict[str, str], *flags: str) -> dict[str, object]:
    proc = cli("freeze", str(notebook), "--python", str(EXAMPLE_PYTHON), *flags, env=env,
               timeout=300)
    assert proc.returncode == 0, proc.stderr
    lock_file = notebook.with_suffix(".lock.json")
    assert proc.stdout.strip() == str(lock_file)
    lock: dict[str, object] = json.loads(lock_file.read_text())
    assert f"({lock['mode']} lock)" in proc.stderr, proc.stderr
    return lock


def test_freeze_writes_the_configured_lock_mode_and_platform(
        project: Path, config_dir: dict[str, str]) -> None:
    lock = _freeze(project, config_dir)
    assert (lock["mode"], lock["platform"]) == ("imported", "linux/arm64")


def test_a_flag_on_the_line_wins_over_the_configuration(
        project: Path, config_dir: dict[str, str]) -> None:
    lock = _freeze(project, config_dir, "--lock", "full", "--platform", "linux/amd64")
    assert (lock["mode"], lock["platform"]) == ("full", "linux/amd64")

