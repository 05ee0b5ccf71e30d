"""The second kind of engine the tests run against: Docker Engine 26 with the containerd image
store (the store of Docker Engine 29 and Docker Desktop), beside the main engine's overlay2
store. It really uses that store, and an image copied into it from the main engine runs a
command and publishes a port that answers on the host's 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jc_support import TEST_LABEL, TEST_RUN_ID, copy_image

pytestmark = pytest.mark.engine
CONTAINERD_STORE = ["driver-type", "io.containerd.snapshotter.v1"]


@pytest.fixture(scope="module")
def store_engine(containerd_engine: str) -> Iterator[Any]:
    import docker

    cli = docker.DockerClient(base_url=containerd_engine, version="auto", timeout=300)
    yield cli
    for c in cli.containers.list(all=True, filters={"label": f"{TEST_LABEL}={TEST_RUN_ID}"}):
        c.remove(force=True)
    cli.close()


@pytest.fixture(scope="module")
def python_image(docker_client: Any, store_engine: Any, containerd_engine: str) -> str:
    """The bootstrapped Debian base (Python 3.11) of the main engine, copied into the other."""
    from jupyter_containerize.core.image import base as baseimage

    reference = baseimage.ensure_base(docker_client, "3.11").reference
    started = time.perf_counter()
    copy_image(reference, containerd_engine)
    print(f"docker save | docker load into the containerd store: "
          f"{time.perf_counter() - started:.1f} s")
    return reference


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_engine_uses_the_containerd_image_store(store_engine: Any,
                                                     docker_client: Any) -> None:
    info = store_engine.info()
    assert CONTAINERD_STORE in info["DriverStatus"], info["DriverStatus"]
    assert info["ID"] != docker_client.info()["ID"], "not a second engine"
    assert int(store_engine.version()["Version"].split(".")[0]) >= 26


def test_a_copied_image_runs_a_command_and_publishes_a_port(
        store_engine: Any, python_image: str) -> None:
    labels = {TEST_LABEL: TEST_RUN_ID}
    out = store_engine.containers.run(
        python_image, ["python3", "-c", "import sys; print('python', sys.version.split()[0])"],
        remove=True, labels=labels)
    assert out.decode().strip().startswith("python 3.11."), out
    port = _free_port()
    server = store_engine.containers.run(
        python_image, ["python3", "-m", "http.server", "8000"], detach=True, labels=labels,
        ports={"8000/tcp": ("127.0.0.1", port)})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except requests.ConnectionError:
                server.reload()
                assert server.status in ("created", "running"), server.logs().decode()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert answer.status_code == 200
        assert "Directory listing" in answer.text
    finally:
        server.remove(force=True)


def test_doctor_names_the_kind_of_image_store(containerd_engine: str) -> None:
    from helpers import cli

    for host, store in ((containerd_engine, "containerd image store"),
                        ("unix:///var/run/docker.sock", "layer store")):
        proc = cli("doctor", env={"DOCKER_HOST": host})
        line = next(ln for ln in proc.stdout.splitlines() if "engine:" in ln)
        assert line.startswith("ok") and line.endswith(store), line
