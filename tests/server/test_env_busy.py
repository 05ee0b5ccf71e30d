"""A kernel too slow to answer: the capture gives up after capture_timeout with a 502 that
says what to do, never a 500 with a traceback."""

from __future__ import annotations

from typing import Any

import pytest

# every execution, ours too, takes 5 s to start: longer than the capture may wait
SLOW = "import time\nget_ipython().events.register('pre_execute', lambda: time.sleep(5))"


@pytest.fixture
def jp_server_config(jp_server_config: Any) -> Any:
    jp_server_config["ContainerizeExtension"]["capture_timeout"] = 2.0
    return jp_server_config


@pytest.mark.hostile
async def test_a_kernel_that_does_not_answer_in_time_is_a_502_with_the_fix(
    kernels: Any, api_call: Any
) -> None:
    kernel_id = await kernels.start()
    await kernels.execute(kernel_id, SLOW)
    status, data = await api_call("GET", "env", params={"kernel_id": kernel_id})
    assert status == 502, data
    assert data["message"] == "the kernel did not answer the environment capture in time"
    assert data["hint"] == "wait for the running cell to finish, or restart the kernel"
    assert "Traceback" not in str(data)
