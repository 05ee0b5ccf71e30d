"""Every verb from a plain `pip install` of the package: a fresh virtual environment with this
repository installed with its declared dependencies only (no extras, so no numpy, pandas or
scikit-learn), then --help, doctor, build, run (the example saves its model), serve of that
model, runs and stop, each ending with exit 0 and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers import EXAMPLE_PYTHON, ROOT, example_project
from jc_support import TEST_LABEL, TEST_RUN_ID

pytestmark = pytest.mark.engine
NAME = f"t-plain-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> Path:
    """The bin folder of a fresh venv holding `pip install <this repository>`, made once."""
    venv = tmp_path_factory.mktemp("plain-install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)],
        capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for absent in ("numpy", "pandas", "sklearn"):  # what the runtime's models need
        check = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {absent}"],
                               capture_output=True)
        assert check.returncode != 0, f"{absent} is installed without being declared"
    return venv / "bin"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data directory of this module's CLI (its job store, admin tokens)."""
    return tmp_path_factory.mktemp("plain-data")


def _jc(plain: Path, home: Path, *args: str,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`jupyter containerize ARGS` from the plain install, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update({
        "PATH": f"{plain}{os.pathsep}{env.get('PATH', '')}",
        "JUPYTER_CONTAINERIZE_DATA_DIR": str(home),
        "JUPYTER_CONTAINERIZE_LABELS": f"{TEST_LABEL}={TEST_RUN_ID}",
    })
    proc = subprocess.run([str(plain / "jupyter"), "containerize", *args], capture_output=True,
                          text=True, timeout=1500, env=env, cwd=cwd)
    shown = f"$ jupyter containerize {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    assert "ModuleNotFoundError" not in proc.stdout + proc.stderr, shown
    assert proc.returncode == 0, shown
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_project(tmp_path_factory.mktemp("plain-project"),
                           f"plain install test {TEST_RUN_ID}")


@pytest.fixture(scope="module")
def deployed(plain: Path, home: Path, project: Path) -> Iterator[str]:
    """build, run (saving model.joblib), serve of that model; the deployment's name."""
    _jc(plain, home, "build", str(project), "--python", str(EXAMPLE_PYTHON))
    artifacts = project.parent.parent / "artifacts"  # outside the notebook folder
    ran = _jc(plain, home, "run", str(project), "--python", str(EXAMPLE_PYTHON),
              "--artifacts", str(artifacts))
    model = artifacts / "model.joblib"
    assert model.is_file(), sorted(p.name for p in artifacts.iterdir())
    run_id = ran.stdout.split("run ", 1)[1].split(":", 1)[0]
    try:  # the model named by the run that wrote it
        served = _jc(plain, home, "serve", f"run:{run_id}/model.joblib", "--notebook", str(project),
                     "--python", str(EXAMPLE_PYTHON), "--name", NAME)
        yield served.stdout
    finally:
        subprocess.run([str(plain / "jupyter-containerize"), "stop", NAME],
                       capture_output=True, timeout=300,
                       env={**os.environ, "JUPYTER_CONTAINERIZE_DATA_DIR": str(home)})


def test_help_and_doctor(plain: Path, home: Path) -> None:
    out = _jc(plain, home, "--help").stdout
    assert "serve" in out and "build" in out
    _jc(plain, home, "doctor")


def test_build_run_serve_runs_from_a_plain_install(plain: Path, home: Path, project: Path,
                                                   deployed: str) -> None:
    url = next(ln.strip() for ln in deployed.splitlines() if ln.strip().startswith("http"))
    assert requests.get(f"{url}/ping", timeout=10).status_code == 200
    row = [[0.0] * 30]
    answer = requests.post(f"{url}/invocations", json={"instances": row}, timeout=30)
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1
    listed = _jc(plain, home, "runs").stdout
    assert "classifier" in listed
    assert NAME in _jc(plain, home, "deployments").stdout
