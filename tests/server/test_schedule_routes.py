"""Schedules over the REST API of a real Jupyter server: bad bodies are a 400 naming what is
wrong and add nothing; a schedule is listed, paused, resumed and removed; and a schedule
survives a restart of the server (killed, started again): still listed, still ticking, each
tick a real run in its pinned image."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from server_process import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PYTHON = ROOT / ".venv-example" / "bin" / "python"
TOKEN = "schedule-restart-token"
YEARLY = "0 0 1 1 *"


def _ticker(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell("x = 1\n")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('tick', x * 2)")]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "ticker.ipynb")
    return folder / "ticker.ipynb"


@pytest.fixture
def ticker(jp_root_dir: Path) -> str:
    _ticker(jp_root_dir)
    return "ticker.ipynb"


@pytest.mark.hostile
@pytest.mark.parametrize(("body", "status", "wanted"), [
    ({"cron": YEARLY}, 400, "'notebook' is missing"),
    ({"notebook": "ticker.ipynb"}, 400, "needs the option 'cron'"),
    ({"notebook": "ticker.ipynb", "cron": "0 0 1 13 *", "newest": True}, 400,
     "is not valid: Bad month"),
    ({"notebook": "ticker.ipynb", "cron": YEARLY, "timezone": "Nowhere/Land", "newest": True},
     400, "'Nowhere/Land' is not a time zone"),
    ({"notebook": "ticker.ipynb", "cron": YEARLY, "newest": True,
      "webhook": "http://127.0.0.1:9/hook"}, 400, "does not answer: connection refused"),
    ({"notebook": "ticker.ipynb", "cron": YEARLY, "overlap": "later"}, 400,
     "option 'overlap' cannot be 'later'"),
    ({"notebook": "ticker.ipynb", "cron": 5}, 400, "option 'cron' has the wrong type"),
    ({"notebook": "ticker.ipynb", "cron": YEARLY, "export": "/tmp/x"}, 400,
     "takes no option 'export'"),
    ({"notebook": "nothere.ipynb", "cron": YEARLY, "newest": True}, 404, "no notebook"),
])
async def test_bad_bodies_are_refused_and_add_nothing(
        api_call: Any, ticker: str, body: dict[str, Any], status: int, wanted: str) -> None:
    code, data = await api_call("POST", "schedules", body=body)
    assert code == status, data
    assert wanted in data["message"] and data["hint"], data
    assert (await api_call("GET", "schedules"))[1] == {"schedules": []}


async def test_add_list_pause_resume_remove(api_call: Any, ticker: str) -> None:
    code, made = await api_call("POST", "schedules", body={
        "notebook": ticker, "cron": YEARLY, "timezone": "Europe/Paris", "newest": True,
        "parameters": {"x": 3}, "overlap": "queue", "missed": "skip", "notify": "failure"})
    assert code == 201, made
    assert made["path"] == "ticker.ipynb" and made["status"] == "active"
    assert (made["cron"], made["timezone"], made["overlap"], made["missed"]) == (
        YEARLY, "Europe/Paris", "queue", "skip")
    assert made["next"].endswith("-12-31T23:00:00.000Z")  # 1 January, midnight in Paris
    listed = (await api_call("GET", "schedules"))[1]["schedules"]
    assert [s["id"] for s in listed] == [made["id"]]
    code, paused = await api_call("PATCH", "schedules", made["id"], body={"status": "paused"})
    assert code == 200 and paused["status"] == "paused"
    code, one = await api_call("GET", "schedules", made["id"])
    assert code == 200 and one["status"] == "paused" and one["runs"] == []
    code, active = await api_call("PATCH", "schedules", made["id"], body={"status": "active"})
    assert code == 200 and active["status"] == "active"
    code, bad = await api_call("PATCH", "schedules", made["id"], body={"status": "gone"})
    assert code == 400 and "paused" in bad["message"]
    code, removed = await api_call("DELETE", "schedules", made["id"])
    assert code == 200 and removed["status"] == "removed"
    assert (await api_call("GET", "schedules"))[1] == {"schedules": []}
    code, missing = await api_call("DELETE", "schedules", made["id"])
    assert code == 404 and f"no schedule '{made['id']}'" in missing["message"]


async def test_a_pipeline_file_is_scheduled_and_checked(api_call: Any, jp_root_dir: Path) -> None:
    shutil.copytree(ROOT / "examples" / "pipeline", jp_root_dir / "pipe")
    code, made = await api_call("POST", "schedules", body={
        "notebook": "pipe/pipeline.yaml", "cron": YEARLY, "newest": True})
    assert code == 201, made
    assert made["kind"] == "pipeline" and made["path"] == "pipe/pipeline.yaml"
    code, bad = await api_call("POST", "schedules", body={
        "notebook": "pipe/pipeline.yaml", "cron": YEARLY, "newest": True,
        "parameters": {"x": 1}})
    assert code == 400 and bad["message"] == ("-p sets a notebook's parameters; a pipeline's "
                                              "are in its file"), bad
    spec = jp_root_dir / "pipe" / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("needs: [train]", "needs: [trian]"))
    code, bad = await api_call("POST", "schedules", body={
        "notebook": "pipe/pipeline.yaml", "cron": YEARLY, "newest": True})
    assert code == 400 and "'trian'" in bad["message"], bad
    listed = (await api_call("GET", "schedules"))[1]["schedules"]
    assert [s["id"] for s in listed] == [made["id"]]  # the refused ones added nothing


# ------------------------------------------------------------------ a real server, restarted


def _schedule(port: int, schedule_id: str) -> dict[str, Any]:
    answer = requests.get(f"http://127.0.0.1:{port}/containerize/api/schedules/{schedule_id}",
                          headers={"Authorization": f"token {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _wait_for_run(port: int, schedule_id: str, after: set[str], limit: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        runs = [r for r in _schedule(port, schedule_id)["runs"]
                if r["id"] not in after and r["status"] not in ("pending", "running")]
        if runs:
            return dict(runs[0])
        time.sleep(0.5)
    raise AssertionError(f"no new run of schedule {schedule_id} within {limit} s")


@pytest.mark.engine
def test_a_schedule_survives_a_server_restart(tmp_path: Path, docker_client: object) -> None:
    from jupyter_containerize.core import api

    root = tmp_path / "root"
    nb = _ticker(root)
    image = api.build(nb, python=str(EXAMPLE_PYTHON))
    env = {**os.environ, "JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    headers = {"Authorization": f"token {TOKEN}"}
    port = free_port()
    server = start_server(root, port, env, TOKEN)
    try:
        made = requests.post(f"http://127.0.0.1:{port}/containerize/api/schedules", json={
            "notebook": "ticker.ipynb", "cron": "*/3 * * * * *", "image": image.reference,
            "parameters": {"x": 5}}, headers=headers, timeout=60)
        assert made.status_code == 201, made.text
        sched = made.json()
        first = _wait_for_run(port, sched["id"], set(), 90)
        assert first["status"] == "succeeded", first
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    before = _runs_in_store(env, sched["id"])
    port = free_port()
    server = start_server(root, port, env, TOKEN)
    try:
        again = _schedule(port, sched["id"])
        assert again["status"] == "active" and again["image_id"] == image.image_id
        assert again["cron"] == "*/3 * * * * *" and again["parameters"] == {"x": 5}
        run = _wait_for_run(port, sched["id"], before, 90)
        assert run["status"] == "succeeded", run
        assert run["result"]["image"] == image.image_id
        assert "tick 10" in Path(run["result"]["output"]).read_text()
        gone = requests.delete(f"http://127.0.0.1:{port}/containerize/api/schedules/"
                               f"{sched['id']}", headers=headers, timeout=10)
        assert gone.status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    shutil.rmtree(tmp_path / "runtime", ignore_errors=True)


def _runs_in_store(env: dict[str, str], schedule_id: str) -> set[str]:
    """The ids of the schedule's runs as the store holds them while no server runs."""
    from jupyter_containerize.core.jobs.store import JobStore

    store = JobStore(Path(env["JUPYTER_CONTAINERIZE_DATA_DIR"]) / "jobs.sqlite")
    try:
        return {j.id for j in store.list("run", limit=1000)
                if j.params.get("schedule") == schedule_id}
    finally:
        store.close()
