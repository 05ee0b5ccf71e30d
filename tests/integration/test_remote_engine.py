"""A run against an engine reached over TCP (DOCKER_HOST=tcp://...): files move through the
engine API, never bind mounts, so the same command works against a remote engine."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import EXAMPLE, EXAMPLE_PYTHON

from jupyter_containerize.core import api

pytestmark = pytest.mark.engine
SOCKET = "/var/run/docker.sock"


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def tcp_engine(docker_client: object) -> Iterator[str]:
    """The local engine's API served on a TCP port of 127.0.0.1, as a remote engine is."""
    if not os.path.exists(SOCKET):
        pytest.skip("the engine has no local socket to forward")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(SOCKET)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


def test_a_run_through_a_tcp_engine_brings_back_notebook_and_artifacts(
        tcp_engine: str, tmp_path: Path) -> None:
    project = tmp_path / "classifier"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("model.*", "*.run.json"))
    image = api.build(project / "classifier.ipynb", python=str(EXAMPLE_PYTHON)).reference
    env = {**os.environ, "DOCKER_HOST": tcp_engine,
           "JUPYTER_CONTAINERIZE_DATA_DIR": str(tmp_path / "data")}
    exe = Path(sys.executable).with_name("jupyter-containerize")
    proc = subprocess.run(
        [str(exe), "-q", "run", str(project / "classifier.ipynb"), "--image", image,
         "-p", "n_estimators", "5", "--artifacts", str(tmp_path / "out"), "--json"],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded"
    assert [a["path"] for a in record["artifacts"]] == ["model.joblib"]
    assert (tmp_path / "out" / "model.joblib").stat().st_size > 0
    inspect = subprocess.run(["docker", "ps", "-a", "--filter",
                              f"label=io.jupyter-containerize.run.id={record['id']}", "-q"],
                             capture_output=True, text=True)
    assert inspect.stdout.strip() == "", "the run's container is removed"
