"""A server start ends the jobs whose work died with the previous server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jupyter_containerize.core.jobs.store import JobStore


@pytest.fixture
def stale_job(tmp_path: Path) -> str:
    """A build that was running when the last server stopped."""
    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create("build", "/somewhere/nb.ipynb", {"lock": "full"})
    store.update(job.id, status="running")
    store.append_log(job.id, "installing")
    store.close()
    return job.id


async def test_dead_job_is_failed_at_start(stale_job: str, api_call: Any) -> None:
    status, job = await api_call("GET", "jobs", stale_job)
    assert status == 200
    assert job["status"] == "failed"
    assert job["error"]["message"] == "server stopped"
    status, text = await api_call("GET", "jobs", stale_job, "events", raw=True)
    assert "installing" in text and '"status": "failed"' in text
