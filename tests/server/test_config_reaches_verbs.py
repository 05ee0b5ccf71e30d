"""The server's ContainerizeConfig reaches run and serve: a configured label is on the run's
container and on the deployment, a configured run timeout stops the run; the deployments
route answers what runs now, with the notebook that served it, and proxies a request to it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_containerize.core import api, labels

EXAMPLE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-example" / "bin" / "python"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TEAM = {"team": "x"}
TRAIN = """
import sys, joblib
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=200, n_features=4, random_state=0)
joblib.dump(LogisticRegression().fit(X, y), sys.argv[1])
"""

pytestmark = pytest.mark.engine


@pytest.fixture
def containerize_config(docker_client: Any, test_labels: dict[str, str]) -> dict[str, Any]:
    return {"extra_labels": {**test_labels, **TEAM}, "run_timeout": 3.0}


@pytest.fixture
def example_python(monkeypatch: Any) -> str:
    if not EXAMPLE_PYTHON.exists():
        pytest.skip("the example's environment is missing: run scripts/setup first")
    # pytest-jupyter exports this process's sys.path as PYTHONPATH; the example's interpreter
    # would then see (and capture) the development environment's packages
    monkeypatch.delenv("PYTHONPATH", raising=False)
    return str(EXAMPLE_PYTHON)


async def _labels_while_running(docker_client: Any, job_id: str, limit: float) -> dict[str, str]:
    """The labels of the run's container, read while it exists."""
    wanted = {"label": f"{labels.RUN_ID}={job_id}"}
    for _ in range(int(limit / 0.2)):
        found = await asyncio.to_thread(docker_client.containers.list, all=True, filters=wanted)
        if found:
            return dict(found[0].labels)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no container of run {job_id} within {limit} s")


@pytest.fixture
def sleeper(jp_root_dir: Path) -> str:
    """A notebook that never ends by itself: only the configured run timeout stops it."""
    shutil.copy(NOTEBOOKS / "sleeps.ipynb", jp_root_dir / "sleeps.ipynb")
    return "sleeps.ipynb"


async def test_a_run_has_the_configured_label_and_timeout(
    api_call: Any, sleeper: str, example_python: str, finish_job: Any, docker_client: Any
) -> None:
    body = {"kind": "run", "notebook": sleeper, "options": {"python": example_python}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    seen = await _labels_while_running(docker_client, job["id"], 900)
    assert seen["team"] == "x"
    ran = await finish_job(job["id"], 300)
    assert ran["status"] == "timed out", ran
    assert ran["error"]["message"].startswith("timed out")


async def test_serve_has_the_configured_label_and_is_listed_with_its_notebook(
    api_call: Any, notebook: str, example_python: str, finish_job: Any, docker_client: Any,
    jp_root_dir: Path,
) -> None:
    subprocess.run([example_python, "-c", TRAIN, str(jp_root_dir / "model.joblib")], check=True)
    name = f"t-srv-{uuid.uuid4().hex[:6]}"
    body = {"kind": "serve", "notebook": notebook,
            "options": {"model": "model.joblib", "name": name, "python": example_python}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    try:
        served = await finish_job(job["id"], 1200)
        assert served["status"] == "succeeded", served["error"]
        container = docker_client.containers.get(served["result"]["container"])
        assert container.labels["team"] == "x"

        listed = (await api_call("GET", "deployments"))[1]["deployments"]
        mine = [d for d in listed if d["name"] == name]
        assert len(mine) == 1, listed
        assert mine[0]["path"] == notebook and mine[0]["job"] == job["id"]
        assert mine[0]["url"].startswith("http://")
        running = {d.name for d in await asyncio.to_thread(api.deployments)}
        assert {d["name"] for d in listed} == running  # the CLI's answer, the same

        status, answer = await api_call("POST", "deployments", name, "invoke",
                                        body={"instances": [[0.1, 0.2, 0.3, 0.4]]},
                                        headers={"Content-Type": "application/json"})
        assert status == 200, answer
        assert len(answer["predictions"]) == 1
    finally:
        await asyncio.to_thread(api.stop, name)
    listed = (await api_call("GET", "deployments"))[1]["deployments"]
    assert name not in {d["name"] for d in listed}
    # the serve job stays in the job history
    serves = (await api_call("GET", "jobs", params={"kind": "serve"}))[1]["jobs"]
    assert [j["id"] for j in serves] == [job["id"]]
