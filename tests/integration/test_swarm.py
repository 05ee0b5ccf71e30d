"""A real Docker Swarm (this engine, made a manager for these tests): `serve --replicas`, where
every replica answers, a rolling update reaches all of them and rollback restores the old model;
and `pipeline run --swarm`, where every step runs as a replicated job, a failed step is fixed
and the pipeline resumed, a step past its timeout is stopped with its files kept, and Ctrl-C
stops every running step's task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from helpers import EXAMPLE, EXAMPLE_PYTHON, assert_one_line_error, cli, notebook
from jc_support import TEST_LABEL, TEST_RUN_ID
from test_pipeline_engine import _expected_report, _jobs, failing_example, interrupt_two_steps
from test_serve import TRAIN, ensure_bridge

from jupyter_containerize.core.deploy.local import deployments, stop
from jupyter_containerize.core.deploy.serve import serve
from jupyter_containerize.core.deploy.swarm import rollback
from jupyter_containerize.core.engine import client as engine

pytestmark = pytest.mark.engine
os.environ.setdefault("JUPYTER_CONTAINERIZE_LABELS", f"{TEST_LABEL}={TEST_RUN_ID}")
NAME = f"t-swarm-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def swarm(docker_client: object) -> Iterator[None]:
    ensure_bridge()
    state = engine.client().info().get("Swarm", {}).get("LocalNodeState")
    if state == "active":
        pytest.skip("the engine is already in a swarm that this test did not create")
    subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True,
                   capture_output=True)
    try:
        yield
    finally:
        try:
            stop(NAME)
        except Exception:
            pass
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("swarm") / "classifier"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.lock.json", ".ipynb*"))
    m1, m2 = root / "model.joblib", root / "model2.joblib"
    subprocess.run([str(EXAMPLE_PYTHON), "-c", TRAIN, str(m1), str(m2)], check=True)
    return {"notebook": root / "classifier.ipynb", "m1": m1, "m2": m2}


def _shas(urls: list[str]) -> list[str]:
    return [requests.get(f"{u}/v2/models/{NAME}", timeout=5).json()["parameters"]["sha256"]
            for u in urls]


def test_replicas_rolling_update_and_rollback(swarm: None, models: dict[str, Path]) -> None:
    first = serve(models["m1"], notebook=models["notebook"], name=NAME, replicas=2)
    assert first.replicas == 2 and len(set(first.urls)) == 2
    assert _shas(first.urls) == [first.model_sha256] * 2
    for url in first.urls:
        answer = requests.post(f"{url}/invocations", json={"instances": [[0.0] * 20]})
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1
    svc = engine.client().services.get(f"jc-{NAME}")
    assert svc.attrs["Spec"]["Labels"][TEST_LABEL] == TEST_RUN_ID
    assert svc.attrs["Spec"]["UpdateConfig"]["Order"] == "start-first"
    assert svc.attrs["Spec"]["UpdateConfig"]["FailureAction"] == "rollback"

    second = serve(models["m2"], notebook=models["notebook"], name=NAME, replicas=2)
    assert second.model_sha256 != first.model_sha256
    assert _shas(second.urls) == [second.model_sha256] * 2
    listed = {d.name: d for d in deployments()}
    assert listed[NAME].model_sha256 == second.model_sha256

    back = rollback(NAME)
    assert back.image == first.image
    assert _shas(back.urls) == [first.model_sha256] * 2


class _Jobs:
    """The swarm services this test run creates, and their modes, as they appear."""

    def __init__(self, client: object) -> None:
        self.client, self.seen = client, {}  # type: dict[str, list[str]]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.is_set():
            for svc in self.client.services.list(  # type: ignore[attr-defined]
                    filters={"label": f"{TEST_LABEL}={TEST_RUN_ID}"}):
                if svc.name.startswith("containerize-run-"):  # not the serving test's
                    self.seen[svc.name] = sorted(svc.attrs["Spec"]["Mode"])
            time.sleep(0.2)

    def __enter__(self) -> _Jobs:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _left(client: object, pipeline_ids: list[str]) -> list[str]:
    """Services, task containers and working volumes of ours still there."""
    mine = {"label": f"{TEST_LABEL}={TEST_RUN_ID}"}
    left = [s.name for s in client.services.list(filters=mine)  # type: ignore[attr-defined]
            if s.name.startswith("containerize-")]
    left += [c.name for c in client.containers.list(  # type: ignore[attr-defined]
        all=True, filters={"label": ["com.docker.swarm.service.id",
                                     f"{TEST_LABEL}={TEST_RUN_ID}"]})
        if c.name.startswith("containerize-run-")]
    names = {v.name for v in client.volumes.list()}  # type: ignore[attr-defined]
    return left + [f"containerize-pipeline-{p}" for p in pipeline_ids
                   if f"containerize-pipeline-{p}" in names]


def test_a_pipeline_runs_as_swarm_jobs_and_resumes(swarm: None, docker_client: object,
                                                   tmp_path: Path) -> None:
    spec, good, data, env = failing_example(tmp_path)
    with _Jobs(docker_client) as jobs:
        first = cli("-q", "pipeline", "run", str(spec), "--swarm", "--json", env=env)
        failed = json.loads(first.stdout)
        assert_one_line_error(first, f"pipeline {failed['id']} failed: step train failed: "
                                     "cell 3: ValueError: only 20 rows, need at least 1000",
                              f"--resume {failed['id']} --swarm")
        steps = failed["steps"]
        assert [steps[n]["status"] for n in ("prepare", "train", "report")] == [
            "succeeded", "failed", "not run"]
        assert len(set(steps["train"]["attempts"])) == 2  # each attempt its own job and record
        numbers = Path(steps["prepare"]["artifacts_dir"]) / "numbers.csv"
        assert numbers.read_text().splitlines()[0] == "x,y"
        assert len(numbers.read_text().splitlines()) == 1 + 20

        spec.write_text(good)
        resumed = cli("pipeline", "run", str(spec), "--resume", failed["id"], "--swarm",
                      "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = json.loads(resumed.stdout)
    after = result["steps"]
    assert after["prepare"]["reused"] and after["prepare"]["run"] == steps["prepare"]["run"]
    assert {s["status"] for s in after.values()} == {"succeeded"}
    report = Path(after["report"]["artifacts_dir"]) / "report.txt"
    assert report.read_text() == _expected_report(20, 1, 100)
    # every run was a replicated job of the swarm, and nothing else was
    runs = [steps["prepare"]["run"], *steps["train"]["attempts"], after["train"]["run"],
            after["report"]["run"]]
    assert jobs.seen == {f"containerize-run-{r}": ["ReplicatedJob"] for r in runs}
    store = _jobs(data)
    assert all(store[r][:2] == ("run", "succeeded") for r in runs if r not in
               steps["train"]["attempts"])
    # the executed notebook is the step's own, under its own name
    executed = json.loads(Path(after["report"]["output"]).read_text())
    assert "prediction at 100" in json.dumps(executed["cells"])
    assert _left(docker_client, [failed["id"], result["id"]]) == []


def test_a_swarm_step_past_its_timeout_is_stopped_with_its_files(
        swarm: None, docker_client: object, tmp_path: Path) -> None:
    project = tmp_path / "slow"
    notebook(project / "slow.ipynb",
             "open('started.txt', 'w').write('yes')\nimport time\nfor _ in range(600):\n"
             "    time.sleep(0.1)\n", kernel="containerize-example")
    (project / "pipeline.yaml").write_text(
        "steps:\n  - {name: slow, notebook: slow.ipynb, timeout: 8, memory: 512m}\n")
    data = tmp_path / "data"
    proc = cli("-q", "pipeline", "run", str(project / "pipeline.yaml"), "--swarm", "--json",
               env={"JUPYTER_CONTAINERIZE_DATA_DIR": str(data)})
    result = json.loads(proc.stdout)
    assert_one_line_error(proc, f"pipeline {result['id']} failed: step slow timed out",
                          "--swarm")
    slow = result["steps"]["slow"]
    assert slow["status"] == "timed out" and _jobs(data)[slow["run"]][:2] == (
        "run", "timed out")
    # stopped with SIGTERM: what it wrote before came back
    assert slow["artifacts"] == ["started.txt"]
    assert (Path(slow["artifacts_dir"]) / "started.txt").read_text() == "yes"
    assert _left(docker_client, [result["id"]]) == []


def test_ctrl_c_stops_every_running_swarm_step(swarm: None, docker_client: object,
                                               tmp_path: Path) -> None:
    proc, running, err, data = interrupt_two_steps(tmp_path, "--swarm")
    pipeline_ids = [i for i, j in _jobs(data).items() if j[0] == "pipeline"]
    if proc.returncode != 130:  # never let its jobs outlive a failed test
        for svc in docker_client.services.list(  # type: ignore[attr-defined]
                filters={"label": f"{TEST_LABEL}={TEST_RUN_ID}"}):
            if svc.name.startswith("containerize-run-"):
                svc.remove()
    assert len(running) == 2, "two steps never ran at once"
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "--resume" in err and "--swarm" in err
    jobs = _jobs(data)
    assert {jobs[r][1] for r in running} == {"cancelled"}
    assert [jobs[p][1] for p in pipeline_ids] == ["cancelled"]
    assert len([j for j in jobs.values() if j[0] == "run"]) == 2  # `after` never started
    assert _left(docker_client, pipeline_ids) == []
