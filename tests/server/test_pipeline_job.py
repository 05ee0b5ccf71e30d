"""A pipeline through the REST API: one job of kind pipeline whose result holds each step's
run (each a run job of its own); a pipeline file that is not there is a 404 before anything
starts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline"
EXAMPLE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-example" / "bin" / "python"

pytestmark = pytest.mark.engine


async def test_a_pipeline_job_runs_every_step(api_call: Any, jp_root_dir: Path,
                                              finish_job: Any, docker_client: Any,
                                              monkeypatch: Any) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the example's interpreter is frozen
    shutil.copytree(EXAMPLE, jp_root_dir / "pipe")
    spec = jp_root_dir / "pipe" / "pipeline.yaml"  # the test server sees no user kernelspecs
    spec.write_text(spec.read_text().replace("concurrency: 2\n",
                                             f"concurrency: 2\npython: {EXAMPLE_PYTHON}\n"))
    body = {"kind": "pipeline run", "options": {"file": "pipe/pipeline.yaml"}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    assert job["kind"] == "pipeline"
    done = await finish_job(job["id"], 900)
    assert done["status"] == "succeeded", done["error"]
    steps = done["result"]["steps"]
    assert [steps[n]["status"] for n in ("prepare", "train", "report")] == ["succeeded"] * 3
    assert steps["report"]["artifacts"] == ["report.txt"]
    for name in ("prepare", "train", "report"):
        status, ran = await api_call("GET", "jobs", steps[name]["run"])
        assert status == 200 and ran["kind"] == "run" and ran["status"] == "succeeded"


@pytest.mark.hostile
async def test_a_pipeline_file_that_is_not_there_fails_in_one_line(
        api_call: Any, finish_job: Any) -> None:
    body = {"kind": "pipeline run", "options": {"file": "nowhere/pipeline.yaml"}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    done = await finish_job(job["id"], 120)
    assert done["status"] == "failed" and "nowhere/pipeline.yaml" in done["error"]["message"]
    assert "\n" not in done["error"]["message"] and done["error"]["hint"]


@pytest.mark.hostile
async def test_swarm_where_the_engine_is_no_manager_fails_in_one_line(
        api_call: Any, jp_root_dir: Path, finish_job: Any, docker_client: Any) -> None:
    if docker_client.info()["Swarm"].get("ControlAvailable"):
        pytest.fail("the engine is a swarm manager already: this test needs one that is not")
    shutil.copytree(EXAMPLE, jp_root_dir / "pipe")
    body = {"kind": "pipeline run", "options": {"file": "pipe/pipeline.yaml", "swarm": True}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    done = await finish_job(job["id"], 120)
    assert done["status"] == "failed"
    assert done["error"]["message"] == ("--swarm needs a Docker Swarm manager, and this engine "
                                        "is not one")
    assert "docker swarm init" in done["error"]["hint"]
    status, runs = await api_call("GET", "jobs", params={"kind": "run"})
    assert status == 200 and runs["jobs"] == []  # nothing started
