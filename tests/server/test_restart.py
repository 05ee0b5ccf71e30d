"""A real `jupyter server` killed during a build and started again: the job is still listed,
and it ends `failed` with "server stopped" instead of staying `running`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import requests
from server_process import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "classifier"
TOKEN = "restart-test-token"

pytestmark = pytest.mark.engine


def _api(port: int) -> str:
    return f"http://127.0.0.1:{port}/containerize/api"


def test_a_build_killed_with_the_server_ends_failed_and_stays_listed(
        tmp_path: Path, docker_client: object) -> None:
    root = tmp_path / "root"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.lock.json", "model.*"))
    env = {**os.environ, "JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR":
           str(tmp_path / "runtime")}
    headers = {"Authorization": f"token {TOKEN}"}
    port = free_port()
    server = start_server(root, port, env, TOKEN)
    try:
        body = {"kind": "build", "notebook": "classifier.ipynb",
                "options": {"no_cache": True, "python": str(ROOT / ".venv-example/bin/python")}}
        created = requests.post(f"{_api(port)}/jobs", json=body, headers=headers, timeout=30)
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        for _ in range(100):  # wait until the build is under way
            job = requests.get(f"{_api(port)}/jobs/{job_id}", headers=headers, timeout=10).json()
            if job["status"] == "running":
                break
            time.sleep(0.1)
        assert job["status"] == "running", job
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    port = free_port()
    server = start_server(root, port, env, TOKEN)
    try:
        jobs = requests.get(f"{_api(port)}/jobs", headers=headers, timeout=10).json()["jobs"]
        again = next(j for j in jobs if j["id"] == job_id)
        assert again["status"] == "failed", again
        assert "server stopped" in json.dumps(again["error"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
