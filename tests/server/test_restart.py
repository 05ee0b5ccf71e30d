"""A real `jupyter server` killed during a build and started again: the job is still listed,
and it ends `failed` with "server stopped" instead of staying `running`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "classifier"
TOKEN = "restart-test-token"

pytestmark = pytest.mark.engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(root: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen(
        [str(jupyter), "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={TOKEN}",
         "--ServerApp.allow_root=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(120):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/status", timeout=1,
                         headers={"Authorization": f"token {TOKEN}"})
            return proc
        except requests.ConnectionError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("jupyter server did not start")


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
    port = _free_port()
    server = _start(root, port, env)
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
    port = _free_port()
    server = _start(root, port, env)
    try:
        jobs = requests.get(f"{_api(port)}/jobs", headers=headers, timeout=10).json()["jobs"]
        again = next(j for j in jobs if j["id"] == job_id)
        assert again["status"] == "failed", again
        assert "server stopped" in json.dumps(again["error"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
