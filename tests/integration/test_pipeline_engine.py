"""Pipelines on the real engine, as a user runs them: the example's three notebooks (step 2
reads step 1's file, step 3 step 2's) with step 2 failing on a parameter, every attempt its own
run record; the parameter fixed and the pipeline resumed, the finished step reused (the same
run, not run again) and the final report checked against values computed here; Ctrl-C stopping
every running step's container; bad pipelines refused in one line before anything starts."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, assert_one_line_error, cli, notebook
from jc_support import terminal_sigint

pytestmark = pytest.mark.engine

EXAMPLE = ROOT / "examples" / "pipeline"


def _jobs(data: Path) -> dict[str, tuple[str, str, str]]:
    """id -> (kind, status, notebook) of every job in the store."""
    path = data / "jobs.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT id, kind, status, notebook FROM jobs").fetchall()
    finally:
        db.close()
    return {r[0]: (r[1], r[2], r[3] or "") for r in rows}


def _expected_report(rows: int, seed: int, x: int) -> str:
    """What the example's three notebooks compute, computed here."""
    rng = random.Random(seed)
    points = [(i, 3 * i + 2 + rng.uniform(-0.5, 0.5)) for i in range(rows)]
    text = io.StringIO()
    csv.writer(text).writerows(points)  # the CSV round trip the notebooks make
    data = [(float(a), float(b)) for a, b in csv.reader(io.StringIO(text.getvalue()))]
    n = len(data)
    mx, my = sum(a for a, _ in data) / n, sum(b for _, b in data) / n
    slope = (sum((a - mx) * (b - my) for a, b in data) / sum((a - mx) ** 2 for a, _ in data))
    intercept = my - slope * mx
    return (f"rows {n}\nslope {slope:.6f}\nintercept {intercept:.6f}\n"
            f"prediction at {x}: {slope * x + intercept:.6f}\n")


