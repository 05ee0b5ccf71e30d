"""Build and run through the REST API against the real engine (the example's own kernel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

EXAMPLE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-example" / "bin" / "python"

pytestmark = pytest.mark.engine


@pytest.fixture
def containerize_config(docker_client: Any, test_labels: dict[str, str]) -> dict[str, Any]:
    return {"extra_labels": test_labels}


async def test_build_then_run_with_a_parameter(
    api_call: Any, notebook: str, monkeypatch: Any, finish_job: Any
) -> None:
    if not EXAMPLE_PYTHON.exists():
        pytest.skip("the example's environment is missing: run scripts/setup first")
    # pytest-jupyter exports this test process's sys.path as PYTHONPATH; the example's
    # interpreter would then see (and capture) the development environment's packages
    monkeypatch.delenv("PYTHONPATH", raising=False)
    options = {"python": str(EXAMPLE_PYTHON)}
    status, job = await api_call(
        "POST", "jobs", body={"kind": "build", "notebook": notebook, "options": options}
    )
    assert status == 202, job
    built = await finish_job(job["id"], 900)
    assert built["status"] == "succeeded", (
        built["error"]["message"] + " | " + built["error"]["hint"]
    )
    assert "classifier" in built["result"]["reference"]

    body = {
        "kind": "run",
        "notebook": notebook,
        "options": {**options, "parameters": {"n_estimators": 10}},
    }
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    ran = await finish_job(job["id"], 900)
    assert ran["status"] == "succeeded", ran["error"]
    assert ran["result"]["parameters"] == {"n_estimators": 10}
    assert [a["path"] for a in ran["result"]["artifacts"]] == ["model.joblib"]
    # the run's own record is the server's job: one run, not two
    runs = (await api_call("GET", "runs"))[1]["runs"]
    assert [r["id"] for r in runs] == [job["id"]]
    assert runs[0]["params"]["parameters"] == {"n_estimators": 10}
    logs = (await api_call("GET", "jobs", job["id"], "events", raw=True))[1]
    assert "saved model.joblib" in logs and "event: end" in logs
