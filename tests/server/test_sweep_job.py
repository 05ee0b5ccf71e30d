"""A sweep through the REST API, as the Lab's Run form starts it: one job whose result is the
table of runs (each a run job of its own), the best one named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

EXAMPLE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-example" / "bin" / "python"

pytestmark = pytest.mark.engine


@pytest.fixture
def scored(jp_root_dir: Path, monkeypatch: Any) -> str:
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the example's interpreter is frozen
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell("alpha = 1\n")
    params.metadata["tags"] = ["parameters"]
    score = nbformat.v4.new_code_cell("score = alpha * 2\nscore")
    score.metadata["tags"] = ["metric"]
    nb.cells = [params, score]
    nbformat.write(nb, jp_root_dir / "scored.ipynb")
    return "scored.ipynb"


async def test_a_sweep_job_holds_its_runs_table(api_call: Any, scored: str, finish_job: Any,
                                                docker_client: Any) -> None:
    body = {"kind": "run", "notebook": scored,
            "options": {"python": str(EXAMPLE_PYTHON), "sweep": True,
                        "parameters": {"alpha": "1,3"}, "concurrency": 2, "best": "score"}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    done = await finish_job(job["id"], 900)
    assert done["status"] == "succeeded", done
    runs = done["result"]["runs"]
    assert [(r["parameters"], r["metrics"]) for r in runs] == [
        ({"alpha": 1}, {"score": 2}), ({"alpha": 3}, {"score": 6})]
    assert done["result"]["best"]["id"] == runs[1]["id"] and done["result"]["id"] == job["id"]
    for row in runs:
        status, ran = await api_call("GET", "jobs", row["id"])
        assert status == 200 and ran["kind"] == "run" and ran["status"] == "succeeded"


@pytest.mark.hostile
async def test_sweep_options_without_a_sweep_fail_in_one_line(api_call: Any, scored: str,
                                                              finish_job: Any) -> None:
    body = {"kind": "run", "notebook": scored,
            "options": {"parameters": {"alpha": 2}, "best": "score"}}
    status, job = await api_call("POST", "jobs", body=body)
    assert status == 202, job
    done = await finish_job(job["id"], 120)
    assert done["status"] == "failed", done
    assert done["error"]["message"] == "best is an option of a sweep", done["error"]
    assert "sweep" in done["error"]["hint"]
