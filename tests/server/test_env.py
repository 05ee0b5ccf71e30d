"""Capture inside a real python3 kernel: what the kernel imported and installed counts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jupyter_containerize.core.models import EnvironmentSpec, normalize


async def _start_kernel(jp_fetch: Any) -> str:
    import json

    response = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    return str(json.loads(response.body)["id"])


async def _execute(jp_serverapp: Any, kernel_id: str, code: str) -> None:
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive(code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()


async def test_env_of_a_live_python3_kernel(jp_fetch, jp_serverapp, api_call) -> None:
    kernel_id = await _start_kernel(jp_fetch)
    await _execute(jp_serverapp, kernel_id, "import nbformat\nsecret_value = 42")
    status, data = await api_call("GET", "env", params={"kernel_id": kernel_id})
    assert status == 200, data
    spec = EnvironmentSpec.from_json(data)
    assert spec.live_kernel
    assert spec.python_version.startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert Path(spec.prefix).resolve() == Path(sys.prefix).resolve()
    assert "nbformat" in spec.by_name()
    assert "nbformat" in [normalize(m) for m in spec.imported]
    # nothing of ours is left in the user's namespace, and the user's is untouched
    await _execute(
        jp_serverapp,
        kernel_id,
        "assert secret_value == 42\n"
        "assert not [n for n in globals() if 'containerize' in n], list(globals())",
    )


async def test_env_needs_a_known_kernel(api_call) -> None:
    status, data = await api_call("GET", "env")
    assert status == 400 and "kernel_id" in data["message"]
    status, data = await api_call("GET", "env", params={"kernel_id": "nope"})
    assert status == 404 and data["hint"]


async def test_info_says_what_is_allowed(api_call) -> None:
    status, data = await api_call("GET", "info")
    assert status == 200
    assert data["allow_build"] is True and data["allow_serve"] is True
