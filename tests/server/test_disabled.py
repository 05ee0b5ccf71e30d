"""An administrator's switches: a disabled verb answers 403 and says which switch."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def containerize_config() -> dict[str, Any]:
    return {"allow_build": False, "allow_serve": False, "allow_push": False}


@pytest.mark.parametrize(
    ("kind", "options", "switch"),
    [
        ("build", {}, "allow_build"),
        ("run", {"parameters": {"seed": 1}}, "allow_build"),
        ("serve", {"model": "model.joblib"}, "allow_serve"),
        ("push", {}, "allow_push"),
    ],
)
async def test_disabled_verb_is_403(api_call, notebook, kind, options, switch) -> None:
    body = {"kind": kind, "notebook": notebook, "options": options}
    status, data = await api_call("POST", "jobs", body=body)
    assert status == 403, data
    assert "switched off" in data["message"] and switch in data["hint"]
    assert (await api_call("GET", "jobs"))[1] == {"jobs": []}


async def test_info_reports_switches(api_call) -> None:
    data = (await api_call("GET", "info"))[1]
    assert data["allow_build"] is False and data["allow_serve"] is False
