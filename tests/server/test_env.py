"""Capture inside a real python3 kernel: what the kernel imported and installed counts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jupyter_containerize.core.models import EnvironmentSpec, normalize


async def test_env_of_a_live_python3_kernel(kernels: Any, api_call: Any) -> None:
    kernel_id = await kernels.start()
    await kernels.execute(kernel_id, "import nbformat\nsecret_value = 42")
    status, data = await api_call("GET", "env", params={"kernel_id": kernel_id})
    assert status == 200, data
    spec = EnvironmentSpec.from_json(data)
    assert spec.live_kernel
    assert spec.python_version.startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert Path(spec.prefix).resolve() == Path(sys.prefix).resolve()
    assert "nbformat" in spec.by_name()
    assert "nbformat" in [normalize(m) for m in spec.imported]
    # nothing of ours is left in the user's namespace, and the user's is untouched
    await kernels.execute(kernel_id,
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
