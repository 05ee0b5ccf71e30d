"""Schedules on the real engine, as a user runs them: `schedule add` pins the image built now,
`schedule run` starts a real run at each tick in that image (recorded in the one store, linked
to the schedule) and calls the webhook; a paused schedule does not tick; ticks missed while no
scheduler ran and ticks that find the previous run going follow their policies (a clock given
to the scheduler stands for the hours that pass; every run is real)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from helpers import EXAMPLE_PYTHON, assert_one_line_error, cli
from webhook_receiver import WebhookReceiver

from jupyter_containerize.core import api
from jupyter_containerize.core.deploy.k8s_validate import validate_manifests
from jupyter_containerize.core.jobs.store import JobStore
from jupyter_containerize.core.schedule import store as schedules
from jupyter_containerize.core.schedule.scheduler import Scheduler

pytestmark = pytest.mark.engine
UTC = timezone.utc


def _notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell("x = 1\npause = 0\n")
    params.metadata["tags"] = ["parameters"]
    work = nbformat.v4.new_code_cell("import time\ntime.sleep(pause)\ny = x * 2\nprint('y =', y)")
    nb.cells = [params, work]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ticker.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver([503])
    yield made
    made.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> dict[str, Any]:
    """The notebook and its image, built once for the module."""
    root = tmp_path_factory.mktemp("schedules")
    nb = _notebook(root / "project")
    built = api.build(nb, python=str(EXAMPLE_PYTHON))
    return {"notebook": nb, "image": built.reference, "image_id": built.image_id}


def _runs(data: Path, schedule_id: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(data / "jobs.sqlite")
    rows = db.execute("SELECT id, status, params, result FROM jobs WHERE kind = 'run' "
                      "ORDER BY created_ts").fetchall()
    db.close()
    found = []
    for run_id, status, params, result in rows:
        p = json.loads(params or "{}")
        if p.get("schedule") == schedule_id:
            found.append({"id": run_id, "status": status, "params": p,
                          "result": json.loads(result or "{}")})
    return found


def test_ticks_run_in_the_pinned_image_and_call_the_webhook(
        project: dict[str, Any], tmp_path: Path, receiver: WebhookReceiver) -> None:
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    added = cli("schedule", "add", str(project["notebook"]), "--image", project["image"],
                "--cron", "*/4 * * * * *", "-p", "x", "21", "--webhook", receiver.url,
                "--json", env=env)
    assert added.returncode == 0, added.stderr[-2000:]
    sched = json.loads(added.stdout)
    assert sched["image"] == project["image"] and sched["image_id"] == project["image_id"]
    assert sched["status"] == "active" and sched["overlap"] == "skip"
    # an edit after the schedule was made is not what it runs: it runs what was pinned
    nb = project["notebook"]
    pinned = nb.read_text()
    nb.write_text(pinned.replace("y = x * 2", "y = x * 3"))
    try:
        ran = cli("schedule", "run", "--stop-after", "10", env=env, timeout=300)
    finally:
        nb.write_text(pinned)
    assert ran.returncode == 0, ran.stderr[-3000:]
    runs = _runs(tmp_path / "data", sched["id"])
    assert runs, ran.stderr[-3000:]
    for run in runs:
        assert run["status"] == "succeeded", run
        assert run["result"]["image"] == project["image_id"]  # the pinned image, by its ID
        assert run["result"]["parameters"] == {"x": 21}
        executed = Path(run["result"]["output"]).read_text()
        assert "y = 42" in executed
        due = datetime.fromisoformat(run["params"]["due"].replace("Z", "+00:00"))
        assert due.second % 4 == 0
    # the webhook: one JSON body per finished run, delivered though the receiver failed first
    assert receiver.refused == 1
    assert sorted(b["run"] for b in receiver.delivered) == sorted(r["id"] for r in runs)
    body = receiver.delivered[0]
    assert body["schedule"] == sched["id"] and body["status"] == "succeeded"
    assert body["notebook"] == str(project["notebook"]) and body["output"].endswith(".ipynb")
    assert body["started"] and body["ended"]
    listed = json.loads(cli("schedule", "list", "--json", env=env).stdout)
    ticks = listed[0]["state"]["ticks"]
    assert [t["run"] for t in ticks if t["status"] == "succeeded"] == [r["id"] for r in runs]
    assert all(t["lateness"] < 1.0 for t in ticks if "lateness" in t)
    # paused: no tick runs; the runs it made stay
    assert cli("schedule", "pause", sched["id"], env=env).returncode == 0
    quiet = cli("schedule", "run", "--stop-after", "5", env=env, timeout=120)
    assert quiet.returncode == 0 and len(_runs(tmp_path / "data", sched["id"])) == len(runs)
    removed = cli("schedule", "remove", sched["id"], env=env)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert "no schedules" in cli("schedule", "list", env=env).stdout
    assert len(_runs(tmp_path / "data", sched["id"])) == len(runs)


def test_add_with_export_writes_a_valid_cronjob(project: dict[str, Any], tmp_path: Path) -> None:
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    added = cli("schedule", "add", str(project["notebook"]), "--image", project["image"],
                "--cron", "0 6 * * 1-5", "--timezone", "Europe/Paris", "--export",
                str(tmp_path / "k8s"), env=env)
    assert added.returncode == 0, added.stderr[-2000:]
    manifest = Path(added.stdout.split("cronjob:")[1].strip())
    assert validate_manifests([manifest]) == []
    doc = yaml.safe_load(manifest.read_text())
    container = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == project["image"]
    assert container["command"][3] == "/home/jovyan/work/ticker.ipynb"  # where the image has it
    assert doc["spec"]["timeZone"] == "Europe/Paris"
    again = cli("schedule", "export", manifest.name.split("-")[-1][:-5], str(tmp_path / "k2"),
                env=env)
    assert again.returncode == 0 and Path(again.stdout.strip()).read_text() == \
        manifest.read_text()


def _add(project: dict[str, Any], store: JobStore, **options: Any) -> Any:
    return api.schedule_add(project["notebook"], image=project["image"], store=store,
                            **options)


def _runs_of(store: JobStore, schedule_id: str) -> list[Any]:
    return list(reversed(schedules.runs_of(store, schedule_id)))


@pytest.mark.parametrize("policy", ["latest", "skip"])
def test_ticks_missed_while_no_scheduler_ran(project: dict[str, Any], tmp_path: Path,
                                              policy: str) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    sched = _add(project, store, cron="0 * * * *", missed=policy)
    later = datetime.now(UTC) + timedelta(hours=3, minutes=10)  # three hourly ticks passed
    scheduler = Scheduler(store, clock=lambda: later)
    wake = scheduler.step()
    assert scheduler.wait_idle(240)
    latest_tick = later.replace(minute=0, second=0, microsecond=0)
    assert wake == latest_tick + timedelta(hours=1)
    runs = _runs_of(store, sched.id)
    state = schedules.get(store, sched.id).state
    if policy == "latest":  # the latest missed tick, once
        assert [r.status for r in runs] == ["succeeded"]
        assert runs[0].params["due"].startswith(latest_tick.strftime("%Y-%m-%dT%H:00:00"))
        assert "missed, run once at start" in state["ticks"][-1]["note"]
    else:
        assert runs == [] and state["ticks"][-1]["status"] == "missed"
    assert scheduler.step() == wake and scheduler.wait_idle(5)  # nothing runs twice
    assert len(_runs_of(store, sched.id)) == len(runs)


@pytest.mark.parametrize("policy", ["skip", "queue"])
def test_a_tick_while_the_previous_run_still_runs(project: dict[str, Any], tmp_path: Path,
                                                   policy: str) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    sched = _add(project, store, cron="*/10 * * * *", overlap=policy,
                 parameters={"pause": 6})
    first = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
    first = first.replace(minute=first.minute - first.minute % 10)
    now = [first + timedelta(seconds=1)]
    scheduler = Scheduler(store, clock=lambda: now[0])
    scheduler.step()
    time.sleep(1.0)
    now[0] = first + timedelta(minutes=10, seconds=1)  # the next tick, the first run going on
    scheduler.step()
    assert scheduler.wait_idle(300)
    runs = _runs_of(store, sched.id)
    ticks = schedules.get(store, sched.id).state["ticks"]
    if policy == "skip":
        assert [r.status for r in runs] == ["succeeded"]
        assert [t["status"] for t in ticks] == ["succeeded", "skipped"]
        assert "previous run still runs" in ticks[1]["note"]
    else:  # queued: the second run starts after the first has ended
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
        assert [t["status"] for t in ticks] == ["succeeded", "succeeded"]
        assert runs[1].result["started"] >= runs[0].result["ended"]


def test_newest_builds_or_reuses_the_image_at_the_tick(project: dict[str, Any],
                                                      tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    sched = api.schedule_add(project["notebook"], cron="0 * * * *", newest=True,
                             python=str(EXAMPLE_PYTHON), store=store)
    assert (sched.definition.image, sched.definition.image_id) == ("", "")  # nothing pinned
    tick = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    scheduler = Scheduler(store, clock=lambda: tick + timedelta(seconds=2))
    scheduler.step()
    assert scheduler.wait_idle(300)
    [run] = _runs_of(store, sched.id)
    assert run.status == "succeeded", run.error
    assert run.result["image"] == project["image"]  # the notebook's image as it is now


@pytest.mark.hostile
@pytest.mark.parametrize(("extra", "wanted"), [
    (["--cron", "0 25 * * *"], "is not valid: Bad hour"),
    (["--cron", "0 6 * * *", "--timezone", "Europe/Atlantis"], "is not a time zone"),
    (["--cron", "0 6 * * *", "--webhook", "http://127.0.0.1:9/hook"],
     "does not answer: connection refused"),
    (["--cron", "0 6 * * *", "--image", "containerize-test/none:missing"],
     "is not in the engine"),
    (["--cron", "0 6 * * *", "-p", "nope", "1"], "does not declare"),
    (["--cron", "*/5 * * * * *", "--export", "k8s"], "has a seconds field"),
])
def test_bad_input_is_one_line_and_adds_nothing(project: dict[str, Any], tmp_path: Path,
                                               extra: list[str], wanted: str) -> None:
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    proc = cli("schedule", "add", str(project["notebook"]), *extra, env=env, cwd=tmp_path)
    assert_one_line_error(proc, wanted)
    assert json.loads(cli("schedule", "list", "--json", env=env).stdout) == []
    assert not (tmp_path / "k8s").exists()


def _jobs_of(data: Path, schedule_id: str, kind: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(data / "jobs.sqlite")
    rows = db.execute("SELECT id, status, params, result FROM jobs WHERE kind = ? "
                      "ORDER BY created_ts", (kind,)).fetchall()
    db.close()
    return [{"id": i, "status": s, "params": json.loads(p or "{}"),
             "result": json.loads(r or "{}")} for i, s, p, r in rows
            if json.loads(p or "{}").get("schedule") == schedule_id]


def test_a_pipeline_schedule_runs_its_pinned_steps(tmp_path: Path) -> None:
    """`schedule add pipeline.yaml`: the steps' images are built and pinned now, with the file
    and its notebooks as they are; a tick runs that pipeline, whatever was edited since."""
    from test_pipeline_engine import EXAMPLE as PIPELINE
    from test_pipeline_engine import _expected_report

    project = tmp_path / "project"
    shutil.copytree(PIPELINE, project)
    spec = project / "pipeline.yaml"
    data = tmp_path / "data"
    env = {"JUPYTER_CONTAINERIZE_DATA_DIR": str(data)}
    added = cli("schedule", "add", str(spec), "--cron", "*/3 * * * * *", "--json", env=env,
                timeout=600)
    assert added.returncode == 0, added.stderr[-2000:]
    sched = json.loads(added.stdout)
    assert sched["kind"] == "pipeline" and set(sched["steps"]) == {"prepare", "train", "report"}
    # edited after it was made: not what the schedule runs
    spec.write_text(spec.read_text().replace("parameters: {x: 100}", "parameters: {x: 50}"))
    ran = cli("schedule", "run", "--stop-after", "4", env=env, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    pipelines = _jobs_of(data, sched["id"], "pipeline")
    assert pipelines and {p["status"] for p in pipelines} == {"succeeded"}, ran.stderr[-3000:]
    steps = pipelines[0]["result"]["steps"]
    assert {n: s["image"] for n, s in steps.items()} == {
        n: p["image_id"] for n, p in sched["steps"].items()}  # the pinned images, by ID
    report = Path(steps["report"]["artifacts_dir"]) / "report.txt"
    assert report.read_text() == _expected_report(20, 1, 100)
    ticks = json.loads(cli("schedule", "list", "--json", env=env).stdout)[0]["state"]["ticks"]
    assert pipelines[0]["id"] in [t.get("run") for t in ticks]
    # each step's run is a run of the schedule too
    assert len(_jobs_of(data, sched["id"], "run")) == 3 * len(pipelines)


@pytest.mark.hostile
@pytest.mark.parametrize("extra, needles", [
    (["-p", "x", "1"], ("-p sets a notebook's parameters; a pipeline's are in its file",
                        "set them under the steps' parameters in pipeline.yaml")),
    (["--image", "any:tag"], ("--image pins one image, and each step of a pipeline has its "
                              "own", "leave out --image")),
])
def test_a_pipeline_schedule_refuses_what_only_a_notebook_takes(
        extra: list[str], needles: tuple[str, str], tmp_path: Path) -> None:
    from test_pipeline_engine import EXAMPLE as PIPELINE

    project = tmp_path / "project"
    shutil.copytree(PIPELINE, project)
    data = tmp_path / "data"
    proc = cli("schedule", "add", str(project / "pipeline.yaml"), "--cron", "@daily", *extra,
               env={"JUPYTER_CONTAINERIZE_DATA_DIR": str(data)})
    assert_one_line_error(proc, *needles)
    if (data / "jobs.sqlite").exists():  # no schedule, no run: nothing was added
        db = sqlite3.connect(data / "jobs.sqlite")
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
        db.close()
