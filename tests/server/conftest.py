"""Fixtures for the server extension: a real Jupyter Server with token auth enforced."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classifier" / "classifier.ipynb"
API = "containerize/api"


@pytest.fixture
def containerize_config() -> dict[str, Any]:
    """ContainerizeConfig values for this test module (override to switch verbs off)."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path: Path, containerize_config: dict[str, Any], monkeypatch: Any) -> Any:
    from traitlets.config import Config

    monkeypatch.setenv("JUPYTER_CONTAINERIZE_DATA_DIR", str(tmp_path / "data"))
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {
                    "jupyter_containerize": True,
                    "jupyter_server_terminals": False,
                },
                "terminals_enabled": False,
                "allow_unauthenticated_access": False,
            },
            "MappingKernelManager": {"default_kernel_name": "python3"},
            "ContainerizeExtension": {"job_store_path": str(tmp_path / "jobs.sqlite")},
            "ContainerizeConfig": containerize_config,
        }
    )


@pytest.fixture
def notebook(jp_root_dir: Path) -> str:
    """The example notebook copied into the server's root; its server path."""
    shutil.copy(EXAMPLE, jp_root_dir / "classifier.ipynb")
    return "classifier.ipynb"


@pytest.fixture
def extension(jp_serverapp: Any) -> Any:
    return jp_serverapp.extension_manager.extension_apps["jupyter_containerize"].pop()


@pytest.fixture
def api_call(jp_fetch: Any) -> Any:
    """Call our API; returns (status, JSON) whatever the status."""
    from tornado.httpclient import HTTPClientError

    async def call(
        method: str, *parts: str, body: Any = None, raw: bool = False, **kwargs: Any
    ) -> Any:
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        try:
            response = await jp_fetch(API, *parts, method=method, body=body, **kwargs)
        except HTTPClientError as err:
            assert err.response is not None
            response = err.response
        text = response.body.decode() if response.body else ""
        if raw:
            return response.code, text
        return response.code, json.loads(text) if text else None

    return call


@pytest.fixture
def finish_job(api_call: Any) -> Any:
    """Wait for a job of the REST API to end; returns its record."""

    async def finish(job_id: str, limit: float) -> dict[str, Any]:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            job = (await api_call("GET", "jobs", job_id))[1]
            if job["status"] not in ("pending", "running"):
                return dict(job)
            await asyncio.sleep(0.5)
        raise AssertionError(f"job {job_id} still {job['status']} after {limit} s")

    return finish


class Kernels:
    """Kernels started through the server's own REST API, and code run in them."""

    def __init__(self, jp_fetch: Any, jp_serverapp: Any) -> None:
        self.fetch, self.app = jp_fetch, jp_serverapp

    async def start(self, name: str = "python3") -> str:
        body = json.dumps({"name": name})
        response = await self.fetch("api", "kernels", method="POST", body=body)
        return str(json.loads(response.body)["id"])

    async def execute(self, kernel_id: str, code: str, timeout: float = 300) -> None:
        client = self.app.kernel_manager.get_kernel(kernel_id).client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            reply = await client.execute_interactive(code, timeout=timeout)
            assert reply["content"]["status"] == "ok", reply["content"]
        finally:
            client.stop_channels()


@pytest.fixture
def kernels(jp_fetch: Any, jp_serverapp: Any) -> Kernels:
    return Kernels(jp_fetch, jp_serverapp)
