"""Capture inside a running kernel, so that ``%pip install`` and imports made there count.

The stdlib-only source of ``core/capture.py`` is executed silently in the kernel inside a
throw-away function (nothing is left in the user's namespace, nothing enters the history),
and its JSON is read back from the stream output of that one request.
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
import uuid
from pathlib import Path
from typing import Any

from ..core.errors import ContainerizeError, NotFoundError
from ..core.models import EnvironmentSpec

CAPTURE_SOURCE = Path(__file__).resolve().parent.parent / "core" / "env" / "capture.py"


class KernelCaptureError(ContainerizeError):
    http_status = 502


def capture_code(marker: str) -> str:
    """Python run in the kernel: prints ``marker`` + the JSON of the environment."""
    source = CAPTURE_SOURCE.read_text(encoding="utf-8")
    return (
        "def __containerize_capture():\n"
        "    import json\n"
        "    namespace = {'__name__': '__containerize_capture__'}\n"
        f"    exec(compile({source!r}, 'containerize-capture', 'exec'), namespace)\n"
        "    spec = namespace['capture_environment'](namespace['imported_modules']())\n"
        f"    print({marker!r} + json.dumps(spec), flush=True)\n"
        "try:\n"
        "    __containerize_capture()\n"
        "finally:\n"
        "    del __containerize_capture\n"
    )


_CAPTURING: dict[str, asyncio.Lock] = {}


async def capture_in_kernel(
    kernel_manager: Any, kernel_id: str, timeout: float = 60.0
) -> EnvironmentSpec:
    """The EnvironmentSpec of the live kernel ``kernel_id`` of this server.

    Captures of one kernel take turns: two clients capturing at once (the panel reads the
    environment and the drift together) lose one of the answers.
    """
    if kernel_id not in kernel_manager:
        raise NotFoundError(f"no running kernel {kernel_id!r}", "start the notebook's kernel")
    for gone in [k for k in _CAPTURING if k not in kernel_manager]:
        del _CAPTURING[gone]
    async with _CAPTURING.setdefault(kernel_id, asyncio.Lock()):
        return await _capture(kernel_manager, kernel_id, timeout)


async def _capture(kernel_manager: Any, kernel_id: str, timeout: float) -> EnvironmentSpec:
    client = kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await asyncio.wait_for(client.wait_for_ready(timeout=timeout), timeout)
        marker = f"containerize-{uuid.uuid4().hex}:"
        msg_id = client.execute(capture_code(marker), silent=True, store_history=False)
        text = await _collect_stream(client, msg_id, time.monotonic() + timeout)
    except (asyncio.TimeoutError, queue.Empty, RuntimeError) as exc:  # Empty: no message in time
        raise KernelCaptureError(
            "the kernel did not answer the environment capture in time",
            "wait for the running cell to finish, or restart the kernel",
        ) from exc
    finally:
        client.stop_channels()
    return _parse(text, marker)


async def _collect_stream(client: Any, msg_id: str, deadline: float) -> str:
    """Stdout of request ``msg_id`` until the kernel is idle again; errors become ours."""
    chunks: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise asyncio.TimeoutError
        msg = await client.get_iopub_msg(timeout=remaining)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content.get("name") == "stdout":
            chunks.append(content.get("text", ""))
        elif kind == "error":
            raise KernelCaptureError(
                f"capture failed in the kernel: {content.get('ename')}: {content.get('evalue')}",
                "the kernel must be a Python 3.8+ kernel",
            )
        elif kind == "status" and content.get("execution_state") == "idle":
            return "".join(chunks)


def _parse(text: str, marker: str) -> EnvironmentSpec:
    for line in text.splitlines():
        if line.startswith(marker):
            data: dict[str, Any] = json.loads(line[len(marker) :])
            spec = EnvironmentSpec.from_json(data)
            spec.live_kernel = True
            return spec
    raise KernelCaptureError(
        "the kernel printed no environment",
        "capture needs a Python kernel (ipykernel); other languages cannot be captured",
    )