def failing_example(tmp_path: Path) -> tuple[Path, str, Path, dict[str, str]]:
    """A copy of the example whose train step fails (it asks for more rows than prepare
    writes): its pipeline file, that file's good text, the data folder and the environment
    that points the CLI at it."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    spec = project / "pipeline.yaml"
    good = spec.read_text()
    spec.write_text(good.replace("min_rows: 10", "min_rows: 1000"))
    data = tmp_path / "data"
    return spec, good, data, {"JUPYTER_CONTAINERIZE_DATA_DIR": str(data)}


def test_a_failed_step_is_fixed_and_the_pipeline_resumed(docker_client: object,
                                                          tmp_path: Path) -> None:
    spec, good, data, env = failing_example(tmp_path)
    project = spec.parent

    first = cli("-q", "pipeline", "run", str(spec), "--json", env=env)
    assert first.returncode == 1, first.stderr[-3000:]
    failed = json.loads(first.stdout)
    assert_one_line_error(first, f"pipeline {failed['id']} failed: step train failed: cell 3: "
                                 "ValueError: only 20 rows, need at least 1000",
                          f"--resume {failed['id']}")
    steps = failed["steps"]
    assert [steps[n]["status"] for n in ("prepare", "train", "report")] == [
        "succeeded", "failed", "not run"]
    assert len(set(steps["train"]["attempts"])) == 2  # retries: 1, each attempt a run record
    assert steps["prepare"]["artifacts"] == ["numbers.csv"]
    jobs = _jobs(data)
    assert jobs[failed["id"]][:2] == ("pipeline", "failed")
    assert all(jobs[r][0] == "run" for r in [steps["prepare"]["run"],
                                             *steps["train"]["attempts"]])
    # both steps ran in one image: one environment, built once
    assert steps["prepare"]["image"] == steps["train"]["image"]

    spec.write_text(good)  # the fix
    resumed = cli("pipeline", "run", str(spec), "--resume", failed["id"], "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = json.loads(resumed.stdout)
    after = result["steps"]
    assert result["status"] == "succeeded" and result["resumed_from"] == failed["id"]
    assert after["prepare"]["reused"] and after["prepare"]["run"] == steps["prepare"]["run"]
    assert after["train"]["run"] not in steps["train"]["attempts"]
    assert {s["status"] for s in after.values()} == {"succeeded"}
    report = Path(after["report"]["artifacts_dir"]) / "report.txt"
    assert report.read_text() == _expected_report(20, 1, 100)
    model = json.loads((Path(after["train"]["artifacts_dir"]) / "model.json").read_text())
    assert model["rows"] == 20 and abs(model["slope"] - 3) < 0.05
    # prepare ran once in all: one run record of its notebook in the store
    prepares = [j for j in _jobs(data).values()
                if j[0] == "run" and j[2].endswith("prepare.ipynb")]
    assert len(prepares) == 1
    assert _jobs(data)[result["id"]][:2] == ("pipeline", "succeeded")
    # the user's folder holds no run's files (the locks a freeze writes are .json)
    assert {p.name for p in project.iterdir() if p.suffix != ".json"} == {
        "pipeline.yaml", "prepare.ipynb", "train.ipynb", "report.ipynb"}


def test_a_resume_runs_again_the_steps_whose_definition_changed(docker_client: object,
                                                                 tmp_path: Path) -> None:
    """A step changed since the run resumed (a parameter, its notebook) runs again, and so does
    every step below it; the steps above it are reused."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    spec = project / "pipeline.yaml"
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    first = cli("-q", "pipeline", "run", str(spec), "--json", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    runs = {n: r["run"] for n, r in json.loads(first.stdout)["steps"].items()}

    spec.write_text(spec.read_text().replace("parameters: {x: 100}", "parameters: {x: 50}"))
    second = cli("pipeline", "run", str(spec), "--resume", json.loads(first.stdout)["id"],
                 "--json", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "step report changed since" in second.stderr
    steps = json.loads(second.stdout)["steps"]
    assert [steps[n]["reused"] for n in ("prepare", "train", "report")] == [True, True, False]
    assert steps["train"]["run"] == runs["train"] and steps["report"]["run"] != runs["report"]
    report = Path(steps["report"]["artifacts_dir"]) / "report.txt"
    assert report.read_text() == _expected_report(20, 1, 50)

    train = project / "train.ipynb"  # the notebook itself edited: a comment in a cell
    nb = json.loads(train.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["source"] = "# fitted again\n" + "".join(code["source"])
    train.write_text(json.dumps(nb, indent=1))
    third = cli("-q", "pipeline", "run", str(spec), "--resume", json.loads(second.stdout)["id"],
                "--json", env=env)
    assert third.returncode == 0, third.stderr[-3000:]
    steps = json.loads(third.stdout)["steps"]
    assert [steps[n]["reused"] for n in ("prepare", "train", "report")] == [True, False, False]
    assert steps["prepare"]["run"] == runs["prepare"]


def test_outputs_the_project_already_holds_are_passed_on(docker_client: object,
                                                        tmp_path: Path) -> None:
    """A folder where the notebooks were run by hand holds their files already: a step that
    writes the same bytes again changes nothing in its container, and still hands them on."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    first = cli("-q", "pipeline", "run", str(project / "pipeline.yaml"), "--json", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    for row in json.loads(first.stdout)["steps"].values():
        for rel in row["artifacts"]:  # as if each notebook had been run here by hand
            shutil.copy(Path(row["artifacts_dir"]) / rel, project / rel)
    again = cli("-q", "pipeline", "run", str(project / "pipeline.yaml"), "--json", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    steps = json.loads(again.stdout)["steps"]
    assert steps["prepare"]["artifacts"] == [] and steps["prepare"]["files"] == {
        "numbers.csv": str(project / "numbers.csv")}
    assert {s["status"] for s in steps.values()} == {"succeeded"}


SLEEPER = "import time\nfor _ in range(600):\n    time.sleep(0.1)\n"


def interrupt_two_steps(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], list[str],
                                                             str, Path]:
    """`pipeline run ARGS` of two sleeping steps (and a third that needs both), Ctrl-C once both
    sleep: the process, the two running steps' run ids, what it printed, the data folder. The
    process is killed if it outlives the test's patience (the caller removes what it left)."""
    project = tmp_path / "sleepy"
    for name in ("one", "two"):
        notebook(project / f"{name}.ipynb", SLEEPER, kernel="containerize-example")
    (project / "pipeline.yaml").write_text(
        "steps:\n  - {name: one, notebook: one.ipynb}\n  - {name: two, notebook: two.ipynb}\n"
        "  - {name: after, notebook: one.ipynb, needs: [one, two]}\n")
    data = tmp_path / "data"
    exe = Path(sys.executable).with_name("jupyter-containerize")
    proc = subprocess.Popen([str(exe), "pipeline", "run", str(project / "pipeline.yaml"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=terminal_sigint,
                            env={**os.environ, "JUPYTER_CONTAINERIZE_DATA_DIR": str(data)})
    running: list[str] = []
    err = ""
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            running = [i for i, j in _jobs(data).items() if j[:2] == ("run", "running")]
            if len(running) == 2:
                break
            time.sleep(0.5)
        if len(running) == 2:
            time.sleep(3)  # both notebooks are in their sleeping cell
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, running, err, data


def test_ctrl_c_stops_every_running_step(docker_client: object, tmp_path: Path) -> None:
    proc, running, err, data = interrupt_two_steps(tmp_path, "--concurrency", "2")
    if proc.returncode != 130:  # never let its steps outlive a failed test
        for container in docker_client.containers.list(all=True):  # type: ignore[attr-defined]
            if any(container.name == f"containerize-run-{r}" for r in running):
                container.remove(force=True)
    assert len(running) == 2, "two steps never ran at once"
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    jobs = _jobs(data)
    assert {jobs[r][1] for r in running} == {"cancelled"}
    pipelines = [j for j in jobs.values() if j[0] == "pipeline"]
    assert [p[1] for p in pipelines] == ["cancelled"]
    assert "--resume" in err
    assert len([j for j in jobs.values() if j[0] == "run"]) == 2  # `after` never started
    client = docker_client
    left = [c.name for c in client.containers.list(all=True)  # type: ignore[attr-defined]
            if any(c.name == f"containerize-run-{r}" for r in running)]
    assert left == []


def test_a_step_past_its_timeout_is_stopped_and_tried_again(docker_client: object,
                                                             tmp_path: Path) -> None:
    project = tmp_path / "slow"
    notebook(project / "slow.ipynb", SLEEPER, kernel="containerize-example")
    notebook(project / "next.ipynb", "print('never')", kernel="containerize-example")
    (project / "pipeline.yaml").write_text(
        "steps:\n  - {name: slow, notebook: slow.ipynb, timeout: 4, retries: 1, cpus: 0.5}\n"
        "  - {name: next, notebook: next.ipynb, needs: [slow]}\n")
    data = tmp_path / "data"
    proc = cli("-q", "pipeline", "run", str(project / "pipeline.yaml"), "--json",
               env={"JUPYTER_CONTAINERIZE_DATA_DIR": str(data)})
    result = json.loads(proc.stdout)
    assert_one_line_error(proc, f"pipeline {result['id']} failed: step slow timed out in "
                                "cell 1 (fix it",
                          f"--resume {result['id']}")
    slow = result["steps"]["slow"]
    assert slow["status"] == "timed out" and len(set(slow["attempts"])) == 2
    assert all(_jobs(data)[r][:2] == ("run", "timed out") for r in slow["attempts"])
    assert result["steps"]["next"]["status"] == "not run"


@pytest.mark.hostile
@pytest.mark.parametrize("case", ["cycle", "unwritten", "no swarm"])
def test_a_bad_pipeline_starts_nothing(case: str, docker_client: object,
                                       tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    spec = project / "pipeline.yaml"
    text = spec.read_text()
    if case == "cycle":  # prepare now needs report, which needs train, which needs prepare
        spec.write_text(text.replace("    notebook: prepare.ipynb\n",
                                     "    notebook: prepare.ipynb\n    needs: [report]\n"))
        needles = ("pipeline.yaml: the steps' needs form a cycle: 'prepare' needs 'report' "
                   "needs 'train' needs 'prepare'", "remove one of these needs")
    elif case == "no swarm":  # --swarm where this engine is no swarm manager
        needles = ("--swarm needs a Docker Swarm manager, and this engine is not one",
                   "docker swarm init")
    else:  # report reads a file train never writes
        spec.write_text(text.replace("inputs: [train/model.json]",
                                     "inputs: [train/weights.bin]"))
        needles = ("step 'report' reads train/weights.bin, a file no earlier step writes "
                   "('train' declares outputs: model.json)",
                   "add weights.bin to the outputs of train")
    data = tmp_path / "data"
    swarm = ["--swarm"] if case == "no swarm" else []
    proc = cli("pipeline", "run", str(spec), *swarm,
               env={"JUPYTER_CONTAINERIZE_DATA_DIR": str(data)})
    assert_one_line_error(proc, *needles)
    assert proc.returncode == 2 and proc.stdout == ""
    assert _jobs(data) == {}  # no job, no run, no build
    assert sorted(p.name for p in project.iterdir()) == sorted(p.name for p in EXAMPLE.iterdir())
