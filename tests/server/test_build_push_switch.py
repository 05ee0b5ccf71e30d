"""A server that allows building but not pushing refuses a build that would push."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def containerize_config() -> dict[str, Any]:
    return {"allow_build": True, "allow_push": False}


async def test_build_with_push_is_403_when_pushing_is_off(api_call: Any, notebook: str) -> None:
    body = {"kind": "build", "notebook": notebook,
            "options": {"push": "127.0.0.1:5000/team/x:1"}}
    status, data = await api_call("POST", "jobs", body=body)
    assert status == 403, data
    assert "switched off" in data["message"] and "allow_push" in data["hint"]
    assert (await api_call("GET", "jobs"))[1] == {"jobs": []}


async def test_a_push_target_that_is_not_a_reference_is_400(api_call: Any, notebook: str) -> None:
    body = {"kind": "build", "notebook": notebook, "options": {"push": 7}}
    status, data = await api_call("POST", "jobs", body=body)
    assert status == 400 and "push" in data["message"], data
