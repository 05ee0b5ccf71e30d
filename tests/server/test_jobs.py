"""Job requests: bodies checked before any job exists, jobs listed, followed, cancelled."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from jupyter_containerize.core import api
from jupyter_containerize.core.models import BuildResult
from jupyter_containerize.core.progress import Event

BAD_BODIES = [
    ("not json", "not JSON"),
    ([1, 2], "JSON object"),
    ({"kind": "bake", "notebook": "classifier.ipynb"}, "unknown job kind"),
    ({"kind": "build", "notebook": "classifier.ipynb", "options": {"colour": "red"}}, "colour"),
    ({"kind": "build", "notebook": "classifier.ipynb", "options": {"no_cache": "yes"}}, "type"),
    ({"kind": "build", "notebook": "classifier.ipynb", "options": {"lock": "most"}}, "lock"),
    ({"kind": "build", "notebook": "classifier.ipynb", "options": []}, "options"),
    ({"kind": "run", "notebook": "classifier.ipynb", "options": {"parameters": 3}}, "parameters"),
    ({"kind": "serve", "notebook": "classifier.ipynb"}, "model"),
    ({"kind": "build"}, "notebook"),
    ({"kind": "build", "notebook": "../../etc/passwd.ipynb"}, "outside"),
    ({"kind": "build", "notebook": "classifier.py"}, "not a notebook"),
    ({"kind": "build", "notebook": "classifier.ipynb", "extra": 1}, "unknown field"),
]


@pytest.mark.parametrize(("body", "words"), BAD_BODIES)
async def test_bad_body_is_400_with_hint(api_call: Any, notebook: str, body: Any, words: str):
    status, data = await api_call("POST", "jobs", body=body)
    assert status == 400, data
    assert words.lower() in json.dumps(data).lower()
    assert data["hint"]
    assert (await api_call("GET", "jobs"))[1] == {"jobs": []}


async def test_missing_notebook_is_404(api_call: Any, notebook: str) -> None:
    status, data = await api_call("POST", "jobs", body={"kind": "build", "notebook": "no.ipynb"})
    assert status == 404 and data["hint"]


async def test_unknown_job_is_404(api_call: Any) -> None:
    for method in ("GET", "DELETE"):
        status, data = await api_call(method, "jobs", "0123456789ab")
        assert status == 404 and data["message"] and data["hint"]


def _fake_build(started: threading.Event, release: threading.Event) -> Any:
    def build(notebook: Any, *, progress: Any = None, **options: Any) -> BuildResult:
        progress(Event("phase", "resolve", phase="resolve"))
        progress(Event("log", "step one"))
        started.set()
        while not release.wait(0.05):
            progress(Event("progress", phase="layers", current=1, total=2))
        progress(Event("log", "step two"))
        return BuildResult(reference="example:abc", image_id="sha256:0")

    return build


async def _wait_status(api_call: Any, job_id: str, wanted: str, limit: float = 10.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        data = (await api_call("GET", "jobs", job_id))[1]
        if data["status"] == wanted:
            return data
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} stayed {data['status']}")


async def test_job_runs_off_the_loop_and_streams(api_call, notebook, monkeypatch) -> None:
    started, release = threading.Event(), threading.Event()
    monkeypatch.setattr(api, "build", _fake_build(started, release))
    status, job = await api_call(
        "POST", "jobs", body={"kind": "build", "notebook": notebook, "options": {"lock": "full"}}
    )
    assert status == 202 and job["status"] == "pending" and job["path"] == notebook
    await asyncio.to_thread(started.wait, 10)
    # the server answers while the worker is busy
    assert (await api_call("GET", "jobs", job["id"]))[1]["status"] == "running"
    listed = (await api_call("GET", "jobs"))[1]["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    release.set()
    done = await _wait_status(api_call, job["id"], "succeeded")
    assert done["result"]["reference"] == "example:abc"
    events = await _events(api_call, job["id"])
    lines = [data["line"] for name, data in events if name == "log"]
    assert "step one" in lines and "step two" in lines and "build succeeded" in lines
    assert events[-1] == ("end", {"status": "succeeded"})
    first = events[0][1]["seq"]
    later = await _events(api_call, job["id"], since=first)
    assert [d["seq"] for n, d in later if n == "log"][0] > first


async def _events(api_call: Any, job_id: str, since: int = 0) -> list[tuple[str, Any]]:
    """The server-sent events of a finished job, parsed."""
    status, text = await api_call(
        "GET", "jobs", job_id, "events", raw=True, params={"since": str(since)}
    )
    assert status == 200
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


async def test_cancel_stops_a_running_job(api_call, notebook, monkeypatch) -> None:
    started, release = threading.Event(), threading.Event()
    monkeypatch.setattr(api, "build", _fake_build(started, release))
    _, job = await api_call("POST", "jobs", body={"kind": "build", "notebook": notebook})
    await asyncio.to_thread(started.wait, 10)
    status, data = await api_call("DELETE", "jobs", job["id"])
    assert status == 200
    done = await _wait_status(api_call, job["id"], "cancelled")
    assert done["error"]["message"] == "cancelled"
    release.set()


async def test_failure_is_recorded_with_hint(api_call, notebook, monkeypatch) -> None:
    from jupyter_containerize.core.errors import BuildError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise BuildError("pip could not install nothing==0", "pin a version that exists")

    monkeypatch.setattr(api, "build", broken)
    _, job = await api_call("POST", "jobs", body={"kind": "build", "notebook": notebook})
    done = await _wait_status(api_call, job["id"], "failed")
    assert done["error"]["hint"] == "pin a version that exists"
    runs = (await api_call("GET", "runs"))[1]
    assert runs == {"runs": []}
