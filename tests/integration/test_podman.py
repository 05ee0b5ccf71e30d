"""The example end to end on Podman's Docker-compatible API (`podman system service`, started
by scripts/podman-engine.sh in a folder of its own): build, run with a parameter, serve the
model the run wrote and ask it for predictions, each through the CLI with DOCKER_HOST set, as
a user does; and one-line errors where Podman lacks what a verb needs (Swarm, GPUs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON, assert_one_line_error, cli
from jc_support import TEST_LABEL, TEST_RUN_ID, copy_image, engine_or_skip, skip_or_fail

pytestmark = pytest.mark.engine
PODMAN_ENGINE = Path(__file__).resolve().parents[2] / "scripts" / "podman-engine.sh"
NAME = f"t-podman-{uuid.uuid4().hex[:6]}"
# the first rows of the data set the example trains on
ROWS = ("from sklearn.datasets import load_breast_cancer as l; import json; "
        "print(json.dumps(l().data[:4].tolist()))")
PREDICT = ("import joblib, json, sys; m = joblib.load(sys.argv[1]); "
           "print(json.dumps({'n_estimators': m.n_estimators, "
           "'predictions': m.predict(json.loads(sys.argv[2])).tolist()}))")


def _example_minor() -> str:
    out = subprocess.run([str(EXAMPLE_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout
    return ".".join(out.strip("()\n").replace(" ", "").split(","))


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """DOCKER_HOST of a fresh Podman service holding the Docker engine's base image, and a
    copy of the example; the service and everything in it go at the end."""
    from jupyter_containerize.core.image.base import list_bases

    if os.geteuid() != 0:
        skip_or_fail("Podman's service is started rootful here: the tests need root")
    if not EXAMPLE_PYTHON.exists():
        skip_or_fail(f"{EXAMPLE_PYTHON} is missing: run scripts/setup.sh")
    minor = _example_minor()
    bases = [b for b in list_bases(engine_or_skip()) if b.python_minor == minor]
    if not bases:
        skip_or_fail(f"no bootstrapped base for Python {minor} in the Docker engine to copy "
                     f"into Podman: run `jupyter containerize base --bootstrap --python {minor}`")
    folder = tempfile.mkdtemp(prefix="jcp-", dir="/tmp")  # short: the socket lives in it
    try:
        proc = subprocess.run(["bash", str(PODMAN_ENGINE), "start", folder],
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        proc = subprocess.CompletedProcess([], 1, "", "timed out after 600 s")
    try:
        if proc.returncode != 0:
            skip_or_fail("Podman could not be installed or started (scripts/podman-engine.sh): "
                         + proc.stderr.strip()[-400:])
        host = proc.stdout.strip().splitlines()[-1]
        copy_image(bases[0].reference, host)
        project = tmp_path_factory.mktemp("podman") / "classifier"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".ipynb*", "model*"))
        yield {"env": {"DOCKER_HOST": host,
                       "JUPYTER_CONTAINERIZE_LABELS": f"{TEST_LABEL}={TEST_RUN_ID}"},
               "notebook": project / "classifier.ipynb", "out": project.parent / "out"}
    finally:
        subprocess.run(["bash", str(PODMAN_ENGINE), "stop", folder], capture_output=True,
                       timeout=300)


@pytest.fixture(scope="module")
def built(podman: dict[str, Any]) -> str:
    proc = cli("build", str(podman["notebook"]), "--python", str(EXAMPLE_PYTHON),
               env=podman["env"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def ran(podman: dict[str, Any], built: str) -> dict[str, Any]:
    out = podman["out"]
    proc = cli("-q", "run", str(podman["notebook"]), "--image", built, "-p", "n_estimators",
               "20", "--output", str(out / "classifier.out.ipynb"), "--artifacts",
               str(out / "artifacts"), env=podman["env"])
    return {"proc": proc, "executed": out / "classifier.out.ipynb",
            "model": out / "artifacts" / "model.joblib"}


def _engine(env: dict[str, str]) -> Any:
    import docker

    return docker.DockerClient(base_url=env["DOCKER_HOST"])


def test_doctor_names_podman(podman: dict[str, Any]) -> None:
    proc = cli("doctor", env=podman["env"])
    engine_line = next(ln for ln in proc.stdout.splitlines() if "engine:" in ln)
    assert engine_line.startswith("ok") and "Podman 4." in engine_line, proc.stdout


def test_build_loads_the_image_into_podman(podman: dict[str, Any], built: str) -> None:
    image = _engine(podman["env"]).images.get(built)
    assert image.labels["io.jupyter-containerize.role"] == "notebook", image.labels
    # the image's environment answers: the example's scikit-learn is importable in it
    out = _engine(podman["env"]).containers.run(
        built, ["python", "-c", "import sklearn; print(sklearn.__version__)"], remove=True,
        labels={TEST_LABEL: TEST_RUN_ID})
    host = subprocess.run([str(EXAMPLE_PYTHON), "-c", "import sklearn; print(sklearn.__version__)"],
                          capture_output=True, text=True, check=True).stdout
    assert out.decode().strip() == host.strip()


def test_run_with_a_parameter(ran: dict[str, Any]) -> None:
    assert ran["proc"].returncode == 0, ran["proc"].stderr
    assert "succeeded" in ran["proc"].stdout, ran["proc"].stdout
    cells = json.loads(ran["executed"].read_text())["cells"]
    injected = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
    assert "n_estimators = 20" in "".join(injected["source"])
    texts = [o.get("text", "") for c in cells for o in c.get("outputs", [])]
    printed = "".join("".join(t) if isinstance(t, list) else t for t in texts)
    assert "accuracy: 0." in printed and "saved model.joblib" in printed, printed
    # the model the run wrote was trained with the parameter
    rows = subprocess.run([str(EXAMPLE_PYTHON), "-c", ROWS], capture_output=True, text=True,
                          check=True).stdout.strip()
    local = json.loads(subprocess.run(
        [str(EXAMPLE_PYTHON), "-c", PREDICT, str(ran["model"]), rows],
        capture_output=True, text=True, check=True).stdout)
    assert local["n_estimators"] == 20


def test_serve_the_run_model_and_predict(podman: dict[str, Any], ran: dict[str, Any]) -> None:
    assert ran["model"].exists(), ran["proc"].stderr
    proc = cli("serve", str(ran["model"]), "--notebook", str(podman["notebook"]), "--name",
               NAME, env=podman["env"])
    try:
        assert proc.returncode == 0, proc.stderr
        url = proc.stdout.strip().splitlines()[-1]
        assert url.startswith("http://127.0.0.1:"), proc.stdout
        rows = subprocess.run([str(EXAMPLE_PYTHON), "-c", ROWS], capture_output=True,
                              text=True, check=True).stdout.strip()
        answer = requests.post(f"{url}/invocations", json={"inputs": json.loads(rows)},
                               timeout=30)
        assert answer.status_code == 200, answer.text
        local = json.loads(subprocess.run(
            [str(EXAMPLE_PYTHON), "-c", PREDICT, str(ran["model"]), rows],
            capture_output=True, text=True, check=True).stdout)
        assert answer.json()["predictions"] == local["predictions"]
        listed = cli("deployments", "--json", env=podman["env"])
        mine = [d for d in json.loads(listed.stdout) if d["name"] == NAME]
        assert mine and mine[0]["status"].startswith("running"), listed.stdout
    finally:
        stopped = cli("stop", NAME, env=podman["env"])
    assert stopped.returncode == 0, stopped.stderr


def test_what_podman_lacks_is_one_line(podman: dict[str, Any], built: str,
                                       ran: dict[str, Any]) -> None:
    swarm = cli("serve", str(ran["model"]), "--image", built, "--name", f"{NAME}-s",
                "--replicas", "2", env=podman["env"])
    assert_one_line_error(swarm, "Podman", "Swarm", "omit --replicas")
    gpus = cli("-q", "run", str(podman["notebook"]), "--image", built, "--gpus", "all",
               "--output", str(podman["out"] / "gpu.out.ipynb"), env=podman["env"])
    assert_one_line_error(gpus, "Podman", "--gpus", "without a GPU")
